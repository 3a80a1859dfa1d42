"""Any object's full spec and status, as YAML."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import VerticalScroll
from textual.widgets import Static

from console import actions
from console.render.describe import describe_text
from console.screens.base import ClusterScreen
from engine.api.objects import Object

__all__ = ["DescribeScreen"]


class DescribeScreen(ClusterScreen):
    VIEW = "describe"
    BINDINGS: ClassVar[list[BindingType]] = actions.bindings(VIEW)

    def __init__(self, obj: Object, name: str) -> None:
        super().__init__()
        self._obj = obj
        self.title = f"describe {name}"

    def body(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(describe_text(self._obj), markup=False, id="describe")
