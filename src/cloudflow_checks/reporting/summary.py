"""summary.json and summary.md: the run's answer, per behaviour ID, with a severity verdict.

Schema `cloudflow-checks/summary` version 1 (documented in docs/summary-schema.md):
run, target, profile, times, guide, verdict {gate, fail_on, worst_severity, counts},
behaviours {ID: {title, guide, severity, status, checks, remediation}}, checks [...].
"""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from .. import redact
from ..results import CheckResult
from ..spec import SEVERITIES, Spec

SCHEMA = "cloudflow-checks/summary"
SCHEMA_VERSION = 1


def severity_rank(sev: str) -> int:
    return SEVERITIES.index(sev)


def behaviour_status(results: list[CheckResult]) -> str:
    if not results:
        return "not-run"
    outcomes = {r.outcome for r in results}
    if "failed" in outcomes:
        return "failed"
    if "passed" in outcomes:
        return "passed"
    return "skipped"


@dataclass
class RunInfo:
    run_id: str
    target: dict
    profile: str
    started_at: str
    finished_at: str
    duration_s: float
    fail_on: str = "SEV-2"


def build(spec: Spec, results: Iterable[CheckResult], run: RunInfo) -> dict:
    results = sorted(results, key=lambda r: r.nodeid)
    by_id: dict[str, list[CheckResult]] = {bid: [] for bid in spec.behaviours}
    for result in results:
        for bid in result.behaviours:
            by_id.setdefault(bid, []).append(result)
    behaviours = {}
    for bid, checks in by_id.items():
        b = spec[bid]
        behaviours[bid] = {
            "title": b.title, "guide": b.guide, "severity": b.severity, "scope": b.scope,
            "status": behaviour_status(checks), "checks": [c.nodeid for c in checks],
            "remediation": b.remediation,
        }
    failed_sev = [behaviours[bid]["severity"] for bid in behaviours if behaviours[bid]["status"] == "failed"]
    worst = min(failed_sev, key=severity_rank) if failed_sev else None
    gate_fails = worst is not None and severity_rank(worst) <= severity_rank(run.fail_on)
    counts = Counter(r.outcome for r in results)
    return redact.data({
        "schema": SCHEMA, "schema_version": SCHEMA_VERSION,
        "run_id": run.run_id, "target": run.target, "profile": run.profile,
        "started_at": run.started_at, "finished_at": run.finished_at, "duration_s": round(run.duration_s, 2),
        "guide": {"title": "CloudFlow Platform Troubleshooting Guide", "version": spec.guide_version},
        "verdict": {
            "gate": "fail" if gate_fails else "pass", "fail_on": run.fail_on, "worst_severity": worst,
            "checks": {"passed": counts["passed"], "failed": counts["failed"], "skipped": counts["skipped"]},
            "behaviours": dict(Counter(v["status"] for v in behaviours.values())),
        },
        "behaviours": behaviours,
        "checks": [r.to_json() for r in results],
    })


def to_markdown(summary: dict) -> str:
    v = summary["verdict"]
    t = summary["target"]
    lines = [
        f"# CloudFlow checks: gate {v['gate'].upper()}",
        "",
        f"- Target: **{t.get('name')}** ({t.get('kind')}, {t.get('base_url')})",
        f"- Profile: {summary['profile']}; run {summary['run_id']}; {summary['started_at']} .. "
        f"{summary['finished_at']} ({summary['duration_s']} s)",
        f"- Checks: {v['checks']['passed']} passed, {v['checks']['failed']} failed, "
        f"{v['checks']['skipped']} skipped",
        f"- Worst failing severity: {v['worst_severity'] or 'none'} (the gate fails on {v['fail_on']} or worse)",
        f"- Guide: CloudFlow Platform Troubleshooting Guide {summary['guide']['version']}",
        "",
    ]
    behaviours = summary["behaviours"]
    checks = {c["nodeid"]: c for c in summary["checks"]}
    failed = [(bid, b) for bid, b in behaviours.items() if b["status"] == "failed"]
    if failed:
        lines += ["## Failures by severity", ""]
        for sev in SEVERITIES:
            group = [(bid, b) for bid, b in failed if b["severity"] == sev]
            if not group:
                continue
            lines += [f"### {sev}", ""]
            for bid, b in group:
                lines += [f"**{bid}** {b['title']}  ", f"Guide: {b['guide']}  ",
                          f"Remediation: {b['remediation']}", ""]
                for nodeid in b["checks"]:
                    c = checks[nodeid]
                    if c["outcome"] == "failed":
                        lines.append(f"- `{nodeid}`: {_one_line(c['message'])}")
                        if c["correlation_ids"]:
                            lines.append(f"  - correlation ids: {', '.join(c['correlation_ids'][:10])}")
                lines.append("")
    skipped = [(bid, b) for bid, b in behaviours.items() if b["status"] == "skipped"]
    if skipped:
        lines += ["## Skipped", "", "| ID | Reason |", "|---|---|"]
        for bid, b in skipped:
            reasons = sorted({_one_line(checks[n]["message"]) for n in b["checks"]})
            lines.append(f"| {bid} | {'; '.join(reasons)} |")
        lines.append("")
    lines += ["## Behaviours", "", "| ID | Severity | Status | Checks | Guide section |", "|---|---|---|---|---|"]
    for bid, b in behaviours.items():
        if b["status"] == "not-run":
            continue
        lines.append(f"| {bid} | {b['severity']} | {b['status']} | {len(b['checks'])} | {b['guide']} |")
    not_run = [bid for bid, b in behaviours.items() if b["status"] == "not-run"]
    if not_run:
        lines += ["", f"Not in this run's profile or scope: {', '.join(not_run)}"]
    return "\n".join(lines) + "\n"


def _one_line(text: str) -> str:
    first = (text or "").strip().splitlines()
    return (first[0] if first else "")[:300].replace("|", "\\|")


def write(summary: dict, run_dir: Path) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    (run_dir / "summary.md").write_text(to_markdown(summary))
