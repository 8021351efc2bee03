"""A DataTable brought to new rows keeps its cursor on the same row, by key."""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.widgets import DataTable

from tui.widgets.cursor_sync import sync_keeping_cursor


class TableApp(App[None]):
    def compose(self) -> ComposeResult:
        table: DataTable = DataTable(cursor_type="row")
        table.add_columns("key", "value")
        yield table


def rows(*keys: str, value: str = "v") -> list[tuple[str, tuple[str, str]]]:
    return [(key, (key, value)) for key in keys]


def cursor_key(table: DataTable) -> str:
    return str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)


async def test_changed_cells_are_updated_in_place() -> None:
    app = TableApp()
    async with app.run_test(size=(40, 12)) as pilot:
        table = app.query_one(DataTable)
        sync_keeping_cursor(table, rows("a", "b", "c"))
        table.move_cursor(row=1)
        sync_keeping_cursor(table, rows("a", "b", "c", value="w"))
        await pilot.pause()
        assert [str(cell) for cell in table.get_column_at(1)] == ["w", "w", "w"]
        assert cursor_key(table) == "b"


async def test_rows_leaving_and_arriving_keep_the_cursor_on_its_row() -> None:
    app = TableApp()
    async with app.run_test(size=(40, 12)) as pilot:
        table = app.query_one(DataTable)
        sync_keeping_cursor(table, rows("a", "b", "c", "d"))
        table.move_cursor(row=2)
        sync_keeping_cursor(table, rows("b", "c", "d", "e"))
        await pilot.pause()
        assert cursor_key(table) == "c"
        assert table.cursor_row == 1


async def test_reordered_rows_are_refilled_with_the_cursor_on_its_row() -> None:
    app = TableApp()
    async with app.run_test(size=(40, 12)) as pilot:
        table = app.query_one(DataTable)
        sync_keeping_cursor(table, rows("a", "b", "c"))
        table.move_cursor(row=0)
        sync_keeping_cursor(table, rows("c", "b", "a"))
        await pilot.pause()
        assert [str(row.key.value) for row in table.ordered_rows] == ["c", "b", "a"]
        assert cursor_key(table) == "a"
