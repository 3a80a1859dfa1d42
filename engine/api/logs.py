"""A line a container wrote, as the logs API serves it, and Docker's log stream format."""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["LogLine", "split_frame"]


class LogLine(NamedTuple):
    """A tuple: one is made for every line served, in half the time a frozen dataclass takes."""

    time: float  # Unix time
    stream: str  # "stdout" or "stderr"
    text: str  # without the trailing newline


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
