"""Circuit breaker per workflow+step (WF-07), persisted in `circuit_breakers`, twin time.

closed: calls go through; `threshold` consecutive failures open it.
open: no call is made until timeout_ms has passed since opened_at; then the next caller moves it
to half_open and makes the single trial call (row lock, so only one caller gets the trial).
half_open: trial success closes it, trial failure opens it again. A trial whose caller died is
retried once timeout_ms has passed again (opened_at is set to the trial's start for that).
The row also caches the last successful response for the use_cached_data fallback.
"""
from __future__ import annotations

from dataclasses import dataclass

from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from . import store

CALL, TRIAL, REJECT = "call", "trial", "reject"


@dataclass(frozen=True)
class BreakerConfig:
    enabled: bool
    threshold: int
    timeout_ms: int

    @classmethod
    def from_step(cls, spec: dict, settings) -> "BreakerConfig":
        cb = spec.get("circuit_breaker") or {}
        # opt-in, as the guide's "Add circuit breaker" says; the numbers default as documented
        return cls(enabled=bool(cb) and cb.get("enabled", True) is not False,
                   threshold=max(1, int(cb.get("threshold", settings.breaker_threshold))),
                   timeout_ms=int(cb.get("timeout_ms", settings.breaker_timeout_ms)))


async def _locked_row(cur, workflow_id: str, step: str) -> dict:
    await cur.execute("INSERT INTO circuit_breakers (workflow_id, step) VALUES (%s, %s) "
                      "ON CONFLICT DO NOTHING", (workflow_id, step))
    await cur.execute("SELECT * FROM circuit_breakers WHERE workflow_id = %s AND step = %s "
                      "FOR UPDATE", (workflow_id, step))
    return await cur.fetchone()


async def acquire(rt, state, step: str, cfg: BreakerConfig) -> str:
    """May this attempt call the partner? CALL, TRIAL (half-open probe) or REJECT (open)."""
    active = cfg.enabled and not rt.fault("breaker_disabled")

    async def txn():
        async with rt.pool.connection() as conn:
            async with conn.transaction():
                cur = conn.cursor(row_factory=dict_row)
                row = await _locked_row(cur, state.workflow_id, step)
                if not active or row["state"] == "closed":
                    return CALL
                now = rt.now()
                if now - (row["opened_at"] or 0) < cfg.timeout_ms / 1000:
                    return REJECT
                await cur.execute("UPDATE circuit_breakers SET state = 'half_open', opened_at = %s "
                                  "WHERE workflow_id = %s AND step = %s",
                                  (now, state.workflow_id, step))
                return TRIAL
    return await store.persist(rt, txn, ids=state.ids)


async def record(rt, state, step: str, cfg: BreakerConfig, *, ok: bool, data=None) -> str:
    """Record a call's outcome; returns the breaker state after it."""
    active = cfg.enabled and not rt.fault("breaker_disabled")

    async def txn():
        async with rt.pool.connection() as conn:
            async with conn.transaction():
                cur = conn.cursor(row_factory=dict_row)
                row = await _locked_row(cur, state.workflow_id, step)
                now = rt.now()
                if ok:
                    await cur.execute(
                        "UPDATE circuit_breakers SET state = 'closed', failures = 0, opened_at = NULL,"
                        " cached_data = %s, cached_at = %s WHERE workflow_id = %s AND step = %s",
                        (Jsonb(data), now, state.workflow_id, step))
                    return "closed"
                failures = row["failures"] + 1
                opens = active and (row["state"] == "half_open" or failures >= cfg.threshold)
                new_state = "open" if opens else row["state"] if active else "closed"
                opened_at = now if opens else row["opened_at"]
                await cur.execute(
                    "UPDATE circuit_breakers SET state = %s, failures = %s, opened_at = %s "
                    "WHERE workflow_id = %s AND step = %s",
                    (new_state, failures, opened_at, state.workflow_id, step))
                if opens and row["state"] != "open":
                    rt.log.warn(f"circuit breaker opened for step {step} after {failures} "
                                "consecutive failures", step=step, **state.ids)
                return new_state
    return await store.persist(rt, txn, ids=state.ids)


async def cached(rt, state, step: str, ttl_s: float):
    """The last successful response if younger than ttl_s (twin time), else None."""
    async def read():
        async with rt.pool.connection() as conn:
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute("SELECT cached_data, cached_at FROM circuit_breakers "
                              "WHERE workflow_id = %s AND step = %s", (state.workflow_id, step))
            return await cur.fetchone()
    row = await store.persist(rt, read, ids=state.ids)
    if not row or row["cached_at"] is None or rt.now() - row["cached_at"] > ttl_s:
        return None
    return {"data": row["cached_data"], "cached_at": row["cached_at"]}
