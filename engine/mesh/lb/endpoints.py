"""What an external load balancer needs to know about the swarm, read off the engine's objects.

For every service that publishes a port: the port (published, target, protocol, publish mode),
the addresses of the nodes that answer on it, and the endpoints of the tasks behind it. The value
is the webhook's body (its JSON names are the API's: ``PublishedPort``, ``NodeAddrs``, ``TaskID``)
and what the HAProxy adapter turns into servers.

Who answers, as a swarm does it:

- **ingress** ports: every node whose state is ``ready`` listens, a drained one too (the routing
  mesh forwards to tasks elsewhere); a task's endpoint is its address on its first network
  attachment (``ingress`` is first, as SwarmKit's allocator puts it), or on the network named by
  ``network``, at the target port.
- **host** ports: only the nodes running a task of the service; a task's endpoint is its node's
  address at the port the task published there (``Status.PortStatus``, else the spec's port).

A task is behind a port while it is ``running``, is not being stopped (its desired state is below
``shutdown``) and its node is ``ready``: SwarmKit takes a task out of the rotation before it stops
it, and a task on a down node is out at once. A task without a usable address is left out.
"""

from __future__ import annotations

import ipaddress
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from engine.api.base import Struct, UInt
from engine.api.objects import Network, Node, Service, Task
from engine.api.specs import PortConfig
from engine.api.types import NodeState, TaskState

__all__ = [
    "Endpoints",
    "PortEndpoints",
    "ServiceEndpoints",
    "TaskEndpoint",
    "build_endpoints",
]

INGRESS = "ingress"
HOST = "host"


class TaskEndpoint(Struct, frozen=True):
    """Where one task of a service takes connections for one published port."""

    task_id: str
    node_id: str
    addr: str
    port: UInt


class PortEndpoints(Struct, frozen=True):
    """One published port of a service, the nodes that answer on it and the tasks behind it.

    ``published_port`` is 0 for a host-mode port published without a number: each task then
    has a port of its own on its node (in ``tasks``).
    """

    published_port: UInt
    target_port: UInt
    protocol: str
    publish_mode: str
    node_addrs: tuple[str, ...]
    tasks: tuple[TaskEndpoint, ...]


class ServiceEndpoints(Struct, frozen=True):
    """A service's published ports; no ports means nothing of it is to be balanced any more."""

    id: str
    name: str
    ports: tuple[PortEndpoints, ...]


class Endpoints(Struct, frozen=True):
    """The whole swarm's: every service that publishes a port, ordered by ID."""

    services: tuple[ServiceEndpoints, ...] = ()


def build_endpoints(
    services: Iterable[Service],
    tasks: Iterable[Task],
    nodes: Iterable[Node],
    *,
    network: str | None = None,
) -> Endpoints:
    """The endpoints of every service that publishes a port.

    Args:
        services: the swarm's services (or some of them: only those are described).
        tasks: their tasks, in any state; tasks of other services are ignored.
        nodes: every node, so tasks and ports find the addresses of theirs.
        network: the network (ID or name) whose task addresses ingress ports use; by default
            each task's first network attachment with an address.
    """
    by_id = {node.id: node for node in nodes}
    answering = tuple(sorted(_addr(node) for node in by_id.values() if _answers(node)))
    tasks_of: defaultdict[str, list[Task]] = defaultdict(list)
    for task in tasks:
        tasks_of[task.service_id].append(task)
    described = []
    for service in sorted(services, key=lambda service: service.id):
        ports = tuple(
            _port_endpoints(port, tasks_of[service.id], by_id, answering, network)
            for port in _published(service)
        )
        if ports:
            described.append(
                ServiceEndpoints(id=service.id, name=service.spec.name or "", ports=ports)
            )
    return Endpoints(services=tuple(described))


def _published(service: Service) -> list[PortConfig]:
    """The service's published ports, as the manager allocated them, in a stable order."""
    allocated = (service.endpoint.ports if service.endpoint else None) or []
    ports = [
        port
        for port in allocated
        if port.target_port is not None
        and (port.published_port or _mode(port) == HOST)  # an ingress port not yet allocated
    ]
    return sorted(ports, key=lambda p: (p.published_port or 0, p.target_port, p.protocol or ""))


def _port_endpoints(
    port: PortConfig,
    tasks: Sequence[Task],
    nodes: Mapping[str, Node],
    answering: tuple[str, ...],
    network: str | None,
) -> PortEndpoints:
    protocol = port.protocol or "tcp"
    target = port.target_port or 0
    published = port.published_port or 0
    found = []
    for task in tasks:
        node = nodes.get(task.node_id)
        if node is None or not _serves(task, node):
            continue
        if _mode(port) == HOST:
            addr, at = _addr(node), _host_port(task, target, protocol, published)
        else:
            addr, at = _task_addr(task, network), target
        if addr and at:
            found.append(TaskEndpoint(task_id=task.id, node_id=task.node_id, addr=addr, port=at))
    found.sort(key=lambda endpoint: endpoint.task_id)
    if _mode(port) == HOST:
        answering = tuple(sorted({endpoint.addr for endpoint in found}))
    return PortEndpoints(
        published_port=published,
        target_port=target,
        protocol=protocol,
        publish_mode=_mode(port),
        node_addrs=answering,
        tasks=tuple(found),
    )


def _mode(port: PortConfig) -> str:
    return port.publish_mode or INGRESS


def _answers(node: Node) -> bool:
    return node.status.state == NodeState.READY and bool(_addr(node))


def _serves(task: Task, node: Node) -> bool:
    return (
        task.status.state == TaskState.RUNNING
        and task.desired_state < TaskState.SHUTDOWN
        and _answers(node)
    )


def _addr(node: Node) -> str:
    """The node's address as an IP address, "" if it reported none or not an IP address."""
    return _ip(node.status.addr or "")


def _ip(text: str) -> str:
    """``10.0.0.5/24`` or ``10.0.0.5`` as ``10.0.0.5``; "" for anything else."""
    try:
        return str(ipaddress.ip_interface(text).ip)
    except ValueError:
        return ""


def _task_addr(task: Task, network: str | None) -> str:
    """The task's address on ``network``, or on its first attachment that has one."""
    for attachment in task.networks_attachments or ():
        if network is not None and network not in _network_names(attachment.network):
            continue
        for address in attachment.addresses or ():
            if ip := _ip(address):
                return ip
    return ""


def _network_names(network: Network | None) -> tuple[str, ...]:
    if network is None:
        return ()
    return tuple(value for value in (network.id, network.spec.name) if value)


def _host_port(task: Task, target: int, protocol: str, published: int) -> int:
    """The port a task published on its node for ``target``, as the task reported it."""
    status = task.status.port_status
    reported = status.get("Ports") if isinstance(status, dict) else None
    for port in _dicts(reported):
        if (
            port.get("TargetPort") == target
            and (port.get("Protocol") or "tcp") == protocol
            and (port.get("PublishMode") or INGRESS) == HOST
            and published in (0, port.get("PublishedPort"))
            and isinstance(port.get("PublishedPort"), int)
        ):
            return int(port["PublishedPort"])
    return published


def _dicts(value: Any) -> list[dict[str, Any]]:
    """The dicts of a JSON list the engine carries without reading it (anything else: none)."""
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []
