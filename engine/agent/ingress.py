"""The routing mesh on the nodes of this process: a published port answers on every node.

For each port a service publishes in ingress mode, every node that is not down listens on its
own address and that port, and gives each TCP connection (or UDP flow) to the next task of the
service in a round-robin over the tasks that are RUNNING on nodes that are not down, wherever
they run (``engine.mesh``'s pools and listeners, in place of IPVS). A port published in host
mode answers only on the node of each task that publishes it, and only for that task.

A task leaves the rotation as soon as the store says it stopped, failed (an unhealthy task
fails) or sits on a node marked down; a drained node has no tasks but still answers. Where a
task answers is its node's executor's to say (``endpoint``): a simulated container listens on
a port of its own, a real one binds its target port on a port of its node (and its host-mode
ports on the node's own, where the mesh then does not listen). A node whose engine runs in a
network namespace of its own is served in that namespace: its listeners are made there, and
connect to the tasks of every node from there.

Such a node also serves the swarm's addresses to its containers, as the routing mesh does in
each container's sandbox: a service's virtual IP on each of its networks (not ``ingress``) takes
connections on the service's target ports and hands them round-robin to its running tasks, and
each running task's address on a network takes them for that task alone, wherever it runs. Those
addresses live in the node's namespace (``NetNamespace.local_subnets`` makes the networks'
subnets local there), so the names the node's resolver gives (``engine.agent.names``) reach the
tasks. Only the target ports a service declares answer: IPVS forwards every port of a VIP, but
without an overlay network the mesh knows no others.

    ingress = Ingress(store, nodes)  # nodes: node ID -> MeshNode, for the nodes of this process
    await ingress.run()
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Protocol

from engine.api.events import Event, EventCommit, EventCreate, EventDelete, EventUpdate
from engine.api.objects import Node, Service, Task
from engine.api.types import NodeState, TaskState
from engine.mesh.lb import Endpoints, PortEndpoints, ServiceEndpoints, TaskEndpoint
from engine.mesh.listeners import Listeners, Wanted
from engine.mesh.netns import MakeSocket, NetNamespace
from engine.mesh.pool import Backend, BackendPool
from engine.store import (
    CATCH_UP,
    MemoryStore,
    ReadTx,
    by,
    find_networks,
    find_nodes,
    find_services,
    find_tasks,
    get_service,
)

__all__ = ["Ingress", "MeshNode", "Reachable"]

log = logging.getLogger(__name__)

PROTOCOLS = ("tcp", "udp")  # what the mesh carries (SwarmKit's sctp is not)


class Reachable(Protocol):
    def endpoint(self, task_id: str, target_port: int, protocol: str) -> tuple[str, int] | None:
        """Where the running container of ``task_id`` answers ``target_port``."""


@dataclass(frozen=True)
class MeshNode:
    """A node of this process as the mesh needs it: its address, and its executor.

    Attributes:
        netns: its engine's network namespace, if not this process's: its listeners are made
            there, and it serves the swarm's addresses to its containers.
        binds_host_ports: its containers bind their host-mode ports themselves.
    """

    address: str
    executor: Reachable
    netns: NetNamespace | None = None
    binds_host_ports: bool = False

    @property
    def sockets(self) -> MakeSocket:
        return self.netns.socket if self.netns is not None else socket.socket


Key = tuple[str, int, str]  # an address, a port, a protocol
NodeKey = tuple[str, str, int, str]  # a node's ID, and a Key in its namespace
# By target port and protocol: the service's tasks that answer it, each with where.
Answers = dict[tuple[int, str], list[tuple[Task, Backend]]]


@dataclass(frozen=True)
class _Port:
    published: int
    target: int
    protocol: str
    host_mode: bool


class Ingress:
    """``describe``: keep what external load balancers are told (``endpoint_changes``)."""

    def __init__(
        self,
        store: MemoryStore,
        nodes: Callable[[], dict[str, MeshNode]],
        describe: bool = False,
    ) -> None:
        self._store = store
        self._nodes = nodes
        self._describe = describe
        self._ports: dict[str, list[_Port]] = {}  # by service ID, of services that publish
        # By service ID: its ingress ports' pools by (port, protocol), and its host-mode
        # ports' by the (address, port, protocol) of the one task each answers for.
        self._pools: dict[str, dict[tuple[int, str], BackendPool]] = {}
        self._host_pools: dict[str, dict[Key, BackendPool]] = {}
        self._listeners = Listeners[Key]()
        self._wanted: dict[Key, Wanted] = {}
        # By service ID: its VIPs as it has them, and the (VIP or task address, target port,
        # protocol) that nodes in namespaces of their own serve, each with its pool and subnet.
        self._vips: dict[str, tuple[str, ...]] = {}
        self._address_pools: dict[str, dict[Key, tuple[BackendPool, str]]] = {}
        self._address_listeners = Listeners[NodeKey]()
        self._address_wanted: dict[NodeKey, Wanted] = {}
        self._namespaces: dict[str, NetNamespace] = {}  # by node ID, of those that have one
        self._subnets: set[str] = set()  # of the addresses they serve
        self._dirty: set[str] = set()  # services whose pools to make anew
        self._described: dict[str, ServiceEndpoints] = {}  # for load balancers, by service ID
        self._described_changed = asyncio.Event()
        self._nodes_changed = True

    def connections_last_minute(self, service_id: str) -> dict[str, int]:
        """How many connections each task of the service was given in the last minute."""
        totals: dict[str, int] = {}
        for pool in self._service_pools(service_id):
            for task_id, count in pool.connections_last_minute().items():
                totals[task_id] = totals.get(task_id, 0) + count
        return totals

    def connections(self) -> dict[str, dict[str, int]]:
        """``connections_last_minute`` of every service that publishes a port."""
        return {service_id: self.connections_last_minute(service_id) for service_id in self._ports}

    def rotation(self, service_id: str) -> set[str]:
        """The IDs of the service's tasks that connections go to now."""
        return {b.key for pool in self._service_pools(service_id) for b in pool.backends}

    def listening(self) -> list[Key]:
        """The addresses, ports and protocols the mesh listens on."""
        return sorted(self._listeners.keys())

    def endpoints(self) -> Endpoints:
        """What external load balancers are told: every service with a published port, the
        nodes that answer on it, and where its tasks in rotation take connections."""
        return Endpoints(services=tuple(self._described[k] for k in sorted(self._described)))

    async def endpoint_changes(self) -> AsyncIterator[Endpoints]:
        """``endpoints`` now, then each time they change (with ``describe``)."""
        while True:
            self._described_changed.clear()
            yield self.endpoints()
            await self._described_changed.wait()

    async def run(self) -> None:
        try:
            async with self._store.view_and_watch(self._init) as watcher:
                while True:
                    failing = self._listeners.failing or self._address_listeners.failing
                    if self._store.view(self._refresh) or failing:
                        await self._listen()  # binds that failed are tried again
                    if not watcher.pending():
                        await watcher.wait_commit()
                    for event in watcher.get_nowait(CATCH_UP):  # a big change, in steps
                        if not isinstance(event, EventCommit):
                            self._handle(event)
                    await asyncio.sleep(0)
        finally:
            await self.close()

    async def close(self) -> None:
        await self._listeners.close()
        await self._address_listeners.close()

    def _service_pools(self, service_id: str) -> list[BackendPool]:
        """Every pool of the service: its published ports', its VIPs' and its tasks' addresses'."""
        return [
            *self._pools.get(service_id, {}).values(),
            *self._host_pools.get(service_id, {}).values(),
            *(pool for pool, _ in self._address_pools.get(service_id, {}).values()),
        ]

    def _init(self, tx: ReadTx) -> None:
        for service in find_services(tx, by.all()):
            self._set_ports(service)

    def _handle(self, event: Event) -> None:
        match event:
            case EventCreate(obj=Service() as service) | EventUpdate(obj=Service() as service):
                self._set_ports(service)
            case EventDelete(obj=Service() as service):
                self._vips.pop(service.id, None)
                if self._ports.pop(service.id, None) is not None:
                    self._dirty.add(service.id)
            case EventCreate(obj=Task() as task) | EventUpdate(obj=Task() as task):
                if task.service_id in self._ports:
                    self._dirty.add(task.service_id)
            case EventDelete(obj=Task() as task):
                if task.service_id in self._ports:
                    self._dirty.add(task.service_id)
            case EventCreate(obj=Node()) | EventUpdate(obj=Node()) | EventDelete(obj=Node()):
                self._nodes_changed = True

    def _set_ports(self, service: Service) -> None:
        ports = _ports(service)
        vips = _vips(service)
        if ports != self._ports.get(service.id, []) or vips != self._vips.get(service.id, ()):
            self._dirty.add(service.id)
        self._vips[service.id] = vips
        if ports:
            self._ports[service.id] = ports
        else:
            self._ports.pop(service.id, None)

    def _refresh(self, tx: ReadTx) -> bool:
        """Makes the pools of the services that changed anew, and what to listen on; whether
        anything was to be made."""
        if self._nodes_changed:
            self._dirty.update(self._ports)
        if not self._dirty and not self._nodes_changed:
            return False
        nodes = {node.id: node for node in find_nodes(tx, by.all())}
        mesh_nodes = self._nodes()
        up = {
            node_id: mesh_nodes[node_id]
            for node_id, node in nodes.items()
            if node_id in mesh_nodes and node.status.state != NodeState.DOWN
        }
        dirty, self._dirty = self._dirty, set()
        ingress_networks = {n.id for n in find_networks(tx, by.all()) if n.spec.ingress}
        for service_id in dirty:
            service = get_service(tx, service_id)
            ports = self._ports.get(service_id, []) if service is not None else []
            tasks = find_tasks(tx, by.service_id(service_id)) if ports else []
            tasks = [task for task in tasks if _serving(task, up)]
            answers: Answers = {
                (target, protocol): _answering(tasks, up, target, protocol)
                for target, protocol in sorted({(p.target, p.protocol) for p in ports})
            }
            self._refresh_addresses(service_id, service, answers, up, ingress_networks)
            described = self._refresh_service(service_id, service, ports, answers, up)
            if not self._describe or self._described.get(service_id) == described:
                continue
            if described is None:
                del self._described[service_id]
            else:
                self._described[service_id] = described
            self._described_changed.set()
        self._nodes_changed = False
        sockets = {node.address: node.sockets for node in up.values()}
        wanted: dict[Key, Wanted] = {}
        for pools in self._pools.values():
            for (published, protocol), pool in pools.items():
                for node in up.values():
                    key = (node.address, published, protocol)
                    wanted[key] = Wanted(pool, *key, node.sockets)
        for host_pools in self._host_pools.values():
            for key, pool in host_pools.items():
                wanted[key] = Wanted(pool, *key, sockets.get(key[0], socket.socket))
        self._wanted = wanted
        self._namespaces = {
            node_id: node.netns for node_id, node in up.items() if node.netns is not None
        }
        self._address_wanted = {
            (node_id, *key): Wanted(pool, *key, netns.socket)
            for node_id, netns in self._namespaces.items()
            for pools in self._address_pools.values()
            for key, (pool, _) in pools.items()
        }
        self._subnets = {s for pools in self._address_pools.values() for _, s in pools.values()}
        return True

    def _refresh_addresses(
        self,
        service_id: str,
        service: Service | None,
        answers: Answers,
        up: dict[str, MeshNode],
        ingress_networks: set[str],
    ) -> None:
        """Brings the pools of the service's VIPs and task addresses to its running tasks, for
        the nodes in namespaces of their own (each pool stays behind its address and port)."""
        pools = self._address_pools.pop(service_id, {})
        if service is None or not answers or not any(node.netns for node in up.values()):
            return
        endpoint = service.endpoint
        vips = [
            ipaddress.ip_interface(vip.addr)
            for vip in (endpoint.virtual_ips if endpoint is not None else None) or ()
            if vip.addr and vip.network_id not in ingress_networks
        ]
        kept: dict[Key, tuple[BackendPool, str]] = {}
        for (target, protocol), answering in answers.items():
            served = [(vip, [backend for _, backend in answering]) for vip in vips]
            served += [
                (address, [backend])
                for task, backend in answering
                for address in _task_addresses(task)
            ]
            for address, backends in served:
                key = (str(address.ip), target, protocol)
                pool = pools[key][0] if key in pools else BackendPool()
                pool.set_backends(backends)
                kept[key] = (pool, str(address.network))
        if kept:
            self._address_pools[service_id] = kept

    def _refresh_service(
        self,
        service_id: str,
        service: Service | None,
        ports: list[_Port],
        answers: Answers,
        up: dict[str, MeshNode],
    ) -> ServiceEndpoints | None:
        """Brings the service's pools to its running tasks (the same pool stays behind the
        same port: its listeners and counts go on); what a load balancer is told of it."""
        pools = self._pools.pop(service_id, {})
        host_pools = self._host_pools.pop(service_id, {})
        if service is None or not ports:
            return None
        kept: dict[tuple[int, str], BackendPool] = {}
        kept_hosts: dict[Key, BackendPool] = {}
        described = []
        for port in ports:
            answering = answers[port.target, port.protocol]
            if port.host_mode:
                for task, backend in answering:
                    if up[task.node_id].binds_host_ports:
                        continue
                    key = (up[task.node_id].address, port.published, port.protocol)
                    pool = kept_hosts[key] = host_pools.get(key) or BackendPool()
                    pool.set_backends([backend])
                node_addrs = {up[task.node_id].address for task, _ in answering}
            else:
                on = (port.published, port.protocol)
                pool = kept[on] = pools.get(on) or BackendPool()
                pool.set_backends(backend for _, backend in answering)
                node_addrs = {node.address for node in up.values()}
            if self._describe:
                described.append(_described(port, node_addrs, answering))
        if kept:
            self._pools[service_id] = kept
        if kept_hosts:
            self._host_pools[service_id] = kept_hosts
        return ServiceEndpoints(id=service_id, name=service.spec.name or "", ports=tuple(described))

    async def _listen(self) -> None:
        """Listens where wanted, with the pool wanted there; stops listening elsewhere."""
        for netns in self._namespaces.values():  # first: their listeners bind to them
            await netns.local_subnets(self._subnets)
        await self._listeners.bring_to(self._wanted)
        await self._address_listeners.bring_to(self._address_wanted)


