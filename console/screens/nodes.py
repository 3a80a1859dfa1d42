"""The nodes view: drain, pause, activate, promote, demote, labels, edit; enter shows a node's
tasks, y its YAML (keys: ``console.actions``). Drain, pause, activate, promote and demote act
on every marked node; on one they would not change they say so instead.
"""

from __future__ import annotations

from typing import ClassVar

from textual.binding import BindingType

from console import actions, forms
from console.actions import Request
from console.model import Snapshot
from console.render.plans import already, demote_plan, demote_refused, drain_plan, promote_plan
from console.render.rows import NODE_COLUMNS, Row
from console.rowcache import NodeRowCache
from console.screens.describe import DescribeScreen
from console.screens.resource import ResourceScreen
from console.screens.tasks import TasksScreen
from engine.api.objects import Node

__all__ = ["NodesScreen"]


class NodesScreen(ResourceScreen):
    VIEW = "nodes"
    COLUMNS = NODE_COLUMNS
    BINDINGS: ClassVar[list[BindingType]] = actions.bindings(VIEW, COLUMNS)

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

    def _chosen(self) -> list[Node]:
        """The marked nodes, or the selected one."""
        found = self.snapshot.node_by_id
        return [found[key] for key in self.targets() if key in found]

    def _request(self, name: str, node: Node, *args: object, done: str) -> Request:
        return Request(name, (node.id, *args), f"{self.snapshot.hostname(node.id)}: {done}")

    def _change(self, name: str, node: Node, *args: object, done: str) -> None:
        self.act(self._request(name, node, *args, done=done))

    def _change_all(self, name: str, nodes: list[Node], done: str) -> None:
        self.act(*(self._request(name, node, done=done) for node in nodes))

    def _hostnames(self, nodes: list[Node]) -> str:
        return ", ".join(self.snapshot.hostname(node.id) for node in nodes)

    def _to_change(self, action: str) -> list[Node]:
        """The marked (or selected) nodes ``action`` would change; of the others, says they
        are so already, and leaves them be."""
        nodes, unchanged = already(self.snapshot, self._chosen(), action)
        if unchanged:
            self.notify(unchanged)
        return nodes

    def on_resource_table_selected(self) -> None:
        self.action_tasks()

    def action_tasks(self) -> None:
        if (node := self._node()) is not None:
            self.open(TasksScreen(node_id=node.id))

    def action_describe(self) -> None:
        if (node := self._node()) is not None:
            self.open(DescribeScreen(node, self.snapshot.hostname(node.id)))

    def action_edit(self) -> None:
        if (node := self._node()) is not None:
            self.edit(node, self.snapshot.hostname(node.id))

    def action_drain(self) -> None:
        if nodes := self._to_change("drain"):
            self.confirm(
                f"Drain {self._hostnames(nodes)}?",
                drain_plan(self.snapshot, nodes),
                lambda: self._change_all("drain", nodes, "draining"),
            )

    def action_pause(self) -> None:
        if nodes := self._to_change("pause"):
            hostnames = self._hostnames(nodes)
            self.confirm(
                f"Pause {hostnames}?",
                f"{hostnames}: keep their tasks but take no new ones until activated.",
                lambda: self._change_all("pause", nodes, "paused"),
            )

    def action_activate(self) -> None:
        if nodes := self._to_change("activate"):
            self._change_all("activate", nodes, "active")

    def action_promote(self) -> None:
        if nodes := self._to_change("promote"):
            self.confirm(
                f"Promote {self._hostnames(nodes)}?",
                promote_plan(self.snapshot, nodes),
                lambda: self._change_all("promote", nodes, "promoted to manager"),
            )

    def action_demote(self) -> None:
        if not (nodes := self._to_change("demote")):
            return
        refused = demote_refused(self.snapshot, nodes)
        if refused is not None:
            self.notify(refused, title="refused", severity="error", timeout=8)
            return
        self.confirm(
            f"Demote {self._hostnames(nodes)}?",
            demote_plan(self.snapshot, nodes),
            lambda: self._change_all("demote", nodes, "demoted to worker"),
        )

    def action_labels(self) -> None:
        if (node := self._node()) is None:
            return

        def set_labels(values: dict[str, str]) -> None:
            self._change("labels", node, forms.parse_labels(values), done="labels set")

        hostname = self.snapshot.hostname(node.id)
        self.ask(f"Labels of {hostname}", forms.labels_fields(node), set_labels)
