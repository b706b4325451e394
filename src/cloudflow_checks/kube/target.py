"""The Kubernetes API client for a target's checks.

Which cluster, in this order:

1. the target's ``kube.kubeconfig`` (``~`` expanded; relative to the targets
   file's folder), with ``kube.context`` if given;
2. for a twin target (``local``, ``cluster-demo``): the kubeconfig of
   ``cloudflow-checks cluster up`` in the same state dir;
3. inside a pod (the CronJob of deploy/cronjob.yaml): the pod's ServiceAccount;
4. otherwise ``$KUBECONFIG`` or ``~/.kube/config``, with ``kube.context``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_NAMESPACE = "cloudflow"


class KubeTargetError(RuntimeError):
    """The target's cluster cannot be reached with what is configured (message says what to do)."""


@dataclass(frozen=True)
class KubeAccess:
    api_client: object
    namespace: str
    source: str  # where the credentials came from, for messages


def _kubeconfig_from_target(target) -> Path | None:
    kube = target.kube
    if kube is not None and kube.kubeconfig:
        path = Path(os.path.expanduser(kube.kubeconfig))
        if not path.is_absolute():
            from ..config import find_targets_file

            targets_file = find_targets_file()
            path = (targets_file.parent if targets_file else Path.cwd()) / path
        return path
    if target.kind == "twin" and target.state_dir is not None:
        from .cluster import kubeconfig_path

        return kubeconfig_path(target.state_dir)
    return None


def kube_access(target) -> KubeAccess:
    """An ``ApiClient`` and namespace for ``target``; :class:`KubeTargetError` when unreachable by config."""
    from kubernetes import config

    namespace = (target.kube.namespace if target.kube is not None else None) or DEFAULT_NAMESPACE
    context = target.kube.context if target.kube is not None else None
    path = _kubeconfig_from_target(target)
    if path is not None:
        if not path.is_file():
            hint = " (start it with: cloudflow-checks cluster up)" if target.kind == "twin" else ""
            raise KubeTargetError(f"target {target.name}: no kubeconfig at {path}{hint}")
        api = config.new_client_from_config(config_file=str(path), context=context)
        return KubeAccess(api, namespace, str(path))
    if os.environ.get("KUBERNETES_SERVICE_HOST") and context is None:
        from kubernetes import client

        cfg = client.Configuration()
        config.load_incluster_config(client_configuration=cfg)
        return KubeAccess(client.ApiClient(cfg), namespace, "in-cluster ServiceAccount")
    try:
        api = config.new_client_from_config(context=context)
    except config.ConfigException as exc:
        raise KubeTargetError(f"target {target.name}: no usable kubeconfig ({exc})") from None
    return KubeAccess(api, namespace, os.environ.get("KUBECONFIG") or "~/.kube/config")
