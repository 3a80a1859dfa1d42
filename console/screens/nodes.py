"""The nodes view: drain, pause, activate, promote, demote, labels; enter shows a node's tasks,
d describes it (keys: ``console.actions``)."""

from __future__ import annotations

from typing import ClassVar

from textual.binding import BindingType

from console import actions, forms
from console.actions import Request
from console.model import Snapshot
from console.render.plans import drain_plan
from console.render.rows import NODE_COLUMNS, Row
from console.rowcache import NodeRowCache
from console.screens.base import ResourceScreen
from console.screens.describe import DescribeScreen
from console.screens.tasks import TasksScreen
from engine.api.objects import Node

__all__ = ["NodesScreen"]


class NodesScreen(ResourceScreen):
    VIEW = "nodes"
    COLUMNS = NODE_COLUMNS
    BINDINGS: ClassVar[list[BindingType]] = actions.bindings(VIEW)

    def __init__(self) -> None:
        super().__init__()
        self._rows = NodeRowCache()

    def rows(self, snapshot: Snapshot) -> list[Row]:
        if self.node_rows is not None:  # made with the snapshot, in the feed's thread
            return list(self.node_rows)
        return self._rows.rows(snapshot, self.changes)

    def _node(self) -> Node | None:
        key = self.selected_key()
        return self.snapshot.node_by_id.get(key) if key else None

    def _change(self, name: str, node: Node, *args: object, done: str) -> None:
        self.act(Request(name, (node.id, *args), f"{self.snapshot.hostname(node.id)}: {done}"))

    def on_resource_table_selected(self) -> None:
        self.action_tasks()

    def action_tasks(self) -> None:
        if (node := self._node()) is not None:
            self.open(TasksScreen(node_id=node.id))

    def action_describe(self) -> None:
        if (node := self._node()) is not None:
            self.open(DescribeScreen(node, self.snapshot.hostname(node.id)))

    def action_drain(self) -> None:
        if (node := self._node()) is not None:
            self.confirm(
                f"Drain {self.snapshot.hostname(node.id)}?",
                drain_plan(self.snapshot, node),
                lambda: self._change("drain", node, done="draining"),
            )

    def action_pause(self) -> None:
        if (node := self._node()) is not None:
            hostname = self.snapshot.hostname(node.id)
            self.confirm(
                f"Pause {hostname}?",
                f"{hostname} keeps its tasks but takes no new ones until it is activated.",
                lambda: self._change("pause", node, done="paused"),
            )

    def action_activate(self) -> None:
        if (node := self._node()) is not None:
            self._change("activate", node, done="active")

    def action_promote(self) -> None:
        if (node := self._node()) is not None:
            self._change("promote", node, done="promoted to manager")

    def action_demote(self) -> None:
        if (node := self._node()) is not None:
            hostname = self.snapshot.hostname(node.id)
            self.confirm(
                f"Demote {hostname}?",
                f"{hostname} stops being a manager.",
                lambda: self._change("demote", node, done="demoted to worker"),
            )

    def action_labels(self) -> None:
        if (node := self._node()) is None:
            return

        def set_labels(values: dict[str, str]) -> None:
            self._change("labels", node, forms.parse_labels(values), done="labels set")

        hostname = self.snapshot.hostname(node.id)
        self.ask(f"Labels of {hostname}", forms.labels_fields(node), set_labels)
