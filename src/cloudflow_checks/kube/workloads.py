"""Checks over a namespace's workloads, through the Kubernetes API.

K8S-01 (guide: Quick Diagnostic Checklist, Accessing Logs)
    :func:`deployment_availability`: every Deployment has as many ready
    replicas as it wants, conditions Available and Progressing are True, and
    its newest rollout is complete (observedGeneration caught up, every
    replica updated and available, no old replicas left).

K8S-02 (guide: Memory Leaks)
    :func:`oomkilled_containers` (``state.terminated`` and
    ``lastState.terminated``, reason OOMKilled or exit code 137, within a
    look-back), :func:`restart_counts` (restart count over a threshold,
    CrashLoopBackOff) and :func:`memory_resources` (memory request and limit
    set on every container of every Deployment, request <= limit).

Thresholds (look-back, restart limit) are parameters: the documented values
live in the suite's spec, not here. Every API call carries
``_request_timeout``.
"""

from __future__ import annotations

import datetime as _dt
from typing import Any, Iterable, Sequence

from kubernetes import client
from kubernetes.client.rest import ApiException
from kubernetes.utils import parse_quantity

from .findings import CheckResult, Finding

#: Seconds each API call may take, unless the caller says otherwise.
DEFAULT_REQUEST_TIMEOUT = 10.0

K8S_01 = "K8S-01"
K8S_02 = "K8S-02"

#: Exit status of a container killed with SIGKILL (128 + 9), which is how the
#: kernel's OOM killer ends it.
EXIT_SIGKILL = 137


def _apps(api_client) -> client.AppsV1Api:
    return client.AppsV1Api(api_client)


def _core(api_client) -> client.CoreV1Api:
    return client.CoreV1Api(api_client)


def _cond(conditions, type_: str):
    for c in conditions or []:
        if c.type == type_:
            return c
    return None


# --------------------------------------------------------------------------- K8S-01


def evaluate_deployment(dep: client.V1Deployment, check: str = "deployment_availability") -> list[Finding]:
    """Everything wrong with one Deployment's availability and rollout (pure)."""
    name = dep.metadata.name
    subject = f"deployment/{name}"
    spec_replicas = dep.spec.replicas if dep.spec.replicas is not None else 1
    st = dep.status or client.V1DeploymentStatus()
    ready = st.ready_replicas or 0
    available = st.available_replicas or 0
    updated = st.updated_replicas or 0
    total = st.replicas or 0
    generation = dep.metadata.generation or 0
    observed = st.observed_generation or 0
    observed_values = {
        "desired": spec_replicas, "ready": ready, "available": available,
        "updated": updated, "replicas": total,
        "generation": generation, "observed_generation": observed,
    }
    out: list[Finding] = []

    def add(problem: str, message: str, **extra: Any) -> None:
        out.append(Finding(K8S_01, check, subject, problem, message, {**observed_values, **extra}))

    if dep.spec.paused:
        add("paused", f"{name} is paused; its rollout cannot complete")
    if ready != spec_replicas:
        add("not_ready", f"{name} has {ready}/{spec_replicas} replicas ready")
    available_c = _cond(st.conditions, "Available")
    if available_c is None or available_c.status != "True":
        add(
            "not_available",
            f"{name} condition Available is "
            f"{available_c.status if available_c else 'missing'}"
            f"{f' ({available_c.reason})' if available_c and available_c.reason else ''}",
            condition=_cond_dict(available_c),
        )
    progressing_c = _cond(st.conditions, "Progressing")
    if progressing_c is None or progressing_c.status != "True":
        reason = progressing_c.reason if progressing_c else None
        add(
            "rollout_stuck" if reason == "ProgressDeadlineExceeded" else "not_progressing",
            f"{name} condition Progressing is "
            f"{progressing_c.status if progressing_c else 'missing'}"
            f"{f' ({reason})' if reason else ''}",
            condition=_cond_dict(progressing_c),
        )
    # The newest rollout, as `kubectl rollout status` judges it.
    if observed < generation:
        add("rollout_not_observed",
            f"{name} generation {generation} not yet observed by the controller (observed {observed})")
    else:
        if updated < spec_replicas:
            add("rollout_incomplete", f"{name}: {updated} of {spec_replicas} replicas updated to the newest template")
        if total > updated:
            add("old_replicas_pending", f"{name}: {total - updated} old replica(s) pending termination")
        if available < updated:
            add("updated_not_available", f"{name}: {available} of {updated} updated replicas available")
    return out


def _cond_dict(c) -> dict[str, Any] | None:
    if c is None:
        return None
    return {"type": c.type, "status": c.status, "reason": c.reason, "message": c.message}


