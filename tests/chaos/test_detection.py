"""Detection power: each experiment FAILS, with a clear message, when the twin's matching
remediation is switched off through its fault switches (the passes are chaos/ itself)."""
from __future__ import annotations

import pytest

from cloudflow_checks.chaos.experiments import (ConnectionResets, DatabasePartition, FailingPartnerApi, RequestCap,
                                                SlowDatabaseBehindCache, SlowDatabasePoolExhaustion)

CASES = [
    (SlowDatabasePoolExhaustion, "no_acquire_timeout", ("hung past", "no request answered 503")),
    (SlowDatabasePoolExhaustion, "pool_exhausted_500", ("answered 500 instead of 503",)),
    (SlowDatabasePoolExhaustion, "acquire_gives_up_early", ("before its documented 5000 ms acquire timeout",)),
    (DatabasePartition, "db_down_500", ("answered 500 instead of 503",)),
    (ConnectionResets, "no_retry", ("was not retried",)),
    (FailingPartnerApi, "breaker_disabled", ("not open",)),
    (FailingPartnerApi, "no_fallback", ("cached data was not served",)),
    (SlowDatabaseBehindCache, "cache_disabled", ("not served from the cache",)),
    (RequestCap, "no_request_cap", ("the request is not cut",)),
]


@pytest.mark.requires("toxiproxy", "fault_switches", "provisioning")
@pytest.mark.parametrize("experiment, fault, wording", CASES, ids=[f"{c[0].name}-{c[1]}" for c in CASES])
def test_experiment_fails_clearly_without_the_remediation(run_with_faults, experiment, fault, wording):
    journal = run_with_faults(experiment, [fault])
    assert not journal.passed, f"{experiment.name} passed with the twin's fault {fault} on: {journal.to_json()['findings']}"
    assert journal.status in ("deviated", "completed"), f"the fault was not judged (status {journal.status}): {journal.error}"
    message = journal.failure_message()
    assert any(w in message for w in wording), f"no clear message naming the broken remediation: {message}"
    assert not journal.leftovers_after, f"left behind: {journal.leftovers_after}"
