"""Binance spot market streams as catalog messages: trades, quotes and klines, gap-free across
reconnects.

``BinanceMarketStream`` reads one combined stream
(``/stream?streams=btcusdt@trade/btcusdt@kline_1m/...``, web-socket-streams.md) over the
reconnecting socket of ``venues.binance.ws`` and yields:

- ``TradeTick`` from ``<symbol>@trade`` (``ts`` the trade time ``T``, ``trade_id`` the
  trade id ``t``, aggressor SELL when the buyer was the maker). ``aggTrade`` is a second
  view of the same trades, so it is skipped (and counted as ignored) when ``trade`` is
  subscribed too: a trade is never counted twice. Without ``trade``, each aggregate is one
  ``TradeTick`` (its id ``a``, its total quantity).
- ``QuoteTick`` from ``<symbol>@bookTicker``. Spot's bookTicker carries no time, so ``ts``
  is the receive time on the server's clock (``now_ns``, by default the REST client's
  synced estimate), or ``T``/``E`` when a payload has them; never earlier than the
  previous quote of the symbol.
- ``BarUpdate`` from ``<symbol>@kline_<interval>``, in the shape the backtest feed emits:
  an *open* update (``closed=False``, ``ts`` the bar's start, o=h=l=c=open, no volume)
  when the stream first shows a bar in progress, and the *closed* update (``ts`` = close
  time = start + interval, the full bar: float prices, volume, trades, vwap = quote
  volume / volume) when its kline says ``x: true``.

What it guarantees, per symbol and stream, across every reconnect:

- each closed bar exactly once, in start order. A kline message that starts later than
  the next bar due (a reconnect, a lost frame) first brings the missing closed bars over
  REST (``GET /api/v3/klines``, 1000 a page): they are all over, since a later bar has
  begun. A bar the venue itself does not have stays missing (the bar builder reports
  the gap). Backfilled bars get no open update: they did not start now, and an open is
  what a paper broker fills a market order at;
- trade ids, quote update ids and bar starts strictly increase: a repeated or late
  message is dropped and counted (``duplicates_dropped``), so timestamps never go back;
- after a lost connection, the trades missed are fetched over REST when the first trade
  on the new connection shows a gap: from ``aggTrades`` by id when aggregates are the
  source (complete, up to ``tick_backfill_pages`` pages), from the most recent 1000
  ``trades`` when trades are (complete when that window reaches back to the last trade
  seen; otherwise what it holds is sent and the gap counted in ``tick_gaps_unfilled``).
  Quotes are not backfilled: the next quote replaces every missed one.

A backfill that fails (REST unreachable, rate limited...) gives up the connection: the
message that needed it is not emitted, and the next connection, after a backoff,
backfills again from the same point. Nothing is emitted out of order to make progress.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

import aiohttp
import msgspec
import structlog

from actors.intervals import INTERVALS
from actors.messages import Bar, BarUpdate, Message, QuoteTick, Side, TradeTick
from venues.binance.errors import BinanceError
from venues.binance.rest import AggTrade, BinanceRest, Kline, PublicTrade
from venues.binance.ws import Connected, ReconnectPolicy, Sleep, StreamClient

__all__ = [
    "BINANCE_WS_URL",
    "DEFAULT_STREAMS",
    "MAX_STREAMS",
    "AggTradePayload",
    "BinanceMarketStream",
    "BookTickerPayload",
    "KlineData",
    "KlinePayload",
    "MarketStreamStatistics",
    "TradePayload",
    "agg_trade_tick",
    "closed_bar_update",
    "decode_payload",
    "open_bar_update",
    "quote_tick",
    "stream_url",
    "trade_tick",
]

log = structlog.get_logger(__name__)

BINANCE_WS_URL: Final = "wss://stream.binance.com:9443"
DEFAULT_STREAMS: Final = ("trade", "aggTrade", "kline_1m", "bookTicker")
MAX_STREAMS: Final = 1024
"""Binance: a single connection can listen to a maximum of 1024 streams."""
DEFAULT_TICK_BACKFILL_PAGES: Final = 10
_MS: Final = 1_000_000
_REST_PAGE: Final = 1000
"""The most rows klines, trades and aggTrades answer with at once."""
_KLINE: Final = "kline_"


# --- payloads (field names as Binance documents them) ---------------------------------


class _TradeEvent(msgspec.Struct, frozen=True, kw_only=True):
    """The fields ``trade`` and ``aggTrade`` events share."""

    event_time: int = msgspec.field(name="E")
    symbol: str = msgspec.field(name="s")
    price: float = msgspec.field(name="p")
    quantity: float = msgspec.field(name="q")
    trade_time: int = msgspec.field(name="T")
    buyer_is_maker: bool = msgspec.field(name="m")


class TradePayload(_TradeEvent, frozen=True, kw_only=True):
    """``<symbol>@trade``."""

    trade_id: int = msgspec.field(name="t")


class AggTradePayload(_TradeEvent, frozen=True, kw_only=True):
    """``<symbol>@aggTrade``: trades ``first_trade_id..last_trade_id`` at one price."""

    agg_trade_id: int = msgspec.field(name="a")
    first_trade_id: int = msgspec.field(name="f")
    last_trade_id: int = msgspec.field(name="l")


class BookTickerPayload(msgspec.Struct, frozen=True, kw_only=True):
    """``<symbol>@bookTicker``. Spot sends no time; other markets (and older recordings)
    add the transaction and event times."""

    update_id: int = msgspec.field(name="u")
    symbol: str = msgspec.field(name="s")
    bid: float = msgspec.field(name="b")
    bid_size: float = msgspec.field(name="B")
    ask: float = msgspec.field(name="a")
    ask_size: float = msgspec.field(name="A")
    transaction_time: int = msgspec.field(default=0, name="T")
    event_time: int = msgspec.field(default=0, name="E")


class KlineData(msgspec.Struct, frozen=True, kw_only=True):
    """The ``k`` object of a kline event; ``close_time`` is the bar's last millisecond."""

    start: int = msgspec.field(name="t")
    close_time: int = msgspec.field(name="T")
    interval: str = msgspec.field(name="i")
    open: float = msgspec.field(name="o")
    close: float = msgspec.field(name="c")
    high: float = msgspec.field(name="h")
    low: float = msgspec.field(name="l")
    volume: float = msgspec.field(name="v")
    trades: int = msgspec.field(name="n")
    closed: bool = msgspec.field(name="x")
    quote_volume: float = msgspec.field(name="q")


