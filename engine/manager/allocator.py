"""Allocator: gives networks their subnets, services their published ports and VIPs, and tasks
their addresses, then moves NEW tasks on to PENDING; in SwarmKit's order, networks first, then
service endpoints, then tasks, all in one transaction a tick.

- A network gets its subnets from the swarm's default address pools (unless it asked for its
  own), a gateway, and VXLAN IDs (engine.mesh.ipam).
- A service in endpoint mode ``vip`` gets a VIP on each network it is attached to, and on the
  ingress network while it publishes a port through the mesh. Ingress ports published without a
  number get one from 30000-32767, as SwarmKit's port allocator does, and keep it.
- A task gets an address on each of its networks (ingress first, when its service publishes
  through it) and is handed to the scheduler (PENDING, "pending task scheduling").

Addresses go back to the pool when a task is dead (it and its desired state past running) or
removed, and when a service leaves a network or is removed; a network's subnet when it is
removed. The pools themselves live in memory, rebuilt from the store when the allocator starts.
"""

from __future__ import annotations

import logging

from msgspec.structs import replace

from engine.api.durations import format_timestamp
from engine.api.events import Event, EventCreate, EventDelete, EventUpdate
from engine.api.networks import OVERLAY, Driver, EndpointVirtualIP, IPAMConfig, IPAMOptions
from engine.api.objects import (
    Endpoint,
    Network,
    NetworkAttachment,
    Service,
    Task,
    TaskStatus,
)
from engine.api.specs import EndpointSpec, PortConfig, ServiceSpec
from engine.api.types import TaskState
from engine.clock import Clock
from engine.errors import InvalidArgument
from engine.manager.loop import ControlLoop, Dirty, loops_pace
from engine.manager.networks import attachments, is_live, is_predefined, publishes_ingress
from engine.mesh.ipam import DEFAULT_SUBNET_SIZE, Ipam, IpamError
from engine.pace import Pace
from engine.store import (
    MemoryStore,
    ReadTx,
    Tx,
    by,
    find_networks,
    find_services,
    find_tasks,
    get_cluster,
    get_network,
    get_service,
    get_task,
    update_network,
    update_service,
    update_task,
)

__all__ = ["DYNAMIC_PORTS", "INGRESS_MISSING", "VXLAN_OPTION", "Allocator", "check_port_conflicts"]

log = logging.getLogger(__name__)

DYNAMIC_PORTS = range(30000, 32768)  # SwarmKit's dynamicPortStart..dynamicPortEnd
VXLAN_OPTION = "com.docker.network.driver.overlay.vxlanid_list"  # the overlay driver's

INGRESS_MISSING = (
    "service publishes ports through the routing mesh, but the swarm has no ingress network: "
    "docker network create --ingress --driver overlay NAME"
)

Address = tuple[str, str]  # (network ID, "10.0.1.5/24")


