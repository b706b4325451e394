"""The API's event buffer (MEM-02): bounded at 10000, overflow drop_oldest; fault buffer_unbounded."""
from __future__ import annotations

from collections import deque

from .. import faults


class EventBuffer:
    def __init__(self, max_size: int):
        self.max_size = max_size
        self._bounded: deque = deque(maxlen=max_size)
        self._unbounded: deque = deque()
        self.dropped = 0
        self._seq = 0

    def push(self, count: int, kind: str) -> None:
        target = self._unbounded if faults.is_on("buffer_unbounded") else self._bounded
        for _ in range(count):
            self._seq += 1
            if target is self._bounded and len(target) == self.max_size:
                self.dropped += 1
            target.append((self._seq, kind))

    def _all(self):
        return list(self._bounded) + list(self._unbounded)

    def status(self) -> dict:
        size = len(self._bounded) + len(self._unbounded)
        first = self._bounded[0][0] if self._bounded else (self._unbounded[0][0] if self._unbounded else None)
        last = self._unbounded[-1][0] if self._unbounded else (self._bounded[-1][0] if self._bounded else None)
        return {"size": size, "max_size": self.max_size, "overflow_strategy": "drop_oldest",
                "dropped": self.dropped, "oldest_seq": first, "newest_seq": last}

    def clear(self) -> None:
        self._bounded.clear()
        self._unbounded.clear()
