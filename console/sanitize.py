"""Untrusted text (anything a container controls) made safe to show.

Kept: printable text, tab, newline and SGR colour sequences (``ESC [ ... m``). Dropped: OSC
(titles, hyperlinks, clipboard writes), DCS, APC, PM, SOS and their payloads, every other CSI
(cursor moves, clears), other escapes, C1 controls, C0 controls but tab and newline, and DEL.
A carriage return is shown as ``␍`` so it cannot overwrite what came before. Lines are capped.
The parser keeps its state across chunks, so a sequence split between two reads is still caught.
"""

from __future__ import annotations

import re
from functools import lru_cache

__all__ = ["MAX_LINE", "Sanitizer", "sanitize", "sanitize_field", "sanitize_lines"]

MAX_LINE = 4096  # characters of one line shown; the rest is cut with "…"
CARRIAGE_RETURN = "␍"
NEWLINE_MARK = "␤"
ESC = "\x1b"
BEL = "\x07"

# Anything the state machine must look at: C0 but tab and newline, DEL, C1.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_GROUND, _ESCAPE, _CSI, _STRING, _STRING_ESCAPE, _ESCAPE_INTERMEDIATE = range(6)
# 8-bit introducers: CSI, and the string controls whose payload runs to ST.
_C1_CSI = "\x9b"
_C1_STRINGS = {"\x90", "\x98", "\x9d", "\x9e", "\x9f"}  # DCS, SOS, OSC, PM, APC
_ESC_STRINGS = {"P", "X", "]", "^", "_"}  # ESC P (DCS), X (SOS), ] (OSC), ^ (PM), _ (APC)


class Sanitizer:
    """Feeds text through a small state machine; ``feed`` returns what is safe to show."""

    def __init__(self, max_line: int = MAX_LINE, keep_colour: bool = True) -> None:
        self._state = _GROUND
        self._csi = ""
        self._max_line = max_line
        self._keep_colour = keep_colour
        self._column = 0

    def feed(self, chunk: str) -> str:
        if (
            self._state == _GROUND
            and self._column + len(chunk) <= self._max_line
            and not _UNSAFE.search(chunk)
        ):
            # The common case: plain text, no control to drop, no line to cut.
            newline = chunk.rfind("\n")
            self._column = len(chunk) - newline - 1 if newline >= 0 else self._column + len(chunk)
            return chunk
        out: list[str] = []
        for char in chunk:
            state = self._state
            if state == _GROUND:
                self._ground(char, out)
            elif state == _ESCAPE:
                if char == "[":
                    self._state, self._csi = _CSI, ""
                elif char in _ESC_STRINGS:
                    self._state = _STRING
                elif "\x20" <= char <= "\x2f":
                    self._state = _ESCAPE_INTERMEDIATE
                else:
                    self._state = _GROUND  # a two-character escape: dropped
            elif state == _ESCAPE_INTERMEDIATE:
                if not ("\x20" <= char <= "\x2f"):
                    self._state = _GROUND
            elif state == _CSI:
                if "\x40" <= char <= "\x7e":  # the final byte
                    self._state = _GROUND
                    if char == "m" and self._keep_colour and _is_sgr(self._csi):
                        out.append(f"{ESC}[{self._csi}m")
                elif len(self._csi) < 64:
                    self._csi += char
                else:
                    self._state = _GROUND  # absurdly long: drop it all
            elif state == _STRING:
                if char == BEL or char == "\x9c":
                    self._state = _GROUND
                elif char == ESC:
                    self._state = _STRING_ESCAPE
            elif state == _STRING_ESCAPE:
                self._state = _GROUND if char == "\\" else _STRING
        return "".join(out)

    def _ground(self, char: str, out: list[str]) -> None:
        if char == ESC:
            self._state = _ESCAPE
        elif char == _C1_CSI:
            self._state, self._csi = _CSI, ""
        elif char in _C1_STRINGS:
            self._state = _STRING
        elif char == "\n":
            out.append(char)
            self._column = 0
        elif char == "\r":
            self._emit(CARRIAGE_RETURN, out)
        elif char == "\t" or (char >= " " and char != "\x7f" and not ("\x80" <= char <= "\x9f")):
            self._emit(char, out)

    def _emit(self, text: str, out: list[str]) -> None:
        if self._column < self._max_line:
            out.append(text)
        elif self._column == self._max_line:
            out.append("…")
        self._column += 1


def _is_sgr(params: str) -> bool:
    return all(char.isdigit() or char in ";:" for char in params)


def sanitize(text: str, max_line: int = MAX_LINE) -> str:
    """One piece of untrusted text, colours kept."""
    if len(text) <= max_line and not _UNSAFE.search(text):
        return text  # the common case, as in ``Sanitizer.feed``, without making one
    return Sanitizer(max_line).feed(text)


@lru_cache(maxsize=16384)
def sanitize_field(text: str | None, max_length: int = 256) -> str:
    """A name, label or message for one table cell: no colour, no line breaks.

    Cached: the same names, hosts and errors come back on every poll.
    """
    if not text:
        return ""
    safe = Sanitizer(max_length, keep_colour=False).feed(text.replace("\n", NEWLINE_MARK))
    return safe


def sanitize_lines(text: str) -> str:
    """Text of several lines for a dialog: each line as ``sanitize_field`` makes it."""
    return "\n".join(sanitize_field(line, MAX_LINE) for line in text.split("\n"))
