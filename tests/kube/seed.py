"""The CloudFlow Deployments the Kubernetes tests run against."""

from __future__ import annotations

from dataclasses import dataclass

from kubernetes import client

NAMESPACE = "cloudflow"


@dataclass(frozen=True)
class SeedDeployment:
    name: str
    container: str
    replicas: int
    memory_request: str
    memory_limit: str


SEED = (
    SeedDeployment("cloudflow-api", "api", 2, "256Mi", "512Mi"),
    SeedDeployment("cloudflow-workflow-engine", "workflow-engine", 2, "512Mi", "1Gi"),
    SeedDeployment("cloudflow-db", "db", 1, "1Gi", "2Gi"),
)


def deployment_body(d: SeedDeployment) -> client.V1Deployment:
    labels = {"app": d.name, "tier": "backend", "app.kubernetes.io/part-of": "cloudflow"}
    return client.V1Deployment(
        metadata=client.V1ObjectMeta(name=d.name, labels=labels),
        spec=client.V1DeploymentSpec(
            replicas=d.replicas,
            selector=client.V1LabelSelector(match_labels={"app": d.name}),
            progress_deadline_seconds=600,
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels=labels),
                spec=client.V1PodSpec(
                    termination_grace_period_seconds=5,
                    containers=[client.V1Container(
                        name=d.container,
                        image=f"registry.example.invalid/cloudflow/{d.container}:3.2.1",
                        resources=client.V1ResourceRequirements(
                            requests={"cpu": "100m", "memory": d.memory_request},
                            limits={"memory": d.memory_limit},
                        ),
                    )],
                ),
            ),
        ),
    )


def seed_namespace(api) -> None:
    core = client.CoreV1Api(api)
    apps = client.AppsV1Api(api)
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=NAMESPACE)),
                          _request_timeout=10)
    for d in SEED:
        apps.create_namespaced_deployment(NAMESPACE, deployment_body(d), _request_timeout=10)
