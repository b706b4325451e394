"""End to end over a real `cloudflow-checks run` against a stand-in target (tests/reporting/fake_target.py):
the severity gate, summary.md's order, the incident report, history trends, and that no planted secret
reaches any file of the run folder."""
from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from . import fake_target

CLI = [sys.executable, "-c", "from cloudflow_checks.cli import main; main()"]


def _plugin_registered() -> bool:
    return any(ep.value == "cloudflow_checks.reporting.pytest_plugin" for ep in entry_points(group="pytest11"))


@pytest.fixture
def fake(tmp_path):
    with fake_target.FakeCloudFlow(tmp_path) as app:
        yield app


@pytest.fixture
def project(tmp_path, fake):
    return fake_target.make_project(tmp_path / "project", fake)


class Runner:
    def __init__(self, project: Path, worker_secret: str):
        self.project = project
        self.reports = project / "reports"
        self.worker_secret = worker_secret

    def run(self, *args: str, workers: str = "0") -> tuple[int, Path, str]:
        env = {**os.environ, **fake_target.env(self.worker_secret)}
        env.pop("CLOUDFLOW_TARGET", None)
        if not _plugin_registered():  # until pyproject's pytest11 names the reporting plugin
            env["PYTEST_ADDOPTS"] = (env.get("PYTEST_ADDOPTS", "") + " -p cloudflow_checks.reporting.pytest_plugin").strip()
        proc = subprocess.run([*CLI, "run", "--target", "fake", "--targets-file", str(self.project / "targets.yaml"),
                               "--reports", str(self.reports), "--workers", workers, *args],
                              cwd=self.project, env=env, capture_output=True, text=True, timeout=240)
        run_dir = (self.reports / "latest").resolve()
        return proc.returncode, run_dir, proc.stdout + proc.stderr


@pytest.fixture
def runner(project):
    return Runner(project, secrets.token_hex(8))


def _summary(run_dir: Path) -> dict:
    return json.loads((run_dir / "summary.json").read_text())


def test_seeded_sev2_fault_fails_the_gate_with_an_incident_report(runner, fake):
    fake.faults = {"forbidden_500"}
    code, run_dir, out = runner.run()
    assert code == 1, out
    s = _summary(run_dir)
    assert s["schema"] == "cloudflow-checks/summary" and s["schema_version"] == 2
    assert s["verdict"]["gate"] == "fail" and s["verdict"]["blocking"] == ["AUTH-06"]
    assert s["artifacts"]["incident_report"] == "incident-report.md"

    report = (run_dir / "incident-report.md").read_text()
    failing = next(c for c in s["checks"] if c["outcome"] == "failed")
    assert failing["correlation_ids"], failing
    for heading in ("Incident timestamp and duration", "Affected services and endpoints",
                    "Error rates and user impact", "Recent changes or deployments", "Relevant log excerpts",
                    "Correlation IDs for failed requests"):
        assert f"## {heading}" in report
    assert "GET /api/v1/workflows/wf_12345678 -> 500" in report          # the failing endpoint
    assert "`GET /api/v1/workflows/{id}` | 1 | 0 | 1 | 100%" in report    # its error rate
    for corr in failing["correlation_ids"]:
        assert corr in report
    excerpt = report.split("## Relevant log excerpts")[1].split("## Correlation IDs")[0]
    assert "unhandled error in rbac" in excerpt and failing["correlation_ids"][0] in excerpt
    assert "no Kubernetes cluster configured" in report                   # the recent-changes hook says why

    md = (run_dir / "summary.md").read_text()
    assert md.splitlines()[0] == "# CloudFlow checks: gate FAIL"
    assert "**Release gate: FAIL.**" in md.splitlines()[2]
    order = [md.index(h) for h in ("## Failures by severity", "### SEV-2", "## Skipped", "## Passed")]
    assert order == sorted(order), md
    assert "Guide: Authentication & Authorization Issues" in md and "Remediation: Check roles" in md
    assert "target fake lacks capability provisioning" in md
    assert (run_dir / "exchanges.jsonl").is_file() and not (run_dir / "exchanges.parts").exists()
    # a check's picture is kept in the run folder and attached to its Allure entry
    assert (run_dir / "pictures" / "timeline-fake.png").is_file()
    results = [json.loads(p.read_text()) for p in (run_dir / "allure-results").glob("*-result.json")]
    drawn = next(r for r in results if r["name"] == "test_draws_a_timeline")
    containers = [json.loads(p.read_text()) for p in (run_dir / "allure-results").glob("*-container.json")]
    teardowns = [a for c in containers if drawn["uuid"] in c.get("children", [])
                 for step in c.get("afters", []) for a in step.get("attachments", [])]  # shown under "Tear down"
    assert any(a["type"] == "image/png" and a["name"] == "timeline-fake"
               for a in drawn.get("attachments", []) + teardowns)
    # the failing check carries its HTTP exchanges, redacted
    failed = next(r for r in results if r["name"] == "test_missing_permission_answers_403")
    names = [a["name"] for a in failed["attachments"]]
    assert "HTTP 1: GET /api/v1/workflows/wf_12345678 -> 500" in names and "all HTTP exchanges" in names


