"""Log checks: structured JSON, correlation ids across services, the documented grep wording.

Guide: Log Analysis & Debugging.
"""
from __future__ import annotations

import re
import secrets

import pytest

from cloudflow_checks import waits
from cloudflow_checks.assertions import json_of

pytestmark = pytest.mark.requires("provisioning", "logs")


def fresh_correlation_id() -> str:
    import string
    return "corr_" + "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(10))


@pytest.mark.behaviour("LOG-01")
def test_logs_are_json_with_documented_fields(workspace, api, spec, logs):
    """Log Levels; Using jq: every line is JSON with timestamp, level, message; errors carry error_type."""
    values = spec["LOG-01"]
    api.list_workflows()  # a 401, logged as an error
    workspace.as_role("viewer").list_workflows()
    lines = logs.wait_for(lambda l: l.get("level") in ("WARN", "ERROR"), timeout_s=spec["LOG-03"].tolerance("log_flush_s"),
                          what="at WARN/ERROR level for a 401")
    every = logs.lines()
    not_json = [l.raw[:120] for l in every if l.data is None]
    assert not not_json, f"{len(not_json)} log lines are not JSON, e.g. {not_json[:3]}"
    for line in every:
        missing = [f for f in values["fields"] if f not in line.data]
        assert not missing, f"log line lacks {missing}: {line.raw[:200]}"
        assert line.data["level"] in values["levels"], f"unknown level {line.data['level']!r}"
    for line in lines:
        for field in values["error_fields"]:
            assert line.get(field), f"{line.get('level')} line without {field}: {line.raw[:200]}"


@pytest.mark.behaviour("LOG-02")
def test_error_responses_carry_correlation_id_found_in_logs(api, spec, logs):
    """Correlation IDs: the id in an error answer traces to the log lines of that request."""
    values = spec["LOG-02"]
    response = api.list_workflows()  # unauthenticated: 401
    assert response.status_code == 401
    header = response.headers.get(values["header"])
    assert header and re.match(values["pattern"], header), f"{values['header']}: {header!r}"
    assert response.json().get("correlation_id") == header, "the error body's correlation_id differs from the header"
    logs.wait_for(lambda l: header in l.raw, timeout_s=spec["LOG-03"].tolerance("log_flush_s"),
                  what=f"with correlation id {header}")


@pytest.mark.behaviour("LOG-02")
def test_correlation_id_is_traceable_from_api_to_engine(workspace, spec, logs):
    """Correlation IDs: "trace requests across services" - the API's id reaches the engine's lines."""
    values = spec["LOG-02"]
    client = workspace.as_role("admin")
    corr = fresh_correlation_id()
    wf = json_of(client.create_workflow({"name": "traced", "environment": "development",
                                         "steps": [{"name": "s", "type": "noop"}]}), 201)
    response = client.request("POST", f"/api/v1/workflows/{wf['id']}/execute", json={"input": {}},
                              headers={values["header"]: corr})
    assert response.status_code == 202 and response.headers.get(values["header"]) == corr
    waits.execution(client, response.json()["execution_id"])
    found = logs.wait_for(lambda l: l.get("correlation_id") == corr and l.source == "engine",
                          timeout_s=spec["LOG-03"].tolerance("log_flush_s"), what=f"from the engine with {corr}")
    assert found


@pytest.mark.behaviour("LOG-03")
def test_retry_attempts_logged_with_documented_wording(workspace, spec, logs):
    """Grep Patterns: `grep -E "retry attempt [0-9]|retrying in"` finds the engine's retries."""
    pattern = re.compile(spec["LOG-03"]["patterns"]["retry"])
    client = workspace.as_role("admin")
    wf = json_of(client.create_workflow({"name": "retry-log", "environment": "development",
                                         "steps": [{"name": "s", "type": "flaky", "fail_times": 1}]}), 201)
    exec_id = json_of(client.execute(wf["id"]), 202)["execution_id"]
    waits.execution(client, exec_id)
    found = logs.wait_for(lambda l: exec_id in l.raw and pattern.search(l.get("message", "")),
                          timeout_s=spec["LOG-03"].tolerance("log_flush_s"), what="matching the retry grep pattern")
    messages = " | ".join(l.get("message", "") for l in found)
    assert re.search(r"retry attempt [0-9]", messages) and "retrying in" in messages, messages


