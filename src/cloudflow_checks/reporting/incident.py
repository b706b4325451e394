"""incident-report.md: written into the run folder whenever the gate fails.

It follows the guide's "Escalation Procedures > Step 2: Gather Information" list, in its order:
incident timestamp and duration, affected services and endpoints, error rates and user impact,
recent changes or deployments, relevant log excerpts, correlation ids for failed requests.

Evidence comes from the run folder (summary, exchanges.jsonl recorded by the reporting plugin) and,
when a resolved target is in hand, from the target itself: its log source (the twin's log files, or
pod logs through the Kubernetes API) and its Kubernetes rollout history. Every piece is redacted.
"""
from __future__ import annotations

import json
import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Callable

from .. import redact
from ..spec import SEVERITIES

EXCHANGES_FILE = "exchanges.jsonl"
MAX_LOG_LINES_PER_ID = 10
MAX_LOG_LINES = 120
MAX_LINE_CHARS = 600
MAX_LOG_BYTES = 64 * 1024 * 1024   # read at most the last 64 MiB of each log file
_ID_SEGMENT = re.compile(r"^(?:\d+|[0-9a-f]{8,}|[0-9a-f-]{32,36}|[a-z]{1,6}_[A-Za-z0-9]{4,})$")


# -- evidence -----------------------------------------------------------------------------------
def endpoint_of(method: str, path: str) -> str:
    """`GET /api/v1/workflows/wf_8h4j9k2m` -> `GET /api/v1/workflows/{id}`: rates per endpoint, not per URL."""
    parts = [("{id}" if _ID_SEGMENT.match(p) else p) for p in path.split("/")]
    return f"{method} {'/'.join(parts)}"


def read_exchanges(run_dir: Path) -> list[dict]:
    """Every exchange the run's checks made: {nodeid, method, path, status, correlation_id}."""
    path = Path(run_dir) / EXCHANGES_FILE
    if not path.is_file():
        return []
    out = []
    for line in path.read_text(errors="replace").splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out


@dataclass
class EndpointRate:
    endpoint: str
    requests: int = 0
    client_errors: int = 0    # 4xx: often what a check asked for (401, 403, 429)
    server_errors: int = 0    # 5xx
    in_failed_checks: int = 0
    errors_in_failed_checks: int = 0

    @property
    def server_error_rate(self) -> float:
        return self.server_errors / self.requests if self.requests else 0.0


def error_rates(exchanges: list[dict], failed_nodeids: set[str]) -> list[EndpointRate]:
    rates: dict[str, EndpointRate] = {}
    for e in exchanges:
        key = endpoint_of(e["method"], e["path"])
        r = rates.setdefault(key, EndpointRate(key))
        r.requests += 1
        status = int(e.get("status") or 0)
        r.client_errors += 400 <= status < 500
        r.server_errors += status >= 500
        if e.get("nodeid") in failed_nodeids:
            r.in_failed_checks += 1
            r.errors_in_failed_checks += status >= 400
    return sorted(rates.values(), key=lambda r: (-r.errors_in_failed_checks, -r.in_failed_checks, r.endpoint))


@dataclass
class Excerpt:
    """Log lines for the report, or why there are none."""
    source: str
    lines: list[str] = field(default_factory=list)
    note: str = ""


def file_log_excerpt(files: list[Path], correlation_ids: list[str]) -> Excerpt:
    """Lines of the target's log files that carry one of the correlation ids (like `grep corr_...`)."""
    names = ", ".join(Path(f).name for f in files) or "none"
    if not correlation_ids:
        return Excerpt(f"log files ({names})", note="no correlation ids to look for")
    pattern = re.compile("|".join(re.escape(c) for c in correlation_ids))
    per_id: dict[str, int] = defaultdict(int)
    lines: list[str] = []
    for f in files:
        f = Path(f)
        if not f.is_file():
            continue
        with f.open("rb") as handle:
            size = handle.seek(0, 2)
            handle.seek(max(0, size - MAX_LOG_BYTES))
            for raw in handle:
                text = raw.decode("utf-8", "replace").rstrip("\n")
                m = pattern.search(text)
                if not m or per_id[m.group(0)] >= MAX_LOG_LINES_PER_ID:
                    continue
                per_id[m.group(0)] += 1
                lines.append(f"[{f.stem}] {text[:MAX_LINE_CHARS]}")
                if len(lines) >= MAX_LOG_LINES:
                    break
        if len(lines) >= MAX_LOG_LINES:
            break
    missing = [c for c in correlation_ids if c not in per_id]
    note = f"no lines found for {', '.join(missing[:200])}" if missing else ""
    return Excerpt(f"log files ({names})", lines, note)


