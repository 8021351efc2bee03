"""The risk manager: owns the limits, the risk state (ACTIVE / REDUCING / HALTED) and the
exposure already committed to working orders.

Every ``OrderIntent`` passes through here. An exit (an order that brings the
symbol's position towards zero without crossing it, even if every exit already
working fills too) always passes, in every state: a halted desk must still be
able to get out. An entry passes only while ACTIVE and only within the per-order
and per-symbol notional caps, where the position cap counts the position plus
every approved order that has not reached a terminal state, so a burst of
intents cannot slip past the cap before the first one fills.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal
from typing import Final

import msgspec
import structlog

from actors.actor import Actor
from actors.messages import (
    Bar,
    CancelAll,
    EquityMarked,
    Fill,
    FlattenAll,
    Halt,
    OrderCanceled,
    OrderExpired,
    OrderIntent,
    OrderRejected,
    OrderRequest,
    OrderTicket,
    OrderType,
    PositionChanged,
    Resume,
    RiskBreach,
    RiskRejected,
    RiskState,
    RiskStateChanged,
    Side,
    SubmitOrder,
    TradingHalted,
    TradingResumed,
)

__all__ = ["RiskLimits", "RiskManager", "RiskManagerState", "WorkingOrder", "WorkingQuantity"]

log = structlog.get_logger(__name__)

NS_PER_DAY: Final = 86_400 * 1_000_000_000
_ZERO: Final = Decimal(0)
# The enum members the intent and fill handlers compare with, read once here: on Python
# 3.11 each read through the class (``Side.BUY``) goes through the enum metaclass (~70 ns).
_BUY: Final = Side.BUY
_SELL: Final = Side.SELL
_MARKET: Final = OrderType.MARKET
_ACTIVE: Final = RiskState.ACTIVE
_DAILY_LOSS: Final = "daily_loss"
_FLATTEN_ALL: Final = "flatten_all"


@dataclass(frozen=True, slots=True)
class RiskLimits:
    """The desk's limits, in the quote currency. A limit of 0 means no limit on that field
    (for an override: no limit on that symbol).

    ``max_order_notional``: quantity x price of one entry order.
    ``max_position_notional``: |position + working orders on the growing side| x price,
    per symbol; ``position_notional_overrides`` replaces it for the symbols it names.
    ``daily_loss_limit``: the UTC day's PnL may fall to minus this before only exits pass.
    """

    max_order_notional: Decimal
    max_position_notional: Decimal
    daily_loss_limit: Decimal
    position_notional_overrides: Mapping[str, Decimal] = field(default_factory=dict)

    def __post_init__(self) -> None:
        named = {
            "max_order_notional": self.max_order_notional,
            "max_position_notional": self.max_position_notional,
            "daily_loss_limit": self.daily_loss_limit,
        }
        named.update(
            {
                f"position_notional_overrides[{s}]": v
                for s, v in self.position_notional_overrides.items()
            }
        )
        for name, value in named.items():
            if value < 0:
                raise ValueError(f"risk limit {name} must be >= 0 (0 = no limit), got {value}")

    def position_notional_cap(self, symbol: str) -> Decimal:
        return self.position_notional_overrides.get(symbol, self.max_position_notional)


@dataclass(slots=True)
class _WorkingOrder:
    symbol: str
    side: Side
    remaining: Decimal


class WorkingQuantity(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """Quantity approved and not yet filled or terminal on one side of one symbol."""

    symbol: str
    side: Side
    quantity: Decimal


class WorkingOrder(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """A submitted order's quantity that has not filled yet."""

    symbol: str
    side: Side
    remaining: Decimal


