"""The desk view: everything a screen shows of a running session, as one immutable value.

A session's monitor (``app.desk_monitor``) conflates the bus into a ``DeskView``
at most ten times a second; the terminal UI only ever reads these values, in
process or over the control API (``tui.link``: msgpack over a WebSocket). So the
UI never reaches into an actor, and however fast the market runs, it receives a
bounded amount of state at a bounded rate: each history below keeps its newest
entries only (the limits are ``app.desk_monitor``'s).

Money and quantities stay ``Decimal`` (encoded as strings), as on the bus;
prices for charts are float. ``ts`` fields are event time, int ns UTC.
"""

from __future__ import annotations

from decimal import Decimal

import msgspec

__all__ = [
    "AccountView",
    "ActorRow",
    "AlertRow",
    "BarRow",
    "DeskView",
    "EquityPoint",
    "FillRow",
    "IndicatorPoint",
    "JournalView",
    "LimitUsage",
    "LogLine",
    "OrderEvent",
    "OrderRow",
    "PositionRow",
    "RiskView",
    "SegmentRow",
    "SessionInfo",
    "StrategyRow",
    "decode_view",
    "encode_view",
]

_ZERO = Decimal(0)


class _Row(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    pass


class SessionInfo(_Row):
    """The header: which session this is and how long it has run."""

    name: str
    mode: str  # "paper" or "live"
    venue: str  # the venue's address (the simulator's, for a demo)
    symbols: tuple[str, ...]
    interval: str
    quote_asset: str
    directory: str  # the session's journal directory
    data_dir: str
    started_wall: float  # epoch seconds
    uptime_seconds: float = 0.0
    state: str = "starting"  # starting, running, stopping, stopped
    stop_reason: str = ""
    reconciliation: str = "not run"  # "passed", or why trading stayed halted


class ActorRow(_Row):
    name: str
    state: str
    restarts: int
    depth: int
    peak: int
    capacity: int
    processed: int
    messages_per_second: float
    heartbeat_age_seconds: float
    last_error: str = ""


class LimitUsage(_Row):
    """One risk limit: ``used`` of ``limit`` (0 = off); ``fraction`` in [0, inf)."""

    name: str
    used: Decimal
    limit: Decimal

    @property
    def fraction(self) -> float:
        return float(self.used / self.limit) if self.limit > 0 else 0.0


class RiskView(_Row):
    state: str  # ACTIVE, REDUCING, HALTED (RiskState values)
    reason: str = ""
    limits: tuple[LimitUsage, ...] = ()


class AccountView(_Row):
    cash: Decimal = _ZERO
    equity: Decimal = _ZERO
    realized_pnl: Decimal = _ZERO
    unrealized_pnl: Decimal = _ZERO
    fees: Decimal = _ZERO
    day_pnl: Decimal = _ZERO
    gross_exposure: Decimal = _ZERO
    daily_loss_limit: Decimal = _ZERO  # 0 = off


class EquityPoint(_Row):
    ts: int
    equity: float
    drawdown: float  # fraction below the running peak, >= 0


class PositionRow(_Row):
    symbol: str
    quantity: Decimal
    average_price: Decimal
    realized_pnl: Decimal
    last_price: float = 0.0


class OrderRow(_Row):
    client_order_id: str
    strategy: str
    symbol: str
    side: str
    order_type: str
    quantity: Decimal
    limit_price: Decimal | None
    filled: Decimal
    status: str  # OrderStatus values
    submitted_ts: int
    updated_ts: int
    venue_order_id: str = ""
    reason: str = ""

    @property
    def is_open(self) -> bool:
        return self.status in ("SUBMITTED", "ACCEPTED", "PARTIALLY_FILLED", "PENDING_CANCEL")


class OrderEvent(_Row):
    """One step of an order's timeline (its state transitions and fills)."""

    client_order_id: str
    ts: int
    status: str
    detail: str = ""


class FillRow(_Row):
    ts: int
    client_order_id: str
    trade_id: str
    strategy: str
    symbol: str
    side: str
    price: Decimal
    quantity: Decimal
    fee: Decimal
    fee_asset: str
    liquidity: str


class BarRow(_Row):
    ts: int  # the bar's open time
    open: float
    high: float
    low: float
    close: float
    volume: float


class IndicatorPoint(_Row):
    ts: int
    value: float


class StrategyRow(_Row):
    name: str
    paused: bool = False


class AlertRow(_Row):
    ts: int
    level: str  # info, warning, error
    source: str
    text: str


class LogLine(_Row):
    wall: float  # epoch seconds
    level: str
    event: str
    text: str  # the rest of the event's key=value pairs, redacted


class SegmentRow(_Row):
    name: str
    bytes: int


class JournalView(_Row):
    last_seq: int = 0
    durable_seq: int = 0
    segments: tuple[SegmentRow, ...] = ()
    snapshot_seq: int = 0
    snapshot_path: str = ""
    snapshots_written: int = 0
    recovery: str = ""  # recovery.json of the last resume, as JSON text ("" if none)


class DeskView(_Row):
    """One conflated picture of a session; ``version`` grows whenever anything in it does."""

    version: int
    wall: float  # when the view was taken, epoch seconds
    session: SessionInfo
    health: tuple[ActorRow, ...] = ()
    risk: RiskView = RiskView(state="ACTIVE")
    account: AccountView = AccountView()
    equity: tuple[EquityPoint, ...] = ()
    positions: tuple[PositionRow, ...] = ()
    orders: tuple[OrderRow, ...] = ()  # oldest first
    order_events: tuple[OrderEvent, ...] = ()  # oldest first
    fills: tuple[FillRow, ...] = ()  # oldest first
    bars: dict[str, tuple[BarRow, ...]] = {}  # per symbol, of the session's interval
    indicators: dict[str, dict[str, tuple[IndicatorPoint, ...]]] = {}  # symbol -> name -> points
    strategies: tuple[StrategyRow, ...] = ()
    alerts: tuple[AlertRow, ...] = ()  # oldest first
    logs: tuple[LogLine, ...] = ()  # oldest first
    journal: JournalView = JournalView()

    @property
    def open_orders(self) -> tuple[OrderRow, ...]:
        return tuple(order for order in self.orders if order.is_open)

    @property
    def live(self) -> bool:
        return self.session.mode == "live"


_encoder = msgspec.msgpack.Encoder(decimal_format="string")
_decoder = msgspec.msgpack.Decoder(DeskView)


def encode_view(view: DeskView) -> bytes:
    return _encoder.encode(view)


def decode_view(data: bytes) -> DeskView:
    return _decoder.decode(data)
