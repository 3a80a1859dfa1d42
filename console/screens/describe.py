"""Any object's full spec and status, as YAML."""

from __future__ import annotations

from typing import ClassVar

import yaml
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import VerticalScroll
from textual.widgets import Static

from console import actions
from console.sanitize import sanitize
from console.screens.base import ClusterScreen
from engine.api.codec import to_builtins
from engine.api.objects import Object

__all__ = ["DescribeScreen", "describe_text"]


def describe_text(obj: Object) -> str:
    """The object as the API gives it, in YAML; strings a container controls are sanitized."""
    text = yaml.safe_dump(to_builtins(obj), sort_keys=False, allow_unicode=True, width=100)
    return sanitize(text)


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
