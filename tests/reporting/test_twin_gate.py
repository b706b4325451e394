"""The release gate against the real twin: a seeded SEV-2 fault exits 1 with an incident report that
names the failing endpoint, its correlation ids and the twin's log lines for them; a seeded SEV-4
fault passes the default gate but lists the failure. No secret of the stack reaches the run folder."""
from __future__ import annotations

import json
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from cloudflow_checks.client import TwinControl


ROOT = Path(__file__).resolve().parents[2]
# AUTH-06 (SEV-2) and AUTH-09 (SEV-4) with one neighbour each, to keep the run short
SELECTION = "test_missing_permission_gets_403 or test_access_request_is_recorded or test_whoami_reports"


@pytest.fixture(scope="module")
def control(stack_env):
    from cloudflow_checks import stack
    info = stack.read_info(stack_env["CLOUDFLOW_STATE_DIR"])
    ctl = TwinControl(info["api_url"], info["admin_token"])
    yield ctl, info
    ctl.set_faults([])
    ctl.close()


def run(env: dict, reports: Path) -> tuple[int, Path, str]:
    env = dict(env)
    if not any(ep.value == "cloudflow_checks.reporting.pytest_plugin" for ep in entry_points(group="pytest11")):
        env["PYTEST_ADDOPTS"] = "-p cloudflow_checks.reporting.pytest_plugin"
    proc = subprocess.run([sys.executable, "-m", "cloudflow_checks.cli", "run", "--workers", "0", "-k", SELECTION,
                           "--reports", str(reports)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    return proc.returncode, (reports / "latest").resolve(), proc.stdout + proc.stderr


def test_seeded_sev2_fault_exits_1_with_an_incident_report(stack_env, control, tmp_path):  # noqa: F811
    ctl, info = control
    ctl.set_faults(["forbidden_wording"])
    code, run_dir, out = run(stack_env, tmp_path / "reports")
    assert code == 1, out
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["verdict"]["blocking"] == ["AUTH-06"]
    failed = [c for c in summary["checks"] if c["outcome"] == "failed"]
    assert [c["behaviours"] for c in failed] == [["AUTH-06"]]
    report = (run_dir / "incident-report.md").read_text()
    assert "POST /api/v1/workflows -> 403" in report
    assert failed[0]["correlation_ids"]
    excerpt = report.split("## Relevant log excerpts")[1].split("## Correlation IDs")[0]
    for corr in failed[0]["correlation_ids"]:
        assert corr in report.split("## Correlation IDs for failed requests")[1]
        assert corr in excerpt, f"no twin log line for {corr}"
    assert "permission denied" in excerpt
    # the stack's secrets (control token, signing key, seeded passwords) are nowhere in the run folder
    secrets = [info["admin_token"], info["signing_key"], info["seed"]["platform_admin"]["password"]]
    leaks = [(p.name, i) for p in run_dir.rglob("*") if p.is_file() for i, s in enumerate(secrets)
             if s.encode() in p.read_bytes()]
    assert not leaks


def test_seeded_sev4_fault_passes_the_default_gate_and_lists_it(stack_env, control, tmp_path):  # noqa: F811
    ctl, _ = control
    ctl.set_faults(["access_request_approved"])
    code, run_dir, out = run(stack_env, tmp_path / "reports")
    assert code == 0, out
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["verdict"]["gate"] == "pass"
    assert summary["verdict"]["failing_by_severity"]["SEV-4"] == ["AUTH-09"]
    assert not (run_dir / "incident-report.md").exists()
    md = (run_dir / "summary.md").read_text()
    assert "below the bar: AUTH-09" in md.splitlines()[2]
    assert "### SEV-4 (below the gate's bar)" in md and "'approved' == 'pending'" in md
