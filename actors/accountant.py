"""The accountant owns the books: FIFO lots, cash, fees, realized and unrealized PnL.

Everything is derived from two inputs. A ``Fill`` moves cash and lots (rare, so
it is written for clarity); a ``Bar`` of the mark interval revalues the open
positions at its close and publishes ``EquityMarked`` (once per bar, so it is
written for speed: when no position is open, a mark reuses the Decimal objects
of the last fill and does no arithmetic at all).

Money arithmetic runs in ``_EXACT``: 64 significant digits, far more than any
sum or product of real prices and quantities needs, with ``Inexact`` trapped.
The books therefore either reconcile exactly with the fills (DESIGN.md §10.4)
or fail loudly; they never round silently. Only averages (average entry price,
round-trip prices, the fee share of a fill that flips a position) are divisions,
and those are rounded on purpose in ``_AVERAGE``.
"""

from __future__ import annotations

import datetime as dt
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, replace
from decimal import (
    Context,
    Decimal,
    DivisionByZero,
    Inexact,
    InvalidOperation,
    Overflow,
    localcontext,
)
from typing import Final

import structlog

from actors.actor import Actor
from actors.intervals import align, interval_ns
from actors.messages import Bar, DailyPnl, EndOfData, EquityMarked, Fill, PositionChanged, Side

__all__ = ["Accountant", "FeeAssetError", "InvalidFillError", "Lot", "RoundTrip"]

_log = structlog.get_logger(__name__)

_EXACT: Final = Context(prec=64, traps=[InvalidOperation, DivisionByZero, Overflow, Inexact])
_AVERAGE: Final = Context(prec=28)
# Bound once for the hot path: cheaper than looking the method up on every call.
_add: Final = _EXACT.add
_subtract: Final = _EXACT.subtract
_multiply: Final = _EXACT.multiply
_minus: Final = _EXACT.minus
_ZERO: Final = Decimal(0)
_FEE_SHARE_EXPONENT: Final = -8
_DAY_NS: Final = interval_ns("1d")
_NO_DAY: Final = -(1 << 63)
_EPOCH: Final = dt.date(1970, 1, 1)


class FeeAssetError(ValueError):
    """A fill charged its fee in an asset other than the account's quote asset: the
    books keep one cash balance, so such a fee cannot be booked without a price for it."""


class InvalidFillError(ValueError):
    """A fill whose quantity or price cannot be booked."""


@dataclass(frozen=True, slots=True)
class Lot:
    """An open FIFO lot: ``quantity`` > 0 is long, < 0 is short; ``ts`` is when it opened."""

    quantity: Decimal
    price: Decimal
    ts: int


@dataclass(frozen=True, slots=True)
class RoundTrip:
    """A position's life from flat to flat; a fill that flips through zero ends one trip
    and starts the next.

    ``quantity`` is the total quantity entered, signed like the position (> 0 long,
    < 0 short). Prices are quantity-weighted averages. ``pnl`` is realized PnL net of
    ``fees``, the fees of every fill in the trip (a flipping fill's fee is split pro rata).
    """

    symbol: str
    entry_ts: int
    exit_ts: int
    quantity: Decimal
    entry_price: Decimal
    exit_price: Decimal
    pnl: Decimal
    fees: Decimal


@dataclass(frozen=True, slots=True)
class _OpenTrip:
    """A round trip in progress, kept as sums so nothing is rounded until it closes."""

    entry_ts: int
    direction: int
    entry_quantity: Decimal = _ZERO
    entry_notional: Decimal = _ZERO
    exit_quantity: Decimal = _ZERO
    exit_notional: Decimal = _ZERO
    gross_pnl: Decimal = _ZERO
    fees: Decimal = _ZERO

    def finish(self, symbol: str, exit_ts: int) -> RoundTrip:
        return RoundTrip(
            symbol=symbol,
            entry_ts=self.entry_ts,
            exit_ts=exit_ts,
            quantity=self.entry_quantity if self.direction > 0 else -self.entry_quantity,
            entry_price=_AVERAGE.divide(self.entry_notional, self.entry_quantity),
            exit_price=_AVERAGE.divide(self.exit_notional, self.exit_quantity),
            pnl=self.gross_pnl - self.fees,
            fees=self.fees,
        )


