"""``?``: every key of the current view and of the console."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Static

__all__ = ["HelpScreen", "help_text"]

GLOBAL_KEYS = [
    (":", "jump to a view: overview, nodes, services, tasks, logs, metrics, events"),
    ("?", "this help"),
    ("/", "filter the current view"),
    ("esc", "back / clear the filter"),
    ("enter", "drill down"),
    ("ctrl+p", "command palette: every action, themes"),
    ("q", "quit"),
]


def help_text(screen: Screen[object]) -> str:
    lines = [f"Keys of {screen.title or type(screen).__name__}:"]
    for binding in screen.BINDINGS:
        if isinstance(binding, Binding) and binding.description:
            lines.append(f"  {binding.key:<10} {binding.description}")
    lines.append("")
    lines.append("Everywhere:")
    lines += [f"  {key:<10} {what}" for key, what in GLOBAL_KEYS]
    return "\n".join(lines)


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,question_mark,q", "dismiss", "Close")]
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen VerticalScroll {
        width: 76; max-width: 95%; height: 80%; border: thick $primary; background: $surface;
        padding: 1 2;
    }
    """

    def __init__(self, text: str) -> None:
        super().__init__()
        self._text = text

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(self._text, markup=False)
