"""Recent changes in the incident report: Kubernetes rollout history read from a real local control
plane (skipped, with the reason, when scripts/build-kube.sh has not built it)."""
from __future__ import annotations

import time

import pytest

pytest.importorskip("kubernetes")
from kubernetes import client  # noqa: E402

from cloudflow_checks.config import KubeConfig, Target  # noqa: E402
from cloudflow_checks.kube.fixtures import kube_control_plane  # noqa: E402,F401
from cloudflow_checks.reporting import incident  # noqa: E402

NAMESPACE = "cloudflow-history"


def _deployment(image: str) -> client.V1Deployment:
    labels = {"app": "cloudflow-api"}
    return client.V1Deployment(
        metadata=client.V1ObjectMeta(name="cloudflow-api", annotations={"kubernetes.io/change-cause": f"deploy {image}"}),
        spec=client.V1DeploymentSpec(
            replicas=1, selector=client.V1LabelSelector(match_labels=labels),
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels=labels),
                spec=client.V1PodSpec(containers=[client.V1Container(name="api", image=image)]))))


def test_recent_changes_lists_rollout_revisions(kube_control_plane):  # noqa: F811
    api = kube_control_plane.api_client()
    client.CoreV1Api(api).create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=NAMESPACE)))
    apps = client.AppsV1Api(api)
    apps.create_namespaced_deployment(NAMESPACE, _deployment("cloudflow/api:3.2.0"))
    apps.replace_namespaced_deployment("cloudflow-api", NAMESPACE, _deployment("cloudflow/api:3.2.1"))
    deadline = time.monotonic() + 60
    rows = []
    while time.monotonic() < deadline:   # the controller-manager creates one ReplicaSet per revision
        rows = incident.rollout_history(api, NAMESPACE)
        if len(rows) >= 2:
            break
        time.sleep(0.5)
    assert [(r["revision"], r["images"]) for r in rows] == [(2, "cloudflow/api:3.2.1"), (1, "cloudflow/api:3.2.0")]
    assert rows[0]["change_cause"] == "deploy cloudflow/api:3.2.1"

    target = Target(name="staging", kind="remote", base_url="http://127.0.0.1:9", production=False,
                    capabilities=frozenset({"kubernetes"}),
                    kube=KubeConfig(kubeconfig=str(kube_control_plane.kubeconfig), namespace=NAMESPACE))
    changes = incident.recent_changes(target)
    assert changes.rows and changes.rows[0]["revision"] == 2, changes.note
    text = incident.render(_summary(), [], incident.Excerpt("none"), changes)
    assert "| cloudflow-api | 2 |" in text and "cloudflow/api:3.2.1" in text


def _summary() -> dict:
    from cloudflow_checks.reporting import summary
    from cloudflow_checks.results import CheckResult
    from cloudflow_checks.spec import load
    run = summary.RunInfo("r1", {"name": "staging", "kind": "remote", "base_url": "http://x"}, "gate",
                          "2026-01-24T10:30:00+00:00", "2026-01-24T10:31:00+00:00", 60.0)
    return summary.build(load(), [CheckResult("checks/a.py::t", ["AUTH-06"], "failed", message="x")], run)
