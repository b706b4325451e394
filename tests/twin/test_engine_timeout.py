"""WF-01/02: workflow timeout in twin time, step breakdown, deadline during backoff, recovery."""
from __future__ import annotations

import asyncio
import time

import pytest

from cloudflow_twin.engine import testing as t

MESSAGE = "WorkflowExecutionError: Workflow exceeded maximum execution time of {} seconds"
PIPELINE = [{"name": "data_ingestion", "type": "noop"},
            {"name": "data_validation", "type": "sleep", "seconds": 123},
            {"name": "data_transformation", "type": "sleep", "seconds": 7200},
            {"name": "data_export", "type": "noop"}]


@pytest.fixture(scope="module")
def pg():
    server = t.PostgresServer().start()
    yield server
    server.stop()


@pytest.fixture
def db_url(pg):
    with pg.database() as url:
        yield url


def timed_out_pipeline(db_url, tmp_path, faults=()):
    """Run PIPELINE (timeout 3600) moving the twin clock; return the execution at the end."""
    wf = t.insert_workflow(db_url, PIPELINE)
    ex = t.insert_execution(db_url, wf)
    clock = t.TwinClock()
    rt = t.make_runtime(db_url, tmp_path, clock=clock, faults=t.FaultSet(faults))

    async def scenario():
        async with t.running_engine(rt):
            await t.wait_step(db_url, ex, 1, "RUNNING")
            clock.advance(123)                       # validation ends by the clock
            await t.wait_step(db_url, ex, 2, "RUNNING")
            clock.advance(3600 - 123 + 1)            # past the deadline mid-transformation
            if "timeout_ignored" in faults:
                await asyncio.sleep(1.0)             # several deadline checks (every 100 ms)
                return t.execution(db_url, ex)
            return await t.wait_status(db_url, ex, t.TERMINAL_STATUSES, timeout=5)
    return asyncio.run(scenario())


def test_timeout_marks_execution_and_step_breakdown(db_url, tmp_path):
    row = timed_out_pipeline(db_url, tmp_path)
    assert row["status"] == "TIMEOUT"
    assert row["error"] == MESSAGE.format(3600)
    steps = [(s["name"], s["status"]) for s in row["steps"]]
    assert steps == [("data_ingestion", "SUCCESS"), ("data_validation", "SUCCESS"),
                     ("data_transformation", "TIMEOUT"), ("data_export", "SKIPPED")]
    assert row["steps"][1]["duration_s"] == pytest.approx(123, abs=0.5)
    assert row["steps"][2]["duration_s"] == pytest.approx(3600 - 123 + 1, abs=2)
    assert row["steps"][3]["duration_s"] == 0
    assert row["finished_at"] - row["started_at"] >= 3600
    assert any(MESSAGE.format(3600) == line["message"] and line["level"] == "ERROR"
               and line["error_type"] == "WorkflowExecutionError" for line in t.log_lines(tmp_path))


def test_timeout_ignored_fault(db_url, tmp_path):
    assert timed_out_pipeline(db_url, tmp_path, faults=("timeout_ignored",))["status"] == "RUNNING"


def test_timeout_wording_fault(db_url, tmp_path):
    row = timed_out_pipeline(db_url, tmp_path, faults=("timeout_wording",))
    assert row["status"] == "TIMEOUT" and row["error"] != MESSAGE.format(3600)


def test_skipped_nonzero_duration_fault(db_url, tmp_path):
    row = timed_out_pipeline(db_url, tmp_path, faults=("skipped_nonzero_duration",))
    assert row["steps"][3]["status"] == "SKIPPED" and row["steps"][3]["duration_s"] > 0


