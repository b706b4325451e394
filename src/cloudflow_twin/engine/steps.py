"""Step executors: noop, sleep, flaky, db_query (and the registry of all step types).

Each executor is `async def run(ctx) -> dict` (the step's output) and raises StepFailure.
"""
from __future__ import annotations

import json
import time

import psycopg
from psycopg.rows import dict_row

from cloudflow_twin.db import DatabaseUnavailable

from . import data_steps, external
from .context import StepContext
from .errors import StepFailure

DB_STEP_MAX_ROWS = 100


async def run_noop(ctx: StepContext) -> dict:
    return {}


async def run_sleep(ctx: StepContext) -> dict:
    seconds = float(ctx.spec.get("seconds", 0))
    await ctx.twin_sleep(seconds)
    # a clock advance ends the wait early; the step still took its nominal twin duration
    ctx.duration_override = seconds
    return {"slept_s": seconds}


async def run_flaky(ctx: StepContext) -> dict:
    fail_times = int(ctx.spec.get("fail_times", 1))
    if ctx.attempt <= fail_times:
        raise StepFailure(str(ctx.spec.get("error") or "NETWORK_ERROR"), ctx.spec.get("message"))
    return {"succeeded_on_attempt": ctx.attempt}


async def run_db_query(ctx: StepContext) -> dict:
    sql = str(ctx.spec.get("sql") or "select 1")
    try:
        async with ctx.rt.pool.connection() as conn:  # the documented 5000 ms acquire timeout
            cur = conn.cursor(row_factory=dict_row)
            started = time.perf_counter()
            await cur.execute(sql)
            took_ms = (time.perf_counter() - started) * 1000
            if took_ms > ctx.rt.settings.slow_query_ms:  # LOG-03: the documented grep pattern
                ctx.rt.log.warn(f"slow query took {int(took_ms)}ms: {' '.join(sql.split())}",
                                duration_ms=int(took_ms), step=ctx.spec.get("name"))
            rows = await cur.fetchall() if cur.description else []
            rowcount = cur.rowcount
    except DatabaseUnavailable as exc:  # pool exhausted -> TIMEOUT, unreachable -> NETWORK_ERROR
        code = "TIMEOUT" if exc.kind == "pool_exhausted" else "NETWORK_ERROR"
        raise StepFailure(code, f"DatabaseError: {exc.message}")
    except (psycopg.OperationalError, psycopg.InterfaceError):
        raise StepFailure("NETWORK_ERROR", "DatabaseError: database server unreachable")
    except psycopg.Error as exc:  # bad SQL is not transient: not in the retry list
        raise StepFailure("DATABASE_ERROR", f"DatabaseError: {str(exc).strip()}")
    # values such as Decimal or datetime become text so the output stays JSON
    rows = json.loads(json.dumps(rows[:DB_STEP_MAX_ROWS], default=str))
    return {"rows": rows, "rowcount": rowcount}


async def run_unknown(ctx: StepContext) -> dict:
    raise StepFailure("CONFIG_ERROR", f"ConfigurationError: unknown step type "
                                      f"'{ctx.spec.get('type')}'")


STEP_TYPES = {
    "noop": run_noop,
    "sleep": run_sleep,
    "flaky": run_flaky,
    "db_query": run_db_query,
    "external_api": external.run_external_api,
    "validate": data_steps.run_validate,
    "transform": data_steps.run_transform,
    "context_grow": data_steps.run_context_grow,
}


def executor_for(step_type: str | None):
    return STEP_TYPES.get(step_type or "noop", run_unknown)
