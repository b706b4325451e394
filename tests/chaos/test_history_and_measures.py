"""The history checkers and the measures over probe samples, on hand-made histories (no target)."""
from __future__ import annotations

from cloudflow_checks.chaos import history as h
from cloudflow_checks.chaos.probes import Sample, percentile, time_to_detect, time_to_recover


def _history(*ops):
    clock = iter(range(1000))
    hist = h.History(lambda: float(next(clock)))
    for type_, result in ops:
        op = hist.invoke("writer", "submit")
        hist.complete(op, type_, result=result)
    return hist


def test_lost_acknowledged_write_is_a_counterexample():
    hist = _history(("ok", "e1"), ("ok", "e2"), ("fail", None))
    inv = h.no_acknowledged_write_lost(hist, "submit", lambda i: i if i == "e1" else None)
    assert not inv.ok and inv.counterexamples[0]["id"] == "e2"


def test_state_must_be_explained_by_the_history():
    hist = _history(("ok", "e1"), ("info", None), ("fail", None))
    assert h.accounted_for(hist, "submit", {"e1"}).ok
    assert h.accounted_for(hist, "submit", {"e1", "x"}).ok            # the indeterminate one happened
    assert not h.accounted_for(hist, "submit", {"e1", "x", "y"}).ok   # a refused submission happened too
    assert not h.accounted_for(hist, "submit", set()).ok              # an acknowledged one is missing


def test_stuck_and_pending():
    assert not h.no_stuck_execution({"e1": {"status": "RUNNING"}, "e2": {"status": "SUCCESS"}}, 30).ok
    hist = h.History(lambda: 0.0)
    hist.invoke("writer", "submit")
    assert not h.nothing_pending(hist).ok


def _s(t, ok, status=200, ms=10.0, series="steady"):
    return Sample(series, t, ms, status, ok)


def test_detect_and_recover_from_samples():
    samples = [_s(0, True), _s(1, False, 503, 50), _s(2, False, 503), _s(5, True), _s(5.5, False), _s(6, True),
               _s(6.5, True), _s(7, True)]
    assert time_to_detect(samples, 0.5, lambda s: s.status == 503) == 0.55
    assert time_to_recover(samples, 4.0, stable=3) == 2.0
    assert time_to_recover(samples, 4.0, stable=5) is None
    assert percentile([1, 2, 3, 4, 100], 95) == 100 and percentile([5] * 20, 95) == 5


def test_timeline_marks_each_measure_from_its_own_fault_window():
    """db-partition has two faults; each one's detect/recover line starts at its own window (both
    were drawn from the first injection and the last heal)."""
    from cloudflow_checks.chaos.timeline import _reference
    faults = [{"kind": "partition", "type": None, "injected_at": 1.0, "healed_at": 6.0},
              {"kind": "toxic", "type": "timeout", "injected_at": 8.0, "healed_at": 17.0}]
    assert _reference("time_to_detect[partition]", faults) == 1.0
    assert _reference("time_to_recover[partition]", faults) == 6.0
    assert _reference("time_to_detect[timeout toxic]", faults) == 8.0
    assert _reference("time_to_recover[timeout toxic]", faults) == 17.0
    assert (_reference("time_to_detect", faults), _reference("time_to_recover", faults)) == (1.0, 17.0)
    assert _reference("p95_after_heal_ms", faults) is None