class KlinePayload(msgspec.Struct, frozen=True, kw_only=True):
    """``<symbol>@kline_<interval>``."""

    event_time: int = msgspec.field(name="E")
    symbol: str = msgspec.field(name="s")
    kline: KlineData = msgspec.field(name="k")


class _Envelope(msgspec.Struct, frozen=True):
    stream: str
    data: msgspec.Raw


Payload = TradePayload | AggTradePayload | BookTickerPayload | KlinePayload

# Lax: Binance sends prices and quantities as strings, which float fields take only so.
_ENVELOPE: Final = msgspec.json.Decoder(_Envelope)
_DECODERS: Final[dict[str, msgspec.json.Decoder[Payload]]] = {
    "trade": msgspec.json.Decoder(TradePayload, strict=False),
    "aggTrade": msgspec.json.Decoder(AggTradePayload, strict=False),
    "bookTicker": msgspec.json.Decoder(BookTickerPayload, strict=False),
    _KLINE: msgspec.json.Decoder(KlinePayload, strict=False),
}


def decode_payload(kind: str, data: bytes | str) -> Payload:
    """The payload of a stream of ``kind`` (``trade``, ``aggTrade``, ``bookTicker``,
    ``kline_<interval>``); ``msgspec.DecodeError`` when it is not that shape."""
    return _DECODERS[_KLINE if kind.startswith(_KLINE) else kind].decode(data)


# --- into the catalog -------------------------------------------------------------------


def _aggressor(buyer_is_maker: bool) -> Side:
    return Side.SELL if buyer_is_maker else Side.BUY


