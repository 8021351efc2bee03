"""Streaming indicators: O(1) per update, no history kept beyond the window.

Each indicator's state (its window and what it has decided) is a frozen Struct that
``snapshot`` returns and ``restore`` takes back, for the plug-ins that hold them.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Final

import msgspec

__all__ = ["MovingAverageCross", "MovingAverageCrossState"]

# Integers below 2**53 are exact floats, and so are their sums and products while
# those stay below it too.
_EXACT_INTEGERS: Final = 2.0**53
# (x + _ROUNDING) - _ROUNDING is x rounded to the nearest integer when |x| < 2**51:
# the sum lands in [2**52, 2**53), where consecutive floats are exactly 1 apart.
_ROUNDING: Final = 1.5 * 2.0**52
_ROUNDS_EXACTLY: Final = 2.0**51


class MovingAverageCrossState(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """The window of a ``MovingAverageCross``: the last ``slow_period`` prices (fewer
    while it fills), oldest first, in whole increments (exact integers, whatever the
    encoding), and ``above`` as it stands. The running sums follow from the window."""

    prices: tuple[int, ...]
    above: bool | None


class MovingAverageCross:
    """A fast and a slow simple moving average of a price series, and where they cross.

    The decision is exact. Prices are counted in whole ``increment``s (give the
    instrument's tick size; a price off that grid is rounded to it) and held as
    integer-valued floats, so the running sums are exact integers: they never
    drift and need no resync, and comparing ``slow_period * fast_sum`` with
    ``fast_period * slow_sum`` decides "fast above slow" exactly, also when the
    two averages are equal. Means of plain floats (numpy's included) land an ulp
    either side of such a tie at random, and a flat market would trade on that
    noise.

    The fast window is the newest ``fast_period`` prices of the slow window, so
    one ring buffer of ``slow_period`` prices serves both averages: an update
    writes one slot and moves two running sums, whatever the periods. It is the
    whole per-bar cost of a crossover strategy, so it stays a handful of float
    operations.

    ``above`` is whether the fast average is strictly above the slow one (None
    until the slow window is full); equal averages count as not above.
    """

    __slots__ = (
        "_buffer",
        "_fast_sum",
        "_filled",
        "_head",
        "_max_ticks_squared",
        "_slow_sum",
        "_ticks_per_unit",
        "above",
        "fast_period",
        "increment",
        "slow_period",
    )

    def __init__(self, fast_period: int, slow_period: int, increment: Decimal) -> None:
        if fast_period < 1:
            raise ValueError(f"fast_period must be at least 1, got {fast_period}")
        if slow_period <= fast_period:
            raise ValueError(
                f"slow_period ({slow_period}) must be greater than fast_period ({fast_period})"
            )
        if not increment > 0:
            raise ValueError(f"increment must be positive, got {increment}")
        self.fast_period = fast_period
        self.slow_period = slow_period
        self.increment = increment
        self._ticks_per_unit = float(1 / Decimal(increment))
        # The largest numbers formed are fast_period * slow_period prices, in ticks.
        max_ticks = min(_EXACT_INTEGERS / (fast_period * slow_period), _ROUNDS_EXACTLY)
        # Squared, the bound is one comparison for either sign (and refuses NaN and inf).
        self._max_ticks_squared = max_ticks * max_ticks
        # Zeros stand for "no price yet": subtracting them is exact, so the warm-up
        # needs no branch of its own in ``update``.
        self._buffer = [0.0] * slow_period
        self._head = 0  # the slot of the oldest price, overwritten by the next one
        self._fast_sum = 0.0
        self._slow_sum = 0.0
        self._filled = False
        self.above: bool | None = None

    @property
    def fast(self) -> float | None:
        """Mean of the last ``fast_period`` prices; None until the slow window is full."""
        if not self._filled:
            return None
        return self._fast_sum / (self.fast_period * self._ticks_per_unit)

    @property
    def slow(self) -> float | None:
        """Mean of the last ``slow_period`` prices; None until the window is full."""
        if not self._filled:
            return None
        return self._slow_sum / (self.slow_period * self._ticks_per_unit)

    @property
    def spread(self) -> float | None:
        """Fast minus slow average, from the exact difference: its sign is ``above``'s."""
        if not self._filled:
            return None
        fast, slow = self.fast_period, self.slow_period
        exact = slow * self._fast_sum - fast * self._slow_sum
        return exact / (fast * slow * self._ticks_per_unit)

    def snapshot(self) -> MovingAverageCrossState:
        buffer, head = self._buffer, self._head
        window = buffer[head:] + buffer[:head] if self._filled else buffer[:head]
        return MovingAverageCrossState(
            prices=tuple(int(ticks) for ticks in window), above=self.above
        )

    def restore(self, state: MovingAverageCrossState) -> None:
        """Take over ``state``; the periods and the increment stay this indicator's."""
        prices = state.prices
        count = len(prices)
        if count > self.slow_period:
            raise ValueError(f"{count} prices do not fit a window of {self.slow_period}")
        if (state.above is None) != (count < self.slow_period):
            raise ValueError(f"above={state.above} with {count} of {self.slow_period} prices")
        for ticks in prices:
            if not ticks * ticks < self._max_ticks_squared:
                raise ValueError(f"price of {ticks} increments is out of this indicator's range")
        filled = count == self.slow_period
        # Oldest first from slot 0, so the next price overwrites the oldest (or the first
        # free slot): the layout ``update`` leaves after ``count`` prices, rotated.
        self._buffer = [float(ticks) for ticks in prices] + [0.0] * (self.slow_period - count)
        self._head = 0 if filled else count
        self._filled = filled
        # Exact: integers, and their sums stay below 2**53 (the range checked above).
        self._fast_sum = float(sum(prices[-self.fast_period :]))
        self._slow_sum = float(sum(prices))
        self.above = state.above

    def update(self, price: float) -> bool:
        """Add a price; True when it made the fast average cross the slow one.

        ``above`` then says which way. The update that fills the slow window sets
        ``above`` but is not a cross: there was no side before it.
        """
        ticks = price * self._ticks_per_unit + _ROUNDING - _ROUNDING
        if not ticks * ticks < self._max_ticks_squared:
            raise ValueError(
                f"price {price} cannot be averaged exactly in increments of {self.increment} "
                f"over {self.fast_period} and {self.slow_period} values"
            )
        buffer = self._buffer
        head = self._head
        # A negative index wraps: head - fast_period is the slot of the price leaving
        # the fast window. Subtracting it first keeps every partial sum in range.
        fast_sum = self._fast_sum = self._fast_sum + (ticks - buffer[head - self.fast_period])
        slow_sum = self._slow_sum = self._slow_sum + (ticks - buffer[head])
        buffer[head] = ticks
        head += 1
        if head == self.slow_period:
            head = 0
            self._filled = True
        self._head = head
        above = self.slow_period * fast_sum > self.fast_period * slow_sum
        if above is self.above:
            return False
        if not self._filled:
            return False
        was_above = self.above
        self.above = above
        return was_above is not None
