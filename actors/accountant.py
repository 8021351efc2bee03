"""The accountant owns the books: FIFO lots, cash, fees, realized and unrealized PnL.

Everything is derived from two inputs. A ``Fill`` moves cash and lots (rare, so it is
written for clarity, without waste); a ``Bar`` of the mark interval revalues the open
positions at its close and publishes ``EquityMarked`` (once per bar, so it is written for
speed: a flat mark copies the last mark with a new ``ts``, reusing its Decimal objects,
and a mark of one open position costs one multiplication, an addition and two
subtractions). A fill does not revalue the account: the next bar of the symbol does, so
the mark is rebuilt only if something needs it first.

Money arithmetic is exact: it runs in ``EXACT`` (``actors.money``: 64 significant digits,
``Inexact`` trapped; a fill makes ``EXACT`` the current context and uses operators; a mark,
too short to pay for switching contexts, calls ``EXACT``'s methods). The books therefore
either reconcile exactly with the fills (DESIGN.md §10.4) or fail loudly; they never round
silently. Only averages (average entry price, round-trip prices, the fee share of a fill
that flips a position) are divisions, and those are rounded on purpose in ``_AVERAGE``.

A close is a float, and it is marked at the decimal it prints as. Printing a float costs
half a microsecond, so a close on the symbol's price grid is read with integer arithmetic
instead (``_market_value`` shows why that is the same decimal); any other close is
printed, so the grid only decides the speed, never the value.

Fees come in three assets, and the books hold only the quote asset's cash and the
symbols' positions (Binance charges a trade's commission in the asset it brings in, or
in BNB):

- in the quote asset: cash pays it, ``fees`` counts it;
- in the base asset of the fill's symbol: the position moves by the quantity net of it
  (a buy of 0.01 BTC paying 0.00001 BTC holds 0.00999 BTC, what the venue holds; a sell
  paying in its base gives up quantity plus fee), and its value at the fill's price,
  ``fee x price``, is the fee booked in ``fees`` and in the round trip's PnL. Such a fill
  is booked exactly as a fill of the net quantity at the same price paying ``fee x
  price`` in the quote asset: the cash moved is the same (a buy pays quantity x price
  for what it received and its fee together), so equity = cash + position x price stays
  exact, and the lot holds the net quantity at the fill's price, FIFO as ever, its fee
  in ``fees`` like any other (realized PnL is gross of fees, as for quote fees);
- in another asset the account pays fees in (``fee_assets``, BNB by default): the books
  cannot value it, so it is kept as that asset's balance change (``fee_balances``,
  negative: spent) and counted nowhere else: not in cash, ``fees``, PnL or equity (it
  is valued at zero). The reconciler checks it against the venue's balance of the asset.

Any other fee asset (the symbol's base cannot be told, or an asset nobody declared) is
refused with ``FeeAssetError``: guessing would misstate the books.
"""

from __future__ import annotations

import datetime as dt
from collections import deque
from collections.abc import Collection, Mapping
from decimal import Context, Decimal, getcontext, localcontext, setcontext
from itertools import islice
from typing import Final

import msgspec
import structlog
from msgspec.structs import replace

from actors.actor import Actor
from actors.intervals import align, interval_ns
from actors.messages import Bar, DailyPnl, EndOfData, EquityMarked, Fill, PositionChanged, Side
from actors.money import EXACT

__all__ = [
    "DEFAULT_FEE_ASSETS",
    "Accountant",
    "AccountantState",
    "FeeAssetError",
    "InvalidFillError",
    "Lot",
    "OpenPosition",
    "RoundTrip",
]

_log = structlog.get_logger(__name__)

DEFAULT_FEE_ASSETS: Final = ("BNB",)
"""Assets an account may pay fees in besides the traded ones (Binance: BNB)."""

