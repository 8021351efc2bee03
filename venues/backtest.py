"""The backtest exchange: the venue gateway of a backtest, filling orders on historical bars.

It owns the simulated spot account (balances per asset, funds reserved by working
orders) and the working orders, and answers the order manager the way a venue does: an
ACCEPTED or REJECTED report at once, fills later as bars arrive, a VenueSnapshot on
Reconcile. Prices, fill sizes and fees come from the shared fill model.

No lookahead: an order is matched only against bars that start at or after its
decision time (the SubmitOrder's ``ts``), and a market order's impact is measured
against the volume of the last bar that had closed before the fill.

Matching, per BarUpdate of a symbol with working orders (the feed sends an open-only
update at a bar's start, then the closed bar):

- An order's first eligible bar is its arrival. There, at the bar's open, a market order
  fills whole as taker; a marketable limit (buy limit >= open) fills whole as taker at
  the model's taker price, never worse than its limit; a post-only limit never takes.
- At the close of each eligible bar, a limit the bar traded through (strictly) fills at
  its limit, sharing ``participation_cap`` of the bar's volume with our other orders;
  what does not fill keeps resting. Resting orders are makers; IOC and FOK orders never
  rest, so their fills are takers. IOC expires what its first bar did not fill; FOK
  fills whole on its first bar or expires.
- A stop-limit triggers when its arrival open or a bar's range reaches the stop. Then it
  is a limit: at once when triggered at the open; from the next bar on when triggered
  inside a bar, because a bar does not say whether it traded at the limit before or
  after it reached the stop.

A feed that sends only closed updates gets the same result: the arrival step runs on
the closed update, before the close step.

Cancels of unknown or finished orders, and resubmissions of a known client order id,
are answered with an ``Alert`` and change nothing: a REJECTED report would make the
order manager mark an order the venue did fill (or did accept) as rejected.

The exchange remembers every report it sent, per client order id, so it can answer a
``QueryOrder`` as a venue does after a crash: the order's reports again, in their
order and with their trade ids, then an ``OrderStatusReport`` (``found=False`` for a
client id it never saw). Its whole state (``BacktestExchangeState``: balances, the
working orders with their reservations and fill progress, the last closed bar per
symbol, the id counters, the reports, the fill model's noise source) goes into a
snapshot; the feed subscriptions it holds follow from its working orders.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import ClassVar, Final

import msgspec

from actors.actor import Actor
from actors.messages import (
    BAR_OPEN,
    Alert,
    Bar,
    BarUpdate,
    CancelOrder,
    ExecutionReport,
    Instrument,
    Liquidity,
    OrderStatus,
    OrderStatusReport,
    OrderTicket,
    OrderType,
    QueryOrder,
    Reconcile,
    Side,
    SubmitOrder,
    Subscribe,
    TimeInForce,
    Unsubscribe,
    VenueSnapshot,
)
from venues.fill_model import (
    FillModel,
    FillModelConfig,
    RandomState,
    is_marketable,
    is_stop_triggered,
    traded_through,
)

__all__ = [
    "BacktestExchange",
    "BacktestExchangeState",
    "ExchangeOrderHistory",
    "ExchangeOrderState",
]

_ZERO: Final = Decimal(0)

# The enum members the order path compares with, read once here: on Python 3.11 each
# read through the class (``Side.BUY``) goes through the enum metaclass (~70 ns).
_BUY: Final = Side.BUY
_SELL: Final = Side.SELL
_MARKET: Final = OrderType.MARKET
_STOP_LIMIT: Final = OrderType.STOP_LIMIT
_GTC: Final = TimeInForce.GTC
_FOK: Final = TimeInForce.FOK
_MAKER: Final = Liquidity.MAKER
_TAKER: Final = Liquidity.TAKER
_ACCEPTED: Final = OrderStatus.ACCEPTED
_PARTIALLY_FILLED: Final = OrderStatus.PARTIALLY_FILLED
_FILLED: Final = OrderStatus.FILLED
_REJECTED: Final = OrderStatus.REJECTED


def _decimal(value: float) -> Decimal:
    """A bar's float as the decimal text it was parsed from (shortest repr), not the
    binary expansion: 100.1 -> Decimal("100.1")."""
    return Decimal(repr(value))


def _price_refusal(
    ticket: OrderTicket, label: str, price: Decimal | None, tick_size: Decimal
) -> str:
    """Why ``price`` (the ticket's ``label`` price) cannot be sent, or "" if it can."""
    if price is None or price <= _ZERO:
        return f"{ticket.order_type} order needs a positive {label} price"
    if price % tick_size:
        return f"{label} price {price} is not on the tick {tick_size}"
    return ""


class _LastClose(msgspec.Struct, frozen=True, gc=False):
    """A symbol's last closed bar with its close and volume as Decimals."""

    bar: Bar
    close: Decimal
    volume: Decimal


class _WorkingOrder(msgspec.Struct, kw_only=True):
    """An accepted order, kept while it works. ``not_before`` is the first bar start that
    may fill it; ``arrived`` says its arrival step has run; ``finished`` that it has left
    the books (an order can finish while the bar that finished it is still being matched);
    ``reserved`` is what it holds of ``reserved_asset`` so that no other order spends it.

    A mutable msgspec Struct rather than a dataclass: one is built per order from ten
    keywords, which a Struct binds in C in a quarter of a dataclass ``__init__``'s time."""

    client_order_id: str
    venue_order_id: str
    ticket: OrderTicket
    instrument: Instrument
    not_before: int
    triggered: bool
    reserved_asset: str
    reserved: Decimal
    # Floats of the limit and stop, for the per-bar comparisons with float bar prices.
    # Exact for prices on a tick grid: both sides are the nearest float to short decimals.
    limit_float: float
    stop_float: float
    arrived: bool = False
    finished: bool = False
    filled: Decimal = _ZERO

    @property
    def remaining(self) -> Decimal:
        return self.ticket.quantity - self.filled

    @property
    def never_rests(self) -> bool:
        return self.ticket.time_in_force is not _GTC


class ExchangeOrderState(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """A working order in a snapshot: what ``_WorkingOrder`` holds that is not read from
    the instrument or the ticket again."""

    client_order_id: str
    venue_order_id: str
    ticket: OrderTicket
    not_before: int
    triggered: bool
    arrived: bool
    reserved_asset: str
    reserved: Decimal
    filled: Decimal


class ExchangeOrderHistory(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """Every report sent for one client order id, in order, and the quantity of its last
    submission (the order's size in an ``OrderStatusReport``)."""

    client_order_id: str
    quantity: Decimal
    reports: tuple[ExecutionReport, ...]


class BacktestExchangeState(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """Everything the exchange decides with. ``orders`` are the working orders in
    submission order (the order they are matched in); ``history`` holds every client id
    the exchange answered, in the order it first did; ``trade_count`` is the last trade
    number of the venue's sequence (trade n has the id ``str(n)``)."""

    balances: dict[str, Decimal]
    orders: tuple[ExchangeOrderState, ...]
    last_closed: dict[str, Bar]
    order_count: int
    trade_count: int
    history: tuple[ExchangeOrderHistory, ...]
    random_state: RandomState


class _History(msgspec.Struct):
    """The reports of one client id, with the snapshot record built from them cached until
    the next report (a finished order's is built once, so a snapshot costs the orders
    that changed, not every report of the session). A Struct: one is built per order."""

    quantity: Decimal
    reports: list[ExecutionReport]
    record: ExchangeOrderHistory | None = None


class BacktestExchange(Actor):
    """A spot venue on historical bars: no shorting, fees in the quote asset."""

    name: ClassVar[str] = "exchange"
    state_type = BacktestExchangeState

    def __init__(
        self,
        *,
        venue: str = "backtest",
        instruments: Mapping[str, Instrument],
        initial_balances: Mapping[str, Decimal],
        fill_model: FillModelConfig | None = None,
    ) -> None:
        super().__init__()
        for asset, amount in initial_balances.items():
            if amount < 0:
                raise ValueError(f"initial balance of {asset} is negative: {amount}")
        self.venue = venue
        self._instruments = dict(instruments)
        self._balances: dict[str, Decimal] = {
            asset: Decimal(str(amount)) for asset, amount in sorted(initial_balances.items())
        }
        # ``balances`` as the last VenueSnapshot answered them; None once a trade moved them.
        self._balances_answer: dict[str, Decimal] | None = None
        self._model = FillModel(fill_model or FillModelConfig())
        self._working: dict[str, _WorkingOrder] = {}
        # Working orders per symbol, present only while non-empty: the hot path's test.
        self._book: dict[str, dict[str, _WorkingOrder]] = {}
        self._last_closed: dict[str, Bar] = {}
        # The last closed bar's close and volume as Decimals, converted when an order first
        # needs them and shared by every order priced against that bar.
        self._last_closed_decimals: dict[str, _LastClose] = {}
        self._accepted_ids: set[str] = set()
        self._order_count = 0
        # Trades so far: trade n of the venue's sequence has the id str(n).
        self._trade_count = 0
        self._history: dict[str, _History] = {}

    # --- snapshot ---------------------------------------------------------------------

    def snapshot(self) -> BacktestExchangeState:
        return BacktestExchangeState(
            balances=dict(self._balances),
            orders=tuple(
                ExchangeOrderState(
                    client_order_id=order.client_order_id,
                    venue_order_id=order.venue_order_id,
                    ticket=order.ticket,
                    not_before=order.not_before,
                    triggered=order.triggered,
                    arrived=order.arrived,
                    reserved_asset=order.reserved_asset,
                    reserved=order.reserved,
                    filled=order.filled,
                )
                for order in self._working.values()
            ),
            last_closed=dict(self._last_closed),
            order_count=self._order_count,
            trade_count=self._trade_count,
            history=tuple(_history_record(cid, kept) for cid, kept in self._history.items()),
            random_state=self._model.random_state(),
        )

    def restore(self, state: BacktestExchangeState) -> None:
        unknown = sorted({order.ticket.symbol for order in state.orders} - set(self._instruments))
        if unknown:
            raise ValueError(f"working orders on symbols without an instrument: {unknown}")
        self._balances = dict(state.balances)
        self._balances_answer = None
        self._working = {}
        self._book = {}
        for saved in state.orders:
            ticket = saved.ticket
            order = _WorkingOrder(
                client_order_id=saved.client_order_id,
                venue_order_id=saved.venue_order_id,
                ticket=ticket,
                instrument=self._instruments[ticket.symbol],
                not_before=saved.not_before,
                triggered=saved.triggered,
                reserved_asset=saved.reserved_asset,
                reserved=saved.reserved,
                limit_float=float(ticket.limit_price or 0),
                stop_float=float(ticket.stop_price or 0),
                arrived=saved.arrived,
                filled=saved.filled,
            )
            self._working[order.client_order_id] = order
            self._book.setdefault(ticket.symbol, {})[order.client_order_id] = order
        self._last_closed = dict(state.last_closed)
        self._last_closed_decimals = {}
        self._order_count = state.order_count
        self._trade_count = state.trade_count
        self._history = {}
        for record in state.history:
            kept = _History(record.quantity, list(record.reports))
            kept.record = record
            self._history[record.client_order_id] = kept
        self._accepted_ids = {
            record.client_order_id
            for record in state.history
            if any(report.status is _ACCEPTED for report in record.reports)
        }
        self._model.set_random_state(state.random_state)

    # --- read API ---------------------------------------------------------------------

    @property
    def balances(self) -> dict[str, Decimal]:
        """Total balance per asset (reserved funds included), sorted by asset."""
        return dict(sorted(self._balances.items()))

    @property
    def working_orders(self) -> tuple[OrderStatusReport, ...]:
        """Orders accepted and not finished, in submission order."""
        return self._open_orders(self.clock.now())

    def available(self, asset: str) -> Decimal:
        """Balance of ``asset`` not reserved by working orders."""
        return self._available(asset, excluding=None)

    # --- handlers ---------------------------------------------------------------------

    def on_bar_update(self, msg: BarUpdate) -> None:
        # The hot path: a dict's truth test when nothing works (no hashing), a membership
        # test when orders work on other symbols only, then the store of a closed bar.
        bar = msg.bar
        if self._book and bar.symbol in self._book:
            self._match(bar, msg.closed)
        if msg.closed:
            self._last_closed[bar.symbol] = bar

    def on_submit_order(self, msg: SubmitOrder) -> None:
        client_order_id = msg.client_order_id
        if client_order_id in self._accepted_ids:
            self._alert(f"duplicate client order id {client_order_id}: ignored")
            return
        ticket = msg.ticket
        symbol = ticket.symbol
        now = self.clock.now()
        instrument = self._instruments.get(symbol)
        if instrument is None:
            self._reject(msg, now, f"unknown symbol {symbol}")
            return
        # Market and post-only orders are checked against the last close: converted here
        # once for the checks and the reservation.
        last = (
            self._last_closed_as_decimals(symbol)
            if ticket.order_type is _MARKET or ticket.post_only
            else None
        )
        reason = self._ticket_error(ticket, instrument, last)
        if reason:
            self._reject(msg, now, reason)
            return
        reserved_asset, reserved = self._reservation(ticket, ticket.quantity, instrument, last)
        available = self._available(reserved_asset, None)
        if reserved > available:
            self._reject(
                msg, now, f"insufficient {reserved_asset}: need {reserved}, available {available}"
            )
            return
        self._order_count += 1
        order = _WorkingOrder(
            client_order_id=client_order_id,
            venue_order_id=str(self._order_count),
            ticket=ticket,
            instrument=instrument,
            not_before=msg.ts,
            triggered=ticket.order_type is not _STOP_LIMIT,
            reserved_asset=reserved_asset,
            reserved=reserved,
            limit_float=float(ticket.limit_price or 0),
            stop_float=float(ticket.stop_price or 0),
        )
        self._accepted_ids.add(client_order_id)
        self._working[client_order_id] = order
        orders = self._book.get(symbol)
        if orders is None:
            self._book[symbol] = {client_order_id: order}
            # Fills at the open need each bar's opening update while orders work.
            self.publish(Subscribe(ts=now, subscriber=self.name, symbol=symbol, stream=BAR_OPEN))
        else:
            orders[client_order_id] = order
        self._report(order, now, _ACCEPTED)

    def on_cancel_order(self, msg: CancelOrder) -> None:
        order = self._working.get(msg.client_order_id)
        if order is None or order.ticket.symbol != msg.symbol:
            self._alert(f"cancel of unknown or finished order {msg.client_order_id}: ignored")
            return
        self._finish(order)
        self._report(order, self.clock.now(), OrderStatus.CANCELED)

    def on_query_order(self, msg: QueryOrder) -> None:
        """Answer with the order's reports so far, as sent, then its status. A venue
        forgets no order it saw; one it never saw was never placed (``found=False``)."""
        if msg.venue != self.venue:
            return
        now = self.clock.now()
        kept = self._history.get(msg.client_order_id)
        if kept is None:
            self.publish(
                OrderStatusReport(
                    ts=now, venue=self.venue, client_order_id=msg.client_order_id,
                    venue_order_id="", symbol="", side=_BUY, status=_REJECTED,
                    quantity=_ZERO, filled_quantity=_ZERO, found=False,
                )
            )  # fmt: skip
            return
        for report in kept.reports:
            self.publish(report)
        last = kept.reports[-1]
        self.publish(
            OrderStatusReport(
                ts=now, venue=self.venue, client_order_id=msg.client_order_id,
                venue_order_id=last.venue_order_id, symbol=last.symbol, side=last.side,
                status=last.status, quantity=kept.quantity,
                filled_quantity=last.cumulative_quantity,
            )
        )  # fmt: skip

    def on_reconcile(self, msg: Reconcile) -> None:
        # Trade n (1-based, the venue's trade sequence) has the id str(n), so the trades
        # after ``since_trade`` are one range: the answer costs the new trades only. A
        # request outside the sequence is clamped rather than refused, and the echo says
        # what the ids cover.
        cursor = self._trade_count
        since = min(max(msg.since_trade, 0), cursor)
        now = self.clock.now()
        # Balances change only with a trade: their sorted copy is kept for the answers
        # until the next one (snapshots may share it: a message is never mutated).
        balances = self._balances_answer
        if balances is None:
            balances = self._balances_answer = self.balances
        self.publish(
            VenueSnapshot(
                ts=now,
                venue=self.venue,
                balances=balances,
                open_orders=self._open_orders(now) if self._working else (),
                trade_ids=tuple(map(str, range(since + 1, cursor + 1))),
                since_trade=since,
                trade_cursor=cursor,
            )
        )

    # --- validation and reservation ---------------------------------------------------

    def _ticket_error(
        self, ticket: OrderTicket, instrument: Instrument, last: _LastClose | None
    ) -> str:
        """Why a venue would refuse ``ticket``, or "" if it would not. ``last`` is the last
        close of its symbol for a market or post-only order (None before the first)."""
        quantity = ticket.quantity
        if quantity <= _ZERO:
            return f"quantity must be positive: {quantity}"
        if quantity % instrument.lot_size:
            return f"quantity {quantity} is not a multiple of the lot size {instrument.lot_size}"
        if quantity < instrument.min_quantity:
            return f"quantity {quantity} is below the minimum {instrument.min_quantity}"
        if instrument.max_quantity and quantity > instrument.max_quantity:
            return f"quantity {quantity} is above the maximum {instrument.max_quantity}"
        if ticket.order_type is _MARKET:
            if ticket.post_only:
                return "post-only applies to limit orders only"
            if last is None:
                return f"no market price for {ticket.symbol} yet"
            reference = last.close
        else:
            error = self._price_error(ticket, instrument)
            if error:
                return error
            assert ticket.limit_price is not None  # checked by _price_error
            reference = ticket.limit_price
            if (
                ticket.post_only
                and last is not None
                and is_marketable(ticket.side, reference, last.close)
            ):
                return f"post-only limit {reference} would take liquidity"
        notional = quantity * reference
        if notional < instrument.min_notional:
            return f"notional {notional} is below the minimum {instrument.min_notional}"
        return ""

    @staticmethod
    def _price_error(ticket: OrderTicket, instrument: Instrument) -> str:
        stop_limit = ticket.order_type is _STOP_LIMIT
        if stop_limit and ticket.post_only:
            return "post-only applies to limit orders only"
        error = _price_refusal(ticket, "limit", ticket.limit_price, instrument.tick_size)
        if error or not stop_limit:
            return error
        return _price_refusal(ticket, "stop", ticket.stop_price, instrument.tick_size)

    def _reservation(
        self,
        ticket: OrderTicket,
        quantity: Decimal,
        instrument: Instrument,
        last: _LastClose | None = None,
    ) -> tuple[str, Decimal]:
        """What an order for ``quantity`` must hold: a sell its base quantity (spot: no
        shorting); a buy its worst cost in quote, fee included. A limit buy never pays
        more than its limit; a market buy is priced at the last close (``last``, looked
        up if not given) with the model's costs at their maximum (a gap beyond that is
        caught when it fills)."""
        if ticket.side is _SELL:
            return instrument.base, quantity
        model = self._model
        if ticket.order_type is not _MARKET:
            assert ticket.limit_price is not None  # validated at submit
            price = ticket.limit_price
        else:
            if last is None:
                last = self._last_closed_as_decimals(ticket.symbol)
            assert last is not None  # a market order is refused before the first close
            price = model.worst_market_price(
                _BUY, last.close, quantity, last.volume, instrument.tick_size
            )
        notional = price * quantity
        return instrument.quote, notional + model.max_fee(notional)

    def _available(self, asset: str, excluding: _WorkingOrder | None) -> Decimal:
        reserved = _ZERO
        for order in self._working.values():
            if order.reserved_asset == asset and order is not excluding:
                reserved += order.reserved
        return self._balances.get(asset, _ZERO) - reserved

    def _last_closed_as_decimals(self, symbol: str) -> _LastClose | None:
        """Close and volume of ``symbol``'s last closed bar as Decimals, or None before the
        first close. Converted on first use, so the per-bar path never converts, and
        once per bar: every order priced against that bar shares them."""
        bar = self._last_closed.get(symbol)
        if bar is None:
            return None
        converted = self._last_closed_decimals.get(symbol)
        if converted is None or converted.bar is not bar:
            converted = _LastClose(bar, _decimal(bar.close), _decimal(bar.volume))
            self._last_closed_decimals[symbol] = converted
        return converted

    # --- matching ---------------------------------------------------------------------

    def _match(self, bar: Bar, closed: bool) -> None:
        start = bar.start
        capacity: Decimal | None = None  # shared by this bar's limit fills, sized on first use
        for order in tuple(self._book[bar.symbol].values()):
            if order.not_before > start:
                continue
            if not order.arrived:
                self._arrive(order, bar)
            if not closed or order.finished:
                continue
            if not order.triggered:
                if is_stop_triggered(order.ticket.side, order.stop_float, bar.low, bar.high):
                    order.triggered = True
                    order.not_before = bar.ts
                    order.arrived = False
                continue
            if traded_through(order.ticket.side, order.limit_float, bar.low, bar.high):
                if capacity is None:
                    capacity = self._model.participation_capacity(
                        _decimal(bar.volume), order.instrument.lot_size
                    )
                capacity -= self._fill_at_limit(order, bar, capacity)
            if order.never_rests and not order.finished:
                tif = order.ticket.time_in_force
                self._expire(order, bar.ts, f"{tif} not filled on its first bar")

    def _arrive(self, order: _WorkingOrder, bar: Bar) -> None:
        """The order's first eligible price, the bar's open: take liquidity if it may."""
        order.arrived = True
        ticket = order.ticket
        side = ticket.side
        if not order.triggered:
            if not is_stop_triggered(side, order.stop_float, bar.open, bar.open):
                return
            order.triggered = True
        market = ticket.order_type is _MARKET
        if not market and (
            ticket.post_only or not is_marketable(side, order.limit_float, bar.open)
        ):
            return
        reference = self._last_closed_as_decimals(bar.symbol)
        opening = bar.open
        if reference is None:
            volume = None
            open_price = _decimal(opening)
        else:
            volume = reference.volume
            # A bar mostly opens at the last close, already converted: an equal float has
            # the same repr (zero aside: 0.0 == -0.0).
            close = reference.bar.close
            open_price = reference.close if opening == close and close else _decimal(opening)
        quantity = ticket.quantity - order.filled
        price = self._model.market_price(
            side, open_price, quantity, volume, order.instrument.tick_size
        )
        if not market:
            assert ticket.limit_price is not None  # validated at submit
            limit = ticket.limit_price
            price = min(price, limit) if side is _BUY else max(price, limit)
        if not self._fill(order, price, quantity, _TAKER, bar.start):
            self._expire(order, bar.start, "insufficient balance at the fill price")

    def _fill_at_limit(self, order: _WorkingOrder, bar: Bar, capacity: Decimal) -> Decimal:
        """Fill a limit the bar traded through, within ``capacity``; return the quantity."""
        ticket = order.ticket
        quantity = min(order.remaining, capacity)
        if quantity <= _ZERO or (ticket.time_in_force is _FOK and quantity < order.remaining):
            return _ZERO
        assert ticket.limit_price is not None  # a limit or a triggered stop-limit
        liquidity = _TAKER if order.never_rests else _MAKER
        if not self._fill(order, ticket.limit_price, quantity, liquidity, bar.ts):
            self._expire(order, bar.ts, "insufficient balance at the fill price")
            return _ZERO
        return quantity

    def _fill(
        self,
        order: _WorkingOrder,
        price: Decimal,
        quantity: Decimal,
        liquidity: Liquidity,
        ts: int,
    ) -> bool:
        """Book one trade and report it; False (and nothing booked) if the account cannot
        pay for it, which only a market buy gapping past its reservation can meet."""
        notional = price * quantity
        model = self._model
        fee = model.maker_fee(notional) if liquidity is _MAKER else model.taker_fee(notional)
        ticket = order.ticket
        instrument = order.instrument
        base, quote = instrument.base, instrument.quote
        balances = self._balances
        if ticket.side is _BUY:
            cost = notional + fee
            if cost > self._available(quote, order):
                return False
            balances[quote] = balances.get(quote, _ZERO) - cost
            balances[base] = balances.get(base, _ZERO) + quantity
        else:
            if quantity > self._available(base, order):
                return False
            balances[base] = balances.get(base, _ZERO) - quantity
            balances[quote] = balances.get(quote, _ZERO) + notional - fee
        self._balances_answer = None
        filled = order.filled = order.filled + quantity
        self._trade_count += 1
        if filled == ticket.quantity:
            self._finish(order)
            status = _FILLED
        else:
            _, order.reserved = self._reservation(ticket, ticket.quantity - filled, instrument)
            status = _PARTIALLY_FILLED
        self._send(
            ExecutionReport(
                ts=ts, venue=self.venue, client_order_id=order.client_order_id,
                venue_order_id=order.venue_order_id, symbol=ticket.symbol, side=ticket.side,
                status=status, last_price=price, last_quantity=quantity,
                cumulative_quantity=filled, fee=fee, fee_asset=quote,
                trade_id=str(self._trade_count), liquidity=liquidity,
            ),
            ticket.quantity,
        )  # fmt: skip
        return True

    def _expire(self, order: _WorkingOrder, ts: int, reason: str) -> None:
        self._finish(order)
        self._report(order, ts, OrderStatus.EXPIRED, reason)

    def _finish(self, order: _WorkingOrder) -> None:
        """Take ``order`` off the books; its reservation goes with it."""
        order.finished = True
        symbol = order.ticket.symbol
        del self._working[order.client_order_id]
        orders = self._book[symbol]
        del orders[order.client_order_id]
        if not orders:
            del self._book[symbol]
            now = self.clock.now()
            self.publish(Unsubscribe(ts=now, subscriber=self.name, symbol=symbol, stream=BAR_OPEN))

    # --- reports ----------------------------------------------------------------------

    def _report(self, order: _WorkingOrder, ts: int, status: OrderStatus, reason: str = "") -> None:
        """Tell the order manager what happened to ``order`` other than a trade (``_fill``
        reports those): the trade fields keep their defaults, zero and empty."""
        ticket = order.ticket
        self._send(
            ExecutionReport(
                ts=ts,
                venue=self.venue,
                client_order_id=order.client_order_id,
                venue_order_id=order.venue_order_id,
                symbol=ticket.symbol,
                side=ticket.side,
                status=status,
                cumulative_quantity=order.filled,
                reason=reason,
            ),
            ticket.quantity,
        )

    def _reject(self, msg: SubmitOrder, ts: int, reason: str) -> None:
        self._send(
            ExecutionReport(
                ts=ts,
                venue=self.venue,
                client_order_id=msg.client_order_id,
                venue_order_id="",
                symbol=msg.ticket.symbol,
                side=msg.ticket.side,
                status=_REJECTED,
                reason=reason,
            ),
            msg.ticket.quantity,
        )

    def _send(self, report: ExecutionReport, quantity: Decimal) -> None:
        """Publish ``report`` and keep it for ``QueryOrder``; ``quantity`` is the size of
        the submission it answers."""
        kept = self._history.get(report.client_order_id)
        if kept is None:
            self._history[report.client_order_id] = _History(quantity, [report])
        else:
            kept.quantity = quantity
            kept.reports.append(report)
            kept.record = None
        self.publish(report)

    def _alert(self, text: str) -> None:
        self.publish(Alert(ts=self.clock.now(), level="warning", source=self.name, text=text))

    def _open_orders(self, ts: int) -> tuple[OrderStatusReport, ...]:
        return tuple(self._status_report(order, ts) for order in self._working.values())

    def _status_report(self, order: _WorkingOrder, ts: int) -> OrderStatusReport:
        return OrderStatusReport(
            ts=ts,
            venue=self.venue,
            client_order_id=order.client_order_id,
            venue_order_id=order.venue_order_id,
            symbol=order.ticket.symbol,
            side=order.ticket.side,
            status=OrderStatus.PARTIALLY_FILLED if order.filled else OrderStatus.ACCEPTED,
            quantity=order.ticket.quantity,
            filled_quantity=order.filled,
        )


def _history_record(client_order_id: str, kept: _History) -> ExchangeOrderHistory:
    record = kept.record
    if record is None:
        record = kept.record = ExchangeOrderHistory(
            client_order_id=client_order_id, quantity=kept.quantity, reports=tuple(kept.reports)
        )
    return record
