"""Tasks of one service, one node or one network: slot, node, desired and current state, error,
exit code; l shows a task's logs, y its YAML (its addresses first)."""

from __future__ import annotations

from typing import ClassVar

from textual.binding import BindingType

from console import actions
from console.feed import LogStream
from console.model import Snapshot
from console.render.endpoints import task_addresses
from console.render.rows import TASK_COLUMNS, Row, task_name
from console.rowcache import TaskRowCache
from console.screens.describe import DescribeScreen
from console.screens.logs import LogsScreen
from console.screens.resource import ResourceScreen
from engine.api.objects import Task

__all__ = ["TasksScreen"]


class TasksScreen(ResourceScreen):
    VIEW = "tasks"
    COLUMNS = TASK_COLUMNS
    BINDINGS: ClassVar[list[BindingType]] = actions.bindings(VIEW, COLUMNS)

    def __init__(
        self,
        service_id: str | None = None,
        node_id: str | None = None,
        network_id: str | None = None,
    ) -> None:
        super().__init__()
        self.service_id = service_id
        self.node_id = node_id
        self.network_id = network_id
        self._rows = TaskRowCache()

    def rows(self, snapshot: Snapshot) -> list[Row]:
        if self.service_id:
            self.title = f"tasks of {snapshot.service_name(self.service_id)}"
            tasks = snapshot.tasks_by_service.get(self.service_id, [])
        elif self.node_id:
            self.title = f"tasks on {snapshot.hostname(self.node_id)}"
            tasks = snapshot.tasks_by_node.get(self.node_id, [])
        elif self.network_id:
            network = snapshot.network_by_id.get(self.network_id)
            self.title = f"tasks on network {network.name if network else self.network_id[:12]}"
            tasks = snapshot.tasks_by_network.get(self.network_id, [])
        else:
            self.title = "tasks"
            tasks = list(snapshot.tasks)
        return self._rows.rows(snapshot, self.changes, tasks, self.task_rows)

    def _selected(self) -> Task | None:
        key = self.selected_key()
        return self.snapshot.task_by_id.get(key) if key else None

    def action_logs(self) -> None:
        if (task := self._selected()) is not None:
            name = f"{task_name(task, self.snapshot)}.{task.id[:12]}"
            self.open(LogsScreen(LogStream("tasks", task.id), name))

    def action_describe(self) -> None:
        if (task := self._selected()) is not None:
            notes = [f"addresses: {task_addresses(task)}"]
            self.open(DescribeScreen(task, task.id[:12], notes))
