"""Kubernetes checks: the cluster side of CloudFlow, read through the Kubernetes API.

Guide: Overview > Quick Diagnostic Checklist (`kubectl get deployments -n cloudflow`);
Performance Problems > Memory Leaks > Detection (`kubectl get pods ... | grep OOMKilled`,
`kubectl describe deployment cloudflow-api | grep -A 5 Limits`); Database Connection Issues >
Connection Pool Exhaustion > Immediate mitigation (`kubectl rollout restart`, K8S-03: destructive
and slow, so not in the smoke profile; refused on a production target without --allow-production).

The namespace and the cluster come from the target's `kube` settings (default namespace
`cloudflow`); the local twin has no cluster, so these are skipped there unless the target
declares `kubernetes` (`cluster-demo`, after `cloudflow-checks cluster up`). Every API call
carries a client-side timeout.
"""
from __future__ import annotations

import pytest

pytestmark = pytest.mark.requires("kubernetes")

#: Seconds each Kubernetes API call may take.
REQUEST_TIMEOUT_S = 10.0


@pytest.fixture(scope="module")
def kube(cf_target):
    """API client and namespace of the target's cluster; an unreachable cluster fails the check."""
    from cloudflow_checks.kube.target import KubeTargetError, kube_access

    from kubernetes import client
    try:
        access = kube_access(cf_target)
    except KubeTargetError as exc:
        pytest.fail(str(exc), pytrace=False)
    try:  # one line when the cluster does not answer, not a page of urllib3 retries per check
        client.VersionApi(access.api_client).get_code(_request_timeout=REQUEST_TIMEOUT_S)
    except Exception as exc:  # noqa: BLE001 - connection errors come in many types
        access.api_client.close()
        hint = " (start it with: cloudflow-checks cluster up)" if cf_target.kind == "twin" else ""
        pytest.fail(f"target {cf_target.name}: the Kubernetes API from {access.source} does not answer: "
                    f"{type(exc).__name__}{hint}", pytrace=False)
    yield access
    access.api_client.close()


def _assert_ok(*results) -> None:
    problems = [r.summary() for r in results if not r.ok]
    assert not problems, "\n".join(problems)


@pytest.mark.behaviour("K8S-01")
def test_deployments_available_and_rolled_out(kube, spec):
    """Every Deployment the guide names has all replicas ready, Available and Progressing true,
    and its newest rollout complete (what `kubectl rollout status` waits for)."""
    from cloudflow_checks.kube import workloads

    names = spec["K8S-01"]["deployments"]
    result = workloads.deployment_availability(kube.api_client, kube.namespace, names,
                                               request_timeout=REQUEST_TIMEOUT_S)
    _assert_ok(result)


@pytest.mark.behaviour("K8S-02")
def test_no_oomkilled_containers_or_restart_storms(kube, spec):
    """No container of the namespace was OOM-killed within the look-back (state and lastState,
    reason OOMKilled or exit 137), and none restarted more often than the limit or crash-loops."""
    from cloudflow_checks.kube import workloads

    values = spec["K8S-02"]
    oom = workloads.oomkilled_containers(kube.api_client, kube.namespace, lookback_s=values["lookback_s"],
                                         request_timeout=REQUEST_TIMEOUT_S)
    restarts = workloads.restart_counts(kube.api_client, kube.namespace, max_restarts=values["max_restarts"],
                                        request_timeout=REQUEST_TIMEOUT_S)
    _assert_ok(oom, restarts)


@pytest.mark.behaviour("K8S-02")
def test_memory_requests_and_limits_set(kube):
    """Every container of every Deployment in the namespace sets a memory request and limit."""
    from cloudflow_checks.kube import workloads

    _assert_ok(workloads.memory_resources(kube.api_client, kube.namespace, request_timeout=REQUEST_TIMEOUT_S))


@pytest.mark.behaviour("K8S-03")
@pytest.mark.destructive
@pytest.mark.slow
@pytest.mark.parametrize("action", ["delete_pod", "rollout_restart"])
def test_pod_loss_and_rollout_restart_cause_no_downtime(kube, spec, cf_target, exclusive_target, request, action):
    """Immediate mitigation (`kubectl rollout restart deployment/cloudflow-api`): losing one pod, or a
    rollout restart, keeps the service available (probe at the spec's rate) and the Deployment is
    ready again within the bound. The probe: the Service has a ready endpoint, and on a remote
    target also `GET /health` answers 2xx (the local twin does not run in the cluster)."""
    from cloudflow_checks.kube import chaos

    values = spec["K8S-03"]
    probes = [chaos.service_endpoints_probe(kube.api_client, kube.namespace, values["service"],
                                            request_timeout=REQUEST_TIMEOUT_S)]
    if cf_target.kind == "remote":
        probes.append(chaos.http_probe(f"{cf_target.base_url}/health"))
    try:
        result = chaos.pod_chaos(
            kube.api_client, kube.namespace, values["deployment"], action=action,
            probe=lambda: all(p() for p in probes), probe_rate_per_s=values["probe_rate_per_s"],
            min_availability_pct=values["min_availability_pct"], ready_within_s=values["ready_within_s"],
            production=cf_target.production, allow_production=request.config.getoption("allow_production"),
            request_timeout=REQUEST_TIMEOUT_S)
    except chaos.ChaosRefused as exc:
        pytest.fail(str(exc), pytrace=False)
    assert result.ok, result.summary()
