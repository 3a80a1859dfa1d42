"""A DataTable that takes whole row lists and applies only the difference, by key.

Rows keep their place and the cursor stays on its row across refreshes. Each row's state
("ok", "bad", ...) colours its cells from the theme's ``state-*`` variables.
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import DataTable

from console.render.rows import Row
from themes import theme_colour

__all__ = ["ResourceTable"]

STATE_VARIABLES = {
    "ok": "state-ok",
    "warn": "state-warn",
    "bad": "state-bad",
    "off": "state-off",
    "busy": "state-busy",
}


class ResourceTable(DataTable[Text]):
    DEFAULT_CSS = """
    ResourceTable { height: 1fr; }
    """

    def __init__(self, columns: tuple[str, ...], **kwargs: object) -> None:
        super().__init__(cursor_type="row", zebra_stripes=False, **kwargs)  # type: ignore[arg-type]
        self._columns = columns
        self._rows: dict[str, Row] = {}
        self._order: list[str] = []

    def on_mount(self) -> None:
        for index, label in enumerate(self._columns):
            self.add_column(label, key=str(index))

    @property
    def selected_key(self) -> str | None:
        if not self._order or self.cursor_row < 0 or self.cursor_row >= self.row_count:
            return None
        key = self.coordinate_to_cell_key((self.cursor_row, 0)).row_key.value
        return key

    def _styled(self, row: Row) -> list[Text]:
        variable = STATE_VARIABLES.get(row.state)
        colour = theme_colour(self.app.current_theme, variable) if variable else ""
        return [Text(cell, style=colour, no_wrap=True, overflow="ellipsis") for cell in row.cells]

    def apply(self, rows: list[Row]) -> None:
        """Shows ``rows``: removes the gone, adds the new, changes only the cells that differ."""
        wanted = {row.key: row for row in rows}
        for key in [key for key in self._rows if key not in wanted]:
            self.remove_row(key)
            del self._rows[key]
        for row in rows:
            old = self._rows.get(row.key)
            if old is row:
                continue  # the same row object: a renderer reused it, nothing changed
            if old is None:
                self.add_row(*self._styled(row), key=row.key)
            elif old != row:
                for index, cell in enumerate(self._styled(row)):
                    if old.cells[index] != row.cells[index] or old.state != row.state:
                        self.update_cell(row.key, str(index), cell)
            self._rows[row.key] = row
        order = [row.key for row in rows]
        if order != self._order:
            self._order = order
            rank = {id(self.get_cell(key, "0")): index for index, key in enumerate(order)}
            self.sort("0", key=lambda first: rank.get(id(first), len(rank)))
