"""Rate limiting checks: the 429 answer and the headers on every response.

Guide: Rate Limiting & Throttling > 429 Too Many Requests.
"""
from __future__ import annotations

import time

import pytest

from cloudflow_checks.assertions import assert_status, error_body, json_of

pytestmark = pytest.mark.requires("provisioning")

MIN_WINDOW_LEFT_S = 5  # start a burst with at least this much of the minute window left


def wait_for_fresh_window(client, needed_s: float = MIN_WINDOW_LEFT_S, deadline_s: float = 65):
    """Poll until the current window has `needed_s` left, so a burst does not straddle two windows.
    Returns the last response (it counted as a request). Without a Reset header (RATE-03's
    business) there is nothing to align to: the burst starts at once."""
    end = time.monotonic() + deadline_s
    while True:
        response = client.list_workflows()
        assert_status(response, 200)
        reset = response.headers.get("X-RateLimit-Reset")
        if reset is None or not reset.isdigit():
            return response
        left = int(reset) - time.time()
        if left >= needed_s or time.monotonic() > end:
            return response
        time.sleep(min(0.5, max(0.05, left)))


def used_so_far(response, limit: int) -> int:
    """Requests this window has counted, from Remaining; 1 (this one) when the header is absent."""
    remaining = response.headers.get("X-RateLimit-Remaining")
    return limit - int(remaining) if remaining is not None and remaining.isdigit() else 1


def exhaust(client, limit: int):
    """Spend the window's budget: send until the first 429 (bounded at two windows' worth).
    Returns (accepted responses in the 429's window, the 429, whether that window began during the
    burst). A burst that straddles a window edge is judged on the window where it was refused,
    which it then had from its start; the Reset header tells the windows apart."""
    accepted = []
    for _ in range(2 * limit + 2):
        response = client.list_workflows()
        if response.status_code == 429:
            window = response.headers.get("X-RateLimit-Reset")
            if window and any(a.headers.get("X-RateLimit-Reset") for a in accepted):
                same = [a for a in accepted if a.headers.get("X-RateLimit-Reset") == window]
            else:  # accepted answers without Reset (RATE-03's business): windows cannot be told apart
                same = accepted
            return same, response, len(same) < len(accepted)
        assert_status(response, 200)   # anything else is neither accepted nor rate limited
        accepted.append(response)
    raise AssertionError(f"{len(accepted)} requests in a row were all accepted (limit {limit} per window)")


@pytest.mark.behaviour("RATE-01")
def test_free_tier_429_body_and_headers(workspace_factory, spec, target_clock_now):
    """429 Too Many Requests: body and headers exactly as documented, consistent with each other."""
    limit = spec["RATE-02"]["tiers"]["free"]["per_minute"]
    rate = spec["RATE-01"]
    client = workspace_factory("free").as_role("viewer")
    first = wait_for_fresh_window(client)
    accepted, rejected, fresh = exhaust(client, limit)
    used = 0 if fresh else used_so_far(first, limit)
    assert used + len(accepted) == limit, (
        f"{used + len(accepted)} requests accepted in one window, the free tier allows {limit}")
    assert rejected.status_code == rate["status"]
    body = error_body(rejected)
    retry_after = rejected.headers.get("Retry-After")
    assert retry_after is not None, "429 without a Retry-After header"
    assert retry_after.isdigit(), f"Retry-After must be seconds, got {retry_after!r}"
    assert body.get("error") == rate["error"]
    assert body.get("status") == rate["status"]
    assert body.get("message") == rate["message"].format(seconds=int(retry_after))
    assert rejected.headers.get("X-RateLimit-Limit") == str(limit)
    assert rejected.headers.get("X-RateLimit-Remaining") == "0"
    reset = int(rejected.headers["X-RateLimit-Reset"])
    now = target_clock_now()
    tolerance = rate.tolerance("reset_s")
    assert abs((reset - now) - int(retry_after)) <= tolerance, (
        f"Retry-After {retry_after} s disagrees with X-RateLimit-Reset {reset} (now {now:.0f})")
    assert 1 <= int(retry_after) <= spec["RATE-02"]["minute_window_s"], f"Retry-After {retry_after} s is longer than the minute window"


