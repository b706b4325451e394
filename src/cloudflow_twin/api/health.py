"""Dependency probes for GET /health (HEALTH-01): database round trip on a dedicated connection
(so pool exhaustion does not read as a database outage), engine heartbeat age, partner reachability."""
from __future__ import annotations

import asyncio
import os
import time

import httpx
import psycopg

from .. import db, faults


class HealthProbe:
    def __init__(self, settings):
        self.settings = settings
        self._conn: psycopg.AsyncConnection | None = None
        self._lock = asyncio.Lock()
        self._http = httpx.AsyncClient(timeout=2.0)

    async def close(self) -> None:
        await self._http.aclose()
        if self._conn is not None:
            await self._conn.close()

    async def database(self) -> dict:
        if faults.is_on("health_hides_db"):
            return {"status": "up", "latency_ms": 0.5}
        async with self._lock:
            start = time.perf_counter()
            try:
                async with asyncio.timeout(3.0):
                    await self._round_trip()
            except (TimeoutError, psycopg.Error, OSError) as exc:
                await self._drop_connection()
                reason = db.database_down_recently() or str(exc).strip().splitlines()[0:1]
                return {"status": "down", "error": "database server unreachable",
                        "detail": reason if isinstance(reason, str) else (reason[0] if reason else "timeout")}
            return {"status": "up", "latency_ms": round((time.perf_counter() - start) * 1000, 3)}

    async def _round_trip(self) -> None:
        """SELECT 1 on the kept connection. A kept connection may have been cut while idle (a
        partition that has since healed): that says nothing about the database now, so it is
        replaced once by a fresh one, and only a fresh connection's failure reads as "down"."""
        if self._conn is not None and not (self._conn.closed or self._conn.broken):
            try:
                await self._conn.execute("SELECT 1")
                return
            except (psycopg.OperationalError, OSError):
                await self._drop_connection()
        self._conn = await psycopg.AsyncConnection.connect(
            self.settings.database_url, autocommit=True, connect_timeout=3,
            application_name="cloudflow-twin-health")
        await self._conn.execute("SELECT 1")

    async def _drop_connection(self) -> None:
        if self._conn is not None:
            await self._conn.close()
            self._conn = None

    def engine(self) -> dict:
        try:
            age = time.time() - os.stat(self.settings.heartbeat_file).st_mtime
        except OSError:
            return {"status": "down", "error": "no engine heartbeat"}
        if age >= self.settings.heartbeat_max_age_s:
            return {"status": "down", "error": f"engine heartbeat is {age:.1f}s old", "heartbeat_age_s": round(age, 3)}
        return {"status": "up", "heartbeat_age_s": round(max(age, 0.0), 3)}

    async def partner(self) -> dict:
        if not self.settings.partner_url:
            return {"status": "unknown", "error": "TWIN_PARTNER_URL not configured"}
        start = time.perf_counter()
        try:
            # the stub's call counter endpoint: reachability without counting as a data call
            await self._http.get(self.settings.partner_url + "/_partner/calls")
        except httpx.HTTPError as exc:
            return {"status": "down", "error": f"partner API unreachable: {type(exc).__name__}"}
        return {"status": "up", "latency_ms": round((time.perf_counter() - start) * 1000, 3)}

    async def report(self) -> tuple[int, dict]:
        database, partner = await asyncio.gather(self.database(), self.partner())
        deps = {"database": database, "workflow_engine": self.engine(), "partner_api": partner}
        healthy = all(d["status"] != "down" for d in deps.values())
        from .. import __version__
        return (200 if healthy else 503), {"status": "healthy" if healthy else "unhealthy",
                                           "version": __version__, "dependencies": deps}
