"""Swarm networks in the control API: what ``docker network create`` asks for, checked and turned
into a SwarmKit ``NetworkSpec``; name, ID and prefix resolution; what a network is used by,
which keeps it from being removed; and the networks a service names, resolved to their IDs.

What dockerd's cluster package and SwarmKit's controlapi do between them, with their messages.
Subnets and addresses are the allocator's (engine.manager.allocator); only a subnet that overlaps
one in use is refused here, before anything is written.
"""

from __future__ import annotations

from msgspec.structs import replace

from engine.api.networks import (
    INGRESS,
    OVERLAY,
    PREDEFINED_LABEL,
    Driver,
    IPAMConfig,
    IPAMOptions,
    NetworkAttachmentConfig,
    NetworkCreateRequest,
    NetworkSpec,
)
from engine.api.objects import Network, Task
from engine.api.specs import ServiceSpec
from engine.api.types import TaskState
from engine.errors import (
    AlreadyExists,
    EngineError,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    the_one,
)
from engine.manager.validation import validate_name
from engine.mesh.ipam import IpamError, parse_subnet, subnets_overlap
from engine.store import ReadTx, by, find_networks, find_services, find_tasks

__all__ = [
    "LOCAL_NETWORKS",
    "Forbidden",
    "attachments",
    "check_new_network",
    "check_removable",
    "ingress_network",
    "is_ingress",
    "is_live",
    "is_predefined",
    "network_spec",
    "predefined_networks",
    "publishes_ingress",
    "resolve_network",
    "resolve_service_networks",
]

LOCAL_NETWORKS = ("bridge", "host", "none")  # dockerd's pre-defined networks, on every node
_LOCAL_DRIVERS = ("bridge", "host", "null", "macvlan", "ipvlan")  # built into dockerd
_INTERNAL_LABEL = "com.docker.swarm.internal"
_DEFAULT_IPAM = "default"


class Forbidden(EngineError):
    """What dockerd refuses outright (its notAllowedError, HTTP 403)."""

    code = "PermissionDenied"
    http_status = 403


def ingress_network(network_id: str) -> Network:
    """The routing mesh's network, as SwarmKit makes it at swarm init: its subnet comes from
    the default address pool."""
    spec = NetworkSpec(
        name=INGRESS,
        labels={},
        driver_configuration=Driver(),
        ingress=True,
        ipam_options=IPAMOptions(driver=Driver()),
        scope="swarm",
    )
    return Network(id=network_id, spec=spec)


def predefined_networks(bridge_id: str, host_id: str) -> list[Network]:
    """The swarm's own ``bridge`` and ``host`` networks: a service attached to one uses the
    node's network of that name, with no address from the swarm. ``docker network ls`` does
    not show them; it shows each node's own."""
    return [
        Network(
            id=network_id,
            spec=NetworkSpec(
                name=name,
                labels={PREDEFINED_LABEL: "true"},
                driver_configuration=Driver(name=name),
                scope="swarm",
            ),
            driver_state=Driver(name=name),
            ipam_options=IPAMOptions(driver=Driver()),
        )
        for network_id, name in ((bridge_id, "bridge"), (host_id, "host"))
    ]


def is_predefined(network: Network) -> bool:
    return (network.spec.labels or {}).get(PREDEFINED_LABEL) == "true"


def is_ingress(network: Network) -> bool:
    return bool(network.spec.ingress)