@pytest.mark.behaviour("RATE-03")
def test_headers_on_every_response_and_remaining_falls_by_one(workspace, spec):
    """Checking Rate Limit Status: X-RateLimit-* on every API response; Remaining falls by one."""
    values = spec["RATE-03"]
    client = workspace.as_role("admin")
    limit = spec["RATE-02"]["tiers"][workspace.tier]["per_minute"] if workspace.tier else None
    responses = [client.list_workflows() for _ in range(values["probe_requests"])]
    # other kinds of answer carry them too: a create, a not-found, a forbidden
    responses.append(client.create_workflow({"name": "rate-headers", "environment": "development",
                                             "steps": [{"name": "s", "type": "noop"}]}))
    responses.append(client.workflow("wf_does_not_exist"))
    responses.append(workspace.as_role("viewer").create_workflow({"name": "x", "steps": []}))
    for response in responses:
        missing = [h for h in values["headers"] if h not in response.headers]
        assert not missing, f"{response.request.method} {response.request.url.path} -> {response.status_code} lacks {missing}"
        if limit is not None:
            assert response.headers["X-RateLimit-Limit"] == str(limit)
    probes = responses[:values["probe_requests"]]
    remaining = [int(r.headers["X-RateLimit-Remaining"]) for r in probes]
    resets = [r.headers["X-RateLimit-Reset"] for r in probes]
    # a pair that straddles a window boundary (Reset moved on) starts a new count: exempt
    steps = [a - b for a, b, ra, rb in zip(remaining, remaining[1:], resets, resets[1:]) if ra == rb]
    assert steps and all(step == 1 for step in steps), (
        f"Remaining went {remaining} (resets {resets}): it must fall by one per request")


@pytest.mark.behaviour("RATE-02")
@pytest.mark.parametrize("tier", ["free", pytest.param("standard", marks=pytest.mark.slow)])
def test_per_minute_limit_is_exact_for_tier(workspace_factory, spec, tier):
    """Rate Limit Tiers: a workspace gets exactly its tier's requests per minute, not one more."""
    limit = spec["RATE-02"]["tiers"][tier]["per_minute"]
    client = workspace_factory(tier).as_role("viewer")
    first = wait_for_fresh_window(client, needed_s=max(MIN_WINDOW_LEFT_S, limit / 100))
    accepted, rejected, fresh = exhaust(client, limit)
    used = 0 if fresh else used_so_far(first, limit)
    assert used + len(accepted) == limit, f"{tier}: {used + len(accepted)} accepted in one minute, limit {limit}"
    assert rejected.status_code == 429


@pytest.mark.behaviour("RATE-02")
@pytest.mark.requires("clock_control")
def test_spent_minute_budget_stays_spent_for_the_whole_minute(workspace_factory, spec, clock):
    """Rate Limit Tiers: the limit is per minute. A budget spent at the start of a window is not
    given back half a minute later (a window that resets early lets twice the limit through)."""
    values = spec["RATE-02"]
    limit = values["tiers"]["free"]["per_minute"]
    half_window_s = values["minute_window_s"] / 2
    workspace = workspace_factory("free")
    client = workspace.as_role("viewer")
    reset = client.list_workflows().headers.get("X-RateLimit-Reset")
    assert reset is not None and reset.isdigit(), f"no usable X-RateLimit-Reset to find the window by: {reset!r}"
    clock.advance(int(reset) - clock.now() + 1)  # one second into the next window
    started = clock.now()
    accepted, rejected, _ = exhaust(client, limit)
    assert len(accepted) == limit, f"{len(accepted)} accepted in a fresh window, the free tier allows {limit}"
    clock.advance(started + half_window_s - clock.now())
    again = client.list_workflows()
    assert again.status_code == 429, (
        f"{half_window_s:.0f} s after the window began, with its {limit} requests spent, a request got "
        f"{again.status_code} (X-RateLimit-Reset {again.headers.get('X-RateLimit-Reset')}): the window is shorter "
        f"than a minute")


