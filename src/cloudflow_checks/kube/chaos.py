"""Pod chaos primitives for K8S-03 (guide, "Immediate mitigation":
``kubectl rollout restart deployment/cloudflow-api`` then ``kubectl rollout
status``), through the Kubernetes API.

* :func:`delete_one_pod` - lose one pod of a Deployment;
* :func:`rollout_restart` - what ``kubectl rollout restart`` does (patch the
  pod template annotation ``kubectl.kubernetes.io/restartedAt``);
* :func:`wait_deployment_ready` - what ``kubectl rollout status`` waits for,
  with a deadline;
* :func:`wait_pod_replaced` - the lost pod is gone and the Deployment is
  back to ready;
* :class:`ReadyReplicaSampler` - polls ready replicas while a fault runs, so
  a test can assert there was no downtime (never fewer than N ready).

Every loop is bounded by a deadline; every API call has ``_request_timeout``.
"""

from __future__ import annotations

import datetime as _dt
import threading
import time
from dataclasses import dataclass, field

from kubernetes import client
from kubernetes.client.rest import ApiException

from .findings import Finding
from .logs import deployment_pods
from .workloads import DEFAULT_REQUEST_TIMEOUT, evaluate_deployment

RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"


class DeploymentNotReady(AssertionError):
    """A Deployment did not get back to ready within its bound."""

    def __init__(self, message: str, findings: list[Finding]):
        super().__init__(message)
        self.findings = findings


@dataclass(frozen=True)
class DeletedPod:
    name: str
    uid: str
    node: str | None
    deleted_at: float  # time.monotonic()


@dataclass(frozen=True)
class ReadyResult:
    deployment: str
    elapsed_s: float
    polls: int


def delete_one_pod(
    api_client,
    namespace: str,
    deployment: str,
    *,
    pick: str = "oldest",
    grace_period_seconds: int | None = None,
    request_timeout: float = DEFAULT_REQUEST_TIMEOUT,
) -> DeletedPod:
    """Delete one running pod of ``deployment`` (``pick``: ``oldest`` or ``newest``)."""
    pods = [p for p in deployment_pods(api_client, namespace, deployment, request_timeout=request_timeout)
            if p.metadata.deletion_timestamp is None]
    if not pods:
        raise LookupError(f"deployment {namespace}/{deployment} has no pods to delete")
    pod = pods[0] if pick == "oldest" else pods[-1]
    body = client.V1DeleteOptions(
        grace_period_seconds=grace_period_seconds,
        preconditions=client.V1Preconditions(uid=pod.metadata.uid),
    )
    client.CoreV1Api(api_client).delete_namespaced_pod(
        pod.metadata.name, namespace, body=body, _request_timeout=request_timeout)
    return DeletedPod(pod.metadata.name, pod.metadata.uid, pod.spec.node_name, time.monotonic())


def rollout_restart(
    api_client,
    namespace: str,
    deployment: str,
    *,
    now: _dt.datetime | None = None,
    request_timeout: float = DEFAULT_REQUEST_TIMEOUT,
) -> str:
    """Restart a Deployment's pods the way ``kubectl rollout restart`` does.

    Returns the ``restartedAt`` value written (RFC 3339, like kubectl).
    """
    stamp = (now or _dt.datetime.now(_dt.timezone.utc)).astimezone().isoformat(timespec="seconds")
    patch = {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: stamp}}}}}
    client.AppsV1Api(api_client).patch_namespaced_deployment(
        deployment, namespace, patch, _request_timeout=request_timeout)
    return stamp


