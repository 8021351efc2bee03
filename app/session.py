"""Headless sessions: the seven actors under the live scheduler, on a venue's live market data.

A paper session (``tickdeck run --paper``) is the backtest's composition
(``app.backtest.build_backtest``) with three parts swapped: the market data are the
venue's WebSocket klines (``BinanceMarketStream``; by default the loopback simulator),
the venue is the ``PaperBroker`` (the backtest exchange's fills, on instruments from the
venue's exchangeInfo), and the scheduler is the ``LiveScheduler`` with the session's
journal as its write-ahead log, at ``<data.dir>/journal/<session>/`` beside the resolved
``config.toml`` (the layout of ``app.journaled``).

The life of a session:

1. Recovery, when the session's journal exists: the torn tail cut, the newest snapshot
   restored and the frames after it replayed on a deterministic scheduler over the same
   bus (``recover(..., live=True)``); what the replay regenerated that the journal never
   got is published first once the session runs, then ``Recovered`` (the reconciler asks
   the venue about orders whose outcome the journal does not hold). ``recovery.json`` is
   written beside the journal.
2. Startup reconciliation, before any order: ``Halt`` ("startup reconciliation"),
   ``Reconcile``, then a bounded wait for the venue's ``VenueSnapshot`` and for the
   reconciler to have judged it. No ``DriftDetected``: ``Resume``. Otherwise the session
   stays halted (market data still flow, nothing trades) and says why. After that the
   reconciler's own timer reconciles periodically.
3. Market data, with a snapshot of every actor every ``journal.snapshot_every`` messages,
   taken only when nothing is in flight and written once its seq is durable.
4. Stop (SIGINT/SIGTERM, ``duration``, or ``stop``): open orders cancelled unless
   ``cancel_on_stop`` is off, the actors settled (``EndOfData``: final marks and a final
   reconciliation), a final snapshot, the journal closed.

A second run of the same session resumes its market data after the last closed bar the
paper broker saw (the stream backfills the bars in between over REST).

A live session (``run_live_session``; ``tickdeck run --live`` after its checks) is the
same life with the ``BinanceGateway`` as the actor "venue" (loaded first; its ``run``
started beside the scheduler with ``scheduler.publish``), the reconciler on venue
"binance" starting from the account's balances and trade cursor at the session's first
start (kept in ``venue_start.json`` beside the journal, so a resumed session starts from
the same ones), and the user data stream's ``ExecutionReport``s published on the bus (after
a reconnect that may have lost events, a ``QueryOrder`` for every open order). Recovery
skips the gateway, so nothing is sent during the replay; at stop the session waits
(bounded) for the venue to confirm the cancels.

Settings used: ``backtest.symbols``, ``backtest.interval``, ``backtest.initial_cash``,
``backtest.quote_asset`` and ``backtest.seed`` (there is no ``session`` section yet),
``strategy``, ``exchange`` (the paper broker's fill model), ``risk``, ``reconciler``,
``runtime``, ``journal`` and ``binance``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import signal
import sys
import time
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Final, Protocol
from urllib.parse import urlsplit

import anyio
import anyio.abc
import msgspec
import structlog

import strategies
from actors.accountant import Accountant
from actors.bar_builder import BarBuilder
from actors.bus import Bus
from actors.clock import LiveClock, SimClock, SimClockState
from actors.health import RestartPolicy
from actors.messages import (
    Bar,
    CancelAll,
    DriftDetected,
    ExecutionReport,
    Halt,
    Instrument,
    Message,
    QueryOrder,
    Reconcile,
    Recovered,
    Resume,
    RiskState,
    VenueSnapshot,
)
from actors.order_manager import OrderManager
from actors.reconciler import Reconciler
from actors.risk import RiskManager
from actors.scheduler import DeterministicScheduler
from actors.strategy import StrategyHost
from actors.supervisor import LiveScheduler
from app import wiring
from app.backtest import Recorder
from app.journaled import CONFIG_FILE, journal_root, save_config
from app.settings import Settings
from journal.reader import truncate_torn_tail
from journal.recovery import RecoveryReport, recover, write_report
from journal.snapshots import SNAPSHOT_FORMAT, SessionSnapshot, encode_states, write_snapshot
from journal.writer import JournalWriter, open_journal
from venues.binance.gateway import BinanceGateway, load_instruments
from venues.binance.rest import VENUE as BINANCE_VENUE
from venues.binance.rest import BinanceRest
from venues.binance.signing import Credentials
from venues.binance.stream import BINANCE_WS_URL, BinanceMarketStream
from venues.binance.user_stream import BinanceUserStream, UserStreamConnected
from venues.paper import VENUE, PaperBroker
from venues.simulator import SimulatorConfig, run_simulator

__all__ = [
    "STARTUP_HALT_REASON",
    "VENUE_START_FILE",
    "LiveSession",
    "PaperSession",
    "SessionContext",
    "SessionObserver",
    "SessionResult",
    "build_live_session",
    "build_paper_session",
    "new_live_session_name",
    "run_live_session",
    "run_paper_session",
    "session_exists",
    "simulated_venue",
    "switch_interval",
    "ws_url_for",
]

_log = structlog.get_logger(__name__)

STARTUP_HALT_REASON: Final = "startup reconciliation"
OWNER: Final = "session"  # the owner of the session's taps on the bus
DEFAULT_RECONCILE_TIMEOUT: Final = 10.0
DEFAULT_STOP_TIMEOUT: Final = 10.0
_CHANNEL_CAPACITY: Final = 4096
# A live session's account at its first start (balances, trade cursor): the reconciler's
# starting point, kept beside the journal so a resumed session starts from the same one.
VENUE_START_FILE: Final = "venue_start.json"


def ws_url_for(base_url: str) -> str:
    """The WebSocket base of a Binance REST base URL: the loopback simulator serves both on
    one port (``http://h:p`` -> ``ws://h:p``); real Binance streams from its own host."""
    parts = urlsplit(base_url)
    host = parts.hostname or ""
    if host.endswith("binance.com"):
        return BINANCE_WS_URL
    scheme = "wss" if parts.scheme == "https" else "ws"
    return f"{scheme}://{parts.netloc}"


INSTRUMENTS_FILE = "instruments.json"


def save_instruments(directory: Path, instruments: Mapping[str, Instrument]) -> None:
    """The venue's instruments as the session started with them: a replay rebuilds the
    actors offline, without asking the venue again."""
    ordered = [instruments[symbol] for symbol in sorted(instruments)]
    (directory / INSTRUMENTS_FILE).write_bytes(msgspec.json.encode(ordered))


def load_saved_instruments(directory: Path) -> dict[str, Instrument]:
    path = directory / INSTRUMENTS_FILE
    decoded = msgspec.json.decode(path.read_bytes(), type=list[Instrument])
    return {instrument.symbol: instrument for instrument in decoded}


def session_exists(settings: Settings, name: str) -> bool:
    return (journal_root(settings) / name / CONFIG_FILE).is_file()


def new_live_session_name(mode: str, settings: Settings, now: dt.datetime | None = None) -> str:
    stamp = (now or dt.datetime.now(dt.UTC)).strftime("%Y%m%dT%H%M%SZ")
    return f"{mode}-{stamp}-{settings.strategy.name}"


@dataclass
class PaperSession:
    """A paper session's actors, wired on one bus (the scheduler comes later: recovery
    runs them on a deterministic scheduler first)."""

    settings: Settings
    instruments: dict[str, Instrument]
    bus: Bus
    broker: PaperBroker
    order_manager: OrderManager
    accountant: Accountant
    risk: RiskManager
    reconciler: Reconciler
    policy: RestartPolicy


@dataclass(frozen=True)
class SessionResult:
    session: str
    directory: Path
    bars: int
    fills: int
    equity: Decimal | None
    last_seq: int
    snapshots_written: int
    final_snapshot: Path | None
    recovery: RecoveryReport | None
    reconciliation: str  # "passed", or why the session stayed halted
    halted: str  # the reason trading is halted at the end ("" if it is not)
    cancelled_orders: int
    open_orders: int
    stop_reason: str
    wall_seconds: float
    drifts: int = 0
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class SessionContext:
    """A running session, as its observers (the desk monitor, the control API) see it.
    ``started`` is set once startup reconciliation is done and market data flow; ``stop``
    asks the session to stop cleanly."""

    name: str
    mode: str  # "paper" or "live"
    directory: Path
    settings: Settings
    session: PaperSession | LiveSession
    scheduler: LiveScheduler
    writer: JournalWriter
    runner: _Runner
    recovery: RecoveryReport | None
    started: anyio.Event
    stop: anyio.Event
    started_wall: float


class SessionObserver(Protocol):
    """Something that watches (and may command) a running session from its event loop:
    ``attach`` runs before the first message (taps subscribed there see everything),
    ``run`` as a task beside the actors until the session ends and cancels it."""

    def attach(self, context: SessionContext) -> None: ...

    async def run(self) -> None: ...


def _policy(settings: Settings) -> RestartPolicy:
    rt = settings.runtime
    return RestartPolicy(
        max_restarts=rt.max_restarts, window_seconds=rt.restart_window_seconds,
        initial_backoff_seconds=rt.initial_backoff_seconds,
        max_backoff_seconds=rt.max_backoff_seconds,
    )  # fmt: skip


def build_paper_session(settings: Settings, instruments: dict[str, Instrument]) -> PaperSession:
    """The actors of ``app.backtest.build_backtest`` with the paper broker as the venue and
    no feed (market data come from the venue's stream, outside the bus)."""
    run = settings.backtest
    plugin = strategies.create(
        settings.strategy.name, settings.strategy.params, run.symbols, run.interval
    )
    initial_balances = {run.quote_asset: run.initial_cash}
    broker = PaperBroker(
        instruments=instruments,
        initial_balances=initial_balances,
        fill_model=wiring.fill_model(settings),
    )
    order_manager = OrderManager()
    accountant = wiring.accountant(settings, instruments)
    risk = wiring.risk_manager(settings, instruments)
    reconciler = wiring.reconciler(settings, VENUE, instruments)
    actors = [
        broker,
        BarBuilder(base_interval=run.interval),
        StrategyHost([plugin], instruments, indicators=True),
        risk,
        order_manager,
        accountant,
        reconciler,
    ]
    return PaperSession(
        settings=settings,
        instruments=instruments,
        bus=Bus(actors),
        broker=broker,
        order_manager=order_manager,
        accountant=accountant,
        risk=risk,
        reconciler=reconciler,
        policy=_policy(settings),
    )


@dataclass
class LiveSession:
    """A live session's actors: the paper session's, with the Binance gateway as the venue
    and the reconciler starting from the account as it stood when the session began."""

    settings: Settings
    instruments: dict[str, Instrument]
    bus: Bus
    gateway: BinanceGateway
    order_manager: OrderManager
    accountant: Accountant
    risk: RiskManager
    reconciler: Reconciler
    policy: RestartPolicy


def build_live_session(
    settings: Settings,
    gateway: BinanceGateway,
    initial_balances: dict[str, Decimal],
    start_cursor: int,
) -> LiveSession:
    """The seven actors with ``gateway`` (loaded) as the venue. ``initial_balances`` and
    ``start_cursor`` are the account at the session's first start (``gateway.load``)."""
    run = settings.backtest
    instruments = gateway.instruments
    plugin = strategies.create(
        settings.strategy.name, settings.strategy.params, run.symbols, run.interval
    )
    order_manager = OrderManager()
    accountant = Accountant(
        run.quote_asset,
        initial_balances.get(run.quote_asset, Decimal(0)),
        mark_interval=run.interval,
        price_increments={symbol: spec.tick_size for symbol, spec in instruments.items()},
        base_assets={symbol: spec.base for symbol, spec in instruments.items()},
    )
    risk = wiring.risk_manager(settings, instruments)
    reconciler = Reconciler(
        venue=gateway.venue,
        quote_asset=run.quote_asset,
        base_assets={symbol: spec.base for symbol, spec in instruments.items()},
        initial_balances=initial_balances,
        interval_ns=settings.reconciler.interval_seconds * 10**9,
    )
    reconciler.trade_cursor = start_cursor
    actors = [
        gateway,
        BarBuilder(base_interval=run.interval),
        StrategyHost([plugin], instruments, indicators=True),
        risk,
        order_manager,
        accountant,
        reconciler,
    ]
    return LiveSession(
        settings=settings,
        instruments=instruments,
        bus=Bus(actors),
        gateway=gateway,
        order_manager=order_manager,
        accountant=accountant,
        risk=risk,
        reconciler=reconciler,
        policy=_policy(settings),
    )


def _venue_start(
    directory: Path, gateway: BinanceGateway, resuming: bool
) -> tuple[dict[str, Decimal], int]:
    """The account at the session's first start: saved at the first run, read back when
    resuming (the balances now include the session's own trades, which the journal
    replays)."""
    path = directory / VENUE_START_FILE
    if resuming and path.is_file():
        saved = json.loads(path.read_text(encoding="utf-8"))
        balances = {asset: Decimal(amount) for asset, amount in saved["balances"].items()}
        return balances, int(saved["start_cursor"])
    balances, cursor = dict(gateway.balances_at_start), gateway.start_cursor
    directory.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps(
            {
                "balances": {asset: str(amount) for asset, amount in balances.items()},
                "start_cursor": cursor,
            },
            indent=2,
        ),
        encoding="utf-8",
    )
    return balances, cursor


