"""The market stream against the loopback simulator: every closed bar once and in order,
trades complete and in order, across forced disconnects, injected duplicates, reordering
and lost frames, planned rotations, and failed backfills."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

import pytest

from actors.messages import BarUpdate, Message, QuoteTick, TradeTick
from tests.venues.binance.stream_helpers import (
    KLINES,
    MINUTE,
    MS,
    POLICY,
    SYMBOL,
    Reader,
    RecordingSleep,
    no_wait,
    paused,
    rest_for,
    sim_now_ns,
    wait_until,
)
from venues.binance.rest import BinanceRest
from venues.binance.stream import (
    BinanceMarketStream,
    agg_trade_tick,
    closed_bar_update,
    decode_payload,
    stream_url,
)
from venues.binance.ws import ExponentialBackoff, ReconnectPolicy
from venues.simulator import Simulator, run_simulator
from venues.simulator.faults import FaultPlan, FaultRule


def _plan(*rules: FaultRule, seed: int = 1) -> FaultPlan:
    return FaultPlan(seed=seed, rules=rules)


def _closed(items: Sequence[Message]) -> list[BarUpdate]:
    return [m for m in items if isinstance(m, BarUpdate) and m.closed]


def _opens(items: Sequence[Message]) -> list[BarUpdate]:
    return [m for m in items if isinstance(m, BarUpdate) and not m.closed]


def _trades(items: Sequence[Message]) -> list[TradeTick]:
    return [m for m in items if isinstance(m, TradeTick)]


async def _run_until_closed(
    sim: Simulator, reader: Reader[Message], last_start_ms: int, max_minutes: int = 80
) -> None:
    """Advance a minute at a time, each on a listening connection, until the bar starting
    at ``last_start_ms`` has been emitted closed (a gap is filled at the next kline)."""

    def done() -> bool:
        return any(bar.bar.start >= last_start_ms * MS for bar in _closed(reader.items))

    for _ in range(max_minutes):
        if done():
            return
        await wait_until(lambda: sim.hub.listening(KLINES), "a connection listening to klines")
        await sim.advance(MINUTE)
        try:
            await wait_until(done, "the last bar", timeout=0.01)
        except AssertionError:
            continue
    await wait_until(done, f"the bar starting at {last_start_ms}")


async def _rest_bars(rest: BinanceRest, first: BarUpdate, last: BarUpdate) -> list[BarUpdate]:
    rows = await rest.klines(
        SYMBOL, "1m", start_ms=first.bar.start // MS, end_ms=last.bar.start // MS
    )
    return [
        closed_bar_update(
            SYMBOL, "1m", row.open_time, (row.open, row.high, row.low, row.close), row.volume,
            row.trades, row.quote_volume,
        )
        for row in rows
    ]  # fmt: skip


async def _assert_bars_once_in_order(rest: BinanceRest, items: Sequence[Message]) -> None:
    """The closed bars are the venue's klines, each once, in order, none missing; every
    open update comes before its close, once per bar."""
    closed = _closed(items)
    assert len(closed) >= 2
    assert closed == await _rest_bars(rest, closed[0], closed[-1])
    starts = [bar.bar.start for bar in closed]
    assert starts == list(range(starts[0], starts[-1] + 1, MINUTE * MS))
    assert [bar.ts for bar in closed] == [start + MINUTE * MS for start in starts]
    opens = [bar.bar.start for bar in _opens(items)]
    assert opens == sorted(set(opens))
    position = {id(message): index for index, message in enumerate(items)}
    for update in _opens(items):
        match = [bar for bar in closed if bar.bar.start == update.bar.start]
        if match:
            assert position[id(update)] < position[id(match[0])]


async def _assert_trades_complete(rest: BinanceRest, items: Sequence[Message]) -> None:
    """Trade ids strictly increase with their times, and between the first and the last
    every trade the venue printed is there."""
    ticks = _trades(items)
    ids = [int(tick.trade_id) for tick in ticks]
    assert ids == sorted(set(ids))
    assert [tick.ts for tick in ticks] == sorted({tick.ts for tick in ticks})
    venue = [row for row in await rest.trades(SYMBOL, limit=1000) if ids[0] <= row.id <= ids[-1]]
    assert [row.id for row in venue] == ids


def _stream(sim: Simulator, rest: BinanceRest, **kwargs: Any) -> BinanceMarketStream:
    kwargs.setdefault("sleep", no_wait)
    kwargs.setdefault("policy", POLICY)
    return BinanceMarketStream(sim.ws_url, rest, [SYMBOL], now_ns=sim_now_ns(sim), **kwargs)


@pytest.mark.parametrize("abrupt", [False, True], ids=["close-frame", "abrupt"])
async def test_every_closed_bar_comes_once_in_order_across_forced_disconnects(
    abrupt: bool,
) -> None:
    plan = _plan(FaultRule(kind="ws_disconnect", every_messages=45, abrupt=abrupt))
    sleep = RecordingSleep()
    async with (
        run_simulator(paused(faults=plan)) as sim,
        rest_for(sim) as rest,
        _stream(sim, rest, sleep=sleep, rng=random.Random(5)) as stream,
    ):
        reader: Reader[Message] = Reader(stream)
        start = sim.now_ms()
        await _run_until_closed(sim, reader, start + 20 * MINUTE)
        await reader.stop()
        await _assert_bars_once_in_order(rest, reader.items)
        await _assert_trades_complete(rest, reader.items)
    stats = stream.statistics()
    assert stats.reconnects >= 5
    assert stats.bars_backfilled >= 1 and stats.ticks_backfilled >= 1
    assert stats.tick_gaps_unfilled == 0 and stats.backfill_failures == 0
    assert stats.emitted == len(reader.items)
    # Every wait between connections is the seeded full-jitter draw (no connection lived
    # long enough to reset the backoff).
    expected = ExponentialBackoff(0.5, 30.0, random.Random(5))
    assert sleep.delays == [expected.next_delay() for _ in sleep.delays]
    # One wait per reconnect (the last may have been cut short by the end of the test).
    assert stats.reconnects <= len(sleep.delays) <= stats.reconnects + 1


async def test_duplicated_and_reordered_messages_are_dropped_and_counted() -> None:
    plan = _plan(
        FaultRule(kind="ws_duplicate", rate=0.25, streams=("market",)),
        FaultRule(kind="ws_reorder", rate=0.25, streams=("market",)),
    )
    async with (
        run_simulator(paused(faults=plan)) as sim,
        rest_for(sim) as rest,
        _stream(sim, rest) as stream,
    ):
        reader: Reader[Message] = Reader(stream)
        start = sim.now_ms()
        await _run_until_closed(sim, reader, start + 15 * MINUTE)
        await reader.stop()
        await _assert_bars_once_in_order(rest, reader.items)
    stats = stream.statistics()
    assert stats.duplicates_dropped > 10
    assert stats.reconnects == 0
    ticks = _trades(reader.items)
    ids = [int(tick.trade_id) for tick in ticks]
    assert ids == sorted(set(ids))  # a trade arriving after a later one is dropped
    assert [tick.ts for tick in ticks] == sorted(tick.ts for tick in ticks)
    quotes = [m for m in reader.items if isinstance(m, QuoteTick)]
    assert quotes and all(q.bid < q.ask for q in quotes)
    assert [q.ts for q in quotes] == sorted(q.ts for q in quotes)
    assert quotes[-1].ts <= sim.now_ms() * MS


async def test_a_closed_kline_lost_on_a_live_connection_is_backfilled() -> None:
    plan = _plan(FaultRule(kind="ws_drop", rate=0.3, streams=(KLINES,)))
    async with (
        run_simulator(paused(faults=plan)) as sim,
        rest_for(sim) as rest,
        _stream(sim, rest, streams=("kline_1m",)) as stream,
    ):
        reader: Reader[Message] = Reader(stream)
        start = sim.now_ms()
        await _run_until_closed(sim, reader, start + 15 * MINUTE)
        await reader.stop()
        await _assert_bars_once_in_order(rest, reader.items)
    stats = stream.statistics()
    assert stats.bars_backfilled >= 1
    assert stats.reconnects == 0


async def test_the_planned_rotation_switches_without_a_gap_or_a_duplicate() -> None:
    async with (
        run_simulator(paused()) as sim,
        rest_for(sim) as rest,
        _stream(sim, rest) as stream,
    ):
        reader: Reader[Message] = Reader(stream)
        start = sim.now_ms()
        await wait_until(lambda: sim.hub.listening(KLINES), "the first connection")
        await sim.advance(3 * MINUTE)
        stream.rotate()
        await sim.advance(MINUTE)  # frames in flight while the new connection opens
        await wait_until(lambda: sim.hub.connections_made == 2, "the second connection")
        await _run_until_closed(sim, reader, start + 10 * MINUTE)
        await reader.stop()
        await _assert_bars_once_in_order(rest, reader.items)
        await _assert_trades_complete(rest, reader.items)
    stats = stream.statistics()
    assert (stats.connections, stats.planned_reconnects, stats.reconnects) == (2, 1, 0)
    assert stats.duplicates_dropped == 0
    assert stats.bars_backfilled == stats.ticks_backfilled == 0
    assert _closed(reader.items)[0].bar.start == start * MS


async def test_the_rotation_happens_by_itself_before_the_connection_gets_old() -> None:
    policy = ReconnectPolicy(rotate_after_seconds=0.2, idle_timeout_seconds=30.0)
    async with (
        run_simulator(paused()) as sim,
        rest_for(sim) as rest,
        _stream(sim, rest, policy=policy) as stream,
    ):
        reader: Reader[Message] = Reader(stream)
        start = sim.now_ms()
        await wait_until(lambda: sim.hub.connections_made >= 2, "the rotation's connection")
        await _run_until_closed(sim, reader, start + 5 * MINUTE)
        await reader.stop()
        await _assert_bars_once_in_order(rest, reader.items)
    stats = stream.statistics()
    assert stats.planned_reconnects >= 1
    assert stats.reconnects == 0


async def test_resume_after_backfills_from_the_bar_after_the_one_given() -> None:
    async with run_simulator(paused()) as sim, rest_for(sim) as rest:
        start = sim.now_ms()
        resume = {(SYMBOL, "1m"): (start - 10 * MINUTE) * MS}
        async with _stream(sim, rest, resume_after=resume) as stream:
            reader: Reader[Message] = Reader(stream)
            await _run_until_closed(sim, reader, start)
            await reader.stop()
        await _assert_bars_once_in_order(rest, reader.items)
    closed = _closed(reader.items)
    assert closed[0].bar.start == (start - 9 * MINUTE) * MS
    # Backfilled bars did not start now: only live bars get an open update.
    opens = [bar.bar.start for bar in _opens(reader.items)]
    assert opens[0] == start * MS
    assert stream.statistics().bars_backfilled == 9


async def test_aggregate_trades_are_the_ticks_without_trade_and_are_backfilled_by_id() -> None:
    # 9 messages a bar: every connection loses two trades and a close mid-bar.
    plan = _plan(FaultRule(kind="ws_disconnect", every_messages=22))
    async with (
        run_simulator(paused(faults=plan)) as sim,
        rest_for(sim) as rest,
        _stream(sim, rest, streams=("aggTrade", "kline_1m")) as stream,
    ):
        reader: Reader[Message] = Reader(stream)
        start = sim.now_ms()
        await _run_until_closed(sim, reader, start + 12 * MINUTE)
        await reader.stop()
        await _assert_bars_once_in_order(rest, reader.items)
        ticks = _trades(reader.items)
        ids = [int(tick.trade_id) for tick in ticks]
        venue = await rest.agg_trades(SYMBOL, from_id=ids[0], limit=1000)
        assert ticks == [agg_trade_tick_of(row) for row in venue if row.agg_trade_id <= ids[-1]]
    stats = stream.statistics()
    assert stats.ticks_backfilled >= 1 and stats.tick_gaps_unfilled == 0


def agg_trade_tick_of(row: Any) -> TradeTick:
    payload = decode_payload(
        "aggTrade",
        f'{{"e":"aggTrade","E":{row.time},"s":"{SYMBOL}","a":{row.agg_trade_id},'
        f'"p":"{row.price!r}","q":"{row.quantity!r}","f":{row.first_trade_id},'
        f'"l":{row.last_trade_id},"T":{row.time},"m":{str(row.buyer_is_maker).lower()}}}',
    )
    assert not isinstance(payload, str)
    return agg_trade_tick(SYMBOL, payload)  # type: ignore[arg-type]


async def test_a_failed_backfill_gives_up_the_connection_and_the_next_one_backfills() -> None:
    # 9 messages a bar: every connection is cut before the close of its fifth bar.
    plan = _plan(
        FaultRule(kind="ws_disconnect", every_messages=40),
        FaultRule(kind="server_error", endpoints=("GET /api/v3/klines",), limit=1),
    )
    async with (
        run_simulator(paused(faults=plan)) as sim,
        rest_for(sim) as rest,
        _stream(sim, rest, streams=("kline_1m", "bookTicker")) as stream,
    ):
        reader: Reader[Message] = Reader(stream)
        start = sim.now_ms()
        await _run_until_closed(sim, reader, start + 15 * MINUTE)
        await reader.stop()
        await _assert_bars_once_in_order(rest, reader.items)
    stats = stream.statistics()
    assert stats.backfill_failures == 1
    assert stats.bars_backfilled >= 1


def test_the_url_names_every_stream_of_every_symbol_in_lower_case() -> None:
    url = stream_url("ws://127.0.0.1:1/", ["BTCUSDT", "ETHUSDT"], ["trade", "kline_1m"])
    assert url == (
        "ws://127.0.0.1:1/stream?streams="
        "btcusdt@trade/btcusdt@kline_1m/ethusdt@trade/ethusdt@kline_1m"
    )


@pytest.mark.parametrize("streams", [("depth",), ("kline_7m",), ()])
def test_a_stream_the_adapter_cannot_read_is_refused(streams: tuple[str, ...]) -> None:
    with pytest.raises(ValueError):
        BinanceMarketStream("ws://x", BinanceRest("http://x"), ["BTCUSDT"], streams=streams)
