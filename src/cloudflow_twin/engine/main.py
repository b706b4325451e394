"""`cloudflow-twin engine`: wire the shared twin modules into a Runtime and serve."""
from __future__ import annotations

import asyncio
import inspect
import os
import signal
from pathlib import Path

from . import faults as engine_faults
from .runtime import Runtime
from .scheduler import serve

POOL_MIN, POOL_MAX = 2, 20   # the engine holds connections only briefly per write
MAX_CONCURRENT_EXECUTIONS = 50


def _setting(cfg, attr: str, env: str) -> str:
    value = getattr(cfg, attr, None) or os.environ.get(env)
    if not value:
        raise SystemExit(f"cloudflow-twin engine: {env} is required")
    return str(value)


async def build_runtime() -> Runtime:
    from cloudflow_twin import control, db, faults, logs, settings

    engine_faults.register_all()
    cfg = settings.load()
    pool = db.create_pool(cfg, min_size=POOL_MIN, max_size=POOL_MAX)
    if inspect.isawaitable(pool):
        pool = await pool
    if getattr(pool, "closed", False):  # not opened by create_pool: open without waiting,
        await pool.open(wait=False)     # so a database outage at start-up is survivable
    return Runtime(
        pool=pool,
        partner_url=_setting(cfg, "partner_url", "TWIN_PARTNER_URL"),
        state_dir=Path(_setting(cfg, "state_dir", "TWIN_STATE_DIR")),
        now=control.twin_now,
        fault=faults.is_on,
        log=logs.get_logger("engine"),
        webhook_log=logs.get_logger("webhooks"),
        max_concurrency=MAX_CONCURRENT_EXECUTIONS,
    )


async def _main() -> None:
    rt = await build_runtime()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    rt.log.info("workflow engine started", partner_url=rt.partner_url)
    try:
        await serve(rt, stop)
    finally:
        rt.log.info("workflow engine stopped")
        await rt.pool.close()


def run() -> None:
    asyncio.run(_main())
