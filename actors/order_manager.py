"""The order manager: owns every order's state machine and its client order id.

Approved ``OrderRequest``s become ``SubmitOrder``s under a deterministic client
order id; the venue's ``ExecutionReport``s then drive each order along the
legal edges of ``TRANSITIONS`` and come out as ``OrderAccepted`` / ``Fill`` /
``OrderCanceled`` / ``OrderRejected`` / ``OrderExpired``. Anything a report
asks for that is not a legal edge (a fill after a cancel, more filled than
ordered) is refused and logged, and the order keeps its state: the venue is the
one to reconcile with, never a guess.

A report that repeats what the order already knows (an acknowledgement of an
accepted order, a trade id already counted, the terminal status it is in) is
ignored quietly: a venue answering a ``QueryOrder`` re-sends an order's reports
so far. The ``OrderStatusReport`` that ends such an answer resolves an order
whose outcome was unknown: a SUBMITTED order takes the reported status, and a
PENDING_CANCEL order ends as the venue says it ended; either is rejected when
the venue never saw it.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from types import MappingProxyType
from typing import Final, NamedTuple

import msgspec
import structlog

from actors.actor import Actor
from actors.messages import (
    Alert,
    Cancel,
    CancelAll,
    CancelOrder,
    ExecutionReport,
    Fill,
    OrderAccepted,
    OrderCanceled,
    OrderExpired,
    OrderRejected,
    OrderRequest,
    OrderStatus,
    OrderStatusReport,
    OrderTicket,
    SubmitOrder,
)

__all__ = [
    "TERMINAL_STATUSES",
    "TRANSITIONS",
    "Order",
    "OrderManager",
    "OrderManagerState",
    "OrderRecord",
    "Transition",
    "client_order_id",
]

log = structlog.get_logger(__name__)

_ZERO: Final = Decimal(0)


class _S:
    """``OrderStatus`` members as plain class attributes. On Python 3.11 every read of
    ``OrderStatus.X`` goes through the enum metaclass (~70 ns) and a venue report is
    compared with up to eight statuses; a plain class attribute costs ~15 ns."""

    NEW: Final = OrderStatus.NEW
    SUBMITTED: Final = OrderStatus.SUBMITTED
    ACCEPTED: Final = OrderStatus.ACCEPTED
    PARTIALLY_FILLED: Final = OrderStatus.PARTIALLY_FILLED
    FILLED: Final = OrderStatus.FILLED
    PENDING_CANCEL: Final = OrderStatus.PENDING_CANCEL
    CANCELED: Final = OrderStatus.CANCELED
    REJECTED: Final = OrderStatus.REJECTED
    EXPIRED: Final = OrderStatus.EXPIRED


# Every legal edge of an order's life. Fills reach the filling states only from an
# accepted order (a fill on a SUBMITTED order first records the implied acceptance).
# PENDING_CANCEL -> PENDING_CANCEL is a partial fill that raced the cancel; a full
# fill that raced it ends in FILLED. PARTIALLY_FILLED -> PARTIALLY_FILLED is the next
# partial fill. A venue can still reject an order we asked to cancel before it
# acknowledged it, hence PENDING_CANCEL -> REJECTED.
TRANSITIONS: Final[Mapping[OrderStatus, frozenset[OrderStatus]]] = MappingProxyType(
    {
        _S.NEW: frozenset({_S.SUBMITTED}),
        _S.SUBMITTED: frozenset(
            {_S.ACCEPTED, _S.PENDING_CANCEL, _S.CANCELED, _S.REJECTED, _S.EXPIRED}
        ),
        _S.ACCEPTED: frozenset(
            {_S.PARTIALLY_FILLED, _S.FILLED, _S.PENDING_CANCEL, _S.CANCELED, _S.EXPIRED}
        ),
        _S.PARTIALLY_FILLED: frozenset(
            {_S.PARTIALLY_FILLED, _S.FILLED, _S.PENDING_CANCEL, _S.CANCELED, _S.EXPIRED}
        ),
        _S.PENDING_CANCEL: frozenset(
            {_S.PENDING_CANCEL, _S.FILLED, _S.CANCELED, _S.REJECTED, _S.EXPIRED}
        ),
        _S.FILLED: frozenset(),
        _S.CANCELED: frozenset(),
        _S.REJECTED: frozenset(),
        _S.EXPIRED: frozenset(),
    }
)

# The same edges in a plain dict: a lookup through the read-only proxy costs more.
_EDGES: Final[dict[OrderStatus, frozenset[OrderStatus]]] = dict(TRANSITIONS)

TERMINAL_STATUSES: Final[frozenset[OrderStatus]] = frozenset(
    status for status, targets in TRANSITIONS.items() if not targets
)
_FILLING: Final = frozenset({_S.PARTIALLY_FILLED, _S.FILLED})
# The ends a venue decides (a fill decides FILLED); each announced by its own event.
_ENDINGS: Final = frozenset({_S.CANCELED, _S.REJECTED, _S.EXPIRED})
_UNKNOWN_AFTER_RECOVERY: Final = "unknown to the venue after recovery"
_ENDED_BY_REPORT: Final = "reported by the venue in a status report"

# Binance spot newClientOrderId: up to 36 characters of ^[\.A-Z\:/a-z0-9_\-]{1,36}$
# (https://developers.binance.com/docs/binance-spot-api-docs/rest-api/trading-endpoints).
# "." is kept out of the fields so it can separate them unambiguously.
_SEPARATOR: Final = "."
_FIELD_DISALLOWED: Final = re.compile(r"[^A-Z:/a-z0-9_\-]")
_DIGITS36: Final = "0123456789abcdefghijklmnopqrstuvwxyz"
_PAIRS36: Final = tuple(high + low for high in _DIGITS36 for low in _DIGITS36)  # "00".."zz"
# The same pairs without a leading zero, for a number's first pair: no strip at the end.
_LEADING_PAIRS36: Final = tuple(pair.lstrip("0") or "0" for pair in _PAIRS36)
_PAIR_BASE: Final = 36 * 36
_HASH_LENGTH: Final = 13  # a 64-bit digest in base 36


def _base36(value: int) -> str:
    """Two digits per division: a nanosecond timestamp is 12 base-36 digits. (A table of
    three-digit groups halves the divisions but, 46,656 strings large, falls out of the
    CPU caches between two orders and is no faster there.)"""
    if value < _PAIR_BASE:
        return _LEADING_PAIRS36[value]
    pairs = []
    while value >= _PAIR_BASE:
        value, pair = divmod(value, _PAIR_BASE)
        pairs.append(_PAIRS36[pair])
    pairs.append(_LEADING_PAIRS36[value])
    pairs.reverse()
    return "".join(pairs)


@functools.lru_cache(maxsize=1024)
def _readable_prefix(strategy: str, symbol: str) -> tuple[str, bool]:
    """``strategy.symbol`` with each character the venue refuses replaced by "_", and
    whether both names came through unchanged. Cached: a desk trades a handful of
    strategies and symbols, and every order id starts with one of these."""
    clean_strategy = _FIELD_DISALLOWED.sub("_", strategy)
    clean_symbol = _FIELD_DISALLOWED.sub("_", symbol)
    faithful = clean_strategy == strategy and clean_symbol == symbol
    return clean_strategy + _SEPARATOR + clean_symbol, faithful


def client_order_id(
    strategy: str, symbol: str, decision_ts: int, counter: int, max_length: int = 36
) -> str:
    """The client order id of the ``counter``-th order a strategy decided at ``decision_ts``.

    Readable when it can be (``sma_cross.BTCUSDT.<ts base36>.<counter base36>``), so an
    operator recognises it on the venue's web page. When a name holds characters the
    venue refuses, or the id would be too long, the readable form is cut and a 64-bit
    hash of the full key is appended: the id stays within the venue's alphabet and
    length and distinct inputs still get distinct ids (collisions need ~2^32 orders).
    The same inputs always give the same id, so a retry reuses it.
    """
    if decision_ts < 0 or counter < 0:
        raise ValueError(f"decision_ts and counter must be >= 0, got {decision_ts}, {counter}")
    if max_length <= _HASH_LENGTH:
        raise ValueError(f"max_length must exceed {_HASH_LENGTH}, got {max_length}")
    prefix, faithful = _readable_prefix(strategy, symbol)
    readable = f"{prefix}{_SEPARATOR}{_base36(decision_ts)}{_SEPARATOR}{_base36(counter)}"
    if faithful and len(readable) <= max_length:
        return readable
    key = repr((strategy, symbol, decision_ts, counter)).encode()
    digest = int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "big")
    suffix = _base36(digest).rjust(_HASH_LENGTH, "0")
    return readable[: max_length - _HASH_LENGTH - 1] + _SEPARATOR + suffix


class Transition(NamedTuple):
    """One step of an order's timeline, as the UI shows it."""

    ts: int
    previous: OrderStatus
    status: OrderStatus


