"""DB outage through a real Toxiproxy: the engine survives, loses nothing, strands nothing."""
from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from cloudflow_twin.engine import testing as t

CANDIDATES = [shutil.which("toxiproxy-server"),
              os.path.expanduser("~/.cache/cloudflow-checks/bin/toxiproxy-server")]  # scripts/setup.sh
TOXIPROXY = next((p for p in CANDIDATES if p and Path(p).is_file()), None)


@pytest.fixture(autouse=True)
def _toxiproxy_installed():
    if TOXIPROXY is None:
        pytest.fail("toxiproxy-server not installed: run scripts/setup.sh")


@pytest.fixture(scope="module")
def pg():
    server = t.PostgresServer().start()
    yield server
    server.stop()


@pytest.fixture
def db_url(pg):
    with pg.database() as url:
        yield url


@pytest.fixture
def toxiproxy(tmp_path):
    port = t.free_port()
    api = f"http://127.0.0.1:{port}"
    with open(tmp_path / "toxiproxy.log", "w") as out:
        proc = subprocess.Popen([TOXIPROXY, "-host", "127.0.0.1", "-port", str(port)],
                                stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                httpx.get(f"{api}/version", timeout=1).raise_for_status()
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield api
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def proxied(toxiproxy, db_url) -> str:
    """Create the `postgres` proxy to the test server; return db_url rewritten through it."""
    listen = t.free_port()
    upstream = db_url.split("@", 1)[1].split("/", 1)[0]
    httpx.post(f"{toxiproxy}/proxies", json={"name": "postgres", "listen": f"127.0.0.1:{listen}",
                                              "upstream": upstream}).raise_for_status()
    return db_url.replace(upstream, f"127.0.0.1:{listen}")


def set_enabled(toxiproxy, enabled: bool) -> None:
    httpx.post(f"{toxiproxy}/proxies/postgres", json={"enabled": enabled}).raise_for_status()


def test_engine_survives_outage_and_finishes_everything_after_heal(db_url, tmp_path, toxiproxy):
    via_proxy = proxied(toxiproxy, db_url)
    short = t.insert_workflow(db_url, [{"name": "work", "type": "sleep", "seconds": 150},
                                       {"name": "after", "type": "noop"}], timeout_s=60)
    long = t.insert_workflow(db_url, [{"name": "work", "type": "sleep", "seconds": 150}])
    ex_timeout, ex_success = t.insert_execution(db_url, short), t.insert_execution(db_url, long)
    clock = t.TwinClock()
    rt = t.make_runtime(db_url, tmp_path, clock=clock, database_url_for_pool=via_proxy)
    heartbeat = tmp_path / "engine.heartbeat"

    async def scenario():
        async with t.running_engine(rt) as engine:
            await t.wait_step(db_url, ex_timeout, 0, "RUNNING")
            await t.wait_step(db_url, ex_success, 0, "RUNNING")
            await asyncio.to_thread(set_enabled, toxiproxy, False)
            clock.advance(200)  # one run passes its deadline, the other finishes its sleep
            ex_new = await asyncio.to_thread(t.insert_execution, db_url, long)  # arrives mid-outage
            await t.wait_for(lambda: any(line["message"] == "database server unreachable"
                                         for line in t.log_lines(tmp_path)), 15, "outage logged")
            await asyncio.sleep(2)
            assert not engine.done()
            assert time.time() - float(heartbeat.read_text()) < 1.0  # alive throughout
            assert t.execution(db_url, ex_timeout)["status"] == "RUNNING"  # nothing written yet
            await asyncio.to_thread(set_enabled, toxiproxy, True)
            await t.wait_step(db_url, ex_new, 0, "RUNNING")  # claimed once the database is back
            clock.advance(150)
            return [await t.wait_status(db_url, ex, t.TERMINAL_STATUSES, timeout=20)
                    for ex in (ex_timeout, ex_success, ex_new)]
    timed_out, succeeded, late = asyncio.run(scenario())
    assert timed_out["status"] == "TIMEOUT"
    assert timed_out["error"] == "WorkflowExecutionError: Workflow exceeded maximum execution time of 60 seconds"
    assert [s["status"] for s in timed_out["steps"]] == ["TIMEOUT", "SKIPPED"]
    assert succeeded["status"] == "SUCCESS" and succeeded["steps"][0]["duration_s"] == 150
    assert late["status"] == "SUCCESS"
    assert any(line["message"] == "database connection restored" for line in t.log_lines(tmp_path))


def test_idle_engine_backs_off_during_long_outage_and_resumes(db_url, tmp_path, toxiproxy):
    via_proxy = proxied(toxiproxy, db_url)
    wf = t.insert_workflow(db_url, [{"name": "a", "type": "noop"}])
    rt = t.make_runtime(db_url, tmp_path, database_url_for_pool=via_proxy)

    def loop_lines():
        return [line for line in t.log_lines(tmp_path) if "context" not in line]

    async def scenario():
        async with t.running_engine(rt) as engine:
            await asyncio.sleep(0.5)
            await asyncio.to_thread(set_enabled, toxiproxy, False)
            await t.wait_for(lambda: any(line["message"] == "database server unreachable"
                                         for line in loop_lines()), 15, "scheduler outage log")
            ex = await asyncio.to_thread(t.insert_execution, db_url, wf)
            assert not engine.done()
            await asyncio.to_thread(set_enabled, toxiproxy, True)
            return await t.wait_status(db_url, ex, "SUCCESS", timeout=15)
    asyncio.run(scenario())
    messages = [line["message"] for line in loop_lines()]
    assert messages.count("database server unreachable") == 1  # once per outage, not per poll
    assert "database connection restored" in messages
