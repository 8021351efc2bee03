"""Tick-to-order latency of a paper session against the loopback simulator, and Halt latency.

The session is built here from the parts ``app.session`` wires (the seven actors: paper
broker, bar builder, strategy host, risk, order manager, accountant, reconciler; the
``LiveScheduler`` with the session journal as its write-ahead log; ``BinanceMarketStream``
pumped through a memory channel into the scheduler), minus startup reconciliation and
snapshots. The simulator runs in a child process, so the measured process holds only the
session. The strategy plug-in (defined here) wants ticks and sends a market BUY of one
lot on every trade tick, so each trade produces one order (buys only: entries, which a
halted desk refuses; limits 0 = none; cash enough never to run out).

- Tick to order, per trade: from the moment the WebSocket reader task gets the trade
  frame back from ``ws.receive()`` (stamped where it queues the frame for the stream's
  frame iterator) to the moment the paper broker's ``on_submit_order`` handler is entered
  with the resulting ``SubmitOrder``: frame queued -> JSON decoded into a ``TradeTick`` ->
  memory channel -> scheduler journals the tick and delivers it -> strategy decides ->
  risk approves -> order manager makes the ``SubmitOrder`` -> journal append + wait for
  its fsync (write-ahead) -> broker inbox -> broker task. Not covered: the kernel and
  aiohttp's own parsing before ``receive()`` returns, and anything after the broker's
  handler is entered (a paper broker sends nothing over the wire: "leaving the process"
  is the hand-over to the venue gateway). Trades and orders are paired first in, first
  out (one order per tick, checked: no rejection before the halt). Segments (medians):
  socket -> strategy decision, decision -> SubmitOrder durable, durable -> broker.
  Samples of the first ``--warmup`` seconds are dropped.
- Baselines in the same run: the same session with no journal (``journal=None``, so no
  write-ahead wait); and a bare ``os.write`` + ``os.fsync`` of one encoded SubmitOrder
  frame, in a plain loop on the main thread and through ``anyio.to_thread.run_sync``
  (the journal writer fsyncs in a worker thread), at the same pace as the trades.
- Halt: after the measured window, ``Halt`` is published on the scheduler while ticks
  keep flowing. Figures: Halt published -> the risk manager is HALTED (its handler
  returned); and Halt published -> the last ``SubmitOrder`` reaches the broker (orders
  risk approved before the halt still drain: that is the point after which no order
  leaves). Checked on the journal afterwards: no ``OrderRequest`` (an approval) after
  the ``RiskStateChanged`` to HALTED record, and every ``SubmitOrder`` after it belongs to
  an approval before it; and on the broker: nothing reaches it after the drain while
  ticks go on being rejected.

The measured pipeline runs as a session does: the journal lingers (``journal.linger_us``:
market data nobody waits for shares the order's fsync) and the thread switch interval
is the session's (``runtime.switch_interval_us``); see ``app.session``.

Figures are medians of ``--repeat`` runs (p50/p99/max computed per run).

    uv run python benchmarks/tick_to_order_latency.py [--rate 200] [--seconds 4] [--repeat 3]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from collections import deque
from collections.abc import AsyncIterator
from decimal import Decimal
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import msgspec
import structlog

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from actors.accountant import Accountant
from actors.bar_builder import BarBuilder
from actors.bus import Bus
from actors.clock import LiveClock
from actors.messages import (
    Halt,
    Instrument,
    Message,
    OrderRequest,
    OrderTicket,
    RiskRejected,
    RiskState,
    RiskStateChanged,
    Side,
    SubmitOrder,
    TradeTick,
)
from actors.order_manager import OrderManager
from actors.ports import Decisions, StrategyContext
from actors.reconciler import Reconciler
from actors.risk import RiskLimits, RiskManager
from actors.strategy import StrategyHost
from actors.supervisor import LiveScheduler
from app.session import switch_interval
from app.settings import load_settings
from journal import JournalReader
from journal.frames import encode_frame
from journal.writer import JournalWriter, open_journal
from strategies.base import Strategy
from venues.binance.gateway import load_instruments
from venues.binance.rest import BinanceRest
from venues.binance.stream import BinanceMarketStream
from venues.paper import VENUE, PaperBroker

SYMBOL = "BTCUSDT"
CASH = Decimal(1_000_000_000)
STRATEGY = "tick_bench"
NS = 1_000_000


# --- the simulator, in a child process ---------------------------------------------------


def _serve(conn: Connection, speed: float, trades_per_bar: int, days: int) -> None:
    from venues.simulator import SimulatorConfig, run_simulator

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))

    async def main() -> None:
        config = SimulatorConfig(
            speed=speed, trades_per_bar=trades_per_bar, sample_days=days,
            balances={"USDT": CASH, "BTC": Decimal(0)},
        )  # fmt: skip
        async with run_simulator(config) as sim:
            conn.send((sim.url, sim.ws_url))
            await asyncio.get_running_loop().run_in_executor(None, conn.recv)

    asyncio.run(main())


# The session settings the measured pipeline copies (journal linger, switch interval).
SETTINGS = load_settings()

# --- probes ------------------------------------------------------------------------------


class Probe:
    """Timestamps (perf_counter_ns) of one session run."""

    def __init__(self) -> None:
        self.socket_stamps: dict[str, int] = {}
        self.arrived: dict[str, int] = {}  # trade id -> frame returned by ws.receive()
        self.decided: dict[str, int] = {}  # trade id -> strategy decided
        self.fifo: deque[str] = deque()  # trade ids decided, not yet at the broker
        self.durable: dict[str, int] = {}  # client order id -> SubmitOrder durable
        self.at_broker: dict[str, tuple[int, int | None]] = {}  # trade id -> (broker, durable)
        self.halt_published = 0
        self.halted_at = 0
        self.broker_after_halt: list[int] = []
        self.decided_after_halt = 0
        self.rejected = 0
        self.rejected_after_halt = 0


class StampedStream(BinanceMarketStream):
    """The market stream with each frame stamped when the socket's reader task queues it
    (right after ``ws.receive()`` returned it), and each trade tick keyed to that stamp."""

    def __init__(self, *args: Any, probe: Probe, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.probe = probe

    def _open_socket(self, url: Any, *, name: str, what: str) -> Any:
        socket = super()._open_socket(url, name=name, what=what)
        inbox = socket._inbox
        put = inbox.put
        stamps = self.probe.socket_stamps
        clock = time.perf_counter_ns

        async def stamped_put(item: tuple[object, object]) -> None:
            data = item[1]
            if type(data) is str:
                stamps[data] = clock()
            await put(item)

        inbox.put = stamped_put  # type: ignore[method-assign]
        return socket

    async def _on_frame(self, frame: str) -> list[Message]:
        stamp = self.probe.socket_stamps.pop(frame, None)
        out = await super()._on_frame(frame)
        if stamp is not None:
            for message in out:
                if type(message) is TradeTick:
                    self.probe.arrived[message.trade_id] = stamp
        return out


class EveryTick(Strategy):
    """Buys about 10 USDT at market on every trade tick (above the 5 USDT minimum)."""

    kind = STRATEGY
    Params = msgspec.defstruct("EveryTickParams", [])

    def setup(self) -> None:
        self.wants_ticks = True
        self.probe: Probe | None = None

    def on_trade_tick(self, tick: TradeTick, ctx: StrategyContext) -> Decisions:
        probe = self.probe
        assert probe is not None
        now = time.perf_counter_ns()
        probe.decided[tick.trade_id] = now
        probe.fifo.append(tick.trade_id)
        if probe.halt_published:
            probe.decided_after_halt += 1
        quantity = ctx.quantity_for_notional(tick.symbol, Decimal(10), tick.price)
        return [ctx.market(tick.symbol, Side.BUY, quantity, tag=tick.trade_id)]


class TappedBroker(PaperBroker):
    def __init__(self, *args: Any, probe: Probe, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.probe = probe

    def on_submit_order(self, msg: SubmitOrder) -> None:
        now = time.perf_counter_ns()
        probe = self.probe
        if msg.strategy == STRATEGY:
            trade_id = probe.fifo.popleft()
            probe.at_broker[trade_id] = (now, probe.durable.pop(msg.client_order_id, None))
            if probe.halt_published:
                probe.broker_after_halt.append(now)
        super().on_submit_order(msg)


class TappedRisk(RiskManager):
    def __init__(self, limits: RiskLimits, probe: Probe) -> None:
        super().__init__(limits)
        self.probe = probe

    def on_halt(self, msg: Halt) -> None:
        super().on_halt(msg)
        if self.state is RiskState.HALTED and not self.probe.halted_at:
            self.probe.halted_at = time.perf_counter_ns()


class StampedPort:
    """The journal as the scheduler's write-ahead log, stamping when a SubmitOrder's
    ``durable()`` returns."""

    def __init__(self, writer: JournalWriter, probe: Probe) -> None:
        self.writer = writer
        self.probe = probe
        self.submits: dict[int, str] = {}

    def append(self, message: Message, ts: int) -> int:
        seq = self.writer.append(message, ts)
        if type(message) is SubmitOrder:
            self.submits[seq] = message.client_order_id
        return seq

    async def durable(self, seq: int) -> None:
        await self.writer.durable(seq)
        client_id = self.submits.pop(seq, None)
        if client_id is not None:
            self.probe.durable[client_id] = time.perf_counter_ns()


# --- one session -------------------------------------------------------------------------


def build(instruments: dict[str, Instrument], probe: Probe) -> tuple[Bus, TappedRisk, EveryTick]:
    plugin = EveryTick({}, [SYMBOL], "1m")
    plugin.probe = probe
    broker = TappedBroker(instruments=instruments, initial_balances={"USDT": CASH}, probe=probe)
    risk = TappedRisk(RiskLimits(Decimal(0), Decimal(0), Decimal(0)), probe)
    actors = [
        broker,
        BarBuilder(base_interval="1m"),
        StrategyHost([plugin], instruments),
        risk,
        OrderManager(),
        Accountant(
            "USDT",
            CASH,
            mark_interval="1m",
            price_increments={s: i.tick_size for s, i in instruments.items()},
        ),
        Reconciler(
            venue=VENUE,
            quote_asset="USDT",
            base_assets={s: i.base for s, i in instruments.items()},
            initial_balances={"USDT": CASH},
            interval_ns=3600 * 10**9,
        ),
    ]
    return Bus(actors), risk, plugin


async def session(
    rest: BinanceRest,
    ws_url: str,
    instruments: dict[str, Instrument],
    root: Path | None,
    name: str,
    seconds: float,
    halt_after: float | None,
) -> Probe:
    """Run one session for ``seconds`` (plus the halt phase); journaled under ``root``."""
    probe = Probe()
    bus, risk, _ = build(instruments, probe)

    def rejected(_: RiskRejected) -> None:
        probe.rejected += 1
        if probe.halt_published:
            probe.rejected_after_halt += 1

    bus.subscribe(RiskRejected, rejected, "bench")
    stream = StampedStream(ws_url, rest, [SYMBOL], streams=("trade", "kline_1m"), probe=probe)
    send, receive = anyio.create_memory_object_stream[Message](4096)

    async def run(scheduler: LiveScheduler) -> None:
        async def source() -> AsyncIterator[Message]:
            async with receive:
                async for message in receive:
                    yield message

        async def pump() -> None:
            with anyio.move_on_after(seconds + (0.0 if halt_after is None else 1.0)):
                try:
                    async with send:
                        async for message in stream:
                            await send.send(message)
                finally:
                    with anyio.CancelScope(shield=True):
                        await stream.aclose()
            await send.aclose()

        async def halter() -> None:
            if halt_after is None:
                return
            await anyio.sleep(halt_after)
            probe.halt_published = time.perf_counter_ns()
            await scheduler.publish(Halt(ts=scheduler.clock.now(), reason="benchmark"))

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(pump)
            tasks.start_soon(halter)
            await scheduler.run(source())

    if root is None:
        await run(LiveScheduler(bus, LiveClock(), inbox_capacity=1024))
    else:
        # As a session opens its journal (app.session): with the configured linger.
        async with open_journal(root, name, linger_us=SETTINGS.journal.linger_us) as writer:
            port = StampedPort(writer, probe)
            await run(LiveScheduler(bus, LiveClock(), inbox_capacity=1024, journal=port))
    assert risk.state is (RiskState.ACTIVE if halt_after is None else RiskState.HALTED)
    return probe


def tick_to_order(probe: Probe, warmup: float) -> dict[str, float]:
    """p50/p99/max of socket -> broker (ms), and median segments, for the trades that
    arrived after the warm-up and before the halt."""
    if not probe.arrived:
        raise SystemExit("no trade reached the session")
    first = min(probe.arrived.values()) + int(warmup * 1e9)
    cut = probe.halt_published or 1 << 62
    total, to_decide, to_durable, to_broker = [], [], [], []
    for trade_id, (broker, durable) in probe.at_broker.items():
        arrived = probe.arrived.get(trade_id)
        if arrived is None or not first <= arrived < cut:
            continue
        decided = probe.decided[trade_id]
        total.append(broker - arrived)
        to_decide.append(decided - arrived)
        if durable is not None:
            to_durable.append(durable - decided)
            to_broker.append(broker - durable)
    total.sort()
    out = {
        "p50": total[len(total) // 2] / NS,
        "p99": total[int(len(total) * 0.99)] / NS,
        "max": total[-1] / NS,
        "orders": float(len(total)),
        "socket->decision": statistics.median(to_decide) / NS,
    }
    if to_durable:
        out["decision->durable"] = statistics.median(to_durable) / NS
        out["durable->broker"] = statistics.median(to_broker) / NS
    return out


def journal_check(directory: Path) -> tuple[int, int, int]:
    """(approvals after the HALTED record, SubmitOrders after it, approvals before it
    not yet submitted when it was written)."""
    halted_seq = None
    requests = submits = requests_after = submits_after = pending_at_halt = 0
    for record in JournalReader(directory):
        message = record.message
        if type(message) is RiskStateChanged and message.state is RiskState.HALTED:
            halted_seq = record.seq
            pending_at_halt = requests - submits
        elif type(message) is OrderRequest:
            requests += 1
            requests_after += halted_seq is not None
        elif type(message) is SubmitOrder:
            submits += 1
            submits_after += halted_seq is not None
    if halted_seq is None:
        raise AssertionError("no HALTED record in the journal")
    return requests_after, submits_after, pending_at_halt


# --- bare baselines ----------------------------------------------------------------------


def _frame() -> bytes:
    ticket = OrderTicket(symbol=SYMBOL, side=Side.BUY, quantity=Decimal("0.00001"))
    order = SubmitOrder(
        ts=time.time_ns(), client_order_id="tick_bench-BTCUSDT-1-abcdef", strategy=STRATEGY,
        ticket=ticket,
    )  # fmt: skip
    return encode_frame(1, order.ts, order)


def bare_fsync(root: Path, count: int, pause: float) -> list[float]:
    """ms of write+fsync of one frame, in a plain loop on the main thread."""
    frame = _frame()
    fd = os.open(root / "bare.bin", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
    samples = []
    try:
        for _ in range(count):
            began = time.perf_counter_ns()
            os.write(fd, frame)
            os.fsync(fd)
            samples.append((time.perf_counter_ns() - began) / NS)
            time.sleep(pause)
    finally:
        os.close(fd)
    return samples


async def bare_thread_fsync(root: Path, count: int, pause: float) -> list[float]:
    """The same through ``anyio.to_thread.run_sync`` from the event loop."""
    frame = _frame()
    fd = os.open(root / "bare.bin", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)

    def commit() -> None:
        os.write(fd, frame)
        os.fsync(fd)

    samples = []
    try:
        for _ in range(count):
            began = time.perf_counter_ns()
            await anyio.to_thread.run_sync(commit)
            samples.append((time.perf_counter_ns() - began) / NS)
            await anyio.sleep(pause)
    finally:
        os.close(fd)
    return samples


def _pcts(samples: list[float]) -> tuple[float, float, float]:
    samples = sorted(samples)
    return samples[len(samples) // 2], samples[int(len(samples) * 0.99)], samples[-1]


# --- main --------------------------------------------------------------------------------


async def run_all(args: argparse.Namespace, urls: tuple[str, str], root: Path) -> dict:
    results: dict[str, list[float]] = {}
    checks: list[str] = []

    def record(name: str, value: float) -> None:
        results.setdefault(name, []).append(value)

    base_url, ws_url = urls
    pause = 1.0 / args.rate
    async with BinanceRest(base_url) as rest:
        instruments = await load_instruments(rest, [SYMBOL], VENUE)
        for run in range(args.repeat):
            for journaled in (True, False):
                label = "journal" if journaled else "no journal"
                name = f"run{run}-{'j' if journaled else 'n'}"
                halt_after = args.seconds if journaled else None
                probe = await session(
                    rest, ws_url, instruments, root if journaled else None, name,
                    args.seconds, halt_after,
                )  # fmt: skip
                if probe.rejected - probe.rejected_after_halt:
                    raise AssertionError(f"{probe.rejected} orders rejected before the halt")
                for key, value in tick_to_order(probe, args.warmup).items():
                    record(f"{label} {key}", value)
                if not journaled:
                    continue
                record("halt -> HALTED", (probe.halted_at - probe.halt_published) / NS)
                last = max(probe.broker_after_halt, default=probe.halt_published)
                record("halt -> last order out", (last - probe.halt_published) / NS)
                record("orders drained after halt", len(probe.broker_after_halt))
                record("ticks rejected after halt", probe.rejected_after_halt)
                approvals_after, submits_after, pending = journal_check(root / name)
                record("journal SubmitOrder after HALTED", submits_after)
                checks.append(
                    f"run {run}: journal after the HALTED record: {approvals_after} approvals, "
                    f"{submits_after} SubmitOrder (approved before it and not yet submitted "
                    f"when it was written: {pending}); decided after the halt "
                    f"{probe.decided_after_halt}, rejected {probe.rejected_after_halt}"
                )
                if approvals_after or submits_after > pending:
                    raise AssertionError(checks[-1])
            count = max(200, int(args.rate * 2))
            b50, b99, bmax = _pcts(bare_fsync(root, count, pause))
            record("bare fsync p50", b50)
            record("bare fsync p99", b99)
            record("bare fsync max", bmax)
            t50, t99, tmax = _pcts(await bare_thread_fsync(root, count, pause))
            record("bare to_thread fsync p50", t50)
            record("bare to_thread fsync p99", t99)
            record("bare to_thread fsync max", tmax)
    return {"results": results, "checks": checks}


def main() -> None:
    with switch_interval(SETTINGS.runtime.switch_interval_us):  # as a session does
        _main()


def _main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=int, default=200, help="trades/s the simulator sends")
    parser.add_argument("--trades-per-bar", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=4.0, help="measured seconds per run")
    parser.add_argument("--warmup", type=float, default=0.5)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--dir", type=Path, default=None, help="where to journal (default: a temp dir)"
    )
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))

    speed = 60.0 * args.rate / args.trades_per_bar
    # Enough bars for every run after the simulator's day of history.
    needed_minutes = speed / 60 * (args.seconds + 3) * 2 * args.repeat
    days = 2 + int(needed_minutes // 1440)
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    server = context.Process(
        target=_serve, args=(child, speed, args.trades_per_bar, days), daemon=True
    )
    server.start()
    began = time.perf_counter()
    try:
        urls = parent.recv()
        with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
            out = anyio.run(run_all, args, urls, Path(tmp))
    finally:
        parent.send("stop")
        server.join(10)
    results, checks = out["results"], out["checks"]
    med = {name: statistics.median(values) for name, values in results.items()}

    print(
        f"tick to order: paper session vs simulator (separate process), {args.rate} trades/s, "
        f"one order per trade, {args.seconds:g} s per run (first {args.warmup:g} s dropped), "
        f"medians of {args.repeat} runs, {os.cpu_count()} CPUs, "
        f"wall {time.perf_counter() - began:.1f} s"
    )
    j, n = "journal", "no journal"
    bare99 = med["bare to_thread fsync p99"]
    print(
        f"  socket -> broker, journaled (write-ahead fsync): p50 {med[f'{j} p50']:.3f} ms, "
        f"p99 {med[f'{j} p99']:.3f} ms, max {med[f'{j} max']:.3f} ms "
        f"({med[f'{j} orders']:,.0f} orders/run) | target p99 <= 2 ms"
    )
    print(
        f"    segments (medians): socket -> decision {med[f'{j} socket->decision']:.3f} ms, "
        f"decision -> SubmitOrder durable {med[f'{j} decision->durable']:.3f} ms, "
        f"durable -> broker {med[f'{j} durable->broker']:.3f} ms"
    )
    print(
        f"  same pipeline, no journal: p50 {med[f'{n} p50']:.3f} ms, p99 {med[f'{n} p99']:.3f} ms,"
        f" max {med[f'{n} max']:.3f} ms -> journaled/unjournaled p50 "
        f"{med[f'{j} p50'] / med[f'{n} p50']:.2f}, p99 {med[f'{j} p99'] / med[f'{n} p99']:.2f}"
    )
    print(
        f"  bare write+fsync of one frame: main thread p50 {med['bare fsync p50']:.3f} ms, "
        f"p99 {med['bare fsync p99']:.3f} ms; through to_thread p50 "
        f"{med['bare to_thread fsync p50']:.3f} ms, p99 {bare99:.3f} ms"
        f" | journaled p99 - unjournaled p99 = {med[f'{j} p99'] - med[f'{n} p99']:.3f} ms "
        f"vs bare to_thread p99"
    )
    print(
        f"  halt: published -> risk HALTED {med['halt -> HALTED']:.3f} ms; published -> last "
        f"order reaches the broker {med['halt -> last order out']:.3f} ms "
        f"({med['orders drained after halt']:.0f} approved before the halt drained) "
        f"| target <= 5 ms; ticks rejected after the halt "
        f"{med['ticks rejected after halt']:.0f}/run"
    )
    print("  checks:")
    for line in checks:
        print(f"    {line}")
    print("  every run:")
    for name in sorted(results):
        print(f"    {name}: " + ", ".join(f"{v:,.3f}" for v in results[name]))


if __name__ == "__main__":
    main()
