"""Changing the target for everyone (its clock, its database link) without disturbing checks
running beside it.

The target's clock is global: advancing it an hour would expire every other check's tokens; a
database partition fails every other check's requests. So every check holds a shared lock while it
runs, and a check that changes the target for everyone holds it exclusively (a fair readers-writer
lock over two flock files, shared by all xdist workers), and puts things back before letting go.
"""
from __future__ import annotations

import fcntl
import os
from contextlib import contextmanager
from pathlib import Path

from .client import TwinControl


class TargetLock:
    def __init__(self, folder: Path):
        folder.mkdir(parents=True, exist_ok=True)
        self._turnstile = folder / "clock.turnstile.lock"
        self._data = folder / "clock.lock"

    def _open(self, path: Path) -> int:
        return os.open(path, os.O_RDWR | os.O_CREAT, 0o600)

    @contextmanager
    def shared(self):
        turnstile, data = self._open(self._turnstile), self._open(self._data)
        try:
            # Pass through the turnstile so a waiting writer is not starved by a stream of readers.
            fcntl.flock(turnstile, fcntl.LOCK_EX)
            fcntl.flock(data, fcntl.LOCK_SH)
            fcntl.flock(turnstile, fcntl.LOCK_UN)
            yield
        finally:
            os.close(data)
            os.close(turnstile)

    @contextmanager
    def exclusive(self):
        turnstile, data = self._open(self._turnstile), self._open(self._data)
        try:
            fcntl.flock(turnstile, fcntl.LOCK_EX)
            fcntl.flock(data, fcntl.LOCK_EX)
            yield
        finally:
            os.close(data)
            os.close(turnstile)


class Clock:
    """The target's clock, for one check that holds the exclusive lock."""

    def __init__(self, control: TwinControl):
        self._control = control
        self._original = control.offset()

    def now(self) -> float:
        return self._control.now()

    def advance(self, seconds: float) -> None:
        self._control.advance(seconds)

    def restore(self) -> None:
        self._control.set_offset(self._original)
