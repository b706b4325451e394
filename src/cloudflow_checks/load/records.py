"""A load run's history: every request as the generator saw it, placed on the twin's time line.

Locust writes one JSONL file per process (recorder.py); the time-lapse writes clock.jsonl. Here they
are read back and each request gets a twin-time interval [lo, hi] that surely contains the moment
the target judged it (Jepsen-style: bounds, not guesses), and the rate-limit window it fell in.
"""
from __future__ import annotations

import bisect
import json
import math
from dataclasses import dataclass
from pathlib import Path

from .plan import WINDOW_S

# The twin's other processes re-read control.json at most every 50 ms; a request may meet an offset
# that old. (Its API process applies a new offset at once; this only widens the bounds a little.)
CONTROL_STALENESS_S = 0.05
REJECTED = "rate_limit_exceeded"
CONCURRENT = "concurrent_workflow_limit_exceeded"


def as_int(value) -> int | None:
    if value is None:
        return None
    text = str(value).strip()
    return int(text) if text.isdigit() else None


@dataclass
class Request:
    start: float                 # wall epoch s when sent
    end: float                   # wall epoch s when the answer was read
    ms: float
    status: int                  # 0 = no answer (connection error)
    limit: str | None
    remaining: str | None
    reset: str | None
    retry_after: str | None
    error: str | None
    message: str | None
    body_status: object
    exception: str | None
    correlation_id: str | None
    lo: float = 0.0              # twin-time bounds of when the target judged it
    hi: float = 0.0
    window: int | None = None    # end of its rate-limit window (twin epoch s), when known

    @property
    def answered(self) -> bool:
        return self.status != 0

    @property
    def rejected(self) -> bool:
        """Refused by the request-rate limiter (a concurrency 429 passed the limiter, and counted)."""
        return self.status == 429 and self.error != CONCURRENT

    @property
    def counted(self) -> bool:
        """Passed the rate limiter (any answer but a rate-limit 429)."""
        return self.answered and not self.rejected

    @classmethod
    def from_line(cls, data: dict) -> "Request":
        start = float(data["s"])
        return cls(start=start, end=float(data.get("e") or start), ms=float(data.get("ms") or 0.0),
                   status=int(data.get("st") or 0), limit=data.get("lim"), remaining=data.get("rem"),
                   reset=data.get("rst"), retry_after=data.get("ra"), error=data.get("err"),
                   message=data.get("msg"), body_status=data.get("bst"), exception=data.get("exc"),
                   correlation_id=data.get("corr"))


@dataclass
class ClockLine:
    """Twin time = wall + offset, the offset stepping up as logged."""
    t0: float
    T0: float
    speed: int
    clock_control: bool
    sent: list[float]
    acked: list[float]
    offsets: list[float]

    @classmethod
    def read(cls, path: Path) -> "ClockLine":
        start, steps = None, []
        if path.is_file():
            for line in path.read_text().splitlines():
                entry = json.loads(line)
                if entry.get("start"):
                    start = entry
                else:
                    steps.append(entry)
        if start is None:
            raise ValueError(f"{path}: the run never started its time line")
        steps.sort(key=lambda e: e["t_sent"])
        return cls(start["t0"], start["T0"], int(start["speed"]), bool(start["clock_control"]),
                   [s["t_sent"] for s in steps], [s["t_ack"] for s in steps], [s["offset"] for s in steps])

    def bounds(self, start: float, end: float) -> tuple[float, float]:
        if not self.clock_control:
            return start, end
        # Offsets only grow: the smallest possible is the last one surely in force when sent ...
        i = bisect.bisect_right(self.acked, start - CONTROL_STALENESS_S) - 1
        low = self.offsets[max(i, 0)]
        # ... the largest, the last one that may have been applied before the answer came back.
        j = bisect.bisect_right(self.sent, end) - 1
        high = self.offsets[max(j, 0)]
        return start + low, end + high

    def window_index(self, window_end: int) -> int:
        """0 for the run's first window (which starts at T0)."""
        return int(round((window_end - WINDOW_S - self.T0) / WINDOW_S))


@dataclass
class History:
    requests: list[Request]
    clock: ClockLine

    @classmethod
    def read(cls, folder: Path) -> "History":
        clock = ClockLine.read(folder / "clock.jsonl")
        requests = []
        for path in sorted(folder.glob("records-*.jsonl")):
            for line in path.read_text().splitlines():
                if line.strip():
                    requests.append(Request.from_line(json.loads(line)))
        requests.sort(key=lambda r: r.start)
        for r in requests:
            r.lo, r.hi = clock.bounds(r.start, r.end)
            r.window = window_of(r)
        return cls(requests, clock)


def window_of(r: Request) -> int | None:
    """The window's end: from X-RateLimit-Reset when the answer has one, else from the twin-time
    bounds when they fall in one minute (a request without an answer straddling an edge: unknown)."""
    reset = as_int(r.reset)
    if reset is not None:
        return reset
    first, last = math.floor(r.lo / WINDOW_S) + 1, math.floor(r.hi / WINDOW_S) + 1
    return first * WINDOW_S if first == last else None
