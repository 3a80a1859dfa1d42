"""A view that is a table: ``/`` keeps the rows it matches, shift and a column's underlined
letter sort by it, space marks rows for actions on several at once, enter drills down, ctrl+s
saves the rows shown as CSV."""

from __future__ import annotations

from textual.app import ComposeResult

from console import actions
from console.model import Snapshot
from console.render.rows import Row
from console.render.tables import select, sort_rows, table_csv
from console.screens.base import ClusterScreen
from console.widgets.resource_table import ResourceTable

__all__ = ["ResourceScreen"]


class ResourceScreen(ClusterScreen):
    """A table of rows: ``/`` keeps the rows it matches, shift and a column's underlined letter
    sort by it, space marks rows, enter drills down, ctrl+s saves the rows shown as CSV."""

    COLUMNS: tuple[str, ...] = ()

    def __init__(self) -> None:
        super().__init__()
        self.sort_keys = actions.sort_keys(self.VIEW, self.COLUMNS)
        self.sorting: tuple[int, bool] | None = None  # by which column, and descending
        self.marks: set[str] = set()  # keys of the marked rows
        self._shown: list[Row] = []

    def body(self) -> ComposeResult:
        yield ResourceTable(self.COLUMNS, self.sort_keys, id="table")

    @property
    def table(self) -> ResourceTable:
        return self.query_one("#table", ResourceTable)

    def rows(self, snapshot: Snapshot) -> list[Row]:
        raise NotImplementedError

    def render_snapshot(self, snapshot: Snapshot) -> None:
        rows = self.rows(snapshot)
        if self.marks:  # a row gone takes its mark with it
            self.marks.intersection_update(row.key for row in rows)
            if not self.marks:
                self.refresh_bindings()
        shown = select(rows, self.pattern)
        if self.sorting is not None:
            shown = sort_rows(shown, *self.sorting)
        self._shown = shown
        nothing = self.pattern.nothing if rows and not shown else ""
        self.table.apply(shown, frozenset(self.marks), nothing)

    def status(self) -> str:
        marked = f" · {len(self.marks)} marked" if self.marks else ""
        return super().status() + marked

    def selected_key(self) -> str | None:
        return self.table.selected_key

    def targets(self) -> list[str]:
        """The keys an action acts on: the marked rows', in the order shown (marked rows the
        filter hides last), or the selected row's."""
        if not self.marks:
            key = self.selected_key()
            return [key] if key is not None else []
        shown = [row.key for row in self._shown if row.key in self.marks]
        return shown + sorted(self.marks.difference(shown))

    def focus_body(self) -> None:
        self.table.focus()

    def action_sort(self, column: int) -> None:
        """Sorts by ``column``; by the same column again, the other way."""
        descending = self.sorting is not None and self.sorting == (column, False)
        self.sorting = (column, descending)
        self.table.sort_by(column, descending)
        self.redraw()

    def action_mark(self) -> None:
        """Marks the selected row, or unmarks it, and moves to the next."""
        key = self.selected_key()
        if key is None:
            return
        self.marks.symmetric_difference_update((key,))
        self.table.action_cursor(1)
        self.redraw()
        self.refresh_bindings()  # esc clears the marks

    def action_save(self) -> None:
        """Saves the rows shown (filtered and sorted) as CSV."""
        text = table_csv(self.COLUMNS, self._shown)
        self.save(self.title or self.VIEW, ".csv", text, f"{len(self._shown)} rows")

    def can_go_back(self) -> bool:
        return bool(self.marks) or super().can_go_back()

    def action_back(self) -> None:
        """Clears the marks, or the filter, or goes back."""
        if self.marks:
            self.marks.clear()
            self.redraw()
            self.refresh_bindings()
            return
        super().action_back()