@pytest.mark.behaviour("LOG-03")
@pytest.mark.requires("clock_control")
def test_workflow_timeout_logged_with_documented_wording(workspace, spec, logs, clock):
    """Grep Patterns > Workflow Execution Errors: `grep -E "timeout|exceeded.*3600"` finds the
    engine's line for an execution that ran past the default 3600 s limit (the clock moved past it)."""
    pattern = re.compile(spec["LOG-03"]["patterns"]["timeout"])
    default = spec["WF-01"]["default_timeout_s"]
    client = workspace.as_role("admin")
    wf = json_of(client.create_workflow({"name": "timeout-log", "environment": "development",
                                         "steps": [{"name": "wait", "type": "sleep", "seconds": 2 * default}]}), 201)
    exec_id = json_of(client.execute(wf["id"]), 202)["execution_id"]
    waits.execution(client, exec_id, until=lambda b: any(s["status"] == "RUNNING" for s in b["steps"]))
    clock.advance(default + 1)
    body = waits.execution(client, exec_id, timeout_s=spec.suite["execution_wait_s"])
    assert body["status"] == spec["WF-01"]["status"], f"the execution did not time out: {body}"
    logs.wait_for(lambda l: exec_id in l.raw and pattern.search(l.get("message", "")),
                  timeout_s=spec["LOG-03"].tolerance("log_flush_s"), what=f"for {exec_id} matching the timeout grep")


DEADLOCK_HOLD_S = 2  # each side holds its first lock this long: longer than PostgreSQL's 1 s deadlock_timeout


@pytest.mark.behaviour("LOG-03")
def test_deadlock_logged_with_documented_wording(workspace, spec, logs):
    """Grep Patterns > Database Errors: `grep -i "deadlock detected"` finds a real PostgreSQL
    deadlock: two db_query steps take two advisory locks in opposite orders at the same time."""
    pattern = re.compile(spec["LOG-03"]["patterns"]["deadlock"], re.I)
    client = workspace.as_role("admin")
    first, second = (secrets.randbelow(2 ** 31) for _ in range(2))  # keys of this check's own
    ids = []
    for a, b in ((first, second), (second, first)):
        sql = (f"DO $$ BEGIN PERFORM pg_advisory_xact_lock({a}); PERFORM pg_sleep({DEADLOCK_HOLD_S}); "
               f"PERFORM pg_advisory_xact_lock({b}); END $$")
        wf = json_of(client.create_workflow({"name": f"deadlock-{a}", "environment": "development",
                                             "steps": [{"name": "lock", "type": "db_query", "sql": sql}]}), 201)
        ids.append(wf["id"])
    executions = [json_of(client.execute(wf_id), 202)["execution_id"] for wf_id in ids]
    for exec_id in executions:
        waits.execution(client, exec_id, timeout_s=spec.suite["execution_wait_s"])
    logs.wait_for(lambda l: pattern.search(l.get("message", "")),
                  timeout_s=spec["LOG-03"].tolerance("log_flush_s"), what="matching the deadlock grep")


@pytest.mark.behaviour("LOG-03")
def test_rate_limit_events_logged(workspace_factory, spec, logs):
    """Grep Patterns: `grep "rate_limit_exceeded"` counts the throttled requests."""
    client = workspace_factory("free").as_role("viewer")
    limit = spec["RATE-02"]["tiers"]["free"]["per_minute"]
    statuses = [client.list_workflows().status_code for _ in range(limit + 1)]
    assert 429 in statuses, "no request was throttled"
    logs.wait_for(lambda l: spec["LOG-03"]["patterns"]["rate_limit"] in l.raw,
                  timeout_s=spec["LOG-03"].tolerance("log_flush_s"), what="with rate_limit_exceeded")


@pytest.mark.behaviour("LOG-03")
def test_slow_query_logged(workspace, spec, logs):
    """Grep Patterns: `grep "slow query"` lists queries over the slow-query threshold."""
    client = workspace.as_role("admin")
    wf = json_of(client.create_workflow({"name": "slow", "environment": "development",
                                         "steps": [{"name": "q", "type": "db_query", "sql": "select pg_sleep(1.2)"}]}), 201)
    body = waits.execution(client, json_of(client.execute(wf["id"]), 202)["execution_id"])
    assert body["status"] == "SUCCESS", body
    logs.wait_for(lambda l: spec["LOG-03"]["patterns"]["slow_query"] in l.get("message", ""),
                  timeout_s=spec["LOG-03"].tolerance("log_flush_s"), what="with slow query")
