"""The engine loop: claim PENDING executions, run them as bounded tasks, sweep, heartbeat.

A database outage only pauses claiming: the loop logs "database server unreachable" once,
backs off, and after the heal sweeps executions stranded past their deadline to TIMEOUT.
"""
from __future__ import annotations

import asyncio
import os
import time

import psycopg

from . import store, webhooks
from .executor import run_execution
from .state import ExecState

POLL_S = 0.1
CLAIM_BATCH = 10
SWEEP_EVERY_S = 1.0
HEARTBEAT_S = 0.5
OUTAGE_BACKOFF_MAX_S = 5.0
SHUTDOWN_REQUEUE_S = 5.0


class SchemaPending(Exception):
    """The API has not applied every migration yet; the engine waits (README "Processes")."""


def write_heartbeat(state_dir) -> None:
    """Epoch seconds (real time: liveness, not twin reasoning), replaced atomically."""
    path = os.path.join(state_dir, "engine.heartbeat")
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w") as fh:
        fh.write(f"{time.time():.3f}\n")
    os.replace(tmp, path)


async def heartbeat(rt) -> None:
    while True:
        try:
            write_heartbeat(rt.state_dir)
        except OSError as exc:
            rt.log.error(f"heartbeat not written: {exc}", error_type="OSError")
        await asyncio.sleep(HEARTBEAT_S)


async def _execution_task(rt, state: ExecState) -> None:
    try:
        await run_execution(rt, state)
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # finish() gave up after a long outage: the sweep will time it out
        rt.log.error(f"execution abandoned: {exc}", error_type=type(exc).__name__, **state.ids)
    finally:
        rt.owned.discard(state.id)


class Scheduler:
    def __init__(self, rt):
        self.rt = rt
        self.tasks: set[asyncio.Task] = set()
        self.db_down = False
        self.waiting_schema = False
        self.started = False
        self.last_sweep = 0.0

    async def tick(self) -> None:
        """One pass: start-up recovery once, periodic sweep, claim into free slots."""
        rt = self.rt
        if not self.started and rt.schema_ready is not None and not await rt.schema_ready():
            raise SchemaPending()
        if not self.started:
            for exec_id in await store.sweep_overdue(rt):
                rt.log.warn(f"execution {exec_id} was stranded past its timeout: TIMEOUT",
                            execution_id=exec_id)
            for exec_id in await store.requeue_orphans(rt):
                rt.log.warn(f"execution {exec_id} was left RUNNING by a previous engine: re-queued",
                            execution_id=exec_id)
            self.started = True
        if time.monotonic() - self.last_sweep >= SWEEP_EVERY_S:
            for exec_id in await store.sweep_overdue(rt):
                rt.log.warn(f"execution {exec_id} stranded past its timeout: TIMEOUT",
                            execution_id=exec_id)
            self.last_sweep = time.monotonic()
        free = rt.max_concurrency - len(self.tasks)
        if free > 0:
            for state in await store.claim(rt, min(free, CLAIM_BATCH)):
                rt.owned.add(state.id)
                task = asyncio.create_task(_execution_task(rt, state), name=state.id)
                self.tasks.add(task)
                task.add_done_callback(self.tasks.discard)

    async def serve(self, stop: asyncio.Event) -> None:
        rt, backoff = self.rt, POLL_S
        while not stop.is_set():
            try:
                await self.tick()
            except (SchemaPending, psycopg.errors.UndefinedTable, psycopg.errors.UndefinedColumn):
                if not self.waiting_schema:  # the API applies migrations; the engine waits
                    rt.log.info("waiting for database migrations")
                    self.waiting_schema = True
                backoff = 1.0
            except store.DB_DOWN as exc:
                if not self.db_down:
                    rt.log.error("database server unreachable", error_type="DatabaseUnavailable",
                                 detail=str(exc).strip())
                    self.db_down = True
                backoff = min(max(backoff, POLL_S) * 2, OUTAGE_BACKOFF_MAX_S)
                self.last_sweep = 0.0  # sweep at once after the heal
            else:
                if self.db_down:
                    rt.log.info("database connection restored")
                self.db_down = self.waiting_schema = False
                backoff = POLL_S
            try:
                await asyncio.wait_for(stop.wait(), timeout=backoff)
            except asyncio.TimeoutError:
                pass
        await self.shutdown()

    async def shutdown(self) -> None:
        """Stop running executions and hand them back as PENDING, so none is lost."""
        owned = list(self.rt.owned)
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        if not owned:
            return
        try:
            async with self.rt.pool.connection(timeout=SHUTDOWN_REQUEUE_S) as conn:
                await conn.execute("UPDATE executions SET status = 'PENDING' "
                                   "WHERE id = ANY(%s) AND status = 'RUNNING'", (owned,))
            self.rt.log.info(f"re-queued {len(owned)} running executions at shutdown")
        except Exception as exc:  # start-up recovery of the next engine covers this
            self.rt.log.warn(f"could not re-queue executions at shutdown: {exc}")


async def serve(rt, stop: asyncio.Event) -> None:
    """Run the engine until `stop` is set."""
    rt.webhook_queue = asyncio.Queue(maxsize=webhooks.QUEUE_MAX)
    helpers = [asyncio.create_task(heartbeat(rt))]
    helpers += [asyncio.create_task(webhooks.worker(rt)) for _ in range(webhooks.WORKERS)]
    try:
        await Scheduler(rt).serve(stop)
    finally:
        for task in helpers:
            task.cancel()
        await asyncio.gather(*helpers, return_exceptions=True)
        await rt.aclose()
