"""Failing partner API (timeouts and 502s): the experiment `partner-api` (see its module for the guide section).

Runs alone: `pytest chaos/test_partner_api.py` or `cloudflow-checks gameday --experiment partner-api`.
"""
from __future__ import annotations

import pytest

from cloudflow_checks.chaos.experiments.partner import FailingPartnerApi


@pytest.mark.behaviour("WF-07")
@pytest.mark.requires(*FailingPartnerApi.requires)
@pytest.mark.destructive
def test_partner_api(run_experiment):
    journal = run_experiment(FailingPartnerApi)
    assert journal.passed, journal.failure_message()
