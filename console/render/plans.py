"""What an action will do, said before it is done (the confirmation dialogs' text), and what it
would not do at all (a no-op, a refusal) said instead of asking.

Where tasks go is worked out as the scheduler works it out (``engine.manager.scheduler``): a
node takes a task if it is ready and active, has the CPU and memory the task reserves free, meets
its placement constraints, has none of its host-mode ports taken, and runs fewer of its service's
tasks than its max replicas per node; of the nodes that do, the one with the fewest tasks of
the service, then the fewest tasks. Tasks are placed one after the other, each taking its room,
so a preview says which tasks will stay pending, and why, before anything moves.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from console.model import Snapshot, task_reservation
from console.render.formatting import cpus, size
from console.render.rows import task_name
from console.sanitize import sanitize_field
from engine.api import constraint
from engine.api.objects import Node, Service, Task
from engine.api.types import Availability, NodeRole, NodeState, TaskState

__all__ = [
    "Placement",
    "already",
    "demote_plan",
    "demote_refused",
    "drain_plan",
    "fault_tolerance",
    "place",
    "promote_plan",
    "quorum",
    "scale_plan",
]

NAMES_SHOWN = 3  # nodes named for one reason a task cannot go there; the rest are counted


@dataclass(frozen=True)
class Placement:
    """Where a task would go (``hostname``), or why it stays pending (``why``)."""

    task: Task
    hostname: str | None
    why: str = ""


@dataclass
class _Room:
    """A node's room for new tasks, as tasks are placed on it."""

    node: Node
    cpu: int
    memory: int
    by_service: Counter[str] = field(default_factory=Counter)
    tasks: int = 0
    ports: set[tuple[int, str]] = field(default_factory=set)


def _host_ports(snapshot: Snapshot, service_id: str) -> set[tuple[int, str]]:
    """The ports a service's tasks publish in host mode: one task of them a node."""
    service = snapshot.service_by_id.get(service_id)
    endpoint = service.spec.endpoint_spec if service else None
    return {
        (p.published_port, p.protocol or "tcp")
        for p in (endpoint.ports if endpoint else None) or ()
        if p.published_port and p.publish_mode == "host"
    }


def _rooms(snapshot: Snapshot, leaving: set[str]) -> list[_Room]:
    """The room of every node that takes new tasks, but those ``leaving``."""
    rooms = []
    for node in snapshot.nodes:
        if (
            node.id in leaving
            or node.status.state != NodeState.READY
            or (node.spec.availability or Availability.ACTIVE) != Availability.ACTIVE
        ):
            continue
        resources = node.description.resources if node.description else None
        reserved_cpu, reserved_memory = snapshot.reserved_by_node.get(node.id, (0, 0))
        room = _Room(
            node,
            ((resources.nano_cpus or 0) if resources else 0) - reserved_cpu,
            ((resources.memory_bytes or 0) if resources else 0) - reserved_memory,
        )
        for task in snapshot.tasks_by_node.get(node.id, ()):
            if task.desired_state <= TaskState.COMPLETE:
                room.by_service[task.service_id] += 1
                room.tasks += 1
                if task.status.state <= TaskState.RUNNING:
                    room.ports |= _host_ports(snapshot, task.service_id)
        rooms.append(room)
    return rooms


def _refusal(snapshot: Snapshot, task: Task, room: _Room) -> str:
    """Why ``room``'s node cannot take ``task`` ("" when it can), in the scheduler's order."""
    cpu, memory = task_reservation(task) or (0, 0)
    if cpu > room.cpu or memory > room.memory:
        return f"not enough free CPU or memory (it asks {cpus(cpu)} cores, {size(memory)})"
    placement = task.spec.placement
    wanted = (placement.constraints if placement else None) or []
    if wanted and not constraint.node_matches(constraint.parse(wanted), room.node):
        return f"constraints not met ({', '.join(wanted)})"
    ports = _host_ports(snapshot, task.service_id)
    if ports & room.ports:
        taken = ", ".join(f"{port}/{protocol}" for port, protocol in sorted(ports & room.ports))
        return f"host-mode port {taken} taken"
    limit = (placement.max_replicas or 0) if placement else 0
    if limit and room.by_service[task.service_id] >= limit:
        return f"it runs its max replicas per node ({limit})"
    return ""


