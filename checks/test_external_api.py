"""Partner-API failure checks: error wording, circuit breaker count and timeout, cached fallback.

Guide: Workflow Execution Failures > Workflow Step Failures > External API Failures.
"""
from __future__ import annotations

import re

import pytest

from cloudflow_checks import waits
from cloudflow_checks.assertions import json_of

pytestmark = [pytest.mark.requires("provisioning", "partner_control"), pytest.mark.behaviour("WF-07")]


def external_step(spec, *, fallback: bool) -> dict:
    values = spec["WF-07"]
    step = {"name": "external_api_call", "type": "external_api", "path": "/v1/data", "retry_enabled": False,
            "circuit_breaker": {"enabled": True, "threshold": values["breaker_threshold"],
                                "timeout_ms": values["breaker_timeout_ms"]}}
    if fallback:
        step["fallback"] = {"action": values["fallback_action"], "cache_ttl": values["cache_ttl_s"]}
    return step


def run_once(client, workflow_id: str) -> dict:
    exec_id = json_of(client.execute(workflow_id), 202)["execution_id"]
    return waits.execution(client, exec_id)


def message_pattern(spec) -> re.Pattern:
    template = re.escape(spec["WF-07"]["message"])
    return re.compile(template.replace(re.escape("{url}"), r"\S+").replace(
        re.escape("{status}"), str(spec["WF-07"]["failure_status"])))


def test_partner_502_fails_step_with_documented_wording(workspace, spec, partner):
    """External API Failures: `ExternalAPIError: API request to <url> failed with status 502`."""
    client = workspace.as_role("admin")
    wf = json_of(client.create_workflow({"name": "partner", "steps": [external_step(spec, fallback=False)]}), 201)
    partner.set_mode(spec["WF-07"]["failure_status"])
    body = run_once(client, wf["id"])
    assert body["status"] == "FAILED", body
    assert message_pattern(spec).search(body["error"] or ""), f"error {body['error']!r} is not the documented wording"


def test_breaker_opens_after_threshold_and_fallback_serves_cached_data(workspace, spec, partner):
    """External API Failures: --circuit-breaker-threshold 5; --fallback-action use_cached_data."""
    values = spec["WF-07"]
    client = workspace.as_role("admin")
    wf = json_of(client.create_workflow({"name": "partner", "steps": [external_step(spec, fallback=True)]}), 201)
    partner.set_mode(200)
    assert run_once(client, wf["id"])["status"] == "SUCCESS"      # fills the cache
    partner.set_mode(values["failure_status"])
    partner.reset_calls()
    for i in range(values["breaker_threshold"]):
        body = run_once(client, wf["id"])
        output = body["steps"][0].get("output") or {}
        assert body["status"] == "SUCCESS" and output.get("fallback") == values["fallback_action"], (
            f"failure {i + 1}: the cached data was not served: {body}")
    assert partner.calls() == values["breaker_threshold"], "each failure before opening reaches the partner"
    breakers = json_of(client.circuit_breakers(wf["id"]))
    assert [b["state"] for b in breakers] == ["open"], f"after {values['breaker_threshold']} failures: {breakers}"
    body = run_once(client, wf["id"])
    assert body["steps"][0]["output"].get("fallback") == values["fallback_action"], body
    assert partner.calls() == values["breaker_threshold"], "a call reached the partner while the breaker was open"


@pytest.mark.requires("clock_control")
def test_breaker_half_opens_after_timeout(workspace, spec, partner, clock):
    """External API Failures: --circuit-breaker-timeout 30000: one trial call after 30 s, not before."""
    values = spec["WF-07"]
    client = workspace.as_role("admin")
    wf = json_of(client.create_workflow({"name": "partner", "steps": [external_step(spec, fallback=False)]}), 201)
    partner.set_mode(values["failure_status"])
    for _ in range(values["breaker_threshold"]):
        run_once(client, wf["id"])
    partner.reset_calls()
    before, after = spec.suite["limit_probe_before_s"], spec.suite["limit_probe_after_s"]
    clock.advance(values["breaker_timeout_ms"] / 1000 - before)
    run_once(client, wf["id"])
    assert partner.calls() == 0, "the breaker let a call through before its timeout"
    partner.set_mode(200)
    clock.advance(before + after)
    body = run_once(client, wf["id"])
    assert partner.calls() == 1, "after the timeout the breaker must let exactly one trial call through"
    assert body["status"] == "SUCCESS", body
    assert [b["state"] for b in json_of(client.circuit_breakers(wf["id"]))] == ["closed"]
