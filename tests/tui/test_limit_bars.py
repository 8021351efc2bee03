"""Limit usage bars: their fill, their colour, and the day's loss against its limit."""

from __future__ import annotations

from decimal import Decimal

from textual.app import App, ComposeResult

from tui.view import AccountView, LimitUsage
from tui.widgets.limit_bars import LimitBars, limit_style, usage_bar


def test_usage_bar_fills_in_eighths() -> None:
    assert usage_bar(0.0) == "··········"
    assert usage_bar(0.25) == "██▌·······"
    assert usage_bar(0.0125) == "▏·········"
    assert usage_bar(1.0) == "██████████"


def test_usage_bar_clamps_beyond_the_limit() -> None:
    assert usage_bar(3.5) == "██████████"
    assert usage_bar(-1.0) == "··········"


def test_colour_warns_from_half_and_alarms_from_eighty_percent() -> None:
    assert limit_style(0.49) == "green"
    assert limit_style(0.5) == "yellow"
    assert limit_style(0.8) == "bold red"


class BarsApp(App[None]):
    def compose(self) -> ComposeResult:
        yield LimitBars()


async def test_bars_show_each_limit_and_the_loss_today() -> None:
    app = BarsApp()
    async with app.run_test(size=(80, 10)):
        bars = app.query_one(LimitBars)
        bars.show(
            (
                LimitUsage(name="max_order_notional", used=Decimal(840), limit=Decimal(50_000)),
                LimitUsage(name="max_open_orders", used=Decimal(3), limit=Decimal(0)),
            ),
            AccountView(day_pnl=Decimal("-4100.50"), daily_loss_limit=Decimal(5000)),
        )
        lines = str(bars.render()).split("\n")
        assert lines[0].split() == ["max_order_notional", "▏·········", "2%", "840", "/", "50,000"]
        assert lines[1].split() == ["max_open_orders", "off"]
        assert lines[2].split() == ["loss", "today", "████████▎·", "82%", "4,100.50", "/", "5,000"]


async def test_a_winning_day_uses_none_of_the_loss_limit() -> None:
    app = BarsApp()
    async with app.run_test(size=(80, 10)):
        bars = app.query_one(LimitBars)
        bars.show((), AccountView(day_pnl=Decimal("250"), daily_loss_limit=Decimal(5000)))
        assert str(bars.render()).split() == [
            "loss",
            "today",
            "··········",
            "0%",
            "0",
            "/",
            "5,000",
        ]
