"""The equity curve and its drawdown as a braille terminal chart.

Braille cells hold 2x4 dots, so a chart of ``w`` columns and ``h`` rows plots
``2w`` samples at ``4h`` levels: four times the vertical resolution of block
characters, which is what makes a few basis points of equity visible in eight
rows. A column of dots spans the lowest to highest equity of the samples it
covers (and joins the previous column), so a spike between two columns is never
dropped by resampling. The drawdown below it is filled down from zero, like an
underwater chart, scaled to the worst drawdown shown.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.widget import Widget

from tui.view import EquityPoint

__all__ = ["EquityChart", "braille_area", "braille_line", "chart_text"]

_BRAILLE = 0x2800
# Dot bits of one braille cell, by [column][row from the top].
_DOTS = ((0x01, 0x02, 0x04, 0x40), (0x08, 0x10, 0x20, 0x80))
_GUTTER = 11  # room for "100,002.41 " on the left


def _buckets(count: int, columns: int) -> list[range]:
    """Which samples each dot column covers: every sample lands in some column."""
    return [
        range(
            (column * count) // columns,
            max((column * count) // columns + 1, ((column + 1) * count) // columns),
        )
        for column in range(columns)
    ]


def _cells(width: int, height: int) -> list[list[int]]:
    return [[0] * width for _ in range(height)]


def _render(cells: list[list[int]]) -> list[str]:
    return ["".join(chr(_BRAILLE + bits) if bits else " " for bits in row) for row in cells]


def _set(cells: list[list[int]], x: int, level: int, levels: int) -> None:
    """Set the dot at dot-column ``x``, ``level`` dots above the bottom."""
    row_from_top = levels - 1 - level
    cells[row_from_top // 4][x // 2] |= _DOTS[x % 2][row_from_top % 4]


def braille_line(values: Sequence[float], width: int, height: int) -> list[str]:
    """``values`` as a line chart of ``height`` lines of ``width`` braille characters,
    scaled from their minimum (bottom row) to their maximum (top row)."""
    cells = _cells(width, height)
    if not values or width <= 0 or height <= 0:
        return _render(cells)
    levels = 4 * height
    low, high = min(values), max(values)
    span = high - low

    def level(value: float) -> int:
        if span == 0:
            return levels // 2
        return round((value - low) / span * (levels - 1))

    previous: int | None = None
    for x, bucket in enumerate(_buckets(len(values), 2 * width)):
        samples = [level(values[i]) for i in bucket]
        bottom, top = min(samples), max(samples)
        if previous is not None:
            bottom, top = min(bottom, previous), max(top, previous)
        for dot in range(bottom, top + 1):
            _set(cells, x, dot, levels)
        previous = samples[-1]
    return _render(cells)


def braille_area(values: Sequence[float], width: int, height: int) -> list[str]:
    """Non-negative ``values`` filled down from the top row: the deepest value reaches
    the bottom row, zero draws nothing."""
    cells = _cells(width, height)
    if not values or width <= 0 or height <= 0:
        return _render(cells)
    levels = 4 * height
    deepest = max(values)
    if deepest <= 0:
        return _render(cells)
    for x, bucket in enumerate(_buckets(len(values), 2 * width)):
        depth = round(max(values[i] for i in bucket) / deepest * levels)
        for dot in range(levels - depth, levels):
            _set(cells, x, dot, levels)
    return _render(cells)


class EquityChart(Widget):
    """Equity on top (about three quarters of the height), drawdown below, with the
    range on the left. It draws from the points it was last given, at its size."""

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._points: tuple[EquityPoint, ...] = ()

    @property
    def points(self) -> tuple[EquityPoint, ...]:
        return self._points

    @points.setter
    def points(self, points: tuple[EquityPoint, ...]) -> None:
        if points is not self._points:
            self._points = points
            self.refresh()

    def render(self) -> Text:
        width = max(1, self.size.width - _GUTTER)
        height = max(2, self.size.height)
        return chart_text(self._points, width, height)


def _amount(value: float) -> str:
    """An axis label that fits the gutter: cents while they fit, then less."""
    for label in (f"{value:,.2f}", f"{value:,.0f}", f"{value / 1e6:,.2f}M"):
        if len(label) < _GUTTER:
            return label
    return f"{value:.3g}"


def chart_text(points: Sequence[EquityPoint], width: int, height: int) -> Text:
    """The chart as styled text: ``height`` lines of ``_GUTTER + width`` cells."""
    text = Text(no_wrap=True, overflow="crop")
    if not points:
        text.append("no equity yet".ljust(_GUTTER + width), style="dim")
        return text
    drawdown_rows = max(1, height // 4)
    equity_rows = height - drawdown_rows
    equity = [point.equity for point in points]
    drawdown = [point.drawdown for point in points]
    labels = [""] * height
    labels[0] = _amount(max(equity))
    labels[equity_rows - 1] = _amount(min(equity))
    labels[equity_rows] = f"dd {drawdown[-1]:.2%}"
    if drawdown_rows > 1:
        labels[height - 1] = f"max {max(drawdown):.2%}"
    rows = [(line, "green") for line in braille_line(equity, width, equity_rows)]
    rows += [(line, "red") for line in braille_area(drawdown, width, drawdown_rows)]
    for index, ((line, style), label) in enumerate(zip(rows, labels, strict=True)):
        if index:
            text.append("\n")
        text.append(label[: _GUTTER - 1].rjust(_GUTTER - 1) + " ", style="dim")
        text.append(line, style=style)
    return text