class _JournalPort:
    """The writer as the live scheduler's journal, remembering the clock time of the last
    record (a snapshot names the time of the record it covers)."""

    def __init__(self, writer: JournalWriter) -> None:
        self.writer = writer
        self.last_ts = 0

    def append(self, message: Message, ts: int) -> int:
        seq = self.writer.append(message, ts)
        self.last_ts = ts
        return seq

    async def durable(self, seq: int) -> None:
        await self.writer.durable(seq)


class _ClockAt:
    """A stopped simulated clock at ``ts``: the clock state a live snapshot carries for the
    replay scheduler (a live journal's replay moves time by its records and fires no timer)."""

    def __init__(self, ts: int) -> None:
        self.ts = ts

    def snapshot(self) -> SimClockState:
        return SimClockState(now_ns=self.ts, started=True, counter=0, timers=[], unstarted=[])


class _Counters:
    """Taps for the summary and for startup reconciliation."""

    def __init__(self, bus: Bus) -> None:
        self.bars = 0
        self.venue_snapshots = 0
        self.drifts: list[DriftDetected] = []
        self.snapshot_seen = anyio.Event()
        bus.subscribe(Bar, self._bar, OWNER)
        bus.subscribe(VenueSnapshot, self._venue_snapshot, OWNER)
        bus.subscribe(DriftDetected, self.drifts.append, OWNER)

    def _bar(self, _: Bar) -> None:
        self.bars += 1

    def _venue_snapshot(self, _: VenueSnapshot) -> None:
        self.venue_snapshots += 1
        self.snapshot_seen.set()