class RiskManagerState(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """The risk manager's state. The limits are configuration; whether today's loss limit
    can still trip (``loss_armed``) and the day it belongs to (``next_day_ns``) are state:
    an operator's Resume after a breach holds for the rest of the day across a restart.
    ``awaiting_id`` are the approved intents not yet submitted, oldest first."""

    state: RiskState
    reducing_cause: str
    last_close: dict[str, float]
    positions: dict[str, Decimal]
    working: tuple[WorkingQuantity, ...]
    awaiting_id: tuple[OrderIntent, ...]
    orders: dict[str, WorkingOrder]
    loss_armed: bool
    next_day_ns: int
    day_pnl: Decimal


def _submits(intent: OrderIntent, strategy: str, ticket: OrderTicket) -> bool:
    """Whether a SubmitOrder of ``strategy`` and ``ticket`` is this approved intent. The
    order manager submits the intent's own ticket, so identity settles the common case."""
    return intent.strategy == strategy and (intent.ticket is ticket or intent.ticket == ticket)


class RiskManager(Actor):
    """Approves or rejects every intent, and moves the desk between ACTIVE, REDUCING and
    HALTED on breaches and operator commands."""

    name = "risk"
    state_type = RiskManagerState

    def __init__(self, limits: RiskLimits, lot_sizes: Mapping[str, Decimal] | None = None) -> None:
        """``lot_sizes``: each symbol's quantity step, to which a flatten's orders are
        floored (a position can hold less than a lot of dust, which no venue takes)."""
        super().__init__()
        self._limits = limits
        self._lot_sizes = dict(lot_sizes or {})
        self._state = RiskState.ACTIVE
        self._reducing_cause = ""
        self._last_close: dict[str, float] = {}
        self._positions: dict[str, Decimal] = {}
        # Quantity approved and not yet filled or terminal, per (symbol, side).
        self._working: dict[tuple[str, Side], Decimal] = {}
        # Approved intents whose client id is not known until the order manager's SubmitOrder.
        self._awaiting_id: deque[OrderIntent] = deque()
        self._orders: dict[str, _WorkingOrder] = {}
        self._loss_floor = -limits.daily_loss_limit
        self._loss_armed = limits.daily_loss_limit > 0
        self._next_day_ns = 0
        self._day_pnl = _ZERO

    # --- read API -------------------------------------------------------------------

    @property
    def state(self) -> RiskState:
        return self._state

    @property
    def limits(self) -> RiskLimits:
        return self._limits

    def usage(self) -> dict[str, tuple[Decimal, Decimal]]:
        """Limit name -> (current value, threshold) for the UI; a threshold of 0 is no limit.

        ``daily_loss`` is today's loss (0 when in profit); ``position_notional:<symbol>`` is
        the worst-case position (position plus working orders on the growing side) at the
        last close, for every symbol with a position or working orders and a known close.
        """
        figures = {_DAILY_LOSS: (max(-self._day_pnl, _ZERO), self._limits.daily_loss_limit)}
        symbols = set(self._positions) | {symbol for symbol, _ in self._working}
        for symbol in sorted(symbols):
            close = self._last_close.get(symbol)
            if close is None:
                continue
            position = self._positions.get(symbol, _ZERO)
            worst = max(
                abs(position + self._working_quantity(symbol, Side.BUY)),
                abs(position - self._working_quantity(symbol, Side.SELL)),
            )
            figures[f"position_notional:{symbol}"] = (
                worst * Decimal(repr(close)),
                self._limits.position_notional_cap(symbol),
            )
        return figures

    # --- snapshot -------------------------------------------------------------------

    def snapshot(self) -> RiskManagerState:
        return RiskManagerState(
            state=self._state,
            reducing_cause=self._reducing_cause,
            last_close=dict(self._last_close),
            positions=dict(self._positions),
            working=tuple(
                WorkingQuantity(symbol=symbol, side=side, quantity=quantity)
                for (symbol, side), quantity in self._working.items()
            ),
            awaiting_id=tuple(self._awaiting_id),
            orders={
                client_id: WorkingOrder(
                    symbol=order.symbol, side=order.side, remaining=order.remaining
                )
                for client_id, order in self._orders.items()
            },
            loss_armed=self._loss_armed,
            next_day_ns=self._next_day_ns,
            day_pnl=self._day_pnl,
        )

    def restore(self, state: RiskManagerState) -> None:
        self._state = state.state
        self._reducing_cause = state.reducing_cause
        self._last_close = dict(state.last_close)
        self._positions = dict(state.positions)
        self._working = {(held.symbol, held.side): held.quantity for held in state.working}
        self._awaiting_id = deque(state.awaiting_id)
        self._orders = {
            client_id: _WorkingOrder(order.symbol, order.side, order.remaining)
            for client_id, order in state.orders.items()
        }
        self._loss_armed = state.loss_armed
        self._next_day_ns = state.next_day_ns
        self._day_pnl = state.day_pnl

    # --- per-bar handlers: the hot path ---------------------------------------------

    def on_bar(self, msg: Bar) -> None:
        self._last_close[msg.symbol] = msg.close

    def on_equity_marked(self, msg: EquityMarked) -> None:
        if msg.ts >= self._next_day_ns:
            self._start_day(msg.ts)
        self._day_pnl = msg.day_pnl
        if self._loss_armed and msg.day_pnl <= self._loss_floor:
            self._breach_daily_loss(msg.day_pnl)

    def _start_day(self, ts: int) -> None:
        self._next_day_ns = (ts // NS_PER_DAY + 1) * NS_PER_DAY
        self._loss_armed = self._limits.daily_loss_limit > 0
        if self._state is RiskState.REDUCING and self._reducing_cause == _DAILY_LOSS:
            self._set_state(RiskState.ACTIVE, "new UTC day: daily loss limit reset")

    def _breach_daily_loss(self, day_pnl: Decimal) -> None:
        """Once per UTC day: an operator's Resume after the breach holds for the rest of it."""
        self._loss_armed = False
        limit = self._limits.daily_loss_limit
        detail = f"day PnL {day_pnl} <= -{limit}"
        self.publish(
            RiskBreach(
                ts=self.clock.now(),
                limit=_DAILY_LOSS,
                value=day_pnl,
                threshold=limit,
                detail=detail,
            )
        )
        if self._state is RiskState.ACTIVE:
            self._enter_reducing(_DAILY_LOSS, f"daily loss limit: {detail}")

    # --- intents --------------------------------------------------------------------

    def on_order_intent(self, msg: OrderIntent) -> None:
        ticket = msg.ticket
        if ticket.quantity <= _ZERO:
            self._reject(msg, f"quantity must be positive, got {ticket.quantity}")
            return
        if self._is_exit(ticket):
            self._approve(msg)
            return
        if self._state is not _ACTIVE:
            self._reject(
                msg, f"risk state {self._state.value}: only orders reducing a position pass"
            )
            return
        reason = self._entry_refusal(ticket)
        if reason:
            self._reject(msg, reason)
        else:
            self._approve(msg)

    def _is_exit(self, ticket: OrderTicket) -> bool:
        """Opposite to the position and, with the exits already working, not past zero."""
        symbol = ticket.symbol
        position = self._positions.get(symbol)
        if not position:
            return False  # flat (or never traded): nothing to exit
        side = ticket.side
        if side is _SELL:
            if position > _ZERO:
                return self._working.get((symbol, _SELL), _ZERO) + ticket.quantity <= position
        elif position < _ZERO:
            return self._working.get((symbol, _BUY), _ZERO) + ticket.quantity <= -position
        return False

    def _entry_refusal(self, ticket: OrderTicket) -> str:
        """Why an entry breaks a limit, with the numbers; empty if it does not."""
        symbol = ticket.symbol
        limits = self._limits
        order_cap = limits.max_order_notional
        position_cap = limits.position_notional_cap(symbol)
        if not order_cap and not position_cap:
            return ""
        price = self._reference_price(ticket)
        if price is None:
            return f"no price for {symbol} yet: cannot check notional limits on a market order"
        notional = ticket.quantity * price
        if order_cap and notional > order_cap:
            return (
                f"max_order_notional: {symbol} {ticket.quantity} x {price} = {notional}"
                f" exceeds {order_cap}"
            )
        if position_cap:
            position = self._positions.get(symbol, _ZERO)
            if ticket.side is _BUY:
                working = self._working_quantity(symbol, _BUY)
                projected = position + working + ticket.quantity
            else:
                working = self._working_quantity(symbol, _SELL)
                projected = position - working - ticket.quantity
            exposure = abs(projected) * price
            if exposure > position_cap:
                return (
                    f"max_position_notional: {symbol} position {position}, working"
                    f" {ticket.side.value} {working}, order {ticket.quantity} -> {projected}"
                    f" x {price} = {exposure} exceeds {position_cap}"
                )
        return ""

    def _reference_price(self, ticket: OrderTicket) -> Decimal | None:
        """Limit orders at their limit price; market orders at the symbol's last close."""
        if ticket.order_type is not _MARKET and ticket.limit_price is not None:
            return ticket.limit_price
        close = self._last_close.get(ticket.symbol)
        return None if close is None else Decimal(repr(close))

    def _approve(self, intent: OrderIntent) -> None:
        ticket = intent.ticket
        key = (ticket.symbol, ticket.side)
        working = self._working
        working[key] = working.get(key, _ZERO) + ticket.quantity
        self._awaiting_id.append(intent)
        self.publish(OrderRequest(ts=self.clock.now(), intent=intent))

    def _reject(self, intent: OrderIntent, reason: str) -> None:
        log.info(
            "risk_rejected", strategy=intent.strategy, symbol=intent.ticket.symbol, reason=reason
        )
        self.publish(RiskRejected(ts=self.clock.now(), intent=intent, reason=reason))

    def _working_quantity(self, symbol: str, side: Side) -> Decimal:
        return self._working.get((symbol, side), _ZERO)

    # --- working orders and positions -----------------------------------------------

    def on_submit_order(self, msg: SubmitOrder) -> None:
        """Learn the client id of an approved intent (the order manager submits in order)."""
        awaiting = self._awaiting_id
        ticket = msg.ticket
        if awaiting and _submits(awaiting[0], msg.strategy, ticket):
            awaiting.popleft()  # the common case: the oldest approved intent
        else:
            self._match_submit(msg)
        self._orders[msg.client_order_id] = _WorkingOrder(
            ticket.symbol, ticket.side, ticket.quantity
        )

    def _match_submit(self, msg: SubmitOrder) -> None:
        """The approved intent a submit is not the oldest of, or the exposure of one this
        risk manager never approved."""
        for index, intent in enumerate(self._awaiting_id):
            if _submits(intent, msg.strategy, msg.ticket):
                del self._awaiting_id[index]
                break
        else:
            # Not approved here, yet working at the venue all the same: count its exposure.
            log.warning(
                "unapproved_submit", client_order_id=msg.client_order_id, strategy=msg.strategy
            )
            key = (msg.ticket.symbol, msg.ticket.side)
            self._working[key] = self._working.get(key, _ZERO) + msg.ticket.quantity

    def on_fill(self, msg: Fill) -> None:
        # Move the position now rather than at the accountant's PositionChanged, which
        # follows the fill, so the working quantity this fill releases is never missing
        # from both figures at once. PositionChanged then sets the authoritative value.
        quantity, symbol = msg.quantity, msg.symbol
        signed = quantity if msg.side is _BUY else -quantity
        positions = self._positions
        positions[symbol] = positions.get(symbol, _ZERO) + signed
        order = self._orders.get(msg.client_order_id)
        if order is None:
            return
        remaining = order.remaining
        released = remaining if remaining < quantity else quantity  # min(), without the call
        order.remaining = remaining = remaining - released
        self._release(order, released)
        if not remaining:
            del self._orders[msg.client_order_id]

    def on_order_canceled(self, msg: OrderCanceled) -> None:
        self._drop(msg.client_order_id)

    def on_order_rejected(self, msg: OrderRejected) -> None:
        self._drop(msg.client_order_id)

    def on_order_expired(self, msg: OrderExpired) -> None:
        self._drop(msg.client_order_id)

    def _drop(self, client_order_id: str) -> None:
        order = self._orders.pop(client_order_id, None)
        if order is not None:
            self._release(order, order.remaining)

    def _release(self, order: _WorkingOrder, quantity: Decimal) -> None:
        key = (order.symbol, order.side)
        working = self._working
        left = working[key] - quantity
        if left:
            working[key] = left
        else:
            del working[key]

    def on_position_changed(self, msg: PositionChanged) -> None:
        self._positions[msg.symbol] = msg.quantity

    # --- commands and state ---------------------------------------------------------

    def on_halt(self, msg: Halt) -> None:
        self._halt(f"halt: {msg.reason}")

    def on_trading_halted(self, msg: TradingHalted) -> None:
        if msg.source != self.name:
            self._halt(f"trading halted by {msg.source or 'unknown'}: {msg.reason}")

    def on_resume(self, msg: Resume) -> None:
        if self._state is not RiskState.ACTIVE:
            self._set_state(RiskState.ACTIVE, f"resume: {msg.reason}")

    def on_flatten_all(self, msg: FlattenAll) -> None:
        """Cancel everything working, close every position at market, and stay REDUCING
        until an operator resumes (a HALTED desk stays HALTED)."""
        now = self.clock.now()
        self.publish(CancelAll(ts=now))
        for symbol in sorted(self._positions):
            quantity = abs(self._positions[symbol])
            lot = self._lot_sizes.get(symbol)
            if lot is not None:
                quantity = quantity.quantize(lot, rounding=ROUND_DOWN)
            if not quantity:
                continue
            ticket = OrderTicket(
                symbol=symbol,
                side=Side.SELL if self._positions[symbol] > 0 else Side.BUY,
                quantity=quantity,
                order_type=OrderType.MARKET,
                reduce_only=True,
            )
            self._approve(OrderIntent(ts=now, strategy=self.name, ticket=ticket, tag=_FLATTEN_ALL))
        if self._state is RiskState.ACTIVE:
            self._enter_reducing(_FLATTEN_ALL, f"flatten all: {msg.reason}")
        elif self._state is RiskState.REDUCING:
            self._reducing_cause = _FLATTEN_ALL

    def _halt(self, reason: str) -> None:
        if self._state is not RiskState.HALTED:
            self._set_state(RiskState.HALTED, reason)

    def _enter_reducing(self, cause: str, reason: str) -> None:
        self._reducing_cause = cause
        self._set_state(RiskState.REDUCING, reason)

    def _set_state(self, state: RiskState, reason: str) -> None:
        previous = self._state
        self._state = state
        if state is not RiskState.REDUCING:
            self._reducing_cause = ""
        now = self.clock.now()
        log.warning("risk_state_changed", previous=previous.value, state=state.value, reason=reason)
        self.publish(RiskStateChanged(ts=now, previous=previous, state=state, reason=reason))
        if state is RiskState.HALTED:
            self.publish(TradingHalted(ts=now, reason=reason, source=self.name))
        elif previous is RiskState.HALTED:
            self.publish(TradingResumed(ts=now, reason=reason))