def network_spec(request: NetworkCreateRequest) -> NetworkSpec:
    """The SwarmKit spec of what ``docker network create`` asked for, checked as dockerd and
    SwarmKit check it (dockerd's BasicNetworkCreateToGRPC).

    Raises:
        InvalidArgument, NotFound, Forbidden, PermissionDenied: with their words.
    """
    name = request.name or ""
    if not name:
        raise InvalidArgument("invalid name: ", rpc=False)
    if name in LOCAL_NETWORKS:
        raise Forbidden(f"{name} is a pre-defined network and cannot be created", rpc=False)
    driver = request.driver or "bridge"
    if driver != OVERLAY:
        if driver in _LOCAL_DRIVERS:
            raise InvalidArgument(
                f"this engine runs services only, so its networks are swarm networks: "
                f"use the overlay driver (docker network create -d overlay), not {driver}",
                rpc=False,
            )
        raise NotFound(f'plugin "{driver}" not found', rpc=False)
    if request.scope == "local":
        raise Forbidden("cannot downgrade network scope for overlay networks", rpc=False)
    if request.config_only or (request.config_from and request.config_from.network):
        raise InvalidArgument(
            "config-only networks are a node's own, and this engine has none", rpc=False
        )
    ipam = request.ipam
    configs = [
        IPAMConfig(subnet=config.subnet, range=config.ip_range, gateway=config.gateway)
        for config in (ipam.config if ipam else None) or ()
    ]
    for config in configs:
        _check_ipam_config(config)
    spec = NetworkSpec(
        name=name,
        labels=request.labels or {},
        driver_configuration=Driver(name=driver, options=request.options or None),
        ipv6_enabled=request.enable_ipv6 or None,
        internal=request.internal or None,
        attachable=request.attachable or None,
        ingress=request.ingress or None,
        ipam_options=IPAMOptions(
            driver=Driver(name=(ipam.driver or _DEFAULT_IPAM), options=ipam.options or None),
            configs=configs or None,
        )
        if ipam is not None
        else None,
        scope="swarm",
    )
    validate_name(name)
    if ipam is not None and (ipam.driver or _DEFAULT_IPAM) != _DEFAULT_IPAM:
        raise InvalidArgument(f"error during lookup of plugin {ipam.driver}")
    if _INTERNAL_LABEL in spec.labels:  # type: ignore[operator]
        raise PermissionDenied(
            f"label {_INTERNAL_LABEL} is for predefined internal networks and cannot be "
            "applied by users"
        )
    return spec


def _check_ipam_config(config: IPAMConfig) -> None:
    """dockerd's subnet check, then SwarmKit's validateIPAMConfiguration."""
    subnet = config.subnet or ""
    try:
        network = parse_subnet(subnet)
    except IpamError as error:
        raise InvalidArgument(f"Invalid subnet {subnet} : {error}", rpc=False) from None
    if config.range:
        try:
            ip_range = parse_subnet(config.range)
        except IpamError:
            raise InvalidArgument(f"ipam configuration: invalid range {config.range}") from None
        if ip_range.version != network.version or not ip_range.subnet_of(network):  # type: ignore[arg-type]
            raise InvalidArgument(
                f"ipam configuration: subnet {subnet} does not contain range {config.range}"
            )
    if config.gateway:
        try:
            gateway = parse_subnet(config.gateway)
        except IpamError:
            raise InvalidArgument(f"ipam configuration: invalid gateway {config.gateway}") from None
        if gateway.num_addresses != 1 or gateway.network_address not in network:
            raise InvalidArgument(
                f"ipam configuration: subnet {subnet} does not contain gateway {config.gateway}"
            )


def check_new_network(tx: ReadTx, spec: NetworkSpec) -> None:
    """What refuses a new network for what the swarm holds: its name taken, a second ingress
    network, a subnet that overlaps one in use.

    Raises:
        AlreadyExists, InvalidArgument: with dockerd's and SwarmKit's words.
    """
    name = spec.name or ""
    if tx.find(Network, by.name(name)) or name.lower() == "docker_gwbridge":
        raise AlreadyExists(f"network with name {name} already exists", rpc=False)
    networks = find_networks(tx, by.all())
    if spec.ingress:
        for network in networks:
            if is_ingress(network):
                raise AlreadyExists(f"ingress network ({network.id}) is already present")
    for config in (spec.ipam_options.configs if spec.ipam_options else None) or ():
        for network in networks:
            if any(subnets_overlap(config.subnet or "", held) for held in _subnets(network)):
                raise InvalidArgument(
                    f"failed allocating pools and gateway IP for network {name}: Pool overlaps "
                    f"with other one on this address space (network {network.name} has "
                    f"{', '.join(_subnets(network))})"
                )


def _subnets(network: Network) -> list[str]:
    """The subnets a network holds, or asked for while it waits for them."""
    ipam = network.ipam_options or network.spec.ipam_options
    return [config.subnet for config in (ipam.configs if ipam else None) or () if config.subnet]


