"""The whole local stack with real processes: up, status, idempotent up, concurrent ensure_up,
recovery after SIGKILL of everything, and down leaving no process behind (checked by pid)."""
from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from cloudflow_checks.stack.scratch import scratch_state_dir

from cloudflow_checks import stack
from cloudflow_checks.stack import procs
from cloudflow_checks.stack.errors import PortTaken, SetupMissing
from cloudflow_checks.toxiproxy_client import ToxiproxyAdmin

COMPONENTS = {"postgres", "toxiproxy", "partner", "api", "engine"}


@pytest.fixture(scope="module")
def state_dir():
    with scratch_state_dir("cfc-stack-test-") as folder:
        yield folder


def _records(info: dict) -> list[procs.ProcessRecord]:
    return [procs.ProcessRecord.from_json(c) for c in info["components"].values()]


def _assert_nothing_left(info: dict, state: Path) -> None:
    alive = [r.pid for r in _records(info) if procs.is_alive(r)]
    assert alive == [], f"processes left: {alive}"
    for rec in _records(info):
        assert procs.group_members(rec.pid) == [], f"group {rec.pid} not empty"
    assert procs.with_cwd(state / "pg") == []


@pytest.fixture(scope="module")
def running(state_dir):
    started = time.monotonic()
    info = stack.up(state_dir, timeout_s=150)
    info["_up_s"] = time.monotonic() - started
    return info


def test_up_brings_every_component_up_and_healthy(running, state_dir):
    assert set(running["components"]) == COMPONENTS
    report = stack.status(state_dir)
    assert report["up"], report
    assert all(c["alive"] and c["healthy"] for c in report["components"].values()), report
    health = httpx.get(running["api_url"] + "/health", timeout=5)
    assert health.status_code == 200 and health.json()["status"] == "healthy"
    print(f"stack up in {running['_up_s']:.1f} s")


def test_stack_json_is_private_and_complete(running, state_dir):
    path = state_dir / "stack.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE((state_dir / "seed.json").stat().st_mode) == 0o600
    info = json.loads(path.read_text())
    for key in ("api_url", "toxiproxy_url", "proxies", "proxies_names", "partner_url", "partner_control_url",
                "admin_token", "signing_key", "signing_alg", "seed", "log_files", "process_logs", "pids", "ports",
                "database", "faults", "twin_state_dir"):
        assert key in info, key
    assert info["signing_alg"] == "HS256"
    assert set(info["proxies"]) == {"postgres", "partner-api"}
    pg_listen = info["proxies"]["postgres"]["listen"]
    assert info["database"]["url"].endswith(f"@{pg_listen}/cloudflow")  # the twin goes through the proxy
    assert info["proxies"]["postgres"]["upstream"] == f"127.0.0.1:{info['database']['port']}"
    assert info["proxies"]["partner-api"]["upstream"] == info["partner_url"].removeprefix("http://")
    seed = info["seed"]
    assert seed["platform_admin"]["email"] == "platform@cloudflow.local"
    assert {w["id"]: w["tier"] for w in seed["workspaces"]} == {
        "ws_platform": "enterprise", "ws_free": "free", "ws_standard": "standard", "ws_premium": "premium"}
    assert len({u["password"] for u in seed["users"]}) == len(seed["users"])


def test_seeded_users_log_in_and_the_control_api_takes_the_admin_token(running):
    api = running["api_url"]
    users = running["seed"]["users"]
    for user in users:
        response = httpx.post(api + "/auth/login", json={"username": user["email"], "password": user["password"]},
                              timeout=10)
        assert response.status_code == 200, (user["email"], response.text)
    faults = httpx.get(api + "/_twin/faults", headers={"X-Twin-Admin-Token": running["admin_token"]}, timeout=10)
    assert faults.status_code == 200 and isinstance(faults.json(), list)
    assert httpx.get(api + "/_twin/faults", headers={"X-Twin-Admin-Token": "wrong"}, timeout=10).status_code in (401, 403)


def test_the_database_is_reached_through_toxiproxy(running):
    admin = ToxiproxyAdmin(running["toxiproxy_url"])
    with admin.down("postgres"):
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline:
            response = httpx.get(running["api_url"] + "/health", timeout=35)
            if response.status_code == 503:
                break
            time.sleep(0.2)
        assert response.status_code == 503, response.text
        assert response.json()["dependencies"]["database"]["status"] == "down"
    deadline = time.monotonic() + 40
    while httpx.get(running["api_url"] + "/health", timeout=35).status_code != 200:
        assert time.monotonic() < deadline, "api did not recover after the proxy came back"
        time.sleep(0.2)


def test_up_again_is_idempotent_and_fast(running, state_dir):
    started = time.monotonic()
    again = stack.up(state_dir)
    assert time.monotonic() - started < 5
    assert again["pids"] == running["pids"]


def test_up_with_other_faults_is_refused_while_up(running, state_dir):
    with pytest.raises(stack.StackError, match="already up with faults none"):
        stack.up(state_dir, faults=["token_ttl_7200"])


def test_concurrent_ensure_up_from_many_processes_starts_nothing_new(running, state_dir):
    code = ("import json, sys; from cloudflow_checks import stack\n"
            "info, started = stack.ensure_up(sys.argv[1])\n"
            "print(json.dumps({'started': started, 'pids': info['pids']}))")
    workers = [subprocess.Popen([sys.executable, "-c", code, str(state_dir)], stdout=subprocess.PIPE, text=True)
               for _ in range(3)]
    results = [json.loads(w.communicate(timeout=120)[0]) for w in workers]
    assert [r["started"] for r in results] == [False] * 3
    assert all(r["pids"] == running["pids"] for r in results)


