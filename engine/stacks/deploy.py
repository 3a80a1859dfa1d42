"""A bundle deployed as a stack through the Engine API, to any swarm manager (ours or Docker's),
with the calls ``docker deploy`` made (Docker 1.12's ``api/client/stack/deploy.go``) in the
shape ``docker stack deploy`` makes them today, through the plan a compose file's deploy uses
(``engine.stacks.plan``):

1. ``GET /info``: the target must be a swarm manager.
2. Each network its services join that the swarm lacks is created, ``NAMESPACE_NETWORK``,
   overlay, labelled with the stack's namespace.
3. Each service ``NAMESPACE_SERVICE`` is created, or updated (with the version read) where its
   spec is not the bundle's: the bundle's image, command, args, environment, working directory
   and user; labels, and the namespace label on the service and its containers; its networks,
   with the service's short name as an alias; its target ports, published by the swarm.

    for line in await deploy_stack(client, bundle_stack(bundle, "app")):
        print(line)
"""

from __future__ import annotations

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
from engine.stacks.bundle import DEFAULT_NETWORK, Bundle, BundleService
from engine.stacks.plan import NAMESPACE_LABEL, Stack, scoped

__all__ = ["bundle_stack", "service_spec"]


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
    return service.networks or [DEFAULT_NETWORK]


def bundle_stack(bundle: Bundle, namespace: str) -> Stack:
    """The stack ``namespace`` a bundle describes: its services, and the networks they join."""
    wanted = {n for service in bundle.services.values() for n in _networks(service)}
    return Stack(
        namespace=namespace,
        source=f"the bundle of {namespace}",
        services={
            scoped(namespace, name): service_spec(namespace, name, service)
            for name, service in sorted(bundle.services.items())
        },
        networks={
            scoped(namespace, network): NetworkCreateRequest(
                name=scoped(namespace, network),
                driver=OVERLAY,
                labels={NAMESPACE_LABEL: namespace},
                check_duplicate=True,
            )
            for network in sorted(wanted)
        },
    )