def test_seeded_sev4_fault_passes_the_default_gate_but_lists_the_failure(runner, fake):
    fake.faults = {"whoami_no_scopes"}
    code, run_dir, out = runner.run()
    assert code == 0, out
    s = _summary(run_dir)
    assert s["verdict"]["gate"] == "pass" and s["verdict"]["worst_severity"] == "SEV-4"
    assert s["verdict"]["failing_by_severity"]["SEV-4"] == ["AUTH-07"]
    assert not (run_dir / "incident-report.md").exists()
    md = (run_dir / "summary.md").read_text()
    assert "**Release gate: PASS** (the gate fails on SEV-2 or worse), with 1 failing behaviour(s) below the bar: AUTH-07" in md
    assert "### SEV-4 (below the gate's bar)" in md and "whoami lacks ['scopes']" in md
    # the same fault with the bar moved down fails the gate
    code, run_dir, out = runner.run("--fail-on", "SEV-4")
    assert code == 1, out
    assert (run_dir / "incident-report.md").is_file()


def test_no_planted_secret_reaches_any_file_of_the_run_folder(runner, fake):
    fake.faults = {"forbidden_500", "whoami_no_scopes"}
    code, run_dir, out = runner.run(workers="2")   # a secret registered in an xdist worker too
    assert code == 1, out
    planted = [*fake_target.ALL, "wrk-" + runner.worker_secret]
    # the secrets really were there to leak: in the target's responses and its log
    log_text = fake.log_file.read_text()
    assert all(s in log_text for s in fake_target.ALL)
    files = [p for p in run_dir.rglob("*") if p.is_file()] + [runner.reports / "history.jsonl"]
    assert len(files) > 5 and (run_dir / "junit.xml") in files
    assert any(p.parent.name == "allure-results" for p in files)
    leaks = [(str(p.relative_to(runner.reports)), s[:8]) for p in files for s in planted
             if s.encode() in p.read_bytes()]
    assert not leaks, leaks
    # and the places they would have been carry the mask instead
    assert "***REDACTED***" in (run_dir / "junit.xml").read_text()
    assert "***REDACTED***" in (run_dir / "incident-report.md").read_text()


def test_history_marks_flaky_and_persistent_checks(runner, fake):
    sev2 = "checks/test_synthetic.py::test_missing_permission_answers_403"
    sev4 = "checks/test_synthetic.py::test_whoami_lists_user_roles_scopes"
    fake.faults = {"whoami_no_scopes"}
    runner.run()
    fake.faults = {"forbidden_500", "whoami_no_scopes"}
    code, run_dir, out = runner.run()
    s = _summary(run_dir)
    trends = {c["nodeid"]: c["trend"] for c in s["checks"]}
    assert trends[sev4] == "persistent" and trends[sev2] == "flaky", trends
    assert s["history"]["persistent"] == [sev4] and s["history"]["flaky"] == [sev2]
    assert s["behaviours"]["AUTH-07"]["trend"] == "persistent"
    md = (run_dir / "summary.md").read_text()
    assert "## Trends over recent runs" in md
    assert re.search(r"\| `" + re.escape(sev4) + r"` \| persistent \| 2 of 2 runs \|", md), md
    lines = (runner.reports / "history.jsonl").read_text().splitlines()
    assert len(lines) == 2 and json.loads(lines[-1])["run_id"] == run_dir.name