def _next_trip(
    trip: _OpenTrip | None, fill: Fill, closed: Decimal, opened: Decimal, realized: Decimal
) -> tuple[_OpenTrip | None, RoundTrip | None]:
    """The symbol's trip after ``fill`` closed ``closed`` and opened ``opened`` (both
    unsigned), and the round trip it completed, if any. Runs in ``_EXACT``.

    A flipping fill pays part of its fee to each trip: the closing share is rounded to
    the fee's own precision, and at least to 8 decimals, the finest venues charge in;
    the opening share is the exact rest, so the trips' fees always sum to the fees booked.
    """
    price, fee = fill.price, fill.fee
    if closed and opened:
        share = _AVERAGE.divide(_AVERAGE.multiply(fee, closed), fill.quantity)
        places = min(fee.as_tuple().exponent, _FEE_SHARE_EXPONENT)
        closing_fee = _AVERAGE.quantize(share, Decimal(1).scaleb(places))
    else:
        closing_fee = fee if closed else _ZERO
    finished = None
    if closed:
        assert trip is not None, "closing lots implies an open trip"
        trip = replace(
            trip,
            exit_quantity=trip.exit_quantity + closed,
            exit_notional=trip.exit_notional + closed * price,
            gross_pnl=trip.gross_pnl + realized,
            fees=trip.fees + closing_fee,
        )
        if trip.exit_quantity == trip.entry_quantity:
            finished = trip.finish(fill.symbol, fill.ts)
            trip = None
    if opened:
        if trip is None:
            trip = _OpenTrip(entry_ts=fill.ts, direction=1 if fill.side is Side.BUY else -1)
        trip = replace(
            trip,
            entry_quantity=trip.entry_quantity + opened,
            entry_notional=trip.entry_notional + opened * price,
            fees=trip.fees + (fee - closing_fee),
        )
    return trip, finished


