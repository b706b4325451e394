"""WF-06 validate, WF-09 transform, MEM-01 context_grow, db_query: outputs and their faults."""
from __future__ import annotations

import asyncio

import pytest

from cloudflow_twin.engine import testing as t


@pytest.fixture(scope="module")
def pg():
    server = t.PostgresServer().start()
    yield server
    server.stop()


@pytest.fixture
def db_url(pg):
    with pg.database() as url:
        yield url


def run_steps(db_url, tmp_path, steps, *, faults=(), clock=None, during=None):
    wf = t.insert_workflow(db_url, steps)
    ex = t.insert_execution(db_url, wf)
    rt = t.make_runtime(db_url, tmp_path, clock=clock, faults=t.FaultSet(faults))

    async def scenario():
        async with t.running_engine(rt):
            if during:
                await during(ex)
            return await t.wait_status(db_url, ex, t.TERMINAL_STATUSES, timeout=10)
    return asyncio.run(scenario())


def validate(missing: int, on_error="continue", count=1000):
    return {"name": "data_validation", "type": "validate", "on_error": on_error,
            "error_threshold": 5, "required_fields": ["customer_id", "timestamp"],
            "records": {"count": count, "missing": {"customer_id": missing}}}


def test_validation_error_wording(db_url, tmp_path):
    row = run_steps(db_url, tmp_path, [validate(234, on_error="fail")])
    assert row["status"] == "FAILED"  # VALIDATION_ERROR is not in the retry list
    assert row["error"] == "ValidationError: Field 'customer_id' is required but missing in 234 records"
    assert len(row["attempts"]) == 1


@pytest.mark.parametrize("missing, status", [(49, "SUCCESS"), (50, "SUCCESS"), (51, "FAILED")])
def test_continue_fails_only_past_threshold(db_url, tmp_path, missing, status):
    row = run_steps(db_url, tmp_path, [validate(missing)])
    assert row["status"] == status
    if status == "SUCCESS":
        out = row["steps"][0]["output"]
        assert out["invalid"] == missing and out["invalid_pct"] == missing / 10


def test_threshold_inclusive_fault_fails_at_exactly_5_percent(db_url, tmp_path):
    assert run_steps(db_url, tmp_path, [validate(50)], faults=["threshold_inclusive"])["status"] == "FAILED"


def transform(**extra):
    return {"name": "data_transformation", "type": "transform", "records": 10000,
            "parallel_workers": 8, "batch_size": 1000, **extra}


def test_transform_batches_and_workers(db_url, tmp_path):
    out = run_steps(db_url, tmp_path, [transform()])["steps"][0]["output"]
    assert (out["batches"], out["workers_used"], out["batch_size"]) == (10, 8, 1000)
    out = run_steps(db_url, tmp_path, [transform(parallel_workers=32)])["steps"][0]["output"]
    assert out["workers_used"] == 10  # never more workers than batches


def test_transform_batch_size_ignored_fault(db_url, tmp_path):
    out = run_steps(db_url, tmp_path, [transform()], faults=["batch_size_ignored"])["steps"][0]["output"]
    assert out["batches"] != 10


def test_transform_checkpoints_follow_twin_time(db_url, tmp_path):
    clock = t.TwinClock()
    step = transform(parallel_workers=1, records=1000, batch_size=100, seconds=1000,
                     checkpointing={"enabled": True, "interval_s": 300})

    async def during(ex):
        await t.wait_step(db_url, ex, 0, "RUNNING")
        clock.advance(650)   # two checkpoints are due; they are persisted while the step runs
        await t.wait_for(lambda: len((t.execution(db_url, ex)["steps"][0]["output"] or {})
                                     .get("checkpoints", [])) == 2, 5, "two checkpoints")
        clock.advance(400)
    row = run_steps(db_url, tmp_path, [step], clock=clock, during=during)
    out = row["steps"][0]["output"]
    assert [c["at_s"] for c in out["checkpoints"]] == [300, 600, 900]
    assert [c["batches_done"] for c in out["checkpoints"]] == [3, 6, 9]
    assert row["steps"][0]["duration_s"] == 1000


def test_context_is_bounded(db_url, tmp_path):
    row = run_steps(db_url, tmp_path, [{"name": "grow", "type": "context_grow",
                                        "mb_per_step": 30, "steps": 20}])
    out = row["steps"][0]["output"]
    assert out["peak_mb"] <= 100 and out["cleanups"] > 0
    assert (out["max_size_mb"], out["cleanup_threshold"]) == (100, 0.8)


def test_context_unbounded_fault(db_url, tmp_path):
    row = run_steps(db_url, tmp_path, [{"name": "grow", "type": "context_grow",
                                        "mb_per_step": 30, "steps": 20}], faults=["context_unbounded"])
    out = row["steps"][0]["output"]
    assert out["peak_mb"] == 600 and out["cleanups"] == 0


def test_db_query_step(db_url, tmp_path):
    row = run_steps(db_url, tmp_path, [{"name": "q", "type": "db_query", "sql": "select 1 as one"},
                                       {"name": "bad", "type": "db_query", "sql": "select nope"}])
    assert row["steps"][0]["output"]["rows"] == [{"one": 1}]
    assert row["status"] == "FAILED" and row["steps"][1]["error"].startswith("DatabaseError:")
    assert len([a for a in row["attempts"] if a["step"] == "bad"]) == 1  # not transient


def test_unknown_step_type_fails_cleanly(db_url, tmp_path):
    row = run_steps(db_url, tmp_path, [{"name": "x", "type": "teleport"}, {"name": "y", "type": "noop"}])
    assert row["status"] == "FAILED" and [s["status"] for s in row["steps"]] == ["FAILED", "SKIPPED"]
