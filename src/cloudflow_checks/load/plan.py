"""A load run's plan: which tier, which request, which shape, how fast, and its hard bounds.

The parent process builds the plan and hands it to Locust as a private JSON file (it holds the
tier's access token and, with clock control, the twin's admin token). Shapes and users read it.

Time-lapse: rate-limit windows are twin-time minutes. With clock control the run moves the twin's
clock `speed` times faster than the wall clock (the master steps the offset every 100 ms), so one
twin minute passes in 60/speed wall seconds and a window receives exactly the traffic it would get
in real time, only sooner. The whole minute is still traversed (a 30 s window bug stays visible).
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .paths import RequestSpec

WINDOW_S = 60                      # "Requests/Minute" (RATE-02): a window is one minute
HOUR_S = 3600                      # "Requests/Hour" (RATE-02)
SPEEDS = (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30, 60)  # 60/speed is a whole number of wall seconds
MAX_SWEEP_SPEED = 10               # above this one request's latency blurs its twin time too much
MAX_USER_RATE = 2.0                # req/s one simulated user paces at: keeps pace up to 500 ms latency
MAX_RATE_RPS = 2000.0              # no plan may offer more than this, whatever the caller asks
MAX_DURATION_S = 600.0             # no run may last longer than this
MAX_CLOSED_USERS, MAX_CLOSED_S = 256, 60.0
BURST_SPAWN_PER_S = 50.0           # allowance for spawning a burst's users on a busy machine
DEFAULT_MAX_RATE_RPS = 150.0       # about what the twin serves on a busy 2-core machine (see bench/)
USER_CLASSES = {"free": "FreeUser", "standard": "StandardUser", "premium": "PremiumUser",
                "enterprise": "EnterpriseUser"}


class PlanError(ValueError):
    """A plan that would break the bounds (rate, duration, loopback): refused before anything runs."""


@dataclass(frozen=True)
class TierLimits:
    tier: str
    per_minute: int
    per_hour: int
    concurrent_workflows: int | None   # None: unlimited (enterprise)

    @classmethod
    def from_spec(cls, spec, tier: str, custom: dict | None = None) -> "TierLimits":
        """The documented limits (RATE-02); enterprise's are custom, so they come from configuration."""
        documented = spec["RATE-02"]["tiers"][tier]
        if tier == "enterprise":
            if not custom or not custom.get("per_minute") or not custom.get("per_hour"):
                raise PlanError("enterprise limits are custom: give per_minute and per_hour "
                                "(--enterprise-per-minute / --enterprise-per-hour)")
            cap = custom.get("concurrent_workflows")
            return cls(tier, int(custom["per_minute"]), int(custom["per_hour"]), int(cap) if cap else None)
        return cls(tier, int(documented["per_minute"]), int(documented["per_hour"]),
                   int(documented["concurrent_workflows"]))


@dataclass(frozen=True)
class Stage:
    multiplier: float    # offered requests per window, as a multiple of the per-minute limit
    windows: float       # how many windows (twin minutes) it lasts; a fraction for a short tail


# Named shapes (load/shapes.py has one LoadTestShape class per name).
SHAPES = {
    # Two windows, not one: the window-edge verdict (RATE-02) needs two consecutive windows to judge.
    "half": [Stage(0.5, 2)],
    "at-limit": [Stage(1.0, 2)],
    "over-limit": [Stage(1.5, 1), Stage(0.5, 0.5)],
    # 0.5x, 1x, 1.5x, then a short 0.5x tail so the last window's rejections can be followed by a
    # request that waited Retry-After.
    "sweep": [Stage(0.5, 1), Stage(1.0, 1), Stage(1.5, 1), Stage(0.5, 0.5)],
}


