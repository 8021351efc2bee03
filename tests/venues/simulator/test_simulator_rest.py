"""The simulator's REST endpoints: happy paths, parameters, signatures, timestamps, errors."""

from __future__ import annotations

import asyncio
import base64
import time
from decimal import Decimal
from urllib.parse import urlencode

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from tests.venues.simulator.helpers import Api, paused, sign
from venues.simulator import Simulator, run_simulator

MINUTE = 60_000


def _error(response: httpx.Response, code: int, status: int = 400) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["code"] == code, body
    return str(body["msg"])


async def test_ping_answers_an_empty_object(api: Api) -> None:
    response = await api.public("/api/v3/ping")
    assert response.status_code == 200
    assert response.json() == {}


async def test_server_time_is_the_simulated_time(api: Api, sim: Simulator) -> None:
    response = await api.public("/api/v3/time")
    assert response.json() == {"serverTime": sim.now_ms()}
    assert sim.now_ms() == 1704070800000  # 2024-01-01 01:00 UTC: an hour into the sample


async def test_exchange_info_publishes_the_filters_orders_must_pass(api: Api) -> None:
    info = (await api.public("/api/v3/exchangeInfo")).json()
    (symbol,) = info["symbols"]
    assert (symbol["symbol"], symbol["baseAsset"], symbol["quoteAsset"]) == (
        "BTCUSDT",
        "BTC",
        "USDT",
    )
    filters = {f["filterType"]: f for f in symbol["filters"]}
    assert filters["PRICE_FILTER"]["tickSize"] == "0.01000000"
    assert filters["LOT_SIZE"]["stepSize"] == "0.00001000"
    assert filters["LOT_SIZE"]["minQty"] == "0.00001000"
    assert filters["NOTIONAL"]["minNotional"] == "5.00000000"
    assert info["rateLimits"][0]["limit"] == 6000


async def test_exchange_info_of_one_symbol_and_of_an_unknown_one(api: Api) -> None:
    one = (await api.public("/api/v3/exchangeInfo", {"symbol": "BTCUSDT"})).json()
    assert [s["symbol"] for s in one["symbols"]] == ["BTCUSDT"]
    listed = await api.public("/api/v3/exchangeInfo", {"symbols": '["BTCUSDT"]'})
    assert [s["symbol"] for s in listed.json()["symbols"]] == ["BTCUSDT"]
    _error(await api.public("/api/v3/exchangeInfo", {"symbol": "NOPEUSDT"}), -1121)


async def test_klines_end_with_the_bar_in_progress(api: Api, sim: Simulator) -> None:
    await sim.advance(30_000)  # half a minute into the 01:00 bar: two of its four trades
    rows = (await api.public("/api/v3/klines", {"symbol": "BTCUSDT", "interval": "1m"})).json()
    assert len(rows) == 61  # the hour of history and the bar in progress
    assert [row[0] for row in rows] == [1704067200000 + i * MINUTE for i in range(61)]
    assert all(len(row) == 12 and row[6] == row[0] + MINUTE - 1 for row in rows)
    assert rows[-1][8] == 2 and rows[-2][8] == 4  # trade counts: partial, then whole


async def test_klines_page_by_start_and_end_time(api: Api) -> None:
    start = 1704067200000
    params = {"symbol": "BTCUSDT", "interval": "1m", "startTime": start + 5 * MINUTE, "limit": 3}
    rows = (await api.public("/api/v3/klines", params)).json()
    assert [row[0] for row in rows] == [start + 5 * MINUTE, start + 6 * MINUTE, start + 7 * MINUTE]
    params = {"symbol": "BTCUSDT", "interval": "1m", "endTime": start + 5 * MINUTE, "limit": 2}
    rows = (await api.public("/api/v3/klines", params)).json()
    assert [row[0] for row in rows] == [start + 4 * MINUTE, start + 5 * MINUTE]


