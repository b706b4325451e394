"""`cloudflow-checks cluster up|status|down` and `run --target cluster-demo` end to end, as a
user runs them (subprocesses), against a private twin and a control plane of their own:
the K8S checks (K8S-03's pod chaos included) pass on the seeded namespace, K8S-02 fails once a pod was OOM-killed, and
`down` leaves no process behind."""

from __future__ import annotations

import datetime as _dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from kubernetes import client, config

from cloudflow_checks.kube.controlplane import binaries_available
from cloudflow_checks.kube.fixtures import kube_required
from cloudflow_checks.stack import procs

ROOT = Path(__file__).resolve().parents[2]


def _cli(env: dict, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cloudflow_checks.cli", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


def _run_k8s_checks(env: dict, reports: Path, profile: str = "smoke") -> tuple[subprocess.CompletedProcess, dict]:
    result = _cli(env, "run", "--target", "cluster-demo", "--profile", profile, "--reports", str(reports),
                  "--workers", "0", "-k", "test_kubernetes")
    summary = reports / "latest" / "summary.json"
    assert summary.is_file(), result.stdout + result.stderr
    return result, json.loads(summary.read_text())


def _statuses(summary: dict) -> dict[str, str]:
    return {i: summary["behaviours"][i]["status"] for i in ("K8S-01", "K8S-02", "K8S-03")}


def _oom_kill_one_pod(kubeconfig: Path, namespace: str) -> str:
    """One cloudflow-api container restarted after an OOM kill a minute ago (lastState only)."""
    api = config.new_client_from_config(config_file=str(kubeconfig))
    core = client.CoreV1Api(api)
    pod = core.list_namespaced_pod(namespace, label_selector="app=cloudflow-api", _request_timeout=10).items[0]
    finished = _dt.datetime.now(_dt.timezone.utc) - _dt.timedelta(minutes=1)
    iso = lambda t: t.strftime("%Y-%m-%dT%H:%M:%SZ")  # noqa: E731
    statuses = [{"name": cs.name, "image": cs.image, "imageID": "", "ready": True, "restartCount": 1,
                 "started": True, "state": {"running": {"startedAt": iso(finished)}},
                 "lastState": {"terminated": {"exitCode": 137, "reason": "OOMKilled",
                                              "startedAt": iso(finished - _dt.timedelta(hours=1)),
                                              "finishedAt": iso(finished)}}}
                for cs in pod.status.container_statuses]
    core.patch_namespaced_pod_status(pod.metadata.name, namespace, {"status": {"containerStatuses": statuses}},
                                     _request_timeout=10)
    api.close()
    return pod.metadata.name


@pytest.mark.behaviour("K8S-01", "K8S-02", "K8S-03")
def test_cluster_up_run_cluster_demo_and_down(stack_env, tmp_path):
    if not binaries_available() and not kube_required():
        pytest.skip("Kubernetes control-plane binaries not built (scripts/build-kube.sh)")
    env = dict(stack_env)
    state = Path(env["CLOUDFLOW_STATE_DIR"])
    up = _cli(env, "cluster", "up")
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        info = json.loads((state / "cluster" / "cluster.json").read_text())
        assert info["endpoints"]["apiserver"] in up.stdout and info["kubeconfig"] in up.stdout
        assert [c["name"] for c in info["components"]] == [
            "etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"]
        status = _cli(env, "cluster", "status")
        assert status.returncode == 0 and status.stdout.startswith("up"), status.stdout + status.stderr
        # A second `up` finds it running and starts nothing.
        again = _cli(env, "cluster", "up", "--json")
        assert again.returncode == 0 and json.loads(again.stdout)["components"] == info["components"]

        # The gate profile: K8S-03's pod chaos (slow, destructive) too.
        healthy, summary = _run_k8s_checks(env, tmp_path / "healthy", "gate")
        assert healthy.returncode == 0, healthy.stdout + healthy.stderr
        assert _statuses(summary) == {"K8S-01": "passed", "K8S-02": "passed", "K8S-03": "passed"}, summary["checks"]
        assert summary["target"]["name"] == "cluster-demo"
        assert {c["outcome"] for c in summary["checks"]} == {"passed"}

        pod = _oom_kill_one_pod(Path(info["kubeconfig"]), info["namespace"])
        broken, summary = _run_k8s_checks(env, tmp_path / "oomkilled")
        assert broken.returncode == 1, broken.stdout + broken.stderr  # K8S-02 is SEV-2: the gate fails
        assert _statuses(summary) == {"K8S-01": "passed", "K8S-02": "failed", "K8S-03": "not-run"}
        failed = [c for c in summary["checks"] if c["outcome"] == "failed"]
        assert [c["nodeid"].rsplit("::", 1)[-1] for c in failed] == ["test_no_oomkilled_containers_or_restart_storms"]
        assert "OOMKilled" in failed[0]["message"] and pod in failed[0]["message"]
    finally:
        down = _cli(env, "cluster", "down")
    assert down.returncode == 0, down.stdout + down.stderr
    for comp in info["components"]:
        assert not procs.is_alive(procs.ProcessRecord(comp["pid"], comp["start_time"])), comp
    assert _cli(env, "cluster", "status").returncode == 1


def test_cluster_checks_skip_on_the_local_twin(stack_env, tmp_path):
    """The local twin declares no cluster: the K8S checks are skipped there, with the reason, and a
    run in which every check was skipped is no pass: exit 2, 'no check ran', no summary."""
    result = _cli(stack_env, "run", "--target", "local", "--profile", "gate", "--reports", str(tmp_path),
                  "--workers", "0", "-k", "test_kubernetes")
    out = result.stdout + result.stderr
    assert result.returncode == 2, out
    assert "no check ran: every collected check was skipped" in result.stderr, out
    assert "lacks capability kubernetes" in result.stdout, out
    assert not list(tmp_path.glob("*/summary.json")), "a run where nothing ran wrote a summary"
