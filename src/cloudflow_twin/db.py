"""Database access for the twin: one psycopg 3 AsyncConnectionPool with the documented settings.

`create_pool(settings)` -> TwinPool (call `await pool.open()`); `async with pool.connection() as
conn:` acquires with wait statistics (DB-04) and turns pool/connection failures into
`DatabaseUnavailable` carrying the documented wording (DB-02/DB-03). `pool.fetch_all/fetch_one/
execute` time each query, log `slow query took <ms>ms: <sql>` over 1000 ms (LOG-03) and add the time
to the per-request `db_time` accumulator (PERF-03 breakdown). Migrations: `run_migrations(conninfo)`.
"""
from __future__ import annotations

import asyncio
import contextvars
import time
from contextlib import asynccontextmanager
from pathlib import Path

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool, PoolTimeout
from psycopg_pool.pool_async import AddConnection

from . import faults, logs

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
log = logs.get_logger("database")

# per-request accumulator of milliseconds spent in the database (set by the API middleware)
db_time: contextvars.ContextVar[list | None] = contextvars.ContextVar("db_time", default=None)

# last outcome of opening a server connection, shared by every pool in the process
_connect_state = {"ok_at": 0.0, "failed_at": 0.0, "error": None}


class DatabaseUnavailable(Exception):
    """The database cannot serve: kind 'pool_exhausted' or 'unreachable'; message is the documented one."""

    def __init__(self, kind: str, message: str, detail: str | None = None):
        super().__init__(message)
        self.kind, self.message, self.detail = kind, message, detail