def place(snapshot: Snapshot, tasks: Sequence[Task], leaving: set[str]) -> list[Placement]:
    """Where each of ``tasks`` would go once the nodes ``leaving`` take no more tasks, placed
    in turn; those that fit nowhere stay pending, and say why."""
    rooms = _rooms(snapshot, leaving)
    placed = []
    for task in sorted(tasks, key=lambda t: (t.service_id, t.slot, t.id)):
        refusals: dict[str, list[_Room]] = {}
        fitting = []
        for room in rooms:
            why = _refusal(snapshot, task, room)
            if why:
                refusals.setdefault(why, []).append(room)
            else:
                fitting.append(room)
        if not fitting:
            placed.append(Placement(task, None, _explain(snapshot, refusals, bool(rooms))))
            continue
        best = min(fitting, key=lambda r: (r.by_service[task.service_id], r.tasks))
        cpu, memory = task_reservation(task) or (0, 0)
        best.cpu, best.memory = best.cpu - cpu, best.memory - memory
        best.by_service[task.service_id] += 1
        best.tasks += 1
        best.ports |= _host_ports(snapshot, task.service_id)
        placed.append(Placement(task, snapshot.hostname(best.node.id)))
    return placed


def _explain(snapshot: Snapshot, refusals: dict[str, list[_Room]], any_room: bool) -> str:
    """Each reason the nodes gave, with the nodes that gave it (and what they have free, when
    it is room they lack), the most common first."""
    if not any_room:
        return "no other node takes new tasks"
    parts = []
    for why, rooms in sorted(refusals.items(), key=lambda item: -len(item[1])):
        short = why.startswith("not enough")
        names = [
            sanitize_field(snapshot.hostname(r.node.id))
            + (f" has {cpus(max(0, r.cpu))} cores, {size(max(0, r.memory))}" if short else "")
            for r in rooms[:NAMES_SHOWN]
        ]
        if len(rooms) > NAMES_SHOWN:
            names.append(f"{len(rooms) - NAMES_SHOWN} more")
        parts.append(f"{why}: {', '.join(names)}")
    return "; ".join(parts)


def drain_plan(snapshot: Snapshot, drained: Sequence[Node]) -> str:
    """What draining ``drained`` will do: where each task goes, which stay pending and why,
    which global tasks stop."""
    hostnames = ", ".join(snapshot.hostname(node.id) for node in drained)
    leaving = {node.id for node in drained}
    tasks = [
        t
        for node in drained
        for t in snapshot.tasks_by_node.get(node.id, [])
        if t.desired_state <= TaskState.RUNNING
    ]
    moving = [t for t in tasks if t.slot]
    stopping = [t for t in tasks if not t.slot]
    lines = [f"{hostnames} will take no new tasks, and its tasks go elsewhere."]
    if moving:
        placed = place(snapshot, moving, leaving)
        stuck = [p for p in placed if p.hostname is None]
        going = [p for p in placed if p.hostname is not None]
        lines.append(f"{len(moving)} task(s) will move:")
        lines += [f"  {task_name(p.task, snapshot)} → {p.hostname}" for p in going]
        lines += [f"  {task_name(p.task, snapshot)} will stay PENDING: {p.why}" for p in stuck]
        if stuck:
            lines.append(f"{len(stuck)} of them will not run until room is made.")
    if stopping:
        names = ", ".join(sorted(task_name(t, snapshot) for t in stopping))
        lines.append(f"{len(stopping)} global task(s) will stop: {names}.")
    if not tasks:
        lines.append("It runs no tasks now.")
    return "\n".join(lines)