class _Runner:
    def __init__(
        self,
        session: PaperSession | LiveSession,
        name: str,
        directory: Path,
        scheduler: LiveScheduler,
        port: _JournalPort,
        snapshot_seq: int,
        counters: _Counters,
        recorder: Recorder,
    ) -> None:
        self.session = session
        self.name = name
        self.directory = directory
        self.scheduler = scheduler
        self.port = port
        self.snapshot_seq = snapshot_seq
        self.counters = counters
        self.recorder = recorder
        self.snapshots_written = 0
        self.last_snapshot: Path | None = None
        self.reconciliation = "not run"
        self.cancelled = 0

    async def snapshot(self) -> Path | None:
        """Every actor's state at the journal's last seq, taken while nothing is in flight
        (no await between the idle check and the encoding), written once that seq is
        durable. None when nothing was journaled since the last one, or when the journal
        holds messages that arrived after the actors stopped (``after_stop``): a snapshot
        at its last seq would claim them handled, so the next resume replays them from the
        previous snapshot instead."""
        scheduler = self.scheduler
        await scheduler.wait_idle()
        if scheduler.after_stop:
            _log.warning(
                "session.final_snapshot_skipped", session=self.name, unhandled=scheduler.after_stop
            )
            return None
        writer = self.port.writer
        seq = writer.last_seq
        if seq <= self.snapshot_seq:
            return None
        snapshot = SessionSnapshot(
            format=SNAPSHOT_FORMAT,
            session=self.name,
            seq=seq,
            ts=self.port.last_ts,
            record_crc=writer.last_crc,
            states=encode_states(self.session.bus.actors, _ClockAt(self.port.last_ts)),
        )
        await writer.durable(seq)
        path = await anyio.to_thread.run_sync(write_snapshot, self.directory, snapshot)
        self.snapshot_seq = seq
        self.snapshots_written += 1
        self.last_snapshot = path
        _log.info("session.snapshot", session=self.name, seq=seq, path=str(path))
        return path

    async def startup_reconciliation(self, timeout: float) -> bool:
        """Halt, reconcile, and resume only on a clean answer; see the module docstring."""
        scheduler, counters = self.scheduler, self.counters
        clock = scheduler.clock
        was_active = self.session.risk.state is RiskState.ACTIVE
        await scheduler.publish(Halt(ts=clock.now(), reason=STARTUP_HALT_REASON))
        await scheduler.wait_idle()
        drifts_before = len(counters.drifts)
        counters.snapshot_seen = anyio.Event()
        await scheduler.publish(Reconcile(ts=clock.now()))
        with anyio.move_on_after(timeout):
            await counters.snapshot_seen.wait()
            await scheduler.wait_idle()  # the reconciler has judged it
        if not counters.snapshot_seen.is_set():
            self.reconciliation = f"the venue sent no account snapshot within {timeout:g} s"
        elif len(counters.drifts) > drifts_before:
            diffs = [diff for drift in counters.drifts[drifts_before:] for diff in drift.diffs]
            shown = "; ".join(str(diff) for diff in diffs[:3])
            more = f" (and {len(diffs) - 3} more)" if len(diffs) > 3 else ""
            self.reconciliation = f"drift against the venue: {shown}{more}"
        elif not was_active:
            # A desk halted before the restart (a loss limit, an operator) stays halted:
            # only the operator lifts that.
            self.reconciliation = "passed"
            _log.warning("session.halted_before_restart", session=self.name)
            return True
        else:
            self.reconciliation = "passed"
            await scheduler.publish(Resume(ts=clock.now(), reason="startup reconciliation passed"))
            _log.info("session.startup_reconciliation_passed", session=self.name)
            return True
        _log.error(
            "session.startup_reconciliation_failed", session=self.name, reason=self.reconciliation
        )
        return False

    async def source(
        self,
        market: anyio.abc.ObjectReceiveStream[Message],
        first: list[Message],
        recovered: Recovered | None,
        reconcile_timeout: float,
        cancel_on_stop: bool,
        started: anyio.Event,
    ) -> AsyncIterator[Message]:
        """What the live scheduler runs over: the recovery's leftovers, ``Recovered`` and
        startup reconciliation first, then the market data until the channel closes; the
        stop's cancels last."""
        scheduler = self.scheduler
        for message in first:
            await scheduler.publish(message)
        if recovered is not None:
            await scheduler.publish(recovered)
            await scheduler.wait_idle()
        await self.startup_reconciliation(reconcile_timeout)
        started.set()
        every = self.session.settings.journal.snapshot_every
        async with market:
            async for message in market:
                yield message
                if self.port.writer.last_seq - self.snapshot_seq >= every:
                    await self.snapshot()
        order_manager = self.session.order_manager
        with anyio.move_on_after(DEFAULT_STOP_TIMEOUT):
            if cancel_on_stop:
                open_orders = order_manager.open_orders(None)
                self.cancelled = len(open_orders)
                if open_orders:
                    await scheduler.publish(CancelAll(ts=scheduler.clock.now()))
                # A live venue answers outside the bus: wait for its reports too.
                while order_manager.open_orders(None):
                    await scheduler.wait_idle()
                    await anyio.sleep(0.02)
            await scheduler.wait_idle()


