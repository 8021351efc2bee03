"""The message catalog: every struct that crosses the bus, and nothing else.

Every message is a frozen, keyword-only, tagged ``msgspec.Struct`` so that a
union of all of them decodes from msgpack in one call (the journal relies on
this) and so that a message, once published, can be shared by every
subscriber without copying. Every message carries ``ts``: its event time in
integer nanoseconds since the epoch, UTC.

Market data (prices and sizes on ticks and bars) is ``float``: it arrives as
float from venues and files and is only ever compared and averaged. Anything
that is money or quantity on an order, fill, position or balance is
``decimal.Decimal`` (encoded as a string, so it round-trips exactly).

Schema evolution rule: a new field is appended last, with a default, so bytes
written by an older version of a message still decode. Messages are encoded
as maps (field name -> value), so a decoder also skips fields it does not know.
"""

from __future__ import annotations

import enum
import functools
import operator
import re
from decimal import Decimal
from typing import Final

import msgspec

BAR_OPEN: Final = "bar_open"

__all__ = [
    "ALL_MESSAGES",
    "BAR_OPEN",
    "Alert",
    "Bar",
    "BarGap",
    "BarUpdate",
    "Cancel",
    "CancelAll",
    "CancelOrder",
    "DailyPnl",
    "DepthMetric",
    "Drift",
    "DriftDetected",
    "EndOfData",
    "EquityMarked",
    "ExecutionReport",
    "Fill",
    "FlattenAll",
    "FundingRate",
    "Halt",
    "Heartbeat",
    "Instrument",
    "Liquidity",
    "Message",
    "OpenInterest",
    "OrderAccepted",
    "OrderCanceled",
    "OrderExpired",
    "OrderIntent",
    "OrderRejected",
    "OrderRequest",
    "OrderStatus",
    "OrderStatusReport",
    "OrderTicket",
    "OrderType",
    "PauseStrategy",
    "PositionChanged",
    "QuoteTick",
    "Reconcile",
    "Resume",
    "ResumeStrategy",
    "RiskBreach",
    "RiskRejected",
    "RiskState",
    "RiskStateChanged",
    "SaveSnapshot",
    "Side",
    "Signal",
    "SubmitOrder",
    "Subscribe",
    "TimeInForce",
    "TimerFired",
    "TradeTick",
    "TradingHalted",
    "TradingResumed",
    "Unsubscribe",
    "VenueSnapshot",
    "decode",
    "encode",
    "handler_name",
]


class Side(enum.StrEnum):
    """Which way an order or a trade goes; for a trade tick, the taker's side."""

    BUY = "BUY"
    SELL = "SELL"


class OrderType(enum.StrEnum):
    MARKET = "MARKET"
    LIMIT = "LIMIT"
    STOP_LIMIT = "STOP_LIMIT"


class TimeInForce(enum.StrEnum):
    GTC = "GTC"
    IOC = "IOC"
    FOK = "FOK"


class OrderStatus(enum.StrEnum):
    """States of an order's life (DESIGN.md §4); the order manager owns the edges."""

    NEW = "NEW"
    SUBMITTED = "SUBMITTED"
    ACCEPTED = "ACCEPTED"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    PENDING_CANCEL = "PENDING_CANCEL"
    CANCELED = "CANCELED"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"


class Liquidity(enum.StrEnum):
    MAKER = "MAKER"
    TAKER = "TAKER"


class RiskState(enum.StrEnum):
    """ACTIVE trades freely; REDUCING lets only exits through; HALTED lets only exits through
    and says a human (or a crash loop) stopped the session."""

    ACTIVE = "ACTIVE"
    REDUCING = "REDUCING"
    HALTED = "HALTED"


