"""Any object's full spec and status, as YAML; ``/`` keeps the lines it matches."""

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
        self.title = f"yaml of {name}"
        self._text = describe_text(obj)
        self._shown = Static(self._text, markup=False, id="describe")

    def body(self) -> ComposeResult:
        with VerticalScroll():
            yield self._shown

    def filter_changed(self) -> None:
        self._shown.update(self.pattern.lines(self._text))
        self.redraw()
