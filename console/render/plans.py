"""What an action will do, said before it is done (the confirmation dialogs' text)."""

from __future__ import annotations

from collections.abc import Sequence

from console.model import Snapshot
from console.render.rows import task_name
from engine.api.objects import Node
from engine.api.types import Availability, NodeState, TaskState

__all__ = ["drain_plan"]


def drain_plan(snapshot: Snapshot, drained: Sequence[Node]) -> str:
    """What draining ``drained`` will do: which tasks move, stop, and whether others have
    room."""
    hostname = ", ".join(snapshot.hostname(node.id) for node in drained)
    leaving = {node.id for node in drained}
    tasks = [
        t
        for node in drained
        for t in snapshot.tasks_by_node.get(node.id, [])
        if t.desired_state <= TaskState.RUNNING
    ]
    moving = [t for t in tasks if t.slot]
    stopping = [t for t in tasks if not t.slot]
    others = [
        snapshot.hostname(n.id)
        for n in snapshot.nodes
        if n.id not in leaving
        and n.status.state == NodeState.READY
        and (n.spec.availability or Availability.ACTIVE) == Availability.ACTIVE
    ]
    lines = [f"{hostname} will take no new tasks, and its tasks go elsewhere."]
    if moving:
        names = ", ".join(sorted(task_name(t, snapshot) for t in moving))
        lines.append(f"{len(moving)} task(s) will move: {names}.")
        if others:
            lines.append(f"They can go to {len(others)} node(s): {', '.join(sorted(others))}.")
        else:
            lines.append("No other node takes new tasks: they will stay PENDING.")
    if stopping:
        names = ", ".join(sorted(task_name(t, snapshot) for t in stopping))
        lines.append(f"{len(stopping)} global task(s) will stop: {names}.")
    if not tasks:
        lines.append("It runs no tasks now.")
    return "\n".join(lines)
