"""Shared by the suite's own tests: a private twin stack in a temporary state dir, stopped at the end."""
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
        _report_dead_components(stack, state)
        stack.down(state)
        if not os.environ.get("CFC_KEEP_STATE"):
            shutil.rmtree(state, ignore_errors=True)


def _report_dead_components(stack, state: Path) -> None:
    """A component that died during the session is a finding: show the tail of its log."""
    for name, component in stack.status(state).get("components", {}).items():
        if not component.get("alive") and component.get("log"):
            log = Path(component["log"])
            tail = log.read_text(errors="replace").splitlines()[-30:] if log.is_file() else []
            print(f"\n[tests] stack component {name} died; {log}:\n" + "\n".join(tail))
