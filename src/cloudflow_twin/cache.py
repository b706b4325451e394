"""Workspace metadata cache (PERF-04): ttl in twin time; `cache_disabled` fault makes every read a miss."""
from __future__ import annotations

from . import control, faults


class TTLCache:
    """A small in-process cache whose entries expire after ttl_s twin seconds."""

    def __init__(self, ttl_s: float, max_entries: int = 10000):
        self.ttl_s, self.max_entries = ttl_s, max_entries
        self._data: dict[str, tuple[float, object]] = {}

    def get(self, key: str):
        """(value, True) on a fresh hit, (None, False) otherwise."""
        if faults.is_on("cache_disabled"):
            return None, False
        entry = self._data.get(key)
        if entry is None or control.twin_now() >= entry[0]:
            return None, False
        return entry[1], True

    def put(self, key: str, value) -> None:
        if len(self._data) >= self.max_entries:
            self._data.clear()
        self._data[key] = (control.twin_now() + self.ttl_s, value)

    def invalidate(self, key: str | None = None) -> None:
        if key is None:
            self._data.clear()
        else:
            self._data.pop(key, None)
