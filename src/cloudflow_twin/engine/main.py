"""`cloudflow-twin engine`: wire the shared twin modules into a Runtime and serve."""
from __future__ import annotations

import asyncio
import signal
import sys

from . import faults as engine_faults  # noqa: F401  (registers the engine's fault switches)
from .runtime import Runtime
from .scheduler import serve

POOL_MIN, POOL_MAX = 2, 20   # the engine holds a connection only for the length of one write
# Above the Premium tier's 200 concurrent workflows, so a full tier runs at once, not queued.
MAX_CONCURRENT_EXECUTIONS = 500


async def build_runtime(cfg) -> Runtime:
    from cloudflow_twin import control, db, faults, logs

    pool = db.create_pool(cfg, min_size=POOL_MIN, max_size=POOL_MAX, name="engine")
    await pool.open(wait=False)  # not waiting: a database outage at start-up is survivable

    async def schema_ready() -> bool:
        return not await db.migrations_pending(cfg.database_url)

    return Runtime(
        settings=cfg, pool=pool, partner_url=cfg.partner_url, state_dir=cfg.state_dir,
        now=control.twin_now, fault=faults.is_on,
        log=logs.get_logger("engine"), webhook_log=logs.get_logger("webhooks"),
        schema_ready=schema_ready, max_concurrency=MAX_CONCURRENT_EXECUTIONS,
    )


async def _main(cfg) -> None:
    rt = await build_runtime(cfg)
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
    from cloudflow_twin import control, logs, settings

    try:
        cfg = settings.load().require("database_url", "partner_url", "state_dir")
    except settings.ConfigError as exc:  # one clear line, exit status 2 (house rule 9)
        print(f"cloudflow-twin engine: {exc}", file=sys.stderr)
        sys.exit(2)
    control.init(cfg.state_dir, cfg.faults_at_start)
    logs.configure("engine", cfg.state_dir)
    asyncio.run(_main(cfg))
