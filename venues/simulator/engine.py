"""The simulator's matching engine: one account's balances and orders, filled against the replay.

The market is the replayed data; the account's orders do not move it. What an
order can take is the simulated book: best bid and ask around the last trade
(``half_spread_bps`` of the fill model, at least one tick apart), and per bar a
taker budget of ``participation_cap`` of the last closed bar's volume, shared by
the account's taker fills inside the bar. So:

- MARKET fills at once at the fill model's taker price (the ask or bid, plus impact
  and noise when configured) for as much as the budget allows; what it cannot fill
  expires, as a Binance market order does on a thin book.
- LIMIT takes on arrival when marketable (a buy at or above the ask), at the taker
  price but never worse than its limit, up to the budget. GTC rests the remainder;
  IOC expires it; FOK fills whole or expires without a fill.
- LIMIT_MAKER is refused (-2010) when it would take, else it rests.
- A resting order fills at its limit, as maker, when a replayed trade prints
  strictly through it (venues/fill_model.py ``traded_through``), for up to
  ``participation_cap`` of that trade's quantity: partial fills follow volume.

Balances: a resting or IOC/FOK order locks what it may spend (a buy: quantity x
limit, plus the larger fee when fees are paid in the quote asset; a sell: the
quantity), released as it fills and when it ends.

Commission (``commission_asset``), as Binance charges it:

- ``"received"`` (Binance's default): in the asset the trade brings in: a buy pays in
  the base asset (``quantity x rate``), a sell in the quote asset (``notional x rate``);
- ``"BNB"``: in BNB, ``notional x rate / bnb_prices[quote]`` (a fixed price per quote
  asset, set in the config: the simulator replays no BNB market), while the account
  holds enough free BNB; otherwise, as Binance does, in the received asset;
- ``"quote"``: always in the quote asset, as the backtest exchange and the paper broker
  charge (one quote cash account), for sessions that want to compare with them.

Every commission is rounded up to 8 decimals (``venues.fill_model.fee``): Binance books
and reports commissions to 1e-8 of their asset (every ``commission`` in its documented
responses has 8 decimals, e.g. ``"19.99500000"``), and the fill model rounds fees
against the trader. A buy that pays in the base asset receives ``quantity - fee``.

Every state change is published as an ``ExecutionEvent`` (Binance's
executionReport), followed by an ``AccountEvent`` (outboundAccountPosition) when
balances changed, in the order they happened.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Final

from actors.messages import Side
from venues.fill_model import FillModel, fee, floor_to_lot, traded_through
from venues.simulator import errors
from venues.simulator.config import COMMISSION_ASSETS, SymbolSpec
from venues.simulator.market import quote_around

__all__ = [
    "OPEN_STATUSES",
    "ORDER_TYPES",
    "AccountEvent",
    "AccountTrade",
    "ExecutionEvent",
    "MatchingEngine",
    "SimOrder",
]

_ZERO: Final = Decimal(0)
ORDER_TYPES: Final = ("MARKET", "LIMIT", "LIMIT_MAKER")
_CLIENT_ID: Final = re.compile(errors.CLIENT_ID_PATTERN)
OPEN_STATUSES: Final = ("NEW", "PARTIALLY_FILLED")
_BNB: Final = "BNB"


@dataclass
class SimOrder:
    order_id: int
    client_order_id: str
    symbol: str
    side: Side
    type: str
    time_in_force: str
    quantity: Decimal
    price: Decimal
    time_ms: int
    update_ms: int
    working_ms: int
    status: str = "NEW"
    executed: Decimal = _ZERO
    quote_executed: Decimal = _ZERO
    reserved: Decimal = _ZERO
    on_book: bool = False

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def remaining(self) -> Decimal:
        return self.quantity - self.executed


@dataclass(frozen=True, slots=True)
class AccountTrade:
    trade_id: int
    order_id: int
    symbol: str
    side: Side
    price: Decimal
    quantity: Decimal
    quote_quantity: Decimal
    commission: Decimal
    commission_asset: str
    time_ms: int
    is_maker: bool


@dataclass(frozen=True, slots=True)
class ExecutionEvent:
    """The order as it was after a change: ``execution_type`` NEW, TRADE, CANCELED or
    EXPIRED; ``trade`` for a TRADE; ``cancel_client_id`` is the cancel request's own id
    (Binance reports a cancel with it as ``c`` and the order's id as ``C``)."""

    order: SimOrder
    execution_type: str
    time_ms: int
    trade: AccountTrade | None = None
    cancel_client_id: str = ""


@dataclass(frozen=True, slots=True)
class AccountEvent:
    time_ms: int
    balances: tuple[tuple[str, Decimal, Decimal], ...]
    """(asset, free, locked) of the assets that changed, by asset name."""


@dataclass
class _Book:
    """The simulated top of book of one symbol and what the account may still take."""

    last: Decimal
    bid: Decimal
    ask: Decimal
    reference_volume: Decimal | None
    taker_budget: Decimal


@dataclass
class _Balance:
    free: Decimal = _ZERO
    locked: Decimal = _ZERO


@dataclass
class MatchingEngine:
    specs: Mapping[str, SymbolSpec]
    model: FillModel
    balances: Mapping[str, Decimal]
    publish: Callable[[ExecutionEvent | AccountEvent], None]
    client_id_scope: str = "open"
    commission_asset: str = "received"
    bnb_prices: Mapping[str, Decimal] = field(default_factory=dict)
    """The price of one BNB in each quote asset, for ``commission_asset="BNB"``."""
    _accounts: dict[str, _Balance] = field(init=False)
    _books: dict[str, _Book] = field(init=False, default_factory=dict)
    _orders: dict[int, SimOrder] = field(init=False, default_factory=dict)
    _open: dict[int, SimOrder] = field(init=False, default_factory=dict)
    _by_client_id: dict[str, SimOrder] = field(init=False, default_factory=dict)
    _trades: dict[str, list[AccountTrade]] = field(init=False, default_factory=dict)
    _changed: set[str] = field(init=False, default_factory=set)
    _next_order_id: int = field(init=False, default=1)
    _next_trade_id: int = field(init=False, default=1)
    _next_cancel_id: int = field(init=False, default=1)
    update_ms: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        if self.commission_asset not in COMMISSION_ASSETS:
            raise ValueError(
                f"commission_asset must be one of {COMMISSION_ASSETS}: {self.commission_asset!r}"
            )
        self._accounts = {asset: _Balance(free=amount) for asset, amount in self.balances.items()}
        for spec in self.specs.values():
            self._accounts.setdefault(spec.base, _Balance())
            self._accounts.setdefault(spec.quote, _Balance())

    # --- market side ------------------------------------------------------------------

    def set_price(self, symbol: str, price: Decimal) -> None:
        """The last trade price moved: the book follows it."""
        tick = self.specs[symbol].tick_size
        bid, ask = quote_around(price, tick, self.model.config.half_spread_bps)
        book = self._books.get(symbol)
        if book is None:
            self._books[symbol] = _Book(price, bid, ask, None, _ZERO)
        else:
            book.last, book.bid, book.ask = price, bid, ask

    def quote(self, symbol: str) -> tuple[Decimal, Decimal]:
        book = self._books[symbol]
        return book.bid, book.ask

    def start_bar(self, symbol: str, reference_volume: Decimal | None) -> None:
        """A new bar: the taker budget refills from the last closed bar's volume."""
        book = self._books[symbol]
        book.reference_volume = reference_volume
        spec = self.specs[symbol]
        if reference_volume is None:
            book.taker_budget = spec.max_qty
        else:
            book.taker_budget = self.model.participation_capacity(reference_volume, spec.step_size)

    def on_trade(self, symbol: str, price: Decimal, quantity: Decimal, time_ms: int) -> None:
        """A replayed trade: resting orders it printed through fill, oldest first."""
        self.set_price(symbol, price)
        if not self._open:
            return
        spec = self.specs[symbol]
        available = floor_to_lot(self.model.config.participation_cap * quantity, spec.step_size)
        for order in list(self._open.values()):
            if available <= 0:
                break
            if order.symbol != symbol or not order.on_book:
                continue
            if not traded_through(order.side, order.price, price, price):
                continue
            fill = min(order.remaining, available)
            available -= fill
            self._fill(order, fill, order.price, is_maker=True, time_ms=time_ms)

    # --- account side -----------------------------------------------------------------

    def place(
        self,
        *,
        symbol: str,
        side: Side,
        order_type: str,
        time_in_force: str,
        quantity: Decimal,
        price: Decimal,
        client_order_id: str | None,
        time_ms: int,
    ) -> tuple[SimOrder, list[AccountTrade]]:
        """A new order, handled at once: rejected with a ``BinanceError``, or accepted
        (and maybe filled or expired) with the trades it made."""
        spec = self.specs[symbol]
        book = self._books[symbol]
        if client_order_id is not None:
            self._check_client_id(client_order_id)
        self._check_filters(spec, order_type, quantity, price, book.last)
        marketable = order_type == "MARKET" or (
            price >= book.ask if side is Side.BUY else price <= book.bid
        )
        if order_type == "LIMIT_MAKER" and marketable:
            raise errors.would_take()
        reserve = self._reservation(spec, side, order_type, quantity, price, book)
        reserve_asset = spec.quote if side is Side.BUY else spec.base
        if reserve > self._accounts[reserve_asset].free:
            raise errors.insufficient_balance()

        order_id = self._next_order_id
        self._next_order_id += 1
        order = SimOrder(
            order_id=order_id,
            client_order_id=client_order_id or f"sim-{order_id}",
            symbol=symbol, side=side, type=order_type, time_in_force=time_in_force,
            quantity=quantity, price=price, time_ms=time_ms, update_ms=time_ms,
            working_ms=time_ms,
        )  # fmt: skip
        self._orders[order_id] = order
        self._by_client_id[order.client_order_id] = order
        self._open[order_id] = order
        if order_type != "MARKET":
            order.reserved = reserve
            self._lock(reserve_asset, reserve)
        self._emit(order, "NEW", time_ms)
        trades_before = len(self._trades.get(symbol, ()))
        if marketable:
            self._take(order, spec, book, time_ms)
        if order.is_open:
            if order_type == "MARKET" or time_in_force in ("IOC", "FOK"):
                self._finish(order, "EXPIRED", time_ms)
            else:
                order.on_book = True
        return order, self._trades.get(symbol, [])[trades_before:]

    def cancel(
        self,
        symbol: str,
        order_id: int | None,
        client_order_id: str | None,
        cancel_client_id: str | None,
        time_ms: int,
    ) -> tuple[SimOrder, str]:
        """Cancel an open order; -2011 for an unknown or finished one. Returns the order
        and the cancel's own client id."""
        order = self._find(symbol, order_id, client_order_id)
        if order is None or not order.is_open:
            raise errors.unknown_order()
        if cancel_client_id is None:
            cancel_client_id = f"sim-cancel-{self._next_cancel_id}"
            self._next_cancel_id += 1
        self._finish(order, "CANCELED", time_ms, cancel_client_id=cancel_client_id)
        return order, cancel_client_id

    def order(self, symbol: str, order_id: int | None, client_order_id: str | None) -> SimOrder:
        order = self._find(symbol, order_id, client_order_id)
        if order is None:
            raise errors.order_does_not_exist()
        return order

    def open_orders(self, symbol: str | None) -> list[SimOrder]:
        return [o for o in self._open.values() if symbol is None or o.symbol == symbol]

    def trades(self, symbol: str) -> list[AccountTrade]:
        return self._trades.get(symbol, [])

    def balances_view(self) -> list[tuple[str, Decimal, Decimal]]:
        return [(asset, b.free, b.locked) for asset, b in sorted(self._accounts.items())]

    def book(self, symbol: str) -> tuple[Decimal, Decimal, Decimal]:
        book = self._books[symbol]
        return book.last, book.bid, book.ask

    # --- internals --------------------------------------------------------------------

    def _check_client_id(self, client_order_id: str) -> None:
        if not _CLIENT_ID.match(client_order_id):
            raise errors.illegal_characters("newClientOrderId", errors.CLIENT_ID_PATTERN)
        known = self._by_client_id.get(client_order_id)
        if known is not None and (self.client_id_scope == "all" or known.is_open):
            raise errors.duplicate_order()

    def _check_filters(
        self, spec: SymbolSpec, order_type: str, quantity: Decimal, price: Decimal, last: Decimal
    ) -> None:
        if order_type != "MARKET" and (
            price < spec.lowest_price
            or price > spec.max_price
            or (price - spec.lowest_price) % spec.tick_size
        ):
            raise errors.filter_failure("PRICE_FILTER")
        if (
            quantity < spec.min_qty
            or quantity > spec.max_qty
            or (quantity - spec.min_qty) % spec.step_size
        ):
            raise errors.filter_failure("LOT_SIZE")
        notional_price = last if order_type == "MARKET" else price
        if quantity * notional_price < spec.min_notional:
            raise errors.filter_failure("NOTIONAL")

    def _reservation(
        self,
        spec: SymbolSpec,
        side: Side,
        order_type: str,
        quantity: Decimal,
        price: Decimal,
        book: _Book,
    ) -> Decimal:
        """What the order needs free: a limit its worst case, a market order its cost
        at the price it will fill at now."""
        if side is Side.SELL:
            return quantity
        if order_type == "MARKET":
            fill_price = self.model.worst_market_price(
                side, book.last, quantity, book.reference_volume, spec.tick_size
            )
            notional = fill_price * quantity
            return notional + self._quote_fee_reserve(self.model.taker_fee(notional))
        notional = price * quantity
        return notional + self._quote_fee_reserve(self.model.max_fee(notional))

    def _quote_fee_reserve(self, fee_in_quote: Decimal) -> Decimal:
        """The part of a buy's fee that is paid in the quote asset: all of it, or none
        when the buy pays in what it receives (or in BNB)."""
        return fee_in_quote if self.commission_asset == "quote" else _ZERO

    def _commission(
        self, spec: SymbolSpec, side: Side, quantity: Decimal, notional: Decimal, is_maker: bool
    ) -> tuple[str, Decimal]:
        """The asset and amount of one trade's commission (see the module docstring)."""
        config = self.model.config
        bps = config.maker_fee_bps if is_maker else config.taker_fee_bps
        mode = self.commission_asset
        if mode == _BNB:
            price = self.bnb_prices.get(spec.quote)
            if price is not None and price > 0:
                amount = fee(notional / price, bps)
                balance = self._accounts.get(_BNB)
                if balance is not None and balance.free >= amount:
                    return _BNB, amount
        elif mode == "quote":
            return spec.quote, fee(notional, bps)
        if side is Side.BUY:
            return spec.base, fee(quantity, bps)
        return spec.quote, fee(notional, bps)

    def _take(self, order: SimOrder, spec: SymbolSpec, book: _Book, time_ms: int) -> None:
        quantity = min(order.quantity, book.taker_budget)
        if order.time_in_force == "FOK" and quantity < order.quantity:
            return
        if quantity <= 0:
            return
        price = self.model.market_price(
            order.side, book.last, quantity, book.reference_volume, spec.tick_size
        )
        if order.type != "MARKET":
            price = min(price, order.price) if order.side is Side.BUY else max(price, order.price)
        book.taker_budget -= quantity
        self._fill(order, quantity, price, is_maker=False, time_ms=time_ms)

    def _fill(
        self, order: SimOrder, quantity: Decimal, price: Decimal, *, is_maker: bool, time_ms: int
    ) -> None:
        spec = self.specs[order.symbol]
        notional = price * quantity
        fee_asset, commission = self._commission(spec, order.side, quantity, notional, is_maker)
        if order.side is Side.BUY:
            if order.reserved:
                part = order.price * quantity
                held = part + self._quote_fee_reserve(self.model.max_fee(part))
                self._release(order, spec.quote, held)
            self._add(spec.quote, -notional)
            self._add(spec.base, quantity)
        else:
            if order.reserved:
                self._release(order, spec.base, quantity)
            self._add(spec.base, -quantity)
            self._add(spec.quote, notional)
        self._add(fee_asset, -commission)
        trade = AccountTrade(
            trade_id=self._next_trade_id, order_id=order.order_id, symbol=order.symbol,
            side=order.side, price=price, quantity=quantity, quote_quantity=notional,
            commission=commission, commission_asset=fee_asset, time_ms=time_ms,
            is_maker=is_maker,
        )  # fmt: skip
        self._next_trade_id += 1
        self._trades.setdefault(order.symbol, []).append(trade)
        order.executed += quantity
        order.quote_executed += notional
        order.update_ms = time_ms
        if order.executed >= order.quantity:
            order.status = "FILLED"
            self._close(order)
        else:
            order.status = "PARTIALLY_FILLED"
        self._emit(order, "TRADE", time_ms, trade=trade)

    def _finish(
        self, order: SimOrder, status: str, time_ms: int, *, cancel_client_id: str = ""
    ) -> None:
        order.status = status
        order.update_ms = time_ms
        self._close(order)
        self._emit(order, status, time_ms, cancel_client_id=cancel_client_id)

    def _close(self, order: SimOrder) -> None:
        """The order is done: off the book, what it still held unlocked."""
        self._open.pop(order.order_id, None)
        order.on_book = False
        if order.reserved:
            spec = self.specs[order.symbol]
            self._release(order, spec.quote if order.side is Side.BUY else spec.base, None)

    def _release(self, order: SimOrder, asset: str, amount: Decimal | None) -> None:
        """Unlock ``amount`` (all when None) of what ``order`` reserved."""
        amount = order.reserved if amount is None else min(amount, order.reserved)
        order.reserved -= amount
        balance = self._accounts[asset]
        balance.locked -= amount
        balance.free += amount
        self._changed.add(asset)

    def _lock(self, asset: str, amount: Decimal) -> None:
        balance = self._accounts[asset]
        balance.free -= amount
        balance.locked += amount
        self._changed.add(asset)

    def _add(self, asset: str, amount: Decimal) -> None:
        self._accounts[asset].free += amount
        self._changed.add(asset)

    def _find(
        self, symbol: str, order_id: int | None, client_order_id: str | None
    ) -> SimOrder | None:
        if order_id is not None:
            order = self._orders.get(order_id)
            if order is None or order.symbol != symbol:
                return None
            if client_order_id is not None and order.client_order_id != client_order_id:
                return None
            return order
        order = self._by_client_id.get(client_order_id or "")
        return order if order is not None and order.symbol == symbol else None

    def _emit(
        self,
        order: SimOrder,
        execution_type: str,
        time_ms: int,
        *,
        trade: AccountTrade | None = None,
        cancel_client_id: str = "",
    ) -> None:
        self.publish(
            ExecutionEvent(copy.copy(order), execution_type, time_ms, trade, cancel_client_id)
        )
        if self._changed:
            self.update_ms = time_ms
            changed = sorted(self._changed)
            self._changed.clear()
            self.publish(AccountEvent(time_ms, tuple(self._balance_rows(changed))))

    def _balance_rows(self, assets: Iterable[str]) -> Iterable[tuple[str, Decimal, Decimal]]:
        for asset in assets:
            balance = self._accounts[asset]
            yield asset, balance.free, balance.locked