def resolve_network(tx: ReadTx, reference: str, predefined: bool = False) -> Network:
    """A swarm network by full ID, then name, then unique ID prefix, as dockerd finds one; the
    swarm's own ``bridge`` and ``host`` only when ``predefined``.

    Raises:
        NotFound, InvalidArgument: "network X not found", "network X is ambiguous".
    """
    found = tx.get(Network, reference)
    if found is not None and (predefined or not is_predefined(found)):
        return found
    searches = (
        [n for n in candidates if predefined or not is_predefined(n)]
        for candidates in (
            tx.find(Network, by.name(reference)),
            tx.find(Network, by.id_prefix(reference)),
        )
    )
    return the_one("network", reference, searches)


def publishes_ingress(spec: ServiceSpec) -> bool:
    """Whether a service's ports go through the routing mesh (SwarmKit's
    IsIngressNetworkNeeded): a VIP service that publishes a port in ingress mode."""
    endpoint = spec.endpoint_spec
    if endpoint is None or (endpoint.mode or "vip") != "vip":
        return False
    return any((port.publish_mode or "ingress") == "ingress" for port in endpoint.ports or ())


def attachments(spec: ServiceSpec) -> list[NetworkAttachmentConfig]:
    """The networks a service's tasks attach to: the task template's, else the service's own
    (the deprecated ``Networks``), as SwarmKit reads them."""
    template = spec.task_template
    return list((template.networks if template else None) or spec.networks or ())


def resolve_service_networks(tx: ReadTx, spec: ServiceSpec) -> ServiceSpec:
    """``spec`` with each network it names resolved to the network's ID, as dockerd resolves
    them before SwarmKit sees the spec.

    Raises:
        NotFound: a network that is not there.
        InvalidArgument: the ingress network named (it is attached through published ports).
    """

    def resolved(configs: list[NetworkAttachmentConfig] | None) -> list[NetworkAttachmentConfig]:
        result = []
        for config in configs or ():
            network = resolve_network(tx, config.target or "", predefined=True)
            if is_ingress(network):
                raise InvalidArgument(
                    f'Service cannot be explicitly attached to the ingress network "{network.name}"'
                )
            result.append(replace(config, target=network.id))
        return result

    template = spec.task_template
    if template is not None and template.networks:
        spec = replace(spec, task_template=replace(template, networks=resolved(template.networks)))
    if spec.networks:
        spec = replace(spec, networks=resolved(spec.networks))
    return spec


def check_removable(tx: ReadTx, network: Network) -> None:
    """Raises FailedPrecondition, with SwarmKit's words, while a network is in use: the ingress
    network by a service that publishes a port through it, another by a service attached to
    it or a task still on it; the swarm's own networks always, as dockerd refuses them."""
    if is_predefined(network):
        raise Forbidden(f"{network.name} is a pre-defined network and cannot be removed", rpc=False)
    if is_ingress(network):
        for service in sorted(find_services(tx, by.all()), key=lambda service: service.id):
            if publishes_ingress(service.spec):
                raise FailedPrecondition(
                    f"ingress network cannot be removed because service {service.id} depends on it"
                )
        return
    user = networks_in_use(tx).get(network.id)
    if user is not None:
        raise FailedPrecondition(f"network {network.id} is in use by {user}")


def networks_in_use(tx: ReadTx) -> dict[str, str]:
    """The networks that services are attached to or tasks are on, each with what holds it, as
    SwarmKit names it: the first such service by ID, else the first task ("task ID")."""
    users: dict[str, str] = {}
    for service in sorted(find_services(tx, by.all()), key=lambda service: service.id):
        for config in attachments(service.spec):
            if config.target:
                users.setdefault(config.target, f"service {service.id}")
    tasks: dict[str, str] = {}
    for task in find_tasks(tx, by.all()):
        if not task.networks_attachments or not (
            task.desired_state <= TaskState.RUNNING  # SwarmKit's removeNetwork: a task on
            and task.status.state <= TaskState.RUNNING  # its way out does not hold the network
        ):
            continue
        for attachment in task.networks_attachments:
            if attachment.network is not None:
                network_id = attachment.network.id
                tasks[network_id] = min(task.id, tasks.get(network_id, task.id))
    for network_id, task_id in tasks.items():
        users.setdefault(network_id, f"task {task_id}")
    return users


def is_live(task: Task) -> bool:
    """Whether a task holds its addresses: until both it and its desired state are past
    running (SwarmKit's taskDead, negated)."""
    return task.desired_state <= TaskState.RUNNING or task.status.state <= TaskState.RUNNING
