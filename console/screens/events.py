"""The cluster's event stream: services and nodes created, updated, removed."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any, ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import RichLog

from console.sanitize import sanitize_field
from console.screens.base import ClusterScreen
from engine.client import ClientError

__all__ = ["EventsScreen", "event_line"]

HISTORY = 3600.0  # seconds of past events shown when the view opens


def event_line(event: dict[str, Any]) -> str:
    moment = datetime.fromtimestamp(event.get("timeNano", 0) / 1e9).strftime("%H:%M:%S")
    actor = event.get("Actor", {})
    attributes = dict(actor.get("Attributes", {}))
    name = attributes.pop("name", actor.get("ID", "")[:12])
    changes = ", ".join(f"{k}={v}" for k, v in sorted(attributes.items()))
    text = f"{moment}  {event.get('Type', '')} {event.get('Action', '')}  {name}"
    return sanitize_field(text + (f"  ({changes})" if changes else ""), 400)


class EventsScreen(ClusterScreen):
    VIEW = "events"
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "back", "Back")]
    DEFAULT_CSS = "EventsScreen RichLog { height: 1fr; }"

    def body(self) -> ComposeResult:
        yield RichLog(max_lines=2000, markup=False, id="events")

    def on_mount(self) -> None:
        super().on_mount()
        if self.deck.live:
            self.stream()

    def add_events(self, events: list[dict[str, Any]]) -> None:
        """Shows events from elsewhere (screenshots, tests) as if streamed."""
        log = self.query_one("#events", RichLog)
        for event in events:
            log.write(Text(event_line(event)))

    @work(exclusive=True, group="events")
    async def stream(self) -> None:
        log = self.query_one("#events", RichLog)
        try:
            async for event in self.deck.client.events(since=time.time() - HISTORY):
                log.write(Text(event_line(event)))
        except ClientError as error:
            log.write(Text(f"event stream ended: {error.message}"))
