"""Connection resets under a running step: the experiment `connection-resets` (see its module for the guide section).

Runs alone: `pytest chaos/test_connection_resets.py` or `cloudflow-checks gameday --experiment connection-resets`.
"""
from __future__ import annotations

import pytest

from cloudflow_checks.chaos.experiments.resets import ConnectionResets


@pytest.mark.behaviour("WF-04", "LOG-03")
@pytest.mark.requires(*ConnectionResets.requires)
@pytest.mark.destructive
def test_connection_resets(run_experiment):
    journal = run_experiment(ConnectionResets)
    assert journal.passed, journal.failure_message()
