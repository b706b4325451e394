"""`cloudflow-checks`: run the checks, manage the local twin, show coverage.

Exit status: 0 the gate passes, 1 the gate fails, 2 bad configuration or usage (one line on stderr).
"""
from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import click

from .config import ConfigError
from .profiles import PROFILES

EXIT_OK, EXIT_GATE_FAILED, EXIT_USAGE = 0, 1, 2


def project_root() -> Path:
    """The folder holding checks/: the working directory or a parent, else this checkout."""
    for folder in (Path.cwd(), *Path.cwd().parents):
        if (folder / "checks").is_dir() and (folder / "targets.yaml").is_file():
            return folder
    return Path(__file__).resolve().parents[2]


def fail_usage(message: str) -> None:
    click.echo(f"cloudflow-checks: {message}", err=True)
    sys.exit(EXIT_USAGE)


def new_run_dir(reports: Path) -> Path:
    run_id = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(2)
    run_dir = reports / run_id
    run_dir.mkdir(parents=True)
    latest = reports / "latest"
    if latest.is_symlink() or latest.exists():
        latest.unlink()
    latest.symlink_to(run_id)
    return run_dir


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="cloudflow-checks")
def main() -> None:
    """CloudFlow Check & Chaos Suite: does CloudFlow still do what its guide promises?"""


@main.command()
@click.option("--target", default=lambda: os.environ.get("CLOUDFLOW_TARGET", "local"), show_default="local",
              help="target name from targets.yaml")
@click.option("--targets-file", default=None, help="targets file (default: ./targets.yaml)")
@click.option("--profile", default="smoke", show_default=True, help="smoke | gate | full")
@click.option("--workers", default="auto", show_default=True, help="pytest-xdist workers (0: no xdist)")
@click.option("--fail-on", default="SEV-2", show_default=True,
              type=click.Choice(["SEV-1", "SEV-2", "SEV-3", "SEV-4"]),
              help="the gate fails on a failure of this severity or worse")
@click.option("--reports", "reports_dir", default=None, help="reports folder (default: ./reports)")
@click.option("--allow-production", is_flag=True, help="allow destructive checks on a production target")
@click.option("-k", "keyword", default=None, help="only checks matching this pytest -k expression")
def run(target, targets_file, profile, workers, fail_on, reports_dir, allow_production, keyword):
    """Run the checks of a profile against a target; write reports/<run-id>/."""
    from . import targets as targets_module
    from .stack import StackError

    if profile not in PROFILES:
        fail_usage(f"unknown profile {profile!r}; valid profiles: {', '.join(PROFILES)}")
    root = project_root()
    started = False
    # SIGTERM is a stop like Ctrl-C: the stack this run starts is taken down (finally below)
    previous_sigterm = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        try:
            resolved, started = targets_module.resolve(target, targets_file)
            targets_module.check_reachable(resolved)
        except (ConfigError, StackError) as exc:
            fail_usage(str(exc))
        _run_checks(root, resolved, target, targets_file, profile, workers, fail_on, reports_dir,
                    allow_production, keyword)
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second SIGTERM must not cut the teardown short
        try:
            if started:
                from . import stack
                stack.down(resolved.state_dir)
        finally:
            signal.signal(signal.SIGTERM, previous_sigterm)


class _Terminated(SystemExit):
    """SIGTERM, raised where the CLI is, so that `finally` blocks run (exit 143)."""


def _raise_terminated(signum, frame) -> None:
    raise _Terminated(128 + signum)