class Message(msgspec.Struct, frozen=True, kw_only=True, tag=True, gc=False):
    """Base of every bus message: ``ts`` is event time, int ns UTC.

    ``gc=False``: a backtest allocates millions of messages, and tracking each one
    made the cyclic garbage collector a measurable share of the run. A frozen
    message holds only values and other messages, never a reference back to
    itself, so it cannot be part of a cycle the collector would have to break.
    """

    ts: int


# --- reference data -------------------------------------------------------------------


class Instrument(Message):
    """A tradable symbol with the filters orders are quantized to at the order boundary."""

    symbol: str
    venue: str
    base: str
    quote: str
    tick_size: Decimal
    lot_size: Decimal
    min_quantity: Decimal = Decimal(0)
    max_quantity: Decimal = Decimal(0)
    min_notional: Decimal = Decimal(0)


# --- market data ----------------------------------------------------------------------


class TradeTick(Message):
    """One trade print. ``aggressor`` is the taker's side (buyer was maker -> SELL)."""

    symbol: str
    price: float
    size: float
    aggressor: Side
    trade_id: str = ""


class QuoteTick(Message):
    symbol: str
    bid: float
    bid_size: float
    ask: float
    ask_size: float


class Bar(Message):
    """A closed OHLCV bar. ``ts`` is the close time (``start`` + interval): a bar is only
    known once it has closed, so that is its event time."""

    symbol: str
    interval: str
    start: int
    open: float
    high: float
    low: float
    close: float
    volume: float
    trades: int = 0
    vwap: float = 0.0


class BarUpdate(Message):
    """A bar as a source delivers it (a venue kline stream, the lake): possibly still open,
    repeated after a reconnect, or out of order. The bar builder turns these into closed
    ``Bar`` messages, exactly once per interval per symbol."""

    bar: Bar
    closed: bool = True


class BarGap(Message):
    """Intervals ``[start, end)`` of ``symbol``/``interval`` for which no bar exists."""

    symbol: str
    interval: str
    start: int
    end: int
    missing: int


class FundingRate(Message):
    symbol: str
    rate: float
    mark_price: float = 0.0


class OpenInterest(Message):
    symbol: str
    open_interest: float
    value: float = 0.0


class DepthMetric(Message):
    """Binance bookDepth: cumulative depth within ``percentage`` of the mid."""

    symbol: str
    percentage: float
    depth: float
    notional: float


# --- decisions ------------------------------------------------------------------------


