"""Backtest wiring: the seven actors and the backtest exchange on the deterministic scheduler.

This is the composition root of a historical session: it turns settings into
actors, connects them on a bus, runs the lake's bars through them, and writes
the run directory. The same actor classes run live; only the feed, the venue
gateway and the scheduler differ.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import strategies
from actors.accountant import Accountant
from actors.bar_builder import BarBuilder
from actors.bus import Bus
from actors.clock import SimClock
from actors.feed import BarFeed
from actors.health import ActorHealth, RestartPolicy
from actors.intervals import interval_ns
from actors.messages import (
    DriftDetected,
    EquityMarked,
    Fill,
    Instrument,
    Message,
    PositionChanged,
    RiskRejected,
    TradingHalted,
)
from actors.order_manager import OrderManager
from actors.risk import RiskManager
from actors.scheduler import DeterministicScheduler
from actors.strategy import StrategyHost
from app import artifacts, wiring
from app.journaled import new_session_name, run_journaled
from app.metrics import compute_metrics
from app.settings import Settings, settings_to_toml
from journal.recovery import RecoveryReport
from venues.backtest import BacktestExchange

__all__ = [
    "BacktestResult",
    "BacktestSession",
    "Progress",
    "backtest_instruments",
    "build_backtest",
    "expected_bars",
    "run_backtest",
    "utc_ns",
]

VENUE = "backtest"
_PROGRESS_EVERY_MASK = 8191  # look at the clock once per 8192 source messages
_PROGRESS_PERIOD_SECONDS = 0.2

Progress = Callable[[int, int], None]
"""Told ``(bars_done, bars_total)`` while a backtest runs: a UI's progress bar."""


@dataclass
class Recorder:
    """Taps on the bus that keep what the run directory needs, in bus order."""

    fills: list[Fill] = field(default_factory=list)
    positions: list[PositionChanged] = field(default_factory=list)
    equity: list[EquityMarked] = field(default_factory=list)
    rejections: list[RiskRejected] = field(default_factory=list)
    drifts: list[DriftDetected] = field(default_factory=list)
    halts: list[TradingHalted] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._kept: dict[type[Message], list[Any]] = {
            Fill: self.fills,
            PositionChanged: self.positions,
            EquityMarked: self.equity,
            RiskRejected: self.rejections,
            DriftDetected: self.drifts,
            TradingHalted: self.halts,
        }

    def attach(self, bus: Bus) -> None:
        for message_type, kept in self._kept.items():
            bus.subscribe(message_type, kept.append, "recorder")

    def take(self, message: Message) -> None:
        """Keep ``message`` if it is of a kept type: how a resumed run gets back what
        its journal's snapshot covers."""
        kept = self._kept.get(type(message))
        if kept is not None:
            kept.append(message)


@dataclass
class BacktestSession:
    settings: Settings
    feed: BarFeed
    bus: Bus
    scheduler: DeterministicScheduler
    order_manager: OrderManager
    accountant: Accountant
    risk: RiskManager
    recorder: Recorder


@dataclass(frozen=True)
class BacktestResult:
    run_dir: Path | None
    metrics: dict[str, Any]
    fingerprint: str
    bars: int
    fills: int
    rejections: int
    drifts: int
    halted: str
    wall_seconds: float
    health: list[ActorHealth]
    journal_session: str = ""
    recovery: RecoveryReport | None = None


def utc_ns(day: dt.date) -> int:
    """Midnight UTC of ``day`` in ns: the boundary a backtest's start and end days mean."""
    return int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp()) * 10**9


def backtest_instruments(settings: Settings) -> dict[str, Instrument]:
    """The instruments of a backtest's symbols, on the backtest venue."""
    instruments = {}
    for symbol in settings.backtest.symbols:
        spec = settings.instrument(symbol)
        instruments[symbol] = Instrument(
            ts=0, symbol=symbol, venue=VENUE, base=spec.base, quote=spec.quote,
            tick_size=spec.tick_size, lot_size=spec.lot_size, min_quantity=spec.min_quantity,
            min_notional=spec.min_notional,
        )  # fmt: skip
    return instruments


