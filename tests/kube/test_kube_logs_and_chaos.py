"""Logs through the API (``kubectl logs``) and K8S-03 pod chaos, on a real
control plane: the ReplicaSet controller, the scheduler and kwok bring pods
back."""

from __future__ import annotations

import datetime as _dt

import pytest
from kubernetes import client

from cloudflow_checks.kube import chaos
from cloudflow_checks.kube.logs import deployment_logs, deployment_pods

#: Bound on a Deployment getting back to ready after a lost pod or a restart.
RECOVERY_S = 60


@pytest.mark.behaviour("K8S-01")
def test_deployment_logs_from_all_pods_with_pattern(api, cloudflow, kube_control_plane):
    kube_control_plane.write_container_log(cloudflow, "api", [
        '{"level":"INFO","message":"request served","correlation_id":"corr_1"}',
        '{"level":"ERROR","message":"could not obtain connection from pool within 5000ms"}',
        '{"level":"WARN","message":"slow query 5120ms"}',
    ])
    read = deployment_logs(api, cloudflow, "cloudflow-api", pattern=r"connection.*pool|slow query")
    pods = {p.metadata.name for p in deployment_pods(api, cloudflow, "cloudflow-api")}
    assert read.errors == {}
    assert {line.pod for line in read.lines} == pods  # every pod of the Deployment
    assert {line.container for line in read.lines} == {"api"}
    assert sorted(set(read.texts())) == [
        '{"level":"ERROR","message":"could not obtain connection from pool within 5000ms"}',
        '{"level":"WARN","message":"slow query 5120ms"}',
    ]
    assert len(read.lines) == 2 * len(pods)
    # Case-insensitive search, as `grep -i`.
    assert deployment_logs(api, cloudflow, "cloudflow-api", pattern="SLOW QUERY", ignore_case=True).lines


@pytest.mark.behaviour("K8S-02")
def test_previous_logs_of_restarted_container(api, cloudflow, kube_control_plane, healthy_again):
    kube_control_plane.write_container_log(cloudflow, "workflow-engine", ["engine started"])
    kube_control_plane.write_container_log(
        cloudflow, "workflow-engine", ["WorkflowExecutionError: out of memory, exiting"], previous=True)
    pod = deployment_pods(api, cloudflow, "cloudflow-workflow-engine")[0]
    healthy_again.append(pod.metadata.name)
    now = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    statuses = [{"name": cs.name, "image": cs.image, "imageID": "", "ready": True, "restartCount": 1,
                 "started": True, "state": {"running": {"startedAt": now}},
                 "lastState": {"terminated": {"exitCode": 137, "reason": "OOMKilled",
                                              "startedAt": now, "finishedAt": now}}}
                for cs in pod.status.container_statuses]
    client.CoreV1Api(api).patch_namespaced_pod_status(
        pod.metadata.name, cloudflow, {"status": {"containerStatuses": statuses}}, _request_timeout=10)

    read = deployment_logs(api, cloudflow, "cloudflow-workflow-engine")  # previous="auto"
    previous = [line for line in read.lines if line.previous]
    assert [(line.pod, line.text) for line in previous] == [
        (pod.metadata.name, "WorkflowExecutionError: out of memory, exiting")]
    assert read.texts().count("engine started") == len(deployment_pods(api, cloudflow, "cloudflow-workflow-engine"))
    only_previous = deployment_logs(api, cloudflow, "cloudflow-workflow-engine", previous=True, pattern="memory")
    assert [line.pod for line in only_previous.lines if line.pod == pod.metadata.name] == [pod.metadata.name]


@pytest.mark.behaviour("K8S-03")
def test_deleted_pod_comes_back_without_downtime(api, cloudflow):
    name = "cloudflow-api"
    before = {p.metadata.uid for p in deployment_pods(api, cloudflow, name)}
    with chaos.ReadyReplicaSampler(api, cloudflow, name, max_duration_s=RECOVERY_S + 10) as sampler:
        deleted = chaos.delete_one_pod(api, cloudflow, name)
        result = chaos.wait_pod_replaced(api, cloudflow, name, deleted, timeout_s=RECOVERY_S)
    after = {p.metadata.uid for p in deployment_pods(api, cloudflow, name)}
    assert deleted.uid in before and deleted.uid not in after
    assert len(after) == 2 and len(after - before) == 1, "exactly one replacement pod"
    assert result.elapsed_s < RECOVERY_S
    # One of two replicas kept serving throughout.
    assert sampler.samples and sampler.min_ready >= 1, sampler.samples


@pytest.mark.behaviour("K8S-03")
def test_rollout_restart_replaces_every_pod_without_downtime(api, cloudflow):
    name = "cloudflow-workflow-engine"
    before = {p.metadata.uid for p in deployment_pods(api, cloudflow, name)}
    with chaos.ReadyReplicaSampler(api, cloudflow, name, max_duration_s=RECOVERY_S + 10) as sampler:
        stamp = chaos.rollout_restart(api, cloudflow, name)
        chaos.wait_deployment_ready(api, cloudflow, name, timeout_s=RECOVERY_S)
    pods = deployment_pods(api, cloudflow, name)
    assert {p.metadata.uid for p in pods}.isdisjoint(before), "every pod replaced"
    assert all(p.metadata.annotations[chaos.RESTARTED_AT] == stamp for p in pods)
    dep = client.AppsV1Api(api).read_namespaced_deployment(name, cloudflow, _request_timeout=10)
    assert dep.spec.template.metadata.annotations[chaos.RESTARTED_AT] == stamp
    # maxUnavailable 25% of 2 rounds down to 0: availability never dips.
    assert sampler.samples and sampler.min_available >= 2, sampler.samples


