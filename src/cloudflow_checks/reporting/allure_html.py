"""Build the Allure HTML report of a run with the Allure 3 generator that
scripts/setup-report-tools.sh installs (npm, pinned, in tools/allure/).

The report is one self-contained file, <run>/allure-report/index.html (opens from disk, no server).
Allure's own history (trends, flaky marks in the report) is carried from run to run in
reports/allure-history.jsonl beside the run folders.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

REPORT_DIR = "allure-report"
HISTORY_FILE = "allure-history.jsonl"
HISTORY_LIMIT = 20
APPENDED_MARK = ".history-appended"
GENERATE_TIMEOUT_S = 300


class ReportToolMissing(Exception):
    """The generator is not installed: the message says how to install it."""


def project_tools(root: Path) -> Path:
    return Path(root) / "tools" / "allure" / "node_modules" / ".bin" / "allure"


def find_generator(root: Path) -> list[str]:
    """The command that runs Allure 3: $CLOUDFLOW_ALLURE, else tools/allure of the project folder,
    else tools/allure of the checkout this package is installed from (editable install)."""
    explicit = os.environ.get("CLOUDFLOW_ALLURE")
    candidates = [Path(explicit)] if explicit else [project_tools(root), project_tools(Path(__file__).resolve().parents[3])]
    candidate = next((c for c in candidates if c.is_file()), candidates[0])
    if not candidate.is_file():
        raise ReportToolMissing(f"Allure 3 generator not found at {candidate}; install it with: "
                                "scripts/setup-report-tools.sh")
    node = shutil.which("node")
    if node is None:
        raise ReportToolMissing("node not found (Allure 3 needs Node >= 20): apt-get install nodejs")
    return [node, str(candidate.resolve())]


def config(run_dir: Path, summary: dict | None, history_file: Path, append_history: bool) -> dict:
    verdict = (summary or {}).get("verdict", {})
    target = (summary or {}).get("target", {})
    name = f"CloudFlow checks {run_dir.name}"
    if verdict:
        name += f": gate {verdict.get('gate', '?').upper()}"
    return {
        "name": name,
        "historyPath": str(history_file),
        "historyLimit": HISTORY_LIMIT,
        "appendHistory": append_history,
        "variables": {k: str(v) for k, v in {
            "target": target.get("name"), "base_url": target.get("base_url"),
            "profile": (summary or {}).get("profile"), "gate": verdict.get("gate"),
            "fail_on": verdict.get("fail_on"), "worst_severity": verdict.get("worst_severity") or "none",
        }.items() if v is not None},
        "plugins": {"awesome": {"options": {
            "reportName": name, "singleFile": True, "groupBy": ["epic", "feature", "story"],
        }}},
    }


def build(run_dir: Path, root: Path, *, timeout_s: float = GENERATE_TIMEOUT_S) -> Path:
    """Generate <run>/allure-report/index.html; returns its path."""
    run_dir = Path(run_dir).resolve()
    results = run_dir / "allure-results"
    if not results.is_dir() or not any(results.iterdir()):
        raise FileNotFoundError(f"{results} is missing or empty: nothing to build a report from")
    command = find_generator(root)
    summary_file = run_dir / "summary.json"
    summary = json.loads(summary_file.read_text()) if summary_file.is_file() else None
    output = run_dir / REPORT_DIR
    # a run's data point goes into the history once, however often its report is rebuilt
    append = not (output / APPENDED_MARK).is_file()
    history_file = run_dir.parent / HISTORY_FILE
    with tempfile.TemporaryDirectory(prefix="cf-allure-") as tmp:
        cfg = Path(tmp) / "allurerc.json"
        cfg.write_text(json.dumps(config(run_dir, summary, history_file, append), indent=2))
        if output.exists():
            shutil.rmtree(output)
        proc = subprocess.run([*command, "generate", "--config", str(cfg), "--output", str(output), str(results)],
                              cwd=tmp, capture_output=True, text=True, timeout=timeout_s,
                              env={**os.environ, "NO_COLOR": "1", "CI": os.environ.get("CI", "")})
    index = output / "index.html"
    if proc.returncode != 0 or not index.is_file():
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
        raise RuntimeError(f"allure generate failed (exit {proc.returncode}): {' | '.join(tail)}")
    (output / APPENDED_MARK).write_text("")
    return index
