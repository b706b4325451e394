"""`cloudflow-checks gameday`: chaos experiments in order against a target, with live progress.

Exit status: 0 every experiment passed, 1 one did not (or was interrupted), 2 bad usage or
configuration (one line on stderr), e.g. a production target without --allow-production.
Writes reports/gameday-<id>/chaos/ (gameday.md and .json, a journal and timeline per experiment);
reports/latest stays with the check runs. Holds the target exclusively, sweep included.
Until the main CLI registers it: `python -m cloudflow_checks.chaos.cli`.
"""
from __future__ import annotations

import os
import secrets
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import click

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _usage(message: str) -> None:
    click.echo(f"cloudflow-checks gameday: {message}", err=True)
    sys.exit(EXIT_USAGE)


@click.command("gameday", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--target", default=lambda: os.environ.get("CLOUDFLOW_TARGET", "local"), show_default="local",
              help="target name from targets.yaml")
@click.option("--targets-file", default=None, help="targets file (default: ./targets.yaml)")
@click.option("--experiment", "names", multiple=True, help="only this experiment (repeatable, in this order)")
@click.option("--reports", "reports_dir", default=None, help="reports folder (default: ./reports)")
@click.option("--allow-production", is_flag=True, help="allow fault injection on a target marked production")
@click.option("--sweep-only", is_flag=True, help="only remove (and report) leftovers of earlier runs")
@click.option("--list", "list_only", is_flag=True, help="list the experiments and exit")
def gameday(target, targets_file, names, reports_dir, allow_production, sweep_only, list_only):
    """Run the chaos experiments against a target: journal + timeline each, summary verdict."""
    from .experiments import EXPERIMENTS

    if list_only:
        for name, cls in EXPERIMENTS.items():
            click.echo(f"{name:22} {', '.join(cls.behaviours):18} {cls.title}")
        return
    unknown = [n for n in names if n not in EXPERIMENTS]
    if unknown:
        _usage(f"unknown experiment {', '.join(unknown)}; known: {', '.join(EXPERIMENTS)}")

    from .. import spec as spec_module
    from .. import targets as targets_module
    from ..cli import project_root
    from ..clock import TargetLock
    from ..config import ConfigError

    try:
        cfg = targets_module.configured(target, targets_file)
    except ConfigError as exc:
        _usage(str(exc))
    if cfg.production and not allow_production:
        _usage(f"target {target} is marked production; fault injection refused without --allow-production")
    started_stack = False
    resolved = None
    try:
        try:
            try:  # a running stack is used as it is: never restarted (that would hide leftovers)
                resolved, started_stack = targets_module.resolve(target, targets_file, start_local=False)
            except ConfigError:
                if sweep_only:
                    raise
                resolved, started_stack = targets_module.resolve(target, targets_file)
            targets_module.check_reachable(resolved)
        except ConfigError as exc:
            _usage(str(exc))
        if not resolved.toxiproxy_url:
            _usage(f"target {target} has no Toxiproxy configured (toxiproxy.url in targets.yaml)")
        sys.exit(_run(resolved, names, reports_dir, sweep_only, spec_module.load(), project_root(), TargetLock))
    finally:
        if started_stack and resolved is not None:
            from .. import stack
            stack.down(resolved.state_dir)


def _gameday_dir(reports: Path) -> Path:
    """reports/gameday-<run id>/: a folder of its own. `reports/latest` is left alone: it is the last
    check run, whose summary.json `report` and `coverage` read (a game day writes gameday.json)."""
    run_id = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(2)
    run_dir = reports / f"gameday-{run_id}"
    run_dir.mkdir(parents=True)
    return run_dir


def _run(resolved, names, reports_dir, sweep_only, spec, root, TargetLock) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from .. import redact
    from ..fixtures import _lock_folder
    from . import gameday as gd
    from .context import ChaosContext, MissingCapability
    from .sweep import sweep_target

    console = Console(stderr=False, soft_wrap=True)  # paths stay whole, whatever the width
    redact.register(*resolved.secrets())
    t0 = time.monotonic()
    with TargetLock(_lock_folder(resolved)).exclusive():
        # First, before anything logs in: a partition left by a killed run would fail the login.
        sweep = sweep_target(resolved, spec)
        for line in sweep:
            console.print(f"sweep at start: removed leftover {line}")
        if sweep_only:
            console.print(f"sweep: {len(sweep)} leftover(s) found and removed")
            return EXIT_OK
        out_dir = _gameday_dir(Path(reports_dir) if reports_dir else root / "reports") / "chaos"
        out_dir.mkdir(parents=True)
        try:
            ctx = ChaosContext.build(resolved, spec)
        except MissingCapability as exc:
            _usage(str(exc))
        except Exception as exc:  # the target cannot be used (login, provisioning): one line, not a traceback
            console.print(f"game day FAILED: could not prepare the target: {type(exc).__name__}: {exc}")
            return EXIT_FAILED
        try:
            count = len(names) if names else len(gd.ORDER)
            with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                          TimeElapsedColumn(), console=console, transient=False) as progress:
                task = progress.add_task("game day", total=count)

                def on_progress(name: str, phase: str) -> None:
                    progress.update(task, description=f"{name}: {phase}")
                    if phase.startswith(("done", "skipped")):
                        progress.advance(task)
                        progress.console.print(f"{name}: {phase}")

                outcomes = gd.run(ctx, list(names) or None, out_dir, sweep=sweep, progress=on_progress)
        finally:
            ctx.close()
    summary = gd.write_summary(outcomes, sweep, ctx.target_info(), out_dir, t0)
    redact.sweep(out_dir.parent)  # findings quote responses: the last net over every file written
    for o in outcomes:
        console.print(f"{o.name:22} {o.status:12} {o.duration_s:6.1f} s  {o.journal or o.skipped_reason}")
        for f in o.findings:
            console.print(f"    - {f}")
    console.print(f"game day {summary['verdict'].upper()} in {summary['duration_s']} s: {out_dir}/gameday.md")
    return EXIT_OK if summary["verdict"] == "pass" else EXIT_FAILED


if __name__ == "__main__":
    gameday()
