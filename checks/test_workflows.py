"""Workflow execution checks: timeouts and step breakdown, timeout updates, validation, chaining,
parallelism settings.

Guide: Workflow Execution Failures.
"""
from __future__ import annotations

import pytest

from cloudflow_checks import waits
from cloudflow_checks.assertions import assert_status, json_of

pytestmark = pytest.mark.requires("provisioning")

LONG_SLEEP_S = 5000  # longer than any timeout under test: the step is running when time runs out


def create(client, **definition) -> dict:
    definition.setdefault("environment", "development")
    return json_of(client.create_workflow(definition), 201)


def execute(client, workflow_id: str) -> str:
    return json_of(client.execute(workflow_id), 202)["execution_id"]


def timeout_pipeline(**extra) -> dict:
    """The guide's example: ingestion and validation succeed, transformation runs out of time."""
    return dict(name="data-pipeline", steps=[
        {"name": "data_ingestion", "type": "noop"},
        {"name": "data_validation", "type": "noop"},
        {"name": "data_transformation", "type": "sleep", "seconds": LONG_SLEEP_S},
        {"name": "data_export", "type": "noop"},
    ], **extra)


def assert_timed_out(spec, body: dict, timeout_s: int) -> None:
    """WF-01: TIMEOUT status and the documented error text naming the workflow's own limit."""
    wf1 = spec["WF-01"]
    assert body["status"] == wf1["status"], f"status {body['status']}, expected {wf1['status']}: {body}"
    assert body["error"] == wf1["message"].format(timeout=timeout_s)


def assert_step_breakdown(spec, body: dict) -> None:
    """WF-02: finished steps SUCCESS, the running one TIMEOUT, later ones SKIPPED with 0 s."""
    wf2 = spec["WF-02"]
    steps = {s["name"]: s for s in body["steps"]}
    assert steps["data_ingestion"]["status"] == "SUCCESS"
    assert steps["data_validation"]["status"] == "SUCCESS"
    assert steps["data_transformation"]["status"] == wf2["running_step_status"]
    export = steps["data_export"]
    assert export["status"] == wf2["later_step_status"], f"data_export: {export}"
    assert export["duration_s"] == wf2["later_step_duration_s"], f"a SKIPPED step took {export['duration_s']} s"


@pytest.mark.behaviour("WF-01")
@pytest.mark.requires("clock_control")
def test_default_timeout_3600s_ends_in_timeout(workspace, spec, clock):
    """Timeout Errors: the default 3600 s limit, proven by moving the target's clock past it."""
    default = spec["WF-01"]["default_timeout_s"]
    client = workspace.as_role("admin")
    wf = create(client, **timeout_pipeline())
    assert wf["timeout"] == default, f"default timeout reads {wf['timeout']}, documented {default}"
    exec_id = execute(client, wf["id"])
    waits.execution(client, exec_id, until=lambda b: any(
        s["name"] == "data_transformation" and s["status"] == "RUNNING" for s in b["steps"]))
    before, after = spec.suite["limit_probe_before_s"], spec.suite["limit_probe_after_s"]
    clock.advance(default - before)
    early = json_of(client.execution(exec_id))
    assert early["status"] == "RUNNING", f"timed out before {default} s: {early['status']}"
    clock.advance(before + after)
    body = waits.execution(client, exec_id, timeout_s=spec.suite["execution_wait_s"])
    assert_timed_out(spec, body, default)


@pytest.mark.behaviour("WF-01")
def test_custom_timeout_is_enforced_with_its_own_limit_in_the_message(workspace, spec):
    """Timeout Errors: the error names the workflow's own limit (here 2 s, in real time)."""
    client = workspace.as_role("admin")
    wf = create(client, **timeout_pipeline(timeout=2))
    body = waits.execution(client, execute(client, wf["id"]), timeout_s=spec.suite["execution_wait_s"])
    assert_timed_out(spec, body, 2)


@pytest.mark.behaviour("WF-02")
def test_timed_out_execution_shows_the_step_breakdown(workspace, spec):
    """Timeout Errors > Investigation: `executions get --show-steps` after a timeout: the running
    step TIMEOUT, later steps SKIPPED with 0 s (a 2 s limit, in real time)."""
    client = workspace.as_role("admin")
    wf = create(client, **timeout_pipeline(timeout=2))
    body = waits.execution(client, execute(client, wf["id"]), timeout_s=spec.suite["execution_wait_s"])
    assert body["status"] == spec["WF-01"]["status"], f"the execution did not time out: {body}"
    assert_step_breakdown(spec, body)


@pytest.mark.behaviour("WF-03")
def test_timeout_raised_with_reason_reads_back(workspace, spec):
    """Solutions: `cloudflow workflows update --timeout 7200 --reason ...` then `get | grep timeout`."""
    values = spec["WF-03"]
    client = workspace.as_role("admin")
    wf = create(client, **timeout_pipeline())
    assert_status(client.update_workflow(wf["id"], {"timeout": values["timeout_s"]}), 422)
    json_of(client.update_workflow(wf["id"], {"timeout": values["timeout_s"], "reason": values["reason"]}))
    back = json_of(client.workflow(wf["id"]))
    assert back["timeout"] == values["timeout_s"]
    assert back["timeout_reason"] == values["reason"]


