"""Payload shapes: every answer and event has the field set of Binance's real examples.

The examples are the official documentation's and recorded responses under
shared/fixtures/real (PROVENANCE.md); the tests skip when they are absent.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.shared_fixtures import shared_fixtures
from tests.venues.simulator.helpers import Api, receive_json
from venues.simulator import Simulator

ALL_STREAMS = "btcusdt@trade/btcusdt@aggTrade/btcusdt@bookTicker/btcusdt@kline_1m"


def _fixture(relative: str) -> Any:
    path: Path = shared_fixtures() / relative
    if not path.is_file():
        pytest.skip(f"fixture {relative} not found")
    return json.loads(path.read_text())


def _rest(name: str) -> Any:
    return _fixture(f"binance_rest/spot_docs_examples/{name}.json")


def _ws(name: str) -> Any:
    data = _fixture(f"binance_ws/spot_docs_examples/{name}.json")
    return data.get("event", data)  # user data events come wrapped for the WebSocket API


async def _resting_order(api: Api, sim: Simulator, client_id: str) -> dict[str, Any]:
    _, bid, _ = sim.engine.book("BTCUSDT")
    response = await api.order(
        side="BUY", type="LIMIT", timeInForce="GTC", quantity="0.01", price=str(bid - 100),
        newClientOrderId=client_id,
    )  # fmt: skip
    return dict(response.json())


async def test_server_time_and_exchange_info_shapes(api: Api) -> None:
    assert set((await api.public("/api/v3/time")).json()) == set(_rest("server_time"))
    info = (await api.public("/api/v3/exchangeInfo")).json()
    example = _rest("exchange_info")
    assert set(info) == set(example)
    assert set(info["symbols"][0]) == set(example["symbols"][0])
    recorded = _fixture("binance_rest/spot_recorded/exchange_info.json")
    assert set(info["rateLimits"][0]) == set(recorded["rateLimits"][0])
    filters = _rest("filters_examples")
    for entry in info["symbols"][0]["filters"]:
        assert set(entry) == set(filters[entry["filterType"]])


async def test_kline_rows_have_the_recorded_shape(api: Api) -> None:
    rows = (await api.public("/api/v3/klines", {"symbol": "BTCUSDT", "interval": "1m"})).json()
    recorded = _fixture("binance_rest/spot_recorded/klines.json")
    assert [type(value) for value in rows[0]] == [type(value) for value in recorded[0]]


async def test_public_trades_have_binances_fields(api: Api, sim: Simulator) -> None:
    await sim.advance(60_000)
    trades = (await api.public("/api/v3/trades", {"symbol": "BTCUSDT"})).json()
    assert set(trades[0]) == set(_rest("trades")[0])
    aggregates = (await api.public("/api/v3/aggTrades", {"symbol": "BTCUSDT"})).json()
    assert set(aggregates[0]) == set(_rest("agg_trades")[0])


async def test_order_answers_have_binances_fields(api: Api, sim: Simulator) -> None:
    full = (await api.order(side="BUY", type="MARKET", quantity="0.001")).json()
    example = _rest("new_order_full")
    assert set(full) == set(example)
    assert set(full["fills"][0]) == set(example["fills"][0])
    result = await api.order(side="BUY", type="MARKET", quantity="0.001", newOrderRespType="RESULT")
    assert set(result.json()) == set(_rest("new_order_result"))
    ack = await api.order(side="BUY", type="MARKET", quantity="0.001", newOrderRespType="ACK")
    assert set(ack.json()) == set(_rest("new_order_ack"))

    await _resting_order(api, sim, "shape-1")
    query = {"symbol": "BTCUSDT", "origClientOrderId": "shape-1"}
    assert set((await api.signed("GET", "/api/v3/order", query)).json()) == set(
        _rest("query_order")
    )
    (open_order,) = (await api.signed("GET", "/api/v3/openOrders", {"symbol": "BTCUSDT"})).json()
    assert set(open_order) == set(_rest("open_orders")[0])
    cancel = (await api.signed("DELETE", "/api/v3/order", query)).json()
    assert set(cancel) == set(_rest("cancel_order"))
    (trade, *_) = (await api.signed("GET", "/api/v3/myTrades", {"symbol": "BTCUSDT"})).json()
    assert set(trade) == set(_rest("my_trades")[0])


async def test_account_and_errors_have_binances_fields(api: Api) -> None:
    account = (await api.signed("GET", "/api/v3/account")).json()
    example = _rest("account")
    assert set(account) == set(example)
    assert set(account["commissionRates"]) == set(example["commissionRates"])
    assert set(account["balances"][0]) == set(example["balances"][0])
    error = (await api.public("/api/v3/exchangeInfo", {"symbol": "NOPE"})).json()
    assert set(error) == set(_rest("error_payload_example"))


async def test_market_stream_payloads_have_binances_fields(
    sim: Simulator, session: aiohttp.ClientSession
) -> None:
    async with session.ws_connect(f"{sim.ws_url}/stream?streams={ALL_STREAMS}") as ws:
        await sim.advance(60_000)
        messages = [await receive_json(ws) for _ in range(17)]
    by_stream = {m["stream"]: m for m in messages}
    recorded = _fixture("binance_ws/recorded/spot_trade_combined.json")
    assert set(by_stream["btcusdt@trade"]) == set(recorded)  # {"stream", "data"}
    assert set(by_stream["btcusdt@trade"]["data"]) == set(_ws("trade"))
    assert set(by_stream["btcusdt@aggTrade"]["data"]) == set(_ws("agg_trade"))
    assert set(by_stream["btcusdt@bookTicker"]["data"]) == set(_ws("book_ticker"))
    kline = by_stream["btcusdt@kline_1m"]["data"]
    assert set(kline) == set(_ws("kline"))
    assert set(kline["k"]) == set(_ws("kline")["k"])


async def test_user_stream_events_have_binances_fields(
    api: Api, sim: Simulator, session: aiohttp.ClientSession
) -> None:
    key = await api.listen_key()
    async with session.ws_connect(f"{sim.ws_url}/ws/{key}") as ws:
        await _resting_order(api, sim, "shape-2")
        report, position = await receive_json(ws), await receive_json(ws)
    # "v" (prevented match id) appears only on orders expired by self-trade prevention.
    assert set(report) == set(_ws("execution_report")) - {"v"}
    assert set(position) == set(_ws("outbound_account_position"))
    assert set(position["B"][0]) == set(_ws("outbound_account_position")["B"][0])