@dataclass
class Plan:
    run_id: str
    tier: str
    base_url: str
    request: RequestSpec
    limits: TierLimits
    kind: str                          # "windows" (paced stages), "burst" (concurrency probe),
                                       # "constant" (fixed rate), "closed" (no pacing: benchmarks)
    shape: str
    stages: list[Stage] = field(default_factory=list)
    speed: int = 1
    align_s: int = WINDOW_S            # start at a twin minute (or hour) boundary
    half_users: int = 1                # users offering 0.5x
    per_user_rate: float = 1.0         # req/s each user paces at
    users: int = 0                     # fixed user count (burst, constant, closed)
    hold_s: float = 3.0                # how long a fixed-user plan runs
    records_dir: str = ""
    token: str = ""                    # the tier workspace's access token (secret)
    control_url: str | None = None     # the twin's control API when the target has clock control
    control_token: str | None = None   # (secret)
    max_duration_s: float = MAX_DURATION_S

    @property
    def user_class(self) -> str:
        return USER_CLASSES[self.tier]

    @property
    def window_wall_s(self) -> float:
        return WINDOW_S / self.speed

    def users_at(self, multiplier: float) -> int:
        return int(round(multiplier / 0.5 * self.half_users))

    def offered_rate(self, multiplier: float) -> float:
        return self.users_at(multiplier) * self.per_user_rate

    def duration_s(self) -> float:
        """Wall seconds the shape runs (without Locust's start-up)."""
        if self.kind != "windows":
            return self.hold_s
        return sum(s.windows for s in self.stages) * self.window_wall_s

    def stage_at(self, twin_elapsed_s: float) -> Stage | None:
        """The stage in force `twin_elapsed_s` twin seconds after the start; None when done."""
        edge = 0.0
        for stage in self.stages:
            edge += stage.windows * WINDOW_S
            if twin_elapsed_s < edge:
                return stage
        return None

    def stage_of_window(self, index: int) -> Stage | None:
        """The stage that starts window `index` (0 = the first window of the run)."""
        return self.stage_at(index * WINDOW_S + 1e-6)

    # -- files ----------------------------------------------------------------------------------
    def to_json(self) -> dict:
        data = asdict(self)
        data["request"] = self.request.to_json()
        return data

    @classmethod
    def from_json(cls, data: dict) -> "Plan":
        data = dict(data)
        data["request"] = RequestSpec.from_json(data["request"])
        data["limits"] = TierLimits(**data["limits"])
        data["stages"] = [Stage(**s) for s in data["stages"]]
        return cls(**data)

    def public(self) -> dict:
        """The plan without its secrets (for the run folder)."""
        data = self.to_json()
        data["token"] = "***"
        if data["control_token"]:
            data["control_token"] = "***"
        return data

    def write_private(self, path: Path) -> None:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(self.to_json(), handle)

    @classmethod
    def read(cls, path: Path | str) -> "Plan":
        return cls.from_json(json.loads(Path(path).read_text()))


def pick_speed(limits: TierLimits, top_multiplier: float, max_rate: float, clock: bool,
               max_speed: int = MAX_SWEEP_SPEED) -> int:
    """The fastest time-lapse whose top stage stays under `max_rate` wall req/s (1 without clock)."""
    if not clock:
        return 1
    fastest = max_rate * WINDOW_S / (top_multiplier * limits.per_minute)
    allowed = [s for s in SPEEDS if s <= min(fastest, max_speed)]
    return max(allowed) if allowed else 1