_AVERAGE: Final = Context(prec=28)
# Bound once for the hot path: cheaper than looking the method up on every call.
_add: Final = EXACT.add
_subtract: Final = EXACT.subtract
_multiply: Final = EXACT.multiply
_ZERO: Final = Decimal(0)
_ONE: Final = Decimal(1)
_UNIT_GRID: Final = (1.0, _ONE)  # for a symbol without a price increment: whole numbers
_FEE_SHARE_EXPONENT: Final = -8
# Closes are read on grids whose scale 10**places is an exact double (places <= 22), as
# at most 15 significant digits, which a double keeps (DBL_DIG): |ticks| < 10**15.
_MAX_GRID_PLACES: Final = 22
_TICKS_LIMIT: Final = 1e15
_DAY_NS: Final = interval_ns("1d")
_NO_DAY: Final = -(1 << 63)
_EPOCH: Final = dt.date(1970, 1, 1)


class FeeAssetError(ValueError):
    """A fill charged its fee in an asset that is neither the quote asset, the base
    asset of its symbol, nor a declared fee asset (the module docstring): the books
    cannot tell what it cost, so they refuse it rather than misstate the account."""


class InvalidFillError(ValueError):
    """A fill whose quantity or price cannot be booked."""


class Lot(msgspec.Struct, frozen=True, gc=False):
    """An open FIFO lot: ``quantity`` > 0 is long, < 0 is short; ``ts`` is when it opened."""

    quantity: Decimal
    price: Decimal
    ts: int


class RoundTrip(msgspec.Struct, frozen=True, kw_only=True, gc=False):
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


class _Position(msgspec.Struct, kw_only=True, gc=False):
    """One symbol from the fill that opens it to the fill that makes it flat: its FIFO
    lots, the round trip in progress (kept as unsigned sums, so nothing is rounded until
    it closes) and what a mark needs. A fill books into a new ``_Position`` and swaps it
    in only once every sum is computed, so a trap changes nothing; marks value it in
    place."""

    lots: deque[Lot]
    quantity: Decimal  # signed sum of the lots
    cost: Decimal  # signed sum of lot quantity * lot price
    entry_ts: int
    entry_quantity: Decimal
    entry_notional: Decimal
    exit_quantity: Decimal = _ZERO
    exit_notional: Decimal = _ZERO
    gross_pnl: Decimal = _ZERO
    fees: Decimal = _ZERO
    # The price of every entry (exit) fill while they all share one: then it is the
    # average, and the trip's close needs no division.
    entry_price: Decimal | None = None
    exit_price: Decimal | None = None
    # The symbol's price grid: scale = 10**places as a float, step = 10**-places.
    scale: float = 1.0
    step: Decimal = _ONE
    unit: Decimal = _ZERO  # quantity * step: a close of n ticks is worth unit * n
    # Quantity at ``close``, or at cost while the symbol has no close; None from the fill
    # that booked the position until the next mark values it.
    market_value: Decimal | None = None
    close: float | None = None


