"""A deterministic ``DeskView`` of a busy paper session, and a link that records commands.

Screens are tested against ``sample_view()`` (no session, no clock: the same
pixels every run, which the SVG snapshots need) and against a real session in
the end-to-end tests.
"""

from __future__ import annotations

import math
from decimal import Decimal

import msgspec
import pytest

from tui.link import Command
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
    LogLine,
    OrderEvent,
    OrderRow,
    PositionRow,
    RiskView,
    SegmentRow,
    SessionInfo,
    StrategyRow,
)

MINUTE = 60_000_000_000
T0 = 1_704_067_200_000_000_000  # 2024-01-01 00:00 UTC
WALL0 = 1_704_067_200.0
ACTORS = ("venue", "bar_builder", "strategy", "risk", "order_manager", "accountant", "reconciler")


def _bars(count: int) -> tuple[BarRow, ...]:
    bars = []
    price = 42_000.0
    for i in range(count):
        open_ = price
        close = 42_000.0 + 400.0 * math.sin(i / 9.0) + 60.0 * math.sin(i / 2.3)
        high = max(open_, close) + 25.0 + 10.0 * (i % 3)
        low = min(open_, close) - 25.0 - 10.0 * (i % 4)
        bars.append(
            BarRow(
                ts=T0 + i * MINUTE,
                open=open_,
                high=high,
                low=low,
                close=close,
                volume=10.0 + (i % 7),
            )
        )
        price = close
    return tuple(bars)


def _sma(bars: tuple[BarRow, ...], period: int) -> tuple[IndicatorPoint, ...]:
    closes = [bar.close for bar in bars]
    return tuple(
        IndicatorPoint(ts=bars[i].ts, value=sum(closes[i - period + 1 : i + 1]) / period)
        for i in range(period - 1, len(bars))
    )