async def test_klines_never_show_the_future(api: Api, sim: Simulator) -> None:
    params = {"symbol": "BTCUSDT", "interval": "1m", "startTime": sim.now_ms() + 5 * MINUTE}
    assert (await api.public("/api/v3/klines", params)).json() == []


async def test_klines_refuse_bad_parameters(api: Api) -> None:
    base = {"symbol": "BTCUSDT", "interval": "1m"}
    _error(await api.public("/api/v3/klines", {**base, "interval": "1h"}), -1120)
    _error(await api.public("/api/v3/klines", {**base, "limit": 1001}), -1130)
    _error(await api.public("/api/v3/klines", {"interval": "1m"}), -1102)
    _error(await api.public("/api/v3/klines", {**base, "startTime": "soon"}), -1100)
    _error(await api.public("/api/v3/klines", {**base, "startTime": 2, "endTime": 1}), -1023)


async def test_recent_trades_are_the_replayed_ones_up_to_now(api: Api, sim: Simulator) -> None:
    await sim.advance(30_000)
    trades = (await api.public("/api/v3/trades", {"symbol": "BTCUSDT", "limit": 6})).json()
    ids = [t["id"] for t in trades]
    assert ids == list(range(ids[0], ids[0] + 6))
    assert trades[-1]["time"] <= sim.now_ms() < trades[-1]["time"] + 15_000
    params = {"symbol": "BTCUSDT", "interval": "1m", "startTime": sim.now_ms() - 30_000}
    (row,) = (await api.public("/api/v3/klines", params)).json()
    assert trades[-1]["price"] == row[4]  # the kline in progress closes at the last trade


async def test_agg_trades_page_by_id_and_by_time(api: Api, sim: Simulator) -> None:
    await sim.advance(MINUTE)
    recent = (await api.public("/api/v3/aggTrades", {"symbol": "BTCUSDT", "limit": 8})).json()
    first = recent[0]["a"]
    by_id = await api.public("/api/v3/aggTrades", {"symbol": "BTCUSDT", "fromId": first + 2})
    assert [t["a"] for t in by_id.json()] == [t["a"] for t in recent[2:]]
    window = {"symbol": "BTCUSDT", "startTime": recent[1]["T"], "endTime": recent[3]["T"]}
    by_time = (await api.public("/api/v3/aggTrades", window)).json()
    assert [t["a"] for t in by_time] == [first + 1, first + 2, first + 3]
    too_long = {**window, "endTime": recent[1]["T"] + 3_600_001}
    _error(await api.public("/api/v3/aggTrades", too_long), -1127)
    mixed = {**window, "fromId": first}
    _error(await api.public("/api/v3/aggTrades", mixed), -1128)


async def test_every_answer_carries_the_used_weight(api: Api) -> None:
    weights = []
    for path in ("/api/v3/ping", "/api/v3/time", "/api/v3/exchangeInfo", "/api/v3/klines"):
        response = await api.public(path, {"symbol": "BTCUSDT", "interval": "1m"})
        weights.append(int(response.headers["X-MBX-USED-WEIGHT-1M"]))
    account = await api.signed("GET", "/api/v3/account")
    weights.append(int(account.headers["X-MBX-USED-WEIGHT-1M"]))
    failed = await api.public("/api/v3/klines", {"symbol": "NOPE", "interval": "1m"})
    weights.append(int(failed.headers["X-MBX-USED-WEIGHT-1M"]))
    assert weights == [
        1,
        2,
        22,
        24,
        44,
        46,
    ]  # ping 1, time 1, exchangeInfo 20, klines 2, account 20


async def test_weights_of_open_orders_depend_on_the_symbol(api: Api) -> None:
    with_symbol = await api.signed("GET", "/api/v3/openOrders", {"symbol": "BTCUSDT"})
    without = await api.signed("GET", "/api/v3/openOrders")
    used = [int(r.headers["X-MBX-USED-WEIGHT-1M"]) for r in (with_symbol, without)]
    assert used == [6, 86]


# --- signatures and timestamps --------------------------------------------------------