class OrderTicket(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """The terms of an order, shared by the intent, the approved request and the
    submission, so the three cannot drift apart field by field."""

    symbol: str
    side: Side
    quantity: Decimal
    order_type: OrderType = OrderType.MARKET
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    time_in_force: TimeInForce = TimeInForce.GTC
    post_only: bool = False
    reduce_only: bool = False


class Signal(Message):
    """A strategy's named observation (an indicator value, a cross), for the record.
    ``kind`` is "indicator" for a value a chart draws beside the bars (see
    ``StrategyHost(indicators=True)``), "" for anything else."""

    strategy: str
    symbol: str
    name: str
    value: float
    kind: str = ""


class OrderIntent(Message):
    """What a strategy wants; nothing is sent until risk approves it."""

    strategy: str
    ticket: OrderTicket
    tag: str = ""


class OrderRequest(Message):
    """An intent risk has approved, on its way to the order manager."""

    intent: OrderIntent


class RiskRejected(Message):
    intent: OrderIntent
    reason: str


# --- orders and execution -------------------------------------------------------------


class SubmitOrder(Message):
    """To the venue gateway. Write-ahead: durable in the journal before it leaves."""

    client_order_id: str
    strategy: str
    ticket: OrderTicket


class CancelOrder(Message):
    """To the venue gateway."""

    client_order_id: str
    symbol: str


class ExecutionReport(Message):
    """What a venue says happened to one order: the raw material of Order* events and
    Fills. ``last_*`` describe the trade this report carries (if ``status`` is a fill);
    ``cumulative_quantity`` is the order's total filled so far."""

    venue: str
    client_order_id: str
    venue_order_id: str
    symbol: str
    side: Side
    status: OrderStatus
    last_price: Decimal = Decimal(0)
    last_quantity: Decimal = Decimal(0)
    cumulative_quantity: Decimal = Decimal(0)
    fee: Decimal = Decimal(0)
    fee_asset: str = ""
    trade_id: str = ""
    liquidity: Liquidity = Liquidity.TAKER
    reason: str = ""


class OrderAccepted(Message):
    client_order_id: str
    venue_order_id: str
    symbol: str


class OrderRejected(Message):
    client_order_id: str
    symbol: str
    reason: str


class OrderCanceled(Message):
    client_order_id: str
    symbol: str
    reason: str = ""


class OrderExpired(Message):
    client_order_id: str
    symbol: str


class Fill(Message):
    """One execution against an order. Partial fills carry the order's cumulative
    quantity so a reader can tell the third partial fill from the last."""

    client_order_id: str
    venue_order_id: str
    trade_id: str
    strategy: str
    symbol: str
    side: Side
    price: Decimal
    quantity: Decimal
    cumulative_quantity: Decimal
    fee: Decimal
    fee_asset: str
    liquidity: Liquidity = Liquidity.TAKER


# --- books ----------------------------------------------------------------------------


class PositionChanged(Message):
    symbol: str
    quantity: Decimal
    average_price: Decimal
    realized_pnl: Decimal


class EquityMarked(Message):
    """The account marked at a bar close: cash plus positions at the last close."""

    cash: Decimal
    equity: Decimal
    realized_pnl: Decimal
    unrealized_pnl: Decimal
    fees: Decimal
    day_pnl: Decimal
    gross_exposure: Decimal


class DailyPnl(Message):
    """Emitted when a UTC day closes (the first mark of the next day)."""

    date: str
    pnl: Decimal
    equity: Decimal


# --- risk -----------------------------------------------------------------------------


class RiskBreach(Message):
    limit: str
    value: Decimal
    threshold: Decimal
    detail: str = ""


class RiskStateChanged(Message):
    previous: RiskState
    state: RiskState
    reason: str


class TradingHalted(Message):
    reason: str
    source: str = ""


class TradingResumed(Message):
    reason: str = ""


# --- reconciliation -------------------------------------------------------------------


class OrderStatusReport(Message):
    """The venue's view of one order, answered to a query by client id or a listing."""

    venue: str
    client_order_id: str
    venue_order_id: str
    symbol: str
    side: Side
    status: OrderStatus
    quantity: Decimal
    filled_quantity: Decimal
    # False when the venue has no order with this client id: after the venue's receive
    # window, an order it never saw was never placed (the order manager rejects it).
    found: bool = True


class QueryOrder(Message):
    """Ask the venue for one order by client id: how an order whose submit outcome is
    unknown (a timeout, a crash between send and acknowledgement) is resolved. The venue
    answers with an ``OrderStatusReport`` after the order's ``ExecutionReport``s, so the
    order manager has every fill (duplicates are ignored by trade id) before the status."""

    venue: str
    client_order_id: str


class VenueSnapshot(Message):
    """The venue's view of the account, answered to a ``Reconcile``: balances per asset,
    open orders, and the ids of the trades after the requested cursor.

    The venue numbers its trades 1, 2, 3... in the order it executed them (its trade
    sequence). ``trade_ids`` are the ids of the trades numbered ``since_trade + 1`` up
    to ``trade_cursor``, oldest first: ``since_trade`` echoes the request, so a reader
    knows what the ids cover, and ``trade_cursor`` (the venue's latest trade number) is
    the ``since_trade`` of the next request, which then carries only newer trades. So a
    snapshot costs the trades since the last one, not the session's whole history
    (Binance pages ``myTrades`` the same way, with an inclusive ``fromId``). A snapshot
    written before the cursor existed decodes with both at 0 and every trade id in
    ``trade_ids``: the whole history, which is still a correct answer."""

    venue: str
    balances: dict[str, Decimal]
    open_orders: tuple[OrderStatusReport, ...] = ()
    trade_ids: tuple[str, ...] = ()
    since_trade: int = 0
    trade_cursor: int = 0


class Drift(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """One difference: what we believe (``ours``) against what the venue says."""

    kind: str
    key: str
    ours: str
    venue: str


class DriftDetected(Message):
    diffs: tuple[Drift, ...]


# --- runtime --------------------------------------------------------------------------


class Heartbeat(Message):
    actor: str


class Alert(Message):
    level: str
    source: str
    text: str


class TimerFired(Message):
    """A timer an actor set on the clock; delivered like any message so that both
    schedulers see timers at the same place in the message order."""

    owner: str
    name: str


class Subscribe(Message):
    """Ask the feed for a stream of ``symbol`` on behalf of ``subscriber``.

    ``stream`` names what is wanted; ``"bar_open"`` is the opening update of each
    bar (``BarUpdate`` with ``closed=False``), which only a venue simulating fills
    at the open needs, and only while it has orders working.
    """

    subscriber: str
    symbol: str
    stream: str


class Unsubscribe(Message):
    """Withdraw a ``Subscribe`` of the same subscriber, symbol and stream."""

    subscriber: str
    symbol: str
    stream: str


class EndOfData(Message):
    """The feed has no more data: actors settle (final marks, final reconciliation)."""


# --- commands -------------------------------------------------------------------------


class Halt(Message):
    reason: str = "operator"


class Resume(Message):
    reason: str = "operator"


class FlattenAll(Message):
    reason: str = "operator"


class CancelAll(Message):
    symbol: str = ""


class Cancel(Message):
    client_order_id: str


class SaveSnapshot(Message):
    pass


class PauseStrategy(Message):
    """Stop a strategy's new decisions: it still sees every bar (its indicators stay
    current) but its intents are dropped until ``ResumeStrategy``. Orders already
    working are left alone; CancelAll or FlattenAll deal with those."""

    strategy: str
    reason: str = "operator"


class ResumeStrategy(Message):
    strategy: str
    reason: str = "operator"


class Recovered(Message):
    """A session came back from its journal: the actors hold the state as of ``last_seq``,
    rebuilt from the snapshot at ``snapshot_seq`` (0: none) and the frames after it. The
    reconciler takes over from here: orders submitted but never acknowledged are asked
    for by client id before anything else is decided about them."""

    session: str
    snapshot_seq: int
    last_seq: int


class Reconcile(Message):
    """Ask the venue for a ``VenueSnapshot``. ``since_trade`` is a trade number of the
    venue's sequence (see ``VenueSnapshot``): the snapshot lists only the trades after
    it. 0, the default (and an operator's request), asks for every trade."""

    since_trade: int = 0


def _catalog() -> tuple[type[Message], ...]:
    return tuple(
        obj
        for obj in globals().values()
        if isinstance(obj, type) and issubclass(obj, Message) and obj is not Message
    )


ALL_MESSAGES: Final[tuple[type[Message], ...]] = _catalog()
_decoder: Final = msgspec.msgpack.Decoder(functools.reduce(operator.or_, ALL_MESSAGES))
_encoder: Final = msgspec.msgpack.Encoder(decimal_format="string")


def encode(message: Message) -> bytes:
    return _encoder.encode(message)


def decode(data: bytes) -> Message:
    """Decode any catalog message by its tag; raises ``msgspec.ValidationError`` with the
    path of the offending field."""
    return _decoder.decode(data)


def handler_name(message_type: type[Message]) -> str:
    """``OrderIntent`` -> ``on_order_intent``: the handler an actor defines to receive it."""
    return "on_" + re.sub(r"(?<!^)(?=[A-Z])", "_", message_type.__name__).lower()
