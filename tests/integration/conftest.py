"""A twin stack of the integration tests' own, in a temporary state dir, stopped at the end."""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def stack_env():
    """Environment pointing the suite at a private stack; the stack is up for the whole session.
    The state dir is world-traversable: PostgreSQL runs as user postgres (pytest's tmp is 0700)."""
    from cloudflow_checks import stack
    state = Path(tempfile.mkdtemp(prefix="cfc-integration-", dir="/tmp"))
    state.chmod(0o755)
    try:
        stack.ensure_up(state)
        yield dict(os.environ, CLOUDFLOW_STATE_DIR=str(state))
    finally:
        stack.down(state)
        shutil.rmtree(state, ignore_errors=True)
