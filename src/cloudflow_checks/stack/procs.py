"""Processes of the local stack: start each in its own session, know it again later, stop it whole.

A pid alone is not an identity (pids are reused after a crash), so every record keeps the
process's start time from /proc (clock ticks since boot); a pid whose start time differs is
someone else's process and is never signalled.
"""
from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping, Sequence

from .errors import StackError


@dataclass(frozen=True)
class ProcessRecord:
    pid: int
    start_time: int  # /proc/<pid>/stat field 22

    def to_json(self) -> dict:
        return {"pid": self.pid, "start_time": self.start_time}

    @classmethod
    def from_json(cls, data: Mapping | None) -> "ProcessRecord | None":
        if not data or data.get("pid") is None:
            return None
        return cls(int(data["pid"]), int(data.get("start_time") or 0))


def _stat(pid: int) -> tuple[str, int, int] | None:
    """(state, pgrp, start time) of a live /proc entry, or None."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    fields = raw[raw.rindex(")") + 2:].split()
    return fields[0], int(fields[2]), int(fields[19])


def _reap(pid: int) -> None:
    """Collect the exit status if the process is our child, so that it does not linger as a zombie."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def start_time_of(pid: int) -> int | None:
    stat = _stat(pid)
    return stat[2] if stat else None


def record_of(pid: int) -> ProcessRecord:
    start = start_time_of(pid)
    if start is None:
        raise StackError(f"process {pid} vanished right after it started")
    return ProcessRecord(pid, start)


def is_alive(record: ProcessRecord | None) -> bool:
    if record is None:
        return False
    _reap(record.pid)
    stat = _stat(record.pid)
    if stat is None or stat[0] in ("Z", "X"):
        return False
    return record.start_time in (0, stat[2])


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes whose process group is `pgid`."""
    members = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            stat = _stat(int(entry.name))
            if stat and stat[1] == pgid and stat[0] not in ("Z", "X"):
                members.append(int(entry.name))
    return members


def with_cwd(directory: Path) -> list[ProcessRecord]:
    """Live processes whose working directory is `directory` (PostgreSQL's all chdir to their data dir,
    and each backend runs in a session of its own, so this is how to find them all)."""
    target = os.path.realpath(directory)
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            if os.readlink(f"/proc/{entry.name}/cwd") != target:
                continue
        except OSError:
            continue
        stat = _stat(int(entry.name))
        if stat and stat[0] not in ("Z", "X"):
            found.append(ProcessRecord(int(entry.name), stat[2]))
    return found


def _environ(pid: int) -> dict[str, str]:
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return {}
    pairs = (item.split(b"=", 1) for item in raw.split(b"\0") if b"=" in item)
    return {k.decode(errors="replace"): v.decode(errors="replace") for k, v in pairs}


def of_state_dir(state: Path, log_names: Sequence[str]) -> list[ProcessRecord]:
    """Live processes of the stack in `state`, found without stack.json: their stdout is one of
    <state>/logs/<log_names> (what `spawn` started, and what those forked; `.prev` once a later
    start rotated it), or their TWIN_STATE_DIR is <state>/twin. Never this process or its parent."""
    state = Path(os.path.realpath(state))
    logs = {str(state / "logs" / name) for name in log_names}
    twin_state = str(state / "twin")
    own = {os.getpid(), os.getppid()}
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) in own:
            continue
        pid = int(entry.name)
        try:
            stdout = os.readlink(f"/proc/{pid}/fd/1").removesuffix(" (deleted)").removesuffix(".prev")
        except OSError:
            stdout = ""
        if stdout not in logs and _environ(pid).get("TWIN_STATE_DIR", "").rstrip("/") != twin_state:
            continue
        stat = _stat(pid)
        if stat and stat[0] not in ("Z", "X"):
            found.append(ProcessRecord(pid, stat[2]))
    return found


def stop_all(records: Sequence[ProcessRecord], grace_s: float = 10.0) -> bool:
    """SIGTERM each of `records` (its whole group when it leads one), SIGKILL what is left after
    `grace_s`. True: none is left."""
    for record in records:
        if not is_alive(record):
            continue
        try:
            if _stat(record.pid) and _stat(record.pid)[1] == record.pid:
                os.killpg(record.pid, signal.SIGTERM)
            else:
                os.kill(record.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    return kill_all(records, grace_s)


def kill_all(records: Sequence[ProcessRecord], deadline_s: float) -> bool:
    """Wait up to `deadline_s` for `records` to exit by themselves, then SIGKILL the rest. True: all gone."""
    end = time.monotonic() + deadline_s
    while any(is_alive(r) for r in records) and time.monotonic() < end:
        time.sleep(0.05)
    for record in records:
        if is_alive(record):
            try:
                os.kill(record.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    end = time.monotonic() + 5
    while any(is_alive(r) for r in records) and time.monotonic() < end:
        time.sleep(0.05)
    return not any(is_alive(r) for r in records)


def spawn(name: str, argv: Sequence[str], log_path: Path, env: Mapping[str, str],
          cwd: Path | None = None) -> ProcessRecord:
    """Start `argv` in a new session (so its whole group can be signalled) with output to log_path."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    if log_path.exists():  # keep the previous run's log for a post-mortem
        log_path.replace(log_path.with_name(log_path.name + ".prev"))
    with open(log_path, "wb") as log:
        try:
            proc = subprocess.Popen(list(argv), stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                    env=dict(env), cwd=cwd, start_new_session=True)
        except OSError as exc:
            raise StackError(f"could not start {name} ({argv[0]}): {exc}") from exc
    return record_of(proc.pid)


def tail(path: Path, lines: int = 20) -> str:
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return "(no log)"
    return "\n".join(text.rstrip().splitlines()[-lines:]) or "(empty log)"


def wait_for(what: str, ready: Callable[[], bool], deadline_s: float, *, record: ProcessRecord | None = None,
             log_path: Path | None = None, interval_s: float = 0.1) -> None:
    """Poll `ready()` until it is true; fail early when `record` dies, late when the deadline passes."""
    end = time.monotonic() + deadline_s
    while True:
        if ready():
            return
        if record is not None and not is_alive(record):
            raise StackError(f"{what} exited while starting; last lines of {log_path}:\n{tail(log_path)}"
                             if log_path else f"{what} exited while starting")
        if time.monotonic() >= end:
            detail = f"; last lines of {log_path}:\n{tail(log_path)}" if log_path else ""
            raise StackError(f"{what} not ready after {deadline_s:.0f} s{detail}")
        time.sleep(interval_s)


def stop_group(record: ProcessRecord | None, grace_s: float = 10.0, kill_wait_s: float = 5.0) -> bool:
    """SIGTERM the process group led by `record`, SIGKILL what is left after `grace_s`.

    Returns True when nothing of the group is left. A leader whose pid now belongs to another
    process (start time differs) is left alone, and so is its group.
    """
    if record is None:
        return True
    pgid = record.pid
    leader_ours = is_alive(record)
    if not leader_ours:
        if _stat(pgid) is not None and _stat(pgid)[0] not in ("Z", "X"):
            return True  # the pid was reused: not ours to signal
        if not group_members(pgid):
            return True
    for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, kill_wait_s)):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            pass
        end = time.monotonic() + wait_s
        while time.monotonic() < end:
            _reap(pgid)
            if not group_members(pgid):
                return True
            time.sleep(0.05)
    return not group_members(pgid)