async def _pump(stream: BinanceMarketStream, send: anyio.abc.ObjectSendStream[Message]) -> None:
    try:
        async with send:
            async for message in stream:
                await send.send(message)
    finally:
        with anyio.CancelScope(shield=True):
            await stream.aclose()


async def _user_events(
    stream: BinanceUserStream, scheduler: LiveScheduler, session: PaperSession | LiveSession
) -> None:
    """The user data stream onto the bus: execution reports as they come; after a
    reconnect that may have lost events, a ``QueryOrder`` for every order still open
    (the gateway answers with its reports, fills included; the order manager, the
    accountant and the reconciler each ignore a trade id they have counted).

    The balance events (``outboundAccountPosition``, ``balanceUpdate``) are not put on
    the bus, on purpose: the books are built from fills alone, and the venue's balances
    are compared with them by the reconciler, periodically and at startup, from a
    ``GET /api/v3/account`` answered together with the trade list it must agree with.
    A balance event is a venue balance at an instant that no fill on the bus marks, so
    comparing with it would report every fill still in flight as a drift; and a
    ``balanceUpdate`` (a deposit, a withdrawal) shows at the next reconciliation as a
    balance drift, which is how an operator should hear of money moved outside trading.
    """
    try:
        async with stream:
            async for event in stream:
                if isinstance(event, ExecutionReport):
                    await scheduler.publish(event)
                elif isinstance(event, UserStreamConnected) and event.reconnect:
                    for order in session.order_manager.open_orders(None):
                        await scheduler.publish(
                            QueryOrder(
                                ts=scheduler.clock.now(),
                                venue=event.venue,
                                client_order_id=order.client_order_id,
                            )
                        )
    finally:
        with anyio.CancelScope(shield=True):
            await stream.aclose()


