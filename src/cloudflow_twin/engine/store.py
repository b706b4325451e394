"""The engine's SQL: claiming executions, writing step/attempt/execution rows, sweeping.

Every write goes through `persist`, which rides out a database outage (WF chaos, DB-03):
it logs "database server unreachable" once, backs off and retries until the heal.
"""
from __future__ import annotations

import asyncio
import secrets
import string
import time

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from cloudflow_twin.db import DatabaseUnavailable

from .state import ExecState, StepRec, timeout_message

# the shared pool turns pool timeouts and broken links into DatabaseUnavailable; a raw
# OperationalError can still surface from a connection that was fine when acquired
DB_DOWN = (DatabaseUnavailable, psycopg.OperationalError, psycopg.InterfaceError)
PERSIST_GIVE_UP_S = 900.0
_ALNUM = string.ascii_lowercase + string.digits


def new_id(prefix: str) -> str:
    return prefix + "".join(secrets.choice(_ALNUM) for _ in range(10))


async def persist(rt, fn, *, ids: dict | None = None, give_up_s: float = PERSIST_GIVE_UP_S):
    """Run `await fn()` until it gets through to the database (bounded by give_up_s)."""
    start, delay, warned = time.monotonic(), 0.25, False
    while True:
        try:
            result = await fn()
        except DB_DOWN as exc:
            if time.monotonic() - start > give_up_s:
                rt.log.error("database server unreachable: giving up write",
                             error_type="DatabaseUnavailable", detail=str(exc), **(ids or {}))
                raise
            if not warned:
                rt.log.error("database server unreachable", error_type="DatabaseUnavailable",
                             detail=str(exc), **(ids or {}))
                warned = True
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
            continue
        if warned:
            rt.log.info("database connection restored", **(ids or {}))
        return result


async def claim(rt, limit: int) -> list[ExecState]:
    """Take up to `limit` PENDING executions, mark them RUNNING and create their step rows."""
    async with rt.pool.connection() as conn:
        async with conn.transaction():
            # Read the clock only now: waiting for a connection can outlast a clock move, and an
            # execution started "an hour ahead" would not time out for an hour.
            now = rt.now()
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute(
                """
                WITH picked AS (
                    SELECT id FROM executions WHERE status = 'PENDING'
                    ORDER BY created_at LIMIT %s FOR UPDATE SKIP LOCKED)
                UPDATE executions e SET status = 'RUNNING', started_at = %s, error = NULL,
                    finished_at = NULL,
                    correlation_id = COALESCE(e.correlation_id, 'corr_' || substr(md5(random()::text), 1, 10))
                FROM picked WHERE e.id = picked.id
                RETURNING e.id, e.workflow_id, e.workspace_id, e.input, e.correlation_id, e.started_at
                """, (limit, now))
            executions = await cur.fetchall()
            if not executions:
                return []
            await cur.execute(
                "SELECT id, timeout_s, retry_policy, steps FROM workflows WHERE id = ANY(%s)",
                ([e["workflow_id"] for e in executions],))
            workflows = {w["id"]: w for w in await cur.fetchall()}
            states = [ExecState.from_rows(e, workflows[e["workflow_id"]], rt.settings.workflow_timeout_s) for e in executions]
            ids = [s.id for s in states]
            # a re-queued orphan starts over: drop the rows of its earlier run
            await cur.execute("DELETE FROM execution_steps WHERE execution_id = ANY(%s)", (ids,))
            await cur.execute("DELETE FROM execution_attempts WHERE execution_id = ANY(%s)", (ids,))
            await cur.executemany(
                "INSERT INTO execution_steps (execution_id, position, name) VALUES (%s, %s, %s)",
                [(s.id, step.position, step.name) for s in states for step in s.steps])
    return states


async def _write_step(conn, execution_id: str, step: StepRec) -> None:
    await conn.execute(
        """UPDATE execution_steps SET status = %s, duration_s = %s, attempts = %s, output = %s,
               error = %s, started_at = %s WHERE execution_id = %s AND position = %s""",
        (step.status, round(step.duration_s, 3), step.attempts,
         Jsonb(step.output) if step.output is not None else None, step.error, step.started_at,
         execution_id, step.position))


async def save_step(rt, state: ExecState, step: StepRec) -> None:
    async def write():
        async with rt.pool.connection() as conn:
            await _write_step(conn, state.id, step)
    await persist(rt, write, ids=state.ids)


async def save_attempt(rt, state: ExecState, step: StepRec, attempt: int, status: str,
                       error: str | None, delay_ms: int, started_at: float) -> None:
    async def write():
        async with rt.pool.connection() as conn:
            await conn.execute(
                """INSERT INTO execution_attempts
                       (execution_id, step, attempt, status, error, delay_ms, started_at)
                   VALUES (%s, %s, %s, %s, %s, %s, %s)
                   ON CONFLICT (execution_id, step, attempt) DO UPDATE SET status = EXCLUDED.status,
                       error = EXCLUDED.error, delay_ms = EXCLUDED.delay_ms,
                       started_at = EXCLUDED.started_at""",
                (state.id, step.name, attempt, status, error, delay_ms, started_at))
    await persist(rt, write, ids=state.ids)


