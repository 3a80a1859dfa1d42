"""A line of the logs view: the task's label in its colour, then what the task wrote."""

from __future__ import annotations

from datetime import UTC, datetime

from rich.text import Span, Text

from engine.client import LogEntry

__all__ = ["log_line"]


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