def kubernetes_log_excerpt(target, correlation_ids: list[str], since_s: int) -> Excerpt:
    """Pod logs of every Deployment in the target's namespace, lines matching the correlation ids."""
    kube = target.kube
    source = f"Kubernetes pod logs (namespace {kube.namespace})"
    if not correlation_ids:
        return Excerpt(source, note="no correlation ids to look for")
    from kubernetes import client

    from ..kube.logs import deployment_logs
    api_client = _kube_client(kube)
    pattern = "|".join(re.escape(c) for c in correlation_ids)
    lines: list[str] = []
    errors = []
    for dep in client.AppsV1Api(api_client).list_namespaced_deployment(kube.namespace, _request_timeout=10).items:
        read = deployment_logs(api_client, kube.namespace, dep.metadata.name, pattern=pattern,
                               since_seconds=since_s, request_timeout=10)
        lines += [f"[{line.pod}/{line.container}] {line.text[:MAX_LINE_CHARS]}" for line in read.lines]
        errors += [f"{stream}: {err}" for stream, err in read.errors.items()]
    return Excerpt(source, lines[:MAX_LOG_LINES], "; ".join(errors[:5]))


def log_excerpt(target, correlation_ids: list[str], since_s: int) -> Excerpt:
    """Through the target's log source; the hook to extend for another kind of log source."""
    if target is None:
        return Excerpt("none", note="the target was not in hand when this report was written; "
                                    "rerun `cloudflow-checks report --incident RUN` with the target up")
    if "logs" not in target.capabilities and target.log_source != "kubernetes":
        return Excerpt("none", note=f"target {target.name} declares no log source (capability `logs`)")
    try:
        if target.log_source == "kubernetes" and target.kube:
            return kubernetes_log_excerpt(target, correlation_ids, since_s)
        if target.log_source == "files" or target.log_files:
            return file_log_excerpt(list(target.log_files), correlation_ids)
    except Exception as exc:  # the report must still be written; say what went wrong
        return Excerpt(str(target.log_source), note=f"could not read logs: {type(exc).__name__}: {exc}")
    return Excerpt(str(target.log_source), note=f"log source {target.log_source!r} is not supported yet")


@dataclass
class Changes:
    source: str
    rows: list[dict] = field(default_factory=list)  # deployment, revision, created, images, change_cause
    note: str = ""


def rollout_history(api_client, namespace: str, limit_per_deployment: int = 5) -> list[dict]:
    """`kubectl rollout history` for every Deployment of the namespace: its ReplicaSets by revision."""
    from kubernetes import client
    apps = client.AppsV1Api(api_client)
    rows = []
    for rs in apps.list_namespaced_replica_set(namespace, _request_timeout=10).items:
        owner = next((o.name for o in (rs.metadata.owner_references or []) if o.kind == "Deployment"), None)
        annotations = rs.metadata.annotations or {}
        if owner is None or "deployment.kubernetes.io/revision" not in annotations:
            continue
        rows.append({
            "deployment": owner,
            "revision": int(annotations["deployment.kubernetes.io/revision"]),
            "created": rs.metadata.creation_timestamp.isoformat() if rs.metadata.creation_timestamp else "",
            "images": ", ".join(c.image for c in rs.spec.template.spec.containers),
            "change_cause": annotations.get("kubernetes.io/change-cause", ""),
            "replicas": rs.status.replicas or 0,
        })
    rows.sort(key=lambda r: (r["deployment"], -r["revision"]))
    kept: dict[str, int] = defaultdict(int)
    out = []
    for r in rows:
        kept[r["deployment"]] += 1
        if kept[r["deployment"]] <= limit_per_deployment:
            out.append(r)
    return out


def _kube_client(kube):
    from kubernetes import config as kube_config
    return kube_config.new_client_from_config(config_file=kube.kubeconfig, context=kube.context)


