"""``?``: every key of the current view and of the console, from the action table."""

from __future__ import annotations

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
MORE_KEYS = [
    ("enter", "drill down"),
    ("ctrl+p", "command palette: every action and view, themes"),
]


def key_name(key: str) -> str:
    """A binding's keys as help shows them: ``y,d`` as ``y d``, ``colon`` as ``:``."""
    return " ".join(KEY_NAMES.get(part, part) for part in key.split(","))


def _lines(action: Action, view: str, columns: Sequence[str]) -> list[str]:
    if not action.per_column:
        return [f"  {key_name(action.key):<10} {action.description}: {action.help}"]
    keys = sort_keys(view, columns)
    sorted_by = [
        f"  {'shift+' + key.lower():<10} sort by {column}"
        for key, column in zip(keys, columns, strict=True)
        if key
    ]
    return [f"  {'shift+…':<10} {action.description}: {action.help}", *sorted_by]


def help_text(view: str, title: str, read_only: bool, columns: Sequence[str] = ()) -> str:
    """The keys of ``view`` (titled ``title``, a table of ``columns``) and of the console;
    with ``read_only``, none that changes the cluster."""
    lines = [f"Keys of {title}:"]
    for action in of_view(view):
        if not (read_only and action.mutates):
            lines += _lines(action, view, columns)
    lines += ["", "Everywhere:"]
    lines += [f"  {key_name(a.key):<10} {a.help}" for a in of_view(EVERYWHERE)]
    lines += [f"  {key:<10} {what}" for key, what in MORE_KEYS]
    names = ", ".join(view.name for view in VIEWS)
    lines += ["", f"Views (:name): {names}"]
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
