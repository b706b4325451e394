"""`cloudflow-checks load`: drive each rate-limit tier to its limits and past them, with verdicts.

    cloudflow-checks load [--tier free|standard|premium|enterprise|all] [--workers N] [--target NAME]

Per tier: a time-lapsed sweep at 0.5x, 1x and 1.5x the per-minute limit, a burst at the
concurrent-workflow cap, and (free tier, or --hourly) a time-lapsed hour. Exit status: 0 all verdicts
pass, 1 a verdict fails or is inconclusive (nothing to judge is no pass), 2 bad configuration or
usage (one line on stderr), 143 stopped by SIGTERM (like Ctrl-C: Locust stopped, the plan's secrets
removed, the twin clock put back).
"""
from __future__ import annotations

import contextlib
import functools
import sys
import time
from pathlib import Path

import click

from .plan import DEFAULT_MAX_RATE_RPS, MAX_RATE_RPS

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
EXIT_TERMINATED = 128 + 15   # what the shell reports for a process ended by SIGTERM
TIERS = ("free", "standard", "premium")
SCENARIOS = ("rates", "concurrency", "hourly")


def _usage(message: str) -> None:
    click.echo(f"cloudflow-checks load: {message}", err=True)
    sys.exit(EXIT_USAGE)


def _unwinds_on_sigterm(command):
    """SIGTERM unwinds the whole command as Ctrl-C does: the runner stops Locust and removes the
    plan's secrets, the ExitStack puts the twin clock back, the finally closes and stops the rest."""
    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        from .runner import Terminated, sigterm_unwinds
        try:
            with sigterm_unwinds():
                return command(*args, **kwargs)
        except Terminated:
            click.echo("cloudflow-checks load: stopped by SIGTERM (Locust stopped, clock restored); no verdict",
                       err=True)
            sys.exit(EXIT_TERMINATED)
    return wrapper


@click.command("load")
@click.option("--tier", default="all", show_default=True,
              type=click.Choice([*TIERS, "enterprise", "all"]), help="which tier to drive (all: free, standard, premium)")
@click.option("--workers", default=0, show_default=True, type=click.IntRange(0, 8),
              help="Locust workers under one master on loopback (0: one process)")
@click.option("--target", default="local", show_default=True, envvar="CLOUDFLOW_TARGET", help="target name from targets.yaml")
@click.option("--targets-file", default=None, help="targets file (default: ./targets.yaml)")
@click.option("--scenario", "scenarios", multiple=True, type=click.Choice(SCENARIOS),
              help="rates | concurrency | hourly (repeatable; default: rates and concurrency, hourly for free)")
@click.option("--shape", default="sweep", show_default=True,
              type=click.Choice(["sweep", "half", "at-limit", "over-limit"]), help="load shape of the rates scenario")
@click.option("--max-rate", default=DEFAULT_MAX_RATE_RPS, show_default=True, type=click.FloatRange(1, MAX_RATE_RPS),
              help="highest wall-clock request rate a run may offer (req/s); sets the time-lapse")
@click.option("--enterprise-per-minute", type=click.IntRange(1), default=None, envvar="CLOUDFLOW_ENTERPRISE_PER_MINUTE",
              help="the enterprise workspace's custom per-minute limit (configuration)")
@click.option("--enterprise-per-hour", type=click.IntRange(1), default=None, envvar="CLOUDFLOW_ENTERPRISE_PER_HOUR",
              help="the enterprise workspace's custom per-hour limit (configuration)")
