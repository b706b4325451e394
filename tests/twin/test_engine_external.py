"""WF-07: external_api against the partner stub over loopback HTTP; breaker, fallback, stub API."""
from __future__ import annotations

import asyncio

import httpx
import pytest

from cloudflow_twin import logs
from cloudflow_twin.engine import testing as t
from cloudflow_twin.partner import create_app

NO_RETRY = {"retry_enabled": False}


@pytest.fixture(scope="module")
def pg():
    server = t.PostgresServer().start()
    yield server
    server.stop()


@pytest.fixture
def db_url(pg):
    with pg.database() as url:
        yield url


@pytest.fixture
def partner():
    with t.ThreadedUvicorn(create_app(logs.get_logger("partner"))) as server:
        yield server


def mode(partner, status=200, delay_ms=0):
    httpx.put(f"{partner.url}/_partner/mode", json={"status": status, "delay_ms": delay_ms}).raise_for_status()


def calls(partner) -> int:
    return httpx.get(f"{partner.url}/_partner/calls").json()["count"]


def api_step(**extra):
    return {"name": "external_api_call", "type": "external_api", "path": "/v1/data", **extra}


def run_sequence(db_url, tmp_path, partner, step, actions, *, faults=(), settings=None):
    """One engine; `actions` is a list of callables (clock) -> None run before each execution."""
    wf = t.insert_workflow(db_url, [step], retry_policy={"initial_delay_ms": 50})
    clock = t.TwinClock()
    rt = t.make_runtime(db_url, tmp_path, partner_url=partner.url, clock=clock, faults=t.FaultSet(faults))
    if settings:
        rt.settings = rt.settings.replace(**settings)
    results = []

    async def scenario():
        async with t.running_engine(rt):
            for action in actions:
                action(clock)
                before = await asyncio.to_thread(calls, partner)
                ex = t.insert_execution(db_url, wf)
                row = await t.wait_status(db_url, ex, t.TERMINAL_STATUSES, timeout=15)
                row["calls"] = await asyncio.to_thread(calls, partner) - before
                results.append(row)
    asyncio.run(scenario())
    breaker = t.sql(db_url, "SELECT * FROM circuit_breakers WHERE workflow_id = %s", (wf,))
    return results, breaker[0] if breaker else None


def test_partner_stub_control_api(partner):
    body = httpx.get(f"{partner.url}/v1/data").json()
    assert body["data"] and "served_at" in body
    mode(partner, 503, 100)
    assert httpx.get(f"{partner.url}/_partner/mode").json() == {"status": 503, "delay_ms": 100}
    resp = httpx.get(f"{partner.url}/v1/data")
    assert resp.status_code == 503
    assert calls(partner) == 2
    assert httpx.post(f"{partner.url}/_partner/calls/reset").json() == {"count": 0}
    assert calls(partner) == 0
    assert httpx.put(f"{partner.url}/_partner/mode", json={"status": 418}).status_code == 422


def test_success_and_502_wording_with_retries(db_url, tmp_path, partner):
    rows, _ = run_sequence(db_url, tmp_path, partner, api_step(),
                           [lambda c: mode(partner, 200), lambda c: mode(partner, 502)])
    ok, bad = rows
    assert ok["status"] == "SUCCESS" and ok["steps"][0]["output"]["data"]["data"]
    assert bad["status"] == "FAILED_AFTER_RETRIES" and bad["calls"] == 4
    assert bad["error"] == f"ExternalAPIError: API request to {partner.url}/v1/data failed with status 502"


def test_timeout_wording(db_url, tmp_path, partner):
    rows, _ = run_sequence(db_url, tmp_path, partner, api_step(**NO_RETRY),
                           [lambda c: mode(partner, 200, delay_ms=1500)],
                           settings={"partner_timeout_s": 0.5})
    assert rows[0]["error"] == f"ExternalAPIError: API request to {partner.url}/v1/data timed out"


BREAKER = {"circuit_breaker": {"enabled": True, "threshold": 3, "timeout_ms": 30000}, **NO_RETRY}


def test_breaker_opens_rejects_and_half_opens_after_timeout(db_url, tmp_path, partner):
    failing = lambda c: mode(partner, 502)  # noqa: E731
    actions = [failing, failing, failing,                       # 3 failures: open
               lambda c: None,                                  # open: no call
               lambda c: c.advance(25),                         # still open (margin for real time)
               lambda c: c.advance(5.5),                        # half-open: one trial, fails
               lambda c: None,                                  # open again
               lambda c: (c.advance(31), mode(partner, 200)),   # trial succeeds: closed
               lambda c: None]
    rows, breaker = run_sequence(db_url, tmp_path, partner, api_step(**BREAKER), actions)
    assert [r["calls"] for r in rows] == [1, 1, 1, 0, 0, 1, 0, 1, 1]
    assert [r["status"] for r in rows] == ["FAILED"] * 7 + ["SUCCESS"] * 2
    assert "circuit breaker open" in rows[3]["error"]
    assert rows[7]["steps"][0]["output"]["trial"] is True
    assert (breaker["state"], breaker["failures"]) == ("closed", 0)


def test_breaker_disabled_fault(db_url, tmp_path, partner):
    failing = lambda c: mode(partner, 502)  # noqa: E731
    rows, breaker = run_sequence(db_url, tmp_path, partner, api_step(**BREAKER), [failing] * 5,
                                 faults=["breaker_disabled"])
    assert [r["calls"] for r in rows] == [1] * 5 and breaker["state"] == "closed"


FALLBACK = {"fallback": {"action": "use_cached_data", "cache_ttl": 3600}, **BREAKER}


def test_fallback_uses_cached_data_while_failing_and_open(db_url, tmp_path, partner):
    actions = [lambda c: mode(partner, 200)] + [lambda c: mode(partner, 502)] * 4 \
        + [lambda c: c.advance(3700)]  # cache older than its ttl: no fallback any more
    rows, breaker = run_sequence(db_url, tmp_path, partner, api_step(**FALLBACK), actions)
    assert [r["status"] for r in rows] == ["SUCCESS"] * 5 + ["FAILED"]
    assert [r["calls"] for r in rows] == [1, 1, 1, 1, 0, 1]  # opened after 3 failures; half-open later
    cached = rows[0]["steps"][0]["output"]["data"]
    for row in rows[1:5]:
        out = row["steps"][0]["output"]
        assert out["fallback"] == "use_cached_data" and out["data"] == cached
    assert rows[4]["steps"][0]["output"]["circuit_breaker"] == "open"


def test_no_fallback_fault(db_url, tmp_path, partner):
    rows, _ = run_sequence(db_url, tmp_path, partner, api_step(**FALLBACK),
                           [lambda c: mode(partner, 200), lambda c: mode(partner, 502)],
                           faults=["no_fallback"])
    assert [r["status"] for r in rows] == ["SUCCESS", "FAILED"]
