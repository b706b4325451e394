"""What the engine needs from the outside world, gathered in one object.

Built from the shared twin modules in `main.run()`; tests build it with a real pool and their own
clock, so every engine part is testable without the API process.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import httpx

# the documented engine defaults (README "Documented settings")
WORKFLOW_TIMEOUT_S = 3600
RETRY_DEFAULTS = {
    "max_attempts": 3,
    "initial_delay_ms": 1000,
    "backoff_multiplier": 2,
    "max_delay_ms": 60000,
    "retry_on_errors": ["NETWORK_ERROR", "TIMEOUT", "RATE_LIMIT", "EXTERNAL_API_ERROR"],
}
BREAKER_THRESHOLD = 5
BREAKER_TIMEOUT_MS = 30000
CACHE_TTL_S = 3600
CONTEXT_MAX_MB = 100
CONTEXT_CLEANUP_AT = 0.8
PARTNER_TIMEOUT_S = 10.0


@dataclass
class Runtime:
    pool: Any                              # psycopg_pool.AsyncConnectionPool
    partner_url: str
    state_dir: Path
    now: Callable[[], float]               # twin time (epoch seconds)
    fault: Callable[[str], bool]           # is a fault switch on?
    log: Any                               # logger: .info/.warn/.error(msg, **fields)
    webhook_log: Any
    http: httpx.AsyncClient | None = None  # partner calls; created lazily in the loop
    webhook_queue: asyncio.Queue | None = None
    owned: set[str] = field(default_factory=set)  # execution ids this process is running
    max_concurrency: int = 50

    def partner_client(self) -> httpx.AsyncClient:
        if self.http is None:
            self.http = httpx.AsyncClient(timeout=PARTNER_TIMEOUT_S)
        return self.http

    async def aclose(self) -> None:
        if self.http is not None:
            await self.http.aclose()
            self.http = None
