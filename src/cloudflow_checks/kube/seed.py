"""The CloudFlow workloads a local control plane is seeded with.

The Deployments the guide names (and the spec's K8S-01 lists): cloudflow-api,
cloudflow-workflow-engine and the database, cloudflow-db-primary, each with
a Service in front (``kubectl get endpoints`` shows which replicas serve),
memory requests and limits set, so a healthy seed passes K8S-01 and K8S-02.
kwok, the simulated kubelet, makes their pods Running, and Ready after a
start-up time (``ready_delay``), as an application would be.

Used by ``cloudflow-checks cluster up`` and by the suite's own tests.
"""

from __future__ import annotations

from dataclasses import dataclass

from kubernetes import client
from kubernetes.client.rest import ApiException

from .kwok_stages import READY_DELAY_ANNOTATION

NAMESPACE = "cloudflow"
#: Seconds each API call may take.
REQUEST_TIMEOUT = 10
SERVICE_PORT = 8080


@dataclass(frozen=True)
class SeedDeployment:
    name: str
    container: str
    replicas: int
    memory_request: str
    memory_limit: str
    #: How long a new pod takes to become ready (kwok, see kwok_stages): an application's start-up.
    ready_delay: str = "2s"


SEED = (
    SeedDeployment("cloudflow-api", "api", 2, "256Mi", "512Mi"),
    SeedDeployment("cloudflow-workflow-engine", "workflow-engine", 2, "512Mi", "1Gi"),
    SeedDeployment("cloudflow-db-primary", "db", 1, "1Gi", "2Gi"),
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
                metadata=client.V1ObjectMeta(labels=labels,
                                             annotations={READY_DELAY_ANNOTATION: d.ready_delay}),
                spec=client.V1PodSpec(
                    termination_grace_period_seconds=5,
                    containers=[client.V1Container(
                        name=d.container,
                        image=f"registry.example.invalid/cloudflow/{d.container}:3.2.1",
                        ports=[client.V1ContainerPort(container_port=SERVICE_PORT, name="http")],
                        resources=client.V1ResourceRequirements(
                            requests={"cpu": "100m", "memory": d.memory_request},
                            limits={"memory": d.memory_limit},
                        ),
                    )],
                ),
            ),
        ),
    )


def service_body(name: str) -> client.V1Service:
    return client.V1Service(
        metadata=client.V1ObjectMeta(name=name, labels={"app": name}),
        spec=client.V1ServiceSpec(
            selector={"app": name},
            ports=[client.V1ServicePort(name="http", port=SERVICE_PORT, target_port=SERVICE_PORT)],
        ),
    )


def _create(fn, *args) -> None:
    """Create an object; one that already exists is left as it is (seeding twice is harmless)."""
    try:
        fn(*args, _request_timeout=REQUEST_TIMEOUT)
    except ApiException as e:
        if e.status != 409:
            raise


def seed_namespace(api, namespace: str = NAMESPACE, deployments=SEED) -> None:
    """Create ``namespace`` with the seed Deployments and their Services."""
    core = client.CoreV1Api(api)
    apps = client.AppsV1Api(api)
    _create(core.create_namespace, client.V1Namespace(metadata=client.V1ObjectMeta(name=namespace)))
    for d in deployments:
        _create(apps.create_namespaced_deployment, namespace, deployment_body(d))
        _create(core.create_namespaced_service, namespace, service_body(d.name))
