"""A line of the logs view: the task's label in its colour, then what the task wrote."""

from __future__ import annotations

from datetime import UTC, datetime

from rich.text import Span, Text

from console.sanitize import sanitize_field
from engine.api.objects import Task
from engine.api.types import TaskState
from engine.client import LogEntry

__all__ = ["log_line", "not_started"]


def log_line(entry: LogEntry, safe: str, label: str, colour: str, timestamps: bool) -> Text:
    """``safe`` (the entry's text, sanitized) after ``label`` in ``colour``, and its time
    when ``timestamps``."""
    prefix = f"{label} | "
    spans = []
    if timestamps:
        stamp = datetime.fromtimestamp(entry.time, UTC).strftime("%H:%M:%S.%f")[:-3]
        prefix = f"{stamp} {prefix}"
        spans.append(Span(0, len(stamp), "dim"))
    spans.append(Span(len(prefix) - len(label) - 3, len(prefix), colour))
    if "\x1b" not in safe:  # plain text: one Text, a span or two
        return Text(prefix + safe, spans=spans, end="")
    line = Text(prefix, spans=spans, end="")
    line.append_text(Text.from_ansi(safe))
    return line


_ENDED = (TaskState.FAILED, TaskState.SHUTDOWN, TaskState.ORPHANED, TaskState.REMOVE)


def not_started(task: Task, name: str) -> str | None:
    """What the logs view of ``task`` says when the task never ran, so has no logs: that it
    has not started yet, or never did, and why; None for a task that ran."""
    state = task.status.state
    why = f" ({sanitize_field(task.status.err, 200)})" if task.status.err else ""
    if state < TaskState.RUNNING:
        return f"{name} has not started yet: it is {state.value}{why}. Its logs come once it runs."
    container = task.status.container_status
    ran = container is not None and (container.pid or container.exit_code is not None)
    if state == TaskState.REJECTED or (state in _ENDED and not ran):
        return f"{name} never started: it was {state.value}{why}. It has no logs."
    return None
