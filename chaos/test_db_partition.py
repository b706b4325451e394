"""Database partition (proxy disabled, then a timeout toxic) with a history check: the experiment `db-partition` (see its module for the guide section).

Runs alone: `pytest chaos/test_db_partition.py` or `cloudflow-checks gameday --experiment db-partition`.
"""
from __future__ import annotations

import pytest

from cloudflow_checks.chaos.experiments.db_partition import DatabasePartition


@pytest.mark.behaviour("DB-03", "HEALTH-01")
@pytest.mark.requires(*DatabasePartition.requires)
@pytest.mark.destructive
def test_db_partition(run_experiment):
    journal = run_experiment(DatabasePartition)
    assert journal.passed, journal.failure_message()
