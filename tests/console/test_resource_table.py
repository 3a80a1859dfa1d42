"""The virtual table: column widths follow the rows shown, the cursor follows its row."""

from __future__ import annotations

from textual.app import App, ComposeResult

from console.render.rows import Row
from console.widgets.resource_table import ResourceTable


class TableApp(App[None]):
    def compose(self) -> ComposeResult:
        yield ResourceTable(("NAME", "STATE"))


async def test_widths_grow_and_shrink_with_the_rows_and_the_cursor_keeps_its_row() -> None:
    app = TableApp()
    async with app.run_test(size=(60, 10)) as pilot:
        table = app.query_one(ResourceTable)
        short = [Row(f"k{i}", (f"n{i}", "ok")) for i in range(5)]
        table.apply(short)
        await pilot.pause()
        assert table._widths == [4, 5]  # the headers are the widest
        longer = list(short)
        longer[3] = Row("k3", ("a-much-longer-name", "ok"))
        table.apply(longer)
        assert table._widths == [18, 5]
        table.move_cursor(3)
        table.apply(list(short))  # the long one is gone again: its width with it
        assert table._widths == [4, 5]
        table.apply([short[4], short[3], short[0]])  # fewer rows, another order
        assert table.selected_key == "k3" and table.cursor_row == 1
        assert table.row_count == 3 and table._widths == [4, 5]
        await pilot.pause()


async def test_a_long_name_that_grows_moves_the_next_column_on_every_line() -> None:
    """Where the table has room for the long names, the longest one growing moves the next
    column on every line, those of unchanged rows too, so that it stays under its header."""
    app = TableApp()
    async with app.run_test(size=(60, 10)) as pilot:
        table = app.query_one(ResourceTable)
        rows = [Row(f"k{i}", (f"n{i}", "ok"), long=f"n{i}.long") for i in range(3)]
        table.apply(rows)
        await pilot.pause()
        table.apply([*rows[:2], Row("k2", ("n2", "ok"), long="n2.a-much-longer-name")])
        await pilot.pause()
        header, *lines = [table.render_line(y).text for y in range(4)]
        assert {line.index("ok") for line in lines} == {header.index("STATE")}