def recent_changes(target) -> Changes:
    """Recent deployments: Kubernetes rollout history when the target has a cluster.

    Hook: a target without a cluster gets a note; to add another change source (an audit log, a
    deploy tool's API), extend this function (it gets the resolved target) and return Changes rows.
    """
    if target is None:
        return Changes("none", note="the target was not in hand when this report was written")
    if target.kube is None or "kubernetes" not in target.capabilities:
        return Changes("none", note=f"target {target.name} has no Kubernetes cluster configured, so no rollout "
                                    "history; check your deploy tool's log (guide: `cloudflow audit log --last 2h "
                                    "--event-type deployment,configuration`)")
    try:
        return Changes(f"Kubernetes rollout history (namespace {target.kube.namespace})",
                       rollout_history(_kube_client(target.kube), target.kube.namespace))
    except Exception as exc:
        return Changes("kubernetes", note=f"could not read rollout history: {type(exc).__name__}: {exc}")


# -- the report ---------------------------------------------------------------------------------
def render(summary: dict, exchanges: list[dict], excerpt: Excerpt, changes: Changes) -> str:
    from .summary import ESCALATION
    v = summary["verdict"]
    t = summary["target"]
    behaviours = summary["behaviours"]
    failed_checks = [c for c in summary["checks"] if c["outcome"] == "failed"]
    failed_ids = {c["nodeid"] for c in failed_checks}
    worst = v["worst_severity"]
    lines = [
        f"# Incident report: {worst} on {t.get('name')} ({summary['run_id']})", "",
        f"The release gate failed (it fails on {v['fail_on']} or worse): "
        f"{', '.join(v['blocking'])}. {ESCALATION.get(worst, '')}", "",
        "Written by cloudflow-checks following the guide's Escalation Procedures > Step 2: Gather Information.", "",
        "## Incident timestamp and duration", "",
        f"- Window: {summary['started_at']} .. {summary['finished_at']} "
        f"({_duration(summary)}; the checks' run)",
        f"- Target: **{t.get('name')}** ({t.get('kind')}), {t.get('base_url')}"
        + (" (production)" if t.get("production") else ""),
        f"- Profile: {summary['profile']}; guide {summary['guide']['version']}", "",
        "## Affected services and endpoints", "",
        "| Severity | Behaviour | Guide section | Failing checks | Endpoints hit (method path -> status) |",
        "|---|---|---|---|---|",
    ]
    for sev in SEVERITIES:
        for bid in v["failing_by_severity"].get(sev, []):
            b = behaviours[bid]
            mine = [c for c in failed_checks if bid in c["behaviours"]]
            endpoints = sorted({e for c in mine for e in c["endpoints"]})
            lines.append(f"| {sev} | {bid} {b['title']} | {b['guide']} | {len(mine)} | "
                         f"{'<br>'.join(endpoints[:10]) or '(none recorded)'} |")
    lines += ["", "## Error rates and user impact", ""]
    rates = error_rates(exchanges, failed_ids)
    shown = [r for r in rates if r.in_failed_checks or r.server_errors]
    if rates:
        lines += [f"From the {len(exchanges)} HTTP exchanges the checks made during the window: the endpoints the "
                  "failing checks hit, and any endpoint that answered 5xx. 4xx are often what a check asked for "
                  "(401, 403, 429); 5xx never are.", "",
                  "| Endpoint | Requests | 4xx | 5xx | 5xx rate | Requests in failed checks | Errors in failed checks |",
                  "|---|---|---|---|---|---|---|"]
        for r in shown[:40]:
            lines.append(f"| `{r.endpoint}` | {r.requests} | {r.client_errors} | {r.server_errors} | "
                         f"{r.server_error_rate:.0%} | {r.in_failed_checks} | {r.errors_in_failed_checks} |")
        others = len(rates) - len(shown[:40])
        if others:
            lines.append(f"\n{others} other endpoint(s) answered without a 5xx and were not hit by a failing check "
                         f"(all of them: {EXCHANGES_FILE}).")
    else:
        lines.append("No exchange record in the run folder (exchanges.jsonl); endpoints above come from the failing checks.")
    lines += ["", "User impact, by the guide's definitions:", ""]
    for sev in SEVERITIES:
        for bid in v["failing_by_severity"].get(sev, []):
            b = behaviours[bid]
            lines.append(f"- {sev} {bid}: {b['title']}. Remediation (guide): {b['remediation']}")
    lines += ["", "## Recent changes or deployments", "", f"Source: {changes.source}", ""]
    if changes.rows:
        lines += ["| Deployment | Revision | Created | Images | Change cause |", "|---|---|---|---|---|"]
        lines += [f"| {r['deployment']} | {r['revision']} | {r['created']} | {r['images']} | {r['change_cause']} |"
                  for r in changes.rows]
    if changes.note:
        lines.append(changes.note)
    lines += ["", "## Relevant log excerpts", "", f"Source: {excerpt.source}", ""]
    if excerpt.lines:
        lines += ["```", *excerpt.lines, "```"]
    if excerpt.note:
        lines += ["", f"Note: {excerpt.note}"]
    lines += ["", "## Correlation IDs for failed requests", ""]
    any_ids = False
    for c in failed_checks:
        bad = [e for e in exchanges if e.get("nodeid") == c["nodeid"] and e.get("correlation_id")
               and int(e.get("status") or 0) >= 400]
        ids = sorted({e["correlation_id"] for e in bad}) or c["correlation_ids"]
        if not ids:
            continue
        any_ids = True
        lines.append(f"- `{c['nodeid']}` ({', '.join(c['behaviours'])}): {', '.join(ids[:20])}")
        for e in bad[:10]:
            lines.append(f"  - {e['method']} {e['path']} -> {e['status']}: {e['correlation_id']}")
    if not any_ids:
        lines.append("The failing checks recorded no correlation ids (the target sent no X-Correlation-ID).")
    lines += ["", "Trace one across services (guide, Correlation IDs): "
              "`kubectl logs -n cloudflow <pod> | grep <correlation id>`", "",
              "## Failure messages", ""]
    for c in failed_checks:
        lines += [f"- `{c['nodeid']}`: {(c['message'] or '').strip().splitlines()[0][:400] if c['message'] else ''}"]
    return "\n".join(lines) + "\n"