# ``Transition(ts, previous, status)`` goes through a Python-level ``__new__`` (~220 ns);
# the tuple constructor it ends in builds the same value in ~150 ns, on every transition.
_new_transition: Final = tuple.__new__


@dataclass(slots=True)
class Order:
    """The order manager's record of one order. Read it; only the order manager writes."""

    client_order_id: str
    strategy: str
    ticket: OrderTicket
    created_ts: int
    status: OrderStatus = OrderStatus.NEW
    venue_order_id: str = ""
    accepted: bool = False
    filled_quantity: Decimal = Decimal(0)
    filled_notional: Decimal = Decimal(0)
    fees: Decimal = Decimal(0)
    history: list[Transition] = field(default_factory=list)
    trade_ids: set[str] = field(default_factory=set)

    @property
    def symbol(self) -> str:
        return self.ticket.symbol

    @property
    def quantity(self) -> Decimal:
        return self.ticket.quantity

    @property
    def average_fill_price(self) -> Decimal | None:
        """Computed on read from the exact filled notional, so it never drifts by rounding."""
        if not self.filled_quantity:
            return None
        return self.filled_notional / self.filled_quantity

    @property
    def is_open(self) -> bool:
        return self.status not in TERMINAL_STATUSES


class OrderRecord(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """One ``Order`` as it stands, frozen for a snapshot: every field, the trade ids sorted."""

    client_order_id: str
    strategy: str
    ticket: OrderTicket
    created_ts: int
    status: OrderStatus
    venue_order_id: str
    accepted: bool
    filled_quantity: Decimal
    filled_notional: Decimal
    fees: Decimal
    history: tuple[Transition, ...]
    trade_ids: tuple[str, ...]


class OrderManagerState(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """The order manager's state: every order of the session in creation order (a report
    about a finished order is refused, not taken for an unknown one, so none is dropped),
    and the counter the next client order id is made from."""

    counter: int
    orders: tuple[OrderRecord, ...]


def _record(order: Order) -> OrderRecord:
    return OrderRecord(
        client_order_id=order.client_order_id,
        strategy=order.strategy,
        ticket=order.ticket,
        created_ts=order.created_ts,
        status=order.status,
        venue_order_id=order.venue_order_id,
        accepted=order.accepted,
        filled_quantity=order.filled_quantity,
        filled_notional=order.filled_notional,
        fees=order.fees,
        history=tuple(order.history),
        trade_ids=tuple(sorted(order.trade_ids)),
    )


def _order(record: OrderRecord) -> Order:
    return Order(
        client_order_id=record.client_order_id,
        strategy=record.strategy,
        ticket=record.ticket,
        created_ts=record.created_ts,
        status=record.status,
        venue_order_id=record.venue_order_id,
        accepted=record.accepted,
        filled_quantity=record.filled_quantity,
        filled_notional=record.filled_notional,
        fees=record.fees,
        history=list(record.history),
        trade_ids=set(record.trade_ids),
    )


class OrderManager(Actor):
    """Turns approved requests into venue orders and venue reports into order events."""

    name = "order_manager"
    state_type = OrderManagerState

    def __init__(self) -> None:
        super().__init__()
        self._orders: dict[str, Order] = {}
        self._counter = 0
        # Records of finished orders, built once: nothing changes a finished order (it has
        # no legal edge left, and every write follows one), so a snapshot reuses them and
        # costs the open orders, not the session's history.
        self._finished: dict[str, OrderRecord] = {}

    @property
    def orders(self) -> Mapping[str, Order]:
        """Every order of the session by client order id, in creation order."""
        return MappingProxyType(self._orders)

    def open_orders(self, symbol: str | None = None) -> list[Order]:
        """Orders not yet in a terminal state, in creation order; of ``symbol`` if given."""
        return [
            order
            for order in self._orders.values()
            if order.is_open and (symbol is None or order.symbol == symbol)
        ]

    # --- snapshot -------------------------------------------------------------------

    def snapshot(self) -> OrderManagerState:
        finished = self._finished
        records = []
        for client_id, order in self._orders.items():
            record = finished.get(client_id)
            if record is None:
                record = _record(order)
                if order.status in TERMINAL_STATUSES:
                    finished[client_id] = record
            records.append(record)
        return OrderManagerState(counter=self._counter, orders=tuple(records))

    def restore(self, state: OrderManagerState) -> None:
        self._counter = state.counter
        self._orders = {record.client_order_id: _order(record) for record in state.orders}
        self._finished = {
            record.client_order_id: record
            for record in state.orders
            if record.status in TERMINAL_STATUSES
        }

    # --- requests and commands ------------------------------------------------------

    def on_order_request(self, msg: OrderRequest) -> None:
        intent = msg.intent
        strategy, ticket = intent.strategy, intent.ticket
        self._counter = counter = self._counter + 1
        client_id = client_order_id(strategy, ticket.symbol, intent.ts, counter)
        now = self.clock.now()
        order = Order(client_id, strategy, ticket, now)
        self._orders[client_id] = order
        self.publish(
            SubmitOrder(ts=now, client_order_id=client_id, strategy=strategy, ticket=ticket)
        )
        # NEW -> SUBMITTED, the one edge a fresh order has: recorded without the lookup.
        order.status = _S.SUBMITTED
        order.history.append(_new_transition(Transition, (now, _S.NEW, _S.SUBMITTED)))

    def on_cancel(self, msg: Cancel) -> None:
        order = self._orders.get(msg.client_order_id)
        if order is None or not order.is_open:
            state = "unknown" if order is None else order.status.value
            self._alert("warning", f"cancel {msg.client_order_id}: order is {state}, nothing sent")
            return
        self._request_cancel(order)

    def on_cancel_all(self, msg: CancelAll) -> None:
        for order in self.open_orders(msg.symbol or None):
            self._request_cancel(order)

    def _request_cancel(self, order: Order) -> None:
        """Ask the venue to cancel. An order already PENDING_CANCEL gets the request again
        (a retry under the same client id, harmless at the venue) without a new transition."""
        now = self.clock.now()
        if order.status is not _S.PENDING_CANCEL:
            self._transition(order, _S.PENDING_CANCEL, now)
        self.publish(
            CancelOrder(ts=now, client_order_id=order.client_order_id, symbol=order.symbol)
        )

    # --- venue reports --------------------------------------------------------------

    def on_execution_report(self, msg: ExecutionReport) -> None:
        order = self._orders.get(msg.client_order_id)
        if order is None:
            log.warning(
                "unknown_order_report",
                client_order_id=msg.client_order_id,
                venue=msg.venue,
                status=msg.status.value,
            )
            self._alert(
                "warning",
                f"{msg.venue} report {msg.status.value} for unknown {msg.client_order_id}",
            )
            return
        traded = msg.last_quantity > _ZERO
        if traded:
            self._apply_trade(order, msg)
        status = msg.status
        if status is _S.ACCEPTED:
            if order.accepted:
                self._ignore_repeat(order, msg)
            else:
                self._apply_acceptance(order, msg.venue_order_id, msg.ts)
        elif status in _FILLING:
            if not traded:
                # The filling states follow from counted trades only, never from a bare status.
                log.warning(
                    "fill_report_without_trade",
                    client_order_id=order.client_order_id,
                    status=status.value,
                    last_quantity=str(msg.last_quantity),
                )
        elif status is order.status:
            self._ignore_repeat(order, msg)
        elif status is _S.CANCELED or status is _S.REJECTED or status is _S.EXPIRED:
            self._end(order, status, msg.ts, msg.reason)
        else:
            self._transition(order, status, msg.ts)

    def _ignore_repeat(self, order: Order, msg: ExecutionReport) -> None:
        """A report of what the order already is: a venue re-sending its reports (the
        answer to a ``QueryOrder``, a reconnect) must change nothing and alarm nobody."""
        log.debug(
            "repeated_report_ignored",
            client_order_id=order.client_order_id,
            status=msg.status.value,
        )

    def _end(self, order: Order, status: OrderStatus, ts: int, reason: str) -> None:
        """Move to CANCELED, REJECTED or EXPIRED along a legal edge and announce it."""
        if not self._transition(order, status, ts):
            return
        client_id, symbol = order.client_order_id, order.symbol
        if status is _S.CANCELED:
            self.publish(
                OrderCanceled(ts=ts, client_order_id=client_id, symbol=symbol, reason=reason)
            )
        elif status is _S.REJECTED:
            self.publish(
                OrderRejected(ts=ts, client_order_id=client_id, symbol=symbol, reason=reason)
            )
        else:
            self.publish(OrderExpired(ts=ts, client_order_id=client_id, symbol=symbol))

    def _apply_acceptance(self, order: Order, venue_order_id: str, ts: int) -> None:
        """A SUBMITTED order moves to ACCEPTED. An order we already asked to cancel stays
        PENDING_CANCEL, but its first acknowledgement (the ack raced our cancel) is still
        recorded and announced."""
        ack_raced_cancel = order.status is _S.PENDING_CANCEL and not order.accepted
        if ack_raced_cancel or self._transition(order, _S.ACCEPTED, ts):
            order.accepted = True
            order.venue_order_id = venue_order_id
            self.publish(
                OrderAccepted(
                    ts=ts,
                    client_order_id=order.client_order_id,
                    venue_order_id=venue_order_id,
                    symbol=order.ticket.symbol,
                )
            )

    def on_order_status_report(self, msg: OrderStatusReport) -> None:
        """Resolve an order whose outcome was unknown (DESIGN.md §4) by what the venue says
        of it. The venue sent the order's execution reports first, so its fills are counted
        and only the status can be left to settle."""
        order = self._orders.get(msg.client_order_id)
        if order is None:
            log.warning(
                "unknown_order_status_report", client_order_id=msg.client_order_id, venue=msg.venue
            )
            return
        if msg.found and msg.filled_quantity != order.filled_quantity:
            # The fills should have come first: a drift the reconciler reports, not a guess.
            log.warning(
                "status_report_filled_mismatch",
                client_order_id=order.client_order_id,
                ours=str(order.filled_quantity),
                venue=str(msg.filled_quantity),
            )
        status = order.status
        if status is _S.SUBMITTED:
            self._resolve_submitted(order, msg)
        elif status is _S.PENDING_CANCEL:
            self._resolve_pending_cancel(order, msg)

    def _resolve_submitted(self, order: Order, msg: OrderStatusReport) -> None:
        if not msg.found:
            # The venue answers for every order it received, so one it never saw was never
            # placed: rejecting it is what the venue says, not a guess.
            self._end(order, _S.REJECTED, msg.ts, _UNKNOWN_AFTER_RECOVERY)
            return
        reported = msg.status
        if reported in _ENDINGS:
            self._end(order, reported, msg.ts, _ENDED_BY_REPORT)
        elif reported is not _S.NEW and reported is not _S.SUBMITTED:
            # Accepted, filling, filled or being canceled: the venue holds (or held) it.
            self._apply_acceptance(order, msg.venue_order_id, msg.ts)

    def _resolve_pending_cancel(self, order: Order, msg: OrderStatusReport) -> None:
        """An order we asked to cancel ends as the venue says it ended. One the venue never
        saw is rejected like a SUBMITTED one, unless it was acknowledged: then the venue did
        hold it, and the contradiction is the reconciler's to report, not ours to settle."""
        if msg.found:
            if msg.status in _ENDINGS:
                self._end(order, msg.status, msg.ts, _ENDED_BY_REPORT)
        elif not order.accepted:
            self._end(order, _S.REJECTED, msg.ts, _UNKNOWN_AFTER_RECOVERY)

    def _apply_trade(self, order: Order, msg: ExecutionReport) -> None:
        """Count one trade exactly once, or refuse it and leave the order as it was."""
        trade_id = msg.trade_id
        if not trade_id:
            # Without a trade id a re-delivered report cannot be told from a new trade.
            self._refuse_trade(order, msg, "fill_without_trade_id")
            return
        if trade_id in order.trade_ids:
            log.info(
                "duplicate_trade_ignored",
                client_order_id=order.client_order_id,
                trade_id=trade_id,
            )
            return
        last_quantity = msg.last_quantity
        filled = order.filled_quantity + last_quantity
        ticket = order.ticket
        quantity = ticket.quantity
        # Equality first: the full fill, the common case, costs one comparison.
        if filled == quantity:
            target = _S.FILLED
        elif filled > quantity:
            self._refuse_trade(order, msg, "overfill_refused")
            return
        elif order.status is _S.PENDING_CANCEL:
            target = _S.PENDING_CANCEL
        else:
            target = _S.PARTIALLY_FILLED
        if order.status in TERMINAL_STATUSES:
            self._log_illegal(order, target)
            return
        if not order.accepted:
            # Venue FULL responses carry the fills without a separate ack: the fill implies it.
            self._apply_acceptance(order, msg.venue_order_id, msg.ts)
        ts = msg.ts
        if not self._transition(order, target, ts):
            return
        cumulative = msg.cumulative_quantity
        if cumulative and cumulative != filled:
            log.warning(
                "cumulative_quantity_mismatch",
                client_order_id=order.client_order_id,
                ours=str(filled),
                venue=str(cumulative),
            )
        price, fee = msg.last_price, msg.fee
        order.trade_ids.add(trade_id)
        order.filled_quantity = filled
        order.filled_notional += last_quantity * price
        order.fees += fee
        self.publish(
            Fill(
                ts=ts,
                client_order_id=order.client_order_id,
                venue_order_id=msg.venue_order_id or order.venue_order_id,
                trade_id=trade_id,
                strategy=order.strategy,
                symbol=ticket.symbol,
                side=ticket.side,
                price=price,
                quantity=last_quantity,
                cumulative_quantity=filled,
                fee=fee,
                fee_asset=msg.fee_asset,
                liquidity=msg.liquidity,
            )
        )

    def _refuse_trade(self, order: Order, msg: ExecutionReport, event: str) -> None:
        log.error(
            event,
            client_order_id=order.client_order_id,
            trade_id=msg.trade_id,
            quantity=str(order.quantity),
            filled=str(order.filled_quantity),
            last_quantity=str(msg.last_quantity),
        )
        self._alert(
            "error",
            f"{event}: {order.client_order_id} trade {msg.trade_id or '?'} of {msg.last_quantity}"
            f" (filled {order.filled_quantity} of {order.quantity})",
        )

    # --- the state machine ----------------------------------------------------------

    def _transition(self, order: Order, target: OrderStatus, ts: int) -> bool:
        """Move along a legal edge and record it; refuse and log anything else."""
        previous = order.status
        if target not in _EDGES[previous]:
            self._log_illegal(order, target)
            return False
        order.status = target
        order.history.append(_new_transition(Transition, (ts, previous, target)))
        return True

    def _log_illegal(self, order: Order, target: OrderStatus) -> None:
        log.warning(
            "illegal_transition",
            client_order_id=order.client_order_id,
            **{"from": order.status.value, "to": target.value},
        )

    def _alert(self, level: str, text: str) -> None:
        self.publish(Alert(ts=self.clock.now(), level=level, source=self.name, text=text))
