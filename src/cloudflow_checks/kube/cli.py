"""`cluster` commands: up, down, status (mounted by the main CLI as `cloudflow-checks cluster`).

A real local Kubernetes control plane (etcd, kube-apiserver, kube-controller-manager,
kube-scheduler, kwok) with namespace ``cloudflow`` seeded, for trying the K8S checks
without a cluster: ``cloudflow-checks cluster up`` then ``cloudflow-checks run --target cluster-demo``.

Runnable alone too: `python -m cloudflow_checks.kube.cli up`.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from . import cluster as cluster_module
from .controlplane import BinariesNotFound

EXIT_USAGE = 2

state_option = click.option("--state-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
                            help="The suite's state dir; the cluster lives in its cluster/ "
                                 "[default: $CLOUDFLOW_STATE_DIR or .state beside targets.yaml].")


def _progress(message: str) -> None:
    click.echo(f"[cluster] {message}", err=True)


def _fail(message: str, code: int = 1) -> None:
    click.echo(f"cluster: {message}", err=True)
    sys.exit(code)


@click.group()
def cluster() -> None:
    """A local Kubernetes control plane (kwok nodes) with CloudFlow's Deployments seeded."""


@cluster.command()
@state_option
@click.option("--namespace", default="cloudflow", show_default=True, help="Namespace to seed.")
@click.option("--nodes", type=int, default=2, show_default=True, help="Simulated (kwok) nodes.")
@click.option("--timeout", "timeout_s", type=float, default=120.0, show_default=True,
              help="Seconds to wait for the control plane and the seeded Deployments.")
@click.option("--json", "as_json", is_flag=True, help="Print cluster.json as JSON.")
def up(state_dir, namespace, nodes, timeout_s, as_json):
    """Start the control plane, seed the namespace, wait until its Deployments are ready."""
    try:
        info = cluster_module.up(state_dir, namespace=namespace, nodes=nodes, timeout_s=timeout_s,
                                 progress=_progress)
    except BinariesNotFound as exc:
        _fail(str(exc), EXIT_USAGE)
    except cluster_module.ClusterError as exc:
        _fail(str(exc))
    if as_json:
        click.echo(json.dumps(info, indent=2, sort_keys=True))
        return
    click.echo(f"apiserver   {info['endpoints']['apiserver']} (Kubernetes {info['kube_version']})")
    click.echo(f"etcd        {info['endpoints']['etcd']}")
    if info["endpoints"].get("kwok"):
        click.echo(f"kwok        {info['endpoints']['kwok']} (simulated kubelets)")
    click.echo(f"namespace   {info['namespace']}")
    click.echo(f"kubeconfig  {info['kubeconfig']}")
    click.echo(f"try         KUBECONFIG={info['kubeconfig']} kubectl get deploy -n {info['namespace']}")
    click.echo("checks      cloudflow-checks run --target cluster-demo")


@cluster.command()
@state_option
@click.option("--grace", "grace_s", type=float, default=10.0, show_default=True,
              help="Seconds between SIGTERM and SIGKILL.")
def down(state_dir, grace_s):
    """Stop every component of the control plane and verify none is left."""
    try:
        cluster_module.down(state_dir, grace_s=grace_s, progress=_progress)
    except cluster_module.ClusterError as exc:
        _fail(str(exc))
    click.echo("down: no process of the cluster is left")


@cluster.command()
@state_option
@click.option("--json", "as_json", is_flag=True)
def status(state_dir, as_json):
    """Each component: pid, alive; the API server's readiness. Exit 0 when up, 1 otherwise."""
    report = cluster_module.status(state_dir)
    if as_json:
        click.echo(json.dumps(report, indent=2, sort_keys=True))
    elif not report["components"]:
        click.echo(f"down (cluster dir {report['cluster_dir']})")
    else:
        click.echo(f"{'up' if report['up'] else 'NOT HEALTHY'}: apiserver {report['apiserver']} "
                   f"{'ready' if report['apiserver_ready'] else 'NOT READY'}; kubeconfig {report['kubeconfig']}")
        click.echo(f"{'component':<24} {'pid':>7}  alive")
        for name, comp in report["components"].items():
            click.echo(f"{name:<24} {comp['pid']:>7}  {'yes' if comp['alive'] else 'NO'}")
    sys.exit(0 if report["up"] else 1)


if __name__ == "__main__":
    cluster()