def deployment_availability(
    api_client,
    namespace: str,
    names: Sequence[str] | None = None,
    *,
    request_timeout: float = DEFAULT_REQUEST_TIMEOUT,
) -> CheckResult:
    """K8S-01: are the Deployments (``names``, or all in ``namespace``) available?"""
    check = "deployment_availability"
    result = CheckResult(K8S_01, check, namespace)
    deps = _apps(api_client).list_namespaced_deployment(namespace, _request_timeout=request_timeout).items
    by_name = {d.metadata.name: d for d in deps}
    wanted = list(names) if names is not None else sorted(by_name)
    if not wanted:
        result.findings.append(Finding(K8S_01, check, f"namespace/{namespace}", "nothing_to_check",
                                       f"no Deployments in namespace {namespace}"))
    for name in wanted:
        result.checked.append(f"deployment/{name}")
        dep = by_name.get(name)
        if dep is None:
            result.findings.append(Finding(K8S_01, check, f"deployment/{name}", "missing",
                                           f"Deployment {name} not found in {namespace}"))
            continue
        result.findings.extend(evaluate_deployment(dep, check))
    return result


# --------------------------------------------------------------------------- K8S-02: pods


def _pods(api_client, namespace: str, label_selector: str | None, request_timeout: float):
    kwargs = {"_request_timeout": request_timeout}
    if label_selector:
        kwargs["label_selector"] = label_selector
    return _core(api_client).list_namespaced_pod(namespace, **kwargs).items


def _container_statuses(pod) -> Iterable[tuple[str, Any]]:
    st = pod.status
    if st is None:
        return []
    return [("init", s) for s in (st.init_container_statuses or [])] + [
        ("app", s) for s in (st.container_statuses or [])
    ]


def _nothing(behaviour: str, check: str, namespace: str, label_selector: str | None) -> Finding:
    sel = f" matching {label_selector!r}" if label_selector else ""
    return Finding(behaviour, check, f"namespace/{namespace}", "nothing_to_check",
                   f"no pods{sel} in namespace {namespace}")


def oomkilled_containers(
    api_client,
    namespace: str,
    *,
    lookback_s: float,
    label_selector: str | None = None,
    now: _dt.datetime | None = None,
    exit_137_is_oom: bool = True,
    request_timeout: float = DEFAULT_REQUEST_TIMEOUT,
) -> CheckResult:
    """K8S-02: containers OOM-killed within the last ``lookback_s`` seconds.

    Reads both ``state.terminated`` (the container is down now) and
    ``lastState.terminated`` (it was killed and restarted). A termination with
    reason ``OOMKilled`` counts; so does exit code 137 (SIGKILL) when
    ``exit_137_is_oom`` (reported as ``killed_137`` so a report can tell them
    apart). A termination with no ``finishedAt`` counts (its age is unknown).
    """
    check = "oomkilled_containers"
    result = CheckResult(K8S_02, check, namespace)
    now = now or _dt.datetime.now(_dt.timezone.utc)
    since = now - _dt.timedelta(seconds=lookback_s)
    pods = _pods(api_client, namespace, label_selector, request_timeout)
    if not pods:
        result.findings.append(_nothing(K8S_02, check, namespace, label_selector))
    for pod in pods:
        for kind, cs in _container_statuses(pod):
            subject = f"pod/{pod.metadata.name}/container/{cs.name}"
            result.checked.append(subject)
            for where, state in (("state", cs.state), ("lastState", cs.last_state)):
                term = state.terminated if state is not None else None
                if term is None:
                    continue
                oom = term.reason == "OOMKilled"
                killed = term.exit_code == EXIT_SIGKILL
                if not (oom or (exit_137_is_oom and killed)):
                    continue
                finished = term.finished_at
                if finished is not None and finished < since:
                    continue
                problem = "oomkilled" if oom else "killed_137"
                what = "OOMKilled" if oom else f"killed (exit {term.exit_code}, reason {term.reason or 'none'})"
                when = finished.isoformat() if finished else "at an unknown time"
                result.findings.append(Finding(
                    K8S_02, check, subject, problem,
                    f"{cs.name} in {pod.metadata.name} was {what} ({where}, finished {when})",
                    {
                        "pod": pod.metadata.name, "container": cs.name, "container_kind": kind,
                        "where": where, "reason": term.reason, "exit_code": term.exit_code,
                        "finished_at": finished.isoformat() if finished else None,
                        "restart_count": cs.restart_count, "lookback_s": lookback_s,
                    },
                ))
    return result


