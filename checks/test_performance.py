"""Performance and resource-bound checks: latency SLO, metrics, cache, event buffer, pool leaks.

Guide: Performance Problems; Database Connection Issues.
"""
from __future__ import annotations

import statistics
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from cloudflow_checks import accounts, waits
from cloudflow_checks.assertions import assert_status, json_of

pytestmark = pytest.mark.requires("provisioning")


def burst(call, count: int, concurrency: int) -> list[tuple[int, float]]:
    """(status, seconds) of `count` calls made `concurrency` at a time."""
    def one(_):
        t0 = time.perf_counter()
        status = call().status_code
        return status, time.perf_counter() - t0
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        return list(pool.map(one, range(count)))


def p95(seconds: list[float]) -> float:
    return statistics.quantiles(seconds, n=20, method="inclusive")[-1]


@pytest.mark.behaviour("PERF-02")
def test_p95_under_slo_over_a_short_burst(workspace, spec):
    """Slow Query Performance: API response times over 5000 ms are a symptom; p95 stays under it."""
    values = spec["PERF-02"]
    client = workspace.as_role("viewer")
    results = burst(client.list_workflows, values["burst_requests"], values["burst_concurrency"])
    errors = [s for s, _ in results if s >= 500]
    assert not errors, f"{len(errors)} 5xx answers in a burst of {len(results)}"
    measured = p95([t for _, t in results]) * 1000
    assert measured < values["p95_slo_ms"], f"p95 {measured:.0f} ms >= SLO {values['p95_slo_ms']} ms"


@pytest.mark.behaviour("PERF-03")
def test_request_duration_metrics_and_breakdown(workspace, api, spec):
    """High API Latency: api_request_duration_ms exposed; the latency report has the breakdown."""
    values = spec["PERF-03"]
    client = workspace.as_role("admin")
    client.list_workflows()
    text = api.metrics().text
    assert f"{values['metric']}_bucket" in text and f"{values['metric']}_count" in text, (
        f"/metrics does not expose the {values['metric']} histogram")
    report = json_of(client.latency_report("/api/v1/workflows"))
    for key in ("p50", "p95", "p99"):
        assert isinstance(report.get(key), (int, float)), f"latency report lacks {key}: {report}"
    assert report["p50"] <= report["p95"] <= report["p99"]
    assert sorted(report.get("breakdown", {})) == sorted(values["breakdown"]), report


@pytest.mark.behaviour("PERF-04")
def test_workspace_metadata_served_from_cache(workspace, spec):
    """Use query result caching: workspace metadata cached (ttl 3600 s)."""
    values = spec["PERF-04"]
    client = workspace.as_role("admin")
    first = client.workspace(workspace.id)
    second = client.workspace(workspace.id)
    assert first.status_code == second.status_code == 200
    assert second.headers.get("X-Cache") == "HIT", f"second read X-Cache {second.headers.get('X-Cache')!r}"
    assert second.json() == first.json()
    config = json_of(client.config())
    assert config.get("cache.workspace.ttl") == values["cache_ttl_s"], config.get("cache.workspace.ttl")


@pytest.mark.behaviour("PERF-04")
@pytest.mark.requires("clock_control")
def test_workspace_cache_expires_after_ttl(workspace, spec, clock):
    """Use query result caching: after the ttl the metadata is read afresh."""
    ttl = spec["PERF-04"]["cache_ttl_s"]

    def metadata():
        # logged in afresh each time: the ttl is as long as a token's life
        client = workspace.api.with_token(accounts.login(workspace.api, workspace.users["admin"])["access_token"])
        response = client.workspace(workspace.id)
        assert_status(response, 200)
        return response

    before, after = spec.suite["limit_probe_before_s"], spec.suite["limit_probe_after_s"]
    metadata()
    clock.advance(ttl - before)
    assert metadata().headers.get("X-Cache") == "HIT", "expired before its ttl"
    clock.advance(before + after)
    assert metadata().headers.get("X-Cache") == "MISS", "still cached after its ttl"


@pytest.mark.behaviour("MEM-02")
def test_event_buffer_bounded_drop_oldest(workspace, spec, exclusive_target):
    """Event Stream Buffers: max_size 10000, overflow_strategy drop_oldest."""
    values = spec["MEM-02"]
    client = workspace.as_role("admin")
    json_of(client.emit_events(values["max_size"] + 50), 202)
    buffer = json_of(client.event_buffer())
    assert buffer["max_size"] == values["max_size"]
    assert buffer["overflow_strategy"] == values["overflow_strategy"]
    assert buffer["size"] == values["max_size"], f"buffer holds {buffer['size']}"
    assert buffer["newest_seq"] - buffer["oldest_seq"] + 1 == values["max_size"], f"not the newest kept: {buffer}"
    assert buffer["dropped"] >= 50


@pytest.mark.behaviour("DB-05")
def test_pool_returns_to_baseline_after_a_burst(workspace, spec, exclusive_target):
    """Connection Pool Leaks: after a burst the pool's active connections go back to where they were."""
    values = spec["DB-05"]
    admin = workspace.as_role("admin")
    baseline = json_of(admin.pool_status())["active"]
    results = burst(admin.list_workflows, values["burst_requests"], 10)
    assert all(s == 200 for s, _ in results), sorted({s for s, _ in results})
    settled = waits.poll(lambda: json_of(admin.pool_status()),
                         lambda p: p["active"] <= baseline + values.tolerance("active_slack"),
                         timeout_s=values.tolerance("settle_s"), interval_s=0.25, what="pool back to baseline")
    assert settled["waiting"] == 0
