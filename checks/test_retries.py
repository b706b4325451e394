"""Retry checks: exponential backoff timing (from the retry history and by our own clock), the
final status, custom policies.

Guide: Workflow Execution Failures > Retry Logic and Exponential Backoff.
"""
from __future__ import annotations

import time

import pytest

from cloudflow_checks import waits
from cloudflow_checks.assertions import json_of

pytestmark = pytest.mark.requires("provisioning")

ALWAYS = 1000  # fail_times larger than any attempt count: the step never succeeds


def flaky_workflow(fail_times: int, error: str = "NETWORK_ERROR", retry_policy=None, **step_extra) -> dict:
    step = {"name": "call_partner", "type": "flaky", "fail_times": fail_times, "error": error, **step_extra}
    body = {"name": "retrying", "environment": "development", "steps": [step]}
    if retry_policy:
        body["retry_policy"] = retry_policy
    return body


def run(client, definition: dict, timeout_s: float):
    wf = json_of(client.create_workflow(definition), 201)
    t0 = time.time()
    exec_id = json_of(client.execute(wf["id"]), 202)["execution_id"]
    body = waits.execution(client, exec_id, timeout_s=timeout_s)
    elapsed = time.time() - t0
    history = json_of(client.execution_retries(exec_id))
    return wf, body, history, elapsed


def offsets(history: dict) -> list[float]:
    attempts = sorted(history["attempts"], key=lambda a: a["attempt"])
    return [round((a["started_at"] - attempts[0]["started_at"]) * 1000) for a in attempts]


def assert_delays(history: dict, expected_ms: list[int], tolerance_ms: int) -> None:
    attempts = sorted(history["attempts"], key=lambda a: a["attempt"])
    assert [a["attempt"] for a in attempts] == list(range(1, len(expected_ms) + 1)), (
        f"expected {len(expected_ms)} attempts, history has {[a['attempt'] for a in attempts]}")
    recorded = [a["delay_ms"] for a in attempts]
    assert recorded == expected_ms, f"recorded delays {recorded} ms, documented {expected_ms} ms"
    cumulative = [sum(expected_ms[: i + 1]) for i in range(len(expected_ms))]
    measured = offsets(history)
    off = [(m, c) for m, c in zip(measured, cumulative) if abs(m - c) > tolerance_ms]
    assert not off, f"attempts started at +{measured} ms, expected +{cumulative} ms (+-{tolerance_ms})"


@pytest.mark.behaviour("WF-04")
def test_default_policy_backs_off_1_2_4_then_fails_after_retries(workspace, spec):
    """Retry Sequence: attempt 1 immediate, then waits of 1 s, 2 s, 4 s; Final Status FAILED_AFTER_RETRIES."""
    values = spec["WF-04"]
    tolerance = values.tolerance("delay_ms")
    client = workspace.as_role("admin")
    wf, body, history, elapsed = run(client, flaky_workflow(ALWAYS), timeout_s=30)
    policy = wf["retry_policy"]
    assert policy["max_attempts"] == values["max_retries"]
    assert policy["initial_delay_ms"] == values["initial_delay_ms"]
    assert policy["backoff_multiplier"] == values["backoff_multiplier"]
    assert policy["max_delay_ms"] == values["max_delay_ms"]
    assert body["status"] == values["final_status"], body
    assert history["final_status"] == values["final_status"]
    assert_delays(history, values["delays_ms"], tolerance)
    # and by the check's own clock: the whole sequence cannot be faster than its waits
    total_s = sum(values["delays_ms"]) / 1000
    assert elapsed >= total_s - tolerance / 1000, f"all attempts done in {elapsed:.2f} s < {total_s} s of waits"
    assert any(a["error"] and "NetworkError" in a["error"] for a in history["attempts"])


@pytest.mark.behaviour("WF-04")
def test_transient_failure_succeeds_on_retry(workspace, spec):
    """Retry Logic: a step that fails twice succeeds on the third attempt, after 1 s and 2 s."""
    values = spec["WF-04"]
    client = workspace.as_role("admin")
    _, body, history, _ = run(client, flaky_workflow(2), timeout_s=20)
    assert body["status"] == "SUCCESS", body
    assert_delays(history, values["delays_ms"][:3], values.tolerance("delay_ms"))


@pytest.mark.behaviour("WF-05")
def test_custom_policy_delays_and_cap(workspace, spec):
    """Configuration: --retry-max-attempts, --retry-initial-delay, --retry-backoff-multiplier, --retry-max-delay."""
    values = spec["WF-05"]
    client = workspace.as_role("admin")
    wf, body, history, _ = run(client, flaky_workflow(ALWAYS, retry_policy=values["custom_policy"]), timeout_s=30)
    assert wf["retry_policy"]["max_attempts"] == values["custom_policy"]["max_attempts"]
    assert body["status"] == spec["WF-04"]["final_status"], body
    assert_delays(history, values["expected_delays_ms"], values.tolerance("delay_ms"))


@pytest.mark.behaviour("WF-05")
def test_error_not_in_retry_list_is_not_retried(workspace, spec):
    """Configuration: --retry-on-errors "NETWORK_ERROR,TIMEOUT,RATE_LIMIT": others fail at once."""
    values = spec["WF-05"]
    client = workspace.as_role("admin")
    _, body, history, _ = run(client, flaky_workflow(ALWAYS, error=values["unlisted_error"],
                                                     retry_policy=values["custom_policy"]), timeout_s=20)
    assert body["status"] == "FAILED", body
    assert len(history["attempts"]) == 1, f"an unlisted error was retried: {history['attempts']}"


@pytest.mark.behaviour("WF-05")
def test_retry_disabled_for_a_step(workspace, spec):
    """Configuration: --step data_export --retry-enabled false."""
    client = workspace.as_role("admin")
    _, body, history, _ = run(client, flaky_workflow(ALWAYS, retry_enabled=False), timeout_s=20)
    assert body["status"] == "FAILED", body
    assert len(history["attempts"]) == 1, f"a step with retry disabled was retried: {history['attempts']}"
