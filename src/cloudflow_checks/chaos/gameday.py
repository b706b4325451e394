"""A game day: experiments in order against one target, live progress, a journal and a timeline
per experiment, and a summary verdict. Also the one place pytest's chaos tests record a run."""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from . import timeline
from .context import ChaosContext, MissingCapability
from .experiments import ORDER, get
from .journal import Journal
from .runner import Experiment, execute


@dataclass
class Outcome:
    name: str
    status: str
    passed: bool
    duration_s: float
    journal: Path | None = None
    picture: Path | None = None
    findings: list[str] = field(default_factory=list)
    measurements: list[dict] = field(default_factory=list)
    skipped_reason: str | None = None

    def to_json(self) -> dict:
        return {"name": self.name, "status": self.status, "passed": self.passed, "duration_s": self.duration_s,
                "journal": str(self.journal) if self.journal else None,
                "timeline": str(self.picture) if self.picture else None, "findings": self.findings,
                "measurements": self.measurements, "skipped": self.skipped_reason}


def record(experiment: Experiment, ctx: ChaosContext, out_dir: Path, *, sweep: list[str] | None = None,
           overrides: dict | None = None, on_phase: Callable[[str], None] | None = None) -> tuple[Journal, Outcome]:
    """Run one experiment and write its journal (JSON) and timeline (PNG) to out_dir."""
    journal = execute(experiment, ctx, sweep=sweep, overrides=overrides, on_phase=on_phase)
    path = journal.write(out_dir / f"{experiment.name}.json")
    try:
        picture = timeline.draw(journal, out_dir / f"{experiment.name}.png")
    except Exception as exc:  # a picture that cannot be drawn must not hide the verdict
        journal.findings.append(f"timeline not drawn: {type(exc).__name__}: {exc}")
        path = journal.write(path)
        picture = None
    return journal, Outcome(experiment.name, journal.status, journal.passed, journal.duration_s or 0.0, path,
                            picture, list(journal.findings), [m.to_json() for m in journal.measurements])


def missing_for(experiment: Experiment, ctx: ChaosContext) -> str | None:
    lacking = [c for c in experiment.requires if not ctx.target.has(c)]
    if lacking:
        return f"target {ctx.target.name} lacks capability {', '.join(lacking)}"
    unknown = [p for p in experiment.proxies if p not in ctx.target.proxies]
    if unknown:
        return f"target {ctx.target.name} configures no Toxiproxy proxy {', '.join(unknown)}"
    return None


def run(ctx: ChaosContext, names: Iterable[str] | None, out_dir: Path, *, sweep: list[str],
        progress: Callable[[str, str], None] = lambda name, phase: None) -> list[Outcome]:
    """Each experiment in order, after the caller's sweep (`sweep.sweep_target`, reported in the first
    journal); stops after an interrupted one."""
    experiments = [get(n) for n in names] if names else [cls() for cls in ORDER]
    found = list(sweep)
    outcomes: list[Outcome] = []
    for experiment in experiments:
        reason = missing_for(experiment, ctx)
        if reason:
            outcomes.append(Outcome(experiment.name, "skipped", False, 0.0, skipped_reason=reason))
            progress(experiment.name, f"skipped: {reason}")
            continue
        try:
            journal, outcome = record(experiment, ctx, out_dir, sweep=found,
                                      on_phase=lambda phase, n=experiment.name: progress(n, phase))
        except MissingCapability as exc:
            outcomes.append(Outcome(experiment.name, "skipped", False, 0.0, skipped_reason=str(exc)))
            continue
        found = []
        outcomes.append(outcome)
        progress(experiment.name, f"done: {outcome.status}")
        if journal.status == "interrupted":
            break
    return outcomes


def write_summary(outcomes: list[Outcome], sweep: list[str], target: dict, out_dir: Path, started: float) -> dict:
    ran = [o for o in outcomes if o.status != "skipped"]
    verdict = "pass" if ran and all(o.passed for o in ran) and len(ran) == len(outcomes) else "fail"
    summary = {"verdict": verdict, "target": target, "duration_s": round(time.monotonic() - started, 1),
               "sweep_at_start": sweep, "experiments": [o.to_json() for o in outcomes]}
    (out_dir / "gameday.json").write_text(json.dumps(summary, indent=2) + "\n")
    lines = [f"# Game day: {verdict.upper()}", "", f"Target: {target.get('name')} ({target.get('base_url')})",
             f"Duration: {summary['duration_s']} s", ""]
    if sweep:
        lines += ["Leftovers found and removed at start:", *[f"- {s}" for s in sweep], ""]
    lines += ["| Experiment | Status | Time to detect | Time to recover | Duration |", "|---|---|---|---|---|"]
    for o in outcomes:
        def m(prefix: str) -> str:
            got = [x for x in o.measurements if x["name"].startswith(prefix)]
            return "; ".join(f"{x['value']} s (<= {x['bound']})" if x["value"] is not None else f"never (<= {x['bound']})"
                             for x in got) or "-"
        lines.append(f"| {o.name} | {o.status if o.status != 'skipped' else 'skipped: ' + (o.skipped_reason or '')} "
                     f"| {m('time_to_detect')} | {m('time_to_recover')} | {o.duration_s:.1f} s |")
    for o in outcomes:
        if o.findings:
            lines += ["", f"## {o.name}", *[f"- {f}" for f in o.findings]]
    (out_dir / "gameday.md").write_text("\n".join(lines) + "\n")
    return summary
