"""HEALTH-01, DB-04/05, PERF-03/04, MEM-02, WF-03, LOG-01/02 and the control API."""
from __future__ import annotations

import json
import time

from test_api_harness import ADMIN_TOKEN, _clean_twin, api, pg_server  # noqa: F401 (fixtures)


def test_health_reports_each_dependency(api):
    r = api.http.get("/health")
    deps = r.json()["dependencies"]
    assert deps["database"]["status"] == "up" and deps["database"]["latency_ms"] >= 0
    assert deps["workflow_engine"]["status"] == "down"          # no heartbeat file yet
    assert r.status_code == 503 and r.json()["status"] == "unhealthy" and r.json()["version"] == "3.2.1"
    (api.state_dir / "engine.heartbeat").write_text(str(time.time()))
    assert api.http.get("/health").json()["dependencies"]["workflow_engine"]["status"] == "up"


def test_pool_status_and_leak_fault_returns_to_baseline(api):
    admin = api.token("admin@free.local")
    pool = api.http.get("/api/v1/db/pool", headers=admin).json()
    assert (pool["max"], pool["min"], pool["idle_timeout_s"], pool["max_lifetime_s"], pool["acquire_timeout_ms"]) == (
        100, 10, 300, 1800, 5000)
    assert {"total", "active", "idle", "waiting", "avg_wait_ms", "max_wait_ms"} <= set(pool)
    assert api.http.get("/api/v1/db/pool", headers=api.token("viewer@free.local")).status_code == 403
    api.set_faults("connection_leak")
    for _ in range(3):
        api.http.get("/api/v1/workflows", headers=admin)
    assert api.http.get("/api/v1/db/pool", headers=admin).json()["active"] >= 3
    api.set_faults()
    assert api.http.get("/api/v1/db/pool", headers=admin).json()["active"] == 0
    api.set_faults("pool_max_50", "pool_status_no_wait_stats")
    pool = api.http.get("/api/v1/db/pool", headers=admin).json()
    assert pool["max"] == 50 and "avg_wait_ms" not in pool


def test_metrics_latency_and_config(api):
    admin = api.token("admin@free.local")
    for _ in range(5):
        api.http.get("/api/v1/workflows", headers=admin)
    text = api.http.get("/metrics").text
    assert 'api_request_duration_ms_bucket{endpoint="/api/v1/workflows"' in text
    assert 'api_request_phase_duration_ms_count{phase="db_query"}' in text
    report = api.http.get("/api/v1/metrics/latency?endpoint=/api/v1/workflows", headers=admin).json()
    assert report["count"] >= 5 and set(report["breakdown"]) == {"auth", "db_query", "business_logic", "serialization"}
    assert report["p50"] <= report["p95"] <= report["p99"]
    cfg = api.http.get("/api/v1/config", headers=admin).json()
    assert cfg["db.pool.max_connections"] == 100 and cfg["events.buffer.max_size"] == 10000
    assert cfg["workflow.context.max_size_mb"] == 100 and cfg["cache.workspace.ttl"] == 3600
    api.set_faults("no_metrics")
    assert api.http.get("/metrics").status_code == 404


def test_event_buffer_drops_oldest(api):
    admin = api.token("admin@free.local")
    api.http.post("/api/v1/events", headers=admin, json={"count": 12000})
    buf = api.http.get("/api/v1/events/buffer", headers=admin).json()
    assert buf["size"] == 10000 and buf["overflow_strategy"] == "drop_oldest"
    assert buf["newest_seq"] - buf["oldest_seq"] == 9999 and buf["dropped"] >= 2000


def test_workspace_cache_hits_and_expires_in_twin_time(api):
    admin = api.token("admin@free.local")
    first = api.http.get("/api/v1/workspaces/ws_free", headers=admin)
    assert first.json()["limits"] == {"per_minute": 60, "per_hour": 1000, "concurrent_workflows": 5}
    assert api.http.get("/api/v1/workspaces/ws_free", headers=admin).headers["X-Cache"] == "HIT"
    api.advance(3601)
    assert api.http.get("/api/v1/workspaces/ws_free", headers=admin).headers["X-Cache"] == "MISS"
    api.set_faults("cache_disabled")
    assert api.http.get("/api/v1/workspaces/ws_free", headers=admin).headers["X-Cache"] == "MISS"


def test_workflow_timeout_update_needs_reason(api):
    admin = api.token("admin@free.local")
    wf = api.http.post("/api/v1/workflows", headers=admin, json={"name": "t", "steps": [{"type": "noop"}]}).json()
    assert wf["timeout"] == 3600
    assert api.http.patch(f"/api/v1/workflows/{wf['id']}", headers=admin, json={"timeout": 7200}).status_code == 422
    r = api.http.patch(f"/api/v1/workflows/{wf['id']}", headers=admin, json={"timeout": 7200, "reason": "big data"})
    got = api.http.get(f"/api/v1/workflows/{wf['id']}", headers=admin).json()
    assert r.status_code == 200 and (got["timeout"], got["timeout_reason"]) == (7200, "big data")


def test_errors_are_logged_as_json_with_the_correlation_id(api):
    r = api.http.get("/api/v1/workflows/wf_missing", headers={**api.token("admin@free.local"),
                                                              "X-Correlation-ID": "corr_abcde12345"})
    assert r.status_code == 404 and r.headers["X-Correlation-ID"] == "corr_abcde12345"
    line = json.loads(api.wait_log('"corr_abcde12345"'))
    assert line["level"] == "WARN" and line["error_type"] == "not_found" and line["timestamp"].endswith("Z")
    assert line["context"]["workspace_id"] == "ws_free"


def test_control_api_needs_token_and_is_not_published(api):
    assert api.http.get("/_twin/clock").status_code == 401
    assert not [p for p in api.http.get("/openapi.json").json()["paths"] if p.startswith("/_twin")]
    listed = api.http.get("/_twin/faults", headers={"X-Twin-Admin-Token": ADMIN_TOKEN}).json()
    assert {"connection_leak", "health_hides_db", "batch_counts_each"} <= {f["name"] for f in listed}
    assert api.http.put("/_twin/faults", headers={"X-Twin-Admin-Token": ADMIN_TOKEN},
                        json={"enabled": ["no_such_fault"]}).status_code == 422