def validation_workflow(missing: int, records: int, on_error: str = "continue", threshold=None) -> dict:
    step = {"name": "data_validation", "type": "validate", "on_error": on_error,
            "required_fields": ["customer_id", "timestamp", "amount"],
            "records": {"count": records, "missing": {"customer_id": missing}},
            "retry_enabled": False}
    if threshold is not None:
        step["error_threshold"] = threshold
    return {"name": "validation", "steps": [step]}


@pytest.mark.behaviour("WF-06")
def test_validation_error_wording(workspace, spec):
    """Data Validation Errors: `ValidationError: Field 'customer_id' is required but missing in N records`."""
    values = spec["WF-06"]
    client = workspace.as_role("admin")
    wf = create(client, **validation_workflow(234, values["records"], on_error="fail"))
    body = waits.execution(client, execute(client, wf["id"]))
    assert body["status"] == "FAILED", body
    expected = values["message"].format(field="customer_id", count=234)
    assert expected in (body["error"] or ""), f"expected {expected!r} in {body['error']!r}"


@pytest.mark.behaviour("WF-06")
def test_error_threshold_5_percent_on_both_sides(workspace, spec):
    """Data Validation Errors: --on-error continue --error-threshold 5% fails only past 5 %."""
    values = spec["WF-06"]
    records, pct = values["records"], values["error_threshold_pct"]
    at_threshold = records * pct // 100
    client = workspace.as_role("admin")
    outcomes = {}
    for missing in (at_threshold, at_threshold + 1):
        wf = create(client, **validation_workflow(missing, records, threshold=f"{pct}%"))
        outcomes[missing] = waits.execution(client, execute(client, wf["id"]))["status"]
    assert outcomes[at_threshold] == "SUCCESS", f"exactly {pct} % invalid must pass: {outcomes}"
    assert outcomes[at_threshold + 1] == "FAILED", f"over {pct} % invalid must fail: {outcomes}"


@pytest.mark.behaviour("WF-08")
def test_workflow_completed_trigger_starts_downstream_after_upstream(workspace, spec):
    """Split workflow: part2 --trigger workflow_completed --trigger-workflow part1."""
    client = workspace.as_role("admin")
    part1 = create(client, name="data-pipeline-part1", timeout=1800, steps=[{"name": "data_ingestion", "type": "noop"}])
    part2 = create(client, name="data-pipeline-part2", steps=[{"name": "data_export", "type": "noop"}],
                   trigger={"type": spec["WF-08"]["trigger"], "workflow_id": part1["id"]})
    upstream = waits.execution(client, execute(client, part1["id"]))
    assert upstream["status"] == "SUCCESS", upstream
    downstream = waits.poll(lambda: json_of(client.executions(workflow_id=part2["id"]))["executions"],
                            lambda rows: any(r["status"] in waits.TERMINAL for r in rows),
                            timeout_s=spec.suite["execution_wait_s"], what="a triggered part2 execution")
    done = [r for r in downstream if r["status"] in waits.TERMINAL][0]
    assert done["status"] == "SUCCESS", done
    assert done["started_at"] >= upstream["finished_at"], "part2 started before part1 finished"


@pytest.mark.behaviour("WF-09")
def test_parallel_workers_batch_size_and_checkpointing_are_honoured(workspace, spec):
    """Optimize slow steps: --parallel-workers 8 --batch-size 1000 --enable-checkpointing."""
    values = spec["WF-09"]
    client = workspace.as_role("admin")
    records = values["batch_size"] * 10 + 1
    wf = create(client, name="transform", steps=[{
        "name": "data_transformation", "type": "transform", "records": records,
        "parallel_workers": values["parallel_workers"], "batch_size": values["batch_size"],
        "checkpointing": {"enabled": True, "interval_s": values["checkpoint_interval_s"]},
        "seconds": 0}])
    body = waits.execution(client, execute(client, wf["id"]))
    assert body["status"] == "SUCCESS", body
    output = body["steps"][0]["output"]
    assert output["batch_size"] == values["batch_size"], f"transform used batch_size {output['batch_size']}, configured {values['batch_size']}"
    assert output["batches"] == -(-records // values["batch_size"]), (
        f"{records} records in {output['batches']} batches: batch_size {values['batch_size']} not honoured")
    assert output["workers_used"] == values["parallel_workers"], f"{output['workers_used']} workers used, configured {values['parallel_workers']}"
    assert output["checkpointing"] is True
    assert output["checkpoint_interval_s"] == values["checkpoint_interval_s"]


@pytest.mark.behaviour("MEM-01")
def test_workflow_context_is_bounded(workspace, spec):
    """Workflow Context Accumulation: max_size_mb 100, cleanup at 0.8 of it."""
    values = spec["MEM-01"]
    client = workspace.as_role("admin")
    config = json_of(client.config())
    assert config["workflow.context.max_size_mb"] == values["max_size_mb"]
    assert config["workflow.context.cleanup_threshold"] == values["cleanup_threshold"]
    wf = create(client, name="context", steps=[{"name": "accumulate", "type": "context_grow",
                                                "mb_per_step": 15, "steps": 20}])
    body = waits.execution(client, execute(client, wf["id"]))
    output = body["steps"][0]["output"]
    assert output["peak_mb"] <= values["max_size_mb"] * values["cleanup_threshold"], output
    assert output["cleanups"] >= 1, output
