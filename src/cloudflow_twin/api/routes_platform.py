"""Platform endpoints: /health, /metrics, pool status, config, latency report, event buffer, rate-limit status."""
from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field
from starlette.responses import Response

from .. import auth, control, faults
from . import metrics
from .common import ok, principal, require, twin
from .errors import ApiError

router = APIRouter(tags=["platform"])


class EventsBody(BaseModel):
    count: int = Field(gt=0, le=1_000_000)
    type: str = "synthetic"


@router.get("/health")
async def health(request: Request):
    status, body = await twin(request).health.report()
    return ok(body, status)


@router.get("/metrics")
async def prometheus_metrics():
    if faults.is_on("no_metrics"):
        raise ApiError(404, "not_found", "Not Found")
    return Response(metrics.exposition(), media_type="text/plain; version=0.0.4; charset=utf-8")


@router.get("/api/v1/db/pool")
async def pool_status(request: Request):
    state = twin(request)
    require(request, "manage", principal(request).workspace_id)
    stats = state.pool.stats()
    if faults.is_on("pool_status_no_wait_stats"):
        stats.pop("avg_wait_ms")
        stats.pop("max_wait_ms")
    return ok(stats)


def config_values(state) -> dict:
    s = state.settings
    return {
        "db.pool.max_connections": state.pool.pool.max_size, "db.pool.min_connections": s.pool_min,
        "db.pool.idle_timeout": int(s.pool_max_idle_s), "db.pool.max_lifetime": int(s.pool_max_lifetime_s),
        "db.pool.acquire_timeout_ms": int(s.pool_acquire_timeout_s * 1000),
        "db.connect_timeout_ms": s.connect_timeout_s * 1000, "db.slow_query_ms": int(s.slow_query_ms),
        "auth.access_token_ttl": 7200 if faults.is_on("token_ttl_7200") else s.access_ttl_s,
        "auth.refresh_token_ttl": s.refresh_ttl_s, "auth.clock_skew_tolerance": auth.leeway_s(s),
        "auth.jwt_algorithm": s.jwt_alg,
        "workflow.timeout": s.workflow_timeout_s,
        "workflow.retry.max_attempts": s.retry_max_attempts,
        "workflow.retry.initial_delay_ms": s.retry_initial_delay_ms,
        "workflow.retry.backoff_multiplier": s.retry_backoff_multiplier,
        "workflow.retry.max_delay_ms": s.retry_max_delay_ms,
        "workflow.retry.retry_on_errors": list(s.retry_on_errors),
        "workflow.circuit_breaker.threshold": s.breaker_threshold,
        "workflow.circuit_breaker.timeout_ms": s.breaker_timeout_ms,
        "workflow.fallback.action": s.breaker_fallback, "workflow.fallback.cache_ttl": s.breaker_cache_ttl_s,
        "workflow.context.max_size_mb": s.context_max_size_mb,
        "workflow.context.cleanup_threshold": s.context_cleanup_threshold,
        "cache.workspace.ttl": s.workspace_cache_ttl_s, "api.request_timeout_ms": s.request_cap_ms,
        "events.buffer.max_size": s.event_buffer_max, "events.buffer.overflow_strategy": s.event_overflow_strategy,
        "logging.level": "INFO",
        "rate_limits.tiers": s.tiers,
    }


@router.get("/api/v1/config")
async def config(request: Request):
    return ok(config_values(twin(request)))


@router.get("/api/v1/metrics/latency")
async def latency(request: Request, endpoint: str = "/api/v1/workflows"):
    return ok(metrics.latency_report(endpoint))


@router.post("/api/v1/events", status_code=202)
async def push_events(body: EventsBody, request: Request):
    state = twin(request)
    require(request, "manage", principal(request).workspace_id)
    state.events.push(body.count, body.type)
    return ok({"accepted": body.count, **state.events.status()}, 202)


@router.get("/api/v1/events/buffer")
async def event_buffer(request: Request):
    return ok(twin(request).events.status())


@router.get("/api/v1/rate-limit")
async def rate_limit_status(request: Request):
    state, who = twin(request), principal(request)
    limits = await state.limits_for(who.workspace_id)
    used_minute, used_hour = state.limiter.usage(who.workspace_id, control.twin_now())
    running = await state.pool.fetch_one("SELECT count(*) AS n FROM executions WHERE workspace_id = %s "
                                         "AND status IN ('PENDING', 'RUNNING')", (who.workspace_id,))
    return ok({"workspace_id": who.workspace_id, "tier": limits.tier, "per_minute": limits.per_minute,
               "per_hour": limits.per_hour, "concurrent_workflows": limits.concurrent_workflows,
               "used_minute": used_minute, "used_hour": used_hour, "running_workflows": running["n"]})
