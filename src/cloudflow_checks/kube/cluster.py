"""A local control plane that outlives the command that started it:
``cloudflow-checks cluster up|down|status``.

It lives in ``<state dir>/cluster/`` (the suite's state dir: ``$CLOUDFLOW_STATE_DIR``
or ``.state/`` beside targets.yaml, the same as the twin's), and holds:

    cluster.json        what runs and how to reach it (components with pid and start time)
    cluster.lock        one up/down at a time
    admin.kubeconfig    cluster admin; the ``cluster-demo`` target's checks use it
    logs/<name>.log     each component's output
    etcd/, pki/         the cluster's data and certificates (fresh on every up)

``up`` starts etcd, kube-apiserver, kube-controller-manager, kube-scheduler and
kwok, seeds namespace ``cloudflow`` (see :mod:`.seed`) and waits until its
Deployments are ready. ``down`` stops every component's process group and
checks that nothing is left.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import ssl
import time
import urllib.request
from pathlib import Path
from typing import Callable, Iterator

from ..stack import procs
from .controlplane import BinariesNotFound, ControlPlane, ControlPlaneError

SCHEMA = 1
SUBDIR = "cluster"
KUBECONFIG_NAME = "admin.kubeconfig"
#: Bound on the seeded Deployments becoming ready after the control plane is up.
SEED_READY_S = 90.0

Progress = Callable[[str], None]


class ClusterError(RuntimeError):
    """The local cluster could not be started, stopped or read (message says why)."""


def _quiet(_: str) -> None:
    pass


def cluster_dir(state_dir: Path | str | None = None) -> Path:
    """``<state dir>/cluster``; the state dir as the targets resolve it when not given."""
    if state_dir is None:
        from ..targets import state_dir as suite_state_dir

        state_dir = suite_state_dir()
    return Path(state_dir).resolve() / SUBDIR


def kubeconfig_path(state_dir: Path | str | None = None) -> Path:
    return cluster_dir(state_dir) / KUBECONFIG_NAME


@contextlib.contextmanager
def _locked(folder: Path, timeout_s: float) -> Iterator[None]:
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder.parent / f"{SUBDIR}.lock", "a+") as handle:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise ClusterError(f"another process holds {handle.name} for over {timeout_s:.0f} s") from None
                time.sleep(0.2)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def read_info(state_dir: Path | str | None = None) -> dict | None:
    try:
        return json.loads((cluster_dir(state_dir) / "cluster.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def _write_info(folder: Path, info: dict) -> None:
    tmp = folder / f".cluster.json.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, folder / "cluster.json")


def _records(info: dict) -> list[tuple[str, procs.ProcessRecord]]:
    out = []
    for comp in info.get("components", []):
        rec = procs.ProcessRecord.from_json(comp)
        if rec is not None:
            out.append((comp["name"], rec))
    return out


def _apiserver_ready(info: dict, timeout: float = 3.0) -> bool:
    """GET /readyz as the cluster admin (client certificate from the kubeconfig)."""
    try:
        cfg = json.loads(Path(info["kubeconfig"]).read_text())
        cluster, user = cfg["clusters"][0]["cluster"], cfg["users"][0]["user"]
        ctx = ssl.create_default_context(cafile=cluster["certificate-authority"])
        ctx.load_cert_chain(user["client-certificate"], user["client-key"])
        with urllib.request.urlopen(info["endpoints"]["apiserver"] + "/readyz", timeout=timeout,
                                    context=ctx) as r:
            return r.read().strip() == b"ok"
    except Exception:
        return False


def status(state_dir: Path | str | None = None) -> dict:
    """``{up, cluster_dir, apiserver, kubeconfig, components: {name: {pid, alive, log}}}``."""
    folder = cluster_dir(state_dir)
    info = read_info(state_dir)
    report = {"up": False, "cluster_dir": str(folder), "apiserver": None, "kubeconfig": None,
              "apiserver_ready": False, "components": {}}
    if not info or info.get("status") != "up":
        return report
    alive_all = True
    for name, rec in _records(info):
        alive = procs.is_alive(rec)
        alive_all &= alive
        log = next((c.get("log") for c in info["components"] if c["name"] == name), None)
        report["components"][name] = {"pid": rec.pid, "alive": alive, "log": log}
    report.update(apiserver=info["endpoints"]["apiserver"], kubeconfig=info["kubeconfig"],
                  namespace=info.get("namespace"), kube_version=info.get("kube_version"))
    report["apiserver_ready"] = alive_all and _apiserver_ready(info)
    report["up"] = alive_all and report["apiserver_ready"]
    return report


def _stop_components(info: dict, grace_s: float, progress: Progress) -> list[str]:
    """Stop each component's process group, newest first; the names of any left alive."""
    left = []
    for name, rec in reversed(_records(info)):
        if not procs.is_alive(rec) and not procs.group_members(rec.pid):
            continue  # stopped before (or never started)
        if procs.stop_group(rec, grace_s=grace_s):
            progress(f"stopped {name} (pid {rec.pid})")
        else:
            left.append(f"{name} (pid {rec.pid})")
    return left


