"""What a view shows of its rows or lines: those a filter pattern keeps, in the order a column
sorts them, and the keys that sort each column; a table as CSV.

A filter is what follows ``/``: a regular expression, matched without regard to case in any cell
of a row (``^`` and ``$`` anchor a cell) or in a line; ``!`` before it keeps what does not match
(k9s's ``/!``). Text that is not a regular expression is matched as it is typed.

A column sorts by its cells' values, not their characters: numbers as numbers (``web.10`` after
``web.9``), sizes by unit then count (``4GiB`` after ``320MiB``) and ages likewise (``2 hours
ago`` after ``5 minutes ago``). A cell's sort value is kept (by its text) for the next sort.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from console.render.rows import Row

__all__ = [
    "Pattern",
    "column_keys",
    "forget_sort_values",
    "parse_pattern",
    "remember_sort_values",
    "select",
    "sort_rows",
    "table_csv",
]

INVERSE = "!"  # before a pattern: keep what does not match
# A row is matched as its cells on lines of their own: ``^`` and ``$`` anchor a cell, and ``.``
# never runs from one cell into the next.
_FLAGS = re.IGNORECASE | re.MULTILINE


@dataclass(frozen=True)
class Pattern:
    """A filter as typed after ``/``; an empty one keeps everything."""

    typed: str = ""
    regex: re.Pattern[str] | None = None
    inverse: bool = False
    literal: bool = False  # ``typed`` is not a regular expression: matched as text

    def __bool__(self) -> bool:
        return self.regex is not None

    def matches(self, text: str) -> bool:
        if self.regex is None:
            return True
        return (self.regex.search(text) is None) is self.inverse

    def lines(self, text: str) -> str:
        """The lines of ``text`` the pattern keeps, or a line saying that none does."""
        if self.regex is None:
            return text
        kept = [line for line in text.split("\n") if self.matches(line)]
        return "\n".join(kept) if kept else self.nothing

    @property
    def nothing(self) -> str:
        """The line shown when nothing matches."""
        return f"nothing matches /{self.typed}" + (" (as text)" if self.literal else "")


def parse_pattern(typed: str) -> Pattern:
    """The filter ``typed`` after ``/``: a regular expression, ``!`` first for the inverse."""
    inverse = typed.startswith(INVERSE)
    body = typed[1:] if inverse else typed
    if not body:
        return Pattern(typed)
    try:
        return Pattern(typed, re.compile(body, _FLAGS), inverse)
    except re.error:
        return Pattern(typed, re.compile(re.escape(body), _FLAGS), inverse, literal=True)


def select(rows: list[Row], pattern: Pattern) -> list[Row]:
    """The rows ``pattern`` keeps: those with a cell it matches (none, with ``!``)."""
    regex = pattern.regex
    if regex is None:
        return rows
    search, inverse = regex.search, pattern.inverse
    return [row for row in rows if (search(row.joined) is None) is inverse]


# A cell's sort value: its text in lower case, its ages in seconds and sizes in bytes, every run
# of digits after the length of the run: plain string comparison, in C, then puts numbers in
# the order of their values (``web.9`` before ``web.10``, ``1.9`` before ``1.10``, as ``sort
# -V``). Made for each different text of a column once, in a few passes over all of them.
_AGES = [
    (re.compile(pattern), replacement)
    for pattern, replacement in (
        ("less than a second ago", "\x01 0"),
        ("about a minute ago", "\x02 1"),
        ("about an hour ago", "\x03 1"),
        (r"(\d+) seconds? ago", "\x01 \\1"),
        (r"(\d+) minutes? ago", "\x02 \\1"),
        (r"(\d+) hours? ago", "\x03 \\1"),
        (r"(\d+) days? ago", "\x04 \\1"),
        (r"(\d+) weeks? ago", "\x05 \\1"),
        (r"(\d+) months? ago", "\x06 \\1"),
        (r"(\d+) years? ago", "\x07 \\1"),
        (r"(?m)^(\d+)s$", "\x01 \\1"),
        (r"(?m)^(\d+)m$", "\x02 \\1"),
        (r"(?m)^(\d+)h$", "\x03 \\1"),
        (r"(?m)^(\d+)d$", "\x04 \\1"),
    )
]  # an age (``5 minutes ago``, or a cell of just ``5m``): its unit's rank, then its count
_SIZE = re.compile(r"\b(\d+(?:\.\d)?)(b|kib|mib|gib|tib)\b")
_RANKS = {"b": "\x01", "kib": "\x02", "mib": "\x03", "gib": "\x04", "tib": "\x05"}
# a size as ``console.render.formatting.size`` writes it: its unit's rank, then its count


def _size(match: re.Match[str]) -> str:
    return f"{_RANKS[match.group(2)]} {match.group(1)}"


_SHORT_AGE = re.compile(r"(?m)^\d+[smhd]$")
_DIGITS = re.compile(r"(\d+)")
_LENGTHS = [chr(0x20 + n) for n in range(40)]  # before a run of n digits (printable: sorts last)
_CACHED = 65_536  # sort values kept between sorts, by text


class _Values(dict[str, str]):
    """Sort values by text, kept for the next sort (the rows that did not change have the
    same texts), up to ``_CACHED`` of them. The feed's worker thread adds those of new task
    rows while the UI's thread sorts: each step reads what it needs once, so a clearing in
    between costs a computation, never a missing value."""

    def of(self, cells: list[str]) -> list[str]:
        values = list(map(self.get, cells))
        if None not in values:
            return values  # type: ignore[return-value]
        missing = list({text for text, value in zip(cells, values, strict=True) if value is None})
        made = dict(zip(missing, _sort_values(missing), strict=True))
        if len(self) + len(made) > _CACHED:
            self.clear()
        self.update(made)
        return [
            made[text] if value is None else value
            for text, value in zip(cells, values, strict=True)
        ]


_VALUES = _Values()


def _sort_values(texts: list[str]) -> list[str]:
    text = "\n".join(texts).lower()  # a cell holds no line break (``sanitize_field``)
    if "ago" in text or _SHORT_AGE.search(text):
        for pattern, replacement in _AGES:
            text = pattern.sub(replacement, text)
    if "ib" in text or "b\n" in text or text.endswith("b"):  # a size may be there
        text = _SIZE.sub(_size, text)
    parts = _DIGITS.split(text)
    runs = parts[1::2]
    prefixed = {run: _LENGTHS[min(len(run), 39)] + run for run in set(runs)}  # runs repeat
    parts[1::2] = map(prefixed.__getitem__, runs)
    return "".join(parts).split("\n")


def remember_sort_values(rows: Iterable[Row], column: int) -> None:
    """Makes the sort values of ``rows``' cells of ``column`` now (in a worker thread), so that
    sorting by it later finds them made."""
    _VALUES.of([row.cells[column] for row in rows])


def forget_sort_values() -> None:
    """Forgets the sort values kept (for a measure of the first sort)."""
    _VALUES.clear()


def sort_rows(rows: list[Row], column: int, descending: bool = False) -> list[Row]:
    """``rows`` by the cells of ``column``, equal ones in the order they came."""
    values = _VALUES.of([row.cells[column] for row in rows])
    order = sorted(range(len(rows)), key=values.__getitem__, reverse=descending)
    return [rows[index] for index in order]


def column_keys(columns: Sequence[str], taken: Iterable[str] = ()) -> tuple[str, ...]:
    """The key that sorts each column (``shift`` and a letter of its name, the first one free:
    not ``taken`` by the view's own keys nor an earlier column); "" for a column without one."""
    used = {key for key in taken if len(key) == 1}
    keys = []
    for label in columns:
        key = next((c for c in label.upper() if "A" <= c <= "Z" and c not in used), "")
        used.add(key)
        keys.append(key)
    return tuple(keys)


def table_csv(columns: Sequence[str], rows: Iterable[Row]) -> str:
    """The rows as CSV under a header of the columns; columns without a name (a replica bar)
    are left out."""
    kept = [index for index, label in enumerate(columns) if label]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([columns[index] for index in kept])
    writer.writerows([row.cells[index] for index in kept] for row in rows)
    return out.getvalue()
