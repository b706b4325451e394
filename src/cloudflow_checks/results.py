"""What a run found: one record per check, merged from pytest's phase reports.

Behaviour IDs travel in `report.user_properties` so that they reach the controller under
pytest-xdist, where the summary is written.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

from . import redact

PROPERTY = "cloudflow_behaviours"
ORDER = {"failed": 3, "error": 3, "passed": 1, "skipped": 2}


@dataclass
class CheckResult:
    nodeid: str
    behaviours: list[str]
    outcome: str = "passed"     # passed | failed | skipped
    duration_s: float = 0.0
    message: str = ""           # failure message or skip reason, redacted
    correlation_ids: list[str] = field(default_factory=list)
    endpoints: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return asdict(self)


class ResultCollector:
    def __init__(self):
        self.results: dict[str, CheckResult] = {}

    def add(self, report) -> None:
        props = dict(report.user_properties)
        behaviours = props.get(PROPERTY)
        if behaviours is None:
            return
        result = self.results.setdefault(report.nodeid, CheckResult(report.nodeid, list(behaviours)))
        result.duration_s += report.duration
        result.correlation_ids = sorted(set(result.correlation_ids) | set(props.get("correlation_ids", [])))
        result.endpoints = sorted(set(result.endpoints) | set(props.get("endpoints", [])))
        if report.skipped and report.when in ("setup", "call") and result.outcome == "passed":
            result.outcome = "skipped"
            result.message = redact.text(_skip_reason(report))
        elif report.failed:
            result.outcome = "failed"
            phase = "" if report.when == "call" else f"[{report.when}] "
            result.message = redact.text(phase + _failure_message(report))


def _skip_reason(report) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)


def _failure_message(report) -> str:
    crash = getattr(report.longrepr, "reprcrash", None)
    if crash is not None:
        return crash.message[:2000]
    return str(report.longrepr)[-2000:]
