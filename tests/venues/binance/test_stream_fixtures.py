"""Every real Binance WebSocket payload under shared/fixtures/real/binance_ws/ that the
streams read parses into the catalog's messages, with values checked against the files;
the recorded combined-stream frames go through a whole market stream."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from actors.messages import Bar, BarUpdate, OrderStatus, QuoteTick, Side, TradeTick
from tests.shared_fixtures import shared_fixtures
from tests.venues.binance.stream_helpers import MS, POLICY, Reader, no_wait, wait_until
from venues.binance.rest import BinanceRest
from venues.binance.stream import (
    AggTradePayload,
    BinanceMarketStream,
    BookTickerPayload,
    KlinePayload,
    TradePayload,
    agg_trade_tick,
    closed_bar_update,
    decode_payload,
    open_bar_update,
    quote_tick,
    trade_tick,
)
from venues.binance.user_stream import (
    AccountPositionPayload,
    AssetBalance,
    BalanceDelta,
    BalanceUpdatePayload,
    ExecutionReportPayload,
    account_position,
    balance_delta,
    decode_user_event,
    reports_from_event,
)

# Payloads the adapter does not subscribe to (depth, tickers) or of another market.
NOT_USED = {
    "spot_docs_examples/diff_depth.json",
    "spot_docs_examples/partial_depth.json",
    "spot_docs_examples/ticker_24hr.json",
    "recorded/futures_trade_lite.json",
}


def _root() -> Path:
    return shared_fixtures() / "binance_ws"


def _raw(name: str) -> bytes:
    return (_root() / name).read_bytes()


def _json(name: str) -> Any:
    return json.loads(_raw(name))


def test_every_fixture_is_parsed_here_or_known_unused() -> None:
    names = {path.relative_to(_root()).as_posix() for path in _root().rglob("*.json")}
    parsed = {
        "spot_docs_examples/trade.json", "spot_docs_examples/agg_trade.json",
        "spot_docs_examples/book_ticker.json", "spot_docs_examples/kline.json",
        "spot_docs_examples/execution_report.json",
        "spot_docs_examples/outbound_account_position.json",
        "spot_docs_examples/balance_update.json", "recorded/spot_trade_combined.json",
        "recorded/spot_agg_trade_combined.json", "recorded/spot_book_ticker_combined.json",
    }  # fmt: skip
    assert names == parsed | NOT_USED


def test_the_docs_trade_is_a_trade_tick_sold_into_the_bid() -> None:
    payload = decode_payload("trade", _raw("spot_docs_examples/trade.json"))
    assert isinstance(payload, TradePayload)
    assert trade_tick("BNBBTC", payload) == TradeTick(
        ts=1672515782136 * MS, symbol="BNBBTC", price=0.001, size=100.0,
        aggressor=Side.SELL, trade_id="12345",
    )  # fmt: skip


def test_the_docs_aggregate_trade_is_one_tick_of_its_total() -> None:
    payload = decode_payload("aggTrade", _raw("spot_docs_examples/agg_trade.json"))
    assert isinstance(payload, AggTradePayload)
    assert (payload.first_trade_id, payload.last_trade_id) == (100, 105)
    assert agg_trade_tick("BNBBTC", payload) == TradeTick(
        ts=1672515782136 * MS, symbol="BNBBTC", price=0.001, size=100.0,
        aggressor=Side.SELL, trade_id="12345",
    )  # fmt: skip


def test_the_docs_book_ticker_has_no_time_so_the_receive_time_is_used() -> None:
    payload = decode_payload("bookTicker", _raw("spot_docs_examples/book_ticker.json"))
    assert isinstance(payload, BookTickerPayload)
    assert payload.update_id == 400900217
    assert quote_tick("BNBUSDT", payload, received_ns=42) == QuoteTick(
        ts=42, symbol="BNBUSDT", bid=25.3519, bid_size=31.21, ask=25.3652, ask_size=40.66
    )


def test_the_docs_kline_in_progress_opens_its_bar_and_would_close_with_its_values() -> None:
    payload = decode_payload("kline_1m", _raw("spot_docs_examples/kline.json"))
    assert isinstance(payload, KlinePayload)
    k = payload.kline
    assert (k.start, k.close_time, k.interval, k.closed) == (
        1672515780000, 1672515839999, "1m", False
    )  # fmt: skip
    start, end = 1672515780000 * MS, 1672515840000 * MS
    assert open_bar_update("BNBBTC", "1m", k.start, k.open) == BarUpdate(
        ts=start, closed=False,
        bar=Bar(
            ts=end, symbol="BNBBTC", interval="1m", start=start, open=0.001, high=0.001,
            low=0.001, close=0.001, volume=0.0, trades=0, vwap=0.001,
        ),
    )  # fmt: skip
    ohlc = (k.open, k.high, k.low, k.close)
    closed = closed_bar_update("BNBBTC", "1m", k.start, ohlc, k.volume, k.trades, k.quote_volume)
    assert closed.ts == closed.bar.ts == end and closed.closed
    assert (closed.bar.volume, closed.bar.trades) == (1000.0, 100)
    # q / v = 0.001 lies below the low (the docs' numbers are illustrative): kept inside.
    assert closed.bar.vwap == 0.0015


def test_the_docs_execution_report_is_an_acceptance() -> None:
    wrapped = decode_user_event(_raw("spot_docs_examples/execution_report.json"))
    bare = decode_user_event(json.dumps(_json("spot_docs_examples/execution_report.json")["event"]))
    assert isinstance(wrapped, ExecutionReportPayload) and wrapped == bare
    (report,) = reports_from_event(wrapped)
    assert (report.ts, report.client_order_id, report.venue_order_id) == (
        1499405658657 * MS, "mUvoqJxFIILMdfAW5iGSOW", "4293153"
    )  # fmt: skip
    assert (report.symbol, report.side, report.status) == ("ETHBTC", Side.BUY, OrderStatus.ACCEPTED)
    assert wrapped.quantity == Decimal("1.00000000") and wrapped.price == Decimal("0.10264410")


def test_the_docs_account_position_keeps_the_exact_decimals() -> None:
    event = decode_user_event(_raw("spot_docs_examples/outbound_account_position.json"))
    assert isinstance(event, AccountPositionPayload)
    position = account_position(event)
    assert position.ts == 1564034571105 * MS
    assert position.balances == {
        "ETH": AssetBalance(free=Decimal("10000.000000"), locked=Decimal("0.000000"))
    }
    assert str(position.balances["ETH"].free) == "10000.000000"


def test_the_docs_balance_update_is_a_delta() -> None:
    event = decode_user_event(_raw("spot_docs_examples/balance_update.json"))
    assert isinstance(event, BalanceUpdatePayload)
    assert balance_delta(event) == BalanceDelta(
        ts=1573200697068 * MS, venue="binance", asset="BTC", delta=Decimal("100.00000000")
    )


def test_an_event_type_the_adapter_does_not_use_is_none() -> None:
    assert decode_user_event(b'{"e":"externalLockUpdate","E":1}') is None


class _Replayer:
    """Serves ``/stream`` sending the given frames on every connection."""

    def __init__(self, frames: list[bytes]) -> None:
        self.frames = frames
        app = web.Application()
        app.router.add_get("/stream", self._serve)
        self.server = TestServer(app)

    async def _serve(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        for frame in self.frames:
            await ws.send_str(frame.decode())
        async for _ in ws:
            pass
        return ws

    @property
    def url(self) -> str:
        return str(self.server.make_url("")).replace("http", "ws", 1).rstrip("/")


@pytest.fixture
async def recorded() -> AsyncIterator[_Replayer]:
    names = ("spot_trade_combined", "spot_agg_trade_combined", "spot_book_ticker_combined")
    replayer = _Replayer([_raw(f"recorded/{name}.json") for name in names])
    await replayer.server.start_server()
    try:
        yield replayer
    finally:
        await replayer.server.close()


@pytest.mark.parametrize(
    ("streams", "trade_id"),
    [(("trade", "aggTrade", "bookTicker"), "705291099"), (("aggTrade",), "226532")],
)
async def test_recorded_combined_frames_come_out_of_a_stream_as_ticks(
    recorded: _Replayer, streams: tuple[str, ...], trade_id: str
) -> None:
    async with (
        BinanceRest("http://127.0.0.1:9") as rest,
        BinanceMarketStream(
            recorded.url, rest, ["ETHUSDT"], streams=streams, policy=POLICY, sleep=no_wait,
            now_ns=lambda: 7,
        ) as stream,
    ):  # fmt: skip
        reader = Reader(stream)
        expected = 2 if "bookTicker" in streams else 1
        await wait_until(lambda: len(reader.items) == expected, "the recorded messages")
        await reader.stop()
    trade = reader.items[0]
    assert isinstance(trade, TradeTick) and trade.trade_id == trade_id
    assert trade.symbol == "ETHUSDT"
    if "bookTicker" in streams:
        # aggTrade beside trade is the same trades again: skipped, not counted twice.
        assert stream.statistics().ignored == 1
        assert reader.items[1] == QuoteTick(
            ts=1646199228121 * MS, symbol="ETHUSDT", bid=4507.24, bid_size=2.3595,
            ask=4507.25, ask_size=2.8457,
        )  # fmt: skip
    else:
        assert trade.ts == 1675759520847 * MS and trade.aggressor is Side.BUY
