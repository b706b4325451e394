"""`cloudflow-checks run` and the stack: a corrupt stack.json is one line, a run where no check ran
is no PASS, and SIGTERM takes down the stack the run started (real processes throughout)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from cloudflow_checks.stack.scratch import scratch_state_dir

from cloudflow_checks.stack import lifecycle, procs

ROOT = Path(__file__).resolve().parents[2]


def _cli(env: dict, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cloudflow_checks.cli", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


def _error_lines(result: subprocess.CompletedProcess) -> list[str]:
    assert "Traceback" not in result.stderr, result.stderr
    return [line for line in result.stderr.splitlines() if line.startswith("cloudflow-checks:")]


@pytest.fixture
def fresh_state():
    with scratch_state_dir("cfc-run-test-") as folder:
        yield folder


@pytest.mark.parametrize("content", ['{"status":"up","api_url":', '{"status":"up"}',
                                     '{"status":"up","components":{"api":{"pid":"x"}}}'])
def test_run_on_a_corrupt_stack_json_is_one_line(fresh_state, tmp_path, content):
    (fresh_state / "stack.json").write_text(content)
    result = _cli(dict(os.environ, CLOUDFLOW_STATE_DIR=str(fresh_state)), "run", "--reports", str(tmp_path))
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "stack.json" in lines[0] and "Traceback" not in result.stderr, result.stderr


def test_no_check_collected_is_no_pass_and_latest_stays(stack_env, tmp_path):
    result = _cli(stack_env, "run", "-k", "zzznomatch", "--workers", "0", "--reports", str(tmp_path))
    assert result.returncode == 2, result.stdout[-2000:] + result.stderr[-2000:]
    assert any(line.startswith("cloudflow-checks: no check ran") for line in _error_lines(result)), result.stderr
    assert not (tmp_path / "latest").exists()
    assert list(tmp_path.glob("*/summary.md")) == []


def test_every_check_skipped_is_no_pass(stack_env, tmp_path):
    result = _cli(stack_env, "run", "--profile", "gate", "-k", "kubernetes", "--workers", "0",
                  "--reports", str(tmp_path))
    assert "skipped" in result.stdout, result.stdout[-2000:]
    assert result.returncode == 2, result.stdout[-2000:] + result.stderr[-2000:]
    assert any(line.startswith("cloudflow-checks: no check ran") for line in _error_lines(result)), result.stderr
    assert not (tmp_path / "latest").exists()
    assert list(tmp_path.glob("*/summary.md")) == []


def _pytest_child(parent: int) -> int | None:
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                if ppid == parent and b"pytest" in (entry / "cmdline").read_bytes():
                    return int(entry.name)
            except (OSError, IndexError, ValueError):
                continue
    return None


def test_sigterm_stops_pytest_and_the_stack_the_run_started(fresh_state, tmp_path):
    env = dict(os.environ, CLOUDFLOW_STATE_DIR=str(fresh_state))
    runner = subprocess.Popen([sys.executable, "-m", "cloudflow_checks.cli", "run", "--workers", "0",
                               "--reports", str(tmp_path)], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        procs.wait_for("the run's pytest", lambda: _pytest_child(runner.pid) is not None, 240,
                       record=procs.record_of(runner.pid))
        child = _pytest_child(runner.pid)
        info = json.loads((fresh_state / "stack.json").read_text())
        assert info["status"] == "up"
        runner.send_signal(signal.SIGTERM)
        _, stderr = runner.communicate(timeout=120)
    finally:
        if runner.poll() is None:
            runner.kill()
            runner.wait()
    assert runner.returncode in (143, 1), stderr
    assert "Traceback" not in stderr, stderr
    assert procs.group_members(child) == []
    records = [procs.ProcessRecord.from_json(c) for c in info["components"].values()]
    assert [r.pid for r in records if procs.is_alive(r)] == []
    assert procs.with_cwd(fresh_state / "pg") == [] and lifecycle.unlisted_processes(fresh_state) == []
    assert not (fresh_state / "stack.json").exists()