@pytest.mark.behaviour("K8S-03")
def test_wait_deployment_ready_is_bounded(api, cloudflow):
    apps = client.AppsV1Api(api)
    name = "cloudflow-db-primary"
    apps.patch_namespaced_deployment(name, cloudflow, {"spec": {
        "template": {"spec": {"nodeSelector": {"cloudflow.test/no-such-node": "true"}}}}},
        _request_timeout=10)
    try:
        with pytest.raises(chaos.DeploymentNotReady) as err:
            chaos.wait_deployment_ready(api, cloudflow, name, timeout_s=2, poll_s=0.2)
        assert "not ready within 2 s" in str(err.value)
        assert err.value.findings
    finally:
        apps.patch_namespaced_deployment(name, cloudflow, {"spec": {
            "template": {"spec": {"nodeSelector": None}}}}, _request_timeout=10)
        chaos.wait_deployment_ready(api, cloudflow, name, timeout_s=RECOVERY_S)


# --------------------------------------------------------------------------- K8S-03 experiment


def _experiment(api, namespace, deployment, action, spec, **kwargs):
    values = spec["K8S-03"]
    return chaos.pod_chaos(
        api, namespace, deployment, action=action,
        probe=chaos.service_endpoints_probe(api, namespace, deployment),
        probe_rate_per_s=values["probe_rate_per_s"], min_availability_pct=values["min_availability_pct"],
        ready_within_s=values["ready_within_s"], **kwargs)


@pytest.mark.behaviour("K8S-03")
@pytest.mark.parametrize("action", ["delete_pod", "rollout_restart"])
def test_pod_chaos_passes_with_two_replicas(api, cloudflow, spec, action):
    result = _experiment(api, cloudflow, "cloudflow-api", action, spec)
    assert result.ok, result.summary()
    assert result.failures == 0 and result.availability_pct == 100.0, result.summary()
    assert result.probes >= 3 * spec["K8S-03"]["probe_rate_per_s"], result.summary()  # >= 4 s window
    assert result.ready_after_s is not None and result.ready_after_s < RECOVERY_S
    if action == "delete_pod":
        assert result.deleted_pod and result.deleted_pod not in {
            p.metadata.name for p in deployment_pods(api, cloudflow, "cloudflow-api")}


@pytest.mark.behaviour("K8S-03")
def test_pod_chaos_fails_with_one_replica(api, cloudflow, spec):
    """The database Deployment runs one replica: losing its pod leaves its Service with no ready
    endpoint until the replacement is ready, and the experiment says so."""
    result = _experiment(api, cloudflow, "cloudflow-db-primary", "delete_pod", spec)
    assert not result.ok, result.summary()
    assert result.failures >= 1 and result.availability_pct < spec["K8S-03"]["min_availability_pct"], result.summary()
    assert [p for p in result.problems() if p.startswith("availability")], result.problems()
    # It still recovers: the failure is the downtime, not the recovery.
    assert result.ready_after_s is not None and result.ready_after_s < RECOVERY_S


@pytest.mark.behaviour("K8S-03")
def test_pod_chaos_refuses_production_and_unknown_actions(api, cloudflow):
    probe = chaos.service_endpoints_probe(api, cloudflow, "cloudflow-api")
    with pytest.raises(chaos.ChaosRefused, match="production"):
        chaos.pod_chaos(api, cloudflow, "cloudflow-api", action="delete_pod", probe=probe, probe_rate_per_s=5,
                        min_availability_pct=99, ready_within_s=120, production=True)
    with pytest.raises(ValueError, match="unknown action"):
        chaos.pod_chaos(api, cloudflow, "cloudflow-api", action="drain_node", probe=probe, probe_rate_per_s=5,
                        min_availability_pct=99, ready_within_s=120)
    assert len(deployment_pods(api, cloudflow, "cloudflow-api")) == 2, "nothing was deleted"


@pytest.mark.behaviour("LOG-01")
def test_kubernetes_log_source_reads_only_lines_since_its_mark(api, cloudflow, kube_control_plane):
    """The LOG-* checks' source for a remote target: pod logs through the API, JSON parsed,
    nothing written before `mark()`; wait_for polls until the line arrives, bounded."""
    from cloudflow_checks.kube.logs import KubernetesLogSource

    kube_control_plane.write_container_log(cloudflow, "api", ['{"level":"INFO","message":"before the mark"}'])
    source = KubernetesLogSource(api, cloudflow, ["cloudflow-api"], request_timeout=10)
    source.mark()
    kube_control_plane.write_container_log(cloudflow, "api", [
        '{"level":"WARN","message":"slow query 5120ms","correlation_id":"corr_k8s"}', "plain text line"],
        append=True)
    found = source.wait_for(lambda line: line.get("correlation_id") == "corr_k8s", timeout_s=20,
                            what="with correlation_id corr_k8s")
    pods = {p.metadata.name for p in deployment_pods(api, cloudflow, "cloudflow-api")}
    assert {line.source.split("/")[0] for line in found} == pods
    texts = {line.raw for line in source.lines()}
    assert '{"level":"INFO","message":"before the mark"}' not in texts
    assert "plain text line" in texts and all(line.data is None for line in source.lines() if line.raw == "plain text line")
    with pytest.raises(AssertionError, match="no log line"):
        source.wait_for(lambda line: "never written" in line.raw, timeout_s=1, what="never written")