def _wait_seed_ready(api, namespace: str, deadline_s: float) -> None:
    from .chaos import DeploymentNotReady, wait_deployment_ready
    from .seed import SEED

    end = time.monotonic() + deadline_s
    for d in SEED:
        try:
            wait_deployment_ready(api, namespace, d.name, timeout_s=max(1.0, end - time.monotonic()))
        except DeploymentNotReady as exc:
            raise ClusterError(str(exc)) from None


def up(state_dir: Path | str | None = None, *, namespace: str = "cloudflow", nodes: int = 2,
       timeout_s: float = 120.0, progress: Progress | None = None) -> dict:
    """Start the cluster (or find it running) and return cluster.json's content."""
    progress = progress or _quiet
    folder = cluster_dir(state_dir)
    with _locked(folder, timeout_s + 60):
        current = status(state_dir)
        if current["up"]:
            progress(f"already up in {folder}")
            return read_info(state_dir)  # type: ignore[return-value]
        old = read_info(state_dir)
        if old:  # a crashed or half-stopped cluster: clear what is left of it
            left = _stop_components(old, 5.0, progress)
            if left:
                raise ClusterError(f"could not stop the previous cluster's {', '.join(left)}")
        for leftover in ("etcd", "pki", "pod-logs", "cluster.json"):
            path = folder / leftover
            shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)
        t0 = time.monotonic()
        cp = ControlPlane(state_dir=folder, keep_state=True, detached=True, nodes=nodes,
                          pod_log_namespaces=(namespace,), start_timeout_s=timeout_s)
        progress("starting etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok")
        try:
            cp.start()
        except BinariesNotFound:
            raise  # not built: the CLI says so (exit 2)
        except ControlPlaneError as exc:
            raise ClusterError(str(exc)) from None
        try:
            from .seed import seed_namespace

            api = cp.api_client()
            progress(f"seeding namespace {namespace}")
            seed_namespace(api, namespace)
            _wait_seed_ready(api, namespace, max(10.0, timeout_s - (time.monotonic() - t0)))
            info = cp.record()
            for comp in info["components"]:
                comp["start_time"] = procs.start_time_of(comp["pid"]) or 0
            info.update(schema=SCHEMA, status="up", namespace=namespace, owner_pid=os.getpid(),
                        startup_s=round(time.monotonic() - t0, 1))
            _write_info(folder, info)
            return info
        except BaseException:
            cp.stop()
            raise


def down(state_dir: Path | str | None = None, *, grace_s: float = 10.0,
         progress: Progress | None = None) -> dict:
    """Stop every component; raise :class:`ClusterError` if any is left. Returns the last cluster.json."""
    progress = progress or _quiet
    folder = cluster_dir(state_dir)
    with _locked(folder, grace_s + 60):
        info = read_info(state_dir)
        if not info:
            progress(f"nothing recorded in {folder}")
            return {}
        left = _stop_components(info, grace_s, progress)
        if left:
            raise ClusterError(f"still alive after SIGKILL: {', '.join(left)}")
        info["status"] = "down"
        _write_info(folder, info)
        return info
