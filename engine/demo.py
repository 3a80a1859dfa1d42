"""The services of the embedded demo cluster: enough to make every view of the console alive.

``web`` and ``api`` make the stack ``shop``, as ``docker stack deploy`` labels a stack's objects,
with a network of its own, a secret and a config that ``api`` uses (``make_demo``).
"""

from __future__ import annotations

from typing import Protocol

from msgspec.structs import replace

from engine.api.durations import SECOND
from engine.api.networks import NetworkAttachmentConfig, NetworkCreateRequest
from engine.api.secrets import ConfigReference, ConfigSpec, FileTarget, SecretReference, SecretSpec
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

__all__ = ["DEMO_CONFIG", "DEMO_NETWORK", "DEMO_SECRET", "DEMO_SERVICES", "DEMO_STACK", "make_demo"]

DEMO_STACK = "shop"
_STACK = {"com.docker.stack.namespace": DEMO_STACK}  # engine.stacks' NAMESPACE_LABEL
DEMO_NETWORK = NetworkCreateRequest(
    name="shop_front", driver="overlay", attachable=True, labels=_STACK
)
DEMO_SECRET = SecretSpec(name="shop_db_password", labels=_STACK, data=b"demo-secret-3f9a\n")
DEMO_CONFIG = ConfigSpec(
    name="shop_site", labels={**_STACK, "com.example.role": "proxy"}, data=b"listen 80;\n"
)


def _service(
    name: str,
    image: str,
    mode: ServiceMode,
    labels: dict[str, str] | None = None,
    ports: list[PortConfig] | None = None,
    cpus: float = 0.0,
    memory_mib: int = 0,
    stack: bool = False,
) -> ServiceSpec:
    reservations = ResourceObject(
        nano_cpus=int(cpus * SECOND) or None, memory_bytes=memory_mib * 2**20 or None
    )
    networks = [NetworkAttachmentConfig(target=DEMO_NETWORK.name, aliases=[name])]
    return ServiceSpec(
        name=name,
        labels={"com.example.demo": "true", **(_STACK if stack else {})},
        mode=mode,
        task_template=TaskSpec(
            container_spec=ContainerSpec(image=image, labels=labels),
            networks=networks if stack else None,
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
        stack=True,
    ),
    _service(
        "api",
        "example/api:2.3",
        ServiceMode(replicated=ReplicatedService(replicas=2)),
        cpus=0.5,
        memory_mib=256,
        stack=True,
    ),
    _service("node-exporter", "prom/node-exporter:v1.7.0", ServiceMode(global_=GlobalService())),
    _service(
        "flaky-worker",
        "example/worker:0.9",
        ServiceMode(replicated=ReplicatedService(replicas=1)),
        labels={"swarmdeck.sim.crash-loop": "45s"},
    ),
)


class Creator(Protocol):
    """What makes the demo: an Engine API client (``engine.client.EngineClient``)."""

    async def create_network(self, request: NetworkCreateRequest) -> str: ...
    async def create_secret(self, spec: SecretSpec) -> str: ...
    async def create_config(self, spec: ConfigSpec) -> str: ...
    async def create_service(self, spec: ServiceSpec) -> str: ...


async def make_demo(client: Creator) -> None:
    """Creates the demo's network, secret and config, then its services (``api`` with the
    secret at /run/secrets/db_password and the config at /etc/api/site.conf)."""
    await client.create_network(DEMO_NETWORK)
    secret_id = await client.create_secret(DEMO_SECRET)
    config_id = await client.create_config(DEMO_CONFIG)
    for spec in DEMO_SERVICES:
        if spec.name == "api":
            spec = _using(spec, secret_id, config_id)
        await client.create_service(spec)


def _using(spec: ServiceSpec, secret_id: str, config_id: str) -> ServiceSpec:
    def file(name: str) -> FileTarget:
        return FileTarget(name=name, uid="0", gid="0", mode=0o444)

    template = spec.task_template or TaskSpec()
    container = replace(
        template.container_spec or ContainerSpec(),
        secrets=[
            SecretReference(
                file=file("db_password"), secret_id=secret_id, secret_name=DEMO_SECRET.name
            )
        ],
        configs=[
            ConfigReference(
                file=file("/etc/api/site.conf"), config_id=config_id, config_name=DEMO_CONFIG.name
            )
        ],
    )
    return replace(spec, task_template=replace(template, container_spec=container))
