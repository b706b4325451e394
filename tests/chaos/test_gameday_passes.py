"""The game day as a user runs it (`cloudflow-checks gameday`, every experiment in order) passes
against the twin: each documented remediation holds, each time to detect and to recover is within
its bound, and nothing is left on Toxiproxy. The chaos/ experiments are otherwise judged passing
only inside the selftest, so this is the suite's own proof of the passing path."""
from __future__ import annotations

import json

import pytest

from cloudflow_checks.chaos import gameday

from .conftest import gameday_cli

pytestmark = pytest.mark.requires("toxiproxy", "provisioning", "partner_control")

GAMEDAY_TIMEOUT_S = 600   # six experiments, ~2 min on an idle 2-core machine


def test_full_gameday_passes_and_leaves_nothing(proxies, tmp_path):
    proc = gameday_cli("--reports", str(tmp_path))
    out, _ = proc.communicate(timeout=GAMEDAY_TIMEOUT_S)
    assert proc.returncode == 0, out[-4000:]
    summary = json.loads(next(tmp_path.glob("gameday-*/chaos/gameday.json")).read_text())
    assert summary["verdict"] == "pass", out[-4000:]
    ran = [e["name"] for e in summary["experiments"]]
    assert ran == [e.name for e in gameday.ORDER], f"experiments run: {ran}"
    for experiment in summary["experiments"]:
        assert experiment["status"] == "completed", experiment
        assert experiment["measurements"] and all(m["ok"] for m in experiment["measurements"]), experiment
    assert proxies.leftovers() == [], f"left on Toxiproxy: {proxies.leftovers()}"
    assert len(list(tmp_path.glob("gameday-*/chaos/*.png"))) == len(ran), "a timeline per experiment"