class Allocator(ControlLoop):
    def __init__(self, store: MemoryStore, clock: Clock, pace: Pace | None = None) -> None:
        """``pace``: the line the manager's loops step in (``loops_pace``), else one of its own."""
        self._store = store
        self._clock = clock
        self._pace = pace or loops_pace(clock)
        self._ipam = Ipam()
        self._dirty_networks: Dirty[str] = Dirty()
        self._dirty_services: Dirty[str] = Dirty()
        self._new_tasks: Dirty[str] = Dirty()
        self._waiting: Dirty[str] = Dirty()  # NEW tasks no address could be found for yet
        self._short: Dirty[str] = Dirty()  # services a VIP could not be found for yet
        self._held: dict[str, list[Address]] = {}  # the addresses each live task holds
        self._freed: list[Address] = []  # given back once this tick's transaction committed

    def _handle(self, event: Event) -> None:
        match event:
            case EventCreate(obj=Network() as network):
                self._dirty_networks.add(network.id)
            case EventDelete(obj=Network() as network):
                self._ipam.release_network(network.id)
            case EventCreate(obj=Service() as service) | EventUpdate(obj=Service() as service):
                self._dirty_services.add(service.id)
            case EventDelete(obj=Service() as service):
                self._release(_vips(service))
            case EventCreate(obj=Task() as task) if task.status.state == TaskState.NEW:
                self._new_tasks.add(task.id)
            case EventUpdate(obj=Task() as task) if task.id in self._held and not is_live(task):
                self._release(self._held.pop(task.id))
            case EventDelete(obj=Task() as task):
                self._release(self._held.pop(task.id, []))
                self._waiting.discard(task.id)

    def _release(self, addresses: list[Address]) -> None:
        for network_id, address in addresses:
            self._ipam.release_address(network_id, address)
        if addresses:  # what waits for an address may get one now
            self._retry_waiting()

    def _retry_waiting(self) -> None:
        """Services short of a VIP and tasks short of an address are tried again."""
        self._dirty_services.update(self._short)
        self._new_tasks.update(self._waiting)
        self._short, self._waiting = Dirty(), Dirty()

    def _init(self, tx: ReadTx) -> None:
        """Rebuilds the pools from the store: what networks, services and live tasks hold."""
        cluster = get_cluster(tx)
        if cluster is not None:
            self._ipam = Ipam(cluster.default_addr_pool, cluster.subnet_size or DEFAULT_SUBNET_SIZE)
        for network in find_networks(tx, by.all()):
            ipam = network.ipam_options
            if is_predefined(network):
                continue
            if ipam is None or not ipam.configs:
                self._dirty_networks.add(network.id)
                continue
            options = (network.driver_state.options if network.driver_state else None) or {}
            vxlan_ids = [int(i) for i in options.get(VXLAN_OPTION, "").split(",") if i]
            subnets = [(c.subnet or "", c.range, c.gateway) for c in ipam.configs]
            self._ipam.restore_network(network.id, subnets, vxlan_ids)
        for service in find_services(tx, by.all()):
            self._dirty_services.add(service.id)
            for network_id, address in _vips(service):
                self._ipam.reserve_address(network_id, address)
        for task in find_tasks(tx, by.all()):
            if task.status.state == TaskState.NEW:
                self._new_tasks.add(task.id)
            elif task.networks_attachments and is_live(task):
                held = self._held[task.id] = _addresses(task)
                for network_id, address in held:
                    self._ipam.reserve_address(network_id, address)

    def _tick(self) -> None:
        if self._dirty_networks or self._dirty_services or self._new_tasks:
            networks = self._take(self._dirty_networks)
            services = self._take(self._dirty_services)
            tasks = self._take(self._new_tasks)
            self._store.update(lambda tx: self._allocate(tx, networks, services, tasks))
        freed, self._freed = self._freed, []
        self._release(freed)

    def _allocate(
        self, tx: Tx, network_ids: list[str], service_ids: list[str], task_ids: list[str]
    ) -> None:
        for network_id in network_ids:  # in the order they were made, as SwarmKit takes them
            network = get_network(tx, network_id)
            if network is not None and network.ipam_options is None:
                self._allocate_network(tx, network)
        ingress = [n for n in find_networks(tx, by.all()) if n.spec.ingress]  # one, or none
        for service_id in sorted(service_ids):
            service = get_service(tx, service_id)
            if service is not None:
                endpoint = self._endpoint(tx, service, ingress)
                if endpoint != service.endpoint:
                    update_service(tx, replace(service, endpoint=endpoint))
        timestamp = format_timestamp(self._clock.time())
        for task_id in sorted(task_ids):
            task = get_task(tx, task_id)
            if task is None or task.status.state != TaskState.NEW:
                continue
            if not task.meant_to_run:
                continue  # removed before it was allocated; the reaper deletes it
            self._allocate_task(tx, task, timestamp, ingress)

    def _allocate_network(self, tx: Tx, network: Network) -> None:
        spec = network.spec
        ipam = spec.ipam_options
        asked = [(c.subnet, c.range, c.gateway) for c in (ipam.configs if ipam else None) or ()]
        try:
            allocated = self._ipam.allocate_network(network.id, asked)
        except IpamError as error:
            log.error("failed allocation for network %s (%s): %s", network.name, network.id, error)

            return
        driver = spec.driver_configuration
        options = dict((driver.options if driver else None) or {})
        options[VXLAN_OPTION] = ",".join(str(i) for i in allocated.vxlan_ids)
        configs = [
            IPAMConfig(subnet=subnet, range=ip_range, gateway=gateway)
            for subnet, ip_range, gateway in allocated.subnets
        ]
        ipam_options = ipam.driver.options if ipam and ipam.driver else None
        ipam_driver = Driver(name="default", options=ipam_options)
        changed = replace(
            network,
            driver_state=Driver(name=OVERLAY, options=dict(sorted(options.items()))),
            ipam_options=IPAMOptions(driver=ipam_driver, configs=configs),
        )
        update_network(tx, changed)
        if network.spec.ingress:  # a new ingress network: services publishing get VIPs on it
            mesh = [s.id for s in find_services(tx, by.all()) if publishes_ingress(s.spec)]
            self._dirty_services.update(mesh)
        self._retry_waiting()  # what waits for it may go on, next tick
        self._more = True

    def _endpoint(self, tx: Tx, service: Service, ingress: list[Network]) -> Endpoint:
        """The service's ports and VIPs: those it has that it still needs, then new ones."""
        spec = service.spec.endpoint_spec or EndpointSpec(mode="vip")
        previous = service.endpoint.virtual_ips if service.endpoint else None
        wanted = _vip_networks(service.spec, ingress)
        vips = [vip for vip in previous or () if vip.network_id in wanted]
        self._freed += _vips(service, keep={vip.network_id or "" for vip in vips})
        for network_id in wanted:
            if any(vip.network_id == network_id for vip in vips):
                continue
            network = get_network(tx, network_id)
            if network is None:
                continue
            if is_predefined(network):
                vips.append(EndpointVirtualIP(network_id=network_id))
                continue
            try:
                address = self._ipam.allocate_address(network_id)
            except IpamError as error:
                log.error("failed to allocate a VIP for service %s: %s", service.id, error)
                self._short.add(service.id)
                continue
            vips.append(EndpointVirtualIP(network_id=network_id, addr=address))
        return Endpoint(spec=spec, ports=_ports(tx, service) or None, virtual_ips=vips or None)

    def _allocate_task(self, tx: Tx, task: Task, timestamp: str, ingress: list[Network]) -> None:
        service = get_service(tx, task.service_id)
        networks = _task_networks(tx, task, service, ingress) if service is not None else []
        mesh = service is not None and publishes_ingress(service.spec)
        if mesh and not any(n.spec.ingress and n.id in self._ipam for n in networks):
            self._wait(tx, task, INGRESS_MISSING)
            return
        attached: list[NetworkAttachment] = []
        held: list[Address] = []
        for network in networks:
            if is_predefined(network):
                attached.append(NetworkAttachment(network=network))
                continue
            try:
                address = self._ipam.allocate_address(network.id)
            except IpamError as error:
                self._freed += held
                self._wait(
                    tx,
                    task,
                    f"failed to allocate network IP for task {task.id} network {network.id}: "
                    f"{error}",
                )
                return
            held.append((network.id, address))
            attached.append(NetworkAttachment(network=network, addresses=[address]))
        if held:
            self._held[task.id] = held
        pending = TaskStatus(
            state=TaskState.PENDING, timestamp=timestamp, message="pending task scheduling"
        )
        update_task(tx, replace(task, status=pending, networks_attachments=attached or None))

    def _wait(self, tx: Tx, task: Task, why: str) -> None:
        """Leaves a task NEW, saying why, until an address or a network it waits for comes."""
        self._waiting.add(task.id)
        if task.status.err != why:
            update_task(tx, replace(task, status=replace(task.status, err=why)))


