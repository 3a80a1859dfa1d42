"""``:``: the command line where a view's name is typed (k9s's command mode).

The app takes the keys typed here itself, in the order they come, and shows them with
``show``; a burst such as ``:nodes⏎:services⏎`` then lands on services whatever the console was
busy with, since each enter switches the view before the next key is looked at.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.screen import ModalScreen
from textual.widgets import Static

__all__ = ["CommandLine"]

PROMPT = ":nodes, :services, :tasks, :logs, :metrics, :events"


class CommandLine(ModalScreen[None]):
    def __init__(self) -> None:
        super().__init__()
        self._line = Static(PROMPT, id="command", classes="-empty", markup=False)

    def compose(self) -> ComposeResult:
        yield self._line

    def show(self, text: str) -> None:
        self._line.update(f":{text}▏" if text else PROMPT)
        self._line.set_class(not text, "-empty")
