"""Per-workspace fixed-window rate limits in twin time (RATE-01..03), kept in API memory.

Windows are aligned to the twin-time minute and hour. A rejected request does not count.
No database work here: workspace limits are registered in memory by the API (startup + creation).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from . import control


@dataclass
class Limits:
    tier: str
    per_minute: int
    per_hour: int
    concurrent_workflows: int | None


@dataclass
class Decision:
    allowed: bool
    limit: int
    remaining: int
    reset: int                # epoch seconds (twin time), end of this minute window
    retry_after: int = 0      # seconds until the blocking window ends (>= 1) when not allowed
    blocked_by: str | None = None


def limits_from(tier: str, custom: dict | None, tiers: dict) -> Limits:
    base = dict(tiers[tier])
    if tier == "enterprise" and custom:
        base.update({k: int(v) for k, v in custom.items() if k in ("per_minute", "per_hour") and v})
        if custom.get("concurrent_workflows"):
            base["concurrent_workflows"] = int(custom["concurrent_workflows"])
    return Limits(tier, base["per_minute"], base["per_hour"], base["concurrent_workflows"])


class RateLimiter:
    """Fixed-window counters per workspace: [minute_index, minute_count, hour_index, hour_count]."""

    def __init__(self):
        self.limits: dict[str, Limits] = {}
        self._counters: dict[str, list] = {}

    def set_limits(self, workspace_id: str, limits: Limits) -> None:
        self.limits[workspace_id] = limits

    def reset(self) -> None:
        self._counters.clear()

    def _windows(self, now: float, active: frozenset = frozenset()) -> tuple[int, float, int, float]:
        minute_len = 30 if "window_edge_double_burst" in active else 60
        m = int(now // minute_len)
        h = int(now // 3600)
        return m, (m + 1) * minute_len, h, (h + 1) * 3600.0

    def _counter(self, ws: str, m: int, h: int) -> list:
        c = self._counters.get(ws)
        if c is None:
            c = self._counters[ws] = [m, 0, h, 0]
        if c[0] != m:
            c[0], c[1] = m, 0
        if c[2] != h:
            c[2], c[3] = h, 0
        return c

    def hit(self, ws: str, now: float, cost: int = 1) -> Decision:
        """Count one request (cost) unless over a limit; the decision carries header values."""
        lim = self.limits[ws]
        active = control.enabled_faults()  # one snapshot: this is the hot path
        m, m_end, h, h_end = self._windows(now, active)
        c = self._counter(ws, m, h)
        slack = 1 if "limit_off_by_one" in active else 0
        reset = int(math.ceil(m_end))
        if c[1] + cost > lim.per_minute + slack:
            return Decision(False, lim.per_minute, 0, reset, max(1, math.ceil(m_end - now)), "minute")
        if c[3] + cost > lim.per_hour + slack and "hourly_limit_ignored" not in active:
            return Decision(False, lim.per_minute, 0, reset, max(1, math.ceil(h_end - now)), "hour")
        c[1] += cost
        c[3] += cost
        remaining = lim.per_minute if "remaining_not_decrementing" in active else max(0, lim.per_minute - c[1])
        return Decision(True, lim.per_minute, remaining, reset)

    def add(self, ws: str, now: float, extra: int) -> None:
        """Count `extra` more requests without a check (fault batch_counts_each)."""
        m, _, h, _ = self._windows(now, control.enabled_faults())
        c = self._counter(ws, m, h)
        c[1] += extra
        c[3] += extra

    def usage(self, ws: str, now: float) -> tuple[int, int]:
        m, _, h, _ = self._windows(now, control.enabled_faults())
        c = self._counter(ws, m, h)
        return c[1], c[3]
