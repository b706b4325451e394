"""What the engine needs from the outside world, gathered in one object.

Built from the shared twin modules in `main.run()`; tests build it with a real pool and their own
clock, so every engine part is testable without the API process.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Awaitable, Callable

import httpx



@dataclass
class Runtime:
    settings: Any                          # cloudflow_twin.settings.Settings (documented defaults)
    pool: Any                              # cloudflow_twin.db.TwinPool
    partner_url: str
    state_dir: Path
    now: Callable[[], float]               # twin time (epoch seconds)
    fault: Callable[[str], bool]           # is a fault switch on?
    log: Any                               # logger: .info/.warn/.error(msg, **fields)
    webhook_log: Any
    schema_ready: Callable[[], Awaitable[bool]] | None = None  # migrations applied?
    http: httpx.AsyncClient | None = None  # partner calls; created lazily in the loop
    webhook_queue: asyncio.Queue | None = None
    owned: set[str] = field(default_factory=set)  # execution ids this process is running
    max_concurrency: int = 50

    def retry_defaults(self) -> dict:
        s = self.settings
        return {"max_attempts": s.retry_max_attempts, "initial_delay_ms": s.retry_initial_delay_ms,
                "backoff_multiplier": s.retry_backoff_multiplier,
                "max_delay_ms": s.retry_max_delay_ms, "retry_on_errors": list(s.retry_on_errors)}

    def partner_client(self) -> httpx.AsyncClient:
        if self.http is None:
            self.http = httpx.AsyncClient(timeout=self.settings.partner_timeout_s)
        return self.http

    async def aclose(self) -> None:
        if self.http is not None:
            await self.http.aclose()
            self.http = None