def _describe_connect_error(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if "timeout" in text.lower():
        return "connection timeout after 30000ms"
    return text


class _TrackedConnection(psycopg.AsyncConnection):
    """Records whether opening server connections works, so a pool timeout can be told apart
    from an unreachable server (DB-02 vs DB-03)."""

    @classmethod
    async def connect(cls, *args, **kwargs):
        try:
            conn = await super().connect(*args, **kwargs)
        except Exception as exc:
            first = _connect_state["failed_at"] <= _connect_state["ok_at"]
            _connect_state.update(failed_at=time.monotonic(), error=_describe_connect_error(exc))
            if first:
                log.error(f"could not connect to database server: {_connect_state['error']}",
                          error_type="database_unreachable")
            raise
        _connect_state["ok_at"] = time.monotonic()
        return conn


def database_down_recently(window_s: float = 60.0) -> str | None:
    """The last connect error when the latest connect attempt failed within window_s, else None."""
    failed, ok = _connect_state["failed_at"], _connect_state["ok_at"]
    if failed > ok and time.monotonic() - failed < window_s:
        return _connect_state["error"]
    return None


def unreachable(detail: str | None = None) -> DatabaseUnavailable:
    return DatabaseUnavailable("unreachable", "database server unreachable", detail)


class _GrowingPool(AsyncConnectionPool):
    """psycopg_pool grows one connection at a time while clients wait; a burst then never sees
    the pool at its max (DB-02 "100/100 in use"). Grow with several connects in parallel instead.
    Relies on psycopg_pool internals (pinned in requirements.lock)."""

    GROW_IN_PARALLEL = 8

    def _maybe_grow_pool(self) -> None:
        if self._nconns >= self._max_size or self._growing:
            return
        self._growing = True
        for _ in range(min(self.GROW_IN_PARALLEL, self._max_size - self._nconns, max(1, len(self._waiting)))):
            self._nconns += 1
            self.run_task(AddConnection(self, growing=True))


class TwinPool:
    """Wrapper of AsyncConnectionPool with acquire-wait statistics and documented error wording."""

    def __init__(self, conninfo: str, *, min_size: int, max_size: int, timeout: float,
                 max_idle: float, max_lifetime: float, connect_timeout: int, name: str):
        self.timeout = timeout
        self.pool = _GrowingPool(
            conninfo, open=False, num_workers=_GrowingPool.GROW_IN_PARALLEL, min_size=min_size, max_size=max_size, timeout=timeout,
            max_idle=max_idle, max_lifetime=max_lifetime, name=name,
            connection_class=_TrackedConnection,
            kwargs={"connect_timeout": connect_timeout, "autocommit": True, "row_factory": dict_row,
                    "application_name": f"cloudflow-twin-{name}"})
        self._waits = 0
        self._wait_total_ms = 0.0
        self._wait_max_ms = 0.0
        self._leaked: list = []
        self._checking = False

    async def open(self, wait: bool = False, timeout: float = 30.0) -> None:
        """Open the pool (background connection filling unless wait=True)."""
        await self.pool.open(wait=wait, timeout=timeout)

    async def close(self) -> None:
        await self.release_leaked()
        await self.pool.close(timeout=5.0)

    async def resize(self, max_size: int) -> None:
        await self.pool.resize(min(self.pool.min_size, max_size), max_size)

    def _record_wait(self, ms: float) -> None:
        self._waits += 1
        self._wait_total_ms += ms
        self._wait_max_ms = max(self._wait_max_ms, ms)

    def _exhausted(self) -> DatabaseUnavailable:
        down = database_down_recently()
        if down:
            return unreachable(down)
        stats = self.pool.get_stats()
        in_use = stats.get("pool_size", 0) - stats.get("pool_available", 0)
        return DatabaseUnavailable(
            "pool_exhausted", f"could not obtain connection from pool within {int(self.timeout * 1000)}ms",
            f"connection pool exhausted ({in_use}/{self.pool.max_size} connections in use)")

    async def getconn(self, timeout: float | None = None):
        """Acquire a raw connection (caller must `putconn`); raises DatabaseUnavailable."""
        timeout = self.timeout if timeout is None else timeout
        if faults.is_on("no_acquire_timeout"):
            timeout = 3600.0
        elif faults.is_on("acquire_gives_up_early"):
            timeout = min(timeout, 1.0)
        start = time.perf_counter()
        try:
            conn = await self.pool.getconn(timeout=timeout)
        except PoolTimeout:
            self._record_wait((time.perf_counter() - start) * 1000)
            err = self._exhausted()
            log.error(f"{err.message}: {err.detail}", error_type=err.kind)
            raise err from None
        self._record_wait((time.perf_counter() - start) * 1000)
        return conn

    async def putconn(self, conn) -> None:
        await self.pool.putconn(conn)

    @asynccontextmanager
    async def connection(self, timeout: float | None = None):
        """Acquire a connection; a broken server link becomes DatabaseUnavailable('unreachable')."""
        conn = await self.getconn(timeout)
        try:
            yield conn
        except psycopg.OperationalError as exc:
            if isinstance(exc, psycopg.errors.DeadlockDetected):
                if faults.is_on("deadlock_wording"):
                    log.error("lock cycle between transactions", error_type="lock_cycle")
                    raise DatabaseUnavailable("deadlock", "lock cycle between transactions") from exc
                log.error(f"deadlock detected: {exc}", error_type="deadlock_detected")
                raise DatabaseUnavailable("deadlock", "deadlock detected") from exc
            if conn.broken or conn.closed:
                detail = _describe_connect_error(exc)
                log.error(f"database server unreachable: {detail}", error_type="database_unreachable")
                self._purge_dead_idle()
                raise unreachable(detail) from exc
            raise
        finally:
            await self.pool.putconn(conn)

    def _purge_dead_idle(self) -> None:
        """Check idle connections in the background so one outage fails few requests afterwards."""
        if self._checking:
            return
        self._checking = True

        async def run():
            try:
                await self.pool.check()
            except Exception:
                pass
            finally:
                self._checking = False
        asyncio.get_running_loop().create_task(run())

    async def _timed(self, conn, sql: str, params, fetch: str):
        start = time.perf_counter()
        try:
            cur = await conn.execute(sql, params)
            if fetch == "all":
                return await cur.fetchall()
            if fetch == "one":
                return await cur.fetchone()
            return cur.rowcount
        finally:
            ms = (time.perf_counter() - start) * 1000
            acc = db_time.get()
            if acc is not None:
                acc[0] += ms
            if ms > 1000:
                log.warn(f"slow query took {int(ms)}ms: {' '.join(sql.split())}", duration_ms=int(ms))

    async def fetch_all(self, sql: str, params=None, conn=None) -> list[dict]:
        if conn is not None:
            return await self._timed(conn, sql, params, "all")
        async with self.connection() as c:
            return await self._timed(c, sql, params, "all")

    async def fetch_one(self, sql: str, params=None, conn=None) -> dict | None:
        if conn is not None:
            return await self._timed(conn, sql, params, "one")
        async with self.connection() as c:
            return await self._timed(c, sql, params, "one")

    async def execute(self, sql: str, params=None, conn=None) -> int:
        if conn is not None:
            return await self._timed(conn, sql, params, "none")
        async with self.connection() as c:
            return await self._timed(c, sql, params, "none")

    async def leak_one(self) -> None:
        """DB-05 fault: take a connection and never give it back (until release_leaked)."""
        self._leaked.append(await self.getconn())

    async def release_leaked(self) -> None:
        leaked, self._leaked = self._leaked, []
        for conn in leaked:
            await self.pool.putconn(conn)

    def stats(self) -> dict:
        """Pool status (DB-04): total, max, min, active, idle, waiting, avg/max wait, settings."""
        s = self.pool.get_stats()
        total, idle = s.get("pool_size", 0), s.get("pool_available", 0)
        return {"total": total, "max": self.pool.max_size, "min": self.pool.min_size,
                "active": total - idle, "idle": idle, "waiting": s.get("requests_waiting", 0),
                "avg_wait_ms": round(self._wait_total_ms / self._waits, 3) if self._waits else 0.0,
                "max_wait_ms": round(self._wait_max_ms, 3),
                "idle_timeout_s": int(self.pool.max_idle), "max_lifetime_s": int(self.pool.max_lifetime),
                "acquire_timeout_ms": int(self.timeout * 1000)}


def create_pool(settings, *, min_size: int | None = None, max_size: int | None = None,
                name: str = "api") -> TwinPool:
    """A TwinPool with the documented settings (max 100, min 10, idle 300 s, lifetime 1800 s,
    acquire 5000 ms, connect timeout 30 s); not yet open: `await pool.open()`."""
    settings.require("database_url")
    if max_size is None:
        max_size = 50 if faults.is_on("pool_max_50") else settings.pool_max
    return TwinPool(settings.database_url, min_size=settings.pool_min if min_size is None else min_size,
                    max_size=max_size, timeout=settings.pool_acquire_timeout_s,
                    max_idle=settings.pool_max_idle_s, max_lifetime=settings.pool_max_lifetime_s,
                    connect_timeout=settings.connect_timeout_s, name=name)


def migration_files() -> list[Path]:
    return sorted(MIGRATIONS_DIR.glob("*.sql"))


async def run_migrations(conninfo: str) -> list[str]:
    """Apply pending migrations/*.sql in order (each in a transaction, under an advisory lock);
    record them in schema_migrations; return the versions applied now."""
    applied_now = []
    async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True, connect_timeout=30) as conn:
        await conn.execute("SELECT pg_advisory_lock(724201)")
        try:
            await conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations ("
                               "version text PRIMARY KEY, applied_at double precision NOT NULL)")
            done = {r[0] for r in await (await conn.execute("SELECT version FROM schema_migrations")).fetchall()}
            for path in migration_files():
                if path.name in done:
                    continue
                async with conn.transaction():
                    await conn.execute(path.read_text())
                    await conn.execute("INSERT INTO schema_migrations VALUES (%s, %s)", (path.name, time.time()))
                applied_now.append(path.name)
        finally:
            await conn.execute("SELECT pg_advisory_unlock(724201)")
    return applied_now


async def migrations_pending(conninfo: str) -> list[str]:
    """Migration files not yet recorded in schema_migrations (all of them if the table is missing)."""
    async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True, connect_timeout=10) as conn:
        try:
            done = {r[0] for r in await (await conn.execute("SELECT version FROM schema_migrations")).fetchall()}
        except psycopg.errors.UndefinedTable:
            done = set()
    return [p.name for p in migration_files() if p.name not in done]


async def wait_for_migrations(conninfo: str, timeout_s: float = 60.0, poll_s: float = 0.25) -> None:
    """Poll until every migration is applied (the engine waits for the API); TimeoutError at deadline."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if not await migrations_pending(conninfo):
                return
        except psycopg.OperationalError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"migrations not applied within {timeout_s:.0f}s")
        await asyncio.sleep(poll_s)
