"""`cloudflow-checks report [RUN]`: look at a run's reports; `--html` builds the Allure HTML report.

RUN is a run id under the reports folder, a path to a run folder, or nothing (reports/latest).
Exit status: 0 done, 1 the run's gate failed (plain `report` only, for scripts), 2 bad usage or a
missing tool (one line on stderr).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click

EXIT_OK, EXIT_GATE_FAILED, EXIT_USAGE = 0, 1, 2


def _fail(message: str) -> None:
    click.echo(f"cloudflow-checks report: {message}", err=True)
    sys.exit(EXIT_USAGE)


def resolve_run(run: str | None, reports: Path) -> Path:
    if run:
        candidate = Path(run)
        if not candidate.is_dir():
            candidate = reports / run
    else:
        candidate = reports / "latest"
    if not (candidate / "summary.json").is_file():
        runs = sorted(p.name for p in reports.iterdir() if (p / "summary.json").is_file()) if reports.is_dir() else []
        hint = f"; recent runs: {', '.join(runs[-5:])}" if runs else f"; no runs in {reports}"
        _fail(f"no run folder with a summary.json at {candidate}{hint}")
    return candidate.resolve()


@click.command()
@click.argument("run", required=False)
@click.option("--html", is_flag=True, help="build the Allure HTML report (<run>/allure-report/index.html)")
@click.option("--screenshot", "screenshot_png", default=None, metavar="PNG",
              help="with --html: also save a headless-Chromium screenshot of the report")
@click.option("--incident", is_flag=True,
              help="(re)write incident-report.md, reading the target's logs and rollout history")
@click.option("--reports", "reports_dir", default=None, help="reports folder (default: ./reports)")
@click.option("--targets-file", default=None, help="targets file, for --incident (default: ./targets.yaml)")
def report(run, html, screenshot_png, incident, reports_dir, targets_file):
    """Show a run's verdict; build its HTML report; rewrite its incident report."""
    from ..cli import project_root
    from .. import redact

    root = project_root()
    reports = Path(reports_dir) if reports_dir else root / "reports"
    run_dir = resolve_run(run, reports)
    summary = json.loads((run_dir / "summary.json").read_text())
    verdict = summary["verdict"]
    if incident:
        _write_incident(run_dir, summary, targets_file)
    if html:
        from . import allure_html, browser
        try:
            index = allure_html.build(run_dir, root)
        except (allure_html.ReportToolMissing, FileNotFoundError) as exc:
            _fail(str(exc))
        except RuntimeError as exc:
            _fail(str(exc))
        redact.sweep(index.parent)
        click.echo(f"HTML report: {index}")
        if screenshot_png:
            try:
                click.echo(f"screenshot: {browser.screenshot(index, Path(screenshot_png))}")
            except (FileNotFoundError, RuntimeError) as exc:
                _fail(str(exc))
        return
    click.echo(f"run {summary['run_id']} on {summary['target'].get('name')}: gate {verdict['gate']} "
               f"(fail on {verdict['fail_on']}); worst failing severity {verdict['worst_severity'] or 'none'}")
    click.echo(f"summary: {run_dir / 'summary.md'}")
    if (run_dir / "incident-report.md").is_file():
        click.echo(f"incident report: {run_dir / 'incident-report.md'}")
    sys.exit(EXIT_GATE_FAILED if verdict["gate"] == "fail" and not incident else EXIT_OK)


def _write_incident(run_dir: Path, summary: dict, targets_file: str | None) -> None:
    from .. import redact
    from ..config import ConfigError
    from . import incident as incident_module

    target = None
    try:
        from .. import targets
        target, _ = targets.resolve(summary["target"]["name"], targets_file, start_local=False)
        redact.register(*target.secrets())
    except ConfigError as exc:
        click.echo(f"cloudflow-checks report: target not in hand ({exc}); writing without logs", err=True)
    path = incident_module.write(run_dir, summary, target)
    click.echo(f"incident report: {path}")