def build_backtest(settings: Settings, *, end_ns: int | None = None) -> BacktestSession:
    """Every actor of a backtest, wired on one bus under the deterministic scheduler.

    ``end_ns`` ends the data before the configured end day (benchmarks use it for an
    exact bar count). Raises the settings', the strategy's or the feed's own error
    (each names the bad part) before anything runs."""
    run = settings.backtest
    instruments = backtest_instruments(settings)
    plugin = strategies.create(
        settings.strategy.name, settings.strategy.params, run.symbols, run.interval
    )
    feed = BarFeed(
        data_dir=settings.data.dir, symbols=run.symbols, interval=run.interval,
        start_ns=utc_ns(run.start), end_ns=end_ns or utc_ns(run.end),
        emit_open_updates=False,  # the exchange subscribes to opens while orders work
    )  # fmt: skip
    initial_balances = {run.quote_asset: run.initial_cash}
    exchange = BacktestExchange(
        venue=VENUE,
        instruments=instruments,
        initial_balances=initial_balances,
        fill_model=wiring.fill_model(settings),
    )
    order_manager = OrderManager()
    accountant = wiring.accountant(settings, instruments)
    risk = wiring.risk_manager(settings, instruments)
    actors = [
        feed,
        exchange,
        BarBuilder(base_interval=run.interval),
        StrategyHost([plugin], instruments),
        risk,
        order_manager,
        accountant,
        wiring.reconciler(settings, VENUE, instruments),
    ]
    bus = Bus(actors)
    recorder = Recorder()
    recorder.attach(bus)
    rt = settings.runtime
    policy = RestartPolicy(
        max_restarts=rt.max_restarts, window_seconds=rt.restart_window_seconds,
        initial_backoff_seconds=rt.initial_backoff_seconds,
        max_backoff_seconds=rt.max_backoff_seconds,
    )  # fmt: skip
    scheduler = DeterministicScheduler(bus, SimClock(), policy)
    return BacktestSession(
        settings, feed, bus, scheduler, order_manager, accountant, risk, recorder
    )


def _order_rows(order_manager: OrderManager) -> list[artifacts.OrderRow]:
    rows = []
    for order in order_manager.orders.values():
        ticket = order.ticket
        rows.append(
            artifacts.OrderRow(
                client_order_id=order.client_order_id,
                strategy=order.strategy,
                symbol=ticket.symbol,
                side=ticket.side.value,
                order_type=ticket.order_type.value,
                quantity=ticket.quantity,
                limit_price=ticket.limit_price,
                time_in_force=ticket.time_in_force.value,
                status=order.status.value,
                filled_quantity=order.filled_quantity,
                average_price=order.average_fill_price,
                submitted_ts=order.created_ts,
                updated_ts=order.history[-1].ts if order.history else order.created_ts,
            )
        )
    return rows


def _config_digest(config_toml: str) -> str:
    return hashlib.sha256(config_toml.encode()).hexdigest()[:8]


def expected_bars(settings: Settings) -> int:
    """Bars a backtest's range holds when the lake has every one of them."""
    run = settings.backtest
    return len(run.symbols) * (utc_ns(run.end) - utc_ns(run.start)) // interval_ns(run.interval)


def _reporting(
    messages: Iterator[Message], feed: BarFeed, total: int, progress: Progress
) -> Iterator[Message]:
    """``messages`` as they are, telling ``progress`` how far the feed has read at most
    every ``_PROGRESS_PERIOD_SECONDS``. The clock is read once per 8192 messages and
    nothing is read ahead, so the feed's position stays the last message delivered."""
    progress(0, total)
    reported = time.monotonic()
    for count, message in enumerate(messages, 1):
        yield message
        if not count & _PROGRESS_EVERY_MASK:
            now = time.monotonic()
            if now - reported >= _PROGRESS_PERIOD_SECONDS:
                reported = now
                progress(min(feed.bars_read, total), total)


