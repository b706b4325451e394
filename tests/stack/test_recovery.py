"""A stack whose stack.json is missing or corrupt: `twin down` still finds and stops every process
(real ones), the other commands answer in one line, and a misspelt fault starts nothing."""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from cloudflow_checks.stack.scratch import scratch_state_dir

from cloudflow_checks import stack
from cloudflow_checks.stack import lifecycle, procs

CORRUPT = ['[]', '{"status":"up","api_url":', '{"status":"up"}',
           '{"status":"up","components":{"api":{"pid":"x"}}}']


@pytest.fixture
def state_dir():
    with scratch_state_dir("cfc-recovery-test-") as folder:
        yield folder


def _twin(*args: str, state: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cloudflow_checks.stack.cli", *args, "--state-dir", str(state)],
                          capture_output=True, text=True, timeout=240)


def _one_line(result: subprocess.CompletedProcess) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    return lines[0]


def _assert_all_stopped(info: dict, state: Path) -> None:
    records = [procs.ProcessRecord.from_json(c) for c in info["components"].values()]
    assert [r.pid for r in records if procs.is_alive(r)] == []
    assert all(procs.group_members(r.pid) == [] for r in records)
    assert procs.with_cwd(state / "pg") == []
    assert lifecycle.unlisted_processes(state) == []


@pytest.mark.parametrize("content", [None, "[]"], ids=["missing", "json-list"])
def test_down_without_a_usable_stack_json_stops_every_process(state_dir, content):
    info = stack.up(state_dir, timeout_s=150)
    found = {r.pid for r in lifecycle.unlisted_processes(state_dir)}
    assert {c["pid"] for name, c in info["components"].items() if name != "postgres"} <= found
    if content is None:
        (state_dir / "stack.json").unlink()
    else:
        (state_dir / "stack.json").write_text(content)
    result = _twin("down", state=state_dir)
    assert result.returncode == 0, result.stderr
    _assert_all_stopped(info, state_dir)
    assert not (state_dir / "stack.json").exists()


def test_a_corrupt_stack_json_gives_one_line_and_down_cleans_up(state_dir):
    info = stack.up(state_dir, timeout_s=150)
    (state_dir / "stack.json").write_text('{"status":"up","api_url":')
    status = _twin("status", state=state_dir)
    assert status.returncode == 1 and "twin down" in _one_line(status)
    up = _twin("up", state=state_dir)
    assert up.returncode == 1 and "twin down" in _one_line(up)
    down = _twin("down", state=state_dir)
    assert down.returncode == 0, down.stderr
    _assert_all_stopped(info, state_dir)
    assert not (state_dir / "stack.json").exists()
    assert stack.status(state_dir)["components"] == {}


@pytest.mark.parametrize("content", CORRUPT)
def test_status_of_a_corrupt_stack_json_is_one_line_and_down_removes_it(state_dir, content):
    (state_dir / "stack.json").write_text(content)
    status = _twin("status", state=state_dir)
    assert status.returncode == 1 and "stack.json" in _one_line(status)
    with pytest.raises(stack.StackError, match="twin down"):
        stack.read_info(state_dir)
    down = _twin("down", state=state_dir)
    assert down.returncode == 0, down.stderr
    assert not (state_dir / "stack.json").exists()


def test_an_unknown_fault_is_refused_before_anything_starts(state_dir):
    started = time.monotonic()
    with pytest.raises(stack.UnknownFault, match="unknown fault switch\\(es\\): nonexistent; the twin has: .*auth_500"):
        stack.up(state_dir, faults=["nonexistent", "auth_500"], timeout_s=150)
    assert time.monotonic() - started < 10
    assert not (state_dir / "pg").exists() and not (state_dir / "stack.json").exists()
    assert lifecycle.unlisted_processes(state_dir) == []
