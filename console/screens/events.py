"""The cluster's event stream: services and nodes created, updated, removed."""

from __future__ import annotations

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

    def body(self) -> ComposeResult:
        yield self._log

    def on_mount(self) -> None:
        self.post_message(self.Follow(self, self.STREAM))

    def on_unmount(self) -> None:
        self.app.post_message(self.Follow(self, self.STREAM, follow=False))

    def take_events(self, news: EventsArrived) -> None:
        for event in news.events:
            self._log.write(Text(event_line(event)))
