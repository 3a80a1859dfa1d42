"""The networks view: driver, scope, subnets, the services attached and their tasks with an
address there; enter shows those tasks, y shows a network as YAML, ctrl+d removes one (every
marked one) that no service uses (keys: ``console.actions``)."""

from __future__ import annotations

from typing import ClassVar

from textual.binding import BindingType

from console import actions
from console.render.resources import NETWORK_COLUMNS, network_rows
from console.screens.objects import ObjectsScreen
from console.screens.tasks import TasksScreen

__all__ = ["NetworksScreen"]


class NetworksScreen(ObjectsScreen):
    VIEW = KINDS = "networks"
    COLUMNS = NETWORK_COLUMNS
    BINDINGS: ClassVar[list[BindingType]] = actions.bindings(VIEW, COLUMNS)
    rows = staticmethod(network_rows)

    def on_resource_table_selected(self) -> None:
        self.action_tasks()

    def action_tasks(self) -> None:
        if (key := self.selected_key()) is not None:
            self.open(TasksScreen(network_id=key))

    def refusal(self, key: str, name: str) -> str | None:
        network = self.snapshot.network_by_id.get(key)
        if network is not None and network.scope != "swarm":
            return f"{name} is a node's own network: the swarm does not remove it"
        return super().refusal(key, name)