def restart_counts(
    api_client,
    namespace: str,
    *,
    max_restarts: int,
    label_selector: str | None = None,
    request_timeout: float = DEFAULT_REQUEST_TIMEOUT,
) -> CheckResult:
    """K8S-02: containers restarted more than ``max_restarts`` times, or crash-looping."""
    check = "restart_counts"
    result = CheckResult(K8S_02, check, namespace)
    pods = _pods(api_client, namespace, label_selector, request_timeout)
    if not pods:
        result.findings.append(_nothing(K8S_02, check, namespace, label_selector))
    for pod in pods:
        for kind, cs in _container_statuses(pod):
            subject = f"pod/{pod.metadata.name}/container/{cs.name}"
            result.checked.append(subject)
            restarts = cs.restart_count or 0
            waiting = cs.state.waiting if cs.state is not None else None
            details = {
                "pod": pod.metadata.name, "container": cs.name, "container_kind": kind,
                "restart_count": restarts, "max_restarts": max_restarts,
                "waiting_reason": waiting.reason if waiting else None,
            }
            if restarts > max_restarts:
                result.findings.append(Finding(
                    K8S_02, check, subject, "too_many_restarts",
                    f"{cs.name} in {pod.metadata.name} restarted {restarts} times (limit {max_restarts})",
                    details,
                ))
            if waiting is not None and waiting.reason == "CrashLoopBackOff":
                result.findings.append(Finding(
                    K8S_02, check, subject, "crash_loop",
                    f"{cs.name} in {pod.metadata.name} is in CrashLoopBackOff",
                    {**details, "waiting_message": waiting.message},
                ))
    return result


# --------------------------------------------------------------------------- K8S-02: resources


def memory_resources(
    api_client,
    namespace: str,
    names: Sequence[str] | None = None,
    *,
    request_timeout: float = DEFAULT_REQUEST_TIMEOUT,
) -> CheckResult:
    """K8S-02: every container of every Deployment sets a memory request and limit.

    Also flags a request above its limit (the API server rejects that for
    pods, but a template can still carry it until a pod is made).
    """
    check = "memory_resources"
    result = CheckResult(K8S_02, check, namespace)
    deps = _apps(api_client).list_namespaced_deployment(namespace, _request_timeout=request_timeout).items
    if names is not None:
        wanted = set(names)
        missing = wanted - {d.metadata.name for d in deps}
        for name in sorted(missing):
            result.findings.append(Finding(K8S_02, check, f"deployment/{name}", "missing",
                                           f"Deployment {name} not found in {namespace}"))
        deps = [d for d in deps if d.metadata.name in wanted]
    if not deps and names is None:
        result.findings.append(Finding(K8S_02, check, f"namespace/{namespace}", "nothing_to_check",
                                       f"no Deployments in namespace {namespace}"))
    for dep in deps:
        spec = dep.spec.template.spec
        containers = [("init", c) for c in (spec.init_containers or [])] + [
            ("app", c) for c in (spec.containers or [])
        ]
        for kind, c in containers:
            subject = f"deployment/{dep.metadata.name}/container/{c.name}"
            result.checked.append(subject)
            res = c.resources or client.V1ResourceRequirements()
            req = (res.requests or {}).get("memory")
            lim = (res.limits or {}).get("memory")
            details = {"deployment": dep.metadata.name, "container": c.name, "container_kind": kind,
                       "memory_request": req, "memory_limit": lim}
            if req is None:
                result.findings.append(Finding(K8S_02, check, subject, "no_memory_request",
                                               f"{c.name} in {dep.metadata.name} sets no memory request", details))
            if lim is None:
                result.findings.append(Finding(K8S_02, check, subject, "no_memory_limit",
                                               f"{c.name} in {dep.metadata.name} sets no memory limit", details))
            if req is not None and lim is not None:
                try:
                    over = parse_quantity(req) > parse_quantity(lim)
                except ValueError:
                    over = False
                    result.findings.append(Finding(K8S_02, check, subject, "bad_quantity",
                                                   f"{c.name} in {dep.metadata.name}: unreadable memory quantity",
                                                   details))
                if over:
                    result.findings.append(Finding(
                        K8S_02, check, subject, "request_over_limit",
                        f"{c.name} in {dep.metadata.name} requests {req} memory, above its limit {lim}", details))
    return result


def read_deployment(api_client, namespace: str, name: str, *,
                    request_timeout: float = DEFAULT_REQUEST_TIMEOUT) -> client.V1Deployment | None:
    try:
        return _apps(api_client).read_namespaced_deployment(name, namespace, _request_timeout=request_timeout)
    except ApiException as e:
        if e.status == 404:
            return None
        raise