class OpenPosition(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """One open symbol in a snapshot: its lots, the round trip in progress and the value
    its last mark gave it. The price grid is configuration (``price_increments``), so a
    restore takes it from the restoring accountant's."""

    symbol: str
    lots: tuple[Lot, ...]
    quantity: Decimal
    cost: Decimal
    entry_ts: int
    entry_quantity: Decimal
    entry_notional: Decimal
    exit_quantity: Decimal
    exit_notional: Decimal
    gross_pnl: Decimal
    fees: Decimal
    entry_price: Decimal | None
    exit_price: Decimal | None
    market_value: Decimal | None
    close: float | None


class AccountantState(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """The books in a snapshot. ``mark`` is the pending mark (None: rebuilt at the next
    bar), kept as it is rather than recomputed, so a restored accountant publishes the
    same Decimals, digit for digit; ``positions`` are in the order they opened, the order
    a revaluation sums them in. ``trade_keys`` are (symbol, trade id), sorted."""

    cash: Decimal
    fees: Decimal
    realized_pnl: Decimal
    realized_by_symbol: dict[str, Decimal]
    positions: tuple[OpenPosition, ...]
    cost_total: Decimal
    trade_keys: tuple[tuple[str, str], ...]
    closes: dict[str, float]
    mark: EquityMarked | None
    marked_equity: Decimal
    day_start_equity: Decimal
    day_end: int
    round_trips: tuple[RoundTrip, ...]
    fee_balances: dict[str, Decimal] = msgspec.field(default_factory=dict)


def _grid(increment: Decimal) -> tuple[float, Decimal]:
    """The grid (scale, step) of a price increment's decimal places: 0.01 and 0.05 both
    read closes in hundredths. Only the places matter, so a wrong increment costs speed,
    never exactness."""
    if not increment.is_finite() or increment <= 0:
        raise ValueError(f"price increment must be a positive number, got {increment}")
    exponent = increment.normalize(EXACT).as_tuple().exponent
    assert isinstance(exponent, int)  # finite
    places = min(max(-exponent, 0), _MAX_GRID_PLACES)
    return 10.0**places, _ONE.scaleb(-places)


def _market_value(position: _Position, close: float) -> Decimal:
    """The position's quantity times the decimal that ``close`` prints as (its ``repr``).

    On the grid this is ``unit * ticks`` with ``ticks = round(close * scale)``, checked by
    ``ticks / scale == close``. Why that is the printed decimal: ``ticks`` (below 10**15)
    and ``scale`` (10**places, places <= 22) are exact doubles, so the division is
    correctly rounded and the check says that the decimal ``ticks * step`` converts to
    ``close``. That decimal has at most 15 significant digits, so the shortest decimal
    that converts to ``close``, which ``repr`` prints, has at most 15 as well; and two
    decimals of at most 15 significant digits that convert to the same double are equal
    (DBL_DIG). The range test also turns NaN and infinities away to ``repr``.
    """
    scale = position.scale
    scaled = close * scale
    if -_TICKS_LIMIT < scaled < _TICKS_LIMIT:
        ticks = round(scaled)
        if ticks / scale == close:
            return _multiply(position.unit, ticks)
    return _multiply(position.quantity, Decimal(repr(close)))


def _opened(
    fill: Fill, quantity: Decimal, notional: Decimal, fee: Decimal, grid: tuple[float, Decimal]
) -> _Position:
    """The position that ``quantity`` (unsigned, of ``notional``) of ``fill`` opens from
    flat, paying ``fee``: a new round trip. Runs in ``EXACT``."""
    buy = fill.side is Side.BUY
    scale, step = grid
    lots = deque()
    lots.append(Lot(quantity if buy else -quantity, fill.price, fill.ts))
    return _Position(
        lots=lots,
        quantity=quantity if buy else -quantity,
        cost=notional if buy else -notional,
        entry_ts=fill.ts,
        entry_quantity=quantity,
        entry_notional=notional,
        fees=fee,
        entry_price=fill.price,
        scale=scale,
        step=step,
    )


def _added(held: _Position, fill: Fill, notional: Decimal) -> _Position:
    """``held`` after ``fill`` (of ``notional``) added to it. Runs in ``EXACT``."""
    quantity = fill.quantity
    buy = fill.side is Side.BUY
    lots = deque(held.lots)
    lots.append(Lot(quantity if buy else -quantity, fill.price, fill.ts))
    return _Position(
        lots=lots,
        quantity=held.quantity + quantity if buy else held.quantity - quantity,
        cost=held.cost + notional if buy else held.cost - notional,
        entry_ts=held.entry_ts,
        entry_quantity=held.entry_quantity + quantity,
        entry_notional=held.entry_notional + notional,
        exit_quantity=held.exit_quantity,
        exit_notional=held.exit_notional,
        gross_pnl=held.gross_pnl,
        fees=held.fees + fill.fee,
        entry_price=held.entry_price if held.entry_price == fill.price else None,
        exit_price=held.exit_price,
        scale=held.scale,
        step=held.step,
    )


def _reduced(held: _Position, fill: Fill) -> tuple[_Position | None, Decimal, RoundTrip | None]:
    """``held`` after ``fill`` closed its lots oldest first, the PnL that realized, and
    the round trip it finished if it closed every lot (the rest of such a fill opens the
    other way). Runs in ``EXACT``."""
    price, quantity = fill.price, fill.quantity
    long = held.quantity > _ZERO
    realized = closed_cost = _ZERO  # as if long; negated below for a short
    left = quantity
    closed_lots = 0  # closed whole, oldest first
    rest = None  # what stays open of the first lot not closed whole
    for lot in held.lots:
        size = lot.quantity if long else -lot.quantity
        take = size if size <= left else left
        realized += (price - lot.price) * take
        closed_cost += lot.price * take
        left -= take
        if take != size:
            rest = Lot(lot.quantity - take if long else lot.quantity + take, lot.price, lot.ts)
            break
        closed_lots += 1
        if not left:
            break
    if not long:
        realized, closed_cost = -realized, -closed_cost
    closed = quantity - left
    closing_fee = _closing_fee(fill, closed) if left else fill.fee
    exit_quantity = held.exit_quantity + closed
    exit_notional = held.exit_notional + closed * price
    exit_price = price if not held.exit_quantity or held.exit_price == price else None
    gross_pnl = held.gross_pnl + realized
    fees = held.fees + closing_fee
    if closed_lots < len(held.lots):
        lots = deque(islice(held.lots, closed_lots, None))
        if rest is not None:
            lots[0] = rest
        position = _Position(
            lots=lots,
            quantity=held.quantity - closed if long else held.quantity + closed,
            cost=held.cost - closed_cost,
            entry_ts=held.entry_ts,
            entry_quantity=held.entry_quantity,
            entry_notional=held.entry_notional,
            exit_quantity=exit_quantity,
            exit_notional=exit_notional,
            gross_pnl=gross_pnl,
            fees=fees,
            entry_price=held.entry_price,
            exit_price=exit_price,
            scale=held.scale,
            step=held.step,
        )
        return position, realized, None
    finished = RoundTrip(
        symbol=fill.symbol,
        entry_ts=held.entry_ts,
        exit_ts=fill.ts,
        quantity=held.entry_quantity if long else -held.entry_quantity,
        entry_price=(
            held.entry_price
            if held.entry_price is not None
            else _AVERAGE.divide(held.entry_notional, held.entry_quantity)
        ),
        exit_price=(
            exit_price if exit_price is not None else _AVERAGE.divide(exit_notional, exit_quantity)
        ),
        pnl=gross_pnl - fees,
        fees=fees,
    )
    grid = (held.scale, held.step)
    flipped = _opened(fill, left, left * price, fill.fee - closing_fee, grid) if left else None
    return flipped, realized, finished


def _closing_fee(fill: Fill, closed: Decimal) -> Decimal:
    """The part of a flipping fill's fee that the trip it closes pays: pro rata, rounded
    to the fee's own precision, and at least to 8 decimals, the finest venues charge in.
    The trip it opens pays the exact rest, so the trips' fees always sum to the fees booked.
    """
    fee = fill.fee
    share = _AVERAGE.divide(_AVERAGE.multiply(fee, closed), fill.quantity)
    places = min(fee.as_tuple().exponent, _FEE_SHARE_EXPONENT)
    assert isinstance(places, int)  # a fee is finite
    return _AVERAGE.quantize(share, _ONE.scaleb(places))


class Accountant(Actor):
    """Books fills into FIFO lots and marks the account at every close of ``mark_interval``.

    ``price_increments`` (symbol -> tick size) only makes marks faster: a close with no
    more decimals than its symbol's increment is read without printing it.

    ``base_assets`` (symbol -> base asset) tells a fee in the base asset apart; a symbol
    not in it is split at the quote asset (``BTCUSDT`` -> ``BTC``). ``fee_assets`` are
    the other assets the account may pay fees in (the module docstring).
    """

    name = "accountant"
    state_type = AccountantState

    def __init__(
        self,
        quote_asset: str,
        initial_cash: Decimal,
        mark_interval: str = "1m",
        price_increments: Mapping[str, Decimal] | None = None,
        base_assets: Mapping[str, str] | None = None,
        fee_assets: Collection[str] = DEFAULT_FEE_ASSETS,
    ) -> None:
        super().__init__()
        interval_ns(mark_interval)  # refuse an unknown interval now, not silently never mark
        self.quote_asset = quote_asset
        self._base_assets = dict(base_assets or {})
        self.fee_assets = frozenset(fee_assets)
        self._fee_balances: dict[str, Decimal] = {}
        self.initial_cash = initial_cash
        self.mark_interval = mark_interval
        self.round_trips: list[RoundTrip] = []
        self._grids = {symbol: _grid(step) for symbol, step in (price_increments or {}).items()}
        self._cash = initial_cash
        self._fees = _ZERO
        self._realized = _ZERO
        self._realized_by_symbol: dict[str, Decimal] = {}
        self._open: dict[str, _Position] = {}  # open symbols only
        self._cost_total = _ZERO
        self._trade_keys: set[tuple[str, str]] = set()
        self._closes: dict[str, float] = {}  # every symbol's last close, as it came
        # The last mark, or the next one but for its ts: published again with a bar's ts
        # until a new close of an open symbol or a new day changes it; None after a fill.
        self._mark: EquityMarked | None = EquityMarked(
            ts=0,
            cash=initial_cash,
            equity=initial_cash,
            realized_pnl=_ZERO,
            unrealized_pnl=_ZERO,
            fees=_ZERO,
            day_pnl=_ZERO,
            gross_exposure=_ZERO,
        )
        self._marked_equity = initial_cash  # of the last mark published
        self._day_start_equity = initial_cash
        self._day_end = _NO_DAY

    # --- read API -------------------------------------------------------------------------

    @property
    def cash(self) -> Decimal:
        return self._cash

    @property
    def positions(self) -> dict[str, Decimal]:
        """Open positions, symbol -> signed quantity; flat symbols are absent."""
        return {symbol: position.quantity for symbol, position in self._open.items()}

    @property
    def realized_pnl(self) -> Decimal:
        """Cumulative realized PnL over every symbol, gross of fees."""
        return self._realized

    @property
    def fees(self) -> Decimal:
        """Every fee booked, in the quote asset (fees in a ``fee_assets`` asset excluded)."""
        return self._fees

    @property
    def fee_balances(self) -> dict[str, Decimal]:
        """Fees paid in ``fee_assets``, asset -> balance change (negative: spent); they
        are in no other figure of the books."""
        return dict(self._fee_balances)

    def lots(self, symbol: str) -> tuple[Lot, ...]:
        """Open lots of ``symbol``, oldest first."""
        position = self._open.get(symbol)
        return tuple(position.lots) if position is not None else ()

    def equity(self, marks: Mapping[str, Decimal]) -> Decimal:
        """Cash plus every open position at ``marks``; a missing mark is an error, since
        guessing one would misstate the account."""
        missing = sorted(symbol for symbol in self._open if symbol not in marks)
        if missing:
            raise KeyError(f"no mark for open position(s): {', '.join(missing)}")
        with localcontext(EXACT):
            return self._cash + sum(
                (position.quantity * marks[symbol] for symbol, position in self._open.items()),
                _ZERO,
            )

    # --- snapshot -------------------------------------------------------------------------

    def snapshot(self) -> AccountantState:
        return AccountantState(
            cash=self._cash,
            fees=self._fees,
            realized_pnl=self._realized,
            realized_by_symbol=dict(self._realized_by_symbol),
            positions=tuple(
                OpenPosition(
                    symbol=symbol,
                    lots=tuple(position.lots),
                    quantity=position.quantity,
                    cost=position.cost,
                    entry_ts=position.entry_ts,
                    entry_quantity=position.entry_quantity,
                    entry_notional=position.entry_notional,
                    exit_quantity=position.exit_quantity,
                    exit_notional=position.exit_notional,
                    gross_pnl=position.gross_pnl,
                    fees=position.fees,
                    entry_price=position.entry_price,
                    exit_price=position.exit_price,
                    market_value=position.market_value,
                    close=position.close,
                )
                for symbol, position in self._open.items()
            ),
            cost_total=self._cost_total,
            trade_keys=tuple(sorted(self._trade_keys)),
            closes=dict(self._closes),
            mark=self._mark,
            marked_equity=self._marked_equity,
            day_start_equity=self._day_start_equity,
            day_end=self._day_end,
            round_trips=tuple(self.round_trips),
            fee_balances=dict(self._fee_balances),
        )

    def restore(self, state: AccountantState) -> None:
        self._cash = state.cash
        self._fees = state.fees
        self._realized = state.realized_pnl
        self._realized_by_symbol = dict(state.realized_by_symbol)
        self._open = {held.symbol: self._position(held) for held in state.positions}
        self._cost_total = state.cost_total
        self._trade_keys = set(state.trade_keys)
        self._closes = dict(state.closes)
        self._mark = state.mark
        self._marked_equity = state.marked_equity
        self._day_start_equity = state.day_start_equity
        self._day_end = state.day_end
        self.round_trips = list(state.round_trips)
        self._fee_balances = dict(state.fee_balances)

    def _position(self, held: OpenPosition) -> _Position:
        scale, step = self._grids.get(held.symbol, _UNIT_GRID)
        return _Position(
            lots=deque(held.lots),
            quantity=held.quantity,
            cost=held.cost,
            entry_ts=held.entry_ts,
            entry_quantity=held.entry_quantity,
            entry_notional=held.entry_notional,
            exit_quantity=held.exit_quantity,
            exit_notional=held.exit_notional,
            gross_pnl=held.gross_pnl,
            fees=held.fees,
            entry_price=held.entry_price,
            exit_price=held.exit_price,
            scale=scale,
            step=step,
            unit=EXACT.multiply(held.quantity, step),  # as ``_book`` computes it
            market_value=held.market_value,
            close=held.close,
        )

    # --- fills ----------------------------------------------------------------------------

    def on_fill(self, fill: Fill) -> None:
        booked, spent = self._bookable(fill)
        symbol, trade_id = fill.symbol, fill.trade_id
        key = (symbol, trade_id)
        if trade_id and key in self._trade_keys:
            _log.warning("duplicate_fill_refused", symbol=symbol, trade_id=trade_id)
            return
        # What localcontext(EXACT) does, without copying the context first.
        saved = getcontext()
        setcontext(EXACT)
        try:
            position = self._book(booked)
        finally:
            setcontext(saved)
        if spent is not None:
            asset = fill.fee_asset
            self._fee_balances[asset] = _subtract(self._fee_balances.get(asset, _ZERO), spent)
        if trade_id:
            self._trade_keys.add(key)
        if position is None:
            quantity = average_price = _ZERO
        else:
            quantity = position.quantity
            lots = position.lots
            average_price = (
                lots[0].price if len(lots) == 1 else _AVERAGE.divide(position.cost, quantity)
            )
        self.publish(
            PositionChanged(
                ts=fill.ts,
                symbol=symbol,
                quantity=quantity,
                average_price=average_price,
                realized_pnl=self._realized_by_symbol[symbol],
            )
        )

    def _bookable(self, fill: Fill) -> tuple[Fill, Decimal | None]:
        """``fill`` as the books take it, with its fee in the quote asset, and the fee it
        spent of a ``fee_assets`` asset (None: none); the module docstring says why.
        Refuses before anything changes: the supervisor drops a message that raised and
        keeps the state, so a half-booked fill would stay half-booked."""
        if not fill.quantity > _ZERO:
            raise InvalidFillError(f"fill {fill.trade_id!r}: quantity {fill.quantity} is not > 0")
        if not fill.price > _ZERO:
            raise InvalidFillError(f"fill {fill.trade_id!r}: price {fill.price} is not > 0")
        fee, asset = fill.fee, fill.fee_asset
        if not fee or asset == self.quote_asset:
            return fill, None
        if asset == self._base_asset(fill.symbol):
            with localcontext(EXACT):
                buy = fill.side is Side.BUY
                quantity = fill.quantity - fee if buy else fill.quantity + fee
                value = fee * fill.price
            if not quantity > _ZERO:
                raise InvalidFillError(
                    f"fill {fill.trade_id!r}: fee {fee} {asset} leaves nothing of its "
                    f"quantity {fill.quantity}"
                )
            return replace(fill, quantity=quantity, fee=value, fee_asset=self.quote_asset), None
        if asset in self.fee_assets:
            return replace(fill, fee=_ZERO, fee_asset=self.quote_asset), fee
        raise FeeAssetError(
            f"fill {fill.trade_id!r} on {fill.symbol}: fee {fee} {asset!r} is neither "
            f"{self.quote_asset!r}, the symbol's base asset "
            f"({self._base_asset(fill.symbol) or 'unknown'}) nor a fee asset "
            f"({', '.join(sorted(self.fee_assets)) or 'none'})"
        )

    def _base_asset(self, symbol: str) -> str | None:
        base = self._base_assets.get(symbol)
        if base is None:
            quote = self.quote_asset
            if symbol.endswith(quote) and len(symbol) > len(quote):
                base = symbol[: -len(quote)]
        return base

    def _book(self, fill: Fill) -> _Position | None:
        """Close opposite lots FIFO, open a lot with the rest, move cash; return the
        symbol's position afterwards (None: flat). Runs in ``EXACT``, and computes
        everything before it assigns anything, so a trap changes nothing."""
        symbol, quantity, fee = fill.symbol, fill.quantity, fill.fee
        buy = fill.side is Side.BUY
        notional = quantity * fill.price
        held = self._open.get(symbol)
        realized = _ZERO
        finished = None
        if held is None:
            grid = self._grids.get(symbol, _UNIT_GRID)
            position = _opened(fill, quantity, notional, fee, grid)
        elif (held.quantity > _ZERO) is buy:
            position = _added(held, fill, notional)
        else:
            position, realized, finished = _reduced(held, fill)
        cash = (self._cash - notional if buy else self._cash + notional) - fee
        cost_total = self._cost_total if held is None else self._cost_total - held.cost
        if position is not None:
            cost_total += position.cost
            position.unit = position.quantity * position.step
        fees = self._fees + fee
        realized_total = self._realized
        realized_symbol = self._realized_by_symbol.get(symbol, _ZERO)
        if realized:  # an opening fill realizes nothing: skip two additions of zero
            realized_total += realized
            realized_symbol += realized

        self._cash = cash
        self._fees = fees
        self._realized = realized_total
        self._realized_by_symbol[symbol] = realized_symbol
        self._cost_total = cost_total
        if position is None:
            del self._open[symbol]
        else:
            self._open[symbol] = position
        if finished is not None:
            self.round_trips.append(finished)
        # The next bar of an open symbol revalues the account anyway, so the mark is
        # rebuilt only when something needs it before that (a flat mark, a day's end).
        self._mark = None
        return position

    # --- marks ----------------------------------------------------------------------------

    def on_bar(self, bar: Bar) -> None:
        """The hot path: once per bar of every interval and symbol."""
        if bar.interval != self.mark_interval:
            return
        ts = bar.ts
        if ts > self._day_end:
            self._close_day(ts)
        symbol = bar.symbol
        close = self._closes[symbol] = bar.close
        position = self._open.get(symbol)
        if position is not None and close != position.close:
            if len(self._open) == 1:  # _revalue's common case, inlined: no call, no loop
                # ``_market_value``'s grid path inlined as well (the call cost as much as
                # its arithmetic); a close off the grid still goes through it.
                scale = position.scale
                scaled = close * scale
                if (
                    -_TICKS_LIMIT < scaled < _TICKS_LIMIT
                    and (ticks := round(scaled)) / scale == close
                ):
                    value = _multiply(position.unit, ticks)
                else:
                    value = _market_value(position, close)
                cash = self._cash
                equity = _add(cash, value)
                mark = EquityMarked(
                    ts=ts,
                    cash=cash,
                    equity=equity,
                    realized_pnl=self._realized,
                    unrealized_pnl=_subtract(value, self._cost_total),
                    fees=self._fees,
                    day_pnl=_subtract(equity, self._day_start_equity),
                    gross_exposure=value if value >= _ZERO else value.copy_negate(),
                )
                position.market_value = value
                position.close = close
                self._mark = mark
            else:
                position.market_value = _market_value(position, close)
                position.close = close
                mark = self._revalue(ts)
        elif self._mark is None:
            mark = self._revalue(ts)
        else:
            mark = replace(self._mark, ts=ts)
        self._marked_equity = mark.equity
        self.publish(mark)

    def _revalue(self, ts: int) -> EquityMarked:
        """The account marked at ``ts`` from the open positions' market values, valuing a
        position that a fill left unvalued at its symbol's last close (at cost before any
        close). Kept as the next mark. Flat, equity *is* cash: the same object, so flat
        marks carry no new Decimal."""
        cash = self._cash
        equity = cash
        unrealized = exposure = _ZERO
        if self._open:
            value = _ZERO
            for symbol, position in self._open.items():
                market_value = position.market_value
                if market_value is None:
                    close = position.close = self._closes.get(symbol)
                    market_value = position.market_value = (
                        position.cost if close is None else _market_value(position, close)
                    )
                value = _add(value, market_value)
                exposure = _add(exposure, market_value.copy_abs())
            equity = _add(cash, value)
            unrealized = _subtract(value, self._cost_total)
        mark = self._mark = EquityMarked(
            ts=ts,
            cash=cash,
            equity=equity,
            realized_pnl=self._realized,
            unrealized_pnl=unrealized,
            fees=self._fees,
            day_pnl=_subtract(equity, self._day_start_equity),
            gross_exposure=exposure,
        )
        return mark

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
            if self._mark is not None:
                self._mark = replace(self._mark, day_pnl=_subtract(self._mark.equity, equity))
        self._day_end = _day_end(ts)

    def on_end_of_data(self, message: EndOfData) -> None:
        """The last day is partial but still a day: publish it, with every fill booked."""
        day_end = self._day_end if self._day_end != _NO_DAY else _day_end(message.ts)
        mark = self._mark if self._mark is not None else self._revalue(message.ts)
        equity = mark.equity
        self.publish(
            DailyPnl(
                ts=message.ts,
                date=_day_name(day_end),
                pnl=_subtract(equity, self._day_start_equity),
                equity=equity,
            )
        )


def _day_end(ts: int) -> int:
    """The midnight (ns) that ends the UTC day ``ts`` belongs to; midnight ends its day."""
    return align(ts - 1, _DAY_NS) + _DAY_NS


def _day_name(day_end: int) -> str:
    return (_EPOCH + dt.timedelta(days=day_end // _DAY_NS - 1)).isoformat()
