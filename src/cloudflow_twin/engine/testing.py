"""Harness for the engine's own tests (tests/twin/test_engine_*.py); the twin never imports it.

Real parts only: a throwaway PostgreSQL server (Debian's binaries, run as `postgres`), a fresh
database per test with the twin's migrations, the shared pool and JSON logs, the partner stub and
a webhook receiver served over loopback HTTP. The twin clock is a local offset the test moves.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import shutil
import socket
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import psycopg
from psycopg.types.json import Jsonb

from cloudflow_twin import control, db, logs, settings as settings_mod

from .runtime import Runtime
from .scheduler import serve

PG_BIN = Path("/usr/lib/postgresql/15/bin")
POLL_S = 0.05
TERMINAL_STATUSES = ("SUCCESS", "FAILED", "FAILED_AFTER_RETRIES", "TIMEOUT")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _as_postgres(args: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


class PostgresServer:
    """A PostgreSQL server in `base_dir` on `port`; reused when already running there."""

    def __init__(self, base_dir: str = "/tmp/twinengine/pgtest", port: int = 56433):
        self.base, self.port, self.started_here = Path(base_dir), port, False
        self.url = f"postgresql://postgres@127.0.0.1:{port}/postgres"

    def _ready(self) -> bool:
        try:
            with psycopg.connect(self.url, connect_timeout=2):
                return True
        except psycopg.OperationalError:
            return False

    def start(self) -> "PostgresServer":
        if self._ready():
            return self
        data = self.base / "data"
        self.base.mkdir(parents=True, exist_ok=True)
        shutil.chown(self.base, "postgres") if os.geteuid() == 0 else None
        if not (data / "PG_VERSION").exists():
            subprocess.run(_as_postgres([str(PG_BIN / "initdb"), "-D", str(data), "-U", "postgres",
                                         "--auth=trust", "-E", "UTF8"]),
                           check=True, capture_output=True, timeout=120)
        opts = (f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1 "
                "-c max_connections=300 -c fsync=off")
        subprocess.run(_as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(data), "-l",
                                     str(self.base / "server.log"), "-o", opts, "-w", "-t", "60",
                                     "start"]), check=True, capture_output=True, timeout=90)
        self.started_here = True
        return self

    def stop(self) -> None:
        if self.started_here:
            subprocess.run(_as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(self.base / "data"),
                                         "-m", "fast", "-w", "stop"]), capture_output=True, timeout=60)

    @contextlib.contextmanager
    def database(self):
        """A fresh database with the twin's migrations applied; dropped afterwards."""
        name = "eng_" + secrets.token_hex(4)
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        url = self.url.rsplit("/", 1)[0] + "/" + name
        try:
            asyncio.run(db.run_migrations(url))
            yield url
        finally:
            with psycopg.connect(self.url, autocommit=True) as conn:
                conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


class TwinClock:
    """Twin time for tests: wall clock plus an offset the test advances."""

    def __init__(self):
        self.offset = 0.0

    def now(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


class FaultSet(set):
    def is_on(self, name: str) -> bool:
        return name in self


def make_runtime(db_url: str, state_dir: Path, *, partner_url: str = "http://127.0.0.1:9",
                 clock: TwinClock | None = None, faults: FaultSet | None = None,
                 database_url_for_pool: str | None = None) -> Runtime:
    """A Runtime on the shared TwinPool and JSON logs (logs/engine.log in state_dir)."""
    state_dir.mkdir(parents=True, exist_ok=True)
    control.init(state_dir)
    logs.configure("engine", state_dir)
    cfg = settings_mod.Settings(database_url=database_url_for_pool or db_url,
                                partner_url=partner_url, state_dir=state_dir)
    clock = clock or TwinClock()
    return Runtime(settings=cfg, pool=db.create_pool(cfg, min_size=1, max_size=10, name="enginetest"),
                   partner_url=partner_url, state_dir=state_dir, now=clock.now,
                   fault=(faults if faults is not None else FaultSet()).is_on,
                   log=logs.get_logger("engine"), webhook_log=logs.get_logger("webhooks"))


@contextlib.asynccontextmanager
async def running_engine(rt: Runtime):
    """The engine loop in this event loop, stopped (and its pool closed) on exit."""
    await rt.pool.open(wait=False)
    stop = asyncio.Event()
    task = asyncio.create_task(serve(rt, stop))
    try:
        yield task
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=30)
        await rt.pool.close()


