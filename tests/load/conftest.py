"""Fixtures for the load package's own tests against the twin.

These tests run in CI (`pytest tests`), where nothing may be skipped: a target without what they
need (fault switches, clock control, provisioning, a control API) fails them instead of skipping.
"""
from __future__ import annotations

import pytest

from cloudflow_checks.load import scenarios

NEEDED = ("fault_switches", "clock_control", "provisioning")


@pytest.fixture
def load_context(cf_target, request):
    missing = [c for c in NEEDED if not cf_target.has(c)] + ([] if cf_target.control_url else ["a control API"])
    if missing:
        pytest.fail(f"target {cf_target.name} lacks {', '.join(missing)}: the load tests need the twin "
                    f"(the default local target)", pytrace=False)
    # Asked for only after the check above: each of these fixtures would skip on its own.
    fixture = request.getfixturevalue
    fixture("clock")            # holds the target's clock exclusively and restores it afterwards
    return scenarios.Context(target=cf_target, api=fixture("api"), admin=fixture("platform_admin"),
                             spec=fixture("spec"), control=fixture("control"))
