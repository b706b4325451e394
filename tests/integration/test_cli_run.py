"""The main job end to end: `cloudflow-checks run` against the twin, and its answers to bad input."""
from __future__ import annotations

import json
from pathlib import Path

from .helpers import cli

FIRST_CHECKS = ("AUTH-01", "AUTH-02", "AUTH-03", "AUTH-04", "AUTH-05", "AUTH-06", "AUTH-07",
                "RATE-01", "RATE-03", "HEALTH-01", "DB-04")


def test_smoke_run_passes_and_writes_reports(stack_env, tmp_path):
    result = cli(stack_env, "run", "--profile", "smoke", "--reports", str(tmp_path))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    run_dir = (tmp_path / "latest").resolve()
    for name in ("junit.xml", "summary.json", "summary.md"):
        assert (run_dir / name).is_file(), name
    assert any((run_dir / "allure-results").iterdir())
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["verdict"]["gate"] == "pass"
    for bid in FIRST_CHECKS:
        assert summary["behaviours"][bid]["status"] == "passed", (bid, summary["behaviours"][bid])
    assert summary["verdict"]["checks"]["failed"] == 0
    assert "gate PASS" in (run_dir / "summary.md").read_text()


def test_unknown_target_lists_the_valid_ones(stack_env):
    result = cli(stack_env, "run", "--target", "nowhere")
    assert result.returncode == 2
    assert "unknown target 'nowhere'" in result.stderr and "local" in result.stderr


def test_unknown_profile_lists_the_valid_ones(stack_env):
    result = cli(stack_env, "run", "--profile", "everything")
    assert result.returncode == 2
    assert "smoke" in result.stderr and "gate" in result.stderr


def test_unreachable_target_is_one_line_naming_the_url(stack_env, tmp_path):
    targets = tmp_path / "targets.yaml"
    targets.write_text("targets:\n  dead:\n    kind: remote\n    base_url: http://127.0.0.1:9\n")
    result = cli(stack_env, "run", "--target", "dead", "--targets-file", str(targets))
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "http://127.0.0.1:9/health" in lines[0], result.stderr


def test_coverage_lists_every_catalogue_id(stack_env):
    result = cli(stack_env, "coverage", "--json")
    data = json.loads(result.stdout)
    ids = {row["id"] for row in data["rows"]}
    assert {"AUTH-01", "RATE-02", "WF-04", "HEALTH-01"} <= ids
    assert result.returncode == (1 if data["uncovered"] else 0)