def log_lines(state_dir: Path) -> list[dict]:
    path = Path(state_dir) / "logs" / "engine.log"
    return [json.loads(line) for line in path.read_text().splitlines() if line.startswith("{")]


# --- rows -------------------------------------------------------------------------------------

def sql(url: str, query: str, params=(), fetch: bool = True):
    with psycopg.connect(url, autocommit=True, row_factory=psycopg.rows.dict_row) as conn:
        cur = conn.execute(query, params)
        return cur.fetchall() if fetch and cur.description else None


def insert_workflow(url: str, steps: list[dict], *, timeout_s: int = 3600, retry_policy=None,
                    trigger=None, workspace_id: str = "ws_enginetest") -> str:
    now = time.time()
    sql(url, "INSERT INTO workspaces (id, name, tier, created_at) VALUES (%s, %s, 'enterprise', %s) "
             "ON CONFLICT DO NOTHING", (workspace_id, workspace_id, now))
    wf_id = "wf_" + secrets.token_hex(5)
    sql(url, "INSERT INTO workflows (id, workspace_id, name, timeout_s, retry_policy, steps, trigger,"
             " created_by, created_at, updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s, 'test', %s, %s)",
        (wf_id, workspace_id, wf_id, timeout_s, Jsonb(retry_policy or {}), Jsonb(steps),
         Jsonb(trigger) if trigger else None, now, now))
    return wf_id


def insert_execution(url: str, wf_id: str, *, workspace_id: str = "ws_enginetest",
                     correlation_id: str | None = None) -> str:
    exec_id = "exec_" + secrets.token_hex(5)
    sql(url, "INSERT INTO executions (id, workflow_id, workspace_id, correlation_id, created_at) "
             "VALUES (%s, %s, %s, %s, %s)", (exec_id, wf_id, workspace_id, correlation_id, time.time()))
    return exec_id


def execution(url: str, exec_id: str) -> dict:
    row = sql(url, "SELECT * FROM executions WHERE id = %s", (exec_id,))[0]
    row["steps"] = sql(url, "SELECT * FROM execution_steps WHERE execution_id = %s ORDER BY position",
                       (exec_id,))
    row["attempts"] = sql(url, "SELECT * FROM execution_attempts WHERE execution_id = %s "
                               "ORDER BY step, attempt", (exec_id,))
    return row


async def wait_for(predicate, timeout: float, what: str):
    """Poll `predicate()` (sync) until truthy; AssertionError naming `what` at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = await asyncio.to_thread(predicate)
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(POLL_S)


async def wait_status(url: str, exec_id: str, statuses, timeout: float = 20) -> dict:
    statuses = (statuses,) if isinstance(statuses, str) else tuple(statuses)

    def check():
        row = execution(url, exec_id)
        return row if row["status"] in statuses else None
    return await wait_for(check, timeout, f"{exec_id} to reach {statuses}")


async def wait_step(url: str, exec_id: str, position: int, status: str, timeout: float = 20) -> dict:
    def check():
        rows = sql(url, "SELECT * FROM execution_steps WHERE execution_id = %s AND position = %s",
                   (exec_id, position))
        return rows[0] if rows and rows[0]["status"] == status else None
    return await wait_for(check, timeout, f"{exec_id} step {position} to be {status}")


# --- loopback HTTP servers in threads ---------------------------------------------------------

class ThreadedUvicorn:
    """Serve an ASGI app on 127.0.0.1:<free port> in a thread (for the partner stub)."""

    def __init__(self, app):
        import uvicorn

        self.port = free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port,
                                                    log_config=None, access_log=False))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.url = f"http://127.0.0.1:{self.port}"

    def __enter__(self):
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(timeout=10)


class WebhookReceiver:
    """Records every POST (headers and raw body); answers `status`."""

    def __init__(self, status: int = 200):
        received, self.status = [], status
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                received.append({"headers": dict(self.headers), "body": body, "at": time.time()})
                self.send_response(outer.status)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.received = received
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