def _event_tick(symbol: str, payload: _TradeEvent, trade_id: int) -> TradeTick:
    return TradeTick(
        ts=payload.trade_time * _MS,
        symbol=symbol,
        price=payload.price,
        size=payload.quantity,
        aggressor=_aggressor(payload.buyer_is_maker),
        trade_id=str(trade_id),
    )


def trade_tick(symbol: str, payload: TradePayload) -> TradeTick:
    return _event_tick(symbol, payload, payload.trade_id)


def agg_trade_tick(symbol: str, payload: AggTradePayload) -> TradeTick:
    return _event_tick(symbol, payload, payload.agg_trade_id)


def quote_tick(symbol: str, payload: BookTickerPayload, received_ns: int) -> QuoteTick:
    """``received_ns`` is used when the payload has no time of its own (spot)."""
    venue_ms = payload.transaction_time or payload.event_time
    return QuoteTick(
        ts=venue_ms * _MS if venue_ms else received_ns,
        symbol=symbol,
        bid=payload.bid,
        bid_size=payload.bid_size,
        ask=payload.ask,
        ask_size=payload.ask_size,
    )


def open_bar_update(symbol: str, interval: str, start_ms: int, open_price: float) -> BarUpdate:
    """The open update of a bar, exactly as ``actors.feed`` makes it."""
    start = start_ms * _MS
    bar = Bar(
        ts=start + INTERVALS[interval], symbol=symbol, interval=interval, start=start,
        open=open_price, high=open_price, low=open_price, close=open_price, volume=0.0,
        trades=0, vwap=open_price,
    )  # fmt: skip
    return BarUpdate(ts=start, closed=False, bar=bar)


def closed_bar_update(
    symbol: str,
    interval: str,
    start_ms: int,
    ohlc: tuple[float, float, float, float],
    volume: float,
    trades: int,
    quote_volume: float,
) -> BarUpdate:
    """The closed update of a bar; vwap is quote volume / volume (the close without
    volume), kept inside [low, high] as the feed keeps it."""
    open_, high, low, close = ohlc
    vwap = min(max(quote_volume / volume, low), high) if volume > 0 else close
    start = start_ms * _MS
    ts = start + INTERVALS[interval]
    bar = Bar(
        ts=ts, symbol=symbol, interval=interval, start=start, open=open_, high=high, low=low,
        close=close, volume=volume, trades=trades, vwap=vwap,
    )  # fmt: skip
    return BarUpdate(ts=ts, closed=True, bar=bar)


def _streamed_bar(symbol: str, interval: str, k: KlineData) -> BarUpdate:
    ohlc = (k.open, k.high, k.low, k.close)
    return closed_bar_update(symbol, interval, k.start, ohlc, k.volume, k.trades, k.quote_volume)


def _rest_bar(symbol: str, interval: str, row: Kline) -> BarUpdate:
    ohlc = (row.open, row.high, row.low, row.close)
    return closed_bar_update(
        symbol, interval, row.open_time, ohlc, row.volume, row.trades, row.quote_volume
    )


def _public_tick(symbol: str, row: PublicTrade) -> TradeTick:
    return TradeTick(
        ts=row.time * _MS, symbol=symbol, price=row.price, size=row.qty,
        aggressor=_aggressor(row.is_buyer_maker), trade_id=str(row.id),
    )  # fmt: skip


def _aggregate_tick(symbol: str, row: AggTrade) -> TradeTick:
    return TradeTick(
        ts=row.time * _MS, symbol=symbol, price=row.price, size=row.quantity,
        aggressor=_aggressor(row.buyer_is_maker), trade_id=str(row.agg_trade_id),
    )  # fmt: skip


# --- the stream -------------------------------------------------------------------------


def stream_url(ws_url: str, symbols: Sequence[str], streams: Sequence[str]) -> str:
    """The combined-stream URL of ``streams`` for every symbol (names lower case)."""
    names = [f"{symbol.lower()}@{kind}" for symbol in symbols for kind in streams]
    return f"{ws_url.rstrip('/')}/stream?streams={'/'.join(names)}"


