"""Fault switches: name -> (behaviour ID, description). Each breaks exactly one documented behaviour.

`is_on(name)` reads the enabled set from control.json (see control.py). The API-side switches are
registered below; the engine registers its own from `cloudflow_twin.engine.faults` with
`register()`. `load_all()` imports that module when it exists so one process can list them all.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass

from . import control


# Switches read once, when a process starts (the pool is sized then): flipping them needs a restart.
READ_AT_START = frozenset({"pool_max_50"})


@dataclass(frozen=True)
class Fault:
    name: str
    behaviour: str
    description: str

    @property
    def restart_required(self) -> bool:
        return self.name in READ_AT_START


_REGISTRY: dict[str, Fault] = {}


def register(name: str, behaviour: str, description: str) -> Fault:
    """Add (or replace) a fault switch in the registry; returns it."""
    fault = Fault(name, behaviour, description)
    _REGISTRY[name] = fault
    return fault


def is_on(name: str) -> bool:
    """True when the named fault switch is enabled right now (cheap: cached control state)."""
    return name in control.enabled_faults()


def get(name: str) -> Fault | None:
    return _REGISTRY.get(name)


def all_faults() -> list[Fault]:
    """Every registered fault, sorted by behaviour ID then name."""
    return sorted(_REGISTRY.values(), key=lambda f: (f.behaviour, f.name))


def load_all() -> list[Fault]:
    """Import the engine's registrations if that package exists, then list everything."""
    try:
        importlib.import_module("cloudflow_twin.engine.faults")
    except ImportError:
        pass
    return all_faults()


_API_FAULTS = [
    ("AUTH-01", "token_ttl_7200", "access tokens live 7200 s instead of 3600 s"),
    ("AUTH-02", "refresh_rejected", "POST /auth/refresh rejects valid refresh tokens with 401"),
    ("AUTH-03", "auth_500", "missing/invalid credentials answer 500 instead of 401"),
    ("AUTH-04", "signature_not_checked", "JWT signatures are not verified (forged tokens pass)"),
    ("AUTH-05", "skew_600", "clock-skew leeway is 600 s instead of 300 s"),
    ("AUTH-05", "skew_0", "clock-skew leeway is 0 s instead of 300 s"),
    ("AUTH-06", "forbidden_wording", "403 message differs from the documented wording"),
    ("AUTH-07", "whoami_no_scopes", "whoami reports an empty scope list"),
    ("AUTH-08", "sa_extra_scopes", "service-account tokens get workflow:execute on top of the asked scopes"),
    ("AUTH-09", "access_request_approved", "access requests are recorded as approved, not pending"),
    ("RBAC-01", "viewer_can_write", "viewers may create, update and delete workflows"),
    ("RBAC-02", "developer_can_touch_production", "developers may change production workflows"),
    ("RBAC-03", "operator_cannot_execute", "operators may not execute workflows"),
    ("RBAC-04", "admin_cross_workspace", "admins get access to other workspaces"),
    ("RBAC-05", "platform_admin_single_workspace", "platform-admins are confined to their own workspace"),
    ("RBAC-06", "rbac_check_lies", "POST /api/v1/rbac/check answers the opposite of what is enforced"),
    ("PERF-01", "no_request_cap", "requests are not cut at 30000 ms (no 504)"),
    ("PERF-02", "slow_responses", "GET /api/v1/workflows takes 5.5 s longer"),
    ("PERF-03", "no_metrics", "GET /metrics answers 404 (no api_request_duration_ms)"),
    ("PERF-04", "cache_disabled", "workspace metadata is never served from cache (always MISS)"),
    ("MEM-02", "buffer_unbounded", "the event buffer grows without bound (no drop_oldest)"),
    ("DB-01", "pool_max_50", "the connection pool max is 50 instead of 100"),
    ("DB-02", "no_acquire_timeout", "pool acquire waits without the 5000 ms limit"),
    ("DB-02", "pool_exhausted_500", "pool exhaustion answers 500 instead of 503"),
    ("DB-02", "acquire_gives_up_early", "pool acquire gives up after 1000 ms, still saying 'within 5000ms'"),
    ("DB-03", "db_down_500", "an unreachable database answers 500 instead of 503"),
    ("DB-04", "pool_status_no_wait_stats", "GET /api/v1/db/pool omits avg_wait_ms and max_wait_ms"),
    ("DB-05", "connection_leak", "each GET /api/v1/workflows leaks one pooled connection"),
    ("WF-03", "timeout_update_ignored", "PATCH of a workflow timeout answers 200 but keeps the old value"),
    ("RATE-01", "retry_after_missing", "429 responses lack the Retry-After header"),
    ("RATE-01", "retry_after_http_date", "Retry-After is an HTTP date instead of seconds"),
    ("RATE-01", "rate_limit_wording", "the 429 message differs from the documented wording"),
    ("RATE-02", "limit_off_by_one", "each window allows limit+1 requests"),
    ("RATE-02", "window_edge_double_burst", "windows reset every 30 s, allowing 2x the limit per minute"),
    ("RATE-02", "concurrency_cap_off", "the concurrent-workflow cap is not enforced"),
    ("RATE-02", "hourly_limit_ignored", "the per-hour limit is not enforced"),
    ("RATE-03", "headers_missing_on_success", "X-RateLimit-* headers only on 429 responses"),
    ("RATE-03", "remaining_not_decrementing", "X-RateLimit-Remaining stays at the limit"),
    ("RATE-04", "batch_counts_each", "execute-batch counts one request per workflow"),
    ("RATE-05", "webhook_test_unsigned", "webhook test deliveries carry no X-CloudFlow-Signature"),
    ("LOG-01", "logs_plaintext", "log lines are plain text, not JSON"),
    ("LOG-02", "no_correlation_id", "log lines carry no correlation_id"),
    ("LOG-03", "rate_limit_log_wording", "rate-limit events are logged as 'throttled ...' not rate_limit_exceeded"),
    ("LOG-03", "deadlock_wording", "a PostgreSQL deadlock is logged as 'lock cycle between transactions', not 'deadlock detected'"),
    ("HEALTH-01", "health_hides_db", "GET /health reports the database up even when it is down"),
]

for _behaviour, _name, _description in _API_FAULTS:
    register(_name, _behaviour, _description)
