"""Unit tests of the harness: the target lock, result merging, summary verdicts."""
from __future__ import annotations

import multiprocessing
import time

from cloudflow_checks import redact
from cloudflow_checks.clock import TargetLock
from cloudflow_checks.reporting import summary
from cloudflow_checks.results import CheckResult
from cloudflow_checks.spec import load


def _hold_shared(folder, started, release):
    with TargetLock(folder).shared():
        started.set()
        release.wait(10)


def test_exclusive_waits_for_shared_holders(tmp_path):
    """A check that moves the clock must wait until running checks finish."""
    ctx = multiprocessing.get_context("fork")
    started, release = ctx.Event(), ctx.Event()
    reader = ctx.Process(target=_hold_shared, args=(tmp_path, started, release))
    reader.start()
    assert started.wait(10)
    t0 = time.monotonic()
    ctx.Process(target=lambda: (time.sleep(0.5), release.set())).start()
    with TargetLock(tmp_path).exclusive():
        waited = time.monotonic() - t0
    reader.join(10)
    assert waited >= 0.4


def test_shared_holders_do_not_block_each_other(tmp_path):
    lock = TargetLock(tmp_path)
    with lock.shared():
        t0 = time.monotonic()
        ctx = multiprocessing.get_context("fork")
        started, release = ctx.Event(), ctx.Event()
        release.set()
        p = ctx.Process(target=_hold_shared, args=(tmp_path, started, release))
        p.start()
        assert started.wait(5)
        p.join(5)
        assert time.monotonic() - t0 < 3


def run_info(fail_on="SEV-2"):
    return summary.RunInfo("r1", {"name": "local", "kind": "twin", "base_url": "http://x"}, "smoke",
                           "t0", "t1", 1.0, fail_on)


def test_gate_fails_on_sev2_and_passes_on_sev4():
    spec = load()
    sev2 = [CheckResult("checks/a.py::t", ["RATE-01"], "failed", 0.1, "boom")]
    sev4 = [CheckResult("checks/a.py::t", ["AUTH-07"], "failed", 0.1, "boom")]
    assert summary.build(spec, sev2, run_info())["verdict"]["gate"] == "fail"
    built = summary.build(spec, sev4, run_info())
    assert built["verdict"]["gate"] == "pass" and built["verdict"]["worst_severity"] == "SEV-4"
    assert summary.build(spec, sev4, run_info("SEV-4"))["verdict"]["gate"] == "fail"
    assert "AUTH-07" in summary.to_markdown(built)


def test_behaviour_status_rules():
    ok = CheckResult("a", ["AUTH-01"], "passed")
    bad = CheckResult("b", ["AUTH-01"], "failed")
    skip = CheckResult("c", ["AUTH-01"], "skipped")
    assert summary.behaviour_status([ok, skip]) == "passed"
    assert summary.behaviour_status([ok, bad]) == "failed"
    assert summary.behaviour_status([skip]) == "skipped"
    assert summary.behaviour_status([]) == "not-run"


def test_redaction_masks_registered_secrets_and_jwts():
    redact.register("hunter2-password")
    token = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"
    text = redact.text(f"pw=hunter2-password auth=Bearer abc123 tok={token}")
    assert "hunter2-password" not in text and token not in text and "abc123" not in text
