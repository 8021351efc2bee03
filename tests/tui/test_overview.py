"""The overview screen shows the view's values, keeps to 80x24, and filters its log."""

from __future__ import annotations

from decimal import Decimal

import msgspec
import pytest
from textual.widgets import DataTable, Input, Select, Static

from tests.tui.conftest import RecordingDesk, sample_view
from tui.app import DeskApp
from tui.screens.journal import JournalScreen
from tui.screens.overview import OverviewScreen, log_matches
from tui.view import ActorRow, DeskView, LogLine
from tui.widgets.equity_chart import EquityChart
from tui.widgets.limit_bars import LimitBars


def overview_app(desk: RecordingDesk) -> DeskApp:
    return DeskApp(desk, screens={"overview": OverviewScreen(), "journal": JournalScreen()})


def rendered(app: DeskApp, selector: str) -> str:
    return str(app.screen.query_one(selector, Static).render())


def table_rows(app: DeskApp, table_id: str) -> list[list[str]]:
    table = app.screen.query_one(f"#{table_id}", DataTable)
    return [[str(cell) for cell in table.get_row_at(i)] for i in range(table.row_count)]


async def test_overview_shows_equity_pnl_and_risk_state(desk: RecordingDesk) -> None:
    app = overview_app(desk)
    async with app.run_test(size=(100, 30)):
        risk = rendered(app, "#risk-state")
        assert "ACTIVE" in risk
        assert "100,002.41 USDT" in risk
        assert "+2.41" in risk
        summary = rendered(app, "#account-summary")
        assert "cash 99,790.58" in summary
        assert "fees 0.89" in summary


async def test_risk_state_turns_halted_after_a_halt(desk: RecordingDesk) -> None:
    app = overview_app(desk)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("ctrl+k")
        await pilot.pause(0.3)
        assert rendered(app, "#risk-state").split()[1:3] == ["HALTED", "operator"]


async def test_session_header_names_mode_session_and_uptime(desk: RecordingDesk) -> None:
    app = overview_app(desk)
    async with app.run_test(size=(100, 30)):
        line = rendered(app, "#session-line")
        assert "PAPER" in line
        assert "paper-20240101-000000-sma_cross" in line
        assert "running" in line
        assert "up 1h02m05s" in line
        detail = rendered(app, "#session-detail")
        assert "BTCUSDT 1m" in detail
        assert "http://127.0.0.1:8765" in detail
        assert not app.screen.query_one("#live-banner").display


async def test_live_mode_shows_the_banner() -> None:
    app = overview_app(RecordingDesk(sample_view(mode="live")))
    async with app.run_test(size=(80, 24)):
        banner = app.screen.query_one("#live-banner", Static)
        assert banner.display
        assert "LIVE" in str(banner.render())
        assert banner.region.y < 3  # right under the tab bar, not scrolled away


async def test_health_rows_show_restarts_inbox_and_last_error(desk: RecordingDesk) -> None:
    app = overview_app(desk)
    async with app.run_test(size=(100, 30)):
        rows = {row[0]: row for row in table_rows(app, "health")}
        assert list(rows) == [
            "venue", "bar_builder", "strategy", "risk", "order_manager", "accountant",
            "reconciler",
        ]  # fmt: skip
        assert rows["reconciler"] == [
            "reconciler", "running", "1", "6/1024", "19", "87.5", "0.6s", "KeyError: 'ETHUSDT'",
        ]  # fmt: skip
        assert rows["venue"][2] == "0"
        assert rows["venue"][7] == ""


async def test_limit_bars_show_each_limit_usage(desk: RecordingDesk) -> None:
    app = overview_app(desk)
    async with app.run_test(size=(100, 30)):
        lines = str(app.screen.query_one(LimitBars).render()).split("\n")
        assert [line.split()[0] for line in lines] == [
            "max_order_notional", "max_position_notional", "daily_loss_limit", "loss",
        ]  # fmt: skip
        assert "██▌·······  25% 1,250 / 5,000" in lines[2]


async def test_positions_open_orders_and_latest_fills(desk: RecordingDesk) -> None:
    app = overview_app(desk)
    async with app.run_test(size=(100, 30)):
        assert table_rows(app, "positions") == [
            ["BTCUSDT", "0.005", "41,800.00", "42,303.65", "+2.52", "+1.87"]
        ]
        orders = table_rows(app, "open-orders")
        assert [row[1] for row in orders] == ["sma_cross-BTCUSDT-3"]  # only the open one
        assert orders[0][6:] == ["41,800.00", "PARTIALLY_FILLED"]
        fills = table_rows(app, "fills")
        assert [row[4] for row in fills] == ["41,800.00", "42,310.00", "42,123.45"]  # newest first
        assert fills[0][0] == "01:44:00"


async def test_alerts_newest_first(desk: RecordingDesk) -> None:
    app = overview_app(desk)
    async with app.run_test(size=(100, 30)):
        alerts = table_rows(app, "alerts")
        assert [row[1] for row in alerts] == ["error", "warning"]
        assert alerts[0][3] == "drift: USDT balance 99790.58 != 99790.50"


async def test_equity_chart_gets_the_view_points(desk: RecordingDesk) -> None:
    app = overview_app(desk)
    async with app.run_test(size=(100, 30)):
        chart = app.screen.query_one(EquityChart)
        assert chart.points is desk.current.equity
        first_line = str(chart.render()).split("\n")[0]
        assert first_line.startswith("100,387.53")