@pytest.mark.behaviour("RATE-02")
def test_premium_limit_is_advertised(workspace_factory, spec):
    """Rate Limit Tiers: Premium 5,000/min (exhausted under load by load/, checked here by header)."""
    limit = spec["RATE-02"]["tiers"]["premium"]["per_minute"]
    response = workspace_factory("premium").as_role("viewer").list_workflows()
    assert response.headers.get("X-RateLimit-Limit") == str(limit)


PROBE_TIMEOUT_S = 60  # outlives a slow machine's 200 submissions; the probes then end by themselves


@pytest.mark.behaviour("RATE-02")
@pytest.mark.parametrize("tier", ["free", "standard", "premium"])
def test_concurrent_workflow_cap_is_exact(workspace_factory, spec, tier):
    """Rate Limit Tiers: Concurrent Workflows 5 / 50 / 200; one more is refused with 429."""
    cap = spec["RATE-02"]["tiers"][tier]["concurrent_workflows"]
    client = workspace_factory(tier).as_role("admin")
    wf = json_of(client.create_workflow({"name": "long", "environment": "development", "timeout": PROBE_TIMEOUT_S,
                                         "steps": [{"name": "wait", "type": "sleep", "seconds": 5000}]}), 201)
    started = 0
    for _ in range(cap):
        response = client.execute(wf["id"])
        assert response.status_code == 202, f"execution {started + 1} of {cap} refused: {response.status_code} {response.text[:200]}"
        started += 1
    over = client.execute(wf["id"])
    assert over.status_code == 429, f"execution {cap + 1} accepted: the {tier} cap is {cap}"
    assert error_body(over).get("error") == "concurrent_workflow_limit_exceeded"


@pytest.mark.behaviour("RATE-02")
@pytest.mark.requires("clock_control")
@pytest.mark.slow
def test_free_tier_hourly_limit(workspace_factory, spec, clock):
    """Rate Limit Tiers: Free 1,000 requests per hour, even while the minute still has budget."""
    tier = spec["RATE-02"]["tiers"]["free"]
    workspace = workspace_factory("free")
    clock.advance(3600 - clock.now() % 3600 + 1)  # the start of a fresh hour window
    # logged in after the jump (up to an hour): an older token could expire within the hour
    client = workspace.as_role("viewer")
    total = 0
    for _minute in range(tier["per_hour"] // tier["per_minute"] + 2):
        accepted, rejected, _ = exhaust(client, tier["per_minute"])
        total += len(accepted)
        if len(accepted) < tier["per_minute"]:
            break  # refused with minute budget left: the hourly limit
        clock.advance(60 - clock.now() % 60 + 1)  # the start of the next minute, whatever time passed
    assert total == tier["per_hour"], f"{total} requests accepted in one hour, the free tier allows {tier['per_hour']}"
    assert rejected.status_code == 429
    assert error_body(rejected).get("error") == spec["RATE-01"]["error"]


@pytest.mark.behaviour("RATE-04")
def test_batch_of_five_counts_as_one_request(workspace, spec):
    """Request batching: execute-batch of 5 workflows "counts as 1 API request instead of 5"."""
    values = spec["RATE-04"]
    client = workspace.as_role("admin")
    ids = [json_of(client.create_workflow({"name": f"b{i}", "environment": "development",
                                            "steps": [{"name": "s", "type": "noop"}]}), 201)["id"]
           for i in range(values["batch_size"])]
    before = wait_for_fresh_window(client)
    batch = client.execute_batch(ids, values["batch_size"])
    assert batch.status_code == 202, batch.text
    assert len(batch.json()["executions"]) == values["batch_size"]
    after = json_of(client.rate_limit_status())  # counts itself as one more request
    used = after["used_minute"] - used_so_far(before, after["per_minute"]) - 1
    assert used == values["counted_requests"], f"a batch of {values['batch_size']} used {used} requests"
