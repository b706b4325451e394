"""Fixtures for the Kubernetes tests: one real local control plane per session
(etcd + kube-apiserver + controller-manager + scheduler + kwok), and the
CloudFlow Deployments seeded into namespace ``cloudflow``.

Skips when the control plane is not built (scripts/build-kube.sh) unless
CLOUDFLOW_KUBE_REQUIRED is set, in which case it fails.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

try:
    import cloudflow_checks.kube  # noqa: F401
except ImportError:  # running from a checkout without the package installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))

from cloudflow_checks.kube.fixtures import kube_required  # noqa: E402

if not kube_required():
    pytest.importorskip("kubernetes")

from kubernetes import client  # noqa: E402

from cloudflow_checks.kube.chaos import wait_deployment_ready  # noqa: E402
from cloudflow_checks.kube.fixtures import kube_control_plane  # noqa: E402,F401

from .seed import NAMESPACE, SEED, seed_namespace  # noqa: E402

#: Bound on a seeded Deployment becoming ready (kwok makes pods ready at once;
#: the controllers take a few seconds on a busy 2-core machine).
READY_TIMEOUT_S = 60


@pytest.fixture(scope="session")
def api(kube_control_plane):
    return kube_control_plane.api_client()


@pytest.fixture(scope="session")
def cloudflow(api):
    """Namespace ``cloudflow`` with cloudflow-api, -workflow-engine and -db Ready."""
    seed_namespace(api)
    for dep in SEED:
        wait_deployment_ready(api, NAMESPACE, dep.name, timeout_s=READY_TIMEOUT_S)
    return NAMESPACE


@pytest.fixture
def healthy_again(api, cloudflow):
    """Tests that break pods list them here; afterwards the pods are deleted
    (their ReplicaSets replace them with healthy ones) and every seeded
    Deployment is waited back to ready."""
    broken: list[str] = []
    yield broken
    core = client.CoreV1Api(api)
    for name in broken:
        try:
            core.delete_namespaced_pod(name, cloudflow, grace_period_seconds=0, _request_timeout=10)
        except client.ApiException as e:
            if e.status != 404:
                raise
    # Gone first: until the controllers see the deletion, the Deployment may still look ready.
    deadline = time.monotonic() + READY_TIMEOUT_S
    while broken and time.monotonic() < deadline:
        names = {p.metadata.name for p in core.list_namespaced_pod(cloudflow, _request_timeout=10).items}
        if not names & set(broken):
            break
        time.sleep(0.2)
    for dep in SEED:
        wait_deployment_ready(api, cloudflow, dep.name, timeout_s=READY_TIMEOUT_S)
