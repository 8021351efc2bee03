"""SMA crossover, long only: buy when the fast average crosses above the slow one,
sell everything when it crosses back below.

The order size is a fixed quantity or a fixed quote notional (converted at the
deciding bar's close and floored to the lot). A cross is acted on only when it
changes what we hold: a cross up while already long, or with a buy still
working, sends nothing.

The averages are counted in ticks of the instrument, so a cross is decided
exactly: equal averages (a flat market) are "not above", never float noise.

Its state is the averages' windows per symbol (``SmaCrossState``); what it holds
and has working comes from the context, which the host restores.
"""

from __future__ import annotations

from decimal import Decimal

import msgspec

from actors.messages import Bar, Side
from actors.ports import Decisions, StrategyContext
from strategies.base import Strategy
from strategies.indicators import MovingAverageCross, MovingAverageCrossState

__all__ = ["SmaCross", "SmaCrossParams", "SmaCrossState"]

_ZERO = Decimal(0)


class SmaCrossParams(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    fast: int = 10
    slow: int = 30
    quantity: Decimal | None = None
    notional: Decimal | None = None

    def __post_init__(self) -> None:
        if self.fast < 1:
            raise ValueError(f"fast must be at least 1, got {self.fast}")
        if self.slow <= self.fast:
            raise ValueError(f"slow ({self.slow}) must be greater than fast ({self.fast})")
        if (self.quantity is None) == (self.notional is None):
            raise ValueError("give exactly one of quantity or notional")
        size = self.quantity if self.quantity is not None else self.notional
        if size is not None and size <= 0:
            raise ValueError(f"order size must be positive, got {size}")


class SmaCrossState(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """The averages' windows of each symbol that has had a bar."""

    averages: dict[str, MovingAverageCrossState]


class SmaCross(Strategy):
    kind = "sma_cross"
    Params = SmaCrossParams
    state_type = SmaCrossState

    def setup(self) -> None:
        self._averages: dict[str, MovingAverageCross] = {}
        # Restored windows wait for their symbol's next bar: only then is there a context
        # to read the instrument's tick size from, which the averages are counted in.
        self._restored: dict[str, MovingAverageCrossState] = {}

    def snapshot(self) -> SmaCrossState:
        averages = dict(self._restored)
        for symbol, cross in self._averages.items():
            averages[symbol] = cross.snapshot()
        return SmaCrossState(averages=dict(sorted(averages.items())))

    def restore(self, state: SmaCrossState) -> None:
        self._averages = {}
        self._restored = dict(state.averages)

    def on_bar(self, bar: Bar, ctx: StrategyContext) -> Decisions:
        try:
            averages = self._averages[bar.symbol]
        except KeyError:
            averages = self._averages[bar.symbol] = self._start_averages(bar.symbol, ctx)
        if not averages.update(bar.close):
            return None
        symbol = bar.symbol
        above = averages.above
        spread = averages.spread
        assert spread is not None  # a cross needs the slow window full
        ctx.signal(symbol, "cross_up" if above else "cross_down", spread)
        position = ctx.position(symbol)
        working = ctx.working(symbol)
        # Less than one lot is flat: a fee paid in the base asset leaves such dust behind,
        # and it can be neither sold nor allowed to stop the next entry.
        lot = ctx.instrument(symbol).lot_size
        if above and position + working < lot:
            quantity = self._size(symbol, bar.close, ctx)
            if quantity > _ZERO:
                return (ctx.market(symbol, Side.BUY, quantity, tag="cross_up"),)
        elif not above:
            sellable = position + min(working, _ZERO)  # what we hold, less sells working
            if sellable >= lot:
                return (ctx.market(symbol, Side.SELL, sellable, tag="cross_down"),)
        return None

    def indicators(self, symbol: str) -> dict[str, float]:
        averages = self._averages.get(symbol)
        fast, slow = (averages.fast, averages.slow) if averages is not None else (None, None)
        if fast is None or slow is None:
            return {}
        return {f"sma_{self.params.fast}": fast, f"sma_{self.params.slow}": slow}

    def _start_averages(self, symbol: str, ctx: StrategyContext) -> MovingAverageCross:
        """Prices are averaged in ticks, so the averages wait for the instrument."""
        params: SmaCrossParams = self.params
        tick_size = ctx.instrument(symbol).tick_size
        averages = MovingAverageCross(params.fast, params.slow, tick_size)
        restored = self._restored.pop(symbol, None)
        if restored is not None:
            averages.restore(restored)
        return averages

    def _size(self, symbol: str, price: float, ctx: StrategyContext) -> Decimal:
        params: SmaCrossParams = self.params
        if params.quantity is not None:
            return params.quantity
        assert params.notional is not None
        return ctx.quantity_for_notional(symbol, params.notional, price)
