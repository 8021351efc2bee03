"""The Backtests screen over real run directories: the list and its metrics, a run's curve and
trades, a new backtest through the real launcher in the background, errors in place."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import threading
from pathlib import Path

import msgspec
import pyarrow.parquet as pq
import pytest
from textual.app import App
from textual.widgets import DataTable, Input, ProgressBar, Static

from app.backtest import run_backtest
from app.desk_backtests import DeskBacktests
from app.settings import Settings, load_settings
from storage.sample import write_sample
from tests.tui.conftest import sample_view
from tui.screens.backtest_form import BacktestFormScreen
from tui.screens.backtests import (
    BacktestLauncher,
    BacktestOutcome,
    BacktestRequest,
    BacktestsScreen,
    Progress,
)
from tui.view import DeskView
from tui.widgets.run_equity_chart import RunEquityChart

START = dt.date(2024, 1, 1)


def settings_for(data_dir: Path, **params: object) -> Settings:
    return load_settings(
        None,
        {
            "data.dir": str(data_dir),
            "backtest.start": "2024-01-01",
            "backtest.end": "2024-01-03",
            "strategy.params": {"fast": 5, "slow": 20, "quantity": "0.01", **params},
        },
    )


@pytest.fixture(scope="module")
def runs_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Sample bars and two real runs (fast 5 then fast 8); tests copy it before writing."""
    data_dir = tmp_path_factory.mktemp("runs")
    write_sample(data_dir, "BTCUSDT", START, 2, seed=7)
    run_backtest(settings_for(data_dir))
    run_backtest(settings_for(data_dir, fast=8))
    return data_dir


@pytest.fixture
def data_dir(runs_data: Path, tmp_path: Path) -> Path:
    target = tmp_path / "data"
    shutil.copytree(runs_data, target)
    return target


def run_dirs(data_dir: Path) -> list[Path]:
    """Newest first, as the screen lists them."""
    manifests = [json.loads(p.read_text()) for p in (data_dir / "runs").glob("*/manifest.json")]
    manifests.sort(key=lambda m: m["started_at"], reverse=True)
    return [data_dir / "runs" / m["run_id"] for m in manifests]


class BacktestsApp(App[None]):
    def __init__(self, data_dir: Path, launcher: BacktestLauncher | None) -> None:
        super().__init__()
        view = sample_view()
        session = msgspec.structs.replace(view.session, data_dir=str(data_dir))
        self.view: DeskView = msgspec.structs.replace(view, session=session)
        self.screen_under_test = BacktestsScreen(launcher)

    def on_mount(self) -> None:
        self.push_screen(self.screen_under_test)
        self.screen_under_test.show(self.view)


class RecordingLauncher:
    """The real launcher, recording the progress it reports."""

    def __init__(self, settings: Settings) -> None:
        self.real = DeskBacktests(settings)
        self.progress: list[tuple[int, int]] = []

    def defaults(self) -> BacktestRequest:
        return self.real.defaults()

    def launch(self, request: BacktestRequest, progress: Progress) -> BacktestOutcome:
        def told(done: int, total: int) -> None:
            self.progress.append((done, total))
            progress(done, total)

        return self.real.launch(request, told)


def rows(table: DataTable) -> list[list[str]]:
    return [[str(cell) for cell in table.get_row_at(row)] for row in range(table.row_count)]


def status(screen: BacktestsScreen) -> str:
    return str(screen.query_one("#bt-status", Static).render())


async def test_the_list_shows_each_run_with_its_metrics_newest_first(data_dir: Path) -> None:
    app = BacktestsApp(data_dir, None)
    async with app.run_test(size=(80, 24)):
        table = app.screen_under_test.query_one("#bt-runs", DataTable)
        expected = []
        for run_dir in run_dirs(data_dir):
            metrics = json.loads((run_dir / "metrics.json").read_text())
            expected.append(
                [
                    "sma_cross",
                    "BTCUSDT",
                    "2024-01-01 +2d",
                    f"{metrics['total_return']:+.2%}",
                    f"{metrics['max_drawdown']:.2%}",
                    f"{metrics['sharpe']:.2f}",
                    str(metrics["trades"]),
                    metrics["fingerprint"][:8],
                ]
            )
        assert rows(table) == expected
        assert expected[0] != expected[1]
        assert [str(key.value) for key in table.rows] == [p.name for p in run_dirs(data_dir)]


async def test_opening_a_run_shows_its_trades_and_equity_curve(data_dir: Path) -> None:
    app = BacktestsApp(data_dir, None)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen_under_test
        screen.query_one("#bt-runs", DataTable).focus()
        await pilot.press("down", "enter")
        await pilot.pause()
        run_dir = run_dirs(data_dir)[1]
        fills = pq.read_table(run_dir / "fills.parquet").to_pylist()
        equity = pq.read_table(run_dir / "equity.parquet").column("equity").to_pylist()
        assert screen.opened is not None and screen.opened.run_id == run_dir.name
        trades = rows(screen.query_one("#bt-fills", DataTable))
        assert len(trades) == len(fills) > 0
        first = fills[0]
        assert trades[0] == [
            first["ts"].strftime("%Y-%m-%d %H:%M"),
            first["side"],
            "BTCUSDT",
            f"{first['price'].normalize():f}",
            f"{first['quantity'].normalize():f}",
            f"{first['fee'].normalize():f}",
            first["liquidity"][:1],
        ]
        chart = screen.query_one("#bt-equity", RunEquityChart)
        assert chart.points == tuple(float(value) for value in equity)
        assert "fills" in status(screen)


