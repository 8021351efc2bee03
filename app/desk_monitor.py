"""The desk monitor: a running session conflated into ``DeskView``s for the terminal UI.

It watches the bus through taps (plain callables the live scheduler calls as it
publishes, before any actor sees the message) and keeps, per kind of thing, the
latest state and a bounded history: the newest ``MAX_*`` entries (every order and fill of the
session stays in the journal, queryable with SQL once exported; the screens show
the recent ones, and a table of a few hundred rows refills in a fraction of a
second when a screen is shown again after a busy while). A tap does a
dict update or a deque append, never more, so the actors pay microseconds for
being watched. Building a ``DeskView`` (copying those histories into tuples)
happens on the monitor's own timer, at most ``VIEWS_PER_SECOND`` times a second
and only when something changed (or once a second, for the clocks and the actor
health), so a market of thousands of events a second costs the UI ten views.

Commands come back the other way: ``command`` stamps one with the session's
clock and publishes it on the bus, where it is journaled like any message.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Final

import anyio
import msgspec

from actors.intervals import interval_ns
from actors.messages import (
    Alert,
    Bar,
    BarGap,
    CancelOrder,
    DriftDetected,
    EquityMarked,
    Fill,
    OrderAccepted,
    OrderCanceled,
    OrderExpired,
    OrderRejected,
    OrderStatus,
    PauseStrategy,
    PositionChanged,
    ResumeStrategy,
    RiskBreach,
    RiskRejected,
    RiskStateChanged,
    Signal,
    SubmitOrder,
    TradingHalted,
    TradingResumed,
)
from app.logs import LogTail
from app.session import SessionContext
from journal.segments import list_segments
from tui.link import COMMANDS, Command, LinkError
from tui.view import (
    AccountView,
    ActorRow,
    AlertRow,
    BarRow,
    DeskView,
    EquityPoint,
    FillRow,
    IndicatorPoint,
    JournalView,
    LimitUsage,
    OrderEvent,
    OrderRow,
    PositionRow,
    RiskView,
    SegmentRow,
    SessionInfo,
    StrategyRow,
)

__all__ = [
    "MAX_BARS",
    "MAX_EQUITY_POINTS",
    "MAX_FILLS",
    "MAX_ORDERS",
    "VIEWS_PER_SECOND",
    "DeskMonitor",
]

VIEWS_PER_SECOND: Final = 10
MAX_BARS: Final = 240  # per symbol; the indicator points likewise
MAX_EQUITY_POINTS: Final = 2_000
MAX_ORDERS: Final = 250  # closed ones beyond this are forgotten; open ones never
MAX_ORDER_EVENTS: Final = 1_000
MAX_FILLS: Final = 250
MAX_ALERTS: Final = 100
_IDLE_VIEW_SECONDS: Final = 1.0  # a view even when nothing changed: clocks, health
_SEGMENT_SCAN_SECONDS: Final = 1.0
_CLOSED: Final = frozenset(
    {OrderStatus.FILLED, OrderStatus.CANCELED, OrderStatus.REJECTED, OrderStatus.EXPIRED}
)
_ZERO: Final = Decimal(0)


@dataclass
class _Order:
    """One order as the monitor has seen it; a row of the orders table when viewed."""

    submit: SubmitOrder
    status: OrderStatus
    filled: Decimal
    updated_ts: int
    venue_order_id: str = ""
    reason: str = ""

    def row(self) -> OrderRow:
        ticket = self.submit.ticket
        return OrderRow(
            client_order_id=self.submit.client_order_id,
            strategy=self.submit.strategy,
            symbol=ticket.symbol,
            side=ticket.side.value,
            order_type=ticket.order_type.value,
            quantity=ticket.quantity,
            limit_price=ticket.limit_price,
            filled=self.filled,
            status=self.status.value,
            submitted_ts=self.submit.ts,
            updated_ts=self.updated_ts,
            venue_order_id=self.venue_order_id,
            reason=self.reason,
        )


class DeskMonitor:
    """A ``SessionObserver`` (``app.session``) that keeps the newest ``DeskView`` in
    ``latest``, for a UI in this process or the control API (``app.serve``)."""

    def __init__(self, log_tail: LogTail | None = None) -> None:
        self.latest: DeskView | None = None
        self.log_tail = log_tail
        self._context: SessionContext | None = None
        self._interval = 0
        self._changes = 0  # taps seen; a view is built when this moved
        self._version = 0
        self._state = "starting"
        self._stop_reason = ""
        self._risk_state = "ACTIVE"
        self._risk_reason = ""
        self._account = AccountView()
        self._peak = 0.0
        self._equity: deque[EquityPoint] = deque(maxlen=MAX_EQUITY_POINTS)
        self._positions: dict[str, PositionChanged] = {}
        self._orders: dict[str, _Order] = {}
        self._order_events: deque[OrderEvent] = deque(maxlen=MAX_ORDER_EVENTS)
        self._fills: deque[FillRow] = deque(maxlen=MAX_FILLS)
        self._bars: dict[str, deque[BarRow]] = {}
        self._last_close: dict[str, float] = {}
        self._indicators: dict[str, dict[str, deque[IndicatorPoint]]] = {}
        self._paused: set[str] = set()
        self._alerts: deque[AlertRow] = deque(maxlen=MAX_ALERTS)
        self._last_order_notional = _ZERO
        self._segments: tuple[SegmentRow, ...] = ()
        self._recovery = ""

    # --- the session side ---------------------------------------------------------------

    def attach(self, context: SessionContext) -> None:
        self._context = context
        self._interval = interval_ns(context.settings.backtest.interval)
        bus = context.session.bus
        taps = {
            SubmitOrder: self._submit,
            CancelOrder: self._cancel_sent,
            OrderAccepted: self._accepted,
            OrderRejected: self._rejected,
            OrderCanceled: self._canceled,
            OrderExpired: self._expired,
            Fill: self._fill,
            PositionChanged: self._position,
            EquityMarked: self._marked,
            Bar: self._bar,
            Signal: self._signal,
            PauseStrategy: self._pause,
            ResumeStrategy: self._resume,
            RiskStateChanged: self._risk_changed,
            TradingHalted: self._halted,
            TradingResumed: self._resumed,
            RiskBreach: self._breach,
            RiskRejected: self._risk_rejected,
            DriftDetected: self._drift,
            BarGap: self._gap,
            Alert: self._alert,
        }
        for message_type, tap in taps.items():
            bus.subscribe(message_type, tap, owner="desk")
        risk = context.session.risk
        self._risk_state = risk.state.value
        self._paused = set(context.session.bus.actors["strategy"].snapshot().paused)
        self._account = AccountView(daily_loss_limit=context.settings.risk.daily_loss_limit)
        if context.recovery is not None:
            path = context.directory / "recovery.json"
            self._recovery = path.read_text() if path.is_file() else ""
        self._build()

    async def run(self) -> None:
        """Build a view whenever something changed, at most ``VIEWS_PER_SECOND`` times a
        second, and at least once a second; rescan the journal's segments once a second."""
        context = self._require()
        seen = -1
        last_build = last_scan = 0.0
        try:
            while True:
                now = time.monotonic()
                if now - last_scan >= _SEGMENT_SCAN_SECONDS:
                    self._segments = await anyio.to_thread.run_sync(_segments, context.directory)
                    last_scan = now
                if context.started.is_set() and self._state == "starting":
                    self._state = "running"
                    self._changes += 1
                if context.stop.is_set() and self._state != "stopping":
                    self._state = "stopping"
                    self._changes += 1
                if self._changes != seen or now - last_build >= _IDLE_VIEW_SECONDS:
                    seen = self._changes
                    last_build = now
                    self._build()
                await anyio.sleep(1 / VIEWS_PER_SECOND)
        finally:
            self._state = "stopped"
            self._stop_reason = context.scheduler.stop_reason or "session ended"
            self._build()

    async def command(self, command: Command) -> None:
        """Publish an operator's command on the bus, stamped with the session's clock."""
        context = self._require()
        if type(command) not in COMMANDS:
            raise LinkError(f"{type(command).__name__} is not a command")
        if self._state == "stopped":
            raise LinkError("the session has stopped")
        scheduler = context.scheduler
        await scheduler.publish(msgspec.structs.replace(command, ts=scheduler.clock.now()))

    def _require(self) -> SessionContext:
        if self._context is None:
            raise LinkError("the session has not started yet")
        return self._context

    # --- taps: each a few dict or deque operations --------------------------------------

    def _event(self, client_order_id: str, ts: int, status: str, detail: str = "") -> None:
        self._order_events.append(
            OrderEvent(client_order_id=client_order_id, ts=ts, status=status, detail=detail)
        )
        self._changes += 1

    def _update(
        self, client_order_id: str, ts: int, status: OrderStatus, detail: str = ""
    ) -> _Order | None:
        order = self._orders.get(client_order_id)
        if order is None or order.status in _CLOSED:
            return None
        order.status, order.updated_ts = status, ts
        self._event(client_order_id, ts, status.value, detail)
        return order

    def _submit(self, message: SubmitOrder) -> None:
        ticket = message.ticket
        self._orders[message.client_order_id] = _Order(
            submit=message, status=OrderStatus.SUBMITTED, filled=_ZERO, updated_ts=message.ts
        )
        price = ticket.limit_price
        if price is None:
            price = Decimal(repr(self._last_close.get(ticket.symbol, 0.0)))
        self._last_order_notional = ticket.quantity * price
        side = ticket.side.value
        self._event(message.client_order_id, message.ts, "SUBMITTED", f"{side} {ticket.quantity}")
        self._forget_closed()

    def _forget_closed(self) -> None:
        excess = len(self._orders) - MAX_ORDERS
        if excess > 0:
            closed = [key for key, order in self._orders.items() if order.status in _CLOSED]
            for key in closed[:excess]:
                del self._orders[key]

    def _cancel_sent(self, message: CancelOrder) -> None:
        self._update(message.client_order_id, message.ts, OrderStatus.PENDING_CANCEL)

    def _accepted(self, message: OrderAccepted) -> None:
        order = self._update(message.client_order_id, message.ts, OrderStatus.ACCEPTED)
        if order is not None:
            order.venue_order_id = message.venue_order_id

    def _rejected(self, message: OrderRejected) -> None:
        order = self._update(
            message.client_order_id, message.ts, OrderStatus.REJECTED, message.reason
        )
        if order is not None:
            order.reason = message.reason
        self._note(
            message.ts,
            "warning",
            "order_manager",
            f"{message.client_order_id} rejected: {message.reason}",
        )

    def _canceled(self, message: OrderCanceled) -> None:
        order = self._update(
            message.client_order_id, message.ts, OrderStatus.CANCELED, message.reason
        )
        if order is not None:
            order.reason = message.reason

    def _expired(self, message: OrderExpired) -> None:
        self._update(message.client_order_id, message.ts, OrderStatus.EXPIRED)

    def _fill(self, fill: Fill) -> None:
        order = self._orders.get(fill.client_order_id)
        if order is not None:
            order.filled = fill.cumulative_quantity
            done = fill.cumulative_quantity >= order.submit.ticket.quantity
            status = OrderStatus.FILLED if done else OrderStatus.PARTIALLY_FILLED
            self._update(fill.client_order_id, fill.ts, status, f"{fill.quantity} @ {fill.price}")
        self._fills.append(
            FillRow(
                ts=fill.ts,
                client_order_id=fill.client_order_id,
                trade_id=fill.trade_id,
                strategy=fill.strategy,
                symbol=fill.symbol,
                side=fill.side.value,
                price=fill.price,
                quantity=fill.quantity,
                fee=fill.fee,
                fee_asset=fill.fee_asset,
                liquidity=fill.liquidity.value,
            )
        )
        self._changes += 1

    def _position(self, message: PositionChanged) -> None:
        self._positions[message.symbol] = message
        self._changes += 1

    def _marked(self, mark: EquityMarked) -> None:
        self._account = AccountView(
            cash=mark.cash,
            equity=mark.equity,
            realized_pnl=mark.realized_pnl,
            unrealized_pnl=mark.unrealized_pnl,
            fees=mark.fees,
            day_pnl=mark.day_pnl,
            gross_exposure=mark.gross_exposure,
            daily_loss_limit=self._account.daily_loss_limit,
        )
        equity = float(mark.equity)
        self._peak = max(self._peak, equity)
        drawdown = (self._peak - equity) / self._peak if self._peak > 0 else 0.0
        self._equity.append(EquityPoint(ts=mark.ts, equity=equity, drawdown=drawdown))
        self._changes += 1

    def _bar(self, bar: Bar) -> None:
        context = self._context
        if context is None or bar.interval != context.settings.backtest.interval:
            return
        bars = self._bars.get(bar.symbol)
        if bars is None:
            bars = self._bars[bar.symbol] = deque(maxlen=MAX_BARS)
        bars.append(
            BarRow(
                ts=bar.start,
                open=bar.open,
                high=bar.high,
                low=bar.low,
                close=bar.close,
                volume=bar.volume,
            )
        )
        self._last_close[bar.symbol] = bar.close
        self._changes += 1

    def _signal(self, signal: Signal) -> None:
        if signal.kind != "indicator":
            return
        by_name = self._indicators.setdefault(signal.symbol, {})
        points = by_name.get(signal.name)
        if points is None:
            points = by_name[signal.name] = deque(maxlen=MAX_BARS)
        # At the open time of the bar it was computed on (the chart's x): an indicator
        # signal carries that bar's close time.
        points.append(IndicatorPoint(ts=signal.ts - self._interval, value=signal.value))
        self._changes += 1

    def _pause(self, command: PauseStrategy) -> None:
        if command.strategy in self._strategy_names():
            self._paused.add(command.strategy)
        self._note(
            command.ts, "info", "operator", f"pause strategy {command.strategy} ({command.reason})"
        )

    def _resume(self, command: ResumeStrategy) -> None:
        self._paused.discard(command.strategy)
        self._note(
            command.ts, "info", "operator", f"resume strategy {command.strategy} ({command.reason})"
        )

    def _risk_changed(self, message: RiskStateChanged) -> None:
        self._risk_state, self._risk_reason = message.state.value, message.reason
        self._changes += 1

    def _halted(self, message: TradingHalted) -> None:
        self._risk_state, self._risk_reason = "HALTED", message.reason
        source = message.source or "risk"
        self._note(message.ts, "error", source, f"trading halted: {message.reason}")

    def _resumed(self, message: TradingResumed) -> None:
        self._note(message.ts, "info", "risk", f"trading resumed: {message.reason}")

    def _breach(self, message: RiskBreach) -> None:
        self._note(
            message.ts,
            "warning",
            "risk",
            f"{message.limit}: {message.value} over {message.threshold}",
        )

    def _risk_rejected(self, message: RiskRejected) -> None:
        ticket = message.intent.ticket
        self._note(
            message.ts,
            "warning",
            "risk",
            f"{ticket.side.value} {ticket.quantity} {ticket.symbol} refused: {message.reason}",
        )

    def _drift(self, message: DriftDetected) -> None:
        shown = "; ".join(
            f"{d.kind} {d.key}: ours {d.ours}, venue {d.venue}" for d in message.diffs[:3]
        )
        self._note(message.ts, "error", "reconciler", f"drift: {shown}")

    def _gap(self, message: BarGap) -> None:
        self._note(message.ts, "warning", "bar_builder", f"bar gap on {message.symbol}")

    def _alert(self, message: Alert) -> None:
        self._note(message.ts, message.level, message.source, message.text)

    def _note(self, ts: int, level: str, source: str, text: str) -> None:
        self._alerts.append(AlertRow(ts=ts, level=level, source=source, text=text))
        self._changes += 1

    # --- the view -----------------------------------------------------------------------

    def _strategy_names(self) -> list[str]:
        context = self._require()
        host = context.session.bus.actors["strategy"]
        return [plugin.name for plugin in host.plugins]

    def _build(self) -> None:
        context = self._require()
        now = time.time()
        settings = context.settings
        run = settings.backtest
        runner = context.runner
        self._version += 1
        session = SessionInfo(
            name=context.name,
            mode=context.mode,
            venue=settings.binance.base_url,
            symbols=tuple(run.symbols),
            interval=run.interval,
            quote_asset=run.quote_asset,
            directory=str(context.directory),
            data_dir=str(settings.data.dir),
            started_wall=context.started_wall,
            uptime_seconds=now - context.started_wall,
            state=self._state,
            stop_reason=self._stop_reason,
            reconciliation=runner.reconciliation,
        )
        health = tuple(
            ActorRow(
                name=row.name,
                state=row.state.value,
                restarts=row.restarts,
                depth=row.depth,
                peak=row.peak,
                capacity=row.capacity,
                processed=row.processed,
                messages_per_second=row.messages_per_second,
                heartbeat_age_seconds=row.heartbeat_age_seconds,
                last_error=row.last_error,
            )
            for row in context.scheduler.snapshot()
        )
        writer = context.writer
        journal = JournalView(
            last_seq=writer.last_seq,
            durable_seq=writer.durable_seq,
            segments=self._segments,
            snapshot_seq=runner.snapshot_seq,
            snapshot_path=str(runner.last_snapshot) if runner.last_snapshot else "",
            snapshots_written=runner.snapshots_written,
            recovery=self._recovery,
        )
        self.latest = DeskView(
            version=self._version,
            wall=now,
            session=session,
            health=health,
            risk=RiskView(state=self._risk_state, reason=self._risk_reason, limits=self._limits()),
            account=self._account,
            equity=tuple(self._equity),
            positions=tuple(
                PositionRow(
                    symbol=symbol,
                    quantity=position.quantity,
                    average_price=position.average_price,
                    realized_pnl=position.realized_pnl,
                    last_price=self._last_close.get(symbol, 0.0),
                )
                for symbol, position in sorted(self._positions.items())
            ),
            orders=tuple(order.row() for order in self._orders.values()),
            order_events=tuple(self._order_events),
            fills=tuple(self._fills),
            bars={symbol: tuple(bars) for symbol, bars in self._bars.items()},
            indicators={
                symbol: {name: tuple(points) for name, points in by_name.items()}
                for symbol, by_name in self._indicators.items()
            },
            strategies=tuple(
                StrategyRow(name=name, paused=name in self._paused)
                for name in self._strategy_names()
            ),
            alerts=tuple(self._alerts),
            logs=self.log_tail.lines() if self.log_tail is not None else (),
            journal=journal,
        )

    def _limits(self) -> tuple[LimitUsage, ...]:
        """Each risk limit against what is using it now: the last order's notional, the
        largest position's notional at the last close, and the day's loss."""
        limits = self._require().settings.risk
        position_notional = max(
            (
                abs(position.quantity) * Decimal(repr(self._last_close.get(symbol, 0.0)))
                for symbol, position in self._positions.items()
            ),
            default=_ZERO,
        )
        day_loss = max(-self._account.day_pnl, _ZERO)
        return (
            LimitUsage(
                name="max_order_notional",
                used=self._last_order_notional,
                limit=limits.max_order_notional,
            ),
            LimitUsage(
                name="max_position_notional",
                used=position_notional,
                limit=limits.max_position_notional,
            ),
            LimitUsage(name="daily_loss_limit", used=day_loss, limit=limits.daily_loss_limit),
        )


def _segments(directory: Path) -> tuple[SegmentRow, ...]:
    rows = []
    for _, path in list_segments(directory):
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            continue
        rows.append(SegmentRow(name=path.name, bytes=size))
    return tuple(rows)
