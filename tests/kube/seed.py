"""The CloudFlow Deployments the Kubernetes tests run against (the same seed
as ``cloudflow-checks cluster up``)."""

from cloudflow_checks.kube.seed import NAMESPACE, SEED, SeedDeployment, deployment_body, seed_namespace  # noqa: F401
