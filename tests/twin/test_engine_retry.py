"""WF-04/05, LOG-03: retry policy, real-time backoff, retry history and retry log wording."""
from __future__ import annotations

import asyncio

import pytest

from cloudflow_twin.engine import testing as t

TOLERANCE_S = 0.25  # retry timing tolerance (brief: ~250 ms)


@pytest.fixture(scope="module")
def pg():
    server = t.PostgresServer().start()
    yield server
    server.stop()


@pytest.fixture
def db_url(pg):
    with pg.database() as url:
        yield url


def run(db_url, tmp_path, steps, *, faults=(), retry_policy=None, statuses=None, timeout=30):
    """Run one execution of a one-workflow engine; return (execution row, log lines)."""
    wf = t.insert_workflow(db_url, steps, retry_policy=retry_policy)
    ex = t.insert_execution(db_url, wf, correlation_id="corr_retrytest1")
    rt = t.make_runtime(db_url, tmp_path, faults=t.FaultSet(faults))

    async def scenario():
        async with t.running_engine(rt):
            return await t.wait_status(db_url, ex, statuses or t.TERMINAL_STATUSES, timeout)
    row = asyncio.run(scenario())
    return row, [line for line in t.log_lines(tmp_path) if line.get("context", {}).get("execution_id") == ex]


def test_default_policy_attempts_at_0_1_2_4_then_failed_after_retries(db_url, tmp_path):
    row, lines = run(db_url, tmp_path, [{"name": "fetch", "type": "flaky", "fail_times": 99}])
    assert row["status"] == "FAILED_AFTER_RETRIES"
    assert row["error"] == "NetworkError: Connection refused"
    attempts = row["attempts"]
    assert [a["attempt"] for a in attempts] == [1, 2, 3, 4]
    assert [a["delay_ms"] for a in attempts] == [0, 1000, 2000, 4000]
    assert all(a["status"] == "FAILED" for a in attempts)
    start = attempts[0]["started_at"]
    offsets = [a["started_at"] - start for a in attempts]
    for measured, expected in zip(offsets, [0, 1, 3, 7]):  # cumulative: 0, +1, +2, +4
        assert abs(measured - expected) <= TOLERANCE_S, offsets
    step = row["steps"][0]
    assert (step["status"], step["attempts"]) == ("FAILED", 4)
    # LOG-03: documented wording, JSON, with ids and the execution's correlation id
    retry_lines = [line for line in lines if line["message"].startswith("retry attempt")]
    assert [line["message"] for line in retry_lines] == [
        f"retry attempt {k} of 3 for step fetch: NetworkError: Connection refused" for k in (1, 2, 3)]
    waits = [line["message"] for line in lines if line["message"].startswith("retrying in")]
    assert waits == ["retrying in 1000ms", "retrying in 2000ms", "retrying in 4000ms"]
    for line in retry_lines:
        assert line["workflow_id"] == row["workflow_id"]
        assert line["context"]["execution_id"] == row["id"]
        assert line["correlation_id"] == "corr_retrytest1"
        assert line["component"] == "engine" and line["level"] == "WARN"


def test_transient_failure_then_success(db_url, tmp_path):
    policy = {"initial_delay_ms": 100}
    row, _ = run(db_url, tmp_path, [{"name": "s", "type": "flaky", "fail_times": 2}], retry_policy=policy)
    assert row["status"] == "SUCCESS"
    assert [a["status"] for a in row["attempts"]] == ["FAILED", "FAILED", "SUCCESS"]
    assert row["steps"][0]["attempts"] == 3 and row["steps"][0]["error"] is None


def test_custom_policy_attempts_multiplier_and_cap(db_url, tmp_path):
    policy = {"max_attempts": 4, "initial_delay_ms": 100, "backoff_multiplier": 3, "max_delay_ms": 500}
    row, _ = run(db_url, tmp_path, [{"name": "s", "type": "flaky", "fail_times": 99}], retry_policy=policy)
    assert row["status"] == "FAILED_AFTER_RETRIES"
    assert [a["delay_ms"] for a in row["attempts"]] == [0, 100, 300, 500, 500]
    gaps = [b["started_at"] - a["started_at"] for a, b in zip(row["attempts"], row["attempts"][1:])]
    for gap, expected in zip(gaps, [0.1, 0.3, 0.5, 0.5]):
        assert abs(gap - expected) <= TOLERANCE_S, gaps


def test_error_not_in_retry_list_is_not_retried(db_url, tmp_path):
    policy = {"retry_on_errors": ["TIMEOUT"]}
    row, _ = run(db_url, tmp_path, [{"name": "s", "type": "flaky", "fail_times": 99}], retry_policy=policy)
    assert row["status"] == "FAILED" and len(row["attempts"]) == 1


def test_retry_disabled_per_step(db_url, tmp_path):
    steps = [{"name": "export", "type": "flaky", "fail_times": 99, "retry_enabled": False}]
    row, _ = run(db_url, tmp_path, steps)
    assert row["status"] == "FAILED" and len(row["attempts"]) == 1


def test_step_policy_overrides_workflow_policy(db_url, tmp_path):
    steps = [{"name": "s", "type": "flaky", "fail_times": 99,
              "retry_policy": {"max_attempts": 1, "initial_delay_ms": 50}}]
    row, _ = run(db_url, tmp_path, steps, retry_policy={"max_attempts": 5})
    assert [a["delay_ms"] for a in row["attempts"]] == [0, 50]


@pytest.mark.parametrize("fault, delays, status", [
    ("linear_backoff", [0, 100, 200, 300], "FAILED_AFTER_RETRIES"),
    ("retries_two", [0, 100, 200], "FAILED_AFTER_RETRIES"),
    ("no_retry", [0], "FAILED"),
])
def test_backoff_faults(db_url, tmp_path, fault, delays, status):
    row, _ = run(db_url, tmp_path, [{"name": "s", "type": "flaky", "fail_times": 99}],
                 retry_policy={"initial_delay_ms": 100}, faults=[fault])
    assert row["status"] == status
    assert [a["delay_ms"] for a in row["attempts"]] == delays


def test_retry_on_errors_ignored_fault(db_url, tmp_path):
    row, _ = run(db_url, tmp_path, [{"name": "s", "type": "flaky", "fail_times": 99}],
                 retry_policy={"retry_on_errors": ["TIMEOUT"], "initial_delay_ms": 50},
                 faults=["retry_on_errors_ignored"])
    assert len(row["attempts"]) == 4


def test_retry_log_wording_fault(db_url, tmp_path):
    _, lines = run(db_url, tmp_path, [{"name": "s", "type": "flaky", "fail_times": 1}],
                   retry_policy={"initial_delay_ms": 50}, faults=["retry_log_wording"])
    messages = [line["message"] for line in lines]
    assert not any(m.startswith("retry attempt") or m.startswith("retrying in") for m in messages)
