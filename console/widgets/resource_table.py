"""A table that takes whole row lists and draws only the rows on screen.

Applying a new list costs a few dictionary lookups per row, whatever its length: nothing is laid
out until a line is drawn, and only the visible lines are. The cursor stays on its row (by key)
across refreshes. Each row's state ("ok", "bad", ...) is a component class,
``resource-table--<state>``, that the app's TCSS colours from the theme's ``$state-*`` variables;
marked rows (``resource-table--marked``) stand out whatever their state.

The header underlines the letter that sorts each column (with shift) and puts an arrow after the
column the rows are sorted by. A table with no rows shows its placeholder line ("nothing
matches ...") instead.

A table wider than the terminal keeps its first column (the name) in place and scrolls the
others by whole columns (left and right); the column cut by the right edge ends in "…", and is
never cut inside a number (``*:8080->80/tcp`` does not read ``*:80``).
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Iterator
from itertools import chain, compress
from operator import attrgetter, is_not
from typing import ClassVar

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from console.render.rows import Row

__all__ = ["ResourceTable"]

STATES = ("ok", "warn", "bad", "off", "busy")
ARROWS = ("↑", "↓")  # after the sorted column's name: ascending, descending
GAP = 2  # blank cells between columns
MAX_KEPT_LINES = 2000  # drawn lines kept for the next repaint, while their rows are the same
_key = attrgetter("key")


class ResourceTable(ScrollView, can_focus=True):
    """Rows under a fixed header; up/down/page/home/end move the cursor, enter selects."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "cursor(-1)", "Up", show=False),
        Binding("down", "cursor(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home", "edge(0)", "First", show=False),
        Binding("end", "edge(1)", "Last", show=False),
        Binding("enter", "select", "Select", show=False),
        Binding("left", "column(-1)", "Left", show=False),
        Binding("right", "column(1)", "Right", show=False),
    ]
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "resource-table--header",
        "resource-table--cursor",
        "resource-table--marked",
        "resource-table--placeholder",
        *(f"resource-table--{state}" for state in STATES),
    }
    DEFAULT_CSS = """
    ResourceTable { height: 1fr; background: $surface; color: $foreground; }
    ResourceTable > .resource-table--header { background: $panel; text-style: bold; }
    ResourceTable > .resource-table--cursor { background: $block-cursor-blurred-background; }
    ResourceTable > .resource-table--marked { text-style: bold reverse; }
    ResourceTable > .resource-table--placeholder { color: $text-muted; text-style: italic; }
    ResourceTable:focus > .resource-table--cursor {
        background: $block-cursor-background; color: $block-cursor-foreground;
    }
    """

    class Selected(Message):
        """Enter (or a click on the cursor's row) chose the row with ``key``."""

        def __init__(self, key: str) -> None:
            super().__init__()
            self.key = key

    def __init__(
        self, columns: tuple[str, ...], keys: tuple[str, ...] = (), **kwargs: object
    ) -> None:
        """``keys``: the letter that sorts each column ("" for none), underlined in the header."""
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._columns = columns
        self._keys = keys or ("",) * len(columns)
        self._rows: list[Row] = []
        self._marked: frozenset[str] = frozenset()
        self._placeholder = ""
        self._sorted: tuple[int, bool] | None = None  # the column sorted by, and descending
        self._labels = columns
        self._header_widths = tuple(cell_len(label) for label in columns)
        self._widths = list(self._header_widths)
        # Per column, and last for the long form of the first cell (``Row.long``).
        self._width_counts: list[Counter[int]] = [Counter() for _ in range(len(columns) + 1)]
        self._long_width = 0
        self.cursor_row = 0
        # Lines drawn, kept by row key while their row, the cursor and what ``_drawn`` holds
        # are the same: a refresh that changed a few rows draws only those again.
        self._drawn: tuple[object, ...] | None = None
        # The columns a line shows with ``_drawn``: each one's index, the cells it gets and
        # its width (see ``_shown``).
        self._layout: list[tuple[int, int, int]] = []
        self._strips: dict[str, tuple[Row, tuple[bool, bool], Strip]] = {}
        self._styles: dict[str, Style] = {}

    @property
    def row_count(self) -> int:
        return len(self._rows)

    @property
    def keys(self) -> list[str]:
        return [row.key for row in self._rows]

    @property
    def selected_key(self) -> str | None:
        if 0 <= self.cursor_row < len(self._rows):
            return self._rows[self.cursor_row].key
        return None

    @property
    def marked(self) -> frozenset[str]:
        return self._marked

    def sort_by(self, column: int | None, descending: bool = False) -> None:
        """Shows an arrow after ``column``'s name (none when None); the rows come sorted."""
        self._sorted = None if column is None else (column, descending)
        self._labels = tuple(
            label + (ARROWS[descending] if index == column else "")
            for index, label in enumerate(self._columns)
        )
        self._header_widths = tuple(cell_len(label) for label in self._labels)
        self._measure()
        self.refresh()

    def apply(
        self, rows: list[Row], marked: frozenset[str] = frozenset(), placeholder: str = ""
    ) -> None:
        """Shows ``rows`` in their order, those with a key in ``marked`` marked, and
        ``placeholder`` when there is no row; the cursor follows its row, or keeps its place."""
        if marked != self._marked or placeholder != self._placeholder:
            self._marked, self._placeholder = marked, placeholder
            self.refresh()
        if rows == self._rows:
            return  # the same rows: a renderer reused them all
        selected = self.selected_key
        self._count_widths(rows)
        self._rows = rows
        self._measure()
        index = self.cursor_row
        if selected is not None and not (index < len(rows) and rows[index].key == selected):
            with contextlib.suppress(ValueError):
                index = list(map(_key, rows)).index(selected)
        self.move_cursor(row=index)
        self.refresh()

    def _measure(self) -> None:
        self._widths = [
            max(header, max(counts, default=0))
            for header, counts in zip(self._header_widths, self._width_counts[:-1], strict=True)
        ]
        self._long_width = max(self._width_counts[-1], default=0)
        self.virtual_size = Size(sum(self._widths) + GAP * len(self._widths), len(self._rows) + 1)

    def _wide(self, width: int) -> bool:
        """Whether the first column shows its long form: every column has room for it."""
        if not self._widths or self._long_width <= self._widths[0]:
            return False
        return self._long_width + sum(self._widths[1:]) + GAP * len(self._widths) <= width

    def _count_widths(self, rows: list[Row]) -> None:
        """Keeps, per column, how many rows have each width. When the new rows stand where the
        old ones did, only the rows that are not the very same objects are counted again. The
        cells are measured in one pass in C."""
        if len(rows) == len(self._rows):
            changed = list(compress(range(len(rows)), map(is_not, rows, self._rows)))
            gone, come = map(self._rows.__getitem__, changed), map(rows.__getitem__, changed)
        else:
            self._width_counts = [Counter() for _ in range(len(self._columns) + 1)]
            gone, come = iter(()), iter(rows)
        old, new, step = _widths(gone), _widths(come), len(self._columns) + 1
        for column, counts in enumerate(self._width_counts):
            counts.subtract(Counter(old[column::step]))  # one step per distinct width
            counts.update(new[column::step])
            for width in [width for width, count in counts.items() if count <= 0]:
                del counts[width]

    def _starts(self) -> list[int]:
        """Where each column after the first starts, in the scrolled part of a line."""
        starts, at = [], 0
        for width in self._widths[1:]:
            starts.append(at)
            at += width + GAP
        return starts

    def first_column(self) -> int:
        """The first column shown after the first (pinned) one: the first that starts at or
        after the horizontal scroll, so that none is cut at the left."""
        scroll_x = round(self.scroll_x)
        starts = self._starts()
        return 1 + next((i for i, start in enumerate(starts) if start >= scroll_x), len(starts))

    def action_column(self, step: int) -> None:
        """Scrolls by one column to the right (1) or the left (-1)."""
        starts = self._starts()
        if not starts:
            return
        index = max(0, min(len(starts) - 1, self.first_column() - 1 + step))
        self.scroll_to(x=starts[index], animate=False, immediate=True)

    def move_cursor(self, row: int) -> None:
        self.cursor_row = max(0, min(row, len(self._rows) - 1))
        visible = max(1, self.scrollable_content_region.height - 1)
        top = round(self.scroll_y)
        if self.cursor_row < top:
            self.scroll_to(y=self.cursor_row, animate=False, immediate=True)
        elif self.cursor_row >= top + visible:
            self.scroll_to(y=self.cursor_row - visible + 1, animate=False, immediate=True)
        self.refresh()

    def action_cursor(self, step: int) -> None:
        self.move_cursor(self.cursor_row + step)

    def action_page(self, direction: int) -> None:
        self.move_cursor(self.cursor_row + direction * max(1, self.size.height - 2))

    def action_edge(self, end: int) -> None:
        self.move_cursor(len(self._rows) - 1 if end else 0)

    def action_select(self) -> None:
        key = self.selected_key
        if key is not None:
            self.post_message(self.Selected(key))

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None or offset.y == 0:
            return
        row = round(self.scroll_y) + offset.y - 1
        if row == self.cursor_row:
            self.action_select()
        elif row < len(self._rows):
            self.move_cursor(row)

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        first = self.first_column()
        wide = self._wide(width)
        widths = [self._long_width, *self._widths[1:]] if wide else self._widths
        drawn = (width, first, wide, tuple(widths), self.has_focus, self.app.theme)
        if drawn != self._drawn:  # what every line depends on changed: none is kept
            self._drawn, self._strips, self._styles = drawn, {}, {}
            self._layout = _shown(widths, width, first)
        if y == 0:
            return self._header(width)
        index = round(self.scroll_y) + y - 1
        if index >= len(self._rows):
            if index == 0 and self._placeholder:
                style = self._style("placeholder")
                return Strip([Segment(self._placeholder, style)]).crop_extend(0, width, style)
            return Strip.blank(width, self._style(""))
        row = self._rows[index]
        cursor = index == self.cursor_row
        marked = row.key in self._marked
        kept = self._strips.get(row.key)
        if kept is not None and kept[0] is row and kept[1] == (cursor, marked):
            return kept[2]
        kind = ("cursor-" if cursor else "") + ("marked-" if marked else "") + row.state
        cells = (row.long or row.cells[0], *row.cells[1:]) if wide else row.cells
        strip = self._strip(cells, kind, width)
        if len(self._strips) > MAX_KEPT_LINES:
            self._strips = {}
        self._strips[row.key] = (row, (cursor, marked), strip)
        return strip

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._drawn = None  # the styles of every line are looked up again

    def _style(self, kind: str) -> Style:
        """The style of a line: "header", "placeholder", or a row's state after "cursor-"
        and "marked-" where they apply."""
        style = self._styles.get(kind)
        if style is None:
            if kind in ("header", "placeholder"):
                style = self.rich_style + self.get_component_rich_style(f"resource-table--{kind}")
            else:
                state = kind.removeprefix("cursor-").removeprefix("marked-")
                style = self.rich_style
                if state:
                    part = f"resource-table--{state}"
                    style += self.get_component_rich_style(part, partial=True)
                if "marked-" in kind:
                    style += self.get_component_rich_style("resource-table--marked", partial=True)
                if kind.startswith("cursor-"):
                    style += self.get_component_rich_style("resource-table--cursor")
            self._styles[kind] = style
        return style

    def _header(self, width: int) -> Strip:
        """The column names, each sorting key underlined."""
        style = self._style("header")
        keyed = style + Style(underline=True)
        segments = []
        for index, cells, column_width in self._layout:
            label, key = self._labels[index], self._keys[index]
            text = _fit(label, cells, column_width) + " " * GAP
            at = label.upper().find(key) if key else -1
            if at < 0 or at >= cells - 1:
                segments.append(Segment(text, style))
            else:
                segments += [
                    Segment(text[:at], style),
                    Segment(text[at], keyed),
                    Segment(text[at + 1 :], style),
                ]
        return Strip(segments).crop_extend(0, width, style)

    def _strip(self, cells: tuple[str, ...], kind: str, width: int) -> Strip:
        style = self._style(kind)
        gap = " " * GAP
        text = "".join(
            _fit(cells[index], room, column_width) + gap
            for index, room, column_width in self._layout
        )
        return Strip([Segment(text, style)]).crop_extend(0, width, style)


