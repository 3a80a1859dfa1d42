"""The cluster's event stream: services and nodes created, updated, removed; ``/`` keeps the
events it matches, ``ctrl+s`` saves those shown."""

from __future__ import annotations

from collections import deque
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.widgets import RichLog

from console import actions
from console.feed import EventsArrived, EventStream
from console.render.events import event_line
from console.screens.base import ClusterScreen

__all__ = ["EventsScreen"]

SHOWN = 2000  # lines kept


class EventsScreen(ClusterScreen):
    VIEW = "events"
    BINDINGS: ClassVar[list[BindingType]] = actions.bindings(VIEW)
    STREAM = EventStream()

    def __init__(self) -> None:
        super().__init__()
        self._log = RichLog(max_lines=SHOWN, markup=False, id="events")  # takes lines at once
        self._lines: deque[str] = deque(maxlen=SHOWN)

    def body(self) -> ComposeResult:
        yield self._log

    def on_mount(self) -> None:
        self.post_message(self.Follow(self, self.STREAM))

    def on_unmount(self) -> None:
        self.app.post_message(self.Follow(self, self.STREAM, follow=False))

    def take_events(self, news: EventsArrived) -> None:
        lines = [event_line(event) for event in news.events]
        self._lines.extend(lines)
        shown = [line for line in lines if self.pattern.matches(line)]
        if shown:
            self._log.write(Text("\n".join(shown)))

    def filter_changed(self) -> None:
        self._log.clear()
        shown = self._shown()
        if shown:
            self._log.write(Text("\n".join(shown)))
        elif self.pattern and self._lines:
            self._log.write(Text(self.pattern.nothing, style="italic"))
        self.redraw()

    def focus_body(self) -> None:
        self._log.focus()

    def _shown(self) -> list[str]:
        return [line for line in self._lines if self.pattern.matches(line)]

    def action_save(self) -> None:
        shown = self._shown()
        self.save("events", ".log", "".join(f"{line}\n" for line in shown), f"{len(shown)} events")
