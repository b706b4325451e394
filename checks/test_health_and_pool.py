"""Health and connection-pool status checks.

Guide: Overview > Quick Diagnostic Checklist; Database Connection Issues > Connection Pool Exhaustion.
"""
from __future__ import annotations

from contextlib import contextmanager

import pytest

from cloudflow_checks import waits
from cloudflow_checks.assertions import json_of

RECOVERED_STREAK = 20  # more than the pool's idle connections that the partition may have broken


@pytest.mark.behaviour("HEALTH-01")
def test_health_is_200_and_names_each_dependency(api, spec):
    """Quick Diagnostic Checklist: `curl -I /health` answers 200 and says how each dependency is."""
    values = spec["HEALTH-01"]
    body = json_of(api.health(), values["status_healthy"])
    dependencies = body.get("dependencies") or {}
    for name in values["dependencies"]:
        assert name in dependencies, f"/health does not name dependency {name!r}: {body}"
    for name, state in dependencies.items():
        assert state.get("status") == "up", f"/health answered 200 but {name} is {state}"


@contextmanager
def database_cut_off(toxiproxy, proxy: str, client):
    """The database partitioned for the block; afterwards, always, wait until the API serves
    database-backed requests again, so a failing check does not leave others a broken pool."""
    failed = False
    try:
        with toxiproxy.down(proxy):
            yield
    except BaseException:
        failed = True
        raise
    finally:
        try:
            waits.poll(lambda: [client.list_workflows().status_code for _ in range(RECOVERED_STREAK)],
                       lambda codes: codes == [200] * RECOVERED_STREAK, timeout_s=30, interval_s=0.25,
                       what=f"{RECOVERED_STREAK} database-backed requests in a row answered 200")
        except AssertionError:
            if not failed:
                raise


@pytest.mark.behaviour("HEALTH-01")
@pytest.mark.requires("toxiproxy")
@pytest.mark.destructive
def test_health_names_database_when_it_is_unreachable(api, spec, cf_target, workspace, exclusive_target, toxiproxy):
    """Quick Diagnostic Checklist: with the database cut off, /health answers 503 naming it, and
    200 again once it is back, without a restart."""
    values = spec["HEALTH-01"]
    with database_cut_off(toxiproxy, cf_target.proxies["postgres"], workspace.as_role("viewer")):
        response = api.health()
        assert response.status_code == values["status_unhealthy"], response.text
        database = (response.json().get("dependencies") or {}).get("database", {})
        assert database.get("status") == "down", f"/health does not say the database is down: {response.text}"
    waits.poll(api.health, lambda r: r.status_code == values["status_healthy"], timeout_s=30,
               interval_s=0.25, what="/health back to 200 after the database came back")


@pytest.mark.behaviour("DB-04")
def test_pool_status_reports_documented_fields(workspace, spec):
    """Investigation: `cloudflow db pool status --detailed` fields, consistent with each other."""
    body = json_of(workspace.as_role("admin").pool_status())
    for field in spec["DB-04"]["fields"]:
        assert isinstance(body.get(field), (int, float)), f"pool status lacks numeric {field}: {body}"
    assert body["active"] + body["idle"] == body["total"], f"active + idle != total: {body}"
    assert body["total"] <= spec["DB-01"]["max_connections"]
    assert body["waiting"] >= 0 and body["max_wait_ms"] >= body["avg_wait_ms"] >= 0


@pytest.mark.behaviour("DB-01")
def test_pool_settings_are_documented_values(workspace, spec):
    """Connection Pool Leaks: max 100, min 10, idle_timeout 300 s, max_lifetime 1800 s."""
    values = spec["DB-01"]
    body = json_of(workspace.as_role("admin").pool_status())
    assert body.get("max") == values["max_connections"]
    assert body.get("min") == values["min_connections"]
    assert body.get("idle_timeout_s") == values["idle_timeout_s"]
    assert body.get("max_lifetime_s") == values["max_lifetime_s"]
    assert body["total"] >= values["min_connections"]
