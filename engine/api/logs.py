"""A line a container wrote, as the logs API serves it, and Docker's log stream format."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["LogLine", "split_frame"]


@dataclass(frozen=True, slots=True)
class LogLine:
    time: float  # Unix time
    stream: str  # "stdout" or "stderr"
    text: str  # without the trailing newline


def split_frame(buffer: bytes, muxed: bool) -> tuple[str, bytes | None, bytes, bool]:
    """Takes one line off a log stream: a multiplexed frame (``[stream, 0, 0, 0, size]`` then
    the bytes), or a raw line when the container has a TTY, which the first byte tells.

    Returns the stream, the payload (None until a whole one has come), the rest of ``buffer``,
    and whether the stream is multiplexed.
    """
    if muxed and buffer[:1] and buffer[0] not in (0, 1, 2):
        muxed = False
    if muxed:
        if len(buffer) < 8:
            return "stdout", None, buffer, muxed
        size = int.from_bytes(buffer[4:8], "big")
        if len(buffer) < 8 + size:
            return "stdout", None, buffer, muxed
        stream = "stderr" if buffer[0] == 2 else "stdout"
        return stream, buffer[8 : 8 + size], buffer[8 + size :], muxed
    end = buffer.find(b"\n")
    if end < 0:
        return "stdout", None, buffer, muxed
    return "stdout", buffer[: end + 1], buffer[end + 1 :], muxed
