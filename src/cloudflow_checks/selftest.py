"""Detection power: does each check fail when the twin breaks the behaviour it guards?

The twin lists its seeded faults (`GET /_twin/faults`, each naming the behaviour ID it breaks).
The selftest runs the checks once on the unbroken twin (any failure there is a false alarm), then
turns each fault on in turn, runs the checks of that fault's behaviour ID, and records which
failed. A fault is detected when at least one check of its own ID fails.
"""
from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import pytest

from .client import TwinControl

SUITES = ("checks", "chaos", "load")


@dataclass
class FaultRow:
    fault: str
    behaviour: str
    description: str
    detected: bool = False
    failed_checks: list[str] = field(default_factory=list)
    ran_checks: int = 0
    seconds: float = 0.0
    note: str = ""


@dataclass
class Matrix:
    baseline_checks: int = 0
    suites: list[str] = field(default_factory=lambda: list(SUITES))
    false_alarms: list[str] = field(default_factory=list)
    rows: list[FaultRow] = field(default_factory=list)

    @property
    def detected(self) -> int:
        return sum(1 for r in self.rows if r.detected)

    def headline(self) -> str:
        return (f"{self.detected} of {len(self.rows)} seeded faults detected, "
                f"{len(self.false_alarms)} false alarms")

    def to_json(self) -> dict:
        return {"headline": self.headline(), "suites": self.suites, "baseline_checks": self.baseline_checks,
                "false_alarms": self.false_alarms, "faults": [asdict(r) for r in self.rows]}

    def to_markdown(self) -> str:
        lines = [f"# Selftest: {self.headline()}", "", f"Suites run for each fault: {', '.join(self.suites)}", "",
                 f"Baseline on the unbroken twin: {self.baseline_checks} checks, "
                 f"{len(self.false_alarms)} failed" + (f" ({', '.join(self.false_alarms)})" if self.false_alarms else ""),
                 "", "| Fault | Breaks | Detected | Checks that failed |", "|---|---|---|---|"]
        for r in self.rows:
            failed = "<br>".join(f"`{c}`" for c in r.failed_checks) or r.note or "-"
            lines.append(f"| `{r.fault}` | {r.behaviour} | {'yes' if r.detected else '**NO**'} | {failed} |")
        return "\n".join(lines) + "\n"


def _run_pytest(root: Path, run_dir: Path, extra: list[str], target: str, suites=SUITES) -> dict:
    args = [sys.executable, "-m", "pytest", *[str(root / s) for s in suites if (root / s).is_dir()],
            "--rootdir", str(root), "-p", "no:cacheprovider", "-q", "--no-header", "-p", "no:randomly",
            "--target", target, "--cf-run-dir", str(run_dir), *extra]
    with open(run_dir.parent / f"{run_dir.name}.log", "w") as log:
        status = subprocess.call(args, cwd=root, stdout=log, stderr=subprocess.STDOUT)
    summary = run_dir / "summary.json"
    if status == pytest.ExitCode.NO_TESTS_COLLECTED:
        return {"checks": []}   # e.g. the baseline of --suite chaos: every experiment is destructive
    if not summary.is_file():
        raise RuntimeError(f"the checks did not run; see {run_dir.parent / (run_dir.name + '.log')}")
    return json.loads(summary.read_text())


def _failed(summary: dict) -> list[str]:
    return [c["nodeid"] for c in summary["checks"] if c["outcome"] == "failed"]


def run(root: Path, out_dir: Path, control: TwinControl, *, target: str = "local",
        only: list[str] | None = None, suites: tuple[str, ...] | None = None, baseline_args: list[str] | None = None,
        restart: Callable[[list[str]], TwinControl] | None = None,
        progress: Callable[[str], None] = print) -> Matrix:
    """`restart(faults)` restarts the twin with those faults on (for faults read only at start)
    and returns a control client for the restarted twin."""
    out_dir.mkdir(parents=True, exist_ok=True)
    matrix = Matrix()
    control.set_faults([])
    progress("baseline: all checks on the unbroken twin")
    suites = tuple(suites or SUITES)
    matrix.suites = list(suites)
    baseline = _run_pytest(root, out_dir / "baseline", ["-m", "not destructive", *(baseline_args or [])], target,
                           suites)
    matrix.baseline_checks = len(baseline["checks"])
    if not matrix.baseline_checks:
        progress("baseline: no non-destructive check in these suites; false alarms are not measured")
    matrix.false_alarms = _failed(baseline)
    faults = [f for f in control.faults() if not only or f["name"] in only]
    for index, fault in enumerate(faults, 1):
        row = FaultRow(fault["name"], fault["behaviour"], fault.get("description", ""))
        t0 = time.monotonic()
        needs_restart = bool(fault.get("restart_required"))
        try:
            if needs_restart and restart:
                control = restart([fault["name"]])
            else:
                control.set_faults([fault["name"]])
            summary = _run_pytest(root, out_dir / f"fault-{fault['name']}",
                                  ["--cf-behaviour", fault["behaviour"]], target, suites)
            row.ran_checks = len(summary["checks"])
            row.failed_checks = _failed(summary)
            row.detected = any(fault["behaviour"] in c["behaviours"]
                               for c in summary["checks"] if c["outcome"] == "failed")
            if not row.ran_checks:
                row.note = "no check of this behaviour ran"
        finally:
            if needs_restart and restart:
                control = restart([])
            else:
                control.set_faults([])
        row.seconds = round(time.monotonic() - t0, 1)
        matrix.rows.append(row)
        verdict = f"detected by {len(row.failed_checks)} failing checks" if row.detected else "NOT DETECTED"
        progress(f"[{index}/{len(faults)}] {row.fault} ({row.behaviour}): {verdict} ({row.seconds} s)")
    (out_dir / "selftest.json").write_text(json.dumps(matrix.to_json(), indent=2) + "\n")
    (out_dir / "selftest.md").write_text(matrix.to_markdown())
    return matrix
