"""Whole load scenarios for one tier: provision a workspace, plan, run Locust, judge, report.

Used by both `cloudflow-checks load` and the pytest checks in load/. Every scenario uses a fresh
workspace of its own (its whole rate-limit budget is in the run's history). The caller holds the
target's clock exclusively when it passes `control` (time-lapse, hour alignment).
"""
from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, replace
from pathlib import Path

from .. import accounts
from ..client import CloudFlowClient, TwinControl
from ..config import Target
from . import paths, report, runner, verdicts
from .plan import (DEFAULT_MAX_RATE_RPS, HOUR_S, PlanError, Stage, TierLimits, burst_plan, windows_plan)

CONCURRENCY_TIMEOUT_S = 30      # twin seconds; executions of the burst end by themselves after it
HOURLY_LEAD_S = 120             # twin seconds before the hour edge when the hourly run is prepared
HOURLY_SPEED = 60               # one twin minute per wall second


@dataclass
class Outcome:
    tier: str
    scenario: str
    folder: Path
    verdicts: list[verdicts.Verdict]
    seconds: float
    requests: int

    @property
    def passed(self) -> bool:
        return all(v.passed for v in self.verdicts)

    def lines(self) -> list[str]:
        return [f"[{self.tier} {self.scenario}] {v.line()}" for v in self.verdicts]

    def of(self, *behaviours: str) -> "Outcome":
        """The same run judged only by the verdicts of these behaviour IDs (one check per ID)."""
        kept = [v for v in self.verdicts if v.behaviour in behaviours]
        if not kept:
            raise ValueError(f"the {self.scenario} run has no verdict of {', '.join(behaviours)}")
        return replace(self, verdicts=kept)

    def failure_text(self) -> str:
        failed = [v for v in self.verdicts if not v.passed]
        return "\n".join([v.line() + "".join(f"\n    {p}" for p in v.problems) for v in failed]
                         + [f"(run folder: {self.folder})"])


@dataclass
class Context:
    """What a scenario needs from the harness."""
    target: Target
    api: CloudFlowClient
    admin: CloudFlowClient                  # platform admin (provisioning)
    spec: object
    control: TwinControl | None = None      # clock control, held exclusively by the caller
    workers: int = 0
    max_rate: float = DEFAULT_MAX_RATE_RPS
    nice: int = 0
    enterprise: dict | None = None          # custom limits (per_minute, per_hour[, concurrent_workflows])

    def limits(self, tier: str) -> TierLimits:
        return TierLimits.from_spec(self.spec, tier, self.enterprise)

    def workspace(self, tier: str, role: str) -> tuple[accounts.Workspace, str]:
        custom = ({k: v for k, v in self.enterprise.items() if k in ("per_minute", "per_hour", "concurrent_workflows")}
                  if tier == "enterprise" and self.enterprise else None)
        ws = accounts.provision(self.api, self.admin, tier, label=f"load-{tier}", roles=(role,),
                                custom_limits=custom)
        return ws, ws.token(role)


def _run_id(tier: str, scenario: str) -> str:
    return f"{tier}-{scenario}-{time.strftime('%H%M%S')}-{secrets.token_hex(2)}"


def _finish(plan, folder: Path, output: runner.RunOutput, found: list[verdicts.Verdict], scenario: str) -> Outcome:
    report.write(folder, plan, output.history, found, output.seconds, output.workers)
    return Outcome(plan.tier, scenario, folder, found, output.seconds, len(output.history.requests))


def rate_windows(ctx: Context, tier: str, folder: Path, *, shape: str = "sweep",
                 stages: list[Stage] | None = None) -> Outcome:
    """Paced load at 0.5x / 1x / 1.5x the per-minute limit (time-lapsed with clock control)."""
    limits = ctx.limits(tier)
    _ws, token = ctx.workspace(tier, "viewer")
    plan = windows_plan(_run_id(tier, shape), ctx.target.base_url, paths.list_workflows(), limits, shape,
                        clock=ctx.control is not None, max_rate=ctx.max_rate, stages=stages)
    _attach(plan, ctx, token)
    output = runner.run(plan, folder, workers=ctx.workers, nice=ctx.nice)
    return _finish(plan, folder, output, verdicts.judge(output.history, plan, ctx.spec), shape)


def hourly(ctx: Context, tier: str, folder: Path) -> Outcome:
    """1.5x per minute through a time-lapsed hour: exactly the per-hour limit gets through."""
    if ctx.control is None:
        raise PlanError("the hourly scenario needs clock control (an hour of real time is too long)")
    limits = ctx.limits(tier)
    minutes = limits.per_hour // limits.per_minute + 2
    # The run moves the twin clock past an hour: put it back afterwards, or every token issued
    # before (the platform admin's, the next scenario's caller's) has expired.
    start_offset = ctx.control.offset()
    try:
        now = ctx.control.now()
        ctx.control.advance((now // HOUR_S + 1) * HOUR_S - HOURLY_LEAD_S - now)   # near an hour edge ...
        _ws, token = ctx.workspace(tier, "viewer")      # ... so the token outlives the whole hour's run
        plan = windows_plan(_run_id(tier, "hourly"), ctx.target.base_url, paths.list_workflows(), limits,
                            "hourly", clock=True, speed=HOURLY_SPEED, stages=[Stage(1.5, minutes)],
                            align_s=HOUR_S, max_rate=ctx.max_rate)
        _attach(plan, ctx, token)
        output = runner.run(plan, folder, workers=ctx.workers, nice=ctx.nice)
    finally:
        ctx.control.set_offset(start_offset)
    found = verdicts.judge(output.history, plan, ctx.spec, hourly=True)
    return _finish(plan, folder, output, found, "hourly")


def concurrency(ctx: Context, tier: str, folder: Path) -> Outcome:
    """A burst of 1.5x the concurrent-workflow cap in executions: exactly the cap start."""
    limits = ctx.limits(tier)
    ws, token = ctx.workspace(tier, "admin")
    client = ws.as_role("admin")
    created = client.create_workflow({"name": "load-concurrency", "environment": "development",
                                      "timeout": CONCURRENCY_TIMEOUT_S,
                                      "steps": [{"name": "wait", "type": "sleep", "seconds": 10 * CONCURRENCY_TIMEOUT_S}]})
    if created.status_code != 201:
        raise accounts.ProvisioningError(f"create workflow: HTTP {created.status_code}: {created.text[:200]}")
    plan = burst_plan(_run_id(tier, "concurrency"), ctx.target.base_url, paths.execute(created.json()["id"]), limits)
    _attach(plan, ctx, token, clock=False)
    try:
        output = runner.run(plan, folder, workers=ctx.workers, nice=ctx.nice)
        found = verdicts.judge(output.history, plan, ctx.spec)
    finally:
        _drain(ctx, client)
    return _finish(plan, folder, output, found, "concurrency")


def _attach(plan, ctx: Context, token: str, clock: bool = True) -> None:
    plan.token = token
    if clock and ctx.control is not None:
        plan.control_url, plan.control_token = ctx.target.control_url, ctx.target.control_token


def _drain(ctx: Context, client: CloudFlowClient, deadline_s: float = 15) -> None:
    """Give the burst's executions a moment to end (their timeout, sooner with clock control) so the
    engine is quiet for what follows; they end by themselves anyway (fresh workspace per scenario)."""
    if ctx.control is not None:
        ctx.control.advance(CONCURRENCY_TIMEOUT_S + 1)
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        status = client.rate_limit_status()
        if status.status_code == 200 and status.json().get("running_workflows") == 0:
            return
        time.sleep(0.5)
