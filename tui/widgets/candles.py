"""The candlestick chart: bars, indicator lines and fill markers drawn in terminal cells.

``render_candles`` is a pure function of (bars, indicators, markers, width, height)
so that the geometry can be tested cell by cell; ``CandleChart`` is the widget that
calls it with its own size and its styles from CSS.

Each plot row holds two price levels (its top and bottom half): a candle's wick and
body are drawn with half-cell box characters (``╵ ╷ │`` for wicks, ``╹ ╻ ┃`` for
bodies, ``╿ ╽`` where a body meets a wick inside one cell), which doubles the vertical
resolution of an 80x24 terminal without leaving plain text.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import ClassVar, NamedTuple

from rich.style import Style
from rich.text import Text
from textual import events
from textual.widget import Widget

from tui.view import BarRow, IndicatorPoint

__all__ = ["CandleChart", "CandleTheme", "ChartMarker", "RenderedChart", "render_candles"]

_EMPTY, _WICK, _BODY = 0, 1, 2
# (top half, bottom half) -> glyph.
_GLYPHS: dict[tuple[int, int], str] = {
    (_WICK, _EMPTY): "╵",
    (_EMPTY, _WICK): "╷",
    (_WICK, _WICK): "│",
    (_BODY, _EMPTY): "╹",
    (_EMPTY, _BODY): "╻",
    (_BODY, _BODY): "┃",
    (_BODY, _WICK): "╿",
    (_WICK, _BODY): "╽",
}
_BODY_GLYPHS = frozenset("╹╻┃╿╽")
_POINT = "•"
_BETWEEN = "·"  # an indicator's midpoint in the gap column between two wide bars
_BUY, _SELL = "▲", "▼"
_DAY_NS = 86_400_000_000_000
_MINUTE_NS = 60_000_000_000
# Time-axis label spacing, in bars: round multiples so labels land on round times.
_LABEL_STEPS = (1, 2, 3, 5, 10, 15, 20, 30, 60, 120, 180, 240, 360, 720, 1440, 2880, 10080)
_MIN_WIDTH, _MIN_HEIGHT, _MIN_PLOT_WIDTH = 16, 4, 4


class ChartMarker(NamedTuple):
    """A fill to mark on the bar it happened in; ``side`` is ``BUY`` or ``SELL``."""

    ts: int
    side: str


_UP = Style(color="#26a69a")
_DOWN = Style(color="#ef5350")
_AXIS = Style(color="#808080")
_BUY_STYLE = Style(color="#00e676", bold=True)
_SELL_STYLE = Style(color="#ff5252", bold=True)
_INDICATOR_STYLES = (
    Style(color="#f6c85f"),
    Style(color="#6fa8dc"),
    Style(color="#c27ba0"),
    Style(color="#93c47d"),
)


@dataclass(frozen=True, slots=True)
class CandleTheme:
    """The chart's colors (the widget takes them from its CSS component classes)."""

    up: Style = _UP
    down: Style = _DOWN
    axis: Style = _AXIS
    buy: Style = _BUY_STYLE
    sell: Style = _SELL_STYLE
    indicators: tuple[Style, ...] = _INDICATOR_STYLES

    def indicator(self, index: int) -> Style:
        return self.indicators[index % len(self.indicators)]


@dataclass(frozen=True, slots=True)
class RenderedChart:
    """The drawn chart and where things landed (row 0 is the legend, the last row the
    time axis, the plot in between; the price axis is to the right of the plot)."""

    lines: tuple[Text, ...]
    chars: tuple[str, ...]  # the same cells without styles, one string per line
    styles: tuple[tuple[Style | None, ...], ...]
    plot_top: int = 1
    plot_rows: int = 0
    plot_width: int = 0
    low: float = 0.0
    high: float = 0.0
    decimals: int = 2  # of the price labels
    first_bar: int = 0  # index in ``bars`` of the leftmost bar drawn
    columns: tuple[int, ...] = field(default=())  # column of each drawn bar, oldest first

    def level_of(self, price: float) -> int:
        """The half-row level of a price: 0 is the bottom half of the last plot row."""
        levels = 2 * self.plot_rows
        if self.high <= self.low or not math.isfinite(price):
            return levels // 2 if self.high <= self.low else 0
        level = round((price - self.low) / (self.high - self.low) * (levels - 1))
        return min(max(level, 0), levels - 1)

    def row_of(self, price: float) -> int:
        return self.plot_top + self.plot_rows - 1 - self.level_of(price) // 2

    def column_of(self, bar_index: int) -> int:
        return self.columns[bar_index - self.first_bar]

    def bar_at(self, column: int) -> int | None:
        """The index in ``bars`` of the bar drawn at ``column`` (or its gap), if any."""
        if not self.columns or not 0 <= column < self.plot_width:
            return None
        bar_width = self.columns[1] - self.columns[0] if len(self.columns) > 1 else 1
        offset = column // bar_width
        return self.first_bar + offset if offset < len(self.columns) else None

    def char_at(self, row: int, column: int) -> str:
        return self.chars[row][column]

    def style_at(self, row: int, column: int) -> Style | None:
        return self.styles[row][column]


