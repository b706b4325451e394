"""Slow database, pool exhaustion: the experiment `db-pool-exhaustion` (see its module for the guide section).

Runs alone: `pytest chaos/test_db_pool_exhaustion.py` or `cloudflow-checks gameday --experiment db-pool-exhaustion`.
"""
from __future__ import annotations

import pytest

from cloudflow_checks.chaos.experiments.db_pool import SlowDatabasePoolExhaustion


@pytest.mark.behaviour("DB-02", "DB-05")
@pytest.mark.requires(*SlowDatabasePoolExhaustion.requires)
@pytest.mark.destructive
def test_db_pool_exhaustion(run_experiment):
    journal = run_experiment(SlowDatabasePoolExhaustion)
    assert journal.passed, journal.failure_message()
