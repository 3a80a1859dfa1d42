"""A line a container wrote, as the logs API serves it."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["LogLine"]


@dataclass(frozen=True, slots=True)
class LogLine:
    time: float  # Unix time
    stream: str  # "stdout" or "stderr"
    text: str  # without the trailing newline