def sample_view(*, mode: str = "paper", risk_state: str = "ACTIVE", version: int = 1) -> DeskView:
    bars = _bars(120)
    session = SessionInfo(
        name="paper-20240101-000000-sma_cross", mode=mode, venue="http://127.0.0.1:8765",
        symbols=("BTCUSDT",), interval="1m", quote_asset="USDT",
        directory="/data/journal/paper-20240101-000000-sma_cross", data_dir="/data",
        started_wall=WALL0, uptime_seconds=3725.0, state="running", reconciliation="passed",
    )  # fmt: skip
    health = tuple(
        ActorRow(
            name=name,
            state="running",
            restarts=1 if name == "reconciler" else 0,
            depth=i,
            peak=3 * i + 1,
            capacity=1024,
            processed=1000 * (i + 1),
            messages_per_second=12.5 * (i + 1),
            heartbeat_age_seconds=0.1 * i,
            last_error="KeyError: 'ETHUSDT'" if name == "reconciler" else "",
        )
        for i, name in enumerate(ACTORS)
    )
    orders = (
        OrderRow(client_order_id="sma_cross-BTCUSDT-1", strategy="sma_cross", symbol="BTCUSDT",
                 side="BUY", order_type="MARKET", quantity=Decimal("0.01"), limit_price=None,
                 filled=Decimal("0.01"), status="FILLED", submitted_ts=bars[30].ts,
                 updated_ts=bars[31].ts, venue_order_id="1001"),
        OrderRow(client_order_id="sma_cross-BTCUSDT-2", strategy="sma_cross", symbol="BTCUSDT",
                 side="SELL", order_type="MARKET", quantity=Decimal("0.01"), limit_price=None,
                 filled=Decimal("0.01"), status="FILLED", submitted_ts=bars[60].ts,
                 updated_ts=bars[61].ts, venue_order_id="1002"),
        OrderRow(client_order_id="sma_cross-BTCUSDT-3", strategy="sma_cross", symbol="BTCUSDT",
                 side="BUY", order_type="LIMIT", quantity=Decimal("0.02"),
                 limit_price=Decimal("41800.00"), filled=Decimal("0.005"),
                 status="PARTIALLY_FILLED", submitted_ts=bars[100].ts, updated_ts=bars[104].ts,
                 venue_order_id="1003"),
        OrderRow(client_order_id="sma_cross-BTCUSDT-4", strategy="sma_cross", symbol="BTCUSDT",
                 side="BUY", order_type="MARKET", quantity=Decimal("5"), limit_price=None,
                 filled=Decimal(0), status="REJECTED", submitted_ts=bars[110].ts,
                 updated_ts=bars[110].ts, reason="insufficient balance"),
    )  # fmt: skip
    events = tuple(
        OrderEvent(client_order_id=order.client_order_id, ts=order.submitted_ts + k, status=status)
        for order in orders
        for k, status in enumerate(("SUBMITTED", "ACCEPTED", order.status))
    )
    fills = (
        FillRow(ts=bars[31].ts, client_order_id="sma_cross-BTCUSDT-1", trade_id="5001",
                strategy="sma_cross", symbol="BTCUSDT", side="BUY", price=Decimal("42123.45"),
                quantity=Decimal("0.01"), fee=Decimal("0.42123450"), fee_asset="USDT",
                liquidity="TAKER"),
        FillRow(ts=bars[61].ts, client_order_id="sma_cross-BTCUSDT-2", trade_id="5002",
                strategy="sma_cross", symbol="BTCUSDT", side="SELL", price=Decimal("42310.00"),
                quantity=Decimal("0.01"), fee=Decimal("0.42310000"), fee_asset="USDT",
                liquidity="TAKER"),
        FillRow(ts=bars[104].ts, client_order_id="sma_cross-BTCUSDT-3", trade_id="5003",
                strategy="sma_cross", symbol="BTCUSDT", side="BUY", price=Decimal("41800.00"),
                quantity=Decimal("0.005"), fee=Decimal("0.04180000"), fee_asset="USDT",
                liquidity="MAKER"),
    )  # fmt: skip
    peak = 0.0
    equity = []
    for i, bar in enumerate(bars):
        value = 100_000.0 + 150.0 * math.sin(i / 15.0) + 2.0 * i
        peak = max(peak, value)
        equity.append(EquityPoint(ts=bar.ts, equity=value, drawdown=(peak - value) / peak))
    return DeskView(
        version=version,
        wall=WALL0 + 3725.0,
        session=session,
        health=health,
        risk=RiskView(
            state=risk_state,
            reason="operator" if risk_state == "HALTED" else "",
            limits=(
                LimitUsage(name="max_order_notional", used=Decimal("840"), limit=Decimal("50000")),
                LimitUsage(
                    name="max_position_notional", used=Decimal("209"), limit=Decimal("100000")
                ),
                LimitUsage(name="daily_loss_limit", used=Decimal("1250"), limit=Decimal("5000")),
            ),
        ),
        account=AccountView(
            cash=Decimal("99790.58"),
            equity=Decimal("100002.41"),
            realized_pnl=Decimal("1.87"),
            unrealized_pnl=Decimal("0.54"),
            fees=Decimal("0.88613450"),
            day_pnl=Decimal("2.41"),
            gross_exposure=Decimal("209.54"),
            daily_loss_limit=Decimal("5000"),
        ),
        equity=tuple(equity),
        positions=(
            PositionRow(
                symbol="BTCUSDT",
                quantity=Decimal("0.005"),
                average_price=Decimal("41800.00"),
                realized_pnl=Decimal("1.87"),
                last_price=bars[-1].close,
            ),
        ),
        orders=orders,
        order_events=events,
        fills=fills,
        bars={"BTCUSDT": bars},
        indicators={"BTCUSDT": {"sma_5": _sma(bars, 5), "sma_20": _sma(bars, 20)}},
        strategies=(StrategyRow(name="sma_cross"),),
        alerts=(
            AlertRow(
                ts=bars[110].ts,
                level="warning",
                source="order_manager",
                text="sma_cross-BTCUSDT-4 rejected: insufficient balance",
            ),
            AlertRow(
                ts=bars[115].ts,
                level="error",
                source="reconciler",
                text="drift: USDT balance 99790.58 != 99790.50",
            ),
        ),
        logs=tuple(
            LogLine(wall=WALL0 + i, level=level, event=event, text=f"n={i}")
            for i, (level, event) in enumerate(
                [
                    ("info", "session.started"),
                    ("info", "session.snapshot"),
                    ("warning", "order.rejected"),
                    ("error", "reconciler.drift"),
                ]
                * 3
            )
        ),
        journal=JournalView(
            last_seq=48_213,
            durable_seq=48_210,
            segments=(
                SegmentRow(name="00000000000000000001.seg", bytes=67_108_864),
                SegmentRow(name="00000000000000041230.seg", bytes=1_204_224),
            ),
            snapshot_seq=40_000,
            snapshot_path="/data/journal/s/snapshots/40000.snap",
            snapshots_written=4,
            recovery='{"snapshot_seq": 30000, "last_seq": 31250, "replayed_frames": 1250}',
        ),
    )


class RecordingDesk:
    """A ``DeskLink`` that shows a fixed view (replaceable) and records commands."""

    def __init__(self, view: DeskView | None = None) -> None:
        self.current = view if view is not None else sample_view()
        self.commands: list[Command] = []

    def view(self) -> DeskView | None:
        return self.current

    async def command(self, command: Command) -> None:
        self.commands.append(command)
        if type(command).__name__ == "Halt":
            risk = msgspec.structs.replace(self.current.risk, state="HALTED", reason="operator")
            self.current = msgspec.structs.replace(
                self.current, risk=risk, version=self.current.version + 1
            )


@pytest.fixture
def desk() -> RecordingDesk:
    return RecordingDesk()
