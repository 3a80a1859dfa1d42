"""Logs of a service or a task, merged by time, coloured by task.

Keys: ``f`` follow or pause, ``w`` wrap, ``t`` timestamps, ``0``-``4`` which lines (the last
ones, or those of the last minute, 5, 15 minutes, hour), ``/`` filter, ``ctrl+s`` save what is
shown; the header says which of these hold. The buffer keeps the last ``BUFFER`` lines; lines
are written in batches so a flood of output costs one redraw per batch, and the UI keeps
answering keys.
"""

from __future__ import annotations

import dataclasses
import zlib
from collections import deque
from datetime import UTC, datetime
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.widgets import RichLog

from console import actions
from console.feed import LOG_TAIL, LogLines, LogStream
from console.model import Snapshot
from console.render.logs import log_line, not_started
from console.screens.base import ClusterScreen
from engine.client import LogEntry
from themes import theme_colour

__all__ = ["BUFFER", "LogsScreen"]

BUFFER = 5_000  # lines kept, as k9s caps its log view
FLUSH = 0.05  # seconds between batched writes to the screen
FLOOD_LINES = 500  # lines in one batch that make a flood: 10,000 a second
FLOOD_SCREENS = 2  # screenfuls of a flood's batch drawn: only the newest lines can be seen
TASK_COLOURS = ("primary", "secondary", "accent", "success", "warning", "state-busy")
WINDOWS = {60: "last minute", 300: "last 5 minutes", 900: "last 15 minutes", 3600: "last hour"}


class LogsScreen(ClusterScreen):
    VIEW = "logs"
    BINDINGS: ClassVar[list[BindingType]] = actions.bindings(VIEW)

    def __init__(self, stream: LogStream, name: str) -> None:
        super().__init__()
        self.stream = stream
        self.title = f"logs of {name}"
        self.entries: deque[tuple[LogEntry, str]] = deque(maxlen=BUFFER)
        self.following = True
        self.timestamps = False
        self._pending: list[tuple[LogEntry, str]] = []
        self._notice = ""  # what the view says of a task that never ran, while it has no line
        self._names: dict[str, str] = {}
        self._colours: dict[tuple[str, str], str] = {}  # by task label and theme

    def body(self) -> ComposeResult:
        yield RichLog(max_lines=BUFFER, wrap=False, markup=False, id="log")

    @property
    def log_view(self) -> RichLog:
        return self.query_one("#log", RichLog)

    def on_mount(self) -> None:
        self.set_interval(FLUSH, self._flush)
        self.post_message(self.Follow(self, self.stream))

    def on_unmount(self) -> None:
        self.app.post_message(self.Follow(self, self.stream, follow=False))

    def status(self) -> str:
        """Which lines are shown, and how: following or paused, wrapped, with timestamps."""
        window = self.stream.since
        return " · ".join(
            (
                WINDOWS.get(window, f"last {window}s") if window else f"tail {LOG_TAIL}",
                "following" if self.following else "paused",
                f"wrap {'on' if self.log_view.wrap else 'off'}",
                f"timestamps {'on' if self.timestamps else 'off'}",
            )
        )

    def take_lines(self, news: LogLines) -> None:
        """Lines the stream brought, drawn with the next batch."""
        if news.stream != self.stream:
            return  # a stream let go of, still bringing lines
        if news.error:
            self.notify(f"logs: {news.error}", severity="error")
        self.entries.extend(news.lines)
        self._pending.extend(news.lines)

    def _flush(self) -> None:
        if not self._pending or not self.following:
            return
        # In a flood only the newest lines can be seen; the rest wait in the buffer for a
        # pause, a filter or a save, which draw them from there.
        batch, self._pending = self._pending, []
        if len(batch) > FLOOD_LINES:
            batch = batch[-max(1, self.log_view.size.height) * FLOOD_SCREENS :]
        batch.sort(key=lambda pair: pair[0].time)
        lines = [self._line(entry, safe) for entry, safe in batch if self._shown(safe)]
        if lines:
            self._write(lines)

    def _write(self, lines: list[Text]) -> None:
        view = self.log_view
        view.write(Text("\n").join(lines), scroll_end=False)
        if self.following:
            view.scroll_end(animate=False, immediate=True)

    def _shown(self, safe: str) -> bool:
        return self.pattern.matches(safe)

    def _task_label(self, entry: LogEntry) -> str:
        label = self._names.get(entry.task_id)
        if label is None:
            snapshot = self.snapshot
            task = snapshot.task_by_id.get(entry.task_id)
            if task is None:  # not polled yet: named once it is
                return entry.task_id[:12]
            service = snapshot.service_name(task.service_id)
            label = self._names[entry.task_id] = f"{service}.{task.slot or task.node_id[:6]}"
        return label

    def _colour(self, label: str, theme: str) -> str:
        """A task's colour: one of the theme's, the same for a task each time."""
        colour = self._colours.get((label, theme))
        if colour is None:
            name = TASK_COLOURS[zlib.crc32(label.encode()) % len(TASK_COLOURS)]
            colour = self._colours[label, theme] = theme_colour(self.app.current_theme, name)
        return colour

    def _line(self, entry: LogEntry, safe: str) -> Text:
        label = self._task_label(entry)
        return log_line(entry, safe, label, self._colour(label, self.app.theme), self.timestamps)

    def _rerender(self) -> None:
        self.log_view.clear()
        self._pending = []
        lines = [self._line(entry, safe) for entry, safe in self.entries if self._shown(safe)]
        if lines:
            self._write(lines)
        elif self.pattern and self.entries:
            self.log_view.write(Text(self.pattern.nothing, style="italic"))
        elif self._notice:
            self.log_view.write(Text(self._notice, style="italic"))
        self.redraw()

    def render_snapshot(self, snapshot: Snapshot) -> None:
        """For a task's logs: says so while the task has not run (and has no line)."""
        task = (
            snapshot.task_by_id.get(self.stream.object_id) if self.stream.kind == "tasks" else None
        )
        notice = ""
        if task is not None and not self.entries:
            notice = not_started(task, (self.title or "").removeprefix("logs of ")) or ""
        if notice != self._notice:
            self._notice = notice
            self.call_later(self._rerender)

    def filter_changed(self) -> None:
        self._rerender()

    def focus_body(self) -> None:
        self.log_view.focus()

    def action_follow(self) -> None:
        self.following = not self.following
        if self.following:
            self._rerender()
        self.redraw()

    def action_wrap(self) -> None:
        self.log_view.wrap = not self.log_view.wrap
        self._rerender()

    def action_timestamps(self) -> None:
        self.timestamps = not self.timestamps
        self._rerender()

    def action_since(self, seconds: int) -> None:
        """Shows the last lines (0), or those of the last ``seconds``: the stream is opened
        again from there."""
        if seconds == self.stream.since:
            return
        self.app.post_message(self.Follow(self, self.stream, follow=False))
        self.stream = dataclasses.replace(self.stream, since=seconds)
        self.entries.clear()
        self._rerender()
        self.post_message(self.Follow(self, self.stream))

    def action_save(self) -> None:
        """Saves the lines shown (those the filter keeps), as plain text."""
        shown = [(entry, safe) for entry, safe in self.entries if self._shown(safe)]
        text = "".join(
            f"{datetime.fromtimestamp(entry.time, UTC).isoformat()} {self._task_label(entry)} "
            f"{Text.from_ansi(safe).plain}\n"
            for entry, safe in shown
        )
        self.save((self.title or "").removeprefix("logs of "), ".log", text, f"{len(shown)} lines")
