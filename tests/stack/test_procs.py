"""Process management of the stack, with trivial stand-in processes (python -c ...), no twin."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import pytest

from cloudflow_checks.stack import ports, procs
from cloudflow_checks.stack.errors import PortTaken, StackError

SLEEPER = "import time\nwhile True: time.sleep(0.05)"
# ignores SIGTERM and starts a grandchild in its own process group: only SIGKILL of the group ends both
STUBBORN = ("import signal, subprocess, sys, time\n"
            "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
            "subprocess.Popen([sys.executable, '-c', 'import signal, time\\n"
            "signal.signal(signal.SIGTERM, signal.SIG_IGN)\\nwhile True: time.sleep(0.05)'])\n"
            "print('ready', flush=True)\n"
            "while True: time.sleep(0.05)")


def _spawn(tmp_path, code: str, name: str = "stand-in") -> procs.ProcessRecord:
    return procs.spawn(name, [sys.executable, "-c", code], tmp_path / f"{name}.out", os.environ)


def test_spawn_runs_in_own_session_and_stop_group_ends_it(tmp_path):
    rec = _spawn(tmp_path, SLEEPER)
    assert procs.is_alive(rec)
    assert os.getpgid(rec.pid) == rec.pid and os.getsid(rec.pid) == rec.pid
    assert procs.stop_group(rec, grace_s=5)
    assert not procs.is_alive(rec)
    assert procs.group_members(rec.pid) == []


def test_stop_group_escalates_to_sigkill_and_takes_the_whole_group(tmp_path):
    rec = _spawn(tmp_path, STUBBORN)
    procs.wait_for("stubborn", lambda: "ready" in (tmp_path / "stand-in.out").read_text(), 10, record=rec,
                   log_path=tmp_path / "stand-in.out")
    procs.wait_for("grandchild", lambda: len(procs.group_members(rec.pid)) == 2, 10)
    members = procs.group_members(rec.pid)
    started = time.monotonic()
    assert procs.stop_group(rec, grace_s=0.5)
    assert time.monotonic() - started < 5
    assert all(not os.path.exists(f"/proc/{pid}") or procs._stat(pid)[0] == "Z" for pid in members)


def test_a_reused_pid_is_not_ours(tmp_path):
    rec = _spawn(tmp_path, SLEEPER)
    try:
        impostor = procs.ProcessRecord(rec.pid, rec.start_time + 1)  # same pid, other start time
        assert not procs.is_alive(impostor)
        assert procs.stop_group(impostor, grace_s=0.2)  # says "nothing of ours left" ...
        assert procs.is_alive(rec)  # ... and left the other process alone
    finally:
        procs.stop_group(rec, grace_s=2)


def test_wait_for_reports_a_dying_process_with_its_log_tail(tmp_path):
    rec = _spawn(tmp_path, "import sys; print('boom: no database'); sys.exit(3)")
    with pytest.raises(StackError, match="exited while starting(.|\n)*boom: no database"):
        procs.wait_for("stand-in", lambda: False, 10, record=rec, log_path=tmp_path / "stand-in.out")


def test_wait_for_has_a_deadline(tmp_path):
    started = time.monotonic()
    with pytest.raises(StackError, match="not ready after 0 s"):
        procs.wait_for("nothing", lambda: False, 0.3)
    assert time.monotonic() - started < 2


def test_spawn_keeps_the_previous_log(tmp_path):
    for text in ("first", "second"):
        rec = _spawn(tmp_path, f"print({text!r})")
        procs.wait_for("printer", lambda: not procs.is_alive(rec), 10)
    assert (tmp_path / "stand-in.out").read_text().strip() == "second"
    assert (tmp_path / "stand-in.out.prev").read_text().strip() == "first"


def test_with_cwd_finds_processes_by_working_directory(tmp_path):
    proc = subprocess.Popen([sys.executable, "-c", SLEEPER], cwd=tmp_path)
    try:
        procs.wait_for("sleeper", lambda: any(r.pid == proc.pid for r in procs.with_cwd(tmp_path)), 10)
        assert procs.kill_all(procs.with_cwd(tmp_path), deadline_s=0)
    finally:
        proc.kill()
        proc.wait()


def test_requested_busy_port_is_named():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        busy = sock.getsockname()[1]
        with pytest.raises(PortTaken, match=f"port {busy} requested for api is taken"):
            ports.choose("api", busy)
    assert ports.choose("api", None) > 0


def test_free_ports_are_distinct_and_free():
    from cloudflow_checks.stack import ports
    picked = ports.free_ports(40)
    assert len(set(picked)) == 40
    assert not any(ports.port_in_use(p) for p in picked)
