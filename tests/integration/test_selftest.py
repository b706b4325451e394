"""Detection power of the whole suite: `cloudflow-checks selftest` on a private twin turns on each
seeded fault in turn; every fault must be caught by a check of its own behaviour ID, and no check
may fail on the unbroken twin (a false alarm).

Per fault it runs the synthetic checks and the chaos experiments; the load suite (minutes per
fault) has its own detection tests for the limiter faults in tests/load/test_fault_detection.py."""
from __future__ import annotations

import json
import re

from .helpers import cli

SELFTEST_TIMEOUT_S = 2400   # ~60 faults, a few seconds each, up to a minute for a chaos experiment


def test_selftest_detects_every_seeded_fault_without_false_alarms(stack_env, tmp_path):
    result = cli(stack_env, "selftest", "--suite", "checks", "--suite", "chaos", "--reports", str(tmp_path),
                 timeout=SELFTEST_TIMEOUT_S)
    matrix_file = (tmp_path / "latest" / "selftest.json").resolve()
    assert matrix_file.is_file(), result.stdout[-3000:] + result.stderr[-3000:]
    matrix = json.loads(matrix_file.read_text())

    assert matrix["baseline_checks"] > 0
    assert not matrix["false_alarms"], f"checks failing on the unbroken twin: {matrix['false_alarms']}"
    missed = [f"{r['fault']} ({r['behaviour']}): {r['note'] or 'no check of its ID failed'}; "
              f"failed: {r['failed_checks']}" for r in matrix["faults"] if not r["detected"]]
    assert not missed, "seeded faults not detected:\n" + "\n".join(missed)
    assert all(r["ran_checks"] > 0 for r in matrix["faults"])

    total = len(matrix["faults"])
    assert re.search(rf"^{total} of {total} seeded faults detected, 0 false alarms$", result.stdout, re.M), \
        result.stdout[-2000:]
    assert result.returncode == 0
    assert "| Fault | Breaks | Detected |" in (tmp_path / "latest" / "selftest.md").read_text()
