"""Start Locust headless as subprocesses (gevent stays out of the caller), bounded, and collect.

One process (`workers=0`), or one master and N workers on loopback. Locust writes its HTML and CSV
into the run folder, the records and the clock log into <run>/records/. The plan with its secrets
goes to a private temporary file (0600 in a 0700 folder) that is removed on every exit path; the run
folder gets a redacted copy. SIGTERM unwinds like Ctrl-C (see `sigterm_unwinds`), so a terminated
caller still stops Locust and removes the secrets.
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
import threading
import time
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from .plan import Plan
from .records import History

STARTUP_ALLOWANCE_S = 45.0     # Locust import, workers connecting, the first shape tick
RUN_TIME_MARGIN_S = 15.0       # past the plan's duration before the processes are killed
LOCUSTFILE_ENV = "CLOUDFLOW_LOCUSTFILE"


class LoadRunError(RuntimeError):
    """Locust did not run to the end (crash, timeout): no verdict can be drawn."""


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived: unwind exactly as after Ctrl-C (every finally and ExitStack runs)."""


@contextmanager
def sigterm_unwinds() -> Iterator[None]:
    """Inside, SIGTERM raises Terminated in the main thread instead of ending the process at once,
    which would leave Locust (its own session) loading the target and the plan's secrets on disk.
    The first SIGTERM raises; later ones are ignored so that the cleanup itself is not cut short.
    A no-op off the main thread or when SIGTERM already has a handler (an enclosing caller's)."""
    if threading.current_thread() is not threading.main_thread() or \
            signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        yield
        return

    def on_term(signum, frame):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise Terminated("SIGTERM")

    signal.signal(signal.SIGTERM, on_term)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


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
    with sigterm_unwinds():
        return _run(plan, folder, workers=workers, nice=nice)


def _run(plan: Plan, folder: Path, *, workers: int, nice: int) -> RunOutput:
    folder.mkdir(parents=True, exist_ok=True)
    records = folder / "records"
    if records.exists():
        shutil.rmtree(records)
    records.mkdir()
    plan.records_dir = str(records)
    (folder / "plan.json").write_text(json.dumps(plan.public(), indent=2) + "\n")
    reports = ["--html", str(folder / "locust.html"), "--csv", str(folder / "locust")]
    deadline_s = plan.duration_s() + STARTUP_ALLOWANCE_S + RUN_TIME_MARGIN_S
    started = time.monotonic()
    procs: list[subprocess.Popen] = []
    private = Path(tempfile.mkdtemp(prefix="cloudflow-load-"))    # 0700
    try:
        plan_path = private / "plan.json"
        plan.write_private(plan_path)                               # 0600: tokens
        env = {**os.environ, "CLOUDFLOW_LOAD_PLAN": str(plan_path), "PYTHONUNBUFFERED": "1"}
        base = _command(plan_path, folder, plan, nice)
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