def run_backtest(
    settings: Settings,
    *,
    write: bool = True,
    session_name: str | None = None,
    resume: bool = False,
    progress: Progress | None = None,
) -> BacktestResult:
    """Run a backtest end to end and (unless ``write`` is False) write its run directory.

    With ``backtest.journal`` on (or ``resume``), the run is a journaled session named
    ``session_name`` (a new name by default): see ``app.journaled``.

    ``progress``, if given, is told ``(bars_done, bars_total)`` a few times a second
    while the bars stream (``bars_total`` assumes no bar is missing) and once more,
    complete, when they are all through; a journaled run tells it only that last time.
    Without it the hot loop runs exactly as it would otherwise."""
    started = dt.datetime.now(dt.UTC)
    wall_start = time.perf_counter()
    session = build_backtest(settings)
    journal_session = ""
    recovery = None
    if settings.backtest.journal or resume:
        journal_session = session_name or new_session_name(settings, started)
        recovery = run_journaled(session, settings, journal_session, resume=resume)
    else:
        messages = session.feed.messages()
        if progress is not None:
            messages = _reporting(messages, session.feed, expected_bars(settings), progress)
        session.scheduler.run(messages)
    wall_seconds = time.perf_counter() - wall_start
    rec = session.recorder
    run = settings.backtest
    metrics = compute_metrics(
        [(m.ts, m.equity, m.gross_exposure) for m in rec.equity],
        session.accountant.round_trips,
        rec.fills,
        run.initial_cash,
    )
    trade_fingerprint = artifacts.fingerprint(rec.fills)
    inputs = session.feed.inputs()
    bars = session.feed.bars_read
    run_dir = None
    if write:
        config_toml = settings_to_toml(settings)
        run_dir = artifacts.new_run_dir(
            Path(settings.data.dir) / "runs",
            started.strftime("%Y%m%dT%H%M%SZ"),
            f"{settings.strategy.name}-{_config_digest(config_toml)}",
        )
        (run_dir / "config.toml").write_text(config_toml, encoding="utf-8")
        artifacts.write_structs(
            run_dir / "orders.parquet", _order_rows(session.order_manager), artifacts.OrderRow
        )
        artifacts.write_structs(run_dir / "fills.parquet", rec.fills, Fill)
        artifacts.write_structs(run_dir / "positions.parquet", rec.positions, PositionChanged)
        artifacts.write_structs(run_dir / "equity.parquet", rec.equity, EquityMarked)
        artifacts.write_json(
            run_dir / "metrics.json", {**metrics, "fingerprint": trade_fingerprint}
        )
        artifacts.write_json(
            run_dir / "manifest.json",
            {
                "run_id": run_dir.name,
                "code_version": artifacts.code_version(),
                "seed": run.seed,
                "symbols": list(run.symbols),
                "interval": run.interval,
                "start": run.start.isoformat(),
                "end": run.end.isoformat(),
                "strategy": settings.strategy.name,
                "bars": bars,
                "fills": len(rec.fills),
                "fingerprint": trade_fingerprint,
                "inputs": [
                    {
                        "path": item.path,
                        "sha256": item.sha256,
                        "rows": item.rows,
                    }
                    for item in inputs
                ],
                "started_at": started.isoformat(),
                "finished_at": dt.datetime.now(dt.UTC).isoformat(),
                "wall_seconds": round(wall_seconds, 3),
            },
        )
    if progress is not None:
        progress(bars, bars)
    return BacktestResult(
        run_dir=run_dir,
        metrics=metrics,
        fingerprint=trade_fingerprint,
        bars=bars,
        fills=len(rec.fills),
        rejections=len(rec.rejections),
        drifts=len(rec.drifts),
        halted=session.scheduler.stop_reason,
        wall_seconds=wall_seconds,
        health=list(session.scheduler.health.values()),
        journal_session=journal_session,
        recovery=recovery,
    )
