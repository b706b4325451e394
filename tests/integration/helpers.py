"""Running the suite as a user would, for the integration tests."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def cli(env: dict, *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    """Run `cloudflow-checks ARGS` from the project root."""
    return subprocess.run([sys.executable, "-m", "cloudflow_checks.cli", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)
