"""Slow database behind the cache: the experiment `cache-slow-db` (see its module for the guide section).

Runs alone: `pytest chaos/test_cache_slow_db.py` or `cloudflow-checks gameday --experiment cache-slow-db`.
"""
from __future__ import annotations

import pytest

from cloudflow_checks.chaos.experiments.cache import SlowDatabaseBehindCache


@pytest.mark.behaviour("PERF-04")
@pytest.mark.requires(*SlowDatabaseBehindCache.requires)
@pytest.mark.destructive
def test_cache_slow_db(run_experiment):
    journal = run_experiment(SlowDatabaseBehindCache)
    assert journal.passed, journal.failure_message()