async def finish(rt, state: ExecState, *, chain: bool) -> tuple[list[str], list[dict]]:
    """Write the final execution row and all step rows in one transaction.

    On SUCCESS it also creates the downstream executions (WF-08) in the same transaction, so a
    crash cannot lose a chained run, and returns the workspace's webhooks to notify (RATE-05).
    """
    async def write():
        async with rt.pool.connection() as conn:
            async with conn.transaction():
                cur = conn.cursor(row_factory=dict_row)
                await cur.execute(
                    """UPDATE executions SET status = %s, error = %s, finished_at = %s
                       WHERE id = %s AND status = 'RUNNING'""",
                    (state.status, state.error, state.finished_at, state.id))
                if cur.rowcount == 0:
                    return [], []  # finalised elsewhere (sweep) or deleted with its workflow
                for step in state.steps:
                    await _write_step(conn, state.id, step)
                if state.status != "SUCCESS":
                    return [], []
                chained = await _chain(cur, rt, state) if chain else []
                await cur.execute(
                    """SELECT id, url, secret FROM webhooks
                       WHERE workspace_id = %s AND event = 'workflow.completed'""",
                    (state.workspace_id,))
                return chained, await cur.fetchall()
    return await persist(rt, write, ids=state.ids)


async def _chain(cur, rt, state: ExecState) -> list[str]:
    await cur.execute(
        """SELECT id FROM workflows WHERE workspace_id = %s
           AND trigger->>'type' = 'workflow_completed' AND trigger->>'workflow_id' = %s""",
        (state.workspace_id, state.workflow_id))
    created = []
    for row in await cur.fetchall():
        exec_id = new_id("exec_")
        await cur.execute(
            """INSERT INTO executions (id, workflow_id, workspace_id, status, input,
                   correlation_id, triggered_by, created_at)
               VALUES (%s, %s, %s, 'PENDING', %s, %s, %s, %s)""",
            (exec_id, row["id"], state.workspace_id, Jsonb({"upstream_execution_id": state.id}),
             state.correlation_id, state.id, rt.now()))
        created.append(exec_id)
    return created


async def sweep_overdue(rt) -> list[str]:
    """Time out RUNNING executions past their deadline that no task of ours is running.

    They are left from an engine that died, or from a write that gave up during a long outage;
    without this they would stay RUNNING for ever.
    """
    if rt.fault("timeout_ignored"):
        return []
    async with rt.pool.connection() as conn:
        async with conn.transaction():
            # Read the clock only now: waiting for a connection can outlast a clock move, and an
            # execution started "an hour ahead" would not time out for an hour.
            now = rt.now()
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute(
                """SELECT e.id, w.timeout_s FROM executions e JOIN workflows w ON w.id = e.workflow_id
                   WHERE e.status = 'RUNNING' AND e.started_at + w.timeout_s <= %s
                   AND NOT (e.id = ANY(%s)) FOR UPDATE OF e SKIP LOCKED""",
                (now, list(rt.owned)))
            rows = await cur.fetchall()
            for row in rows:
                await _timeout_rows(cur, rt, row["id"], row["timeout_s"], now)
    return [r["id"] for r in rows]


async def _timeout_rows(cur, rt, exec_id: str, timeout_s: int, now: float) -> None:
    message = timeout_message(timeout_s, rt.fault)
    await cur.execute("UPDATE executions SET status = 'TIMEOUT', error = %s, finished_at = %s "
                      "WHERE id = %s", (message, now, exec_id))
    await cur.execute(
        """UPDATE execution_steps SET status = 'TIMEOUT', error = %s,
               duration_s = GREATEST(0, %s - COALESCE(started_at, %s))
           WHERE execution_id = %s AND status = 'RUNNING'""", (message, now, now, exec_id))
    if cur.rowcount == 0:  # died between steps: the next step is the one that timed out
        await cur.execute(
            """UPDATE execution_steps SET status = 'TIMEOUT', error = %s, duration_s = 0
               WHERE execution_id = %s AND position = (SELECT min(position) FROM execution_steps
                   WHERE execution_id = %s AND status = 'PENDING')""", (message, exec_id, exec_id))
    skipped = 1.0 if rt.fault("skipped_nonzero_duration") else 0.0
    await cur.execute("UPDATE execution_steps SET status = 'SKIPPED', duration_s = %s "
                      "WHERE execution_id = %s AND status = 'PENDING'", (skipped, exec_id))


async def requeue_orphans(rt) -> list[str]:
    """At start-up, RUNNING executions within their deadline belong to a dead engine: rerun them."""
    async with rt.pool.connection() as conn:
        cur = conn.cursor(row_factory=dict_row)
        await cur.execute(
            "UPDATE executions SET status = 'PENDING' WHERE status = 'RUNNING' "
            "AND NOT (id = ANY(%s)) RETURNING id", (list(rt.owned),))
        return [r["id"] for r in await cur.fetchall()]
