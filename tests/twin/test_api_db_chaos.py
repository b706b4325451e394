"""DB-02/03/05, PERF-01 through a real Toxiproxy in front of PostgreSQL."""
from __future__ import annotations

import re
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from test_api_harness import Toxiproxy, TwinApi, pg_server, wait_until  # noqa: F401 (fixtures)


@pytest.fixture(scope="module")
def toxiproxy():
    tp = Toxiproxy().start()
    yield tp
    tp.stop()


@pytest.fixture(scope="module")
def proxied(pg_server, toxiproxy):
    url = pg_server.create_database("api_chaos")
    listen = toxiproxy.proxy("postgres", pg_server.port)
    twin = TwinApi(url.replace(f":{pg_server.port}/", f":{listen}/")).start()
    yield twin, toxiproxy
    twin.stop()


def _burst(base: str, headers: dict, n: int, path: str = "/api/v1/workflows") -> list[tuple[int, float, dict]]:
    """n concurrent GETs over one shared client (per-thread clients would cost seconds of TLS set-up)."""
    with httpx.Client(base_url=base, timeout=60, limits=httpx.Limits(max_connections=n + 10)) as client:
        def one(_):
            start = time.monotonic()
            r = client.get(path, headers=headers)
            return r.status_code, time.monotonic() - start, r.json()
        with ThreadPoolExecutor(n) as ex:
            return list(ex.map(one, range(n)))


def test_pool_exhaustion_is_503_within_5000ms_and_recovers(proxied):
    twin, tp = proxied
    admin = twin.token("platform@cloudflow.local")  # enterprise: limits far above this burst
    tp.add_latency("postgres", "slow", 7000)
    try:
        results = _burst(twin.base, admin, 60)
    finally:
        tp.remove_toxic("postgres", "slow")
    rejected = [(s, t, b) for s, t, b in results if s == 503]
    assert len(rejected) >= 20, [s for s, _, _ in results]
    for status, took, body in rejected:
        assert body["error"] == "service_unavailable"
        assert body["message"] == "could not obtain connection from pool within 5000ms"
        # N/100: under a 7 s latency the pool cannot open new connections in time (see README)
        assert re.fullmatch(r"connection pool exhausted \(\d+/100 connections in use\)", body["detail"])
        assert 4.9 <= took <= 6.5
    assert not [s for s, _, _ in results if s not in (200, 503)]
    # DB-05: back to baseline, waits recorded
    pool = wait_until(lambda: (p := twin.http.get("/api/v1/db/pool", headers=admin).json())["active"] == 0 and p,
                      15, "pool back to baseline")
    assert pool["waiting"] == 0 and pool["max_wait_ms"] >= 4900


def test_database_unreachable_is_503_never_500(proxied):
    twin, tp = proxied
    admin = twin.token("platform@cloudflow.local")
    tp.set_enabled("postgres", False)
    try:
        for _ in range(3):
            r = twin.http.get("/api/v1/workflows", headers=admin)
            assert r.status_code == 503, r.text
            assert r.json()["message"] == "database server unreachable"
        health = twin.http.get("/health")
        assert health.status_code == 503
        assert health.json()["dependencies"]["database"] == {**health.json()["dependencies"]["database"],
                                                             "status": "down", "error": "database server unreachable"}
        assert re.search(r"database server unreachable", "\n".join(twin.log_lines()))
    finally:
        tp.set_enabled("postgres", True)
    wait_until(lambda: twin.http.get("/api/v1/workflows", headers=admin).status_code == 200, 30, "recovery")


def test_request_over_30000ms_is_cut_with_504(proxied):
    twin, tp = proxied
    admin = twin.token("platform@cloudflow.local")
    tp.add_latency("postgres", "very_slow", 32000)
    try:
        start = time.monotonic()
        r = twin.http.get("/api/v1/workflows", headers=admin)
        took = time.monotonic() - start
    finally:
        tp.remove_toxic("postgres", "very_slow")
    assert r.status_code == 504 and 29.5 <= took <= 32
    assert r.json()["message"] == "Request exceeded maximum duration of 30000ms"
