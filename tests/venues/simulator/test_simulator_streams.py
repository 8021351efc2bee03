"""WebSocket streams: market data in order, the user data stream's events, connection rules."""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from decimal import Decimal
from typing import Any

import aiohttp
import httpx
import pytest

from tests.venues.simulator.helpers import Api, paused, receive_json
from venues.simulator import Simulator, run_simulator
from venues.simulator.faults import plan_from_mapping

MINUTE = 60_000
ALL_STREAMS = "btcusdt@trade/btcusdt@aggTrade/btcusdt@bookTicker/btcusdt@kline_1m"


async def collect(
    ws: aiohttp.ClientWebSocketResponse, count: int, timeout: float = 3.0
) -> list[Any]:
    return [await receive_json(ws, timeout) for _ in range(count)]


def check_order(messages: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Per stream: event times (update ids for bookTicker) strictly increase."""
    by_stream: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for message in messages:
        by_stream[message["stream"]].append(message["data"])
    for stream, items in by_stream.items():
        keys = [item["u"] if stream.endswith("bookTicker") else item["E"] for item in items]
        assert keys == sorted(set(keys)), f"{stream} is not strictly increasing"
    return by_stream


async def test_combined_streams_replay_bars_as_trades_quotes_and_klines(
    sim: Simulator, session: aiohttp.ClientSession
) -> None:
    async with session.ws_connect(f"{sim.ws_url}/stream?streams={ALL_STREAMS}") as ws:
        start = sim.now_ms()
        await sim.advance(10 * MINUTE)
        messages = await collect(ws, 10 * 17)  # per bar: 4 trades x 4 messages + the final kline
    by_stream = check_order(messages)
    trades = by_stream["btcusdt@trade"]
    assert len(trades) == 40
    assert [t["t"] for t in trades] == list(range(trades[0]["t"], trades[0]["t"] + 40))
    assert all(start < t["T"] <= start + 10 * MINUTE for t in trades)
    assert [a["a"] for a in by_stream["btcusdt@aggTrade"]] == [t["t"] for t in trades]
    finals = [k["k"] for k in by_stream["btcusdt@kline_1m"] if k["k"]["x"]]
    assert [k["t"] for k in finals] == [start + i * MINUTE for i in range(10)]
    quotes = by_stream["btcusdt@bookTicker"]
    assert all(
        Decimal(q["b"]) < Decimal(t["p"]) < Decimal(q["a"])
        for q, t in zip(quotes, trades, strict=True)
    )


async def test_the_final_klines_equal_the_klines_rest_serves(
    sim: Simulator, api: Api, session: aiohttp.ClientSession
) -> None:
    async with session.ws_connect(f"{sim.ws_url}/stream?streams=btcusdt@kline_1m") as ws:
        start = sim.now_ms()
        await sim.advance(5 * MINUTE)
        updates = await collect(ws, 5 * 5)
    finals = [u["data"]["k"] for u in updates if u["data"]["k"]["x"]]
    params = {"symbol": "BTCUSDT", "interval": "1m", "startTime": start, "limit": 5}
    rows = (await api.public("/api/v3/klines", params)).json()
    streamed = [
        [
            k["t"],
            k["o"],
            k["h"],
            k["l"],
            k["c"],
            k["v"],
            k["T"],
            k["q"],
            k["n"],
            k["V"],
            k["Q"],
            "0",
        ]
        for k in finals
    ]
    assert streamed == rows


async def test_the_trades_of_a_bar_walk_its_open_high_low_and_close(
    sim: Simulator, api: Api, session: aiohttp.ClientSession
) -> None:
    async with session.ws_connect(f"{sim.ws_url}/ws/btcusdt@trade") as ws:
        start = sim.now_ms()
        await sim.advance(MINUTE)
        trades = await collect(ws, 4)
    assert all("stream" not in t for t in trades)  # a raw stream: bare payloads
    params = {"symbol": "BTCUSDT", "interval": "1m", "startTime": start, "limit": 1}
    (row,) = (await api.public("/api/v3/klines", params)).json()
    prices = [t["p"] for t in trades]
    assert (prices[0], max(prices, key=Decimal), min(prices, key=Decimal), prices[-1]) == tuple(
        row[1:5]
    )
    assert sum(Decimal(t["q"]) for t in trades) == Decimal(row[5])


async def test_streams_stay_in_order_when_the_clock_runs_fast(
    session: aiohttp.ClientSession,
) -> None:
    async with (
        run_simulator(paused(start_paused=False, speed=60 * 200)) as sim,
        session.ws_connect(f"{sim.ws_url}/stream?streams={ALL_STREAMS}") as ws,
    ):
        messages = await collect(ws, 400)
        assert sim.now_ms() >= messages[-1]["data"].get("E", 0)
    by_stream = check_order(messages)
    assert len(by_stream) == 4


async def test_subscribe_list_and_unsubscribe(
    sim: Simulator, session: aiohttp.ClientSession
) -> None:
    async with session.ws_connect(f"{sim.ws_url}/ws") as ws:
        await ws.send_json({"method": "SUBSCRIBE", "params": ["btcusdt@aggTrade"], "id": 1})
        assert await receive_json(ws) == {"result": None, "id": 1}
        await ws.send_json({"method": "LIST_SUBSCRIPTIONS", "id": 2})
        assert await receive_json(ws) == {"result": ["btcusdt@aggTrade"], "id": 2}
        await sim.advance(10_000)
        assert (await receive_json(ws))["e"] == "aggTrade"
        await ws.send_json({"method": "UNSUBSCRIBE", "params": ["btcusdt@aggTrade"], "id": 3})
        assert await receive_json(ws) == {"result": None, "id": 3}
        await ws.send_json({"method": "SUBSCRIBE", "params": ["nope@trade"], "id": 4})
        answer = await receive_json(ws)
        assert answer["id"] == 4 and answer["error"]["code"] == 2


async def test_an_unknown_stream_is_refused(sim: Simulator, session: aiohttp.ClientSession) -> None:
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await session.ws_connect(f"{sim.ws_url}/stream?streams=btcusdt@depth")
    assert refused.value.status == 400


async def test_the_server_pings_and_closes_connections_after_their_lifetime(
    session: aiohttp.ClientSession,
) -> None:
    config = paused(ping_interval_seconds=0.05, max_connection_seconds=0.3)
    async with (
        run_simulator(config) as sim,
        session.ws_connect(f"{sim.ws_url}/ws/btcusdt@trade", autoping=False) as ws,
    ):
        ping = await ws.receive(timeout=1.0)
        assert ping.type == aiohttp.WSMsgType.PING
        await ws.pong(ping.data)
        while (message := await ws.receive(timeout=2.0)).type == aiohttp.WSMsgType.PING:
            await ws.pong(message.data)
        assert message.type == aiohttp.WSMsgType.CLOSE
        assert message.data == 1001


# --- the user data stream ---------------------------------------------------------------


def _through_price(sim: Simulator, minutes: int) -> str:
    """A buy limit price the next ``minutes`` bars trade through, below the bid."""
    data = sim.replay.series["BTCUSDT"]
    first = data.index_at(sim.now_ms())
    low = min(data.low[first : first + minutes])
    _, bid, _ = sim.engine.book("BTCUSDT")
    price = Decimal(repr(low)).quantize(Decimal("0.01")) + Decimal("0.01")
    assert price < bid
    return str(price)


async def test_a_resting_order_reports_new_then_its_fill_then_the_balances(
    sim: Simulator, api: Api, session: aiohttp.ClientSession
) -> None:
    key = await api.listen_key()
    async with session.ws_connect(f"{sim.ws_url}/ws/{key}") as ws:
        price = _through_price(sim, 5)
        placed = await api.order(
            side="BUY", type="LIMIT", timeInForce="GTC", quantity="0.01", price=price,
            newClientOrderId="rest-1",
        )  # fmt: skip
        assert placed.json()["status"] == "NEW"
        new, locked = await collect(ws, 2)
        assert (new["e"], new["x"], new["X"], new["c"], new["p"]) == (
            "executionReport", "NEW", "NEW", "rest-1", f"{Decimal(price):.8f}"
        )  # fmt: skip
        assert new["w"] is True and new["t"] == -1
        assert locked["e"] == "outboundAccountPosition"
        assert [(b["a"], b["l"] != "0.00000000") for b in locked["B"]] == [("USDT", True)]
        await sim.advance(5 * MINUTE)
        fill, balances = await collect(ws, 2)
    assert (fill["x"], fill["X"], fill["l"], fill["z"], fill["L"]) == (
        "TRADE", "FILLED", "0.01000000", "0.01000000", f"{Decimal(price):.8f}"
    )  # fmt: skip
    assert fill["m"] is True and fill["t"] == 1
    # The buy paid its commission in what it received: 10 bps of 0.01 BTC.
    assert (fill["n"], fill["N"]) == ("0.00001000", "BTC")
    assert {b["a"]: b["f"] for b in balances["B"]}["BTC"] == "0.00999000"
    query = {"symbol": "BTCUSDT", "origClientOrderId": "rest-1"}
    assert (await api.signed("GET", "/api/v3/order", query)).json()["status"] == "FILLED"


async def test_cancel_and_expiry_are_reported_on_the_user_stream(
    sim: Simulator, api: Api, session: aiohttp.ClientSession
) -> None:
    key = await api.listen_key()
    _, bid, _ = sim.engine.book("BTCUSDT")
    async with session.ws_connect(f"{sim.ws_url}/ws/{key}") as ws:
        limit = {"side": "BUY", "type": "LIMIT", "quantity": "0.01", "price": str(bid - 500)}
        await api.order(**limit, timeInForce="GTC", newClientOrderId="c-1")
        await api.signed(
            "DELETE",
            "/api/v3/order",
            {"symbol": "BTCUSDT", "origClientOrderId": "c-1", "newClientOrderId": "x-1"},
        )
        await api.order(**limit, timeInForce="IOC", newClientOrderId="i-1")
        events = await collect(ws, 8)
    reports = [(e["x"], e["c"], e["C"]) for e in events if e["e"] == "executionReport"]
    assert reports == [
        ("NEW", "c-1", ""),
        ("CANCELED", "x-1", "c-1"),
        ("NEW", "i-1", ""),
        ("EXPIRED", "i-1", ""),
    ]
    positions = [e for e in events if e["e"] == "outboundAccountPosition"]
    assert len(positions) == 4 and positions[-1]["B"] == [
        {"a": "USDT", "f": "100000.00000000", "l": "0.00000000"}
    ]


async def test_a_dropped_user_stream_loses_what_happens_until_the_client_reconnects(
    sim: Simulator, api: Api, session: aiohttp.ClientSession
) -> None:
    key = await api.listen_key()
    _, bid, _ = sim.engine.book("BTCUSDT")
    limit = {"side": "BUY", "type": "LIMIT", "quantity": "0.01", "price": str(bid - 500)}
    async with session.ws_connect(f"{sim.ws_url}/ws/{key}") as ws:
        assert sim.disconnect_user_streams() == 1
        await api.order(**limit, timeInForce="GTC", newClientOrderId="lost-1")
        closed = await ws.receive(timeout=2.0)
        assert closed.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
    assert sim.disconnect_user_streams() == 0  # nobody connected
    assert await api.listen_key() == key  # the key outlived the connection
    async with session.ws_connect(f"{sim.ws_url}/ws/{key}") as ws:
        await api.order(**limit, timeInForce="GTC", newClientOrderId="seen-1")
        new, _balances = await collect(ws, 2)
    assert (new["x"], new["c"]) == ("NEW", "seen-1")  # lost-1's NEW never came
    query = {"symbol": "BTCUSDT", "origClientOrderId": "lost-1"}
    assert (await api.signed("GET", "/api/v3/order", query)).json()["status"] == "NEW"


async def test_a_listen_key_not_kept_alive_expires(session: aiohttp.ClientSession) -> None:
    async with run_simulator(paused(listen_key_ttl_seconds=0.2)) as sim:
        async with httpx.AsyncClient(base_url=sim.url) as client:
            key = await Api(sim, client).listen_key()
        async with session.ws_connect(f"{sim.ws_url}/ws/{key}") as ws:
            expired = await receive_json(ws, timeout=2.0)
            assert expired == {"e": "listenKeyExpired", "E": sim.now_ms(), "listenKey": key}
            assert (await ws.receive(timeout=2.0)).type == aiohttp.WSMsgType.CLOSE


async def test_same_seed_same_stream_bytes() -> None:
    """Two simulators from one config, faults included, stream identical frames."""

    async def frames(seed: int) -> list[str]:
        plan = {"seed": seed, "fault": [
            {"kind": "ws_drop", "rate": 0.05}, {"kind": "ws_duplicate", "rate": 0.05},
            {"kind": "ws_reorder", "rate": 0.05},
        ]}  # fmt: skip
        async with (
            run_simulator(paused(faults=plan_from_mapping(plan))) as sim,
            aiohttp.ClientSession() as client,
            client.ws_connect(f"{sim.ws_url}/stream?streams={ALL_STREAMS}") as ws,
        ):
            await sim.advance(10 * MINUTE)
            await ws.send_json({"method": "LIST_SUBSCRIPTIONS", "id": 9})
            received = []
            while True:
                message = await ws.receive(timeout=3.0)
                if json.loads(message.data).get("id") == 9:
                    return received
                received.append(message.data)

    first, second, other = await asyncio.gather(frames(3), frames(3), frames(4))
    assert first == second
    assert first != other
    assert 150 < len(first) < 190  # 170 sent, a few dropped or doubled