@dataclass(frozen=True, slots=True)
class MarketStreamStatistics:
    """A stream's counters. ``reconnects``: lost connections replaced; ``planned_reconnects``:
    rotations before the 24-hour cut; ``messages``: data frames received; ``emitted``:
    catalog messages yielded; ``duplicates_dropped``: repeated or out-of-order messages
    (trade id, update id or kline start not after the last); ``bars_backfilled`` /
    ``ticks_backfilled``: gap fills over REST; ``ignored``: frames not used (aggTrade beside
    trade, unknown or malformed frames); ``last_message_age``: seconds since the last data
    frame."""

    connections: int
    reconnects: int
    planned_reconnects: int
    failed_connects: int
    messages: int
    emitted: int
    duplicates_dropped: int
    bars_backfilled: int
    ticks_backfilled: int
    tick_gaps_unfilled: int
    backfill_failures: int
    ignored: int
    last_message_age: float | None


class _Series:
    """One kline series: the last bar opened and the last closed (start ms)."""

    __slots__ = ("interval", "last_closed", "last_open", "step_ms")

    def __init__(self, interval: str, last_closed: int | None) -> None:
        self.interval = interval
        self.step_ms = INTERVALS[interval] // _MS
        self.last_closed = last_closed
        self.last_open: int | None = last_closed

    def next_due(self) -> int | None:
        """Start of the next bar to close: after the last closed, else the one open."""
        if self.last_closed is not None:
            return self.last_closed + self.step_ms
        return self.last_open


class _Symbol:
    __slots__ = ("last_quote", "last_quote_ts", "last_trade", "series", "tick_gap_possible")

    def __init__(self) -> None:
        self.last_trade: int | None = None
        self.last_quote: int | None = None
        self.last_quote_ts = 0
        self.tick_gap_possible = False
        self.series: dict[str, _Series] = {}


