"""Tasks of one service or one node: slot, node, desired and current state, error, exit code."""

from __future__ import annotations

from typing import ClassVar

from textual.binding import Binding, BindingType

from console.model import Snapshot
from console.render.rows import TASK_COLUMNS, Row, TaskRowCache, task_name
from console.screens.base import ResourceScreen

__all__ = ["TasksScreen"]


class TasksScreen(ResourceScreen):
    VIEW = "tasks"
    COLUMNS = TASK_COLUMNS
    BINDINGS: ClassVar[list[BindingType]] = [
        *ResourceScreen.BINDINGS,
        Binding("l", "logs", "Logs"),
        Binding("d", "describe", "Describe"),
    ]

    def __init__(self, service_id: str | None = None, node_id: str | None = None) -> None:
        super().__init__()
        self.service_id = service_id
        self.node_id = node_id
        self._rows = TaskRowCache()

    def rows(self, snapshot: Snapshot) -> list[Row]:
        if self.service_id:
            self.title = f"tasks of {snapshot.service_name(self.service_id)}"
            tasks = snapshot.tasks_by_service.get(self.service_id, [])
        elif self.node_id:
            self.title = f"tasks on {snapshot.hostname(self.node_id)}"
            tasks = snapshot.tasks_by_node.get(self.node_id, [])
        else:
            self.title = "tasks"
            tasks = list(snapshot.tasks)
        return self._rows.rows(snapshot, tasks)

    def _task_id(self) -> str | None:
        return self.table.selected_key

    def action_logs(self) -> None:
        key = self._task_id()
        snapshot = self.deck.snapshot
        task = next((t for t in snapshot.tasks if t.id == key), None)
        if task is not None:
            self.deck.open_logs("tasks", task.id, f"{task_name(task, snapshot)}.{task.id[:12]}")

    def action_describe(self) -> None:
        key = self._task_id()
        task = next((t for t in self.deck.snapshot.tasks if t.id == key), None)
        if task is not None:
            self.deck.open_describe(task)
