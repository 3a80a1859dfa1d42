"""CPU and memory per node and per service, with history."""

from __future__ import annotations

from typing import ClassVar

from textual.binding import BindingType

from console import actions
from console.model import Snapshot
from console.render.metrics import METRIC_COLUMNS, metric_rows
from console.render.rows import Row
from console.screens.resource import ResourceScreen

__all__ = ["MetricsScreen"]


class MetricsScreen(ResourceScreen):
    VIEW = "metrics"
    COLUMNS = METRIC_COLUMNS
    BINDINGS: ClassVar[list[BindingType]] = actions.bindings(VIEW, COLUMNS)

    def rows(self, snapshot: Snapshot) -> list[Row]:
        self.title = "metrics"
        if snapshot.usage_note:
            self.title = f"metrics · {snapshot.usage_note}"
        return metric_rows(snapshot)