def _shown(widths: list[int], width: int, first: int) -> list[tuple[int, int, int]]:
    """The columns of ``widths`` a line of ``width`` shows, scrolled to ``first``: each one's
    index, the cells it gets (less than its width for the one the edge cuts) and its width."""
    if not widths:
        return []
    shown, room = [(0, widths[0], widths[0])], width - widths[0] - GAP
    for index in range(first, len(widths)):
        if room <= 0:
            break
        shown.append((index, min(widths[index], room), widths[index]))
        room -= widths[index] + GAP
    return shown


def _measured(row: Row) -> tuple[str, ...]:
    return (*row.cells, row.long or row.cells[0])


def _widths(rows: Iterator[Row]) -> list[int]:
    """The terminal cells of each cell of ``rows`` and of its first cell's long form, row after
    row."""
    cells = list(chain.from_iterable(map(_measured, rows)))
    return list(map(len if "".join(cells).isascii() else cell_len, cells))


def _fit(text: str, room: int, width: int) -> str:
    """``text`` padded to ``width`` cells when ``room`` has them all; else cut to ``room`` with
    an ellipsis, never in the middle of a number: the number goes whole."""
    length = cell_len(text)
    if length <= room:
        return text + " " * (min(width, room) - length)
    kept = set_cell_size(text, max(0, room - 1)).rstrip(" ")
    rest = text[len(kept) :]
    if kept and rest and kept[-1].isdigit() and rest[0].isdigit():
        kept = kept.rstrip("0123456789")
    return set_cell_size(kept + "…", room)
