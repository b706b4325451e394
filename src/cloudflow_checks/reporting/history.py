"""Run history: one line per run in reports/history.jsonl, so repeated scheduled runs can tell a
flaky check (failed in some of the last N runs) from a persistent one (failed in all of them).

Only IDs, node ids and outcomes go into the history: no messages, so nothing secret can reach it.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

HISTORY_FILE = "history.jsonl"
DEFAULT_WINDOW = 5   # the last N runs (this one included) that decide flaky / persistent
MAX_LINES = 1000     # the file is trimmed to this many runs so a scheduled job does not grow it forever

# trend labels, for checks and behaviours
STABLE, NEW, FLAKY, PERSISTENT = "stable", "new", "flaky", "persistent"


def history_path(run_dir: Path) -> Path:
    """The history lives beside the run folders (reports/history.jsonl)."""
    return Path(run_dir).resolve().parent / HISTORY_FILE


def entry(summary: dict) -> dict:
    """The history line for one summary."""
    return {
        "run_id": summary["run_id"],
        "finished_at": summary.get("finished_at"),
        "target": (summary.get("target") or {}).get("name"),
        "profile": summary.get("profile"),
        "gate": summary["verdict"]["gate"],
        "behaviours": {bid: b["status"] for bid, b in summary["behaviours"].items() if b["status"] != "not-run"},
        "checks": {c["nodeid"]: c["outcome"] for c in summary["checks"]},
    }


def read(path: Path) -> list[dict]:
    """Every readable run, oldest first; a torn or foreign line is skipped, not fatal."""
    if not path.is_file():
        return []
    runs = []
    for line in path.read_text(errors="replace").splitlines():
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict) and "run_id" in value:
            runs.append(value)
    return runs


def append(path: Path, line: dict) -> None:
    """Add this run (replacing an earlier line of the same run id, e.g. a regenerated summary)."""
    runs = [r for r in read(path) if r["run_id"] != line["run_id"]]
    runs.append(line)
    runs = runs[-MAX_LINES:]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    tmp.write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in runs))
    tmp.replace(path)  # atomic: a reader never sees half a file


def classify(outcomes: list[str]) -> str:
    """Trend of one check or behaviour over the window, newest last; skips and not-runs don't count."""
    ran = [o for o in outcomes if o in ("passed", "failed")]
    failures = sum(1 for o in ran if o == "failed")
    if failures == 0:
        return STABLE
    if failures == len(ran):
        return PERSISTENT if len(ran) > 1 else NEW
    return FLAKY


def trends(current: dict, past: list[dict], window: int = DEFAULT_WINDOW) -> dict:
    """{"window", "runs": [run ids], "checks": {nodeid: {...}}, "behaviours": {id: {...}}} for the
    current run and the runs of the same target before it (at most window - 1 of them)."""
    target = current["target"]
    earlier = [r for r in past if r.get("target") == target and r["run_id"] != current["run_id"]]
    runs = [*earlier[-(window - 1):], current] if window > 1 else [current]

    def over(kind: str, key: str) -> dict:
        outcomes = [r.get(kind, {}).get(key, "not-run") for r in runs]
        ran = [o for o in outcomes if o in ("passed", "failed")]
        return {"trend": classify(outcomes), "failed": sum(1 for o in ran if o == "failed"),
                "ran": len(ran), "outcomes": outcomes}

    return {
        "window": window,
        "runs": [r["run_id"] for r in runs],
        "checks": {nodeid: over("checks", nodeid) for nodeid in current["checks"]},
        "behaviours": {bid: over("behaviours", bid) for bid in current["behaviours"]},
    }
