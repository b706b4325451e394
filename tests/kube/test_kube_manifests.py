"""deploy/ manifests against the real API server: every object passes
server-side validation (dry run), and the checks' ServiceAccount can read
what the checks need but cannot delete pods, while the chaos one can."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from kubernetes import client, utils

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
MANIFESTS = ("cronjob.yaml", "chaos-rbac.yaml", "locust.yaml")
CHECKS_SA = "system:serviceaccount:cloudflow:cloudflow-checks"
CHAOS_SA = "system:serviceaccount:cloudflow:cloudflow-chaos"


def _docs(name: str) -> list[dict]:
    return [d for d in yaml.safe_load_all((DEPLOY / name).read_text()) if d]


def _allowed(api, user: str, verb: str, resource: str, *, group: str = "", subresource: str = "",
             namespace: str = "cloudflow") -> bool:
    review = client.V1SubjectAccessReview(spec=client.V1SubjectAccessReviewSpec(
        user=user,
        groups=["system:serviceaccounts", "system:serviceaccounts:cloudflow", "system:authenticated"],
        resource_attributes=client.V1ResourceAttributes(
            namespace=namespace, verb=verb, group=group, resource=resource, subresource=subresource or None),
    ))
    out = client.AuthorizationV1Api(api).create_subject_access_review(review, _request_timeout=10)
    return bool(out.status.allowed)


@pytest.mark.behaviour("K8S-03")
@pytest.mark.parametrize("manifest", MANIFESTS)
def test_manifest_passes_server_side_dry_run(api, cloudflow, manifest):
    docs = _docs(manifest)
    assert docs and all(d["metadata"].get("namespace") == "cloudflow" for d in docs)
    try:
        created = utils.create_from_dict(api, {"kind": "List", "apiVersion": "v1", "items": docs},
                                         dry_run="All", _request_timeout=10)
    except utils.FailToCreateError as e:
        # Only "already exists" is acceptable (the RBAC objects, once another
        # test in this module created them for real); anything else is invalid.
        bad = [f"{x.status} {x.reason}: {x.body}" for x in e.api_exceptions if x.status != 409]
        assert not bad, bad
        created = None
    if created is not None:
        assert len(created) == len(docs)
    # A dry run persists nothing.
    batch, apps = client.BatchV1Api(api), client.AppsV1Api(api)
    assert not [c for c in batch.list_namespaced_cron_job(cloudflow, _request_timeout=10).items]
    assert not [d for d in apps.list_namespaced_deployment(cloudflow, _request_timeout=10).items
                if d.metadata.name.startswith("locust-")]


@pytest.fixture(scope="module")
def rbac_applied(api, cloudflow):
    """The ServiceAccounts, Roles and RoleBindings of deploy/ created for real."""
    rbac_kinds = {"ServiceAccount", "Role", "RoleBinding"}
    for name in ("cronjob.yaml", "chaos-rbac.yaml"):
        docs = [d for d in _docs(name) if d["kind"] in rbac_kinds]
        try:
            utils.create_from_dict(api, {"kind": "List", "apiVersion": "v1", "items": docs},
                                   _request_timeout=10)
        except utils.FailToCreateError as e:
            if any(x.status != 409 for x in e.api_exceptions):
                raise
    return cloudflow


@pytest.mark.behaviour("K8S-02")
def test_checks_service_account_reads_but_cannot_change(api, rbac_applied):
    for verb, resource, group, sub in [
        ("list", "pods", "", ""), ("get", "pods", "", ""), ("get", "pods", "", "log"),
        ("list", "deployments", "apps", ""), ("get", "deployments", "apps", ""),
        ("list", "replicasets", "apps", ""), ("list", "events", "", ""),
    ]:
        assert _allowed(api, CHECKS_SA, verb, resource, group=group, subresource=sub), (verb, resource, sub)
    for verb, resource, group, sub in [
        ("delete", "pods", "", ""), ("create", "pods", "", ""), ("patch", "deployments", "apps", ""),
        ("update", "deployments", "apps", ""), ("get", "secrets", "", ""), ("create", "pods", "", "exec"),
        ("delete", "deployments", "apps", ""),
    ]:
        assert not _allowed(api, CHECKS_SA, verb, resource, group=group, subresource=sub), (verb, resource, sub)
    # Read access is namespaced: nothing in another namespace.
    assert not _allowed(api, CHECKS_SA, "list", "pods", namespace="default")


@pytest.mark.behaviour("K8S-03")
def test_chaos_service_account_may_delete_pods_and_patch_deployments(api, rbac_applied):
    assert _allowed(api, CHAOS_SA, "delete", "pods")
    assert _allowed(api, CHAOS_SA, "patch", "deployments", group="apps")
    assert _allowed(api, CHAOS_SA, "list", "endpointslices", group="discovery.k8s.io")  # the probe
    assert not _allowed(api, CHAOS_SA, "delete", "deployments", group="apps")
    assert not _allowed(api, CHAOS_SA, "get", "secrets")
    assert not _allowed(api, CHAOS_SA, "delete", "pods", namespace="default")


@pytest.mark.behaviour("K8S-03")
def test_impersonated_delete_is_refused_for_checks_and_allowed_for_chaos(api, rbac_applied, kube_control_plane):
    """The same pod deletion (server-side dry run) as each ServiceAccount."""
    pod = client.CoreV1Api(api).list_namespaced_pod(rbac_applied, label_selector="app=cloudflow-api",
                                                    _request_timeout=10).items[0]

    def delete_as(user: str):
        impersonating = kube_control_plane.api_client()
        impersonating.set_default_header("Impersonate-User", user)
        return client.CoreV1Api(impersonating).delete_namespaced_pod(
            pod.metadata.name, rbac_applied, dry_run="All", _request_timeout=10)

    with pytest.raises(client.ApiException) as refused:
        delete_as(CHECKS_SA)
    assert refused.value.status == 403
    assert delete_as(CHAOS_SA) is not None
    # Dry run: the pod is still there.
    assert client.CoreV1Api(api).read_namespaced_pod(pod.metadata.name, rbac_applied, _request_timeout=10)


@pytest.mark.behaviour("K8S-01")
def test_cronjob_targets_file_is_one_the_suite_loads(tmp_path):
    """The CronJob's ConfigMap holds a targets file the suite accepts, naming the target the job runs."""
    from cloudflow_checks import config

    docs = _docs("cronjob.yaml")
    configmap = next(d for d in docs if d["kind"] == "ConfigMap")
    job = next(d for d in docs if d["kind"] == "CronJob")
    container = job["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e.get("value") for e in container["env"]}
    path = tmp_path / "targets.yaml"
    path.write_text(configmap["data"]["targets.yaml"])
    target = config.select(config.load_targets(path), env["CLOUDFLOW_TARGET"])
    assert "kubernetes" in target.capabilities and target.kube.namespace == "cloudflow"
    assert target.kube.kubeconfig is None  # in the pod: its ServiceAccount
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    assert str(Path(env["CLOUDFLOW_TARGETS"]).parent) in mounts
