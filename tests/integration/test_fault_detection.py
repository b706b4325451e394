"""Each first check fails when the twin breaks the behaviour it guards, and the others still pass.

The twin's fault switches are flipped through its control API; the first checks run against it
as a user would run them (pytest over checks/), and the summary says which failed.
"""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from cloudflow_checks.client import TwinControl
from .helpers import ROOT, cli

FIRST_CHECK_IDS = ("AUTH-01", "AUTH-02", "AUTH-03", "AUTH-04", "AUTH-05", "AUTH-06", "AUTH-07",
                   "RATE-01", "RATE-03", "HEALTH-01", "DB-04")
# one seeded fault per first check: (fault, the behaviour it breaks)
FAULTS = [("token_ttl_7200", "AUTH-01"), ("refresh_rejected", "AUTH-02"), ("auth_500", "AUTH-03"),
          ("signature_not_checked", "AUTH-04"), ("skew_600", "AUTH-05"), ("forbidden_wording", "AUTH-06"),
          ("whoami_no_scopes", "AUTH-07"), ("retry_after_missing", "RATE-01"),
          ("retry_after_http_date", "RATE-01"), ("headers_missing_on_success", "RATE-03"),
          ("health_hides_db", "HEALTH-01"), ("pool_status_no_wait_stats", "DB-04")]


@pytest.fixture(scope="module")
def control(stack_env):
    from cloudflow_checks import stack
    info = stack.read_info(stack_env["CLOUDFLOW_STATE_DIR"])
    ctl = TwinControl(info["api_url"], info["admin_token"])
    yield ctl
    ctl.set_faults([])
    ctl.close()


def run_first_checks(env, run_dir) -> dict:
    args = [sys.executable, "-m", "pytest", str(ROOT / "checks"), "--rootdir", str(ROOT), "-q",
            "-p", "no:cacheprovider", "-m", "not slow", "--cf-run-dir", str(run_dir)]
    for bid in FIRST_CHECK_IDS:
        args += ["--cf-behaviour", bid]
    subprocess.run(args, cwd=ROOT, env=env, capture_output=True, timeout=600)
    return json.loads((run_dir / "summary.json").read_text())


def failing_ids(summary: dict) -> set[str]:
    return {bid for bid, b in summary["behaviours"].items() if b["status"] == "failed"}


def test_first_checks_pass_on_the_unbroken_twin(stack_env, control, tmp_path):
    control.set_faults([])
    assert failing_ids(run_first_checks(stack_env, tmp_path)) == set()


@pytest.mark.parametrize("fault, behaviour", FAULTS, ids=[f for f, _ in FAULTS])
def test_fault_is_caught_by_its_own_check_only(stack_env, control, tmp_path, fault, behaviour):
    known = {f["name"]: f["behaviour"] for f in control.faults()}
    assert known.get(fault) == behaviour, f"the twin lists {fault} as breaking {known.get(fault)}"
    control.set_faults([fault])
    try:
        summary = run_first_checks(stack_env, tmp_path)
    finally:
        control.set_faults([])
    assert failing_ids(summary) == {behaviour}, (
        f"{fault}: expected only {behaviour} to fail, failed: {sorted(failing_ids(summary))}")


def test_run_warns_when_the_twin_has_seeded_faults_on(stack_env, control, tmp_path):
    control.set_faults(["forbidden_wording"])
    try:
        result = cli(stack_env, "run", "-k", "test_auth", "--reports", str(tmp_path))
    finally:
        control.set_faults([])
    assert "warning: the twin has seeded fault switch(es) on: forbidden_wording" in result.stdout, result.stdout[-2000:]
    assert result.returncode == 1
