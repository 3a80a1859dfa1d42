"""Cluster health at a glance: nodes, services, tasks, updates, failures, capacity; ``/``
keeps the lines it matches in each panel."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Grid
from textual.widgets import Static

from console import actions
from console.model import Snapshot
from console.render.overview import PANELS, overview_panels
from console.screens.base import ClusterScreen
from console.widgets.caption import Caption

__all__ = ["HINT", "OverviewScreen"]

# Where a newcomer goes from the first screen.
HINT = "Type :services, :nodes or :tasks (then enter) for a view, ? for every key."


class OverviewScreen(ClusterScreen):
    VIEW = "overview"
    BINDINGS: ClassVar[list[BindingType]] = actions.bindings(VIEW)

    def body(self) -> ComposeResult:
        yield Static(HINT, id="hint", markup=False)
        with Grid():
            for name in PANELS:
                panel = Caption(sized=True, id=f"panel-{name}", classes="panel")
                panel.border_title = name
                yield panel

    def render_snapshot(self, snapshot: Snapshot) -> None:
        for name, text in overview_panels(snapshot).items():
            self.query_one(f"#panel-{name}", Caption).show(self.pattern.lines(text))