class BinanceMarketStream(StreamClient):
    """Market data of ``symbols`` from one combined stream; see the module docstring.

    ``resume_after`` gives, per (symbol, interval), the start (ns) of the last closed bar
    the caller already has: the first kline message then backfills from the bar after it.
    ``rng`` and ``sleep`` pace reconnects (seeded and instant in tests); ``now_ns`` is the
    server clock for quotes without a time (by default the REST client's estimate, which
    is the local clock until ``rest.sync_time()`` has measured the offset).

    Use ``async with stream: async for message in stream: ...``.
    """

    def __init__(
        self,
        ws_url: str,
        rest: BinanceRest,
        symbols: Sequence[str],
        *,
        streams: Sequence[str] = DEFAULT_STREAMS,
        session: aiohttp.ClientSession | None = None,
        policy: ReconnectPolicy | None = None,
        rng: random.Random | None = None,
        sleep: Sleep = asyncio.sleep,
        now_ns: Callable[[], int] | None = None,
        resume_after: Mapping[tuple[str, str], int] | None = None,
        tick_backfill_pages: int = DEFAULT_TICK_BACKFILL_PAGES,
    ) -> None:
        self.symbols = tuple(dict.fromkeys(symbol.upper() for symbol in symbols))
        self.streams = tuple(dict.fromkeys(streams))
        if not self.symbols or not self.streams:
            raise ValueError("a market stream needs at least one symbol and one stream")
        for kind in self.streams:
            _check_kind(kind)
        if len(self.symbols) * len(self.streams) > MAX_STREAMS:
            raise ValueError(f"Binance allows at most {MAX_STREAMS} streams on a connection")
        if tick_backfill_pages < 1:
            raise ValueError(f"tick_backfill_pages must be >= 1, got {tick_backfill_pages}")
        super().__init__(session=session, policy=policy, rng=rng, sleep=sleep)
        self.url = stream_url(ws_url, self.symbols, self.streams)
        self._rest = rest
        self._now_ns = now_ns or (lambda: rest.server_now_ms() * _MS)
        self._pages = tick_backfill_pages
        self._tick_kind = "trade" if "trade" in self.streams else "aggTrade"
        self._routes: dict[str, tuple[str, str]] = {
            f"{symbol.lower()}@{kind}": (symbol, kind)
            for symbol in self.symbols
            for kind in self.streams
        }
        resume = resume_after or {}
        self._state: dict[str, _Symbol] = {}
        for symbol in self.symbols:
            state = self._state[symbol] = _Symbol()
            for kind in self.streams:
                if kind.startswith(_KLINE):
                    interval = kind[len(_KLINE) :]
                    after = resume.get((symbol, interval))
                    state.series[interval] = _Series(
                        interval, None if after is None else after // _MS
                    )
        self._emitted = 0
        self._duplicates = 0
        self._bars_backfilled = 0
        self._ticks_backfilled = 0
        self._tick_gaps_unfilled = 0
        self._backfill_failures = 0
        self._ignored = 0

    def statistics(self) -> MarketStreamStatistics:
        return MarketStreamStatistics(
            **self._socket_statistics(),
            emitted=self._emitted,
            duplicates_dropped=self._duplicates,
            bars_backfilled=self._bars_backfilled,
            ticks_backfilled=self._ticks_backfilled,
            tick_gaps_unfilled=self._tick_gaps_unfilled,
            backfill_failures=self._backfill_failures,
            ignored=self._ignored,
        )

    def __aiter__(self) -> AsyncIterator[Message]:
        return self.messages()

    async def messages(self) -> AsyncIterator[Message]:
        """The catalog messages, in order, until the stream is closed."""
        socket = self._open_socket(self.url, name="binance-market", what="market stream")
        async for item in socket.frames():
            if isinstance(item, Connected):
                if item.after_loss:
                    for state in self._state.values():
                        state.tick_gap_possible = True
                continue
            try:
                out = await self._on_frame(item)
            except BinanceError as error:
                self._backfill_failures += 1
                log.warning("binance_backfill_failed", error=str(error))
                socket.drop(f"backfill failed: {error}")
                continue
            for message in out:
                self._emitted += 1
                yield message

    # --- frames -----------------------------------------------------------------------------

    async def _on_frame(self, frame: str) -> list[Message]:
        try:
            envelope = _ENVELOPE.decode(frame)
            route = self._routes.get(envelope.stream)
            if route is None:
                self._ignore(frame, "unknown stream")
                return []
            symbol, kind = route
            if kind == "aggTrade" and self._tick_kind == "trade":
                self._ignored += 1  # the same trades as the trade stream: never twice
                return []
            payload = decode_payload(kind, envelope.data)
        except msgspec.DecodeError:
            self._ignore(frame, "not a stream message")
            return []
        state = self._state[symbol]
        if isinstance(payload, KlinePayload):
            return await self._on_kline(symbol, state.series[kind[len(_KLINE) :]], payload.kline)
        if isinstance(payload, TradePayload):
            tick = trade_tick(symbol, payload)
            return await self._on_tick(symbol, state, payload.trade_id, tick)
        if isinstance(payload, AggTradePayload):
            tick = agg_trade_tick(symbol, payload)
            return await self._on_tick(symbol, state, payload.agg_trade_id, tick)
        return self._on_quote(symbol, state, payload)

    def _ignore(self, frame: str, why: str) -> None:
        self._ignored += 1
        log.warning("binance_stream_frame_ignored", why=why, frame=frame[:200])

    def _on_quote(self, symbol: str, state: _Symbol, payload: BookTickerPayload) -> list[Message]:
        if state.last_quote is not None and payload.update_id <= state.last_quote:
            self._duplicates += 1
            return []
        state.last_quote = payload.update_id
        quote = quote_tick(symbol, payload, self._now_ns())
        if quote.ts < state.last_quote_ts:
            quote = msgspec.structs.replace(quote, ts=state.last_quote_ts)
        state.last_quote_ts = quote.ts
        return [quote]

    async def _on_tick(
        self, symbol: str, state: _Symbol, trade_id: int, tick: TradeTick
    ) -> list[Message]:
        last = state.last_trade
        if last is not None and trade_id <= last:
            self._duplicates += 1
            return []
        out: list[Message] = []
        if state.tick_gap_possible and last is not None and trade_id > last + 1:
            out.extend(await self._backfill_ticks(symbol, last, trade_id))
        state.tick_gap_possible = False
        state.last_trade = trade_id
        out.append(tick)
        return out

    async def _on_kline(self, symbol: str, series: _Series, k: KlineData) -> list[Message]:
        start = k.start
        due = series.next_due()
        if due is not None and start < due:
            self._duplicates += 1  # a bar already closed here: repeated or late
            return []
        out: list[Message] = []
        if due is not None and start > due:
            out.extend(await self._backfill_bars(symbol, series, due, start))
        if k.closed:
            out.append(_streamed_bar(symbol, series.interval, k))
            series.last_closed = start
            series.last_open = max(series.last_open or start, start)
        elif series.last_open is None or start > series.last_open:
            out.append(open_bar_update(symbol, series.interval, start, k.open))
            series.last_open = start
        return out

    # --- backfill ---------------------------------------------------------------------------

    async def _backfill_bars(
        self, symbol: str, series: _Series, first: int, end: int
    ) -> list[Message]:
        """The closed bars of ``[first, end)`` (ms starts) from REST, oldest first."""
        out: list[Message] = []
        cursor = first
        while cursor < end:
            rows = await self._rest.klines(
                symbol, series.interval, start_ms=cursor, end_ms=end - 1, limit=_REST_PAGE
            )
            page_start = cursor
            for row in rows:
                if cursor <= row.open_time < end:
                    out.append(_rest_bar(symbol, series.interval, row))
                    cursor = row.open_time + series.step_ms
            if len(rows) < _REST_PAGE or cursor == page_start:
                break
        # Every start before ``end`` is now settled: backfilled, or missing at the venue
        # (asking again on the next message would find nothing more).
        settled = end - series.step_ms
        series.last_closed = settled
        series.last_open = max(series.last_open or settled, settled)
        self._bars_backfilled += len(out)
        missing = (end - first) // series.step_ms - len(out)
        log.info(
            "binance_bars_backfilled",
            symbol=symbol,
            interval=series.interval,
            first_ms=first,
            end_ms=end,
            bars=len(out),
            missing_at_venue=missing,
        )
        return out

    async def _backfill_ticks(self, symbol: str, last: int, first_new: int) -> list[Message]:
        """The trades after ``last`` and before ``first_new`` (ids) from REST."""
        if self._tick_kind == "trade":
            rows = await self._rest.trades(symbol, limit=_REST_PAGE)
            ticks: list[Message] = [
                _public_tick(symbol, row) for row in rows if last < row.id < first_new
            ]
            complete = bool(rows) and rows[0].id <= last
        else:
            ticks, complete = await self._backfill_aggregates(symbol, last, first_new)
        self._ticks_backfilled += len(ticks)
        if not complete:
            self._tick_gaps_unfilled += 1
            log.warning(
                "binance_tick_gap_unfilled", symbol=symbol, after_id=last, before_id=first_new,
                filled=len(ticks), source=self._tick_kind,
            )  # fmt: skip
        else:
            log.info("binance_ticks_backfilled", symbol=symbol, ticks=len(ticks))
        return ticks

    async def _backfill_aggregates(
        self, symbol: str, last: int, first_new: int
    ) -> tuple[list[Message], bool]:
        ticks: list[Message] = []
        cursor = last + 1
        for _ in range(self._pages):
            rows = await self._rest.agg_trades(symbol, from_id=cursor, limit=_REST_PAGE)
            for row in rows:
                if row.agg_trade_id >= first_new:
                    return ticks, True
                if row.agg_trade_id >= cursor:
                    ticks.append(_aggregate_tick(symbol, row))
                    cursor = row.agg_trade_id + 1
            if len(rows) < _REST_PAGE:
                return ticks, True
        return ticks, False


def _check_kind(kind: str) -> None:
    if kind in ("trade", "aggTrade", "bookTicker"):
        return
    if kind.startswith(_KLINE) and kind[len(_KLINE) :] in INTERVALS:
        return
    known = ", ".join(f"kline_{name}" for name in INTERVALS)
    raise ValueError(f"unsupported stream {kind!r}: trade, aggTrade, bookTicker or {known}")
