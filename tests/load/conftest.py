"""Fixtures for the load package's own tests against the twin."""
from __future__ import annotations

import pytest

from cloudflow_checks.load import scenarios


@pytest.fixture
def load_context(cf_target, api, platform_admin, spec, clock, control):
    if not cf_target.has("fault_switches"):
        pytest.skip(f"target {cf_target.name} lacks capability fault_switches")
    return scenarios.Context(target=cf_target, api=api, admin=platform_admin, spec=spec, control=control)
