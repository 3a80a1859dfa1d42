"""``:``: the command line where a view's name is typed (k9s's command mode).

The app hands the keys typed here to ``take`` itself, in the order they come; a burst such as
``:nodes⏎:services⏎`` then lands on services whatever the console was busy with, since each
enter switches the view before the next key is looked at.
"""

from __future__ import annotations

from textual import events
from textual.app import ComposeResult
from textual.screen import ModalScreen
from textual.widgets import Static

__all__ = ["CommandLine"]

PROMPT = ":nodes, :services, :tasks, :logs, :metrics, :events"


class CommandLine(ModalScreen[None]):
    def __init__(self) -> None:
        super().__init__()
        self._line = Static(PROMPT, id="command", classes="-empty", markup=False)
        self._typed = ""

    def compose(self) -> ComposeResult:
        yield self._line

    def take(self, event: events.Key | events.Paste) -> str | None:
        """Takes a key or a paste: the line typed once enter closes it ("" for esc), else
        None."""
        if isinstance(event, events.Paste):
            self._typed += event.text.replace("\n", " ")
        elif event.key == "enter":
            return self._typed
        elif event.key == "escape":
            return ""
        elif event.key == "backspace":
            self._typed = self._typed[:-1]
        elif event.is_printable and event.character:
            self._typed += event.character
        self._line.update(f":{self._typed}▏" if self._typed else PROMPT)
        self._line.set_class(not self._typed, "-empty")
        return None
