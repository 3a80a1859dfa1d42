"""Where a service answers, as text: its published ports and the nodes that answer on them, its
virtual IPs, and its tasks' addresses with the connections the routing mesh gave each in the
last minute (where the endpoint counts them: our engine does, a Docker swarm does not).

In ingress mode every ready node answers on a published port and hands the connection to a
running task wherever it is; in host mode only the nodes where a task of it runs answer.
"""

from __future__ import annotations

from console.model import Snapshot
from console.render.rows import task_name
from console.sanitize import sanitize_field
from engine.api.objects import Service, Task
from engine.api.types import NodeState, TaskState

__all__ = ["NOT_COUNTED", "endpoint_lines", "task_addresses", "vip_lines"]

NOT_COUNTED = (
    "connections per task: not counted here (a Docker swarm's routing mesh, IPVS, keeps no "
    "count per task)"
)


def endpoint_lines(service: Service, snapshot: Snapshot) -> list[str]:
    """The service's ports and who answers on them, its VIPs, and its tasks' addresses and
    connections of the last minute."""
    lines = ["published ports:"]
    ports = [
        p for p in (service.endpoint.ports if service.endpoint else None) or () if p.published_port
    ]
    running = [
        t
        for t in snapshot.tasks_by_service.get(service.id, ())
        if t.status.state == TaskState.RUNNING and t.desired_state == TaskState.RUNNING
    ]
    for port in ports:
        mode = port.publish_mode or "ingress"
        text = f"  *:{port.published_port}->{port.target_port}/{port.protocol or 'tcp'} {mode}"
        if mode == "host":
            nodes = {t.node_id for t in running}
            lines.append(f"{text}, on the nodes of its running tasks:")
        else:
            nodes = {n.id for n in snapshot.nodes if n.status.state == NodeState.READY}
            lines.append(f"{text}, on every ready node:")
        answering = sorted(
            _node_address(snapshot, node_id, port.published_port) for node_id in nodes
        )
        lines += [f"    {line}" for line in answering] or ["    no node answers"]
    if not ports:
        lines.append("  none")
    lines += vip_lines(service, snapshot)
    connections = snapshot.connections
    lines.append("tasks (addresses; connections in the last minute):")
    if connections is None:
        lines.append(f"  {NOT_COUNTED}")
    for task in sorted(running, key=lambda t: (t.slot, t.node_id)):
        host = sanitize_field(snapshot.hostname(task.node_id))
        count = "" if connections is None else f": {connections.get(task.id, 0)} connections"
        lines.append(f"  {task_name(task, snapshot)}.{task.id[:12]}@{host}{count}")
        lines.append(f"    {task_addresses(task)}")
    if not running:
        lines.append("  no task runs")
    return lines


def vip_lines(service: Service, snapshot: Snapshot) -> list[str]:
    """The service's virtual IPs, a line a network (by name)."""
    vips = (service.endpoint.virtual_ips if service.endpoint else None) or []
    lines = ["virtual IPs:"]
    for vip in vips:
        network = snapshot.network_by_id.get(vip.network_id or "")
        name = network.name if network else (vip.network_id or "")[:12]
        lines.append(f"  {sanitize_field(name)} {vip.addr or '(no address)'}")
    if not vips:
        lines.append("  none (dnsrr, or no network)")
    return lines


def task_addresses(task: Task) -> str:
    """A task's addresses, each with its network's name."""
    found = []
    for attachment in task.networks_attachments or ():
        network = attachment.network
        name = network.name if network else ""
        found += [f"{address} {sanitize_field(name)}" for address in attachment.addresses or ()]
    return ", ".join(found) or "no address"


def _node_address(snapshot: Snapshot, node_id: str, port: int | None) -> str:
    node = snapshot.node_by_id.get(node_id)
    address = node.status.addr if node is not None else None
    hostname = sanitize_field(snapshot.hostname(node_id))
    return f"{hostname} {address}:{port}" if address else hostname
