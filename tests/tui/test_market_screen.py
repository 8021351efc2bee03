"""The market screen: a symbol's candles with indicators and fill markers, symbol switching."""

from __future__ import annotations

from decimal import Decimal

import msgspec
from textual.app import App
from textual.widgets import Select, Static

from tests.tui.conftest import MINUTE, sample_view
from tui.screens.market import MarketScreen, chart_symbols
from tui.view import BarRow, DeskView, IndicatorPoint
from tui.widgets.candles import CandleChart, RenderedChart


class MarketApp(App[None]):
    """The screen alone, shown the given view, as the desk app would."""

    def __init__(self, view: DeskView) -> None:
        super().__init__()
        self.first_view = view

    def on_mount(self) -> None:
        screen = MarketScreen()
        self.push_screen(screen)
        screen.show(self.first_view)


def two_symbol_view(version: int = 1) -> DeskView:
    """The sample session trading ETHUSDT too (its bars a fifteenth of BTC's)."""
    view = sample_view(version=version)
    eth_bars = tuple(
        msgspec.structs.replace(
            bar, open=bar.open / 15, high=bar.high / 15, low=bar.low / 15, close=bar.close / 15
        )
        for bar in view.bars["BTCUSDT"]
    )
    eth_fill = msgspec.structs.replace(
        view.fills[1], symbol="ETHUSDT", client_order_id="sma_cross-ETHUSDT-1", trade_id="7001",
        price=Decimal("2820.00"), ts=eth_bars[90].ts,
    )  # fmt: skip
    ema = tuple(IndicatorPoint(ts=bar.ts, value=bar.close) for bar in eth_bars)
    session = msgspec.structs.replace(view.session, symbols=("BTCUSDT", "ETHUSDT"))
    return msgspec.structs.replace(
        view,
        session=session,
        bars={**view.bars, "ETHUSDT": eth_bars},
        indicators={**view.indicators, "ETHUSDT": {"ema_9": ema}},
        fills=(*view.fills, eth_fill),
    )


def drawn(app: App[None]) -> RenderedChart:
    chart = app.screen.query_one(CandleChart).chart
    assert chart is not None
    return chart


def plot_text(chart: RenderedChart) -> str:
    return "".join(chart.chars[chart.plot_top : chart.plot_top + chart.plot_rows])


async def test_the_chart_shows_the_symbols_candles_with_legend_and_fill_markers() -> None:
    view = sample_view()
    app = MarketApp(view)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        chart = drawn(app)
        bars = view.bars["BTCUSDT"]
        assert chart.chars[0].startswith(f"last {bars[-1].close:,.2f}")
        assert "━ sma_5" in chart.chars[0] and "━ sma_20" in chart.chars[0]
        # 72 of the 120 bars fit: the fills at bars 61 (sell) and 104 (buy) are marked,
        # the buy at bar 31 has scrolled off to the left
        assert chart.first_bar == 120 - chart.plot_width
        assert plot_text(chart).count("▼") == 1
        assert plot_text(chart).count("▲") == 1
        buy_row = chart.row_of(bars[104].low) + 1
        assert chart.char_at(buy_row, chart.column_of(104)) == "▲"
        assert "120 bars" in str(app.screen.query_one("#market-info", Static).render())


async def test_the_chart_fits_an_80_by_24_terminal() -> None:
    app = MarketApp(sample_view())
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        widget = app.screen.query_one(CandleChart)
        chart = drawn(app)
        assert len(chart.lines) == widget.content_size.height
        assert {len(chars) for chars in chart.chars} == {80}
        assert chart.columns[-1] == chart.plot_width - 1  # one column per bar, right up to the axis


async def test_brackets_step_through_the_symbols() -> None:
    view = two_symbol_view()
    app = MarketApp(view)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, MarketScreen)
        assert screen.symbol == "BTCUSDT"
        await pilot.press("right_square_bracket")
        await pilot.pause()
        assert screen.symbol == "ETHUSDT"
        assert screen.query_one("#market-symbol", Select).value == "ETHUSDT"
        chart = drawn(app)
        assert chart.high < 3_000  # ETH prices, not BTC
        assert "━ ema_9" in chart.chars[0] and "sma_5" not in chart.chars[0]
        assert plot_text(chart).count("▼") == 1 and "▲" not in plot_text(chart)
        await pilot.press("right_square_bracket")  # wraps around
        await pilot.pause()
        assert screen.symbol == "BTCUSDT"
        await pilot.press("left_square_bracket")
        await pilot.pause()
        assert screen.symbol == "ETHUSDT"


async def test_the_selector_switches_the_symbol_with_the_mouse() -> None:
    app = MarketApp(two_symbol_view())
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.click("#market-symbol")
        await pilot.pause()
        await pilot.press("down", "enter")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, MarketScreen)
        assert screen.symbol == "ETHUSDT"
        assert "ema_9" in drawn(app).chars[0]


async def test_an_update_redraws_the_chosen_symbol_and_keeps_it() -> None:
    view = two_symbol_view()
    app = MarketApp(view)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("right_square_bracket")
        await pilot.pause()
        eth = view.bars["ETHUSDT"]
        new_bar = BarRow(ts=eth[-1].ts + MINUTE, open=eth[-1].close, high=3_000.0,
                         low=eth[-1].close, close=2_990.0, volume=1.0)  # fmt: skip
        fill = msgspec.structs.replace(view.fills[0], symbol="ETHUSDT", ts=new_bar.ts)
        updated = msgspec.structs.replace(
            view,
            version=2,
            bars={**view.bars, "ETHUSDT": (*eth, new_bar)},
            fills=(*view.fills, fill),
        )
        app.screen.show(updated)
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, MarketScreen)
        assert screen.symbol == "ETHUSDT"
        chart = drawn(app)
        assert chart.chars[0].startswith("last 2,990.00")
        assert chart.row_of(3_000.0) == chart.plot_top  # the new high tops the range
        assert chart.char_at(chart.row_of(new_bar.low) + 1, chart.column_of(len(eth))) == "▲"


async def test_a_symbol_without_bars_says_so() -> None:
    view = sample_view()
    session = msgspec.structs.replace(view.session, symbols=("BTCUSDT", "SOLUSDT"))
    app = MarketApp(msgspec.structs.replace(view, session=session))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("right_square_bracket")
        await pilot.pause()
        assert drawn(app).chars[0].startswith("no bars yet")


def test_the_symbols_are_the_sessions_then_others_with_bars() -> None:
    view = two_symbol_view()
    session = msgspec.structs.replace(view.session, symbols=("ETHUSDT",))
    extra = {"XRPUSDT": (), **view.bars}
    assert chart_symbols(msgspec.structs.replace(view, session=session, bars=extra)) == (
        "ETHUSDT", "BTCUSDT", "XRPUSDT",
    )  # fmt: skip


def test_market_screen_snapshot(snap_compare) -> None:
    assert snap_compare(MarketApp(sample_view()), terminal_size=(100, 30))


def test_market_screen_80x24_snapshot(snap_compare) -> None:
    assert snap_compare(MarketApp(sample_view()), terminal_size=(80, 24))