def _vip_networks(spec: ServiceSpec, ingress: list[Network]) -> list[str]:
    """The networks a service gets VIPs on: the ingress network while it publishes through the
    mesh, then those it is attached to; none in endpoint mode ``dnsrr``."""
    endpoint = spec.endpoint_spec
    if endpoint is not None and endpoint.mode == "dnsrr":
        return []
    wanted = []
    if publishes_ingress(spec):
        wanted += [network.id for network in ingress]
    for config in attachments(spec):
        if config.target and config.target not in wanted:
            wanted.append(config.target)
    return wanted


def _task_networks(
    tx: ReadTx, task: Task, service: Service, ingress: list[Network]
) -> list[Network]:
    """The networks a task attaches to, as they are now: SwarmKit's
    taskCreateNetworkAttachments."""
    networks = []
    if publishes_ingress(service.spec):
        networks += ingress
    configs = (task.spec.networks or []) or attachments(service.spec)
    for config in configs:
        network = get_network(tx, config.target or "")
        if network is not None:
            networks.append(network)
    return networks


def _vips(service: Service, keep: set[str] | None = None) -> list[Address]:
    """The VIP addresses a service holds, but on the networks of ``keep``."""
    vips = service.endpoint.virtual_ips if service.endpoint else None
    return [
        (vip.network_id, vip.addr)
        for vip in vips or ()
        if vip.network_id and vip.addr and vip.network_id not in (keep or ())
    ]


