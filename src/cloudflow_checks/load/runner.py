"""Start Locust headless as subprocesses (gevent stays out of the caller), bounded, and collect.

One process (`workers=0`), or one master and N workers on loopback. Locust writes its HTML and CSV
into the run folder, the records and the clock log into <run>/records/. The plan with its secrets
goes to a private temporary file that is removed afterwards; the run folder gets a redacted copy.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from .plan import Plan
from .records import History

STARTUP_ALLOWANCE_S = 45.0     # Locust import, workers connecting, the first shape tick
RUN_TIME_MARGIN_S = 15.0       # past the plan's duration before the processes are killed
LOCUSTFILE_ENV = "CLOUDFLOW_LOCUSTFILE"


class LoadRunError(RuntimeError):
    """Locust did not run to the end (crash, timeout): no verdict can be drawn."""


@dataclass
class RunOutput:
    folder: Path
    plan: Plan
    history: History
    seconds: float
    workers: int


def locustfile() -> Path:
    """load/locustfile.py of this checkout ($CLOUDFLOW_LOCUSTFILE overrides)."""
    override = os.environ.get(LOCUSTFILE_ENV)
    candidates = [Path(override)] if override else [
        Path(__file__).resolve().parents[3] / "load" / "locustfile.py", Path.cwd() / "load" / "locustfile.py"]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise LoadRunError(f"locustfile not found (looked at {', '.join(map(str, candidates))}); "
                       f"run from the repository or set {LOCUSTFILE_ENV}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _command(plan_path: Path, folder: Path, plan: Plan, nice: int) -> list[str]:
    # Locust ignores --run-time when a shape is used: the shape ends itself (and gives up past its
    # plan's duration), and run() kills the processes at its own deadline.
    prefix = ["nice", "-n", str(nice)] if nice else []
    return [*prefix, sys.executable, "-m", "locust", "-f", str(locustfile()), plan.user_class,
            "--headless", "--stop-timeout", "2", "--exit-code-on-error", "0",
            "--loglevel", "WARNING", "--only-summary"]


def run(plan: Plan, folder: Path, *, workers: int = 0, nice: int = 0) -> RunOutput:
    """Run Locust for `plan`; return its history. Raises LoadRunError when it did not finish."""
    folder.mkdir(parents=True, exist_ok=True)
    records = folder / "records"
    if records.exists():
        shutil.rmtree(records)
    records.mkdir()
    plan.records_dir = str(records)
    (folder / "plan.json").write_text(json.dumps(plan.public(), indent=2) + "\n")
    private = Path(tempfile.mkdtemp(prefix="cloudflow-load-"))
    plan_path = private / "plan.json"
    plan.write_private(plan_path)
    env = {**os.environ, "CLOUDFLOW_LOAD_PLAN": str(plan_path), "PYTHONUNBUFFERED": "1"}
    base = _command(plan_path, folder, plan, nice)
    reports = ["--html", str(folder / "locust.html"), "--csv", str(folder / "locust")]
    deadline_s = plan.duration_s() + STARTUP_ALLOWANCE_S + RUN_TIME_MARGIN_S
    started = time.monotonic()
    procs: list[subprocess.Popen] = []
    try:
        with ExitStack() as stack:
            def spawn(args: list[str], log_name: str) -> subprocess.Popen:
                log = stack.enter_context(open(folder / log_name, "w"))
                proc = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT,
                                        cwd=str(locustfile().parent), start_new_session=True)
                procs.append(proc)
                return proc

            if workers:
                port = _free_port()
                master = spawn([*base, *reports, "--master", "--master-bind-host", "127.0.0.1",
                                "--master-bind-port", str(port), "--expect-workers", str(workers),
                                "--expect-workers-max-wait", "30"], "locust-master.log")
                for i in range(workers):
                    spawn([*base, "--worker", "--master-host", "127.0.0.1", "--master-port", str(port)],
                          f"locust-worker-{i + 1}.log")
            else:
                master = spawn([*base, *reports], "locust.log")
            try:
                code = master.wait(timeout=deadline_s)
            except subprocess.TimeoutExpired:
                raise LoadRunError(f"Locust did not finish within {deadline_s:.0f} s; see {folder}") from None
            for proc in procs[1:]:
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    pass
            if code != 0:
                tail = (folder / ("locust-master.log" if workers else "locust.log")).read_text()[-1500:]
                raise LoadRunError(f"Locust exited with status {code}: {tail}")
    finally:
        _stop(procs)
        shutil.rmtree(private, ignore_errors=True)
    seconds = time.monotonic() - started
    try:
        history = History.read(records)
    except (ValueError, OSError) as exc:
        raise LoadRunError(f"no usable records in {records}: {exc}") from None
    return RunOutput(folder, plan, history, seconds, workers)


def _stop(procs: list[subprocess.Popen]) -> None:
    """Whatever is still running (a timeout, an error) is stopped: TERM, then KILL."""
    alive = [p for p in procs if p.poll() is None]
    for p in alive:
        try:
            os.killpg(p.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    end = time.monotonic() + 5
    for p in alive:
        try:
            p.wait(timeout=max(0.1, end - time.monotonic()))
        except subprocess.TimeoutExpired:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait(timeout=5)
