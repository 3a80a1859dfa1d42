"""A bundle deployed as a stack through the Engine API, to any swarm manager (ours or Docker's),
with the calls ``docker deploy`` made (Docker 1.12's ``api/client/stack/deploy.go``) in the
shape ``docker stack deploy`` makes them today:

1. ``GET /info``: the target must be a swarm manager.
2. ``GET /networks`` of the stack; each network its services join and it lacks is created,
   ``NAMESPACE_NETWORK``, overlay, labelled with the stack's namespace.
3. ``GET /services`` of the stack; each service ``NAMESPACE_SERVICE`` is updated (with the
   version read) or created: the bundle's image, command, args, environment, working directory
   and user; labels, and the namespace label on the service and its containers; its networks,
   with the service's short name as an alias; its target ports, published by the swarm.

    for line in await deploy_bundle(EngineClient("unix:///var/run/docker.sock"), bundle, "app"):
        print(line)
"""

from __future__ import annotations

from msgspec.structs import replace

from engine.api.networks import OVERLAY, NetworkAttachmentConfig, NetworkCreateRequest
from engine.api.specs import (
    ContainerSpec,
    EndpointSpec,
    PortConfig,
    ReplicatedService,
    ServiceMode,
    ServiceSpec,
    TaskSpec,
)
from engine.client import EngineClient
from engine.stacks.bundle import Bundle, BundleService

__all__ = ["NAMESPACE_LABEL", "NOT_A_MANAGER", "StackError", "deploy_bundle", "service_spec"]

NAMESPACE_LABEL = "com.docker.stack.namespace"  # what marks a stack's objects (docker/cli)
NOT_A_MANAGER = (
    'this node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to '
    "connect this node to swarm and try again"
)


class StackError(Exception):
    """The stack cannot be deployed to this target."""


def scoped(namespace: str, name: str) -> str:
    """A stack's object name: ``NAMESPACE_NAME``."""
    return f"{namespace}_{name}"


def service_spec(namespace: str, name: str, service: BundleService) -> ServiceSpec:
    """The spec of one bundle service in stack ``namespace``."""
    stack = {NAMESPACE_LABEL: namespace}
    container = ContainerSpec(
        image=service.image,
        command=service.command,
        args=service.args,
        env=service.env,
        dir=service.working_dir,
        user=service.user,
        labels=stack,
    )
    networks = [
        NetworkAttachmentConfig(target=scoped(namespace, network), aliases=[name])
        for network in _networks(service)
    ]
    ports = [
        PortConfig(protocol=port.protocol, target_port=port.port) for port in service.ports or ()
    ]
    return ServiceSpec(
        name=scoped(namespace, name),
        labels={**(service.labels or {}), **stack},
        task_template=TaskSpec(container_spec=container, networks=networks),
        mode=ServiceMode(replicated=ReplicatedService(replicas=1)),
        endpoint_spec=EndpointSpec(ports=ports) if ports else None,
    )


def _networks(service: BundleService) -> list[str]:
    return service.networks or ["default"]


async def deploy_bundle(client: EngineClient, bundle: Bundle, namespace: str) -> list[str]:
    """Creates or updates the stack ``namespace`` as ``bundle`` says; what it did, a line a
    step (``Creating network app_default``, ``Updating service app_web (id: ...)``).

    Raises:
        StackError: the target is not a swarm manager.
        ClientError: an API call failed (the engine's words); what was done before stays.
    """
    info = await client.info()
    if not (info.get("Swarm") or {}).get("ControlAvailable"):
        raise StackError(NOT_A_MANAGER)
    done = []
    label = f"{NAMESPACE_LABEL}={namespace}"
    existing = {network["Name"] for network in await client.networks(label)}
    wanted = sorted(
        {n for service in bundle.services.values() for n in service.networks or ["default"]}
    )
    for network in wanted:
        name = scoped(namespace, network)
        if name in existing:
            continue
        done.append(f"Creating network {name}")
        await client.create_network(
            NetworkCreateRequest(
                name=name, driver=OVERLAY, labels={NAMESPACE_LABEL: namespace}, check_duplicate=True
            )
        )
    services = {service.spec.name: service for service in await client.services(label)}
    for name, wanted_service in sorted(bundle.services.items()):
        spec = service_spec(namespace, name, wanted_service)
        current = services.get(spec.name)
        if current is None:
            done.append(f"Creating service {spec.name}")
            await client.create_service(spec)
            continue
        done.append(f"Updating service {spec.name} (id: {current.id})")
        template = spec.task_template
        assert template is not None
        old = current.spec.task_template
        force = old.force_update if old is not None else None  # kept, as the docker CLI keeps it
        await client.update_service(
            current, replace(spec, task_template=replace(template, force_update=force))
        )
    return done
