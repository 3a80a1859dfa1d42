"""``?``: every key of the current view and of the console, from the action table."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Footer, Static

from console.actions import EVERYWHERE, of_view
from console.views import VIEWS

__all__ = ["HelpScreen", "help_text"]

KEY_NAMES = {"colon": ":", "question_mark": "?", "slash": "/", "escape": "esc"}
MORE_KEYS = [
    ("enter", "drill down"),
    ("ctrl+p", "command palette: every action and view, themes"),
]


def help_text(view: str, title: str, read_only: bool) -> str:
    """The keys of ``view`` (titled ``title``) and of the console; with ``read_only``, none
    that changes the cluster."""
    lines = [f"Keys of {title}:"]
    lines += [
        f"  {KEY_NAMES.get(a.key, a.key):<10} {a.description}: {a.help}"
        for a in of_view(view)
        if not (read_only and a.mutates)
    ]
    lines += ["", "Everywhere:"]
    lines += [f"  {KEY_NAMES.get(a.key, a.key):<10} {a.help}" for a in of_view(EVERYWHERE)]
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
