"""What a SIGKILLed game day leaves behind is swept, first and reported, by the next one: a disabled
postgres proxy (before anything logs in through the API), the partner stub's failure mode and a
twin clock offset; and a game day never moves reports/latest (the last check run's summary)."""
from __future__ import annotations

import json
import signal
import subprocess
import sys

import httpx
import pytest
import yaml

from cloudflow_checks.client import PartnerControl

from .conftest import ROOT, gameday_cli, wait_for

pytestmark = pytest.mark.requires("toxiproxy", "provisioning")


def test_gameday_after_sigkill_mid_partition_sweeps_before_logging_in(proxies, tmp_path):
    proxies.sweep()
    postgres = proxies.name("postgres")
    killed = gameday_cli("--experiment", "db-partition", "--reports", str(tmp_path))
    try:
        wait_for(lambda: not proxies.admin.proxy(postgres).enabled, timeout_s=60, what="the partition", proc=killed)
        killed.send_signal(signal.SIGKILL)
        killed.communicate(timeout=10)
    finally:
        if killed.poll() is None:
            killed.kill()
            killed.communicate()
    try:
        assert not proxies.admin.proxy(postgres).enabled, "SIGKILL cannot roll back: the proxy must still be off"
        nxt = gameday_cli("--experiment", "db-partition", "--reports", str(tmp_path))
        out, _ = nxt.communicate(timeout=300)
        assert "Traceback" not in out, out[-3000:]
        assert f"disabled proxy {postgres}" in out, f"the sweep did not report the partition: {out[-3000:]}"
        assert nxt.returncode == 0, out[-3000:]
        assert proxies.admin.proxy(postgres).enabled and proxies.leftovers() == [], proxies.leftovers()
        journal = json.loads(max(tmp_path.glob("gameday-*/chaos/db-partition.json")).read_text())
        assert any(postgres in line for line in journal["sweep_at_start"]), journal["sweep_at_start"]
    finally:
        proxies.sweep()


@pytest.mark.requires("partner_control", "clock_control")
def test_sweep_resets_partner_mode_and_clock_offset(cf_target, control, tmp_path):
    partner = PartnerControl(cf_target.partner_control_url)
    try:
        partner.set_mode(502)                 # what a killed partner-api experiment leaves
        control.set_offset(3600.0)            # and its clock, advanced past the breaker timeout
        sweep = gameday_cli("--sweep-only", "--reports", str(tmp_path))
        out, _ = sweep.communicate(timeout=60)
        assert sweep.returncode == 0, out[-2000:]
        assert "partner stub mode 502" in out, out[-2000:]
        assert "twin clock offset +3600.0 s" in out, out[-2000:]
        mode = httpx.get(f"{cf_target.partner_control_url.rstrip('/')}/_partner/mode", timeout=10).json()
        assert mode["status"] == 200, mode
        assert control.offset() == 0, control.offset()
    finally:
        partner.set_mode(200)
        partner.close()
        control.set_offset(0)


def test_gameday_leaves_reports_latest_to_the_check_runs(cf_target, tmp_path):
    """`report` and `coverage` read reports/latest/summary.json: a game day must not move it."""
    if cf_target.platform_admin is None:
        pytest.skip("needs the platform admin of the local twin")
    reports = tmp_path / "reports"
    (reports / "20260101T000000Z-abcd").mkdir(parents=True)
    (reports / "20260101T000000Z-abcd" / "summary.json").write_text("{}")
    (reports / "latest").symlink_to("20260101T000000Z-abcd")
    # The local twin as a target without partner control: partner-api is skipped, the game day is quick.
    targets = tmp_path / "targets.yaml"
    targets.write_text(yaml.safe_dump({"targets": {"quick": {
        "kind": "remote", "base_url": cf_target.base_url,
        "toxiproxy": {"url": cf_target.toxiproxy_url, "proxies": dict(cf_target.proxies)},
        "platform_admin": {"username": cf_target.platform_admin.username, "password_env": "CHAOS_TEST_ADMIN_PASSWORD"},
        "capabilities": ["toxiproxy", "provisioning"]}}}))
    proc = gameday_cli("--target", "quick", "--targets-file", str(targets), "--experiment", "partner-api",
                       "--reports", str(reports), env={"CHAOS_TEST_ADMIN_PASSWORD": cf_target.platform_admin.password})
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 1 and "skipped" in out, out[-3000:]   # a skipped experiment is no pass
    assert (reports / "latest").resolve() == (reports / "20260101T000000Z-abcd").resolve(), out[-3000:]
    summary = json.loads(next(reports.glob("gameday-*/chaos/gameday.json")).read_text())
    assert summary["experiments"][0]["status"] == "skipped", summary


def test_pytest_chaos_after_a_leftover_partition_sweeps_before_logging_in(proxies, tmp_path):
    """The pytest path (chaos/conftest.py) sweeps before building its context, like the game day."""
    postgres = proxies.name("postgres")
    proxies.sweep()
    proxies.admin.disable(postgres)            # what a SIGKILLed db-partition run leaves
    try:
        proc = subprocess.run([sys.executable, "-m", "pytest", "chaos/test_cache_slow_db.py", "-q", "-p", "no:cacheprovider",
                               "--junitxml", str(tmp_path / "junit.xml")], cwd=ROOT, capture_output=True, text=True,
                              timeout=300)
        out = proc.stdout + proc.stderr
        assert proc.returncode == 0, out[-3000:]
        assert "chaos_sweep_at_start" in (tmp_path / "junit.xml").read_text() and postgres in out + \
            (tmp_path / "junit.xml").read_text(), out[-3000:]
        assert proxies.admin.proxy(postgres).enabled
    finally:
        proxies.sweep()