async def test_log_filter_by_text(desk: RecordingDesk) -> None:
    app = overview_app(desk)
    async with app.run_test(size=(100, 30)) as pilot:
        assert len(table_rows(app, "logs")) == 12
        app.screen.query_one("#log-text", Input).focus()
        await pilot.press(*"drift")
        await pilot.pause()
        rows = table_rows(app, "logs")
        assert [row[2] for row in rows] == ["reconciler.drift"] * 3
        assert rows[0][3] == "n=11"  # newest first


async def test_log_filter_by_level(desk: RecordingDesk) -> None:
    app = overview_app(desk)
    async with app.run_test(size=(100, 30)) as pilot:
        app.screen.query_one("#log-level", Select).value = "warning"
        await pilot.pause()
        levels = {row[1] for row in table_rows(app, "logs")}
        assert levels == {"warning", "error"}


@pytest.mark.parametrize(
    ("minimum", "text", "kept"),
    [
        ("", "", True),
        ("warning", "", False),
        ("info", "", True),
        ("", "SESSION", True),
        ("", "n=3", True),
        ("", "drift", False),
    ],
)
def test_log_matches(minimum: str, text: str, kept: bool) -> None:
    line = LogLine(wall=0.0, level="info", event="session.started", text="n=3")
    assert log_matches(line, minimum, text) is kept


async def test_unchanged_sections_are_not_redrawn(desk: RecordingDesk) -> None:
    app = overview_app(desk)
    async with app.run_test(size=(100, 30)) as pilot:
        health = app.screen.query_one("#health", DataTable)
        health.move_cursor(row=4)
        # A newer view with the same tuples: nothing to redo, the cursor stays.
        desk.current = msgspec.structs.replace(desk.current, version=2)
        await pilot.pause(0.3)
        assert health.cursor_row == 4
        # One actor restarted: its cell changes in place, the cursor still stays.
        changed = list(desk.current.health)
        changed[6] = msgspec.structs.replace(changed[6], restarts=2)
        desk.current = msgspec.structs.replace(desk.current, health=tuple(changed), version=3)
        await pilot.pause(0.3)
        assert health.cursor_row == 4
        assert table_rows(app, "health")[6][2] == "2"


async def test_an_actor_joining_refills_the_table(desk: RecordingDesk) -> None:
    app = overview_app(desk)
    async with app.run_test(size=(100, 30)) as pilot:
        extra = ActorRow(
            name="feed", state="failed", restarts=3, depth=0, peak=0, capacity=1024, processed=0,
            messages_per_second=0.0, heartbeat_age_seconds=12.0, last_error="ConnectionError",
        )  # fmt: skip
        desk.current = msgspec.structs.replace(
            desk.current, health=(extra, *desk.current.health), version=2
        )
        await pilot.pause(0.3)
        rows = table_rows(app, "health")
        assert rows[0][:3] == ["feed", "failed", "3"]
        assert len(rows) == 8


@pytest.mark.parametrize("mode", ["paper", "live"])
@pytest.mark.parametrize("risk_state", ["ACTIVE", "HALTED"])
async def test_fits_80x24_with_the_risk_state_in_sight(mode: str, risk_state: str) -> None:
    app = overview_app(RecordingDesk(sample_view(mode=mode, risk_state=risk_state)))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        risk = app.screen.query_one("#risk-state", Static)
        assert risk_state in str(risk.render())
        assert 0 < risk.region.y < 24 and risk.region.height == 1
        assert risk_state in str(app.screen.query_one("#desk-status", Static).render())
        await pilot.press("tab", "pagedown", "pagedown", "end")
        await pilot.pause()


async def test_empty_session_draws_without_errors() -> None:
    view = DeskView(version=1, wall=0.0, session=sample_view().session)
    app = overview_app(RecordingDesk(view))
    async with app.run_test(size=(80, 24)):
        assert "no equity yet" in str(app.screen.query_one(EquityChart).render())
        assert table_rows(app, "positions") == []
        assert "loss today" in str(app.screen.query_one(LimitBars).render())


async def test_day_loss_reads_against_the_daily_limit(desk: RecordingDesk) -> None:
    account = msgspec.structs.replace(desk.current.account, day_pnl=Decimal("-4500"))
    desk.current = msgspec.structs.replace(desk.current, account=account)
    app = overview_app(desk)
    async with app.run_test(size=(100, 30)):
        last = str(app.screen.query_one(LimitBars).render()).split("\n")[-1]
        assert "90% 4,500 / 5,000" in last
        assert "-4,500.00" in rendered(app, "#risk-state")


def test_overview_paper_snapshot(snap_compare) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(DeskApp(RecordingDesk()), terminal_size=(100, 30))


def test_overview_live_snapshot(snap_compare) -> None:  # type: ignore[no-untyped-def]
    app = DeskApp(RecordingDesk(sample_view(mode="live")))
    assert snap_compare(app, terminal_size=(100, 30))


def test_overview_80x24_snapshot(snap_compare) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(DeskApp(RecordingDesk()), terminal_size=(80, 24))


def test_overview_live_halted_80x24_snapshot(snap_compare) -> None:  # type: ignore[no-untyped-def]
    app = DeskApp(RecordingDesk(sample_view(mode="live", risk_state="HALTED")))
    assert snap_compare(app, terminal_size=(80, 24))