def _duration(summary: dict) -> str:
    try:
        start = datetime.fromisoformat(summary["started_at"])
        end = datetime.fromisoformat(summary["finished_at"])
        return str(timedelta(seconds=round((end - start).total_seconds())))
    except (TypeError, ValueError, KeyError):
        return f"{summary.get('duration_s')} s"


def failed_request_correlation_ids(summary: dict, exchanges: list[dict]) -> list[str]:
    """Ids of the requests that failed (4xx/5xx) inside failing checks, plus those the checks named."""
    failed = {c["nodeid"] for c in summary["checks"] if c["outcome"] == "failed"}
    ids = {cid for c in summary["checks"] if c["nodeid"] in failed for cid in c["correlation_ids"]}
    ids |= {e["correlation_id"] for e in exchanges if e.get("nodeid") in failed and e.get("correlation_id")
            and int(e.get("status") or 0) >= 400}
    return sorted(ids)


def correlation_ids_of_failures(summary: dict, exchanges: list[dict]) -> list[str]:
    """Every id a failing check saw: its failed requests and the ones leading up to them (log context)."""
    failed = {c["nodeid"] for c in summary["checks"] if c["outcome"] == "failed"}
    ids = {cid for c in summary["checks"] if c["nodeid"] in failed for cid in c["correlation_ids"]}
    ids |= {e["correlation_id"] for e in exchanges if e.get("nodeid") in failed and e.get("correlation_id")}
    return sorted(ids)


def write(run_dir: Path, summary: dict, target=None, *,
          excerpt_source: Callable | None = None) -> Path:
    """Gather the evidence and write run_dir/incident-report.md (redacted)."""
    run_dir = Path(run_dir)
    exchanges = read_exchanges(run_dir)
    ids = correlation_ids_of_failures(summary, exchanges)
    since = int(summary.get("duration_s") or 0) + 300
    excerpt = (excerpt_source or log_excerpt)(target, ids, since)
    failed_request_ids = set(failed_request_correlation_ids(summary, exchanges))
    if excerpt.note.startswith("no lines found for"):
        missing = [c for c in re.findall(r"corr_[A-Za-z0-9]+", excerpt.note) if c in failed_request_ids]
        excerpt.note = f"no log lines found for failed requests {', '.join(missing)}" if missing else ""
    text = render(summary, exchanges, excerpt, recent_changes(target))
    path = run_dir / "incident-report.md"
    path.write_text(redact.text(text))
    return path