async def test_a_new_backtest_runs_in_the_background_and_is_selected(data_dir: Path) -> None:
    launcher = RecordingLauncher(settings_for(data_dir))
    app = BacktestsApp(data_dir, launcher)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen_under_test
        await pilot.press("n")
        await pilot.pause()
        form = app.screen
        assert isinstance(form, BacktestFormScreen)
        assert form.query_one("#form-params", Input).value == "fast=5 quantity=0.01 slow=20"
        form.query_one("#form-params", Input).value = "fast=3 slow=12 quantity=0.01"
        await pilot.click("#form-run")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert app.screen is screen
        assert launcher.progress[0] == (0, 2880) and launcher.progress[-1] == (2880, 2880)
        bar = screen.query_one("#bt-progress", ProgressBar)
        assert (bar.progress, bar.total) == (2880, 2880)
        table = screen.query_one("#bt-runs", DataTable)
        assert table.row_count == 3
        newest = run_dirs(data_dir)[0]
        assert str(table.coordinate_to_cell_key((table.cursor_row, 0)).row_key.value) == (
            newest.name
        )
        config = (newest / "config.toml").read_text()
        assert "fast = 3" in config and "slow = 12" in config
        assert screen.opened is not None and screen.opened.run_id == newest.name
        assert status(screen).startswith(f"finished {newest.name}: 2,880 bars")


async def test_the_ui_stays_responsive_while_a_backtest_runs(data_dir: Path) -> None:
    class Held(RecordingLauncher):
        """Reports some progress, then holds the worker thread until released."""

        def __init__(self, settings: Settings) -> None:
            super().__init__(settings)
            self.halfway = threading.Event()
            self.release = threading.Event()

        def launch(self, request: BacktestRequest, progress: Progress) -> BacktestOutcome:
            self.halfway.set()
            progress(1440, 2880)
            assert self.release.wait(10)
            return super().launch(request, progress)

    launcher = Held(settings_for(data_dir))
    app = BacktestsApp(data_dir, launcher)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen_under_test
        screen.start(launcher.defaults())
        bar = screen.query_one("#bt-progress", ProgressBar)
        for _ in range(500):
            if bar.progress:
                break
            await pilot.pause(0.01)
        assert (bar.progress, bar.total) == (1440, 2880)
        assert screen.running
        await pilot.press("n")  # refused while one runs, and said so, at once
        assert status(screen) == "a backtest is already running"
        screen.query_one("#bt-runs", DataTable).focus()
        await pilot.press("enter")  # runs still open while the backtest waits
        assert screen.opened is not None
        launcher.release.set()
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert not screen.running and (bar.progress, bar.total) == (2880, 2880)
        assert screen.query_one("#bt-runs", DataTable).row_count == 3


async def test_a_backtest_that_cannot_run_says_why_in_place(data_dir: Path) -> None:
    app = BacktestsApp(data_dir, DeskBacktests(settings_for(data_dir)))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen_under_test
        await pilot.press("n")
        await pilot.pause()
        app.screen.query_one("#form-symbols", Input).value = "ETHUSDT"
        app.screen.query_one("#form-symbols", Input).focus()
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert status(screen).startswith("backtest failed: no 1m bars for ETHUSDT")
        assert screen.query_one("#bt-status").has_class("error")
        assert screen.query_one("#bt-runs", DataTable).row_count == 2
        assert app.is_running and not screen.running


async def test_a_launcher_that_raises_is_shown_not_fatal(data_dir: Path) -> None:
    class Broken:
        def defaults(self) -> BacktestRequest:
            return DeskBacktests(settings_for(data_dir)).defaults()

        def launch(self, request: BacktestRequest, progress: Progress) -> BacktestOutcome:
            raise RuntimeError("disk on fire")

    app = BacktestsApp(data_dir, Broken())
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen_under_test
        screen.start(Broken().defaults())
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert status(screen) == "backtest failed: RuntimeError: disk on fire"
        assert app.is_running


async def test_a_bad_parameter_is_refused_by_the_form(data_dir: Path) -> None:
    app = BacktestsApp(data_dir, DeskBacktests(settings_for(data_dir)))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("n")
        await pilot.pause()
        form = app.screen
        form.query_one("#form-params", Input).value = "fast 5"
        await pilot.click("#form-run")
        await pilot.pause()
        assert app.screen is form
        assert str(form.query_one("#form-error", Static).render()) == (
            "parameter 'fast' is not key=value"
        )
        await pilot.press("escape")
        assert app.screen is app.screen_under_test


async def test_without_a_launcher_new_backtests_are_unavailable(data_dir: Path) -> None:
    app = BacktestsApp(data_dir, None)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.click("#bt-new")
        screen = app.screen_under_test
        assert status(screen) == "new backtests are unavailable here (no launcher)"
        assert app.screen is screen


async def test_rerun_prefills_the_form_from_the_runs_config(data_dir: Path) -> None:
    app = BacktestsApp(data_dir, DeskBacktests(settings_for(data_dir)))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen_under_test
        screen.query_one("#bt-runs", DataTable).focus()
        await pilot.press("enter", "e")
        await pilot.pause()
        form = app.screen
        assert isinstance(form, BacktestFormScreen)
        newest = run_dirs(data_dir)[0]
        assert form.request.base_run == str(newest)
        assert form.query_one("#form-params", Input).value == "fast=8 quantity=0.01 slow=20"
        assert form.query_one("#form-end", Input).value == "2024-01-03"


def test_the_backtests_screen_snapshot(snap_compare, data_dir: Path) -> None:  # type: ignore[no-untyped-def]
    async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
        pilot.app.screen_under_test.query_one("#bt-runs", DataTable).focus()
        await pilot.press("enter")
        await pilot.pause()

    app = BacktestsApp(data_dir, None)
    assert snap_compare(app, terminal_size=(100, 30), run_before=run_before)
