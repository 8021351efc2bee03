"""The SQL screen: a query's rows in the table, errors and refused writes in place, the
history recalled with up and from its list; over a real catalog of sample bars."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import msgspec
import pytest
from rich.text import Text
from textual.app import App
from textual.widgets import DataTable, Input, OptionList, Static

import tui.sql_console
from storage.sample import write_sample
from tests.tui.conftest import sample_view
from tui.screens.sql import SqlScreen
from tui.sql_console import ROW_LIMIT
from tui.view import DeskView

START = dt.date(2024, 1, 1)


class SqlApp(App[None]):
    """The SQL screen alone, shown a view whose data directory is ``data_dir``."""

    def __init__(self, data_dir: Path) -> None:
        super().__init__()
        view = sample_view()
        session = msgspec.structs.replace(view.session, data_dir=str(data_dir))
        self.view: DeskView = msgspec.structs.replace(view, session=session)
        self.screen_under_test = SqlScreen()

    def on_mount(self) -> None:
        self.push_screen(self.screen_under_test)
        self.screen_under_test.show(self.view)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    write_sample(tmp_path, "BTCUSDT", START, 2, seed=7)
    return tmp_path


async def run_query(app: SqlApp, pilot, query: str) -> None:  # type: ignore[no-untyped-def]
    screen = app.screen_under_test
    field = screen.query_one("#sql-query")
    field.focus()
    field.value = query
    await pilot.press("enter")
    await app.workers.wait_for_complete()
    await pilot.pause()


def cells(table: DataTable) -> list[list[str]]:
    return [[str(cell) for cell in table.get_row_at(row)] for row in range(table.row_count)]


def status(app: SqlApp) -> str:
    return str(app.screen_under_test.query_one("#sql-status", Static).render())


async def test_a_query_shows_its_rows_and_columns(data_dir: Path) -> None:
    app = SqlApp(data_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        await run_query(
            app,
            pilot,
            "SELECT symbol, date, count(*) AS bars FROM bars_1m GROUP BY ALL ORDER BY date",
        )
        table = app.screen_under_test.query_one("#sql-result", DataTable)
        assert [str(column.label) for column in table.columns.values()] == [
            "symbol",
            "date",
            "bars",
        ]
        assert cells(table) == [
            ["BTCUSDT", "2024-01-01", "1440"],
            ["BTCUSDT", "2024-01-02", "1440"],
        ]
        assert status(app).startswith("2 rows · ")


async def test_a_long_result_is_capped_and_says_how_many_rows_there_are(data_dir: Path) -> None:
    app = SqlApp(data_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        await run_query(app, pilot, "SELECT open_time, close FROM bars_1m ORDER BY open_time")
        table = app.screen_under_test.query_one("#sql-result", DataTable)
        assert table.row_count == ROW_LIMIT
        assert cells(table)[0][0] == "2024-01-01 00:00:00+00"
        assert status(app).startswith(f"showing {ROW_LIMIT:,} of 2,880 rows · ")


async def test_a_bad_query_shows_its_error_in_place_and_the_app_goes_on(data_dir: Path) -> None:
    app = SqlApp(data_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        await run_query(app, pilot, "SELECT count(*) FROM bars_1m")
        await run_query(app, pilot, "SELEC nonsense FROM")
        assert status(app).startswith("error: Parser Error: syntax error")
        await run_query(app, pilot, "SELECT * FROM no_such_table")
        assert "no_such_table" in status(app) and "views: bars_1m" in status(app)
        assert app.screen_under_test.query_one("#sql-status").has_class("error")
        # The previous result stays; the next good query replaces the error.
        await run_query(app, pilot, "SELECT 41 + 1 AS answer")
        assert cells(app.screen_under_test.query_one("#sql-result", DataTable)) == [["42"]]
        assert not app.screen_under_test.query_one("#sql-status").has_class("error")
        assert app.is_running


@pytest.mark.parametrize(
    "statement",
    [
        "CREATE TABLE evil AS SELECT 1",
        "INSERT INTO bars_1m SELECT * FROM bars_1m",
        "COPY (SELECT 1) TO 'out.csv'",
        "ATTACH 'other.duckdb' AS other",
        "DROP VIEW bars_1m",
    ],
)
async def test_a_write_is_refused_and_changes_nothing(data_dir: Path, statement: str) -> None:
    app = SqlApp(data_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        await run_query(app, pilot, statement)
        assert status(app).startswith("error: the catalog is read-only")
        await run_query(app, pilot, "SELECT count(*) AS n FROM bars_1m")
        assert cells(app.screen_under_test.query_one("#sql-result", DataTable)) == [["2880"]]
    assert not (data_dir / "out.csv").exists() and not (data_dir / "other.duckdb").exists()


async def test_up_and_down_recall_earlier_queries(data_dir: Path) -> None:
    app = SqlApp(data_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        await run_query(app, pilot, "SELECT 1 AS one")
        await run_query(app, pilot, "SELECT 2 AS two")
        field = app.screen_under_test.query_one("#sql-query")
        field.value = "SELECT 3"
        await pilot.press("up")
        assert field.value == "SELECT 2 AS two"
        await pilot.press("up")
        assert field.value == "SELECT 1 AS one"
        await pilot.press("down", "down")
        assert field.value == "SELECT 3"
        await pilot.press("up", "up", "enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert cells(app.screen_under_test.query_one("#sql-result", DataTable)) == [["1"]]


async def test_picking_a_query_from_the_history_list_runs_it_again(data_dir: Path) -> None:
    app = SqlApp(data_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        await run_query(app, pilot, "SELECT 'first' AS which")
        await run_query(app, pilot, "SELECT 'second' AS which")
        await pilot.click("Tab#--content-tab-sql-history-tab")
        history = app.screen_under_test.query_one("#sql-history", OptionList)
        assert [str(history.get_option_at_index(i).prompt) for i in range(2)] == [
            "SELECT 'second' AS which",
            "SELECT 'first' AS which",
        ]
        history.focus()
        history.highlighted = 1
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert cells(app.screen_under_test.query_one("#sql-result", DataTable)) == [["first"]]


async def test_text_that_looks_like_markup_is_shown_as_it_is(data_dir: Path) -> None:
    app = SqlApp(data_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        await run_query(app, pilot, "SELECT '[bold]x[/bold] [/oops]' AS \"[red]\"")
        table = app.screen_under_test.query_one("#sql-result", DataTable)
        assert cells(table) == [["[bold]x[/bold] [/oops]"]]
        assert isinstance(table.get_row_at(0)[0], Text)


def test_the_sql_screen_snapshot(
    snap_compare, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(tui.sql_console, "perf_counter", lambda: 0.0)

    async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
        await run_query(
            pilot.app,
            pilot,
            "SELECT symbol, open_time, open, high, low, close, trades FROM bars_1m "
            "ORDER BY open_time LIMIT 40",
        )
        await pilot.press("escape")  # the table takes the focus: no blinking cursor drawn

    assert snap_compare(SqlApp(data_dir), terminal_size=(100, 30), run_before=run_before)


async def test_the_table_has_the_focus_on_arrival_and_escape_gives_it_back(
    data_dir: Path,
) -> None:
    app = SqlApp(data_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen_under_test
        assert app.focused is screen.query_one("#sql-result")
        await pilot.press("i")
        assert app.focused is screen.query_one("#sql-query")
        await pilot.press("h", "1")  # typed, not taken as the desk's keys
        assert screen.query_one("#sql-query", Input).value == "h1"
        await pilot.press("escape")
        assert app.focused is screen.query_one("#sql-result")


async def test_a_new_query_interrupts_a_slow_one(data_dir: Path) -> None:
    app = SqlApp(data_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen_under_test
        started = time.monotonic()
        screen.run_query("SELECT sum(i * i) FROM range(20000000000) t(i)")
        await pilot.pause(0.3)
        await run_query(app, pilot, "SELECT 'quick' AS which")
        assert time.monotonic() - started < 10
        assert cells(screen.query_one("#sql-result", DataTable)) == [["quick"]]
        assert status(app).startswith("1 row · ")
