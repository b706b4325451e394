"""The load verdicts pass on the twin and fail when the twin's limiter is broken on purpose.

Each fault switch breaks one documented behaviour (GET /_twin/faults); it is switched on only for
its run and cleared in a finally, whatever happens.
"""
from __future__ import annotations

import pytest

from cloudflow_checks.load import scenarios

WINDOW = "accepted per window equals the limit"
EDGE = "no double burst at a window edge"
DOCUMENTED_429 = "every rejection is the documented 429"
RETRY_AFTER = "waiting Retry-After is enough"


def failed(outcome) -> set[str]:
    return {v.name for v in outcome.verdicts if not v.passed}


def test_verdicts_pass_on_the_unbroken_twin(load_context, tmp_path):
    outcome = scenarios.rate_windows(load_context, "free", tmp_path, shape="over-limit")
    assert outcome.passed, outcome.failure_text()


@pytest.mark.parametrize("fault,caught_by", [
    ("limit_off_by_one", {WINDOW}),
    ("window_edge_double_burst", {EDGE}),
    ("retry_after_missing", {DOCUMENTED_429, RETRY_AFTER}),
])
def test_verdicts_fail_on_a_broken_limiter(load_context, control, tmp_path, fault, caught_by):
    control.set_faults([fault])
    try:
        outcome = scenarios.rate_windows(load_context, "free", tmp_path, shape="over-limit")
    finally:
        control.set_faults([])
    assert caught_by <= failed(outcome), (
        f"{fault} not caught by {sorted(caught_by - failed(outcome))}:\n" + "\n".join(outcome.lines()))