def test_status_and_cli_report_each_component(running, state_dir):
    out = subprocess.run([sys.executable, "-m", "cloudflow_checks.stack.cli", "status", "--state-dir",
                          str(state_dir)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    for name in COMPONENTS:
        assert name in out.stdout
    faults = subprocess.run([sys.executable, "-m", "cloudflow_checks.stack.cli", "faults", "--state-dir",
                             str(state_dir)], capture_output=True, text=True, timeout=60)
    assert faults.returncode == 0, faults.stderr
    assert "name" in faults.stdout and "breaks" in faults.stdout


def test_sigkill_of_the_whole_stack_is_recovered_by_the_next_up(running, state_dir):
    killed = stack.read_info(state_dir)
    for rec in _records(killed):
        os.killpg(rec.pid, signal.SIGKILL)  # a crash: nobody cleans up
    procs.wait_for("killed stack to vanish", lambda: not any(procs.is_alive(r) for r in _records(killed)), 15)
    assert stack.read_info(state_dir) is None
    assert not stack.status(state_dir)["up"]
    info = stack.up(state_dir, timeout_s=150)
    assert stack.status(state_dir)["up"]
    assert set(info["pids"].values()).isdisjoint(killed["pids"].values())
    running.clear()
    running.update(info)


def test_a_partly_dead_stack_is_replaced_by_ensure_up(running, state_dir):
    before = stack.read_info(state_dir)
    os.killpg(before["pids"]["engine"], signal.SIGKILL)
    procs.wait_for("engine to vanish", lambda: not procs.is_alive(procs.ProcessRecord.from_json(
        before["components"]["engine"])), 10)
    info, started = stack.ensure_up(state_dir, timeout_s=150)
    assert started
    _assert_nothing_left(before, Path("/nonexistent"))
    running.clear()
    running.update(info)


def test_an_up_killed_half_way_is_cleaned_by_the_next_up(running, state_dir):
    stack.down(state_dir)
    starter = subprocess.Popen([sys.executable, "-m", "cloudflow_checks.stack.cli", "up", "--state-dir",
                                str(state_dir)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def twin_spawned() -> bool:
        try:
            return "engine" in json.loads((state_dir / "stack.json").read_text())["components"]
        except (FileNotFoundError, ValueError):
            return False

    try:
        procs.wait_for("the starter to spawn the twin", twin_spawned, 120)
    finally:
        starter.kill()
        starter.wait()
    half = json.loads((state_dir / "stack.json").read_text())
    assert half["status"] == "starting"
    assert not stack.status(state_dir)["up"]
    info, started = stack.ensure_up(state_dir, timeout_s=150)
    assert started and stack.status(state_dir)["up"]
    assert all(not procs.is_alive(procs.ProcessRecord.from_json(c)) for c in half["components"].values())
    running.clear()
    running.update(info)


def test_down_leaves_no_process_behind(running, state_dir):
    info = stack.read_info(state_dir)
    assert info is not None
    started = time.monotonic()
    stack.down(state_dir)
    print(f"stack down in {time.monotonic() - started:.1f} s")
    _assert_nothing_left(info, state_dir)
    assert not (state_dir / "stack.json").exists()
    assert (state_dir / "pg" / "PG_VERSION").exists()  # the data stays
    assert stack.status(state_dir)["components"] == {}
    stack.down(state_dir)  # idempotent


def test_missing_toxiproxy_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setenv("CLOUDFLOW_TOXIPROXY_SERVER", str(tmp_path / "toxiproxy-server"))
    with pytest.raises(SetupMissing, match="scripts/setup.sh"):
        stack.up(tmp_path / "state")


def test_missing_postgres_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setenv("CLOUDFLOW_PG_BIN", str(tmp_path))
    with pytest.raises(SetupMissing, match="PostgreSQL.*scripts/setup.sh"):
        stack.up(tmp_path / "state")


def test_a_requested_busy_port_is_named_and_nothing_starts(tmp_path):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        busy = sock.getsockname()[1]
        with pytest.raises(PortTaken, match=f"port {busy} requested for api is taken"):
            stack.up(tmp_path / "state", ports={"api": busy})
    assert not (tmp_path / "state" / "stack.json").exists()


def test_faults_at_start_are_on_and_unknown_ones_are_refused(state_dir):
    with pytest.raises(stack.UnknownFault, match="unknown fault switch\\(es\\): no_such_fault; the twin has: .*auth_500"):
        stack.up(state_dir, faults="no_such_fault,auth_500", timeout_s=150)
    assert stack.status(state_dir)["components"] == {}  # the refused start left nothing behind
    assert procs.with_cwd(state_dir / "pg") == []
    info = stack.up(state_dir, faults=["auth_500"], timeout_s=150)
    try:
        assert info["faults"] == ["auth_500"]
        enabled = {s["name"] for s in stack.fault_switches(info) if s["enabled"]}
        assert enabled == {"auth_500"}
        info_again, started = stack.ensure_up(state_dir, faults=["auth_500"])
        assert not started and info_again["pids"] == info["pids"]
    finally:
        stack.down(state_dir)
    _assert_nothing_left(info, state_dir)