async def test_account_shows_the_starting_balances(api: Api) -> None:
    account = (await api.signed("GET", "/api/v3/account")).json()
    balances = {b["asset"]: (b["free"], b["locked"]) for b in account["balances"]}
    assert balances == {
        "BTC": ("0.00000000", "0.00000000"),
        "USDT": ("100000.00000000", "0.00000000"),
    }
    assert account["commissionRates"]["taker"] == "0.00100000"
    omitted = (await api.signed("GET", "/api/v3/account", {"omitZeroBalances": "true"})).json()
    assert [b["asset"] for b in omitted["balances"]] == ["USDT"]


async def test_a_request_without_an_api_key_is_refused(api: Api) -> None:
    query = api.signed_query({})
    _error(await api.client.get(f"/api/v3/account?{query}"), -2014, status=401)


async def test_an_unknown_api_key_is_refused(api: Api) -> None:
    _error(await api.signed("GET", "/api/v3/account", api_key="someone-else"), -2015, status=401)


async def test_a_bad_signature_is_refused(api: Api) -> None:
    response = await api.signed("GET", "/api/v3/account", secret="not-the-secret")
    assert _error(response, -1022) == "Signature for this request is not valid."


async def test_a_signature_over_other_parameters_is_refused(api: Api) -> None:
    query = api.signed_query({"symbol": "BTCUSDT"})
    tampered = query.replace("symbol=BTCUSDT", "symbol=ETHUSDT")
    response = await api.client.get(
        f"/api/v3/openOrders?{tampered}", headers={"X-MBX-APIKEY": api.sim.api_key}
    )
    _error(response, -1022)


async def test_missing_signature_or_timestamp_is_a_mandatory_parameter(api: Api) -> None:
    headers = {"X-MBX-APIKEY": api.sim.api_key}
    response = await api.client.get(
        f"/api/v3/account?timestamp={api.sim.now_ms()}", headers=headers
    )
    assert "'signature'" in _error(response, -1102)
    response = await api.client.get(
        f"/api/v3/account?signature={sign(api.sim.api_secret, '')}", headers=headers
    )
    assert "'timestamp'" in _error(response, -1102)


async def test_signed_parameters_may_come_in_the_body(api: Api) -> None:
    """totalParams is the query string followed directly by the body (Binance's example)."""
    query = "symbol=BTCUSDT&side=BUY&type=MARKET"
    body = f"quantity=0.001&timestamp={api.sim.now_ms()}"
    signature = sign(api.sim.api_secret, query + body)
    response = await api.client.post(
        f"/api/v3/order?{query}",
        content=f"{body}&signature={signature}",
        headers={
            "X-MBX-APIKEY": api.sim.api_key,
            "Content-Type": "application/x-www-form-urlencoded",
        },
    )
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "FILLED"


async def test_a_stale_timestamp_is_outside_the_recv_window(api: Api, sim: Simulator) -> None:
    response = await api.signed("GET", "/api/v3/account", {"timestamp": sim.now_ms() - 5001})
    assert _error(response, -1021) == "Timestamp for this request is outside of the recvWindow."
    wider = {"timestamp": sim.now_ms() - 5001, "recvWindow": 10_000}
    assert (await api.signed("GET", "/api/v3/account", wider)).status_code == 200


async def test_a_timestamp_a_second_ahead_is_refused(api: Api, sim: Simulator) -> None:
    response = await api.signed("GET", "/api/v3/account", {"timestamp": sim.now_ms() + 1000})
    assert "ahead of the server's time" in _error(response, -1021)
    ok = await api.signed("GET", "/api/v3/account", {"timestamp": sim.now_ms() + 999})
    assert ok.status_code == 200


async def test_a_recv_window_over_a_minute_is_refused(api: Api) -> None:
    _error(await api.signed("GET", "/api/v3/account", {"recvWindow": 60_001}), -1131)


