"""The SQL screen: a read-only console over the DuckDB catalog, results in a table, a query history.

The catalog is the session's data directory's (``view.session.data_dir``): the
UI runs beside the session, so it reads the same lake and runs that
``tickdeck sql`` does, through the same ``storage.catalog`` (which refuses
anything but SELECT). Queries run in a worker thread (``tui.sql_console``),
so a slow one never holds up the screen; a new query interrupts the one still
running. A SQL error, a refused write or a missing view is shown where the
result would be; the app goes on.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Final

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.widgets import Button, DataTable, Input, OptionList, Static, TabbedContent, TabPane
from textual.worker import get_current_worker

from storage.catalog import CatalogError
from tui.screens.base import DeskScreen
from tui.sql_console import QueryCancelled, QueryResult, SqlConsole
from tui.view import DeskView
from tui.widgets.query_input import QueryInput

__all__ = ["SqlScreen", "describe_result"]

_PLACEHOLDER: Final = "SELECT * FROM bars_1m LIMIT 10  (i: edit · enter: run · up/down: history)"
_RESULTS_TAB: Final = "sql-results-tab"


def describe_result(result: QueryResult) -> str:
    """The line under the query: how many rows, how many shown, how long it took."""
    if result.total > len(result.rows):
        rows = f"showing {len(result.rows):,} of {result.total:,} rows"
    else:
        rows = f"{result.total:,} row{'' if result.total == 1 else 's'}"
    return f"{rows} · {result.seconds * 1000:,.0f} ms"


class SqlScreen(DeskScreen):
    CSS_PATH = "sql.tcss"
    # The table, not the query line, has the focus on arrival: while a text field has
    # it, the app's one-key controls and screen keys (1..6) are typed instead.
    AUTO_FOCUS = "#sql-result"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("i", "edit_query", "Edit query"),
        Binding("escape", "leave_query", "Cancel / leave query", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.data_dir: Path | None = None
        self.console = SqlConsole()
        self.last_query = ""

    def compose(self) -> ComposeResult:
        with Horizontal(id="sql-bar"):
            yield QueryInput(placeholder=_PLACEHOLDER, id="sql-query")
            yield Button("Run", id="sql-run", variant="primary")
        yield Static("type a query and press enter", id="sql-status", markup=False)
        with TabbedContent(id="sql-tabs"):
            with TabPane("Results", id=_RESULTS_TAB):
                yield DataTable[Text](id="sql-result", zebra_stripes=True)
            with TabPane("History", id="sql-history-tab"):
                yield OptionList(id="sql-history", markup=False)

    def on_unmount(self) -> None:
        self.console.cancel()  # a query left running would hold its thread after the app

    def show(self, view: DeskView) -> None:
        self.data_dir = Path(view.session.data_dir)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.run_query(event.value)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.run_query(self.query_one("#sql-query", QueryInput).value)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        """Re-run a query picked from the history."""
        event.stop()
        query = self.query_one("#sql-query", QueryInput)
        query.value = query.history[-1 - event.option_index]
        self.query_one("#sql-tabs", TabbedContent).active = _RESULTS_TAB
        self.run_query(query.value)

    def action_edit_query(self) -> None:
        self.query_one("#sql-query", QueryInput).focus()

    def action_leave_query(self) -> None:
        """Interrupt the running query, if any, and hand the keys back to the desk."""
        self.console.cancel()
        self.query_one("#sql-result", DataTable).focus()

    def run_query(self, sql: str) -> None:
        """Run ``sql`` in a worker thread; its result (or error) replaces the table's."""
        sql = sql.strip()
        if not sql:
            return
        if self.data_dir is None:
            self._status("no session yet: its data directory is not known", error=True)
            return
        self.last_query = sql
        self._remember(sql)
        self._status("running…")
        data_dir = self.data_dir
        self.run_worker(
            lambda: self._execute(data_dir, sql),
            thread=True,
            group="sql",
            exit_on_error=False,
            name="sql-query",
        )

    def _execute(self, data_dir: Path, sql: str) -> None:
        """The worker thread: the query's result or error goes back to the UI thread."""
        worker = get_current_worker()
        try:
            result = self.console.run(data_dir, sql)
        except QueryCancelled:
            if not worker.is_cancelled:
                self.app.call_from_thread(self._cancelled, sql)
            return
        except CatalogError as error:
            self.app.call_from_thread(self._failed, sql, str(error))
            return
        except Exception as error:  # shown in place; the app goes on
            self.app.call_from_thread(self._failed, sql, f"{type(error).__name__}: {error}")
            return
        self.app.call_from_thread(self._succeeded, sql, result)

    def _succeeded(self, sql: str, result: QueryResult) -> None:
        if sql != self.last_query:
            return  # a newer query owns the table
        table = self.query_one("#sql-result", DataTable)
        table.clear(columns=True)
        # As Text, not str: a DataTable reads a str as markup, and data is not markup.
        table.add_columns(*(Text(name) for name in result.columns))
        justify = ["right" if numeric else "left" for numeric in result.numeric]
        table.add_rows(
            [Text(cell, justify=side) for cell, side in zip(row, justify, strict=True)]
            for row in result.rows
        )
        self._status(describe_result(result))

    def _failed(self, sql: str, message: str) -> None:
        if sql == self.last_query:
            self._status(f"error: {message}", error=True)

    def _cancelled(self, sql: str) -> None:
        if sql == self.last_query:
            self._status("cancelled", error=True)

    def _remember(self, sql: str) -> None:
        query = self.query_one("#sql-query", QueryInput)
        query.remember(sql)
        history = self.query_one("#sql-history", OptionList)
        history.clear_options()
        history.add_options(reversed(query.history))

    def _status(self, text: str, *, error: bool = False) -> None:
        status = self.query_one("#sql-status", Static)
        status.update(text)
        status.set_class(error, "error")
