"""Kubernetes support for the CloudFlow Check & Chaos Suite.

* :mod:`.controlplane` - a real local control plane (etcd, kube-apiserver,
  controller-manager, scheduler, kwok) for the suite's own tests;
* :mod:`.workloads` - K8S-01 / K8S-02 checks returning structured findings;
* :mod:`.logs` - container logs through the API (``kubectl logs``);
* :mod:`.chaos` - K8S-03 pod chaos primitives with bounded waits;
* :mod:`.fixtures` - the session-scoped pytest fixture.

Importing this package does not import the ``kubernetes`` client; the
submodules that talk to the API do.
"""

from .controlplane import (  # noqa: F401
    KUBE_VERSION,
    KWOK_VERSION,
    BinariesNotFound,
    ControlPlane,
    ControlPlaneError,
    binaries_available,
    default_bin_dir,
)

__all__ = [
    "KUBE_VERSION",
    "KWOK_VERSION",
    "BinariesNotFound",
    "ControlPlane",
    "ControlPlaneError",
    "binaries_available",
    "default_bin_dir",
]