def wait_deployment_ready(
    api_client,
    namespace: str,
    deployment: str,
    *,
    timeout_s: float,
    poll_s: float = 0.5,
    request_timeout: float = DEFAULT_REQUEST_TIMEOUT,
) -> ReadyResult:
    """Poll until the Deployment passes K8S-01 (rollout complete, all ready).

    Raises :class:`DeploymentNotReady` with the last findings if it has not
    within ``timeout_s``.
    """
    apps = client.AppsV1Api(api_client)
    start = time.monotonic()
    deadline = start + timeout_s
    polls = 0
    findings: list[Finding] = []
    while True:
        polls += 1
        try:
            dep = apps.read_namespaced_deployment(deployment, namespace, _request_timeout=request_timeout)
            findings = evaluate_deployment(dep, "wait_deployment_ready")
        except ApiException as e:
            findings = [Finding("K8S-03", "wait_deployment_ready", f"deployment/{deployment}",
                                "api_error", f"reading {deployment}: HTTP {e.status}")]
        if not findings:
            return ReadyResult(deployment, time.monotonic() - start, polls)
        if time.monotonic() >= deadline:
            raise DeploymentNotReady(
                f"deployment {namespace}/{deployment} not ready within {timeout_s:g} s: "
                + "; ".join(f.message for f in findings),
                findings,
            )
        time.sleep(min(poll_s, max(0.0, deadline - time.monotonic())))


def wait_pod_replaced(
    api_client,
    namespace: str,
    deployment: str,
    deleted: DeletedPod,
    *,
    timeout_s: float,
    poll_s: float = 0.5,
    request_timeout: float = DEFAULT_REQUEST_TIMEOUT,
) -> ReadyResult:
    """Wait until the deleted pod is gone and the Deployment is ready again."""
    start = time.monotonic()
    deadline = start + timeout_s
    polls = 0
    while True:
        polls += 1
        pods = deployment_pods(api_client, namespace, deployment, request_timeout=request_timeout)
        if all(p.metadata.uid != deleted.uid for p in pods):
            break
        if time.monotonic() >= deadline:
            raise DeploymentNotReady(
                f"pod {namespace}/{deleted.name} still present {timeout_s:g} s after deletion", [])
        time.sleep(min(poll_s, max(0.0, deadline - time.monotonic())))
    rest = max(0.0, deadline - time.monotonic())
    ready = wait_deployment_ready(api_client, namespace, deployment, timeout_s=rest, poll_s=poll_s,
                                  request_timeout=request_timeout)
    return ReadyResult(deployment, time.monotonic() - start, polls + ready.polls)


@dataclass
class ReadyReplicaSampler:
    """Sample a Deployment's ready replicas in a background thread.

    ``with ReadyReplicaSampler(api, "cloudflow", "cloudflow-api") as s: ...``
    then ``s.min_ready`` is the fewest ready replicas seen and ``s.samples``
    the history ``(monotonic time, ready, available)``. Bounded by
    ``max_duration_s`` even if never stopped.
    """

    api_client: object
    namespace: str
    deployment: str
    interval_s: float = 0.2
    max_duration_s: float = 120.0
    request_timeout: float = DEFAULT_REQUEST_TIMEOUT
    samples: list[tuple[float, int, int]] = field(default_factory=list, init=False)
    errors: list[str] = field(default_factory=list, init=False)
    _stop: threading.Event = field(default_factory=threading.Event, init=False, repr=False)
    _thread: threading.Thread | None = field(default=None, init=False, repr=False)

    def __enter__(self) -> "ReadyReplicaSampler":
        self._thread = threading.Thread(target=self._run, name="ready-replica-sampler", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.request_timeout + 5)

    def _run(self) -> None:
        apps = client.AppsV1Api(self.api_client)
        deadline = time.monotonic() + self.max_duration_s
        while not self._stop.is_set() and time.monotonic() < deadline:
            try:
                st = apps.read_namespaced_deployment_status(
                    self.deployment, self.namespace, _request_timeout=self.request_timeout).status
                self.samples.append((time.monotonic(), st.ready_replicas or 0, st.available_replicas or 0))
            except Exception as e:  # recorded, never raised from the thread
                self.errors.append(f"{type(e).__name__}: {e}")
            self._stop.wait(self.interval_s)

    @property
    def min_ready(self) -> int | None:
        return min((s[1] for s in self.samples), default=None)

    @property
    def min_available(self) -> int | None:
        return min((s[2] for s in self.samples), default=None)