def _run_checks(root, resolved, target, targets_file, profile, workers, fail_on, reports_dir, allow_production,
                keyword) -> None:
    """pytest over the profile's checks; exits with the gate's status."""
    reports = Path(reports_dir) if reports_dir else root / "reports"
    run_dir = _run_dir_keeping_latest(reports)
    prof = PROFILES[profile]
    args = [sys.executable, "-m", "pytest", *[str(root / p) for p in prof.paths],
            "--rootdir", str(root), "-p", "no:cacheprovider", "-q", "-rfEs",
            "--target", target, "--cf-run-dir", str(run_dir), "--cf-profile", profile,
            "--cf-fail-on", fail_on, "--junitxml", str(run_dir / "junit.xml"),
            "--alluredir", str(run_dir / "allure-results")]
    if targets_file:
        args += ["--targets-file", targets_file]
    if prof.markexpr:
        args += ["-m", prof.markexpr]
    if keyword:
        args += ["-k", keyword]
    if workers not in ("0", 0):
        args += ["-n", str(workers), "--dist", "loadgroup"]
    if allow_production:
        args.append("--allow-production")
    click.echo(f"run {run_dir.name}: profile {profile} against {target} ({resolved.base_url})")
    _warn_seeded_faults(resolved)
    code = _call_pytest(args, root)
    status = _exit_status(code, run_dir)
    if (run_dir / "summary.json").is_file():
        _point_latest(reports, run_dir)
    sys.exit(status)


def _warn_seeded_faults(resolved) -> None:
    """A twin left with fault switches on fails checks on purpose: say so before anyone pages."""
    if not (resolved.control_url and resolved.has("fault_switches")):
        return
    from .client import TwinControl
    try:
        with contextlib.closing(TwinControl(resolved.control_url, resolved.control_token)) as control:
            seeded = [f["name"] for f in control.faults() if f.get("enabled")]
    except Exception:  # noqa: BLE001 - the warning is a courtesy; the checks report the twin's state
        return
    if seeded:
        click.echo(f"warning: the twin has seeded fault switch(es) on: {', '.join(seeded)} "
                   f"(checks of those behaviours are meant to fail; `cloudflow-checks twin down` resets)")


def _run_dir_keeping_latest(reports: Path) -> Path:
    """A new run folder; reports/latest moves to it only once it has a verdict (_point_latest)."""
    run_id = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(2)
    run_dir = reports / run_id
    run_dir.mkdir(parents=True)
    return run_dir


def _point_latest(reports: Path, run_dir: Path) -> None:
    latest = reports / "latest"
    if latest.is_symlink() or latest.exists():
        latest.unlink()
    latest.symlink_to(run_dir.name)


def _call_pytest(args: list[str], root: Path) -> int:
    """pytest in a process group of its own; when this CLI is stopped (SIGTERM, Ctrl-C) the whole
    group (xdist workers included) is stopped before the exception goes on to the caller's finally."""
    child = subprocess.Popen(args, cwd=root, process_group=0)
    try:
        return child.wait()
    except BaseException as exc:
        why = "SIGTERM" if isinstance(exc, _Terminated) else type(exc).__name__
        click.echo(f"cloudflow-checks: stopped by {why}; stopping pytest and what this run started", err=True)
        from .stack import procs
        procs.stop_group(procs.ProcessRecord(child.pid, 0), grace_s=10)
        with contextlib.suppress(ChildProcessError, subprocess.TimeoutExpired):
            child.wait(timeout=5)
        raise


def _exit_status(pytest_code: int, run_dir: Path) -> int:
    summary_file = run_dir / "summary.json"
    if pytest_code == 5:
        click.echo("cloudflow-checks: no check ran: none was collected for this profile and -k", err=True)
        return EXIT_USAGE
    if pytest_code in (0, 1) and not summary_file.is_file():  # the plugin writes no verdict then
        click.echo(f"cloudflow-checks: no check ran: every collected check was skipped; see {run_dir}/junit.xml",
                   err=True)
        return EXIT_USAGE
    if pytest_code in (2, 3, 4) or not summary_file.is_file():
        click.echo(f"cloudflow-checks: pytest stopped with status {pytest_code}; see {run_dir}", err=True)
        return EXIT_USAGE
    summary = json.loads(summary_file.read_text())
    verdict = summary["verdict"]
    click.echo(f"gate {verdict['gate']}: {verdict['checks']['passed']} passed, "
               f"{verdict['checks']['failed']} failed, {verdict['checks']['skipped']} skipped; "
               f"worst failing severity {verdict['worst_severity'] or 'none'}")
    click.echo(f"reports: {run_dir}/summary.md")
    return EXIT_GATE_FAILED if verdict["gate"] == "fail" else EXIT_OK


