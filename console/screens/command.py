"""``:``: type a view's name (k9s's command mode)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Input

from console.screens.dialogs import TypingDialog

__all__ = ["VIEWS", "CommandLine", "resolve_view"]

VIEWS = {
    "overview": ("overview", "o", "ov", "home"),
    "nodes": ("nodes", "node", "no"),
    "services": ("services", "service", "svc", "s"),
    "tasks": ("tasks", "task", "t", "ps"),
    "logs": ("logs", "log", "l"),
    "metrics": ("metrics", "metric", "m", "top"),
    "events": ("events", "event", "ev", "e"),
    "quit": ("q", "quit", "q!"),
}


def resolve_view(text: str) -> str | None:
    word = text.strip().lstrip(":").split(" ", 1)[0].lower()
    for view, aliases in VIEWS.items():
        if word in aliases:
            return view
    return None


class CommandLine(TypingDialog[str | None]):
    BINDINGS = [Binding("escape", "cancel", "Cancel")]
    DEFAULT_CSS = """
    CommandLine { align: center bottom; }
    CommandLine Input { dock: bottom; margin-bottom: 1; border: tall $accent; }
    """

    def compose(self) -> ComposeResult:
        yield Input(placeholder=":nodes, :services, :tasks, :logs, :metrics, :events", id="command")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value)

    def action_cancel(self) -> None:
        self.dismiss(None)
