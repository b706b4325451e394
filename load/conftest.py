"""Fixtures of the load checks: a scenario context holding the target's clock, and a run folder."""
from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from cloudflow_checks.load import scenarios


@pytest.fixture
def load_context(cf_target, api, platform_admin, spec, clock, control):
    """Everything a load scenario needs; `clock` holds the target exclusively and restores its time.
    $CLOUDFLOW_LOAD_WORKERS runs Locust as one master and that many workers."""
    return scenarios.Context(target=cf_target, api=api, admin=platform_admin, spec=spec, control=control,
                             workers=int(os.environ.get("CLOUDFLOW_LOAD_WORKERS", "0")))


@pytest.fixture
def load_folder(request, tmp_path) -> Path:
    """<run dir>/load/<check> with --cf-run-dir (Locust HTML/CSV, records, verdicts, PNG), else tmp."""
    run_dir = request.config.getoption("cf_run_dir", None)
    if not run_dir:
        return tmp_path
    return Path(run_dir) / "load" / re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