@main.command()
@click.option("--scope", "scopes", multiple=True, default=None,
              help="catalogue scopes that must be covered (default: synthetic, chaos, kubernetes)")
@click.option("--json", "as_json", is_flag=True, help="print JSON instead of a table")
def coverage(scopes, as_json):
    """Print the behaviour catalogue with the checks covering each ID and its last status."""
    from rich.console import Console
    from rich.table import Table

    from . import coverage as cov
    from .spec import load

    root = project_root()
    scopes = tuple(scopes) or cov.CHECK_SCOPES
    spec = load()
    table_rows = list(cov.rows(spec, cov.collect(root), cov.last_statuses(root / "reports"), scopes))
    uncovered = [r["id"] for r in table_rows if r["in_scope"] and not r["checks"]]
    if as_json:
        click.echo(json.dumps({"rows": table_rows, "uncovered": uncovered}, indent=2))
    else:
        table = Table(title=f"CloudFlow {spec.guide_version} behaviour catalogue")
        for column in ("ID", "Title", "Guide section", "Checks", "Last status"):
            table.add_column(column, overflow="fold")
        for r in table_rows:
            count = str(len(r["checks"])) if r["in_scope"] else f"{len(r['checks'])} ({r['scope']})"
            style = "red" if r["id"] in uncovered else None
            table.add_row(r["id"], r["title"], r["guide"], count, r["last_status"], style=style)
        Console(width=200).print(table)
        covered = sum(1 for r in table_rows if r["in_scope"] and r["checks"])
        in_scope = sum(1 for r in table_rows if r["in_scope"])
        click.echo(f"{covered} of {in_scope} in-scope behaviours covered"
                   + (f"; uncovered: {', '.join(uncovered)}" if uncovered else ""))
    sys.exit(1 if uncovered else 0)


@main.command()
@click.option("--fault", "only", multiple=True, help="only these faults (repeatable)")
@click.option("--reports", "reports_dir", default=None, help="reports folder (default: ./reports)")
@click.option("--suite", "suites", multiple=True, type=click.Choice(["checks", "chaos", "load"]),
              help="run only these suites per fault (repeatable; default: all three)")
def selftest(only, reports_dir, suites):
    """Turn each of the twin's seeded faults on in turn and show which checks catch it."""
    from . import selftest as selftest_module
    from . import stack
    from . import targets as targets_module
    from .client import TwinControl

    root = project_root()
    try:
        resolved, started = targets_module.resolve("local")
    except ConfigError as exc:
        fail_usage(str(exc))
    try:
        control = TwinControl(resolved.control_url, resolved.control_token)
        known = {f["name"] for f in control.faults()}
        unknown = set(only) - known
        if unknown:
            fail_usage(f"unknown faults {sorted(unknown)}; see: cloudflow-checks twin faults")
        out_dir = new_run_dir(Path(reports_dir) if reports_dir else root / "reports")

        def restart(faults: list[str]) -> TwinControl:
            stack.down(resolved.state_dir)
            info, _ = stack.ensure_up(resolved.state_dir, faults=tuple(faults))
            return TwinControl(info["api_url"], info["admin_token"])

        matrix = selftest_module.run(root, out_dir, control, only=list(only) or None, suites=suites or None,
                                     baseline_args=["-n", "auto"], restart=restart, progress=click.echo)
        click.echo(matrix.headline())
        click.echo(f"detection matrix: {out_dir}/selftest.md")
        ok = matrix.detected == len(matrix.rows) and not matrix.false_alarms
        sys.exit(EXIT_OK if ok else EXIT_GATE_FAILED)
    finally:
        if started:
            stack.down(resolved.state_dir)


def _add_subcommands() -> None:
    """Subcommands that live in their own modules (each owns its area)."""
    from .chaos.cli import gameday
    from .kube.cli import cluster
    from .load.cli import load
    from .reporting.cli import report
    from .stack.cli import twin
    for command in (twin, gameday, report, load, cluster):
        main.add_command(command)


_add_subcommands()


if __name__ == "__main__":
    main()
