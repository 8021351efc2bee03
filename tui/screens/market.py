"""The market screen: one symbol's candles with the strategy's indicators and our fills.

The symbol is chosen with the selector (mouse or keyboard) or stepped with ``[``
and ``]``; the symbols are the session's, then any other the view has bars for.
The chart is redrawn only when that symbol's bars, indicators or the fills
changed, so a view that brings nothing new for it costs nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.widgets import Select, Static

from tui.screens.base import DeskScreen
from tui.view import DeskView
from tui.widgets.candles import CandleChart, ChartMarker

__all__ = ["MarketScreen", "chart_symbols"]


def chart_symbols(view: DeskView) -> tuple[str, ...]:
    """The session's symbols in its order, then other symbols with bars, sorted."""
    listed = view.session.symbols
    return tuple(listed) + tuple(sorted(symbol for symbol in view.bars if symbol not in listed))


class MarketScreen(DeskScreen):
    CSS_PATH = "market.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("left_square_bracket", "step_symbol(-1)", "Prev symbol", key_display="["),
        Binding("right_square_bracket", "step_symbol(1)", "Next symbol", key_display="]"),
    ]

    def __init__(self) -> None:
        super().__init__(id="market")
        self._view: DeskView | None = None
        self._mounted = False
        self._symbols: tuple[str, ...] = ()
        self.symbol: str | None = None
        self._drawn: tuple[object, ...] = ()

    def compose(self) -> ComposeResult:
        with Horizontal(id="market-bar"):
            yield Select((), prompt="symbol", id="market-symbol", compact=True)
            yield Static("", id="market-info", markup=False)
        yield CandleChart(id="market-chart")

    def on_mount(self) -> None:
        self._mounted = True
        if self._view is not None:
            self.show(self._view)

    def show(self, view: DeskView) -> None:
        self._view = view
        if not self._mounted:
            return
        symbols = chart_symbols(view)
        if symbols != self._symbols:
            self._symbols = symbols
            if self.symbol not in symbols:
                self.symbol = symbols[0] if symbols else None
            select = self.query_one("#market-symbol", Select)
            select.set_options((symbol, symbol) for symbol in symbols)
            if self.symbol is not None:
                select.value = self.symbol
        self._draw_chart(view)

    def _draw_chart(self, view: DeskView) -> None:
        symbol = self.symbol or ""
        bars = view.bars.get(symbol, ())
        indicators = view.indicators.get(symbol, {})
        wanted = (symbol, bars, indicators, view.fills, view.session.interval)
        if wanted == self._drawn:
            return
        self._drawn = wanted
        markers = tuple(
            ChartMarker(fill.ts, fill.side) for fill in view.fills if fill.symbol == symbol
        )
        self.query_one(CandleChart).set_data(bars, indicators, markers)
        info = f"{view.session.interval}  {len(bars)} bars"
        if bars:
            newest = datetime.fromtimestamp(bars[-1].ts // 1_000_000_000, tz=UTC)
            info += f" to {newest:%Y-%m-%d %H:%M} UTC"
        self.query_one("#market-info", Static).update(f"{info}  [ ] symbol")

    def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id == "market-symbol" and isinstance(event.value, str):
            self._choose(event.value)

    def action_step_symbol(self, step: int) -> None:
        if not self._symbols:
            return
        index = self._symbols.index(self.symbol) if self.symbol in self._symbols else 0
        symbol = self._symbols[(index + step) % len(self._symbols)]
        self.query_one("#market-symbol", Select).value = symbol
        self._choose(symbol)

    def _choose(self, symbol: str) -> None:
        if symbol == self.symbol:
            return
        self.symbol = symbol
        if self._view is not None:
            self._draw_chart(self._view)