async def test_a_client_that_synced_its_clock_stays_inside_the_window_at_high_speed() -> None:
    """Server time runs 10,000 times faster than the client's clock: a client keeping the
    offset it learned from /api/v3/time is still accepted seconds later."""
    async with (
        run_simulator(paused(start_paused=False, speed=10_000)) as sim,
        httpx.AsyncClient(base_url=sim.url) as client,
    ):
        api = Api(sim, client)
        server_time = (await api.public("/api/v3/time")).json()["serverTime"]
        offset = server_time - time.time_ns() // 1_000_000
        await asyncio.sleep(0.3)  # 50 simulated minutes pass
        timestamp = time.time_ns() // 1_000_000 + offset
        response = await api.signed("GET", "/api/v3/account", {"timestamp": timestamp})
        assert response.status_code == 200, response.text
        never_synced = {"timestamp": time.time_ns() // 1_000_000}
        _error(await api.signed("GET", "/api/v3/account", never_synced), -1021)


async def test_ed25519_keys_sign_with_base64_signatures() -> None:
    private = Ed25519PrivateKey.generate()
    pem = private.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    async with (
        run_simulator(paused(ed25519_public_key_pem=pem.decode())) as sim,
        httpx.AsyncClient(base_url=sim.url) as client,
    ):
        query = urlencode({"timestamp": sim.now_ms()})
        signature = base64.b64encode(private.sign(query.encode())).decode()
        headers = {"X-MBX-APIKEY": sim.config.ed25519_api_key}
        good = await client.get(
            f"/api/v3/account?{query}&{urlencode({'signature': signature})}", headers=headers
        )
        assert good.status_code == 200, good.text
        other = base64.b64encode(Ed25519PrivateKey.generate().sign(query.encode())).decode()
        bad = await client.get(
            f"/api/v3/account?{query}&{urlencode({'signature': other})}", headers=headers
        )
        _error(bad, -1022)


async def test_a_parameter_sent_twice_is_refused(api: Api) -> None:
    response = await api.client.get("/api/v3/klines?symbol=BTCUSDT&symbol=BTCUSDT&interval=1m")
    _error(response, -1101)


# --- orders ---------------------------------------------------------------------------


async def test_a_market_order_answers_in_full_with_its_fills(api: Api, sim: Simulator) -> None:
    _, _, ask = sim.engine.book("BTCUSDT")
    response = await api.order(side="BUY", type="MARKET", quantity="0.01", newClientOrderId="m-1")
    assert response.status_code == 200, response.text
    order = response.json()
    assert (order["status"], order["clientOrderId"], order["executedQty"]) == (
        "FILLED",
        "m-1",
        "0.01000000",
    )
    (fill,) = order["fills"]
    assert Decimal(fill["price"]) == ask
    # Binance's default: a buy pays its commission in what it receives, to 8 decimals.
    assert (fill["commission"], fill["commissionAsset"]) == ("0.00001000", "BTC")
    assert order["transactTime"] == sim.now_ms()


async def test_response_types_ack_and_result(api: Api) -> None:
    ack = (
        await api.order(side="BUY", type="MARKET", quantity="0.001", newOrderRespType="ACK")
    ).json()
    assert set(ack) == {"symbol", "orderId", "orderListId", "clientOrderId", "transactTime"}
    result = await api.order(side="BUY", type="MARKET", quantity="0.001", newOrderRespType="RESULT")
    assert "fills" not in result.json() and result.json()["status"] == "FILLED"


async def test_orders_failing_a_filter_are_refused(api: Api, sim: Simulator) -> None:
    _last, bid, _ = sim.engine.book("BTCUSDT")
    price = str(bid - 100)
    limit = {"side": "BUY", "type": "LIMIT", "timeInForce": "GTC"}
    response = await api.order(**limit, quantity="0.01", price=price + "5")  # 0.005 off the tick
    assert _error(response, -1013) == "Filter failure: PRICE_FILTER"
    response = await api.order(**limit, quantity="0.000015", price=price)
    assert _error(response, -1013) == "Filter failure: LOT_SIZE"
    response = await api.order(**limit, quantity="0.0001", price=price)  # about 4 USDT
    assert _error(response, -1013) == "Filter failure: NOTIONAL"
    response = await api.order(side="SELL", type="MARKET", quantity="10000")
    assert _error(response, -1013) == "Filter failure: LOT_SIZE"


async def test_an_order_beyond_the_balance_is_refused(api: Api) -> None:
    response = await api.order(side="BUY", type="MARKET", quantity="3")  # ~126,000 USDT
    assert _error(response, -2010) == "Account has insufficient balance for requested action."
    response = await api.order(side="SELL", type="MARKET", quantity="0.01")  # no BTC
    _error(response, -2010)


async def test_order_parameters_are_checked(api: Api) -> None:
    _error(await api.order(side="BUY", type="MARKET"), -1102)
    _error(await api.order(side="BUY", type="MARKET", quantity="0.01", price="1"), -1106)
    _error(await api.order(side="BUY", type="MARKET", quantity="0.01", timeInForce="GTC"), -1106)
    _error(await api.order(side="BUY", type="STOP_LOSS", quantity="0.01"), -1116)
    _error(await api.order(side="UP", type="MARKET", quantity="0.01"), -1117)
    _error(
        await api.order(side="BUY", type="LIMIT", timeInForce="GTD", quantity="0.01", price="1"),
        -1115,
    )
    _error(await api.order(side="BUY", type="LIMIT", quantity="0.01", price="1"), -1102)
    _error(await api.order(side="BUY", type="MARKET", quantity="1e-2"), -1100)
    _error(
        await api.order(side="BUY", type="MARKET", quantity="0.01", newClientOrderId="x" * 37),
        -1100,
    )
    _error(await api.order(symbol="NOPEUSDT", side="BUY", type="MARKET", quantity="0.01"), -1121)


async def test_a_client_order_id_in_use_by_an_open_order_is_a_duplicate(
    api: Api, sim: Simulator
) -> None:
    _, bid, _ = sim.engine.book("BTCUSDT")
    order = {"side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.01"}
    first = await api.order(**order, price=str(bid - 50), newClientOrderId="dup-1")
    assert first.json()["status"] == "NEW"
    again = await api.order(**order, price=str(bid - 50), newClientOrderId="dup-1")
    assert _error(again, -2010) == "Duplicate order sent."
    open_orders = (await api.signed("GET", "/api/v3/openOrders", {"symbol": "BTCUSDT"})).json()
    assert [o["clientOrderId"] for o in open_orders] == ["dup-1"]


async def test_binance_lets_a_finished_orders_client_id_be_used_again(api: Api) -> None:
    order = {"side": "BUY", "type": "MARKET", "quantity": "0.001", "newClientOrderId": "re-1"}
    assert (await api.order(**order)).json()["status"] == "FILLED"
    assert (await api.order(**order)).json()["status"] == "FILLED"


async def test_with_client_id_scope_all_a_used_id_is_always_a_duplicate() -> None:
    async with (
        run_simulator(paused(client_id_scope="all")) as sim,
        httpx.AsyncClient(base_url=sim.url) as client,
    ):
        api = Api(sim, client)
        order = {
            "side": "BUY",
            "type": "MARKET",
            "quantity": "0.001",
            "newClientOrderId": "once",
        }
        assert (await api.order(**order)).status_code == 200
        _error(await api.order(**order), -2010)


async def test_query_and_cancel_by_client_order_id(api: Api, sim: Simulator) -> None:
    _, bid, _ = sim.engine.book("BTCUSDT")
    placed = await api.order(
        side="BUY", type="LIMIT", timeInForce="GTC", quantity="0.01", price=str(bid - 50),
        newClientOrderId="q-1",
    )  # fmt: skip
    order_id = placed.json()["orderId"]
    query = {"symbol": "BTCUSDT", "origClientOrderId": "q-1"}
    found = (await api.signed("GET", "/api/v3/order", query)).json()
    assert (found["orderId"], found["status"], found["isWorking"]) == (order_id, "NEW", True)
    by_id = (
        await api.signed("GET", "/api/v3/order", {"symbol": "BTCUSDT", "orderId": order_id})
    ).json()
    assert by_id == found
    cancel = await api.signed("DELETE", "/api/v3/order", {**query, "newClientOrderId": "cx-1"})
    assert cancel.status_code == 200, cancel.text
    body = cancel.json()
    assert (body["status"], body["origClientOrderId"], body["clientOrderId"]) == (
        "CANCELED",
        "q-1",
        "cx-1",
    )
    after = (await api.signed("GET", "/api/v3/order", query)).json()
    assert after["status"] == "CANCELED" and after["isWorking"] is False
    assert (await api.signed("GET", "/api/v3/openOrders", {"symbol": "BTCUSDT"})).json() == []


async def test_unknown_orders_are_minus_2013_to_query_and_minus_2011_to_cancel(api: Api) -> None:
    query = {"symbol": "BTCUSDT", "origClientOrderId": "never-sent"}
    assert _error(await api.signed("GET", "/api/v3/order", query), -2013) == "Order does not exist."
    assert (
        _error(await api.signed("DELETE", "/api/v3/order", query), -2011) == "Unknown order sent."
    )
    _error(await api.signed("GET", "/api/v3/order", {"symbol": "BTCUSDT"}), -1102)


async def test_a_filled_order_cannot_be_canceled(api: Api) -> None:
    await api.order(side="BUY", type="MARKET", quantity="0.001", newClientOrderId="done")
    query = {"symbol": "BTCUSDT", "origClientOrderId": "done"}
    _error(await api.signed("DELETE", "/api/v3/order", query), -2011)


async def test_my_trades_have_increasing_ids_and_page_from_an_id(api: Api) -> None:
    for _ in range(3):
        await api.order(side="BUY", type="MARKET", quantity="0.001")
    trades = (await api.signed("GET", "/api/v3/myTrades", {"symbol": "BTCUSDT"})).json()
    assert [t["id"] for t in trades] == [1, 2, 3]
    assert all(t["isBuyer"] and not t["isMaker"] for t in trades)
    page = (
        await api.signed("GET", "/api/v3/myTrades", {"symbol": "BTCUSDT", "fromId": 2, "limit": 1})
    ).json()
    assert [t["id"] for t in page] == [2]
    by_order = await api.signed("GET", "/api/v3/myTrades", {"symbol": "BTCUSDT", "orderId": 3})
    assert [t["orderId"] for t in by_order.json()] == [3]
    _error(await api.signed("GET", "/api/v3/myTrades", {"symbol": "BTCUSDT", "limit": 0}), -1130)


# --- user data stream keys -------------------------------------------------------------


async def test_listen_keys_are_created_kept_alive_and_closed(api: Api) -> None:
    headers = {"X-MBX-APIKEY": api.sim.api_key}
    key = await api.listen_key()
    assert len(key) == 60
    assert await api.listen_key() == key  # one live key per account, as Binance
    kept = await api.client.put(
        "/api/v3/userDataStream", params={"listenKey": key}, headers=headers
    )
    assert kept.json() == {}
    closed = await api.client.delete(
        "/api/v3/userDataStream", params={"listenKey": key}, headers=headers
    )
    assert closed.json() == {}
    again = await api.client.put(
        "/api/v3/userDataStream", params={"listenKey": key}, headers=headers
    )
    _error(again, -1125)
    assert await api.listen_key() != key


async def test_listen_keys_need_an_api_key(api: Api) -> None:
    _error(await api.client.post("/api/v3/userDataStream"), -2014, status=401)


@pytest.mark.parametrize("path", ["/api/v3/nothing", "/api/v4/time"])
async def test_unknown_paths_are_not_found(api: Api, path: str) -> None:
    assert (await api.client.get(path)).status_code == 404
