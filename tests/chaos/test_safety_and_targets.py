"""Game-day safety and targets: production refused without --allow-production; the blast-radius
guard aborts and rolls back; a remote target works with its own Toxiproxy URL and proxy names."""
from __future__ import annotations

import json
import os
import time

import pytest
import yaml
from click.testing import CliRunner

from cloudflow_checks.chaos import gameday
from cloudflow_checks.chaos.cli import gameday as gameday_command
from cloudflow_checks.chaos.runner import Experiment

from .conftest import gameday_cli


def _targets(tmp_path, targets: dict):
    path = tmp_path / "targets.yaml"
    path.write_text(yaml.safe_dump({"targets": targets}))
    return path


def test_production_target_is_refused_without_allow_production(tmp_path):
    path = _targets(tmp_path, {"prod": {"kind": "remote", "base_url": "http://127.0.0.1:9", "production": True,
                                        "toxiproxy": {"url": "http://127.0.0.1:9"}}})
    refused = CliRunner().invoke(gameday_command, ["--target", "prod", "--targets-file", str(path)])
    assert refused.exit_code == 2, refused.output
    assert "marked production" in refused.output and "--allow-production" in refused.output
    allowed = CliRunner().invoke(gameday_command, ["--target", "prod", "--targets-file", str(path), "--allow-production"])
    assert allowed.exit_code == 2 and "marked production" not in allowed.output, allowed.output  # on to reachability


class _BystanderBreaks(Experiment):
    """A partner-only fault during which the database read (the steady state) must keep working."""
    name = "blast-radius-guard"
    bounds_from = "WF-07"

    def method(self, run):
        """latency toxic on partner-api, not expected to touch the steady state; the twin is made slow meanwhile"""
        with run.toxic("partner_api", "latency", {"latency": 50}, impacts_steady=False):
            run.ctx.control.set_faults(["slow_responses"])  # the steady-state read becomes 5.5 s slower
            run.sleep(60)


@pytest.mark.requires("toxiproxy", "fault_switches", "provisioning")
def test_blast_radius_aborts_and_rolls_back(chaos_ctx, control, tmp_path):
    chaos_ctx.proxies.sweep()
    t0 = time.monotonic()
    try:
        journal, _ = gameday.record(_BystanderBreaks(), chaos_ctx, tmp_path, overrides={"blast_radius_failures": 1})
    finally:
        control.set_faults([])
    assert journal.status == "aborted", journal.failure_message()
    assert "blast radius" in (journal.error or ""), journal.error
    assert time.monotonic() - t0 < 45, "the guard did not cut the 60 s method short"
    assert journal.faults and journal.faults[0]["rollback"] == "removed", journal.faults
    assert chaos_ctx.proxies.leftovers() == [], chaos_ctx.proxies.leftovers()


@pytest.mark.requires("toxiproxy", "provisioning")
def test_remote_target_uses_its_own_toxiproxy_url_and_proxy_names(cf_target, proxies, tmp_path):
    """The local twin described as a remote target: everything comes from targets.yaml."""
    if cf_target.platform_admin is None:
        pytest.skip("needs the platform admin of the local twin")
    path = _targets(tmp_path, {"staging": {
        "kind": "remote", "base_url": cf_target.base_url,
        "toxiproxy": {"url": cf_target.toxiproxy_url, "proxies": dict(cf_target.proxies)},
        "platform_admin": {"username": cf_target.platform_admin.username, "password_env": "CHAOS_TEST_ADMIN_PASSWORD"},
        "capabilities": ["toxiproxy", "provisioning"]}})
    proc = gameday_cli("--target", "staging", "--targets-file", str(path), "--experiment", "cache-slow-db",
                       "--reports", str(tmp_path / "reports"),
                       env={"CHAOS_TEST_ADMIN_PASSWORD": cf_target.platform_admin.password})
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, out[-3000:]
    journal = json.loads(next((tmp_path / "reports").glob("*/chaos/cache-slow-db.json")).read_text())
    assert journal["target"]["kind"] == "remote"
    assert journal["target"]["toxiproxy_url"] == cf_target.toxiproxy_url
    assert journal["faults"][0]["proxy"] == cf_target.proxies["postgres"]
    assert proxies.leftovers() == []
