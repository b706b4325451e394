"""Request metrics (PERF-03): Prometheus histograms plus an in-memory latency store for
GET /api/v1/metrics/latency (p50/p95/p99 and the auth/db_query/business_logic/serialization breakdown)."""
from __future__ import annotations

import contextvars
from collections import deque

from prometheus_client import CollectorRegistry, Histogram, generate_latest

REGISTRY = CollectorRegistry(auto_describe=True)
_BUCKETS = (1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000)
REQUEST_MS = Histogram("api_request_duration_ms", "API request duration in milliseconds",
                       ("method", "endpoint", "status"), buckets=_BUCKETS, registry=REGISTRY)
PHASE_MS = Histogram("api_request_phase_duration_ms", "API request duration by phase in milliseconds",
                     ("phase",), buckets=_BUCKETS, registry=REGISTRY)
PHASES = ("auth", "db_query", "business_logic", "serialization")
_phase_children = {p: PHASE_MS.labels(p) for p in PHASES}
_request_children: dict[tuple, object] = {}
_samples: dict[tuple[str, str], deque] = {}

# milliseconds spent rendering JSON in this request (set by the middleware, added by TwinJSON)
serialization_time: contextvars.ContextVar[list | None] = contextvars.ContextVar("ser_time", default=None)


def observe(method: str, endpoint: str, status: int, total: float, auth: float, db: float, ser: float,
            phases: bool = True) -> None:
    """Record one request; phases=False for requests answered in the middleware (429s under load)."""
    key = (method, endpoint, status)
    child = _request_children.get(key)
    if child is None:
        child = _request_children[key] = REQUEST_MS.labels(method, endpoint, str(status))
    child.observe(total)
    biz = max(0.0, total - auth - db - ser)
    if phases:
        for phase, value in (("auth", auth), ("db_query", db), ("business_logic", biz), ("serialization", ser)):
            _phase_children[phase].observe(value)
    store = _samples.get((method, endpoint))
    if store is None:
        store = _samples[(method, endpoint)] = deque(maxlen=5000)
    store.append((total, auth, db, biz, ser))


def _pct(sorted_values: list, q: float) -> float:
    if not sorted_values:
        return 0.0
    idx = min(len(sorted_values) - 1, max(0, int(round(q * len(sorted_values) + 0.5)) - 1))
    return round(sorted_values[idx], 3)


def latency_report(endpoint: str) -> dict:
    """Percentiles over recent requests to an endpoint ("/api/v1/workflows" or "GET /api/v1/workflows")."""
    method, _, path = endpoint.partition(" ") if " " in endpoint else ("", "", endpoint)
    rows = [s for (m, e), d in list(_samples.items()) if e == path and (not method or m == method.upper())
            for s in d]
    totals = sorted(r[0] for r in rows)
    n = len(rows)
    mean = (lambda i: round(sum(r[i] for r in rows) / n, 3)) if n else (lambda i: 0.0)
    return {"endpoint": endpoint, "p50": _pct(totals, 0.50), "p95": _pct(totals, 0.95),
            "p99": _pct(totals, 0.99), "count": n,
            "breakdown": {"auth": mean(1), "db_query": mean(2), "business_logic": mean(3),
                          "serialization": mean(4)}}


def exposition() -> bytes:
    return generate_latest(REGISTRY)
