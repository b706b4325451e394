"""Container logs through the Kubernetes API, as ``kubectl logs`` reads them.

Guide, "Accessing CloudFlow Logs" and "Grep Patterns for Common Issues":
``kubectl logs -n cloudflow deployment/cloudflow-api [--previous] | grep ...``.
:func:`deployment_logs` reads every container of every pod of a Deployment
(``--all-containers``), the previous instance of each restarted container
too, and keeps the lines matching a pattern.
"""

from __future__ import annotations

import datetime as _dt
import math
import re
import time
from dataclasses import dataclass, field
from typing import Literal, Pattern

from kubernetes import client
from kubernetes.client.rest import ApiException

from ..logsource import LogLine as SourceLine
from ..logsource import LogSource, parse_json
from .workloads import DEFAULT_REQUEST_TIMEOUT


@dataclass(frozen=True)
class LogLine:
    pod: str
    container: str
    previous: bool
    text: str


@dataclass
class LogRead:
    """Matching lines, plus the streams that could not be read and why."""

    namespace: str
    deployment: str
    pattern: str | None
    lines: list[LogLine] = field(default_factory=list)
    streams_read: list[str] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)

    def texts(self) -> list[str]:
        return [line.text for line in self.lines]


def selector_string(label_selector: client.V1LabelSelector) -> str:
    """A ``V1LabelSelector`` as the string form list calls take."""
    parts = [f"{k}={v}" for k, v in sorted((label_selector.match_labels or {}).items())]
    for e in label_selector.match_expressions or []:
        op = e.operator
        if op == "In":
            parts.append(f"{e.key} in ({','.join(e.values or [])})")
        elif op == "NotIn":
            parts.append(f"{e.key} notin ({','.join(e.values or [])})")
        elif op == "Exists":
            parts.append(e.key)
        elif op == "DoesNotExist":
            parts.append(f"!{e.key}")
        else:  # pragma: no cover - the API only allows the four above
            raise ValueError(f"unknown selector operator {op!r}")
    return ",".join(parts)


def deployment_pods(api_client, namespace: str, deployment: str, *,
                    request_timeout: float = DEFAULT_REQUEST_TIMEOUT) -> list[client.V1Pod]:
    """The pods a Deployment selects (oldest first, as names are not stable)."""
    dep = client.AppsV1Api(api_client).read_namespaced_deployment(
        deployment, namespace, _request_timeout=request_timeout)
    pods = client.CoreV1Api(api_client).list_namespaced_pod(
        namespace, label_selector=selector_string(dep.spec.selector),
        _request_timeout=request_timeout).items
    return sorted(pods, key=lambda p: (p.metadata.creation_timestamp, p.metadata.name))


def deployment_logs(
    api_client,
    namespace: str,
    deployment: str,
    *,
    pattern: str | Pattern[str] | None = None,
    ignore_case: bool = False,
    previous: bool | Literal["auto"] = "auto",
    container: str | None = None,
    since_seconds: int | None = None,
    tail_lines: int | None = None,
    timestamps: bool = False,
    request_timeout: float = DEFAULT_REQUEST_TIMEOUT,
) -> LogRead:
    """Log lines of all pods (all containers, or ``container``) of a Deployment.

    :param pattern: keep only lines where this regular expression matches
        (``re.search``, like ``grep -E``); all lines when None.
    :param timestamps: prefix each line with its RFC 3339 time (``--timestamps``).
    :param previous: ``"auto"`` reads the current instance of every
        container and the previous one of containers that restarted;
        ``True`` reads only previous instances (``--previous``); ``False``
        only current ones.
    """
    regex = None
    if pattern is not None:
        regex = pattern if isinstance(pattern, re.Pattern) else re.compile(
            pattern, re.IGNORECASE if ignore_case else 0)
    core = client.CoreV1Api(api_client)
    result = LogRead(namespace, deployment, regex.pattern if regex else None)
    for pod in deployment_pods(api_client, namespace, deployment, request_timeout=request_timeout):
        restarts = {cs.name: cs.restart_count or 0 for cs in (pod.status.container_statuses or [])}
        names = [c.name for c in pod.spec.containers]
        if container is not None:
            names = [n for n in names if n == container]
        for name in names:
            if previous == "auto":
                instances = [False] + ([True] if restarts.get(name, 0) > 0 else [])
            else:
                instances = [bool(previous)]
            for prev in instances:
                stream = f"{pod.metadata.name}/{name}{' (previous)' if prev else ''}"
                kwargs = {"container": name, "previous": prev, "_request_timeout": request_timeout}
                if since_seconds is not None:
                    kwargs["since_seconds"] = since_seconds
                if tail_lines is not None:
                    kwargs["tail_lines"] = tail_lines
                if timestamps:
                    kwargs["timestamps"] = True
                try:
                    text = core.read_namespaced_pod_log(pod.metadata.name, namespace, **kwargs)
                except ApiException as e:
                    result.errors[stream] = f"HTTP {e.status}: {(e.body or e.reason or '').strip()[:300]}"
                    continue
                result.streams_read.append(stream)
                for line in (text or "").splitlines():
                    if regex is None or regex.search(line):
                        result.lines.append(LogLine(pod.metadata.name, name, prev, line))
    return result


class KubernetesLogSource(LogSource):
    """The LOG-* checks' log source for a target in a cluster: every pod (and the previous instance
    of restarted containers) of the named Deployments, read since the mark, as
    ``kubectl logs --timestamps --since=...`` would."""

    poll_interval_s = 0.5   # each poll is one API call per container

    def __init__(self, api_client, namespace: str, deployments: list[str], *,
                 request_timeout: float = DEFAULT_REQUEST_TIMEOUT):
        self.api_client, self.namespace, self.deployments = api_client, namespace, list(deployments)
        self.request_timeout = request_timeout
        self._mark = time.time()

    def mark(self) -> None:
        self._mark = time.time()

    def describe(self) -> str:
        return f"pods of {self.deployments} in namespace {self.namespace}"

    def lines(self) -> list[SourceLine]:
        # --since has whole seconds: read a little more, keep what is stamped after the mark.
        since = max(1, math.ceil(time.time() - self._mark) + 1)
        out = []
        for deployment in self.deployments:
            read = deployment_logs(self.api_client, self.namespace, deployment, since_seconds=since,
                                   timestamps=True, request_timeout=self.request_timeout)
            for line in read.lines:
                stamp, _, text = line.text.partition(" ")
                if _stamp_seconds(stamp) < self._mark or not text.strip():
                    continue
                out.append(SourceLine(f"{line.pod}/{line.container}", text, parse_json(text)))
        return out


def _stamp_seconds(stamp: str) -> float:
    """RFC 3339 with up to nanoseconds (``2026-12-03T19:00:00.123456789Z``) -> epoch seconds."""
    head, _, frac = stamp.rstrip("Z").partition(".")
    try:
        whole = _dt.datetime.strptime(head, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=_dt.timezone.utc)
    except ValueError:
        return float("inf")   # not a stamp: keep the line
    return whole.timestamp() + (float("0." + frac) if frac.isdigit() else 0.0)