def scale_plan(snapshot: Snapshot, service: Service, replicas: int) -> str | None:
    """What scaling ``service`` up to ``replicas`` leaves pending, and why; None when every new
    task has a node to go to (or it is not scaled up)."""
    running = [
        t
        for t in snapshot.tasks_by_service.get(service.id, ())
        if t.desired_state <= TaskState.RUNNING
    ]
    slots = {t.slot for t in running}
    template = service.spec.task_template
    if template is None:
        return None
    new = [
        Task(
            id=f"new-{slot}",
            service_id=service.id,
            slot=slot,
            spec=template,
            desired_state=TaskState.RUNNING,
        )
        for slot in range(1, replicas + 1)
        if slot not in slots
    ][: max(0, replicas - len(running))]
    stuck = [p for p in place(snapshot, new, set()) if p.hostname is None]
    if not stuck:
        return None
    lines = [f"{len(stuck)} of the {len(new)} new task(s) will stay PENDING:"]
    lines += [f"  {task_name(p.task, snapshot)}: {p.why}" for p in stuck]
    return "\n".join(lines)


def _availability(node: Node) -> Availability:
    return node.spec.availability or Availability.ACTIVE


def _manager(node: Node) -> bool:
    return node.spec.role == NodeRole.MANAGER


# Each node action: the nodes it would not change, and how they are said to be.
_ALREADY: dict[str, tuple[Callable[[Node], bool], str]] = {
    "drain": (lambda node: _availability(node) == Availability.DRAIN, "drained already"),
    "pause": (lambda node: _availability(node) == Availability.PAUSE, "paused already"),
    "activate": (lambda node: _availability(node) == Availability.ACTIVE, "active already"),
    "promote": (_manager, "a manager already"),
    "demote": (lambda node: not _manager(node), "not a manager"),
}


def already(snapshot: Snapshot, nodes: Sequence[Node], action: str) -> tuple[list[Node], str]:
    """The nodes of ``nodes`` that ``action`` changes, and a line saying which it would not
    ("" when none): drain, pause or activate one that is so already, promote a manager,
    demote a worker."""
    unchanged, words = _ALREADY[action]
    kept = [node for node in nodes if not unchanged(node)]
    left = [node for node in nodes if unchanged(node)]
    if not left:
        return kept, ""
    return kept, f"{_hostnames(snapshot, left)}: {words}, nothing to do"


def _hostnames(snapshot: Snapshot, nodes: Sequence[Node]) -> str:
    return ", ".join(snapshot.hostname(node.id) for node in nodes)


def fault_tolerance(managers: int) -> int:
    """How many managers can fail with the swarm keeping its quorum: (N-1)/2, rounded down."""
    return max(0, (managers - 1) // 2)


def quorum(managers: int) -> str:
    """``3 managers tolerate 1 failure``, and why an even count is no better."""
    failures = fault_tolerance(managers)
    text = (
        f"{managers} manager{'s' if managers != 1 else ''} tolerate"
        f"{'s' if managers == 1 else ''} {failures} failure{'s' if failures != 1 else ''}"
    )
    if managers > 1 and managers % 2 == 0:
        text += f" (no more than {managers - 1}: an odd count is best)"
    return text


def _managers(snapshot: Snapshot) -> int:
    return sum(1 for node in snapshot.nodes if _manager(node))


def promote_plan(snapshot: Snapshot, nodes: Sequence[Node]) -> str:
    return _role_plan(
        snapshot,
        nodes,
        len(nodes),
        "will be a manager: it takes part in the raft quorum and can lead",
    )


def demote_refused(snapshot: Snapshot, nodes: Sequence[Node]) -> str | None:
    """Why demoting ``nodes`` is refused before asking: it would leave no manager."""
    if _managers(snapshot) - len(nodes) < 1:
        return (
            f"a swarm needs a manager: demoting {_hostnames(snapshot, nodes)} would leave none "
            "(promote another node first)"
        )
    return None


def demote_plan(snapshot: Snapshot, nodes: Sequence[Node]) -> str:
    return _role_plan(
        snapshot, nodes, -len(nodes), "will stop being a manager: it leaves the raft quorum"
    )


def _role_plan(snapshot: Snapshot, nodes: Sequence[Node], added: int, what: str) -> str:
    """``nodes`` and ``what`` they become, then the quorum before and after ``added`` more
    managers (fewer, when negative)."""
    now = _managers(snapshot)
    return f"{_hostnames(snapshot, nodes)} {what}.\nNow {quorum(now)}; then {quorum(now + added)}."
