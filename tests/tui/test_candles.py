"""The candlestick chart's geometry, cell by cell, and the widget drawing it at its size."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from rich.style import Style
from textual.app import App, ComposeResult

from tui.view import BarRow, IndicatorPoint
from tui.widgets.candles import CandleChart, CandleTheme, ChartMarker, render_candles

MINUTE = 60_000_000_000
T0 = 1_704_067_200_000_000_000  # 2024-01-01 00:00 UTC
THEME = CandleTheme()
TOP_HALF = set("╵│╹┃╿╽")


def bar(index: int, open_: float, high: float, low: float, close: float) -> BarRow:
    return BarRow(ts=T0 + index * MINUTE, open=open_, high=high, low=low, close=close, volume=1.0)


# Prices 1..20 over 10 plot rows (20 half-row levels): price p lands on level p - 1,
# so every expected cell below can be worked out by hand.
BARS = (
    bar(0, 10.0, 12.0, 9.0, 11.0),  # rising: body levels 9..10, wick 8..11
    bar(1, 11.0, 20.0, 10.0, 12.0),  # the highest high
    bar(2, 12.0, 13.0, 1.0, 2.0),  # falling, the lowest low
)
WIDTH, HEIGHT = 40, 12  # legend, 10 plot rows, time axis


def column_text(chart, column: int) -> str:
    return "".join(
        chart.char_at(chart.plot_top + offset, column) for offset in range(chart.plot_rows)
    )


def test_price_levels_map_the_range_onto_the_plot_rows() -> None:
    chart = render_candles(BARS, {}, (), WIDTH, HEIGHT)
    assert (chart.plot_top, chart.plot_rows) == (1, 10)
    assert (chart.low, chart.high) == (1.0, 20.0)
    assert chart.row_of(20.0) == 1
    assert chart.row_of(1.0) == 10
    assert [chart.level_of(price) for price in (1.0, 2.0, 10.0, 20.0)] == [0, 1, 9, 19]


def test_the_bar_with_the_highest_high_has_its_wick_on_the_top_row() -> None:
    chart = render_candles(BARS, {}, (), WIDTH, HEIGHT)
    column = chart.column_of(1)
    assert chart.char_at(chart.plot_top, column) in TOP_HALF
    # wick from 20 down to 13, body 12..11 (two half rows: one cell), wick to 10 (top half)
    assert column_text(chart, column) == "││││┃╵    "


def test_a_candle_is_drawn_with_half_row_wicks_and_bodies() -> None:
    chart = render_candles(BARS, {}, (), WIDTH, HEIGHT)
    # bar 0: wick levels 8..11, body 9..10 -> row 4 (wick 11 over body 10: light up,
    # heavy down) and row 5 (body 9 over wick 8)
    assert column_text(chart, chart.column_of(0)) == "    ╽╿    "
    # bar 2: wick up to 13 (level 12), body 12..2 (levels 11..1), wick to 1 (level 0)
    assert column_text(chart, chart.column_of(2)) == "   ╷┃┃┃┃┃╿"


def test_a_rising_bar_is_up_colored_and_a_falling_bar_down_colored() -> None:
    chart = render_candles(BARS, {}, (), WIDTH, HEIGHT)
    assert chart.style_at(5, chart.column_of(0)) == THEME.up
    assert chart.style_at(5, chart.column_of(2)) == THEME.down


def test_few_bars_take_two_columns_each_and_many_bars_one() -> None:
    few = render_candles(BARS, {}, (), WIDTH, HEIGHT)
    assert few.columns == (0, 2, 4)
    many_bars = tuple(bar(i, 10.0, 12.0, 9.0, 11.0) for i in range(200))
    many = render_candles(many_bars, {}, (), 80, 24)
    assert many.columns == tuple(range(many.plot_width))
    assert many.first_bar == 200 - many.plot_width  # the newest bars that fit


def test_an_indicator_point_lands_on_the_row_of_its_value() -> None:
    points = (IndicatorPoint(ts=BARS[0].ts, value=17.0), IndicatorPoint(ts=BARS[1].ts, value=15.0))
    chart = render_candles(BARS, {"sma_2": points}, (), WIDTH, HEIGHT)
    assert chart.row_of(17.0) == 2
    assert chart.char_at(2, chart.column_of(0)) == "•"
    assert chart.style_at(2, chart.column_of(0)) == THEME.indicator(0)
    # the gap column between two wide bars carries the line at the midpoint (16)
    assert chart.char_at(chart.row_of(16.0), chart.column_of(0) + 1) == "·"


def test_an_indicator_never_hides_a_candle_body() -> None:
    points = (IndicatorPoint(ts=BARS[2].ts, value=8.0),)  # inside bar 2's body
    chart = render_candles(BARS, {"level": points}, (), WIDTH, HEIGHT)
    assert chart.char_at(chart.row_of(8.0), chart.column_of(2)) == "┃"


def test_a_buy_marker_sits_under_its_bar_and_a_sell_marker_above() -> None:
    markers = (
        ChartMarker(ts=BARS[0].ts + 30_000_000_000, side="BUY"),  # inside bar 0's minute
        ChartMarker(ts=BARS[2].ts, side="SELL"),
    )
    chart = render_candles(BARS, {}, markers, WIDTH, HEIGHT)
    buy_row = chart.row_of(BARS[0].low) + 1
    assert chart.char_at(buy_row, chart.column_of(0)) == "▲"
    assert chart.style_at(buy_row, chart.column_of(0)) == THEME.buy
    sell_row = chart.row_of(BARS[2].high) - 1
    assert chart.char_at(sell_row, chart.column_of(2)) == "▼"


def test_markers_outside_the_drawn_bars_are_not_drawn() -> None:
    markers = (
        ChartMarker(ts=T0 - MINUTE, side="BUY"),  # before the first bar
        ChartMarker(ts=BARS[-1].ts + MINUTE, side="SELL"),  # after the last bar's minute
    )
    chart = render_candles(BARS, {}, markers, WIDTH, HEIGHT)
    assert not any("▲" in line or "▼" in line for line in chart.chars[1:-1])


def test_the_legend_names_the_indicators_and_the_last_price() -> None:
    points = (IndicatorPoint(ts=BARS[0].ts, value=11.0),)
    chart = render_candles(BARS, {"sma_5": points, "ema_9": points}, (), 70, HEIGHT)
    legend = chart.chars[0]
    assert legend.startswith("last 2.00 -83.33%")
    assert "━ sma_5" in legend and "━ ema_9" in legend
    assert legend.index("sma_5") < legend.index("ema_9")
    assert chart.style_at(0, legend.index("ema_9")) == THEME.indicator(1)


def test_the_price_axis_labels_rows_and_marks_the_last_price() -> None:
    chart = render_candles(BARS, {}, (), WIDTH, HEIGHT)
    axis = chart.plot_width
    bottom = chart.plot_top + chart.plot_rows - 1
    # every fourth row from the bottom is labelled with the price at its middle:
    # the row of levels 8 and 9 spans 9.0..10.0, so 9.5, shown without decimals
    assert chart.chars[bottom - 4][axis:].rstrip() == "┤10"
    assert chart.chars[bottom - 3][axis:].rstrip() == "│"
    last_row = chart.row_of(BARS[-1].close)
    assert chart.chars[last_row][axis:].rstrip() == "◀2"
    assert chart.style_at(last_row, axis) == THEME.down + Style(reverse=True)


def test_the_time_axis_labels_round_times_and_midnight_as_a_date() -> None:
    bars = tuple(bar(i, 10.0, 12.0, 9.0, 11.0) for i in range(60))
    chart = render_candles(bars, {}, (), 80, 10)
    axis = chart.chars[-1]
    assert axis.startswith("╵01-01    ╵00:10    ╵00:20")
    assert axis.index("00:10") - 1 == chart.column_of(10)


def test_without_bars_or_room_the_chart_says_so() -> None:
    assert render_candles((), {}, (), 40, 10).chars[0].startswith("no bars yet")
    assert render_candles(BARS, {}, (), 10, 3).chars[0].startswith("too small")
    huge = (bar(0, 1e15, 2e15, 1e15, 2e15),)  # its price labels leave no room to plot
    assert render_candles(huge, {}, (), 20, 10).chars[0].startswith("too small")


@settings(max_examples=60, deadline=None)
@given(
    closes=st.lists(st.floats(min_value=1.0, max_value=1e6), min_size=1, max_size=300),
    width=st.integers(min_value=16, max_value=160),
    height=st.integers(min_value=4, max_value=50),
)
def test_the_chart_fills_exactly_its_size_and_every_high_is_on_its_row(
    closes: list[float], width: int, height: int
) -> None:
    bars = tuple(
        bar(i, close, close * 1.01, close * 0.99, close * (1.005 if i % 2 else 0.995))
        for i, close in enumerate(closes)
    )
    chart = render_candles(bars, {}, (), width, height)
    assert len(chart.lines) == height
    assert all(line.cell_len == width for line in chart.lines)
    assert all(len(chars) == width for chars in chart.chars)
    assert chart.columns and chart.columns[-1] < chart.plot_width
    for index in range(chart.first_bar, len(bars)):
        column = chart.column_of(index)
        high_row = chart.row_of(bars[index].high)
        assert chart.char_at(high_row, column) != " "
        assert all(chart.char_at(row, column) == " " for row in range(chart.plot_top, high_row))


class ChartApp(App[None]):
    CSS = "CandleChart { height: 1fr; }"

    def compose(self) -> ComposeResult:
        yield CandleChart()


async def test_the_widget_draws_the_chart_at_its_own_size() -> None:
    app = ChartApp()
    async with app.run_test(size=(80, 24)) as pilot:
        chart = app.query_one(CandleChart)
        chart.set_data(BARS, {}, (ChartMarker(ts=BARS[0].ts, side="BUY"),))
        await pilot.pause()
        drawn = chart.chart
        assert drawn is not None
        assert (len(drawn.lines), len(drawn.chars[0])) == (24, 80)
        assert "▲" in "".join(drawn.chars)
        await pilot.resize_terminal(60, 12)
        await pilot.pause()
        assert (len(chart.chart.lines), len(chart.chart.chars[0])) == (12, 60)


def test_a_bar_with_a_non_finite_price_is_drawn_around_not_crashed_on() -> None:
    broken = (*BARS, bar(3, 2.0, float("nan"), 1.0, float("inf")))
    chart = render_candles(broken, {}, (), WIDTH, HEIGHT)
    assert (chart.low, chart.high) == (1.0, 20.0)
    assert column_text(chart, chart.column_of(1)) == "││││┃╵    "


def test_a_column_maps_back_to_the_bar_drawn_there() -> None:
    chart = render_candles(BARS, {}, (), WIDTH, HEIGHT)
    assert [chart.bar_at(column) for column in range(7)] == [0, 0, 1, 1, 2, 2, None]
    assert chart.bar_at(chart.plot_width) is None  # the price axis


async def test_the_mouse_over_a_bar_shows_its_prices() -> None:
    app = ChartApp()
    async with app.run_test(size=(80, 24)) as pilot:
        chart = app.query_one(CandleChart)
        chart.set_data(BARS, {}, ())
        await pilot.pause()
        await pilot.hover(CandleChart, offset=(2, 5))
        await pilot.pause()
        assert chart.tooltip == "2024-01-01 00:01 UTC\nO 11.00  H 20.00\nL 10.00  C 12.00\nV 1.0000"
        await pilot.hover(CandleChart, offset=(70, 5))
        await pilot.pause()
        assert chart.tooltip is None
