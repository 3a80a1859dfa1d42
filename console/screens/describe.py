"""Any object's full spec and status, as YAML, or another text about it (where a service
answers); ``/`` keeps the lines it matches."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import VerticalScroll
from textual.widgets import Static

from console import actions
from console.render.describe import describe_text
from console.sanitize import sanitize
from console.screens.base import ClusterScreen

__all__ = ["DescribeScreen", "TextScreen"]


class TextScreen(ClusterScreen):
    """A text, with a title: ``/`` keeps the lines it matches."""

    VIEW = "describe"
    BINDINGS: ClassVar[list[BindingType]] = actions.bindings(VIEW)

    def __init__(self, title: str, text: str) -> None:
        super().__init__()
        self.title = title
        self._text = sanitize(text)
        self._shown = Static(self._text, markup=False, id="describe")

    def body(self) -> ComposeResult:
        with VerticalScroll():
            yield self._shown

    def filter_changed(self) -> None:
        self._shown.update(self.pattern.lines(self._text))
        self.redraw()


class DescribeScreen(TextScreen):
    """An object as YAML; ``notes`` come first, as YAML comments (a service's VIPs and its
    tasks' addresses)."""

    def __init__(self, obj: Any, name: str, notes: Sequence[str] = ()) -> None:
        comments = "".join(f"# {line}\n" for line in notes)
        super().__init__(f"yaml of {name}", comments + describe_text(obj))
