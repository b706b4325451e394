"""Load shapes: how many paced users run at each moment of a load run.

Each windowed shape offers a multiple of the tier's per-minute limit per (twin) minute: users pace at
a fixed per-user rate, so offered rate = users x rate, and 0.5x / 1x / 1.5x are n / 2n / 3n users.
The stage in force is read on the run's twin-time line (see cloudflow_checks.load.timelapse), so
a stage covers whole rate-limit windows also when the run is time-lapsed. Shapes end by themselves.
"""
from __future__ import annotations

import os
import time
from functools import lru_cache

from locust import LoadTestShape

from cloudflow_checks.load.plan import Plan
from cloudflow_checks.load.timelapse import Timelapse

PLAN_ENV = "CLOUDFLOW_LOAD_PLAN"
SETTLE_S = 2.0    # a fixed-user shape holds at least this long after its last user started
OVERRUN_S = 5.0   # a shape never runs longer than its plan plus this (Locust ignores --run-time with shapes)


@lru_cache(maxsize=1)
def plan() -> Plan:
    return Plan.read(os.environ[PLAN_ENV])


@lru_cache(maxsize=1)
def timeline() -> Timelapse:
    from pathlib import Path
    return Timelapse(plan(), Path(plan().records_dir) / "clock.jsonl")


class WindowShape(LoadTestShape):
    """Paced users following the plan's stages, on the twin-time line."""

    abstract = True
    name = ""

    def tick(self):
        line = timeline()
        if not line.started:
            line.start()
        # Locust ticks once a second; looking half a tick ahead puts stage changes within half a
        # second of the window edge instead of up to a whole second late.
        ahead = line.twin_elapsed() + 0.5 * plan().speed
        overdue = time.time() - line.t0 > plan().duration_s() + OVERRUN_S
        stage = None if overdue else plan().stage_at(ahead)
        if stage is None:
            line.stop()
            return None
        users = plan().users_at(stage.multiplier)
        return users, max(users, 1) * 4  # spawn within a quarter second: stages start on time


class HalfLimitShape(WindowShape):
    """0.5x the per-minute limit: every request is accepted."""
    name = "half"


class AtLimitShape(WindowShape):
    """1x the per-minute limit: the SLO stage (PERF-02)."""
    name = "at-limit"


class OverLimitShape(WindowShape):
    """1.5x the per-minute limit: exactly the limit is accepted per window, the rest is 429."""
    name = "over-limit"


class TierSweepShape(WindowShape):
    """0.5x, 1x and 1.5x one window each, then a short 0.5x tail (Retry-After is honoured)."""
    name = "sweep"


class HourlyCapShape(WindowShape):
    """1.5x per minute through a whole (time-lapsed) hour's worth of windows: the hourly cap."""
    name = "hourly"


class FixedUsersShape(LoadTestShape):
    """A fixed number of users, all at once, for the plan's hold time after the last one started.
    Bursts (each user starts one execution), constant rates and closed loops (benchmarks)."""

    name = "fixed"

    def __init__(self):
        super().__init__()
        self._full_at = None

    def tick(self):
        line = timeline()
        if not line.started:
            line.start()
        now = time.time()
        if self._full_at is None and self.runner is not None and self.get_current_user_count() >= plan().users:
            self._full_at = now
        settled = self._full_at is not None and now - self._full_at >= SETTLE_S
        if (settled and now - line.t0 >= plan().hold_s) or now - line.t0 > plan().hold_s + OVERRUN_S:
            line.stop()
            return None
        return plan().users, plan().users


class BurstShape(FixedUsersShape):
    """Concurrency probe: every user starts one execution at once; ends when all have."""
    name = "burst"


SHAPES = {cls.name: cls for cls in (HalfLimitShape, AtLimitShape, OverLimitShape, TierSweepShape,
                                    HourlyCapShape, BurstShape, FixedUsersShape)}


def selected() -> type[LoadTestShape]:
    """The one shape class this run uses (Locust takes the first shape a locustfile exposes)."""
    return SHAPES[plan().shape]
