"""Where the stack's programs are: PostgreSQL's server binaries, toxiproxy-server, the venv's Python.

Each lookup that fails says how to install the missing piece (scripts/setup.sh installs all).
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from .errors import SetupMissing

TOXIPROXY_VERSION = "2.12.0"
SETUP_HINT = "run scripts/setup.sh"


def repo_root() -> Path | None:
    """The source checkout this package runs from (editable install), or None."""
    candidate = Path(__file__).resolve().parents[3]
    return candidate if (candidate / "pyproject.toml").is_file() else None


def cache_bin_dir() -> Path:
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "cloudflow-checks" / "bin"


def postgres_bin_dir() -> Path:
    """The newest Debian PostgreSQL server bin dir (or $CLOUDFLOW_PG_BIN)."""
    override = os.environ.get("CLOUDFLOW_PG_BIN")
    candidates = [Path(override)] if override else sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda p: [int(x) for x in re.findall(r"\d+", p.parent.name)] or [0])
    for bindir in reversed(candidates):
        if all((bindir / tool).is_file() for tool in ("initdb", "pg_ctl", "postgres")):
            return bindir
    where = override or "/usr/lib/postgresql/*/bin"
    raise SetupMissing(f"PostgreSQL server binaries (initdb, pg_ctl, postgres) not found in {where}: "
                       f"{SETUP_HINT} (installs Debian's 'postgresql' package)")


def toxiproxy_server() -> Path:
    """toxiproxy-server v2.12.0: $CLOUDFLOW_TOXIPROXY_SERVER, the set-up cache, or PATH."""
    override = os.environ.get("CLOUDFLOW_TOXIPROXY_SERVER")
    candidates = [override] if override else [str(cache_bin_dir() / "toxiproxy-server"),
                                              shutil.which("toxiproxy-server")]
    found = [Path(c) for c in candidates if c and os.access(c, os.X_OK)]
    if not found:
        raise SetupMissing(f"toxiproxy-server not found ({override or cache_bin_dir() / 'toxiproxy-server'}, PATH): "
                           f"{SETUP_HINT} (builds Toxiproxy {TOXIPROXY_VERSION} with go install)")
    binary = found[0]
    try:
        out = subprocess.run([str(binary), "--version"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SetupMissing(f"{binary} does not run ({exc}): {SETUP_HINT}") from exc
    if TOXIPROXY_VERSION not in out:
        raise SetupMissing(f"{binary} is not Toxiproxy {TOXIPROXY_VERSION} ({out.strip() or 'no version'}): "
                           f"{SETUP_HINT}")
    return binary


def twin_python() -> Path:
    """The interpreter that runs `python -m cloudflow_twin`: $CLOUDFLOW_TWIN_PYTHON, <repo>/.venv, or this one."""
    override = os.environ.get("CLOUDFLOW_TWIN_PYTHON")
    if override:
        return Path(override)
    root = repo_root()
    if root and (root / ".venv" / "bin" / "python").exists():
        return root / ".venv" / "bin" / "python"
    return Path(sys.executable)