def windows_plan(run_id: str, base_url: str, request: RequestSpec, limits: TierLimits, shape: str, *,
                 clock: bool, max_rate: float = DEFAULT_MAX_RATE_RPS, speed: int | None = None,
                 stages: list[Stage] | None = None, align_s: int = WINDOW_S) -> Plan:
    """A paced plan: each stage offers multiplier x the per-minute limit per twin minute."""
    stages = list(stages or SHAPES[shape])
    for stage in stages:
        if stage.multiplier <= 0 or abs(stage.multiplier / 0.5 - round(stage.multiplier / 0.5)) > 1e-9:
            raise PlanError(f"stage multiplier {stage.multiplier} must be a positive multiple of 0.5")
    top = max(s.multiplier for s in stages)
    if speed is None:
        speed = pick_speed(limits, top, max_rate, clock)
    if speed not in SPEEDS or (speed > 1 and not clock):
        raise PlanError(f"time-lapse speed {speed} needs clock control and one of {SPEEDS}")
    half_rate = 0.5 * limits.per_minute * speed / WINDOW_S
    half_users = max(1, math.ceil(half_rate / MAX_USER_RATE))
    plan = Plan(run_id=run_id, tier=limits.tier, base_url=base_url, request=request, limits=limits,
                kind="windows", shape=shape, stages=stages, speed=speed, align_s=align_s,
                half_users=half_users, per_user_rate=half_rate / half_users)
    check_bounds(plan)
    return plan


def burst_plan(run_id: str, base_url: str, request: RequestSpec, limits: TierLimits, *,
               over: float = 1.5, hold_s: float = 3.0) -> Plan:
    """Concurrency probe: `over` x the concurrent-workflow cap users each start one execution at once."""
    if limits.concurrent_workflows is None:
        raise PlanError(f"tier {limits.tier} has no concurrent-workflow cap to probe")
    users = max(limits.concurrent_workflows + 1, math.ceil(limits.concurrent_workflows * over))
    plan = Plan(run_id=run_id, tier=limits.tier, base_url=base_url, request=request, limits=limits,
                kind="burst", shape="burst", users=users, hold_s=hold_s + users / BURST_SPAWN_PER_S)
    check_bounds(plan)
    return plan


def constant_plan(run_id: str, base_url: str, request: RequestSpec, limits: TierLimits, rate: float,
                  hold_s: float) -> Plan:
    """A fixed offered rate for `hold_s` seconds (benchmarks: target vs achieved)."""
    users = max(1, math.ceil(rate / MAX_USER_RATE))
    plan = Plan(run_id=run_id, tier=limits.tier, base_url=base_url, request=request, limits=limits,
                kind="constant", shape="fixed", users=users, per_user_rate=rate / users, hold_s=hold_s)
    check_bounds(plan)
    return plan


def closed_plan(run_id: str, base_url: str, request: RequestSpec, limits: TierLimits, users: int,
                hold_s: float) -> Plan:
    """`users` callers sending back to back for `hold_s` seconds (benchmarks: capacity). The rate is
    bounded by the target's answers; the user count and duration are bounded here."""
    if users > MAX_CLOSED_USERS or hold_s > MAX_CLOSED_S:
        raise PlanError(f"closed-loop runs are bounded to {MAX_CLOSED_USERS} users and {MAX_CLOSED_S:.0f} s")
    plan = Plan(run_id=run_id, tier=limits.tier, base_url=base_url, request=request, limits=limits,
                kind="closed", shape="fixed", users=users, hold_s=hold_s)
    check_bounds(plan)
    return plan


def check_bounds(plan: Plan) -> None:
    """Every run is bounded in rate and time, and aims at loopback only."""
    from urllib.parse import urlsplit
    host = urlsplit(plan.base_url).hostname or ""
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise PlanError(f"load targets loopback only; {plan.base_url} is not")
    top = (max(plan.offered_rate(s.multiplier) for s in plan.stages) if plan.kind == "windows"
           else plan.users * plan.per_user_rate if plan.kind == "constant" else 0.0)
    if top > MAX_RATE_RPS:
        raise PlanError(f"plan offers {top:.0f} req/s, above the bound of {MAX_RATE_RPS:.0f}")
    if plan.users > 1000:
        raise PlanError(f"{plan.users} users is above the bound of 1000")
    if plan.duration_s() > min(plan.max_duration_s, MAX_DURATION_S):
        raise PlanError(f"plan lasts {plan.duration_s():.0f} s, above the bound of "
                        f"{min(plan.max_duration_s, MAX_DURATION_S):.0f} s")
