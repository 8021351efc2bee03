"""The Backtests screen: runs and their metrics, a run's curve and trades, new runs in a worker.

The list is read from ``<data_dir>/runs/*/`` (``tui.runs``), so runs made by
``tickdeck backtest`` show up beside the ones started here. A new backtest runs
in a worker thread: the UI only draws its progress and, when it ends, reloads
the list and selects the new run, or shows why it could not run where the run
would have appeared.

``tui`` never imports ``app``: running a backtest is the ``BacktestLauncher``'s
job, which the app injects (``app.desk_backtests.DeskBacktests``, built from the
settings the session started with). Without one the screen still lists and
opens runs, and says that starting one is unavailable.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import ClassVar, Final, Protocol

import msgspec
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.widgets import Button, DataTable, ProgressBar, Static, TabbedContent, TabPane

from tui.runs import RunSummary, list_runs, read_config, read_equity, read_fills
from tui.screens.backtest_form import BacktestFormScreen
from tui.screens.base import DeskScreen
from tui.view import DeskView
from tui.widgets.run_equity_chart import RunEquityChart

__all__ = [
    "BacktestLauncher",
    "BacktestOutcome",
    "BacktestRequest",
    "BacktestsScreen",
    "Progress",
    "run_cells",
]

Progress = Callable[[int, int], None]
"""Told ``(bars_done, bars_total)`` by a running backtest, from its thread."""

_RUN_COLUMNS: Final = (
    "strategy", "symbols", "period", "return", "max dd", "sharpe", "trades", "fingerprint",
)  # fmt: skip
_NUMERIC_RUN_COLUMNS: Final = frozenset((3, 4, 5, 6))
_FILL_COLUMNS: Final = ("time", "side", "symbol", "price", "quantity", "fee", "liq")
_FINGERPRINT_SHOWN: Final = 8


class BacktestRequest(msgspec.Struct, frozen=True, kw_only=True):
    """What to backtest. Dates are ``YYYY-MM-DD`` UTC days (``end`` exclusive), as typed:
    the launcher validates them with the settings. ``base_run`` is the directory of a
    run whose saved config the new one starts from ("" for the session's settings)."""

    strategy: str
    symbols: tuple[str, ...]
    interval: str
    start: str
    end: str
    params: dict[str, str | int | float | bool] = {}
    base_run: str = ""


class BacktestOutcome(msgspec.Struct, frozen=True, kw_only=True):
    """How a launched backtest ended: its run directory, or why it did not run."""

    run_dir: str = ""
    error: str = ""
    bars: int = 0
    fills: int = 0

    @property
    def run_id(self) -> str:
        return Path(self.run_dir).name if self.run_dir else ""


class BacktestLauncher(Protocol):
    def defaults(self) -> BacktestRequest:
        """The new-backtest form's prefill: the session's strategy, symbols and range."""
        ...

    def launch(self, request: BacktestRequest, progress: Progress) -> BacktestOutcome:
        """Run ``request`` to the end and write its run directory; called in a worker
        thread. A request that cannot run (bad parameters, no data) is an outcome with
        ``error``, not an exception."""
        ...


def run_cells(run: RunSummary) -> tuple[str, ...]:
    """A run's row in the list, in ``_RUN_COLUMNS`` order."""
    if run.problem:
        return ("?", "", run.run_id, "", "", "", "", run.problem)
    return (
        run.strategy,
        ",".join(run.symbols),
        _period(run.start, run.end),
        f"{run.total_return:+.2%}",
        f"{run.max_drawdown:.2%}",
        f"{run.sharpe:.2f}",
        str(run.trades),
        run.fingerprint[:_FINGERPRINT_SHOWN],
    )


class BacktestsScreen(DeskScreen):
    CSS_PATH = "backtests.tcss"
    AUTO_FOCUS = "#bt-runs"  # enter opens a run, rather than pressing the first button
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("n", "new_backtest", "New backtest"),
        Binding("e", "rerun", "Re-run with params"),
        Binding("l", "reload", "Reload runs"),
    ]

    def __init__(self, launcher: BacktestLauncher | None) -> None:
        super().__init__()
        self.launcher = launcher
        self.data_dir: Path | None = None
        self.runs: list[RunSummary] = []
        self.opened: RunSummary | None = None
        self.running = False
        self._mounted = False

    def compose(self) -> ComposeResult:
        with Horizontal(id="bt-toolbar"):
            yield Button("New backtest", id="bt-new", variant="primary", compact=True)
            yield Button("Re-run with params", id="bt-rerun", compact=True)
            yield Button("Reload", id="bt-reload", compact=True)
            # Hidden until a backtest starts: an idle bar would only say "--%".
            yield ProgressBar(id="bt-progress", show_eta=False, classes="idle")
        yield Static("", id="bt-status", markup=False)
        runs = DataTable[Text](id="bt-runs", cursor_type="row", zebra_stripes=True)
        runs.add_columns(*_RUN_COLUMNS)
        yield runs
        with TabbedContent(id="bt-detail"):
            with TabPane("Equity", id="bt-equity-tab"):
                yield RunEquityChart(id="bt-equity", empty_text="open a run (enter) to see it")
            with TabPane("Trades", id="bt-trades-tab"):
                fills = DataTable[str | Text](id="bt-fills", cursor_type="row")
                fills.add_columns(*_FILL_COLUMNS)
                yield fills

    def on_mount(self) -> None:
        self._mounted = True
        if self.data_dir is not None:
            self.reload()

    def show(self, view: DeskView) -> None:
        data_dir = Path(view.session.data_dir)
        if data_dir != self.data_dir:
            self.data_dir = data_dir
            if self._mounted:  # else on_mount reads the runs
                self.reload()

    def on_screen_resume(self) -> None:
        if self._mounted and self.data_dir is not None:
            self.reload()

    # --- the list ----------------------------------------------------------------------

    def reload(self, select: str = "") -> None:
        """Read the runs again; keep the cursor on the run it was on, or on ``select``."""
        table = self.query_one("#bt-runs", DataTable)
        current = select or self._cursor_run_id()
        self.runs = list_runs(self.data_dir) if self.data_dir is not None else []
        table.clear()
        for run in self.runs:
            # As Text, not str: a DataTable reads a str as markup, and file contents are not.
            cells = [
                Text(cell, justify="right" if index in _NUMERIC_RUN_COLUMNS else "left")
                for index, cell in enumerate(run_cells(run))
            ]
            table.add_row(*cells, key=run.run_id)
        ids = [run.run_id for run in self.runs]
        if current in ids:
            table.move_cursor(row=ids.index(current))
        if not self.running and not self._status_is_error():
            self._status(f"{len(self.runs)} runs" if self.runs else self._no_runs())

    def _no_runs(self) -> str:
        return "no runs yet: start one with New backtest (n), or `tickdeck backtest`"

    def _cursor_run_id(self) -> str:
        table = self.query_one("#bt-runs", DataTable)
        if not self.runs or table.cursor_row < 0 or table.cursor_row >= len(self.runs):
            return ""
        return self.runs[table.cursor_row].run_id

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.data_table.id == "bt-runs" and event.row_key.value is not None:
            event.stop()
            self.open_run(event.row_key.value)

    def open_run(self, run_id: str) -> None:
        """Show the run's equity curve and its fills."""
        run = next((run for run in self.runs if run.run_id == run_id), None)
        if run is None:
            return
        chart = self.query_one("#bt-equity", RunEquityChart)
        fills_table = self.query_one("#bt-fills", DataTable)
        fills_table.clear()
        try:
            equity = read_equity(Path(run.path))
            fills = read_fills(Path(run.path))
        except (OSError, ValueError, KeyError) as error:
            chart.plot(())
            self.opened = None
            self._status(f"cannot open {run.run_id}: {error}", error=True)
            return
        self.opened = run
        chart.plot(equity)
        for number, fill in enumerate(fills):
            fills_table.add_row(
                _time(fill.ts), Text(fill.side), Text(fill.symbol), _amount(fill.price),
                _amount(fill.quantity), _amount(fill.fee), Text(fill.liquidity[:1]),
                key=str(number),
            )  # fmt: skip
        self._status(
            f"{run.strategy} {','.join(run.symbols)} {_period(run.start, run.end)}: "
            f"{len(fills)} fills, {run.trades} trades"
        )

    # --- new runs ----------------------------------------------------------------------

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        actions = {
            "bt-new": self.action_new_backtest,
            "bt-rerun": self.action_rerun,
            "bt-reload": self.action_reload,
        }
        action = actions.get(event.button.id or "")
        if action is not None:
            action()

    def action_reload(self) -> None:
        if not self.running:
            self._status("")  # a reload asked for clears an old error
        self.reload()

    def action_new_backtest(self) -> None:
        if self._refused():
            return
        assert self.launcher is not None
        try:
            request = self.launcher.defaults()
        except Exception as error:  # a launcher's failure is shown, never raised
            self._status(f"cannot prepare a backtest: {_describe(error)}", error=True)
            return
        self.app.push_screen(BacktestFormScreen(request), self._form_answered)

    def action_rerun(self) -> None:
        if self._refused():
            return
        run_id = self.opened.run_id if self.opened is not None else self._cursor_run_id()
        run = next((run for run in self.runs if run.run_id == run_id), None)
        if run is None:
            self._status("select a run to re-run first", error=True)
            return
        try:
            config = read_config(Path(run.path))
        except ValueError as error:
            self._status(str(error), error=True)
            return
        request = BacktestRequest(
            strategy=config.strategy, symbols=config.symbols, interval=config.interval,
            start=config.start, end=config.end, params=config.params, base_run=run.path,
        )  # fmt: skip
        self.app.push_screen(
            BacktestFormScreen(request, title=f"Re-run {run.run_id}"), self._form_answered
        )

    def _refused(self) -> bool:
        if self.launcher is None:
            self._status("new backtests are unavailable here (no launcher)", error=True)
            return True
        if self.running:
            self._status("a backtest is already running", error=True)
            return True
        return False

    def _form_answered(self, request: BacktestRequest | None) -> None:
        if request is not None:
            self.start(request)

    def start(self, request: BacktestRequest) -> None:
        """Run ``request`` through the launcher in a worker thread."""
        if self._refused():
            return
        self.running = True
        bar = self.query_one("#bt-progress", ProgressBar)
        bar.update(total=None, progress=0)
        bar.remove_class("idle")
        self._status(f"running {request.strategy} on {','.join(request.symbols)}…")
        self.run_worker(
            lambda: self._launch(request),
            thread=True,
            group="backtest",
            exit_on_error=False,
            name="backtest",
        )

    def _launch(self, request: BacktestRequest) -> None:
        """The worker thread: run, then hand the outcome to the UI thread."""
        assert self.launcher is not None
        try:
            outcome = self.launcher.launch(request, self._progress_from_thread)
        except Exception as error:  # shown in place; the app goes on
            outcome = BacktestOutcome(error=_describe(error))
        self.app.call_from_thread(self._finished, outcome)

    def _progress_from_thread(self, done: int, total: int) -> None:
        self.app.call_from_thread(self._show_progress, done, total)

    def _show_progress(self, done: int, total: int) -> None:
        self.query_one("#bt-progress", ProgressBar).update(total=max(total, 1), progress=done)

    def _finished(self, outcome: BacktestOutcome) -> None:
        self.running = False
        if outcome.error:
            self.query_one("#bt-progress", ProgressBar).add_class("idle")
            self._status(f"backtest failed: {outcome.error}", error=True)
            return
        self.reload(select=outcome.run_id)
        self.open_run(outcome.run_id)
        self._status(f"finished {outcome.run_id}: {outcome.bars:,} bars, {outcome.fills:,} fills")

    # --- helpers -----------------------------------------------------------------------

    def _status(self, text: str, *, error: bool = False) -> None:
        status = self.query_one("#bt-status", Static)
        status.update(text)
        status.set_class(error, "error")

    def _status_is_error(self) -> bool:
        return self.query_one("#bt-status", Static).has_class("error")


def _period(start: str, end: str) -> str:
    """``2024-01-01 +2d``: the first day and how many days (end exclusive)."""
    try:
        days = (dt.date.fromisoformat(end) - dt.date.fromisoformat(start)).days
    except ValueError:
        return f"{start}→{end}"
    return f"{start} +{days}d"


def _time(ts: int) -> str:
    return dt.datetime.fromtimestamp(ts / 1e9, dt.UTC).strftime("%Y-%m-%d %H:%M")


def _amount(value: Decimal) -> Text:
    """Exact, without the Parquet column's trailing zeros."""
    return Text(f"{value.normalize():f}", justify="right")


def _describe(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return text if isinstance(error, ValueError) and text else f"{type(error).__name__}: {text}"
