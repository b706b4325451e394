"""K8S-01 / K8S-02 check functions against a real API server.

Each fault is modelled the way a kubelet would report it: by writing the pod
status subresource (kwok, the simulated kubelet, leaves a running pod's
status alone), or by a real stuck rollout (new pods that cannot be
scheduled, a short progress deadline).
"""

from __future__ import annotations

import datetime as _dt
import time

import pytest
from kubernetes import client

from cloudflow_checks.kube import workloads
from cloudflow_checks.kube.chaos import wait_deployment_ready
from cloudflow_checks.kube.logs import deployment_pods

from .seed import SEED

#: Bound on the controllers reflecting a patched pod status in a Deployment.
PROPAGATION_S = 30
#: Look-back and restart limit used by these tests (the suite's real values
#: come from its spec; these only exercise the functions).
LOOKBACK_S = 3600
MAX_RESTARTS = 5


def _now() -> _dt.datetime:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0)


def _iso(t: _dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def _first_pod(api, ns: str, deployment: str) -> client.V1Pod:
    pods = deployment_pods(api, ns, deployment)
    assert pods, f"{deployment} has no pods"
    return pods[0]


def _patch_container_status(api, ns: str, pod: client.V1Pod, container: str, *, ready: bool,
                            state: dict, last_state: dict | None = None,
                            restart_count: int = 0) -> None:
    """Replace one container's status (and the pod's readiness) as a kubelet would."""
    statuses = []
    for cs in pod.status.container_statuses:
        entry = {"name": cs.name, "image": cs.image, "imageID": cs.image_id or "",
                 "ready": cs.ready, "restartCount": cs.restart_count or 0,
                 "started": True, "state": {"running": {"startedAt": _iso(_now())}}}
        if cs.name == container:
            entry.update(ready=ready, restartCount=restart_count, state=state,
                         started=("running" in state))
            if last_state is not None:
                entry["lastState"] = last_state
        statuses.append(entry)
    status = "True" if ready else "False"
    conditions = [
        {"type": "Initialized", "status": "True"},
        {"type": "Ready", "status": status, "lastTransitionTime": _iso(_now())},
        {"type": "ContainersReady", "status": status, "lastTransitionTime": _iso(_now())},
        {"type": "PodScheduled", "status": "True"},
    ]
    client.CoreV1Api(api).patch_namespaced_pod_status(
        pod.metadata.name, ns,
        {"status": {"containerStatuses": statuses, "conditions": conditions}},
        _request_timeout=10)


def _eventually(fn, timeout_s: float, what: str):
    """Poll ``fn`` until it returns a truthy value; fail with the last value."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = fn()
        if value:
            return value
        if time.monotonic() >= deadline:
            pytest.fail(f"{what} not seen within {timeout_s} s; last: {value!r}")
        time.sleep(0.3)


# --------------------------------------------------------------------------- healthy namespace


@pytest.mark.behaviour("K8S-01")
def test_healthy_namespace_deployments_available(api, cloudflow):
    result = workloads.deployment_availability(api, cloudflow, [d.name for d in SEED])
    assert result.ok, result.summary()
    assert result.checked == [f"deployment/{d.name}" for d in SEED]
    # The same check over every Deployment of the namespace.
    assert workloads.deployment_availability(api, cloudflow).ok


@pytest.mark.behaviour("K8S-02")
def test_healthy_namespace_passes_memory_checks(api, cloudflow):
    oom = workloads.oomkilled_containers(api, cloudflow, lookback_s=LOOKBACK_S)
    restarts = workloads.restart_counts(api, cloudflow, max_restarts=MAX_RESTARTS)
    memory = workloads.memory_resources(api, cloudflow)
    for r in (oom, restarts, memory):
        assert r.ok, r.summary()
    assert len(oom.checked) == sum(d.replicas for d in SEED)
    assert sorted(memory.checked) == sorted(f"deployment/{d.name}/container/{d.container}" for d in SEED)


@pytest.mark.behaviour("K8S-01")
def test_missing_deployment_and_empty_namespace_do_not_pass(api, cloudflow):
    r = workloads.deployment_availability(api, cloudflow, ["cloudflow-api", "cloudflow-nope"])
    assert [f.problem for f in r.findings] == ["missing"]
    assert r.findings[0].subject == "deployment/cloudflow-nope"
    empty = workloads.deployment_availability(api, "default")
    assert not empty.ok and empty.findings[0].problem == "nothing_to_check"


# --------------------------------------------------------------------------- K8S-02: OOMKilled


@pytest.mark.behaviour("K8S-02")
def test_oomkilled_in_current_state_is_reported(api, cloudflow, healthy_again):
    pod = _first_pod(api, cloudflow, "cloudflow-workflow-engine")
    healthy_again.append(pod.metadata.name)
    finished = _now() - _dt.timedelta(seconds=20)
    _patch_container_status(api, cloudflow, pod, "workflow-engine", ready=False, restart_count=0, state={
        "terminated": {"exitCode": 137, "reason": "OOMKilled",
                       "startedAt": _iso(finished - _dt.timedelta(minutes=5)), "finishedAt": _iso(finished)}})

    r = workloads.oomkilled_containers(api, cloudflow, lookback_s=LOOKBACK_S)
    assert [(f.problem, f.details["where"]) for f in r.findings] == [("oomkilled", "state")]
    f = r.findings[0]
    assert f.behaviour == "K8S-02"
    assert f.subject == f"pod/{pod.metadata.name}/container/workflow-engine"
    assert f.details["exit_code"] == 137 and f.details["reason"] == "OOMKilled"
    assert "OOMKilled" in f.message and pod.metadata.name in f.message

    # The same kill is outside a look-back that ends before it.
    assert workloads.oomkilled_containers(api, cloudflow, lookback_s=5).ok

    # The Deployment shows the lost replica too (K8S-01).
    r1 = _eventually(
        lambda: workloads.deployment_availability(api, cloudflow, ["cloudflow-workflow-engine"]).problems("not_ready"),
        PROPAGATION_S, "not_ready for cloudflow-workflow-engine")
    assert r1[0].details["ready"] == 1 and r1[0].details["desired"] == 2


@pytest.mark.behaviour("K8S-02")
def test_oomkilled_in_last_state_is_reported(api, cloudflow, healthy_again):
    pod = _first_pod(api, cloudflow, "cloudflow-api")
    healthy_again.append(pod.metadata.name)
    finished = _now() - _dt.timedelta(minutes=2)
    _patch_container_status(
        api, cloudflow, pod, "api", ready=True, restart_count=1,
        state={"running": {"startedAt": _iso(finished + _dt.timedelta(seconds=1))}},
        last_state={"terminated": {"exitCode": 137, "reason": "OOMKilled",
                                   "startedAt": _iso(finished - _dt.timedelta(hours=1)),
                                   "finishedAt": _iso(finished)}})

    r = workloads.oomkilled_containers(api, cloudflow, lookback_s=LOOKBACK_S)
    assert [(f.problem, f.details["where"], f.details["pod"]) for f in r.findings] == [
        ("oomkilled", "lastState", pod.metadata.name)]
    assert r.findings[0].details["restart_count"] == 1
    # One restart is under the restart limit: that check stays quiet.
    assert workloads.restart_counts(api, cloudflow, max_restarts=MAX_RESTARTS).ok
    # Two minutes ago is outside a one-minute look-back.
    assert workloads.oomkilled_containers(api, cloudflow, lookback_s=60).ok


@pytest.mark.behaviour("K8S-02")
def test_crash_loop_with_high_restart_count_is_reported(api, cloudflow, healthy_again):
    pod = _first_pod(api, cloudflow, "cloudflow-db-primary")
    healthy_again.append(pod.metadata.name)
    finished = _now() - _dt.timedelta(seconds=30)
    _patch_container_status(
        api, cloudflow, pod, "db", ready=False, restart_count=12,
        state={"waiting": {"reason": "CrashLoopBackOff",
                           "message": "back-off 5m0s restarting failed container"}},
        last_state={"terminated": {"exitCode": 1, "reason": "Error",
                                   "startedAt": _iso(finished - _dt.timedelta(seconds=3)),
                                   "finishedAt": _iso(finished)}})

    r = workloads.restart_counts(api, cloudflow, max_restarts=MAX_RESTARTS)
    assert sorted(f.problem for f in r.findings) == ["crash_loop", "too_many_restarts"]
    too_many = r.problems("too_many_restarts")[0]
    assert too_many.details == {
        "pod": pod.metadata.name, "container": "db", "container_kind": "app",
        "restart_count": 12, "max_restarts": MAX_RESTARTS, "waiting_reason": "CrashLoopBackOff"}
    # An exit 1 crash is not an OOM kill.
    assert workloads.oomkilled_containers(api, cloudflow, lookback_s=LOOKBACK_S).ok
    # With its only replica down, cloudflow-db-primary is not available.
    problems = _eventually(
        lambda: {f.problem for f in workloads.deployment_availability(api, cloudflow, ["cloudflow-db-primary"]).findings},
        PROPAGATION_S, "cloudflow-db-primary unavailable")
    assert {"not_ready", "not_available"} <= problems


@pytest.mark.behaviour("K8S-02")
def test_missing_memory_limits_are_reported(api, cloudflow):
    apps = client.AppsV1Api(api)
    body = client.V1Deployment(
        metadata=client.V1ObjectMeta(name="cloudflow-no-limits"),
        spec=client.V1DeploymentSpec(
            replicas=0,
            selector=client.V1LabelSelector(match_labels={"app": "cloudflow-no-limits"}),
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels={"app": "cloudflow-no-limits"}),
                spec=client.V1PodSpec(
                    init_containers=[client.V1Container(name="migrate", image="x.invalid/m:1")],
                    containers=[
                        client.V1Container(name="only-request", image="x.invalid/a:1",
                                           resources=client.V1ResourceRequirements(requests={"memory": "64Mi"})),
                        client.V1Container(name="inverted", image="x.invalid/b:1",
                                           resources=client.V1ResourceRequirements(
                                               requests={"memory": "1Gi"}, limits={"memory": "1Gi"})),
                    ]))))
    apps.create_namespaced_deployment(cloudflow, body, _request_timeout=10)
    try:
        # A template cannot hold request > limit (the API validates it), so the
        # "inverted" container has equal values and must pass.
        r = workloads.memory_resources(api, cloudflow)
        found = sorted((f.subject.rsplit("/", 1)[-1], f.problem) for f in r.findings)
        assert found == [("migrate", "no_memory_limit"), ("migrate", "no_memory_request"),
                         ("only-request", "no_memory_limit")]
        assert all(f.subject.startswith("deployment/cloudflow-no-limits/") for f in r.findings)
        assert workloads.memory_resources(api, cloudflow, [d.name for d in SEED]).ok
    finally:
        apps.delete_namespaced_deployment("cloudflow-no-limits", cloudflow,
                                          propagation_policy="Background", _request_timeout=10)


# --------------------------------------------------------------------------- K8S-01: faults


@pytest.mark.behaviour("K8S-01")
def test_not_ready_replica_is_reported(api, cloudflow, healthy_again):
    pod = _first_pod(api, cloudflow, "cloudflow-api")
    healthy_again.append(pod.metadata.name)
    _patch_container_status(api, cloudflow, pod, "api", ready=False,
                            state={"running": {"startedAt": _iso(_now())}})

    findings = _eventually(
        lambda: workloads.deployment_availability(api, cloudflow, [d.name for d in SEED]).findings,
        PROPAGATION_S, "a finding for cloudflow-api")
    assert {f.subject for f in findings} == {"deployment/cloudflow-api"}
    by_problem = {f.problem: f for f in findings}
    assert by_problem["not_ready"].message == "cloudflow-api has 1/2 replicas ready"
    # maxUnavailable rounds down to 0 of 2: one lost replica breaks Available.
    assert "not_available" in by_problem
    assert by_problem["not_available"].details["condition"]["reason"] == "MinimumReplicasUnavailable"


@pytest.mark.behaviour("K8S-01")
def test_stuck_rollout_is_reported(api, cloudflow):
    apps = client.AppsV1Api(api)
    name = "cloudflow-workflow-engine"
    # A new template whose pods can never be scheduled, and a short deadline.
    apps.patch_namespaced_deployment(name, cloudflow, {"spec": {
        "progressDeadlineSeconds": 3,
        "template": {"spec": {"nodeSelector": {"cloudflow.test/no-such-node": "true"}}},
    }}, _request_timeout=10)
    try:
        def stuck():
            r = workloads.deployment_availability(api, cloudflow, [name])
            return r if r.problems("rollout_stuck") else None

        r = _eventually(stuck, PROPAGATION_S, "rollout_stuck for cloudflow-workflow-engine")
        problems = {f.problem for f in r.findings}
        # Old replicas keep serving: ready == desired, yet the rollout is not done.
        assert "not_ready" not in problems
        assert {"rollout_stuck", "rollout_incomplete", "old_replicas_pending"} <= problems
        stuck_f = r.problems("rollout_stuck")[0]
        assert stuck_f.details["condition"]["reason"] == "ProgressDeadlineExceeded"
        assert stuck_f.details["updated"] < stuck_f.details["desired"]
    finally:
        apps.patch_namespaced_deployment(name, cloudflow, {"spec": {
            "progressDeadlineSeconds": 600,
            "template": {"spec": {"nodeSelector": None}},
        }}, _request_timeout=10)
        wait_deployment_ready(api, cloudflow, name, timeout_s=60)
