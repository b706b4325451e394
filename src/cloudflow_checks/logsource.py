"""Reading the target's logs (capability logs): the twin's JSON log files for the local target;
a remote target reads pod logs through the Kubernetes API (see cloudflow_checks.kube)."""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable


@dataclass
class LogLine:
    source: str
    raw: str
    data: dict | None  # None when the line is not JSON

    def get(self, key, default=None):
        return (self.data or {}).get(key, default)


class LogSource:
    """Where a check reads the target's log lines from: `mark()`, then `lines()` since the mark."""

    poll_interval_s = 0.1

    def mark(self) -> None:
        raise NotImplementedError

    def lines(self) -> list[LogLine]:
        raise NotImplementedError

    def describe(self) -> str:
        return type(self).__name__

    def wait_for(self, predicate: Callable[[LogLine], bool], *, timeout_s: float, what: str) -> list[LogLine]:
        """Poll until some line satisfies `predicate`; logs are written asynchronously."""
        deadline = time.monotonic() + timeout_s
        while True:
            found = [line for line in self.lines() if predicate(line)]
            if found:
                return found
            if time.monotonic() >= deadline:
                raise AssertionError(f"no log line {what} within {timeout_s} s "
                                     f"(read {len(self.lines())} new lines from {self.describe()})")
            time.sleep(self.poll_interval_s)


class FileLogSource(LogSource):
    """Log files, read from a mark so a check sees only what happened during it."""

    def __init__(self, files: Iterable[Path]):
        self.files = [Path(f) for f in files]
        self._marks: dict[Path, int] = {}

    def mark(self) -> None:
        self._marks = {f: (f.stat().st_size if f.exists() else 0) for f in self.files}

    def lines(self) -> list[LogLine]:
        out = []
        for f in self.files:
            if not f.exists():
                continue
            with f.open("rb") as handle:
                handle.seek(self._marks.get(f, 0))
                for raw in handle.read().decode("utf-8", "replace").splitlines():
                    if raw.strip():
                        out.append(LogLine(f.stem, raw, parse_json(raw)))
        return out

    def describe(self) -> str:
        return str([f.name for f in self.files])


def parse_json(raw: str) -> dict | None:
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None
