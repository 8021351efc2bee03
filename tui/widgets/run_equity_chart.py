"""A backtest run's equity curve as a block chart that fills its widget.

One column per slice of the curve (the slice's last mark, so the final column
is the final equity), drawn bottom-up in eighths of a cell with the block
characters every terminal font has; the scale runs from the curve's lowest to
its highest mark, which the border labels show. A run's curve is fixed, so the
chart is drawn from a stored list only when its size or its points change.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from rich.text import Text
from textual.widget import Widget

__all__ = ["RunEquityChart"]

_BLOCKS: Final = " ▁▂▃▄▅▆▇█"
_EIGHTHS: Final = 8


class RunEquityChart(Widget):
    """Set the curve with ``plot``; an empty curve shows ``empty_text``."""

    def __init__(self, *, empty_text: str = "no equity marks", id: str | None = None) -> None:
        super().__init__(id=id)
        self.empty_text = empty_text
        self._points: tuple[float, ...] = ()

    @property
    def points(self) -> tuple[float, ...]:
        return self._points

    def plot(self, points: Sequence[float]) -> None:
        self._points = tuple(points)
        if self._points:
            low, high = min(self._points), max(self._points)
            self.border_title = f"equity {self._points[0]:,.2f} → {self._points[-1]:,.2f}"
            self.border_subtitle = f"low {low:,.2f} · high {high:,.2f}"
        else:
            self.border_title = self.border_subtitle = None
        self.refresh()

    def render(self) -> Text:
        width, height = self.content_size.width, self.content_size.height
        if not self._points or width < 1 or height < 1:
            return Text(self.empty_text, style="dim")
        columns = _columns(self._points, width)
        low, high = min(self._points), max(self._points)
        span = high - low
        levels = [
            height * _EIGHTHS
            if span == 0
            else round((value - low) / span * (height * _EIGHTHS - 1)) + 1
            for value in columns
        ]
        lines = []
        for row in range(height - 1, -1, -1):
            floor = row * _EIGHTHS
            lines.append("".join(_BLOCKS[max(0, min(_EIGHTHS, level - floor))] for level in levels))
        return Text("\n".join(lines), style="green")


def _columns(points: tuple[float, ...], width: int) -> list[float]:
    """``points`` resampled to at most ``width`` columns: each column the last point of its
    slice, so the chart ends where the run ended."""
    if len(points) <= width:
        return list(points)
    return [
        points[min(len(points) - 1, (column + 1) * len(points) // width - 1)]
        for column in range(width)
    ]
