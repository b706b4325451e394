"""summary.json and summary.md: the run's answer, per behaviour ID, with a severity verdict.

Schema `cloudflow-checks/summary`, version 2, documented in docs/summary-schema.md. `build()` is
pure (spec + check results -> dict); `write()` adds the history trends (flaky / persistent),
appends the run to reports/history.jsonl, writes summary.json and summary.md, and, when the gate
fails, incident-report.md.
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
from . import history

SCHEMA = "cloudflow-checks/summary"
SCHEMA_VERSION = 2
INCIDENT_FILE = "incident-report.md"

# What the guide's "Escalation Procedures > Step 3" says to do at each level.
ESCALATION = {
    "SEV-1": "Critical (P1): page the on-call engineer immediately; response time < 15 minutes.",
    "SEV-2": "High (P2): create an incident ticket and notify on-call; response time < 1 hour.",
    "SEV-3": "Medium (P3): create a ticket for normal business hours; response time < 4 hours.",
    "SEV-4": "Low (P4): standard support ticket; response time < 2 business days.",
}


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
    failing = {sev: sorted(bid for bid, b in behaviours.items() if b["status"] == "failed" and b["severity"] == sev)
               for sev in SEVERITIES}
    worst = next((sev for sev in SEVERITIES if failing[sev]), None)
    blocking = [bid for sev in SEVERITIES if severity_rank(sev) <= severity_rank(run.fail_on) for bid in failing[sev]]
    counts = Counter(r.outcome for r in results)
    return redact.data({
        "schema": SCHEMA, "schema_version": SCHEMA_VERSION,
        "run_id": run.run_id, "target": run.target, "profile": run.profile,
        "started_at": run.started_at, "finished_at": run.finished_at, "duration_s": round(run.duration_s, 2),
        "guide": {"title": "CloudFlow Platform Troubleshooting Guide", "version": spec.guide_version},
        "verdict": {
            "gate": "fail" if blocking else "pass", "fail_on": run.fail_on, "worst_severity": worst,
            "blocking": blocking,
            "failing_by_severity": failing,
            "checks": {"passed": counts["passed"], "failed": counts["failed"], "skipped": counts["skipped"]},
            "behaviours": dict(Counter(v["status"] for v in behaviours.values())),
        },
        "behaviours": behaviours,
        "checks": [r.to_json() for r in results],
        "history": None,
        "artifacts": {"summary_md": "summary.md", "junit": "junit.xml", "allure_results": "allure-results",
                      "incident_report": None},
    })


def add_history(summary: dict, past: list[dict], window: int = history.DEFAULT_WINDOW) -> dict:
    """Mark each check and behaviour with its trend over the last `window` runs of the same target."""
    found = history.trends(history.entry(summary), past, window)
    for check in summary["checks"]:
        t = found["checks"][check["nodeid"]]
        check["trend"] = t["trend"]
        check["failed_in"] = {"failed": t["failed"], "ran": t["ran"]}
    for bid, b in summary["behaviours"].items():
        b["trend"] = found["behaviours"][bid]["trend"] if bid in found["behaviours"] else None
    summary["history"] = {
        "window": found["window"], "runs": found["runs"],
        "flaky": sorted(n for n, t in found["checks"].items() if t["trend"] == history.FLAKY),
        "persistent": sorted(n for n, t in found["checks"].items() if t["trend"] == history.PERSISTENT),
        "behaviours": {bid: t for bid, t in found["behaviours"].items() if t["trend"] != history.STABLE},
    }
    return summary


# -- summary.md ---------------------------------------------------------------------------------
def to_markdown(summary: dict) -> str:
    v = summary["verdict"]
    t = summary["target"]
    checks = {c["nodeid"]: c for c in summary["checks"]}
    behaviours = summary["behaviours"]
    gate = v["gate"].upper()
    if v["gate"] == "fail":
        headline = (f"**Release gate: FAIL.** {len(v['blocking'])} behaviour(s) at {v['fail_on']} or worse "
                    f"failed ({', '.join(v['blocking'])}); worst {v['worst_severity']}. "
                    f"{ESCALATION[v['worst_severity']]}")
    elif v["worst_severity"]:
        below = [bid for sev in SEVERITIES for bid in v["failing_by_severity"].get(sev, [])]
        headline = (f"**Release gate: PASS** (the gate fails on {v['fail_on']} or worse), "
                    f"with {len(below)} failing behaviour(s) below the bar: {', '.join(below)}.")
    else:
        headline = f"**Release gate: PASS.** No check failed (the gate fails on {v['fail_on']} or worse)."
    lines = [
        f"# CloudFlow checks: gate {gate}", "", headline, "",
        f"- Target: **{t.get('name')}** ({t.get('kind')}, {t.get('base_url')})",
        f"- Profile: {summary['profile']}; run {summary['run_id']}; {summary['started_at']} .. "
        f"{summary['finished_at']} ({summary['duration_s']} s)",
        f"- Checks: {v['checks']['passed']} passed, {v['checks']['failed']} failed, "
        f"{v['checks']['skipped']} skipped",
        f"- Worst failing severity: {v['worst_severity'] or 'none'}",
        f"- Guide: CloudFlow Platform Troubleshooting Guide {summary['guide']['version']}",
    ]
    hist = summary.get("history")
    if hist:
        lines.append(f"- History: last {len(hist['runs'])} run(s) of this target (window {hist['window']}): "
                     f"{len(hist['persistent'])} persistent, {len(hist['flaky'])} flaky check(s)")
    if (summary.get("artifacts") or {}).get("incident_report"):
        lines.append(f"- Incident report: [{summary['artifacts']['incident_report']}]"
                     f"({summary['artifacts']['incident_report']})")
    lines.append("")

    failed = [(bid, b) for bid, b in behaviours.items() if b["status"] == "failed"]
    if failed:
        lines += ["## Failures by severity", ""]
        for sev in SEVERITIES:
            group = [(bid, b) for bid, b in failed if b["severity"] == sev]
            if not group:
                continue
            bar = "blocks the gate" if bid_blocks(sev, v["fail_on"]) else "below the gate's bar"
            lines += [f"### {sev} ({bar})", ""]
            for bid, b in group:
                trend = f" _({b['trend']})_" if b.get("trend") in (history.FLAKY, history.PERSISTENT) else ""
                lines += [f"**{bid}** {b['title']}{trend}  ", f"Guide: {b['guide']}  ",
                          f"Remediation: {b['remediation']}", ""]
                for nodeid in b["checks"]:
                    c = checks[nodeid]
                    if c["outcome"] != "failed":
                        continue
                    ctrend = f" [{c['trend']}]" if c.get("trend") in (history.FLAKY, history.PERSISTENT) else ""
                    lines.append(f"- `{nodeid}`{ctrend}: {_one_line(c['message'])}")
                    if c["endpoints"]:
                        lines.append(f"  - endpoints: {', '.join(c['endpoints'][:8])}")
                    if c["correlation_ids"]:
                        lines.append(f"  - correlation ids: {', '.join(c['correlation_ids'][:10])}")
                lines.append("")

    if hist and (hist["flaky"] or hist["persistent"]):
        lines += ["## Trends over recent runs", "", "| Check | Trend | Failed in |", "|---|---|---|"]
        for nodeid in hist["persistent"] + hist["flaky"]:
            c = checks[nodeid]
            lines.append(f"| `{nodeid}` | {c['trend']} | {_failed_in(c)} |")
        lines.append("")

    skipped = [c for c in summary["checks"] if c["outcome"] == "skipped"]
    if skipped:
        lines += ["## Skipped", "", "| Check | Behaviours | Reason |", "|---|---|---|"]
        for c in skipped:
            lines.append(f"| `{c['nodeid']}` | {', '.join(c['behaviours'])} | {_one_line(c['message'])} |")
        lines.append("")

    passed = [(bid, b) for bid, b in behaviours.items() if b["status"] == "passed"]
    if passed:
        lines += ["## Passed", "", "| ID | Severity | Checks | Guide section |", "|---|---|---|---|"]
        for bid, b in passed:
            flag = f" ({b['trend']})" if b.get("trend") == history.FLAKY else ""
            lines.append(f"| {bid}{flag} | {b['severity']} | {len(b['checks'])} | {b['guide']} |")
        lines.append("")
    not_run = [bid for bid, b in behaviours.items() if b["status"] == "not-run"]
    if not_run:
        lines += [f"Not in this run's profile or scope: {', '.join(not_run)}", ""]
    return "\n".join(lines)


def bid_blocks(severity: str, fail_on: str) -> bool:
    return severity_rank(severity) <= severity_rank(fail_on)


def _failed_in(check: dict) -> str:
    f = check.get("failed_in") or {}
    return f"{f.get('failed', '?')} of {f.get('ran', '?')} runs"


def _one_line(text: str) -> str:
    first = (text or "").strip().splitlines()
    return (first[0] if first else "")[:300].replace("|", "\\|")


# -- writing ------------------------------------------------------------------------------------
def write(summary: dict, run_dir: Path, *, target=None, window: int = history.DEFAULT_WINDOW) -> dict:
    """Write the run's summary files (and the incident report when the gate fails); returns the
    summary as written. `target` (a resolved config.Target) lets the incident report read the
    target's logs and rollout history; without it those sections say so."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    hist_file = history.history_path(run_dir)
    summary = add_history(summary, history.read(hist_file), window)
    if summary["verdict"]["gate"] == "fail":
        from . import incident
        summary["artifacts"]["incident_report"] = INCIDENT_FILE
        incident.write(run_dir, summary, target)
    summary = redact.data(summary)
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    (run_dir / "summary.md").write_text(redact.text(to_markdown(summary)))
    history.append(hist_file, history.entry(summary))
    return summary