def _described(
    port: _Port, node_addrs: set[str], answering: list[tuple[Task, Backend]]
) -> PortEndpoints:
    return PortEndpoints(
        published_port=port.published,
        target_port=port.target,
        protocol=port.protocol,
        publish_mode="host" if port.host_mode else "ingress",
        node_addrs=tuple(sorted(node_addrs)),
        tasks=tuple(
            TaskEndpoint(task.id, task.node_id, backend.host, backend.port)
            for task, backend in answering
        ),
    )


def _ports(service: Service) -> list[_Port]:
    endpoint = service.endpoint
    return [
        _Port(
            port.published_port,
            port.target_port,
            port.protocol or "tcp",
            port.publish_mode == "host",
        )
        for port in (endpoint.ports if endpoint is not None else None) or ()
        if port.published_port and port.target_port and (port.protocol or "tcp") in PROTOCOLS
    ]


def _vips(service: Service) -> tuple[str, ...]:
    endpoint = service.endpoint
    vips = (endpoint.virtual_ips if endpoint is not None else None) or ()
    return tuple(f"{vip.network_id} {vip.addr}" for vip in vips if vip.addr)


def _task_addresses(task: Task) -> list[ipaddress.IPv4Interface | ipaddress.IPv6Interface]:
    """The task's addresses on its networks, but ``ingress``."""
    return [
        ipaddress.ip_interface(address)
        for attachment in task.networks_attachments or ()
        if attachment.network is not None and not attachment.network.spec.ingress
        for address in attachment.addresses or ()
    ]


def _answering(
    tasks: list[Task], up: dict[str, MeshNode], target: int, protocol: str
) -> list[tuple[Task, Backend]]:
    """The tasks that answer ``target``, each with where (its node's executor says)."""
    return [
        (task, Backend(task.id, *at))
        for task in tasks
        if (at := up[task.node_id].executor.endpoint(task.id, target, protocol))
    ]


def _serving(task: Task, up: dict[str, MeshNode]) -> bool:
    """Whether the task takes connections: RUNNING, meant to, on a node that is not down."""
    return (
        task.status.state == TaskState.RUNNING
        and task.desired_state <= TaskState.RUNNING
        and task.node_id in up
    )
