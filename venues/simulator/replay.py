"""The replay: market events in time order, paced by the clock, to the streams and the engine.

Each bar of each symbol becomes its trades (market.py), and each trade, at its
time, four stream messages (trade, aggTrade, bookTicker, a kline update) and then
one step of the matching engine; at the bar's end comes the final kline
(``x: true``) and the engine's taker budget for the next bar. Events of the same
millisecond go together, symbols in name order. The replay starts at the first bar
at or after the start time; the bar before it sets the opening book.

The replay sets the clock's horizon (clock.py): simulated time never passes an
event that has not been handled, which is what makes "server time" and "what the
streams have said" the same thing. It yields to the event loop every few events,
so requests are answered while it runs flat out at a high speed.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import math
from collections.abc import Callable, Iterator, Mapping
from decimal import Decimal
from typing import Final

from venues.fill_model import floor_to_lot
from venues.simulator import wire
from venues.simulator.clock import ReplayClock
from venues.simulator.config import SymbolSpec
from venues.simulator.engine import MatchingEngine
from venues.simulator.market import (
    MINUTE_MS,
    BarSeries,
    Kline,
    SynthTrade,
    bar_trades,
    kline_of,
    quote_around,
    reference_volume,
    to_tick,
)
from venues.simulator.streams import StreamHub, stream_names

__all__ = ["MarketReplay"]

_YIELD_EVERY: Final = 16
_KLINE_CACHE: Final = 20_000

# An event: (time ms, symbol position, bar index, trade position in the bar or -1 for
# the bar's close, the bar's trades).
_Event = tuple[int, int, int, int, list[SynthTrade]]


class MarketReplay:
    def __init__(
        self,
        series: Mapping[str, BarSeries],
        specs: Mapping[str, SymbolSpec],
        engine: MatchingEngine,
        hub: StreamHub,
        clock: ReplayClock,
        *,
        trades_per_bar: int,
        half_spread_bps: Decimal,
        participation_cap: Decimal,
        start_ms: int,
    ) -> None:
        self.series = series
        self.specs = specs
        self._engine = engine
        self._hub = hub
        self._clock = clock
        self._count = trades_per_bar
        self._half_spread = half_spread_bps
        self._cap = participation_cap
        self._symbols = sorted(series)
        self._streams = {symbol: stream_names(symbol) for symbol in self._symbols}
        self._first = {symbol: series[symbol].index_at(start_ms) for symbol in self._symbols}
        self._book_size: dict[str, Decimal] = {}
        self._kline_cache: dict[tuple[str, int], Kline] = {}
        self._wake = asyncio.Event()
        self._progress = asyncio.Event()
        self._next_ms: float = -math.inf
        self.finished = asyncio.Event()
        self.events_handled = 0
        for symbol in self._symbols:
            self._open_book(symbol)

    def _open_book(self, symbol: str) -> None:
        data, index, spec = self.series[symbol], self._first[symbol], self.specs[symbol]
        before = min(index, len(data)) - 1
        price = data.close[before] if before >= 0 else data.open[0]
        self._engine.set_price(symbol, to_tick(price, spec.tick_size))
        volume = reference_volume(data, before + 1)
        self._engine.start_bar(symbol, volume)
        self._set_book_size(symbol, volume)

    def _set_book_size(self, symbol: str, volume: Decimal | None) -> None:
        spec = self.specs[symbol]
        size = spec.max_qty if volume is None else floor_to_lot(self._cap * volume, spec.step_size)
        self._book_size[symbol] = size

    # --- pacing -----------------------------------------------------------------------

    def wake(self) -> None:
        """The clock changed (pause, resume, advance): look at it again."""
        self._wake.set()

    async def run(self) -> None:
        merged = heapq.merge(*(self._events(i, s) for i, s in enumerate(self._symbols)))
        for time_ms, group in itertools.groupby(merged, key=lambda event: event[0]):
            self._next_ms = time_ms
            self._clock.set_horizon(time_ms - 1)
            self._progress.set()
            await self._reach(time_ms)
            self._clock.set_horizon(time_ms)
            for event in group:
                self._handle(event)
                self.events_handled += 1
                if self.events_handled % _YIELD_EVERY == 0:
                    await asyncio.sleep(0)
        self._next_ms = math.inf
        self._clock.set_horizon(math.inf)
        self._progress.set()
        self.finished.set()

    async def _reach(self, time_ms: int) -> None:
        while (delay := self._clock.wall_seconds_until(time_ms)) != 0.0:
            self._wake.clear()
            if delay is None:
                await self._wake.wait()
            else:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), delay)

    async def caught_up(self, time_ms: int) -> None:
        """Wait until every event up to ``time_ms`` has been handled."""
        while self._next_ms <= time_ms:
            self._progress.clear()
            await self._progress.wait()

    # --- events -----------------------------------------------------------------------

    def _events(self, position: int, symbol: str) -> Iterator[_Event]:
        data, spec = self.series[symbol], self.specs[symbol]
        for index in range(self._first[symbol], len(data)):
            trades = bar_trades(data, index, spec, self._count)
            for number, trade in enumerate(trades):
                yield trade.time_ms, position, index, number, trades
            yield data.open_ms[index] + MINUTE_MS, position, index, -1, trades

    def _handle(self, event: _Event) -> None:
        _, position, index, number, trades = event
        symbol = self._symbols[position]
        streams = self._streams[symbol]
        data = self.series[symbol]
        if number < 0:
            kline = kline_of(data, index, self.specs[symbol], trades)
            self._kline_cache_put(symbol, index, kline)
            if self._hub.listening(streams["kline_1m"]):
                message = wire.kline_event(symbol, kline, kline.open_ms + MINUTE_MS, closed=True)
                self._hub.publish_market(streams["kline_1m"], message)
            volume = Decimal(repr(data.volume[index]))
            self._engine.start_bar(symbol, volume)
            self._set_book_size(symbol, volume)
            return
        trade = trades[number]
        hub = self._hub
        if hub.listening(streams["trade"]):
            hub.publish_market(streams["trade"], wire.trade_event(symbol, trade))
        if hub.listening(streams["aggTrade"]):
            hub.publish_market(streams["aggTrade"], wire.agg_trade_event(symbol, trade))
        if hub.listening(streams["bookTicker"]):
            bid, ask = quote_around(trade.price, self.specs[symbol].tick_size, self._half_spread)
            size = self._book_size[symbol]
            message = wire.book_ticker_event(symbol, trade.trade_id, bid, ask, size)
            hub.publish_market(streams["bookTicker"], message)
        if hub.listening(streams["kline_1m"]):
            kline = kline_of(data, index, self.specs[symbol], trades[: number + 1])
            hub.publish_market(
                streams["kline_1m"], wire.kline_event(symbol, kline, trade.time_ms, closed=False)
            )
        self._engine.on_trade(symbol, trade.price, trade.quantity, trade.time_ms)

    # --- history ----------------------------------------------------------------------

    def klines(
        self, symbol: str, start_ms: int | None, end_ms: int | None, limit: int, now_ms: int
    ) -> list[Kline]:
        """GET /api/v3/klines: bars opened by ``now_ms``, the last one as far as it has
        traded; from ``start_ms`` on (the first ``limit``), else the last ``limit``
        up to ``end_ms``."""
        data, spec = self.series[symbol], self.specs[symbol]
        high = data.index_at(now_ms + 1)
        if end_ms is not None:
            high = min(high, data.index_at(end_ms + 1))
        if start_ms is None:
            low = max(0, high - limit)
        else:
            low = data.index_at(start_ms)
            high = min(high, low + limit)
        rows: list[Kline] = []
        for index in range(low, high):
            if data.open_ms[index] + MINUTE_MS <= now_ms:
                rows.append(self._closed_kline(symbol, index))
            else:
                trades = bar_trades(data, index, spec, self._count)
                done = [trade for trade in trades if trade.time_ms <= now_ms]
                rows.append(kline_of(data, index, spec, done))
        return rows

    def public_trades(
        self,
        symbol: str,
        *,
        from_id: int | None,
        start_ms: int | None,
        end_ms: int | None,
        limit: int,
        now_ms: int,
    ) -> list[SynthTrade]:
        """GET /api/v3/trades and aggTrades: trades printed by ``now_ms``, from ``from_id``
        on, or inside ``[start_ms, end_ms]``, else the most recent ``limit``."""
        data = self.series[symbol]
        if from_id is not None:
            first = data.index_at(from_id // self._count * MINUTE_MS)
            return self._trades_from(symbol, first, now_ms, limit, lambda t: t.trade_id >= from_id)
        if start_ms is not None and end_ms is not None:
            first, last = start_ms, end_ms
            index = data.index_at(first - MINUTE_MS + 1)  # the bar holding start_ms
            return self._trades_from(
                symbol, index, min(now_ms, last), limit, lambda t: t.time_ms >= first
            )
        recent: list[SynthTrade] = []
        index = data.index_at(now_ms + 1) - 1
        while index >= 0 and len(recent) < limit:
            bar = bar_trades(data, index, self.specs[symbol], self._count)
            recent[:0] = [trade for trade in bar if trade.time_ms <= now_ms]
            index -= 1
        return recent[-limit:]

    def _trades_from(
        self,
        symbol: str,
        index: int,
        until_ms: int,
        limit: int,
        keep: Callable[[SynthTrade], bool],
    ) -> list[SynthTrade]:
        data, spec = self.series[symbol], self.specs[symbol]
        chosen: list[SynthTrade] = []
        for bar in range(index, data.index_at(until_ms + 1)):
            for trade in bar_trades(data, bar, spec, self._count):
                if trade.time_ms > until_ms or len(chosen) == limit:
                    return chosen
                if keep(trade):
                    chosen.append(trade)
        return chosen

    def _closed_kline(self, symbol: str, index: int) -> Kline:
        kline = self._kline_cache.get((symbol, index))
        if kline is None:
            data, spec = self.series[symbol], self.specs[symbol]
            kline = kline_of(data, index, spec, bar_trades(data, index, spec, self._count))
            self._kline_cache_put(symbol, index, kline)
        return kline

    def _kline_cache_put(self, symbol: str, index: int, kline: Kline) -> None:
        if len(self._kline_cache) >= _KLINE_CACHE:
            self._kline_cache.pop(next(iter(self._kline_cache)))
        self._kline_cache[symbol, index] = kline