@click.option("--reports", "reports_dir", default=None, help="reports folder (default: ./reports)")
@click.option("--allow-production", is_flag=True, help="allow load against a target marked production")
@_unwinds_on_sigterm
def load(tier, workers, target, targets_file, scenarios, shape, max_rate, enterprise_per_minute,
         enterprise_per_hour, reports_dir, allow_production):
    """Drive rate-limit tiers with Locust and judge the limiter (RATE-01/02/03, PERF-02)."""
    from .. import accounts, targets as targets_module
    from .. import spec as spec_module
    from ..client import CloudFlowClient, TwinControl
    from ..clock import Clock, TargetLock
    from ..config import ConfigError
    from ..fixtures import _lock_folder
    from . import scenarios as sc
    from .plan import PlanError
    from .runner import LoadRunError

    tiers = list(TIERS) if tier == "all" else [tier]
    enterprise = None
    if tier == "enterprise":
        if not (enterprise_per_minute and enterprise_per_hour):
            _usage("--tier enterprise needs --enterprise-per-minute and --enterprise-per-hour (custom limits)")
        enterprise = {"per_minute": enterprise_per_minute, "per_hour": enterprise_per_hour}
    try:
        resolved, started = targets_module.resolve(target, targets_file)
    except ConfigError as exc:
        _usage(str(exc))
    api = None
    try:
        if resolved.production and not allow_production:
            _usage(f"target {resolved.name} is marked production; pass --allow-production to load it")
        if not resolved.has("provisioning"):
            _usage(f"target {resolved.name} lacks capability provisioning (each tier needs a fresh workspace)")
        targets_module.check_reachable(resolved)
        from ..cli import new_run_dir, project_root
        run_dir = new_run_dir(Path(reports_dir) if reports_dir else project_root() / "reports") / "load"
        api = CloudFlowClient(resolved.base_url)
        ctx = sc.Context(target=resolved, api=api, admin=accounts.platform_admin_client(api, resolved),
                         spec=spec_module.load(), workers=workers, max_rate=max_rate, enterprise=enterprise)
        clock_held = resolved.has("clock_control") and resolved.control_url
        outcomes = []
        with contextlib.ExitStack() as stack:
            if clock_held:
                stack.enter_context(TargetLock(_lock_folder(resolved)).exclusive())
                ctx.control = stack.enter_context(contextlib.closing(
                    TwinControl(resolved.control_url, resolved.control_token)))
                stack.callback(Clock(ctx.control).restore)
            for name in tiers:
                wanted = scenarios or ("rates", "concurrency", *(("hourly",) if name == "free" else ()))
                for scenario in wanted:
                    if scenario == "concurrency" and ctx.limits(name).concurrent_workflows is None:
                        continue
                    if scenario == "hourly" and ctx.control is None:
                        click.echo(f"[{name} hourly] skipped: target {resolved.name} lacks clock_control")
                        continue
                    folder = run_dir / f"{name}-{scenario}"
                    t0 = time.monotonic()
                    outcome = {"rates": lambda: sc.rate_windows(ctx, name, folder, shape=shape),
                               "concurrency": lambda: sc.concurrency(ctx, name, folder),
                               "hourly": lambda: sc.hourly(ctx, name, folder)}[scenario]()
                    outcomes.append(outcome)
                    for line in outcome.lines():
                        click.echo(line)
                    click.echo(f"[{name} {scenario}] {outcome.requests} requests, "
                               f"{time.monotonic() - t0:.1f} s; {folder}")
        passed = all(o.passed for o in outcomes)
        # Nothing to judge is no pass (exit 1), but it is not reported as a failure of the product.
        unjudged = all(v.inconclusive for o in outcomes for v in o.verdicts if not v.passed)
        status = "PASS" if passed else "INCONCLUSIVE" if unjudged else "FAIL"
        click.echo(f"load: {status} ({sum(o.passed for o in outcomes)}/{len(outcomes)} "
                   f"scenarios); reports in {run_dir}")
        sys.exit(EXIT_OK if passed else EXIT_FAILED)
    except (ConfigError, PlanError) as exc:
        _usage(str(exc))
    except (LoadRunError, accounts.ProvisioningError) as exc:
        click.echo(f"cloudflow-checks load: no verdict: {exc}", err=True)
        sys.exit(EXIT_FAILED)
    finally:
        if api is not None:
            api.close()
        if started:
            from .. import stack
            stack.down(resolved.state_dir)


main = load

if __name__ == "__main__":
    load()