class Accountant(Actor):
    """Books fills into FIFO lots and marks the account at every close of ``mark_interval``."""

    name = "accountant"

    def __init__(self, quote_asset: str, initial_cash: Decimal, mark_interval: str = "1m") -> None:
        super().__init__()
        interval_ns(mark_interval)  # refuse an unknown interval now, not silently never mark
        self.quote_asset = quote_asset
        self.initial_cash = initial_cash
        self.mark_interval = mark_interval
        self.round_trips: list[RoundTrip] = []
        self._cash = initial_cash
        self._fees = _ZERO
        self._realized = _ZERO
        self._realized_by_symbol: dict[str, Decimal] = {}
        self._lots: dict[str, deque[Lot]] = {}
        self._positions: dict[str, Decimal] = {}  # open symbols only
        self._cost: dict[str, Decimal] = {}  # open symbols: sum of lot quantity * price
        self._cost_total = _ZERO
        self._market_values: dict[str, Decimal] = {}  # open symbols: quantity * mark
        self._trips: dict[str, _OpenTrip] = {}
        self._trade_keys: set[tuple[str, str]] = set()
        self._closes: dict[str, float] = {}  # every symbol's last close, as it came
        # What the next EquityMarked says; recomputed on a fill, a new close of an open
        # symbol, or a new day, and otherwise published as is.
        self._equity = initial_cash
        self._unrealized = _ZERO
        self._exposure = _ZERO
        self._day_pnl = _ZERO
        self._marked_equity = initial_cash
        self._day_start_equity = initial_cash
        self._day_end = _NO_DAY

    # --- read API -------------------------------------------------------------------------

    @property
    def cash(self) -> Decimal:
        return self._cash

    @property
    def positions(self) -> dict[str, Decimal]:
        """Open positions, symbol -> signed quantity; flat symbols are absent."""
        return dict(self._positions)

    @property
    def realized_pnl(self) -> Decimal:
        """Cumulative realized PnL over every symbol, gross of fees."""
        return self._realized

    @property
    def fees(self) -> Decimal:
        return self._fees

    def lots(self, symbol: str) -> tuple[Lot, ...]:
        """Open lots of ``symbol``, oldest first."""
        return tuple(self._lots.get(symbol, ()))

    def equity(self, marks: Mapping[str, Decimal]) -> Decimal:
        """Cash plus every open position at ``marks``; a missing mark is an error, since
        guessing one would misstate the account."""
        missing = sorted(symbol for symbol in self._positions if symbol not in marks)
        if missing:
            raise KeyError(f"no mark for open position(s): {', '.join(missing)}")
        with localcontext(_EXACT):
            return self._cash + sum(
                (quantity * marks[symbol] for symbol, quantity in self._positions.items()),
                _ZERO,
            )

    # --- fills ----------------------------------------------------------------------------

    def on_fill(self, fill: Fill) -> None:
        self._validate(fill)
        key = (fill.symbol, fill.trade_id)
        if fill.trade_id and key in self._trade_keys:
            _log.warning("duplicate_fill_refused", symbol=fill.symbol, trade_id=fill.trade_id)
            return
        with localcontext(_EXACT):
            self._book(fill)
        if fill.trade_id:
            self._trade_keys.add(key)
        symbol = fill.symbol
        quantity = self._positions.get(symbol, _ZERO)
        self.publish(
            PositionChanged(
                ts=fill.ts,
                symbol=symbol,
                quantity=quantity,
                average_price=_AVERAGE.divide(self._cost[symbol], quantity) if quantity else _ZERO,
                realized_pnl=self._realized_by_symbol[symbol],
            )
        )

    def _validate(self, fill: Fill) -> None:
        """Refuse before anything changes: the supervisor drops a message that raised and
        keeps the state, so a half-booked fill would stay half-booked."""
        if fill.fee and fill.fee_asset != self.quote_asset:
            raise FeeAssetError(
                f"fill {fill.trade_id!r} on {fill.symbol}: fee {fill.fee} {fill.fee_asset!r}, "
                f"but the books only hold {self.quote_asset!r}"
            )
        if not fill.quantity > 0:
            raise InvalidFillError(f"fill {fill.trade_id!r}: quantity {fill.quantity} is not > 0")
        if not fill.price > 0:
            raise InvalidFillError(f"fill {fill.trade_id!r}: price {fill.price} is not > 0")

    def _book(self, fill: Fill) -> None:
        """Close opposite lots FIFO, open a lot with the rest, move cash. Runs in ``_EXACT``;
        computes everything into locals before assigning, so a trap changes nothing."""
        symbol, price, fee = fill.symbol, fill.price, fill.fee
        lots = deque(self._lots.get(symbol, ()))
        remaining = fill.quantity if fill.side is Side.BUY else -fill.quantity
        realized = _ZERO
        closed = _ZERO
        while remaining and lots and (lots[0].quantity > 0) != (remaining > 0):
            lot = lots[0]
            take = min(abs(remaining), abs(lot.quantity))
            step = take if lot.quantity > 0 else -take  # the closed part, signed like the lot
            realized += (price - lot.price) * step
            remaining += step
            closed += take
            if take == abs(lot.quantity):
                lots.popleft()
            else:
                lots[0] = Lot(lot.quantity - step, lot.price, lot.ts)
        if remaining:
            lots.append(Lot(remaining, price, fill.ts))
        notional = fill.quantity * price
        cash = self._cash + (notional if fill.side is Side.SELL else -notional) - fee
        position = sum((lot.quantity for lot in lots), _ZERO)
        cost = sum((lot.quantity * lot.price for lot in lots), _ZERO)
        cost_total = self._cost_total - self._cost.get(symbol, _ZERO) + cost
        trip, finished = _next_trip(self._trips.get(symbol), fill, closed, abs(remaining), realized)
        close = self._closes.get(symbol)
        mark = Decimal(repr(close)) if close is not None else None
        market_value = cost if mark is None else position * mark

        self._cash = cash
        self._fees += fee
        self._realized += realized
        self._realized_by_symbol[symbol] = self._realized_by_symbol.get(symbol, _ZERO) + realized
        self._cost_total = cost_total
        if finished is not None:
            self.round_trips.append(finished)
        if trip is None:
            self._trips.pop(symbol, None)
        else:
            self._trips[symbol] = trip
        if lots:
            self._lots[symbol] = lots
            self._positions[symbol] = position
            self._cost[symbol] = cost
            self._market_values[symbol] = market_value
        else:
            for table in (self._lots, self._positions, self._cost, self._market_values):
                table.pop(symbol, None)
        self._revalue()

    # --- marks ----------------------------------------------------------------------------

    def on_bar(self, bar: Bar) -> None:
        """The hot path: once per bar of every interval and symbol."""
        if bar.interval != self.mark_interval:
            return
        ts = bar.ts
        if ts > self._day_end:
            self._close_day(ts)
        symbol = bar.symbol
        close = bar.close
        closes = self._closes
        if symbol in self._positions and closes.get(symbol) != close:
            self._market_values[symbol] = _multiply(self._positions[symbol], Decimal(repr(close)))
            self._revalue()
        closes[symbol] = close
        equity = self._marked_equity = self._equity
        self.publish(
            EquityMarked(
                ts=ts,
                cash=self._cash,
                equity=equity,
                realized_pnl=self._realized,
                unrealized_pnl=self._unrealized,
                fees=self._fees,
                day_pnl=self._day_pnl,
                gross_exposure=self._exposure,
            )
        )

    def _revalue(self) -> None:
        """Recompute what the next mark publishes from the open positions' market values.
        Flat, equity *is* cash: the same object, so flat marks cost no arithmetic."""
        market_values = self._market_values
        if not market_values:
            self._equity = self._cash
            self._unrealized = _ZERO
            self._exposure = _ZERO
            self._day_pnl = _subtract(self._cash, self._day_start_equity)
            return
        if len(market_values) == 1:  # the common case: skip two additions to zero
            (value,) = market_values.values()
            exposure = value if value >= _ZERO else _minus(value)
        else:
            value = exposure = _ZERO
            for market_value in market_values.values():
                value = _add(value, market_value)
                exposure = _add(
                    exposure, market_value if market_value >= _ZERO else _minus(market_value)
                )
        self._equity = equity = _add(self._cash, value)
        self._unrealized = _subtract(value, self._cost_total)
        self._exposure = exposure
        self._day_pnl = _subtract(equity, self._day_start_equity)

    # --- days -----------------------------------------------------------------------------

    def _close_day(self, ts: int) -> None:
        """Publish the day that ended before ``ts``, then start the day of ``ts``.

        A mark belongs to the day in which its bar *closes*, and the last bar of a day
        closes at midnight: so a mark at exactly midnight still belongs to the day it
        ends, and that day's equity includes its last minute.
        """
        if self._day_end != _NO_DAY:
            equity = self._marked_equity
            self.publish(
                DailyPnl(
                    ts=ts,
                    date=_day_name(self._day_end),
                    pnl=_subtract(equity, self._day_start_equity),
                    equity=equity,
                )
            )
            self._day_start_equity = equity
            self._day_pnl = _subtract(self._equity, equity)
        self._day_end = _day_end(ts)

    def on_end_of_data(self, message: EndOfData) -> None:
        """The last day is partial but still a day: publish it, with every fill booked."""
        day_end = self._day_end if self._day_end != _NO_DAY else _day_end(message.ts)
        self.publish(
            DailyPnl(
                ts=message.ts,
                date=_day_name(day_end),
                pnl=_subtract(self._equity, self._day_start_equity),
                equity=self._equity,
            )
        )


def _day_end(ts: int) -> int:
    """The midnight (ns) that ends the UTC day ``ts`` belongs to; midnight ends its day."""
    return align(ts - 1, _DAY_NS) + _DAY_NS


def _day_name(day_end: int) -> str:
    return (_EPOCH + dt.timedelta(days=day_end // _DAY_NS - 1)).isoformat()
