"""Real processes for the API tests: a PostgreSQL server, a Toxiproxy server and `cloudflow-twin api`.

Other test_api_* modules import the fixtures from here (`from test_api_harness import ...`).
Every process is started on a free loopback port and stopped at teardown; waits poll with deadlines.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import pytest

PG_BIN = Path(os.environ.get("TWIN_PG_BIN", "/usr/lib/postgresql/15/bin"))
TOXIPROXY_CANDIDATES = ("toxiproxy-server",
                        str(Path.home() / ".cache/cloudflow-checks/bin/toxiproxy-server"))  # scripts/setup.sh
ADMIN_TOKEN = "test-admin-token"
SIGNING_KEY = "test-signing-key-0123456789abcdef0123456789"
PASSWORD = "pw"
SEED = {
    "workspaces": [{"id": "ws_platform", "name": "Platform", "tier": "enterprise"},
                   {"id": "ws_free", "name": "Free", "tier": "free"},
                   {"id": "ws_other", "name": "Other", "tier": "standard"},
                   {"id": "ws_premium", "name": "Premium", "tier": "premium"}],
    "users": [{"email": "platform@cloudflow.local", "workspace_id": "ws_platform", "roles": ["platform-admin"]},
              {"email": "admin@free.local", "workspace_id": "ws_free", "roles": ["admin"]},
              {"email": "viewer@free.local", "workspace_id": "ws_free", "roles": ["viewer"]},
              {"email": "dev@free.local", "workspace_id": "ws_free", "roles": ["developer"]},
              {"email": "op@free.local", "workspace_id": "ws_free", "roles": ["operator"]},
              {"email": "admin@other.local", "workspace_id": "ws_other", "roles": ["admin"]},
              {"email": "admin@premium.local", "workspace_id": "ws_premium", "roles": ["admin"]}],
}
for _user in SEED["users"]:
    _user["password"] = PASSWORD


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate, timeout: float, what: str, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(interval)
    raise TimeoutError(f"{what} not ready within {timeout}s")


def _as_postgres(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


class Postgres:
    """A throwaway PostgreSQL cluster (max_connections 300) in its own directory and port."""

    def __init__(self):
        self.dir = Path(tempfile.mkdtemp(prefix="twinapi-pg-"))
        self.port = free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> "Postgres":
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres")
        data = self.dir / "data"
        subprocess.run(_as_postgres([str(PG_BIN / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust"]),
                       check=True, capture_output=True)
        opts = (f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c max_connections=300 "
                "-c fsync=off -c synchronous_commit=off")
        subprocess.run(_as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(data), "-o", opts, "-l",
                                     str(self.dir / "pg.log"), "-w", "-t", "60", "start"]),
                       check=True, capture_output=True)
        return self

    def create_database(self, name: str) -> str:
        import psycopg
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        subprocess.run(_as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(self.dir / "data"), "-m", "fast",
                                     "-w", "-t", "30", "stop"]), capture_output=True)
        shutil.rmtree(self.dir, ignore_errors=True)


class Toxiproxy:
    """A real Toxiproxy server and a tiny client for proxies and toxics."""

    def __init__(self):
        self.binary = next((shutil.which(c) or c for c in TOXIPROXY_CANDIDATES if shutil.which(c) or Path(c).exists()),
                           None)
        self.port = free_port()
        self.api = f"http://127.0.0.1:{self.port}"
        self.proc = None

    def start(self) -> "Toxiproxy":
        if self.binary is None:
            pytest.fail("no Toxiproxy server binary: run scripts/setup.sh")
        self.proc = subprocess.Popen([self.binary, "-host", "127.0.0.1", "-port", str(self.port)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(lambda: self._up(), 15, "toxiproxy")
        return self

    def _up(self) -> bool:
        try:
            return httpx.get(self.api + "/version", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def proxy(self, name: str, upstream_port: int) -> int:
        listen = free_port()
        r = httpx.post(self.api + "/proxies", json={"name": name, "listen": f"127.0.0.1:{listen}",
                                                    "upstream": f"127.0.0.1:{upstream_port}", "enabled": True})
        r.raise_for_status()
        return listen

    def set_enabled(self, name: str, enabled: bool) -> None:
        httpx.post(f"{self.api}/proxies/{name}", json={"enabled": enabled}).raise_for_status()

    def add_latency(self, proxy: str, name: str, latency_ms: int, stream: str = "downstream") -> None:
        httpx.post(f"{self.api}/proxies/{proxy}/toxics", json={
            "name": name, "type": "latency", "stream": stream, "toxicity": 1.0,
            "attributes": {"latency": latency_ms, "jitter": 0}}).raise_for_status()

    def remove_toxic(self, proxy: str, name: str) -> None:
        httpx.delete(f"{self.api}/proxies/{proxy}/toxics/{name}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


class TwinApi:
    """`python -m cloudflow_twin api` as a subprocess with its own state dir, plus HTTP helpers."""

    def __init__(self, database_url: str, extra_env: dict | None = None):
        self.state_dir = Path(tempfile.mkdtemp(prefix="twinapi-state-"))
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        seed = self.state_dir / "seed.json"
        seed.write_text(json.dumps(SEED))
        self.env = {**os.environ, "TWIN_DATABASE_URL": database_url, "TWIN_STATE_DIR": str(self.state_dir),
                    "TWIN_TEST_MODE": "1", "TWIN_ADMIN_TOKEN": ADMIN_TOKEN, "TWIN_SIGNING_KEY": SIGNING_KEY,
                    "TWIN_SEED_FILE": str(seed), "TWIN_PARTNER_URL": f"http://127.0.0.1:{free_port()}",
                    **(extra_env or {})}
        self.proc = None
        self.http = httpx.Client(base_url=self.base, timeout=60)

    def start(self) -> "TwinApi":
        self.proc = subprocess.Popen([sys.executable, "-m", "cloudflow_twin", "api", "--port", str(self.port)],
                                     env=self.env, stdout=open(self.state_dir / "stdout.log", "w"),
                                     stderr=subprocess.STDOUT)
        wait_until(self._up, 60, "twin api")
        return self

    def _up(self) -> bool:
        if self.proc.poll() is not None:
            raise RuntimeError("twin api exited: " + (self.state_dir / "stdout.log").read_text()[-2000:])
        try:
            return self.http.get("/openapi.json", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self) -> None:
        self.http.close()
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        shutil.rmtree(self.state_dir, ignore_errors=True)

    # --- helpers used by the tests
    def login(self, user: str) -> dict:
        r = self.http.post("/auth/login", json={"username": user, "password": PASSWORD})
        assert r.status_code == 200, r.text
        return r.json()

    def token(self, user: str) -> dict:
        return {"Authorization": "Bearer " + self.login(user)["access_token"]}

    def control(self, method: str, path: str, **kw) -> httpx.Response:
        r = self.http.request(method, "/_twin" + path, headers={"X-Twin-Admin-Token": ADMIN_TOKEN}, **kw)
        assert r.status_code == 200, r.text
        return r

    def set_faults(self, *names: str) -> None:
        self.control("PUT", "/faults", json={"enabled": list(names)})

    def advance(self, seconds: float) -> None:
        self.control("POST", "/clock", json={"advance_s": seconds})

    def log_lines(self) -> list[str]:
        path = self.state_dir / "logs" / "api.log"
        return path.read_text().splitlines() if path.exists() else []

    def wait_log(self, needle: str, timeout: float = 3.0) -> str:
        """The first api.log line containing needle (lines are flushed in ~20 ms batches)."""
        return wait_until(lambda: next((l for l in self.log_lines() if needle in l), None), timeout, needle, 0.05)

    def json_logs(self) -> list[dict]:
        return [json.loads(line) for line in self.log_lines() if line.startswith("{")]


@pytest.fixture(scope="session")
def pg_server():
    server = Postgres().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def api(pg_server, request):
    """A twin API on its own fresh database (module scope); faults and limits reset per test."""
    url = pg_server.create_database("api_" + request.module.__name__.rsplit(".", 1)[-1].lower()[:40])
    twin = TwinApi(url).start()
    yield twin
    twin.stop()


@pytest.fixture(autouse=True)
def _clean_twin(request):
    yield
    if "api" in request.fixturenames:
        twin = request.getfixturevalue("api")
        if twin.proc and twin.proc.poll() is None:
            twin.control("PUT", "/faults", json={"enabled": []})
            twin.control("POST", "/clock", json={"offset_s": 0})
            twin.control("POST", "/reset-limits")
