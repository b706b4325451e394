"""The session-scoped pytest fixture for the local control plane.

Use it from a ``conftest.py``::

    from cloudflow_checks.kube.fixtures import kube_control_plane  # noqa: F401

The control plane starts once per session (per xdist worker), shared by every
module that imports the fixture. When its
binaries are not built the fixture skips, with the reason, unless
``CLOUDFLOW_KUBE_REQUIRED`` is set (to anything but ``""``/``0``): then a
missing binary fails the tests instead, so CI cannot go green by skipping.
"""

from __future__ import annotations

import os
from typing import Iterator

import pytest

from .controlplane import ENV_REQUIRED, BinariesNotFound, ControlPlane


def kube_required() -> bool:
    return os.environ.get(ENV_REQUIRED, "").strip().lower() not in ("", "0", "false", "no")


def start_control_plane(**kwargs) -> ControlPlane:
    """Start a :class:`ControlPlane`, skipping (or failing when required) if unbuilt."""
    cp = ControlPlane(**kwargs)
    try:
        return cp.start()
    except BinariesNotFound as e:
        if kube_required():
            pytest.fail(f"{e} [{ENV_REQUIRED} is set]", pytrace=False)
        pytest.skip(str(e))
        raise  # unreachable, pytest.skip raises


# One control plane per process, however many test modules import the fixture (each import
# makes a fixture of its own for pytest): the first user starts it, the last one stops it.
_shared: ControlPlane | None = None
_users = 0


@pytest.fixture(scope="session")
def kube_control_plane(tmp_path_factory) -> Iterator[ControlPlane]:
    global _shared, _users
    if _shared is None:
        _shared = start_control_plane(state_dir=tmp_path_factory.mktemp("kube-control-plane"))
    _users += 1
    try:
        yield _shared
    finally:
        _users -= 1
        if _users == 0:
            _shared.stop()
            _shared = None
