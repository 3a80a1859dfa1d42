"""The services of the embedded demo cluster: enough to make every view of the console alive."""

from __future__ import annotations

from engine.api.durations import SECOND
from engine.api.specs import (
    ContainerSpec,
    EndpointSpec,
    GlobalService,
    PortConfig,
    ReplicatedService,
    ResourceObject,
    ResourceRequirements,
    RestartCondition,
    RestartPolicy,
    ServiceMode,
    ServiceSpec,
    TaskSpec,
)

__all__ = ["DEMO_SERVICES"]


def _service(
    name: str,
    image: str,
    mode: ServiceMode,
    labels: dict[str, str] | None = None,
    ports: list[PortConfig] | None = None,
    cpus: float = 0.0,
    memory_mib: int = 0,
) -> ServiceSpec:
    reservations = ResourceObject(
        nano_cpus=int(cpus * SECOND) or None, memory_bytes=memory_mib * 2**20 or None
    )
    return ServiceSpec(
        name=name,
        labels={"com.example.demo": "true"},
        mode=mode,
        task_template=TaskSpec(
            container_spec=ContainerSpec(image=image, labels=labels),
            resources=ResourceRequirements(reservations=reservations),
            restart_policy=RestartPolicy(condition=RestartCondition.ANY, delay=5 * SECOND),
        ),
        endpoint_spec=EndpointSpec(mode="vip", ports=ports),
    )


DEMO_SERVICES = (
    _service(
        "web",
        "nginx:1.10",
        ServiceMode(replicated=ReplicatedService(replicas=3)),
        ports=[PortConfig(protocol="tcp", target_port=80, published_port=8080)],
        cpus=0.25,
        memory_mib=64,
    ),
    _service(
        "api",
        "example/api:2.3",
        ServiceMode(replicated=ReplicatedService(replicas=2)),
        cpus=0.5,
        memory_mib=256,
    ),
    _service("node-exporter", "prom/node-exporter:v1.7.0", ServiceMode(global_=GlobalService())),
    _service(
        "flaky-worker",
        "example/worker:0.9",
        ServiceMode(replicated=ReplicatedService(replicas=1)),
        labels={"swarmdeck.sim.crash-loop": "45s"},
    ),
)