async def _watch_signals(stop: anyio.Event, reasons: list[str]) -> None:
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for signum in signals:
            name = signal.Signals(signum).name
            _log.info("session.signal", signal=name)
            reasons.append(name)
            stop.set()
            return


async def run_paper_session(
    settings: Settings,
    name: str,
    *,
    duration: float | None = None,
    cancel_on_stop: bool = True,
    stop: anyio.Event | None = None,
    handle_signals: bool = False,
    reconcile_timeout: float = DEFAULT_RECONCILE_TIMEOUT,
    observers: Sequence[SessionObserver] = (),
) -> SessionResult:
    """Run (or resume) the paper session ``name`` until ``duration`` seconds have passed,
    ``stop`` is set, or (``handle_signals``) SIGINT/SIGTERM; see the module docstring."""
    with switch_interval(settings.runtime.switch_interval_us):
        return await _run_session(
            settings, name, None,
            duration=duration, cancel_on_stop=cancel_on_stop, stop=stop,
            handle_signals=handle_signals, reconcile_timeout=reconcile_timeout,
            observers=observers,
        )  # fmt: skip


async def run_live_session(
    settings: Settings,
    name: str,
    credentials: Credentials,
    *,
    duration: float | None = None,
    cancel_on_stop: bool = True,
    stop: anyio.Event | None = None,
    handle_signals: bool = False,
    reconcile_timeout: float = DEFAULT_RECONCILE_TIMEOUT,
    observers: Sequence[SessionObserver] = (),
) -> SessionResult:
    """Run (or resume) the live session ``name`` on ``settings.binance.base_url`` with
    ``credentials``: real orders. The caller has done the live checks (``app.cli_run``)."""
    with switch_interval(settings.runtime.switch_interval_us):
        return await _run_session(
            settings, name, credentials,
            duration=duration, cancel_on_stop=cancel_on_stop, stop=stop,
            handle_signals=handle_signals, reconcile_timeout=reconcile_timeout,
            observers=observers,
        )  # fmt: skip


