"""The nodes view: drain (r), pause (c), activate (u), promote (p), demote (o), labels (L)."""

from __future__ import annotations

from typing import ClassVar

from msgspec.structs import replace
from textual.binding import Binding, BindingType

from console.model import Snapshot
from console.render.rows import NODE_COLUMNS, NodeRowCache, Row, task_name
from console.screens.base import ResourceScreen, typing_binding
from console.screens.dialogs import FormDialog
from engine.api.objects import Node
from engine.api.types import Availability, NodeRole, NodeState, TaskState

__all__ = ["NodesScreen", "drain_plan"]


def drain_plan(snapshot: Snapshot, node: Node) -> str:
    """What draining ``node`` will do: which tasks move, stop, and whether others have room."""
    hostname = snapshot.hostname(node.id)
    tasks = [
        t for t in snapshot.tasks_by_node.get(node.id, []) if t.desired_state <= TaskState.RUNNING
    ]
    moving = [t for t in tasks if t.slot]
    stopping = [t for t in tasks if not t.slot]
    others = [
        snapshot.hostname(n.id)
        for n in snapshot.nodes
        if n.id != node.id
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


class NodesScreen(ResourceScreen):
    VIEW = "nodes"
    COLUMNS = NODE_COLUMNS
    BINDINGS: ClassVar[list[BindingType]] = [
        *ResourceScreen.BINDINGS,
        Binding("enter", "tasks", "Tasks"),
        Binding("d", "describe", "Describe"),
        Binding("r", "drain", "Drain"),
        Binding("c", "pause", "Pause"),
        Binding("u", "activate", "Activate"),
        Binding("p", "promote", "Promote"),
        Binding("o", "demote", "Demote"),
        typing_binding("L", "labels", "Labels"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._rows = NodeRowCache()

    def rows(self, snapshot: Snapshot) -> list[Row]:
        return self._rows.rows(snapshot)

    def _node(self) -> Node | None:
        key = self.table.selected_key
        return self.deck.snapshot.node_by_id.get(key) if key else None

    def on_resource_table_selected(self) -> None:
        self.action_tasks()

    def action_tasks(self) -> None:
        node = self._node()
        if node is not None:
            self.deck.open_tasks(node_id=node.id)

    def action_describe(self) -> None:
        node = self._node()
        if node is not None:
            self.deck.open_describe(node)

    def _set(self, node: Node, what: str, **changes: object) -> None:
        hostname = self.deck.snapshot.hostname(node.id)
        self.deck.act(
            lambda client: client.modify_node(node.id, lambda spec: replace(spec, **changes)),
            f"{hostname}: {what}",
        )

    def action_drain(self) -> None:
        node = self._node()
        if node is not None:
            hostname = self.deck.snapshot.hostname(node.id)
            plan = drain_plan(self.deck.snapshot, node)
            self.confirm(
                f"Drain {hostname}?",
                plan,
                lambda: self._set(node, "draining", availability=Availability.DRAIN),
            )

    def action_pause(self) -> None:
        node = self._node()
        if node is not None:
            hostname = self.deck.snapshot.hostname(node.id)
            details = f"{hostname} keeps its tasks but takes no new ones until it is activated."
            self.confirm(
                f"Pause {hostname}?",
                details,
                lambda: self._set(node, "paused", availability=Availability.PAUSE),
            )

    def action_activate(self) -> None:
        node = self._node()
        if node is not None:
            self._set(node, "active", availability=Availability.ACTIVE)

    def action_promote(self) -> None:
        node = self._node()
        if node is not None:
            self._set(node, "promoted to manager", role=NodeRole.MANAGER)

    def action_demote(self) -> None:
        node = self._node()
        if node is not None:
            hostname = self.deck.snapshot.hostname(node.id)
            details = f"{hostname} stops being a manager."
            self.confirm(
                f"Demote {hostname}?",
                details,
                lambda: self._set(node, "demoted to worker", role=NodeRole.WORKER),
            )

    def action_labels(self) -> None:
        node = self._node()
        if node is None:
            return
        current = ",".join(f"{k}={v}" for k, v in sorted((node.spec.labels or {}).items()))

        def submitted(values: dict[str, str] | None) -> None:
            if values is None:
                return
            labels = {}
            for item in filter(None, (part.strip() for part in values["labels"].split(","))):
                key, _, value = item.partition("=")
                labels[key.strip()] = value.strip()
            self._set(node, "labels set", labels=labels)

        self.app.push_screen(
            FormDialog(
                f"Labels of {self.deck.snapshot.hostname(node.id)}",
                [("labels", "key=value, comma separated", current)],
            ),
            submitted,
        )
