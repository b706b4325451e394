"""Headless Debian Chromium, to look at a built report the way a person would (DOM and screenshot)."""
from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
         "--hide-scrollbars"]
TIMEOUT_S = 120


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        raise FileNotFoundError("chromium not found; install it with: scripts/setup-report-tools.sh")
    return found


def _run(args: list[str], budget_ms: int) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory(prefix="cf-chromium-") as profile:
        return subprocess.run([chromium(), *FLAGS, f"--user-data-dir={profile}",
                               f"--virtual-time-budget={budget_ms}", *args],
                              capture_output=True, text=True, timeout=TIMEOUT_S)


def dump_dom(page: Path | str, budget_ms: int = 15000) -> str:
    """The page's DOM after its scripts ran (the report is a single-page app)."""
    url = page if isinstance(page, str) else Path(page).resolve().as_uri()
    proc = _run(["--dump-dom", url], budget_ms)
    if proc.returncode != 0:
        raise RuntimeError(f"chromium --dump-dom failed ({proc.returncode}): {proc.stderr.strip()[-300:]}")
    return proc.stdout


def screenshot(page: Path | str, png: Path, size: str = "1400,1000", budget_ms: int = 15000) -> Path:
    url = page if isinstance(page, str) else Path(page).resolve().as_uri()
    png = Path(png).resolve()
    proc = _run([f"--screenshot={png}", f"--window-size={size}", url], budget_ms)
    if not png.is_file():
        raise RuntimeError(f"chromium --screenshot wrote nothing ({proc.returncode}): {proc.stderr.strip()[-300:]}")
    return png
