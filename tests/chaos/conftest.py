"""The chaos half's own tests: run against the local twin (the suite's plugin starts it; use
CLOUDFLOW_STATE_DIR for a stack of your own)."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cloudflow_checks.chaos import gameday
from cloudflow_checks.chaos.context import ChaosContext
from cloudflow_checks.chaos.faults import ChaosProxies

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def proxies(cf_target) -> ChaosProxies:
    if not cf_target.has("toxiproxy"):
        pytest.skip(f"target {cf_target.name} lacks capability toxiproxy")
    return ChaosProxies(cf_target.toxiproxy_url, cf_target.proxies)


@pytest.fixture
def chaos_ctx(cf_target, spec, exclusive_target):
    ctx = ChaosContext.build(cf_target, spec)
    yield ctx
    ctx.close()


@pytest.fixture
def run_with_faults(chaos_ctx, control, tmp_path):
    """Run an experiment in-process with some of the twin's fault switches on (cleared after)."""
    def run(experiment_cls, faults: list[str], **overrides):
        known = {f["name"] for f in control.faults()}
        missing = set(faults) - known
        assert not missing, f"the twin has no fault switch {sorted(missing)}; it has {sorted(known)}"
        chaos_ctx.proxies.sweep()
        control.set_faults(faults)
        try:
            journal, _ = gameday.record(experiment_cls(), chaos_ctx, tmp_path, overrides=overrides or None)
        finally:
            control.set_faults([])
        return journal
    return run


def gameday_cli(*args: str, cwd: Path = ROOT, env: dict | None = None) -> subprocess.Popen:
    """`python -m cloudflow_checks.chaos.cli` as a subprocess, with this run's state dir."""
    return subprocess.Popen([sys.executable, "-m", "cloudflow_checks.chaos.cli", *args], cwd=cwd,
                            env={**os.environ, **(env or {})}, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def wait_for(predicate, *, timeout_s: float, what: str, interval_s: float = 0.1,
             proc: subprocess.Popen | None = None):
    """Poll `predicate` until it is truthy. With `proc` (the command expected to bring it about),
    its end stops the wait, and a failure shows what it printed."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        ended = proc is not None and proc.poll() is not None
        if ended or time.monotonic() >= deadline:
            why = f"the command ended (exit {proc.returncode}) first" if ended else f"not seen within {timeout_s} s"
            out = ""
            if proc is not None:
                if not ended:
                    proc.kill()
                out = "\n" + (proc.communicate(timeout=30)[0] or "")[-3000:]
            raise AssertionError(f"{what}: {why}{out}")
        time.sleep(interval_s)