async def _run_session(
    settings: Settings,
    name: str,
    credentials: Credentials | None,
    *,
    duration: float | None,
    cancel_on_stop: bool,
    stop: anyio.Event | None,
    handle_signals: bool,
    reconcile_timeout: float,
    observers: Sequence[SessionObserver],
) -> SessionResult:
    """A paper session (``credentials`` None) or a live one; see the module docstring."""
    live = credentials is not None
    wall_start = time.perf_counter()
    started_wall = time.time()
    stop = stop or anyio.Event()
    directory = journal_root(settings) / name
    resuming = (directory / CONFIG_FILE).is_file()
    run = settings.backtest
    options = settings.journal
    async with BinanceRest(
        settings.binance.base_url,
        credentials=credentials,
        recv_window_ms=settings.binance.recv_window_ms,
    ) as rest:
        session: PaperSession | LiveSession
        gateway: BinanceGateway | None = None
        if live:
            gateway = BinanceGateway(rest, run.symbols, venue=BINANCE_VENUE)
            await gateway.load()
            balances, cursor = _venue_start(directory, gateway, resuming)
            session = build_live_session(settings, gateway, balances, cursor)
        else:
            instruments = await load_instruments(rest, run.symbols, VENUE)
            session = build_paper_session(settings, instruments)
        report: RecoveryReport | None = None
        first: list[Message] = []
        if resuming:
            torn = truncate_torn_tail(directory)
            replay = DeterministicScheduler(session.bus, SimClock(), session.policy)
            # The gateway is not shown the journal again: nothing is sent during replay.
            skip = frozenset({"venue"}) if live else frozenset()
            report = recover(directory, name, replay, live=True, torn_tail=torn, skip=skip)
            first = replay.take_in_flight()
            write_report(directory, report)
        else:
            save_config(settings, directory, "live" if live else "paper")
            save_instruments(directory, session.instruments)
        counters = _Counters(session.bus)
        recorder = Recorder()
        recorder.attach(session.bus)
        # Where the market stream goes on from: the last closed bar the bar builder took
        # (empty for a new session), so no bar is missed or doubled across the restart.
        last_base = session.bus.actors["bar_builder"].snapshot().last_base
        resume_after = {(symbol, run.interval): start for symbol, start in last_base.items()}
        user_stream = (
            BinanceUserStream(ws_url_for(settings.binance.base_url), rest, venue=BINANCE_VENUE)
            if live
            else None
        )
        stream = BinanceMarketStream(
            ws_url_for(settings.binance.base_url),
            rest,
            run.symbols,
            streams=(f"kline_{run.interval}",),
            resume_after=resume_after or None,
        )
        async with open_journal(
            journal_root(settings),
            name,
            segment_bytes=options.segment_mb * 1024 * 1024,
            max_batch_frames=options.batch_frames,
            linger_us=options.linger_us,
        ) as writer:
            port = _JournalPort(writer)
            scheduler = LiveScheduler(
                session.bus,
                LiveClock(),
                session.policy,
                inbox_capacity=settings.runtime.inbox_capacity,
                journal=port,
            )
            recovered = None
            if report is not None:
                recovered = Recovered(
                    ts=scheduler.clock.now(),
                    session=name,
                    snapshot_seq=report.snapshot_seq,
                    last_seq=report.last_seq,
                )
            runner = _Runner(
                session, name, directory, scheduler, port,
                report.last_seq if report else 0, counters, recorder,
            )  # fmt: skip
            send, receive = anyio.create_memory_object_stream[Message](_CHANNEL_CAPACITY)
            started = anyio.Event()
            context = SessionContext(
                name=name, mode="live" if live else "paper", directory=directory,
                settings=settings, session=session, scheduler=scheduler, writer=writer,
                runner=runner, recovery=report, started=started, stop=stop,
                started_wall=started_wall,
            )  # fmt: skip
            for observer in observers:
                observer.attach(context)
            stop_reason = ""
            signals: list[str] = []
            async with anyio.create_task_group() as tasks:

                async def pump() -> None:
                    with anyio.CancelScope() as scope:
                        pump_scope.append(scope)
                        await _pump(stream, send)

                async def stopper() -> None:
                    nonlocal stop_reason
                    with anyio.move_on_after(duration if duration is not None else float("inf")):
                        await stop.wait()
                        stop_reason = f"{signals[0]} received" if signals else "stop requested"
                    stop_reason = stop_reason or f"duration of {duration:g} s reached"
                    for scope in pump_scope:
                        scope.cancel()
                    await send.aclose()

                async def session_task() -> None:
                    await scheduler.run(
                        runner.source(
                            receive, first, recovered, reconcile_timeout, cancel_on_stop, started
                        )
                    )
                    tasks.cancel_scope.cancel()  # the stopper and signal watcher too

                pump_scope: list[anyio.CancelScope] = []
                if gateway is not None:
                    await tasks.start(gateway.run, scheduler.publish)
                if user_stream is not None:
                    tasks.start_soon(_user_events, user_stream, scheduler, session)
                for observer in observers:
                    tasks.start_soon(observer.run)
                tasks.start_soon(pump)
                tasks.start_soon(stopper)
                if handle_signals:
                    tasks.start_soon(_watch_signals, stop, signals)
                tasks.start_soon(session_task)
            await runner.snapshot()
            last_seq = writer.last_seq
        _log.info("journal.session_closed", session=name, last_seq=last_seq)
    equity = recorder.equity[-1].equity if recorder.equity else None
    return SessionResult(
        session=name,
        directory=directory,
        bars=counters.bars,
        fills=len(recorder.fills),
        equity=equity,
        last_seq=last_seq,
        snapshots_written=runner.snapshots_written,
        final_snapshot=runner.last_snapshot,
        recovery=report,
        reconciliation=runner.reconciliation,
        halted=_halt_reason(session.risk, recorder),
        cancelled_orders=runner.cancelled,
        open_orders=len(session.order_manager.open_orders(None)),
        stop_reason=scheduler.stop_reason or stop_reason,
        wall_seconds=time.perf_counter() - wall_start,
        drifts=len(counters.drifts),
    )


