"""SIGTERM to `cloudflow-checks load` while Locust runs unwinds like Ctrl-C.

Before the fix the CLI died at once: Locust (its own session) kept loading the target, the private
plan (an access token and the twin's admin token) stayed in /tmp and the twin clock stayed moved.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from cloudflow_checks import stack
from cloudflow_checks.client import TwinControl
from cloudflow_checks.load.runner import locustfile

ROOT = Path(__file__).resolve().parents[2]
START_DEADLINE_S = 180     # provisioning + Locust's import on a busy 2-core machine
EXIT_DEADLINE_S = 60       # the runner's stop (TERM, 5 s, KILL) + the clock restore + closing


def _locust_pids(plan_dir_marker: bytes) -> list[int]:
    """Locust processes of this run: the command line names the locustfile, the environment the
    run's private TMPDIR (others on the machine may run Locust with the same locustfile)."""
    name = str(locustfile()).encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if name not in (entry / "cmdline").read_bytes():
                continue
            if plan_dir_marker in (entry / "environ").read_bytes():
                found.append(int(entry.name))
        except OSError:        # gone meanwhile, or not ours
            continue
    return found


def test_sigterm_stops_locust_removes_the_secrets_and_restores_the_clock(stack_env, tmp_path):
    private_tmp = tmp_path / "tmp"
    private_tmp.mkdir()
    marker = f"CLOUDFLOW_LOAD_PLAN={private_tmp}/cloudflow-load-".encode()
    env = dict(stack_env, TMPDIR=str(private_tmp))
    info = stack.read_info(Path(stack_env["CLOUDFLOW_STATE_DIR"]))
    control = TwinControl(info["api_url"], info["admin_token"])
    before = control.offset()
    # --max-rate 1: the slowest time-lapse (a window is 30 s of wall time), so Locust is still
    # running when the signal comes.
    cli = subprocess.Popen([sys.executable, "-m", "cloudflow_checks.cli", "load", "--tier", "free",
                            "--scenario", "rates", "--shape", "half", "--max-rate", "1",
                            "--reports", str(tmp_path / "reports")],
                           cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + START_DEADLINE_S
        running = False
        while time.monotonic() < deadline and cli.poll() is None:
            # Running = Locust is up and its shape has started the time-lapse (the clock moved).
            if _locust_pids(marker) and control.offset() != before:
                running = True
                break
            time.sleep(0.2)
        assert running, f"Locust never ran (exit {cli.poll()})"
        assert list(private_tmp.glob("cloudflow-load-*")), "the private plan folder should exist while Locust runs"
        cli.send_signal(signal.SIGTERM)
        out, err = cli.communicate(timeout=EXIT_DEADLINE_S)
    finally:
        if cli.poll() is None:
            cli.kill()
            cli.communicate(timeout=10)
        leftovers = _locust_pids(marker)
        for pid in leftovers:                  # leave nothing behind, whatever the asserts say
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    try:
        assert leftovers == [], f"Locust outlived the CLI: pids {leftovers}"
        assert list(private_tmp.glob("cloudflow-load-*")) == [], "the plan with its tokens stayed on disk"
        assert control.offset() == before, "the twin clock was not put back"
        assert cli.returncode != 0, out[-2000:]
        assert "stopped by SIGTERM" in err, err[-2000:]
    finally:
        control.set_offset(before)
        control.close()