def test_deadline_checked_during_backoff(db_url, tmp_path):
    """A 2 s workflow whose step waits 5 s before its retry ends TIMEOUT at ~2 s, not later."""
    wf = t.insert_workflow(db_url, [{"name": "s", "type": "flaky", "fail_times": 99},
                                    {"name": "after", "type": "noop"}],
                           timeout_s=2, retry_policy={"initial_delay_ms": 5000})
    ex = t.insert_execution(db_url, wf)
    rt = t.make_runtime(db_url, tmp_path)

    async def scenario():
        async with t.running_engine(rt):
            return await t.wait_status(db_url, ex, t.TERMINAL_STATUSES, timeout=10)
    row = asyncio.run(scenario())
    assert row["status"] == "TIMEOUT" and row["error"] == MESSAGE.format(2)
    assert 2.0 <= row["finished_at"] - row["started_at"] <= 2.0 + 0.3
    assert [s["status"] for s in row["steps"]] == ["TIMEOUT", "SKIPPED"]
    assert len(row["attempts"]) == 1


def test_stranded_running_execution_past_deadline_becomes_timeout(db_url, tmp_path):
    """Left RUNNING by a dead engine: the sweep times it out, with the step breakdown."""
    wf = t.insert_workflow(db_url, PIPELINE)
    ex = t.insert_execution(db_url, wf)
    now = time.time()
    t.sql(db_url, "UPDATE executions SET status = 'RUNNING', started_at = %s WHERE id = %s",
          (now - 4000, ex), fetch=False)
    for pos, (status, started) in enumerate([("SUCCESS", None), ("RUNNING", now - 3900),
                                             ("PENDING", None), ("PENDING", None)]):
        t.sql(db_url, "INSERT INTO execution_steps (execution_id, position, name, status, started_at)"
                      " VALUES (%s, %s, %s, %s, %s)", (ex, pos, PIPELINE[pos]["name"], status, started),
              fetch=False)
    rt = t.make_runtime(db_url, tmp_path)

    async def scenario():
        async with t.running_engine(rt):
            return await t.wait_status(db_url, ex, "TIMEOUT", timeout=5)
    row = asyncio.run(scenario())
    assert row["error"] == MESSAGE.format(3600)
    assert [s["status"] for s in row["steps"]] == ["SUCCESS", "TIMEOUT", "SKIPPED", "SKIPPED"]
    assert row["steps"][1]["duration_s"] == pytest.approx(3900, abs=2)
    assert row["steps"][2]["duration_s"] == 0


def test_orphan_within_deadline_is_rerun(db_url, tmp_path):
    wf = t.insert_workflow(db_url, [{"name": "a", "type": "noop"}])
    ex = t.insert_execution(db_url, wf)
    t.sql(db_url, "UPDATE executions SET status = 'RUNNING', started_at = %s WHERE id = %s",
          (time.time() - 10, ex), fetch=False)
    rt = t.make_runtime(db_url, tmp_path)

    async def scenario():
        async with t.running_engine(rt):
            return await t.wait_status(db_url, ex, "SUCCESS", timeout=5)
    assert asyncio.run(scenario())["steps"][0]["status"] == "SUCCESS"


def test_sleep_step_waits_in_twin_time(db_url, tmp_path):
    """Without a clock move a 2 s sleep takes ~2 s real; an advance ends a long one at once."""
    wf = t.insert_workflow(db_url, [{"name": "short", "type": "sleep", "seconds": 2},
                                    {"name": "long", "type": "sleep", "seconds": 600}])
    ex = t.insert_execution(db_url, wf)
    clock = t.TwinClock()
    rt = t.make_runtime(db_url, tmp_path, clock=clock)

    async def scenario():
        async with t.running_engine(rt):
            await t.wait_step(db_url, ex, 1, "RUNNING", timeout=10)
            clock.advance(600)
            return await t.wait_status(db_url, ex, "SUCCESS", timeout=5)
    row = asyncio.run(scenario())
    # the engine's own timestamps (twin = real here until the advance), not the test's polling
    short_took = row["steps"][1]["started_at"] - row["steps"][0]["started_at"]
    assert 2.0 <= short_took <= 2.25
    assert [s["duration_s"] for s in row["steps"]] == [pytest.approx(2, abs=0.2), 600]