def _addresses(task: Task) -> list[Address]:
    return [
        (attachment.network.id, address)
        for attachment in task.networks_attachments or ()
        if attachment.network is not None
        for address in attachment.addresses or ()
    ]


def _ports(tx: ReadTx, service: Service) -> list[PortConfig]:
    """The service's published ports, each ingress port without a number given the one it had,
    else the first free one of the dynamic range."""
    spec = service.spec.endpoint_spec or EndpointSpec(mode="vip")
    previous = {
        (port.target_port, port.protocol): port.published_port
        for port in (service.endpoint.ports if service.endpoint else None) or ()
    }
    taken: set[tuple[int, str]] | None = None  # read once a port needs a number
    ports: list[PortConfig] = []
    for port in spec.ports or ():
        protocol = port.protocol or "tcp"
        mode = port.publish_mode or "ingress"
        published = port.published_port or 0
        if not published and mode == "ingress":
            published = previous.get((port.target_port, protocol)) or 0
        if not published and mode == "ingress":
            if taken is None:
                taken = {key for key, _ in _published(tx, service.id)}
            mine = {(p.published_port or 0, p.protocol) for p in ports}
            published = next(
                number
                for number in DYNAMIC_PORTS
                if (number, protocol) not in taken and (number, protocol) not in mine
            )
        ports.append(
            replace(port, protocol=protocol, publish_mode=mode, published_port=published or None)
        )
    return ports


def _published(
    tx: ReadTx, except_service: str
) -> list[tuple[tuple[int, str], tuple[Service, str]]]:
    """The ports other services publish, as ((port, protocol), (service, mode)), services in
    the order of their IDs: those their specs name, then those given to them."""
    found = []
    for service in sorted(find_services(tx, by.all()), key=lambda service: service.id):
        if service.id == except_service:
            continue
        endpoint = service.spec.endpoint_spec
        for port in (endpoint.ports if endpoint else None) or ():
            if port.published_port:
                key = (port.published_port, port.protocol or "tcp")
                found.append((key, (service, port.publish_mode or "ingress")))
        for port in (service.endpoint.ports if service.endpoint else None) or ():
            if port.published_port and (port.publish_mode or "ingress") == "ingress":
                key = (port.published_port, port.protocol or "tcp")
                found.append((key, (service, "ingress")))
    return found


def check_port_conflicts(tx: ReadTx, spec: ServiceSpec, service_id: str) -> None:
    """Refuses a published port another service has, as SwarmKit's checkPortConflicts does:
    an ingress port clashes with any use of its number, a host-mode port only with an ingress
    one (two services may publish one port in host mode: the scheduler keeps them apart).

    Raises:
        InvalidArgument: "port '8080' is already in use by service 'web' (ID) as an ingress
            port" (or "as a host-published port").
    """
    endpoint = spec.endpoint_spec
    ingress: set[tuple[int, str]] = set()
    host: set[tuple[int, str]] = set()
    for port in (endpoint.ports if endpoint else None) or ():
        if port.published_port:
            key = (port.published_port, port.protocol or "tcp")
            (ingress if (port.publish_mode or "ingress") == "ingress" else host).add(key)
    if not ingress and not host:
        return
    for key, (other, mode) in _published(tx, service_id):
        if mode == "ingress" and (key in ingress or key in host):
            kind = "an ingress port"
        elif mode == "host" and key in ingress:
            kind = "a host-published port"
        else:
            continue
        raise InvalidArgument(
            f"port '{key[0]}' is already in use by service '{other.spec.name}' ({other.id}) "
            f"as {kind}"
        )
