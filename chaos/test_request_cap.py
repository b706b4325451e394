"""Request cut at 30000 ms: the experiment `request-cap` (see its module for the guide section).

Runs alone: `pytest chaos/test_request_cap.py` or `cloudflow-checks gameday --experiment request-cap`.
"""
from __future__ import annotations

import pytest

from cloudflow_checks.chaos.experiments.request_cap import RequestCap


@pytest.mark.behaviour("PERF-01")
@pytest.mark.requires(*RequestCap.requires)
@pytest.mark.destructive
def test_request_cap(run_experiment):
    journal = run_experiment(RequestCap)
    assert journal.passed, journal.failure_message()
