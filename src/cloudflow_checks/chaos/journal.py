"""The journal of one experiment run (after Chaos Toolkit's): what was planned, what ran, what was
seen, what was measured against which bound, and the verdict. Written as JSON, secrets redacted."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .. import redact

STATUSES = ("completed", "deviated", "aborted", "interrupted", "failed")


@dataclass
class Measurement:
    name: str
    value: float | None
    bound: float | None
    unit: str = "s"
    source: str = ""        # which spec tolerance the bound comes from

    @property
    def ok(self) -> bool:
        return self.value is not None and (self.bound is None or self.value <= self.bound)

    def to_json(self) -> dict:
        return {"name": self.name, "value": self.value, "bound": self.bound, "unit": self.unit,
                "ok": self.ok, "source": self.source}


@dataclass
class Activity:
    phase: str              # steady-state-before | method | rollback | steady-state-after | verify
    name: str
    started: float
    ended: float | None = None
    status: str = "running"  # succeeded | failed | deviated | error | interrupted
    output: Any = None

    def to_json(self) -> dict:
        return dict(self.__dict__)


@dataclass
class Journal:
    experiment: dict[str, Any]
    target: dict[str, Any]
    started_at: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))
    ended_at: str | None = None
    duration_s: float | None = None
    status: str = "running"
    sweep: list[str] = field(default_factory=list)
    activities: list[Activity] = field(default_factory=list)
    faults: list[dict] = field(default_factory=list)
    measurements: list[Measurement] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)      # deviations, one clear line each
    invariants: list[dict] = field(default_factory=list)
    history: dict[str, Any] | None = None
    samples: list[dict] = field(default_factory=list)
    error: str | None = None
    leftovers_after: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.status == "completed" and not self.findings and not self.leftovers_after

    def failure_message(self) -> str:
        lines = [f"experiment {self.experiment['name']}: {self.status}"]
        if self.error:
            lines.append(f"  error: {self.error}")
        lines += [f"  - {f}" for f in self.findings]
        if self.leftovers_after:
            lines.append(f"  LEFT BEHIND after rollback: {', '.join(self.leftovers_after)}")
        return "\n".join(lines)

    def to_json(self) -> dict:
        return {
            "experiment": self.experiment, "target": self.target, "status": self.status,
            "passed": self.passed, "started_at": self.started_at, "ended_at": self.ended_at,
            "duration_s": self.duration_s, "sweep_at_start": self.sweep,
            "faults": self.faults, "measurements": [m.to_json() for m in self.measurements],
            "findings": self.findings, "invariants": self.invariants, "error": self.error,
            "leftovers_after_rollback": self.leftovers_after,
            "run": [a.to_json() for a in self.activities],
            "history": self.history, "samples": self.samples,
        }

    def write(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(self.to_json(), indent=2, default=str)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(redact.text(text) + "\n")
        tmp.replace(path)  # never half-written
        return path
