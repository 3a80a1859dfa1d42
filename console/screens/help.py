"""``?``: every key of the current view and of the console, from the action table."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Footer, Static

from console.actions import EVERYWHERE, Action, of_view, sort_keys
from console.views import VIEWS

__all__ = ["HelpScreen", "help_text", "key_name"]

KEY_NAMES = {
    "colon": ":",
    "question_mark": "?",
    "slash": "/",
    "escape": "esc",
    "minus": "-",
}
WIDTH = 64  # a line of help, in cells: it fits the help box of an 80-column terminal
MORE_KEYS = [
    ("enter", "drill down"),
    ("ctrl+p", "command palette: every action and view, themes"),
]


def key_name(key: str) -> str:
    """A binding's keys as help shows them: ``y,d`` as ``y d``, ``colon`` as ``:``."""
    return " ".join(KEY_NAMES.get(part, part) for part in key.split(","))


def _line(key: str, text: str) -> list[str]:
    """A key and what it does, wrapped under the text's start."""
    return textwrap.wrap(
        f"  {key:<10} {text}", WIDTH, subsequent_indent=" " * 13, break_on_hyphens=False
    )


def _lines(action: Action, view: str, columns: Sequence[str]) -> list[str]:
    if not action.per_column:
        return _line(key_name(action.key), f"{action.description}: {action.help}")
    keys = sort_keys(view, columns)
    sorted_by = [
        f"  {'shift+' + key.lower():<10} sort by {column}"
        for key, column in zip(keys, columns, strict=True)
        if key
    ]
    return [*_line("shift+…", f"{action.description}: {action.help}"), *sorted_by]


def help_text(view: str, title: str, read_only: bool, columns: Sequence[str] = ()) -> str:
    """The keys of ``view`` (titled ``title``, a table of ``columns``) and of the console;
    with ``read_only``, none that changes the cluster."""
    lines = [f"Keys of {title}:"]
    for action in of_view(view):
        if not (read_only and action.mutates):
            lines += _lines(action, view, columns)
    lines += ["", "Everywhere:"]
    for action in of_view(EVERYWHERE):
        lines += _line(key_name(action.key), action.help)
    for key, what in MORE_KEYS:
        lines += _line(key, what)
    names = ", ".join(view.name for view in VIEWS)
    lines += ["", *textwrap.wrap(f"Views (:name): {names}", WIDTH)]
    return "\n".join(lines)


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,question_mark,q", "dismiss", "Close")]

    def __init__(self, text: str) -> None:
        super().__init__()
        self._text = text

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(self._text, markup=False)
        yield Footer()
