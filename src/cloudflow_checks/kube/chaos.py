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
  a test can assert there was no downtime (never fewer than N ready);
* :func:`pod_chaos` - the K8S-03 experiment: one of those faults while a
  probe (:func:`service_endpoints_probe`, :func:`http_probe`) runs at a set
  rate; availability over the window and the time back to ready.

Every loop is bounded by a deadline; every API call has ``_request_timeout``.
"""

from __future__ import annotations

import datetime as _dt
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

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


class _BackgroundLoop:
    """Call :meth:`_step` at a fixed rate in a daemon thread, from ``with`` entry until exit,
    and never longer than ``max_duration_s``. Subclasses are dataclasses with ``max_duration_s``."""

    _thread_name = "kube-background-loop"
    max_duration_s: float

    def _interval_s(self) -> float:
        raise NotImplementedError

    def _step(self) -> None:  # must not raise: record errors instead
        raise NotImplementedError

    def __enter__(self):
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=self._thread_name, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        start = next_at = time.monotonic()
        while not self._stop.is_set() and time.monotonic() - start < self.max_duration_s:
            self._step()
            next_at += self._interval_s()
            self._stop.wait(max(0.0, next_at - time.monotonic()))


@dataclass
class ReadyReplicaSampler(_BackgroundLoop):
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
    _thread_name = "ready-replica-sampler"

    def _interval_s(self) -> float:
        return self.interval_s

    def _step(self) -> None:
        try:
            st = client.AppsV1Api(self.api_client).read_namespaced_deployment_status(
                self.deployment, self.namespace, _request_timeout=self.request_timeout).status
            self.samples.append((time.monotonic(), st.ready_replicas or 0, st.available_replicas or 0))
        except Exception as e:  # recorded, never raised from the thread
            self.errors.append(f"{type(e).__name__}: {e}")

    @property
    def min_ready(self) -> int | None:
        return min((s[1] for s in self.samples), default=None)

    @property
    def min_available(self) -> int | None:
        return min((s[2] for s in self.samples), default=None)


# --------------------------------------------------------------------------- K8S-03 experiment


class ChaosRefused(RuntimeError):
    """The experiment was not started (production without the flag, or an unhealthy Deployment)."""


Probe = Callable[[], bool]


def service_endpoints_probe(api_client, namespace: str, service: str, *,
                            request_timeout: float = DEFAULT_REQUEST_TIMEOUT) -> Probe:
    """A probe that passes while ``service`` has at least one ready endpoint: whether a client of
    the Service can be served at all (on a simulated cluster there is nothing to send requests to)."""
    discovery = client.DiscoveryV1Api(api_client)

    def probe() -> bool:
        slices = discovery.list_namespaced_endpoint_slice(
            namespace, label_selector=f"kubernetes.io/service-name={service}",
            _request_timeout=request_timeout).items
        return any(e.conditions is not None and e.conditions.ready
                   for s in slices for e in (s.endpoints or []))

    return probe


def http_probe(url: str, *, timeout_s: float = 2.0) -> Probe:
    """A probe that passes when ``GET url`` answers 2xx within ``timeout_s`` (a real target's /health)."""
    import httpx

    def probe() -> bool:
        return httpx.get(url, timeout=timeout_s).is_success

    return probe


@dataclass
class Prober(_BackgroundLoop):
    """Run ``probe`` at ``rate_per_s`` in a background thread; a probe that raises counts as failed.

    Bounded by ``max_duration_s`` even if never stopped.
    """

    probe: Probe
    rate_per_s: float
    max_duration_s: float = 300.0
    samples: list[tuple[float, bool]] = field(default_factory=list, init=False)
    errors: list[str] = field(default_factory=list, init=False)
    _thread_name = "chaos-prober"

    def _interval_s(self) -> float:
        return 1.0 / self.rate_per_s

    def _step(self) -> None:
        try:
            ok = bool(self.probe())
        except Exception as e:  # recorded, never raised from the thread
            ok = False
            self.errors.append(f"{type(e).__name__}: {e}")
        self.samples.append((time.monotonic(), ok))

    @property
    def failures(self) -> int:
        return sum(1 for _, ok in self.samples if not ok)

    @property
    def availability_pct(self) -> float | None:
        return 100.0 * (len(self.samples) - self.failures) / len(self.samples) if self.samples else None

    @property
    def achieved_rate_per_s(self) -> float:
        if len(self.samples) < 2:
            return 0.0
        return (len(self.samples) - 1) / (self.samples[-1][0] - self.samples[0][0])


@dataclass
class PodChaosResult:
    """One K8S-03 experiment: what was done, what the probe saw, how fast the Deployment recovered."""

    action: str                     # "delete_pod" | "rollout_restart"
    namespace: str
    deployment: str
    min_availability_pct: float
    ready_within_s: float
    probe_rate_per_s: float
    probes: int = 0
    failures: int = 0
    availability_pct: float | None = None
    achieved_rate_per_s: float = 0.0
    ready_after_s: float | None = None  # None: not ready again within the bound
    deleted_pod: str | None = None
    probe_errors: list[str] = field(default_factory=list)
    not_ready: str | None = None

    @property
    def ok(self) -> bool:
        return not self.problems()

    def problems(self) -> list[str]:
        out = []
        if self.availability_pct is None:
            out.append("the probe took no samples")
        elif self.availability_pct < self.min_availability_pct:
            out.append(f"availability {self.availability_pct:.1f} % < {self.min_availability_pct:g} % "
                       f"({self.failures} of {self.probes} probes failed)")
        if self.achieved_rate_per_s < self.probe_rate_per_s * 0.8:
            out.append(f"probe ran at {self.achieved_rate_per_s:.1f}/s, wanted {self.probe_rate_per_s:g}/s")
        if self.ready_after_s is None:
            out.append(f"{self.deployment} not ready within {self.ready_within_s:g} s: {self.not_ready}")
        return out

    def summary(self) -> str:
        head = (f"K8S-03 {self.action} {self.namespace}/{self.deployment}: availability "
                f"{'-' if self.availability_pct is None else f'{self.availability_pct:.1f} %'} over "
                f"{self.probes} probes, ready again after "
                f"{'-' if self.ready_after_s is None else f'{self.ready_after_s:.1f} s'}")
        return head + ("" if self.ok else "; " + "; ".join(self.problems()))


def pod_chaos(
    api_client,
    namespace: str,
    deployment: str,
    *,
    action: str,
    probe: Probe,
    probe_rate_per_s: float,
    min_availability_pct: float,
    ready_within_s: float,
    settle_s: float = 2.0,
    production: bool = False,
    allow_production: bool = False,
    request_timeout: float = DEFAULT_REQUEST_TIMEOUT,
) -> PodChaosResult:
    """K8S-03: lose one pod (``action="delete_pod"``) or restart the rollout (``"rollout_restart"``)
    while ``probe`` runs; availability over the window (``settle_s`` before the fault until
    ``settle_s`` after the Deployment is ready again) and the time back to ready.

    Refuses a production target unless ``allow_production``, and a Deployment that is not ready
    to begin with (its result would say nothing). Nothing needs rolling back (a deleted pod is
    replaced by its ReplicaSet; a restart is its own end state); the probe thread is stopped on
    every exit path.
    """
    if action not in ("delete_pod", "rollout_restart"):
        raise ValueError(f"unknown action {action!r}")
    if production and not allow_production:
        raise ChaosRefused(f"{namespace}/{deployment} is on a production target; pod chaos needs allow_production")
    try:
        wait_deployment_ready(api_client, namespace, deployment, timeout_s=min(30.0, ready_within_s),
                              request_timeout=request_timeout)
    except DeploymentNotReady as e:
        raise ChaosRefused(f"not starting pod chaos on an unhealthy Deployment: {e}") from None
    result = PodChaosResult(action, namespace, deployment, min_availability_pct, ready_within_s, probe_rate_per_s)
    with Prober(probe, probe_rate_per_s, max_duration_s=ready_within_s + 4 * settle_s + 30) as prober:
        time.sleep(settle_s)
        t_fault = time.monotonic()
        try:
            if action == "delete_pod":
                deleted = delete_one_pod(api_client, namespace, deployment, request_timeout=request_timeout)
                result.deleted_pod = deleted.name
                wait_pod_replaced(api_client, namespace, deployment, deleted, timeout_s=ready_within_s,
                                  request_timeout=request_timeout)
            else:
                rollout_restart(api_client, namespace, deployment, request_timeout=request_timeout)
                wait_deployment_ready(api_client, namespace, deployment, timeout_s=ready_within_s,
                                      request_timeout=request_timeout)
            result.ready_after_s = time.monotonic() - t_fault
            time.sleep(settle_s)
        except DeploymentNotReady as e:
            result.not_ready = str(e)
    result.probes, result.failures = len(prober.samples), prober.failures
    result.availability_pct, result.achieved_rate_per_s = prober.availability_pct, prober.achieved_rate_per_s
    result.probe_errors = prober.errors[:10]
    return result