@contextlib.asynccontextmanager
async def simulated_venue(settings: Settings, speed: float) -> AsyncIterator[Settings]:
    """A loopback exchange simulator for ``settings``' symbols, running while the context
    is open, and ``settings`` pointed at it: how a paper session runs with no internet.
    Its market replays ``tui.simulator_days`` of seeded sample data (the first day is
    the klines' history), so a demo left running keeps moving for hours."""
    config = SimulatorConfig(
        speed=speed,
        symbols=tuple(settings.backtest.symbols),
        sample_days=settings.tui.simulator_days,
    )
    async with run_simulator(config) as simulator:
        binance = settings.binance.model_copy(update={"base_url": simulator.url})
        yield settings.model_copy(update={"binance": binance})


@contextlib.contextmanager
def switch_interval(microseconds: int) -> Iterator[None]:
    """Python's thread switch interval set for the block, as it was after it (see
    ``RuntimeSettings``: a session's write-ahead waits on a worker thread)."""
    previous = sys.getswitchinterval()
    sys.setswitchinterval(microseconds / 1e6)
    try:
        yield
    finally:
        sys.setswitchinterval(previous)


def _halt_reason(risk: RiskManager, recorder: Recorder) -> str:
    """Why trading stands at the end ("" when the risk manager is active)."""
    if risk.state is RiskState.ACTIVE:
        return ""
    reason = recorder.halts[-1].reason if recorder.halts else ""
    return f"{risk.state.value}: {reason}" if reason else str(risk.state.value)
