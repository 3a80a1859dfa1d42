"""A line a container wrote, as the logs API serves it, and Docker's log stream format."""

from __future__ import annotations

import bisect
import itertools
from collections import deque
from collections.abc import Sequence
from typing import NamedTuple

__all__ = ["LogLine", "keep_in_order", "line_time", "lines_between", "split_frame"]


class LogLine(NamedTuple):
    """A tuple: one is made for every line served, in half the time a frozen dataclass takes."""

    time: float  # Unix time
    stream: str  # "stdout" or "stderr"
    text: str  # without the trailing newline


def lines_between(kept: Sequence[LogLine], since: float, until: float) -> list[LogLine]:
    """The lines of ``kept`` (in time order) written in ``[since, until)``, found by bisection;
    a copy, which a reader may hold while more lines come."""
    start = bisect.bisect_left(kept, since, key=line_time)
    end = bisect.bisect_left(kept, until, lo=start, key=line_time)
    return list(itertools.islice(kept, start, end))


def keep_in_order(kept: deque[LogLine], line: LogLine) -> None:
    """Adds ``line`` to ``kept`` in time order (most come last: they are appended); a full
    ``kept`` lets its oldest go."""
    if not kept or kept[-1].time <= line.time:
        kept.append(line)
        return
    if len(kept) == kept.maxlen:
        kept.popleft()
    kept.insert(bisect.bisect_right(kept, line.time, key=line_time), line)


def line_time(line: LogLine) -> float:
    """When the line was written: the key lines are ordered by."""
    return line.time


def split_frame(buffer: bytes, muxed: bool, at: int = 0) -> tuple[str, bytes | None, int, bool]:
    """Takes one line off a log stream, from ``at`` in ``buffer``: a multiplexed frame
    (``[stream, 0, 0, 0, size]`` then the bytes), or a raw line when the container has a TTY,
    which the first byte tells.

    Returns the stream, the payload (None until a whole one has come), where the rest of
    ``buffer`` starts, and whether the stream is multiplexed.
    """
    if muxed and len(buffer) > at and buffer[at] not in (0, 1, 2):
        muxed = False
    if muxed:
        if len(buffer) < at + 8:
            return "stdout", None, at, muxed
        end = at + 8 + int.from_bytes(buffer[at + 4 : at + 8], "big")
        if len(buffer) < end:
            return "stdout", None, at, muxed
        stream = "stderr" if buffer[at] == 2 else "stdout"
        return stream, buffer[at + 8 : end], end, muxed
    end = buffer.find(b"\n", at)
    if end < 0:
        return "stdout", None, at, muxed
    return "stdout", buffer[at : end + 1], end + 1, muxed