class _Canvas:
    def __init__(self, width: int, height: int) -> None:
        self.width = width
        self.chars = [[" "] * width for _ in range(height)]
        self.styles: list[list[Style | None]] = [[None] * width for _ in range(height)]

    def put(self, row: int, column: int, char: str, style: Style | None) -> None:
        self.chars[row][column] = char
        self.styles[row][column] = style

    def write(self, row: int, column: int, text: str, style: Style | None) -> int:
        """Write ``text`` from ``column`` as far as it fits; return the next column."""
        for char in text[: max(self.width - column, 0)]:
            self.put(row, column, char, style)
            column += 1
        return column

    def finish(self, geometry: RenderedChart) -> RenderedChart:
        lines = []
        for chars, styles in zip(self.chars, self.styles, strict=True):
            line = Text(no_wrap=True, end="")
            start = 0
            for i in range(1, len(chars) + 1):
                if i == len(chars) or styles[i] != styles[start]:
                    line.append("".join(chars[start:i]), styles[start])
                    start = i
            lines.append(line)
        return replace(
            geometry,
            lines=tuple(lines),
            chars=tuple("".join(chars) for chars in self.chars),
            styles=tuple(tuple(styles) for styles in self.styles),
        )


def render_candles(
    bars: Sequence[BarRow],
    indicators: Mapping[str, Sequence[IndicatorPoint]],
    markers: Sequence[ChartMarker],
    width: int,
    height: int,
    *,
    theme: CandleTheme = CandleTheme(),
) -> RenderedChart:
    """Draw the newest bars that fit in ``width`` x ``height`` cells.

    A bar takes two columns (candle and gap) when all of them fit that way, else one;
    the price range is the drawn bars' lows and highs and the indicators' values over
    them, so a line never leaves the plot. Buy markers sit under their bar's low, sell
    markers above its high, in the bar's column.
    """
    width, height = max(width, 0), max(height, 0)
    canvas = _Canvas(width, height)
    if not bars:
        return _message(canvas, "no bars yet", theme)
    plot_rows = height - 2
    last = bars[-1]
    end = last.ts + _interval(bars)
    # The price axis is sized from a first guess of the range (all bars that could fit).
    low, high = _price_range(bars[-width:], indicators, end)
    decimals = _decimals(low, high, plot_rows)
    label_width = max(len(_price(low, decimals)), len(_price(high, decimals))) + 1
    plot_width = width - 1 - label_width
    if width < _MIN_WIDTH or height < _MIN_HEIGHT or plot_width < _MIN_PLOT_WIDTH:
        return _message(canvas, "too small for a chart", theme)
    bar_width = 2 if 2 * len(bars) <= plot_width else 1
    first = len(bars) - min(len(bars), plot_width // bar_width)
    shown = bars[first:]
    low, high = _price_range(shown, indicators, end)
    columns = tuple(i * bar_width for i in range(len(shown)))
    geometry = RenderedChart(
        lines=(),
        chars=(),
        styles=(),
        plot_rows=plot_rows,
        plot_width=plot_width,
        low=low,
        high=high,
        decimals=decimals,
        first_bar=first,
        columns=columns,
    )
    for bar, column in zip(shown, columns, strict=True):
        _draw_candle(
            canvas, geometry, bar, column, theme.up if bar.close >= bar.open else theme.down
        )
    names = list(indicators)
    for index, name in enumerate(names):
        points = _between(indicators[name], shown[0].ts, end)
        _draw_indicator(canvas, geometry, shown, points, bar_width, theme.indicator(index))
    _draw_markers(canvas, geometry, bars, markers, end, theme)
    _draw_price_axis(canvas, geometry, decimals, last, theme)
    _draw_time_axis(canvas, geometry, shown, height - 1, _interval(bars), bar_width, theme.axis)
    _draw_legend(canvas, names, last, decimals, theme)
    return canvas.finish(geometry)


def _message(canvas: _Canvas, text: str, theme: CandleTheme) -> RenderedChart:
    if canvas.chars:
        canvas.write(0, 0, text, theme.axis)
    return canvas.finish(RenderedChart(lines=(), chars=(), styles=()))


def _price_range(
    bars: Sequence[BarRow], indicators: Mapping[str, Sequence[IndicatorPoint]], end: int
) -> tuple[float, float]:
    """The lowest and highest finite price drawn (a bad tick must not crash the screen)."""
    prices = [price for bar in bars for price in (bar.low, bar.high) if math.isfinite(price)]
    for points in indicators.values():
        prices.extend(point.value for point in _between(points, bars[0].ts, end))
    prices = [price for price in prices if math.isfinite(price)]
    if not prices:
        return 0.0, 1.0
    low, high = min(prices), max(prices)
    if high <= low:
        pad = max(abs(high) * 0.001, 1e-9)
        return low - pad, high + pad
    return low, high


def _between(points: Sequence[IndicatorPoint], start: int, end: int) -> Sequence[IndicatorPoint]:
    """The points with ``start <= ts < end`` (points are oldest first)."""
    return points[
        bisect_left(points, start, key=_point_ts) : bisect_left(points, end, key=_point_ts)
    ]


def _point_ts(point: IndicatorPoint) -> int:
    return point.ts


def _interval(bars: Sequence[BarRow]) -> int:
    return max(bars[-1].ts - bars[-2].ts, 1) if len(bars) > 1 else _MINUTE_NS


def _decimals(low: float, high: float, rows: int) -> int:
    step = (high - low) / max(rows, 1)
    return 0 if step >= 1 else min(8, math.ceil(-math.log10(step)))


def _price(value: float, decimals: int) -> str:
    return f"{value:,.{decimals}f}"


def _draw_candle(
    canvas: _Canvas, geometry: RenderedChart, bar: BarRow, column: int, style: Style
) -> None:
    wick_low, wick_high = geometry.level_of(bar.low), geometry.level_of(bar.high)
    body_low = geometry.level_of(min(bar.open, bar.close))
    body_high = geometry.level_of(max(bar.open, bar.close))
    halves: dict[int, list[int]] = {}  # row -> [top, bottom]
    for level in range(min(wick_low, body_low), max(wick_high, body_high) + 1):
        row = geometry.plot_top + geometry.plot_rows - 1 - level // 2
        kind = _BODY if body_low <= level <= body_high else _WICK
        halves.setdefault(row, [_EMPTY, _EMPTY])[0 if level % 2 else 1] = kind
    for row, (top, bottom) in halves.items():
        canvas.put(row, column, _GLYPHS[top, bottom], style)


def _draw_indicator(
    canvas: _Canvas,
    geometry: RenderedChart,
    shown: Sequence[BarRow],
    points: Sequence[IndicatorPoint],
    bar_width: int,
    style: Style,
) -> None:
    """A point is drawn over empty cells and wicks, never over a candle's body."""
    starts = [bar.ts for bar in shown]
    values = {
        bisect_right(starts, point.ts) - 1: point.value
        for point in points
        if math.isfinite(point.value)
    }
    for index, value in values.items():
        _draw_point(canvas, geometry, geometry.columns[index], value, _POINT, style)
        following = values.get(index + 1)
        if bar_width == 2 and following is not None:
            midpoint = (value + following) / 2
            _draw_point(canvas, geometry, geometry.columns[index] + 1, midpoint, _BETWEEN, style)


def _draw_point(
    canvas: _Canvas, geometry: RenderedChart, column: int, value: float, glyph: str, style: Style
) -> None:
    row = geometry.row_of(value)
    if canvas.chars[row][column] not in _BODY_GLYPHS:
        canvas.put(row, column, glyph, style)


def _draw_markers(
    canvas: _Canvas,
    geometry: RenderedChart,
    bars: Sequence[BarRow],
    markers: Sequence[ChartMarker],
    end: int,
    theme: CandleTheme,
) -> None:
    starts = [bar.ts for bar in bars]
    top, bottom = geometry.plot_top, geometry.plot_top + geometry.plot_rows - 1
    for marker in markers:
        index = bisect_right(starts, marker.ts) - 1
        if index < geometry.first_bar or marker.ts >= end:
            continue
        bar, column = bars[index], geometry.column_of(index)
        if marker.side == "BUY":
            canvas.put(min(geometry.row_of(bar.low) + 1, bottom), column, _BUY, theme.buy)
        else:
            canvas.put(max(geometry.row_of(bar.high) - 1, top), column, _SELL, theme.sell)


def _draw_price_axis(
    canvas: _Canvas, geometry: RenderedChart, decimals: int, last: BarRow, theme: CandleTheme
) -> None:
    axis_column = geometry.plot_width
    levels = 2 * geometry.plot_rows - 1
    for offset in range(geometry.plot_rows):
        row = geometry.plot_top + offset
        from_bottom = geometry.plot_rows - 1 - offset
        if from_bottom % 4:
            canvas.put(row, axis_column, "│", theme.axis)
            continue
        price = geometry.low + (2 * from_bottom + 0.5) / levels * (geometry.high - geometry.low)
        canvas.put(row, axis_column, "┤", theme.axis)
        canvas.write(row, axis_column + 1, _price(price, decimals), theme.axis)
    last_row = geometry.row_of(last.close)
    last_style = (theme.up if last.close >= last.open else theme.down) + Style(reverse=True)
    canvas.put(last_row, axis_column, "◀", last_style)
    label = _price(last.close, decimals).ljust(canvas.width - axis_column - 1)
    canvas.write(last_row, axis_column + 1, label, last_style)


def _draw_time_axis(
    canvas: _Canvas,
    geometry: RenderedChart,
    shown: Sequence[BarRow],
    row: int,
    interval: int,
    bar_width: int,
    style: Style,
) -> None:
    step = next((s for s in _LABEL_STEPS if s * bar_width >= 7), _LABEL_STEPS[-1])
    free = 0
    for bar, column in zip(shown, geometry.columns, strict=True):
        if (bar.ts // interval) % step or column < free:
            continue
        label = _time_label(bar.ts, interval)
        if column + len(label) > geometry.plot_width:
            break
        canvas.put(row, column, "╵", style)
        free = canvas.write(row, column + 1, label, style) + 1


def _time_label(ts: int, interval: int) -> str:
    moment = datetime.fromtimestamp(ts / 1e9, tz=UTC)
    if interval >= _DAY_NS or ts % _DAY_NS == 0:
        return moment.strftime("%m-%d")
    return moment.strftime("%H:%M")


def _describe(bar: BarRow, decimals: int) -> str:
    moment = datetime.fromtimestamp(bar.ts // 1_000_000_000, tz=UTC)
    places = max(decimals, 2)
    return (
        f"{moment:%Y-%m-%d %H:%M} UTC\n"
        f"O {_price(bar.open, places)}  H {_price(bar.high, places)}\n"
        f"L {_price(bar.low, places)}  C {_price(bar.close, places)}\n"
        f"V {bar.volume:,.4f}"
    )


def _draw_legend(
    canvas: _Canvas, names: Sequence[str], last: BarRow, decimals: int, theme: CandleTheme
) -> None:
    column = canvas.write(0, 0, "last ", theme.axis)
    change = (last.close - last.open) / last.open if last.open else 0.0
    mood = theme.up if last.close >= last.open else theme.down
    column = canvas.write(0, column, f"{_price(last.close, max(decimals, 2))} {change:+.2%}", mood)
    for index, name in enumerate(names):
        column = canvas.write(0, column + 2, f"━ {name}", theme.indicator(index))
    column = canvas.write(0, column + 2, f"{_BUY} buy", theme.buy)
    canvas.write(0, column + 1, f"{_SELL} sell", theme.sell)


class CandleChart(Widget):
    """Shows ``render_candles`` of the data it was last given, at its own size; the
    mouse over a bar shows its time and prices as a tooltip."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "candles--up",
        "candles--down",
        "candles--axis",
        "candles--buy",
        "candles--sell",
    }

    def __init__(self, *, name: str | None = None, id: str | None = None) -> None:
        super().__init__(name=name, id=id)
        self._bars: Sequence[BarRow] = ()
        self._indicators: Mapping[str, Sequence[IndicatorPoint]] = {}
        self._markers: Sequence[ChartMarker] = ()
        self.chart: RenderedChart | None = None  # the last drawing, for tests and tooltips

    def set_data(
        self,
        bars: Sequence[BarRow],
        indicators: Mapping[str, Sequence[IndicatorPoint]],
        markers: Sequence[ChartMarker],
    ) -> None:
        self._bars, self._indicators, self._markers = bars, indicators, markers
        self.refresh()

    def render(self) -> Text:
        size = self.content_size
        self.chart = render_candles(
            self._bars,
            self._indicators,
            self._markers,
            size.width,
            size.height,
            theme=self._theme(),
        )
        return Text("\n", no_wrap=True, end="").join(self.chart.lines)

    def on_mouse_move(self, event: events.MouseMove) -> None:
        chart = self.chart
        index = chart.bar_at(event.x) if chart is not None else None
        if chart is None or index is None:
            self.tooltip = None
        else:
            self.tooltip = _describe(self._bars[index], chart.decimals)

    def _theme(self) -> CandleTheme:
        default = CandleTheme()

        def style(component: str, fallback: Style) -> Style:
            found = self.get_component_rich_style(component, partial=True)
            return found if found.color is not None else fallback

        return CandleTheme(
            up=style("candles--up", default.up),
            down=style("candles--down", default.down),
            axis=style("candles--axis", default.axis),
            buy=style("candles--buy", default.buy),
            sell=style("candles--sell", default.sell),
        )
