"""The REST client against respx: exact requests (path, parameter order, signature, key
header), every error mapping, the -1021 resync, 429 waits, 418 stops, unknown outcomes,
no secret in URLs, errors or logs; and the conversions into catalog messages."""

from __future__ import annotations

import base64
import io
import logging
from collections.abc import Iterator
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl, unquote

import httpx
import msgspec
import pytest
import respx
import structlog
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

import app.logs
from actors.clock import SimClock
from actors.messages import (
    ExecutionReport,
    Fill,
    Liquidity,
    OrderAccepted,
    OrderExpired,
    OrderIntent,
    OrderRequest,
    OrderStatus,
    OrderTicket,
    OrderType,
    Side,
    SubmitOrder,
    TimeInForce,
)
from actors.order_manager import OrderManager
from tests.venues.binance.fake_clock import FakeClock
from venues.binance.errors import (
    BadParameter,
    BadSignature,
    BinanceError,
    CancelRejected,
    FilterFailure,
    IpBanned,
    NoSuchOrder,
    OrderRejected,
    OutcomeUnknown,
    RateLimited,
    TimestampOutOfWindow,
    Unauthorized,
    UnexpectedResponse,
    UnknownOrder,
    UnsupportedOrder,
    VenueUnavailable,
    VenueUnreachable,
)
from venues.binance.rest import (
    SIMULATOR_URL,
    Account,
    AccountTrade,
    Balance,
    BinanceRest,
    OrderInfo,
    OrderResponse,
    balances,
    execution_reports,
    fill_from_trade,
    not_found_report,
    order_params,
    order_reports,
    order_status,
    status_report,
    wire_decimal,
)
from venues.binance.signing import Credentials, Ed25519Signer, HmacSigner
from venues.binance.weights import WeightBudget

BASE = "http://sim.test"
API_KEY = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"
SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
OFFSET_MS = 1500
WEIGHT = {"X-MBX-USED-WEIGHT-1M": "7"}
TICKET = OrderTicket(
    symbol="BTCUSDT", side=Side.BUY, quantity=Decimal("0.00100"),
    order_type=OrderType.LIMIT, limit_price=Decimal("60000.010"),
)  # fmt: skip


def _full_response(**fields: Any) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "symbol": "BTCUSDT", "orderId": 28, "orderListId": -1, "clientOrderId": "c1",
        "transactTime": 1_700_000_000_000, "price": "0.00000000", "origQty": "0.003",
        "executedQty": "0.003", "cummulativeQuoteQty": "180.03", "status": "FILLED",
        "timeInForce": "GTC", "type": "MARKET", "side": "BUY",
        "workingTime": 1_700_000_000_000, "selfTradePreventionMode": "NONE",
        "fills": [
            {"price": "60000.00", "qty": "0.001", "commission": "0.06",
             "commissionAsset": "USDT", "tradeId": 56},
            {"price": "60010.00", "qty": "0.002", "commission": "0.12002",
             "commissionAsset": "USDT", "tradeId": 57},
        ],
    }  # fmt: skip
    answer.update(fields)
    return answer


def _order_info(**fields: Any) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "symbol": "BTCUSDT", "orderId": 7, "orderListId": -1, "clientOrderId": "c1",
        "price": "60000.01", "origQty": "0.002", "executedQty": "0.0", "cummulativeQuoteQty": "0",
        "status": "NEW", "timeInForce": "GTC", "type": "LIMIT", "side": "BUY",
        "stopPrice": "0.0", "icebergQty": "0.0", "time": 1_700_000_000_000,
        "updateTime": 1_700_000_000_500, "isWorking": True,
    }  # fmt: skip
    answer.update(fields)
    return answer


@pytest.fixture
def budget(clock: FakeClock) -> WeightBudget:
    return WeightBudget(6000, clock=clock.time, sleep=clock.sleep)


@pytest.fixture
def router(clock: FakeClock) -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=BASE, assert_all_called=False) as mock:
        mock.get("/api/v3/time").respond(
            json={"serverTime": clock.time_ms() + OFFSET_MS}, headers=WEIGHT
        )
        yield mock


def _rest(
    clock: FakeClock, budget: WeightBudget, credentials: Credentials | None = None, **kw: Any
) -> BinanceRest:
    if credentials is None:
        credentials = Credentials(API_KEY, HmacSigner(SECRET))
    return BinanceRest(BASE, credentials=credentials, budget=budget, clock_ms=clock.time_ms, **kw)


def _error(status: int, code: int | None, msg: str, **headers: str) -> httpx.Response:
    body = {"code": code, "msg": msg} if code is not None else {"msg": msg}
    return httpx.Response(status, json=body, headers=headers)


def _fields(payload: str) -> list[tuple[str, str]]:
    return parse_qsl(payload, keep_blank_values=True)


def _split_signature(payload: str) -> tuple[str, str]:
    signed, _, signature = payload.rpartition("&signature=")
    return signed, unquote(signature)


# --- building requests ------------------------------------------------------------------


async def test_new_order_posts_the_exact_signed_form(
    clock: FakeClock, budget: WeightBudget, router: respx.MockRouter
) -> None:
    route = router.post("/api/v3/order").respond(json=_full_response(), headers=WEIGHT)
    async with _rest(clock, budget) as rest:
        await rest.new_order(TICKET, "c1")
    request = route.calls.last.request
    body = request.content.decode()
    timestamp = clock.time_ms() + OFFSET_MS
    expected = (
        "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.001&price=60000.01"
        f"&newClientOrderId=c1&newOrderRespType=FULL&recvWindow=5000&timestamp={timestamp}"
    )
    signed, signature = _split_signature(body)
    assert signed == expected
    assert signature == HmacSigner(SECRET).sign(expected)
    assert request.url.query == b""  # nothing signed in a POST's URL
    assert request.headers["X-MBX-APIKEY"] == API_KEY
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert SECRET not in str(request.url) + body + str(request.headers)


async def test_signed_get_sends_parameters_in_order_with_signature_last(
    clock: FakeClock, budget: WeightBudget, router: respx.MockRouter
) -> None:
    route = router.get("/api/v3/order").respond(json=_order_info(), headers=WEIGHT)
    async with _rest(clock, budget, recv_window_ms=2500) as rest:
        await rest.query_order("BTCUSDT", "c1")
    query = route.calls.last.request.url.query.decode()
    signed, signature = _split_signature(query)
    assert [name for name, _ in _fields(query)] == [
        "symbol", "origClientOrderId", "recvWindow", "timestamp", "signature",
    ]  # fmt: skip
    assert dict(_fields(signed))["recvWindow"] == "2500"
    assert signature == HmacSigner(SECRET).sign(signed)


async def test_ed25519_signature_is_url_encoded_base64_over_the_payload(
    clock: FakeClock, budget: WeightBudget, router: respx.MockRouter
) -> None:
    key = Ed25519PrivateKey.generate()
    credentials = Credentials(API_KEY, Ed25519Signer(key))
    route = router.get("/api/v3/account").respond(json={"balances": []}, headers=WEIGHT)
    async with _rest(clock, budget, credentials) as rest:
        await rest.account()
    query = route.calls.last.request.url.query.decode()
    signed, signature = _split_signature(query)
    assert "+" not in query.rpartition("signature=")[2]  # base64 "+" "/" "=" are escaped
    key.public_key().verify(base64.b64decode(signature), signed.encode())


async def test_first_signed_request_syncs_the_clock_once(
    clock: FakeClock, budget: WeightBudget, router: respx.MockRouter
) -> None:
    router.get("/api/v3/openOrders").respond(json=[], headers=WEIGHT)
    async with _rest(clock, budget) as rest:
        await rest.open_orders("BTCUSDT")
        await rest.open_orders("BTCUSDT")
        assert rest.time_offset_ms == OFFSET_MS
    assert router.routes[0].call_count == 1


async def test_public_requests_carry_no_key_and_no_signature(
    clock: FakeClock, budget: WeightBudget, router: respx.MockRouter
) -> None:
    route = router.get("/api/v3/klines").respond(json=[], headers=WEIGHT)
    async with _rest(clock, budget) as rest:
        await rest.klines("BTCUSDT", "1m", 1_000, 2_000, 500)
    request = route.calls.last.request
    assert request.url.query == b"symbol=BTCUSDT&interval=1m&startTime=1000&endTime=2000&limit=500"
    assert "X-MBX-APIKEY" not in request.headers
    assert router.routes[0].call_count == 0  # no time sync for public data


async def test_klines_limit_outside_binance_range_is_refused_before_sending(
    clock: FakeClock, budget: WeightBudget, router: respx.MockRouter
) -> None:
    route = router.get("/api/v3/klines").respond(json=[])
    async with _rest(clock, budget) as rest:
        with pytest.raises(BadParameter, match=r"not sent: limit must be in 1\.\.1000"):
            await rest.klines("BTCUSDT", "1m", limit=1001)
    assert route.call_count == 0


async def test_user_data_stream_uses_the_key_header_and_no_signature(
    clock: FakeClock, budget: WeightBudget, router: respx.MockRouter
) -> None:
    start = router.post("/api/v3/userDataStream").respond(json={"listenKey": "lk1"})
    keep = router.put("/api/v3/userDataStream").respond(json={})
    close = router.delete("/api/v3/userDataStream").respond(json={})
    async with _rest(clock, budget) as rest:
        assert await rest.start_user_stream() == "lk1"
        await rest.keepalive_user_stream("lk1")
        await rest.close_user_stream("lk1")
    assert start.calls.last.request.content == b""
    assert start.calls.last.request.headers["X-MBX-APIKEY"] == API_KEY
    assert keep.calls.last.request.url.query == b"listenKey=lk1"
    assert close.calls.last.request.url.query == b"listenKey=lk1"
    assert router.routes[0].call_count == 0


async def test_my_trades_and_open_orders_parameters_and_weights(
    clock: FakeClock, budget: WeightBudget, router: respx.MockRouter
) -> None:
    trades = router.get("/api/v3/myTrades").respond(json=[])
    router.get("/api/v3/openOrders").respond(json=[])
    async with _rest(clock, budget) as rest:
        await rest.my_trades("BTCUSDT", from_id=42, limit=1000)
        before = budget.statistics().used
        await rest.open_orders()
        assert budget.statistics().used - before == 80  # every symbol: Binance's weight 80
    names = [pair for pair in _fields(trades.calls.last.request.url.query.decode())][:3]
    assert names == [("symbol", "BTCUSDT"), ("fromId", "42"), ("limit", "1000")]


async def test_signed_request_without_credentials_is_not_sent(
    clock: FakeClock, budget: WeightBudget, router: respx.MockRouter
) -> None:
    route = router.get("/api/v3/account").respond(json={})
    async with BinanceRest(BASE, budget=budget, clock_ms=clock.time_ms) as rest:
        with pytest.raises(Unauthorized, match="not sent: no API key"):
            await rest.account()
    assert route.call_count == 0


def test_default_base_url_is_the_loopback_simulator() -> None:
    assert SIMULATOR_URL == "http://127.0.0.1:8765"
    assert BinanceRest().base_url == SIMULATOR_URL


def test_recv_window_is_bounded_as_binance_bounds_it() -> None:
    with pytest.raises(ValueError, match="recv_window_ms"):
        BinanceRest(recv_window_ms=60_001)


# --- order parameters -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ticket", "expected"),
    [
        (
            OrderTicket(symbol="BTCUSDT", side=Side.SELL, quantity=Decimal("1E-5")),
            [("type", "MARKET"), ("quantity", "0.00001")],
        ),
        (
            OrderTicket(
                symbol="BTCUSDT", side=Side.SELL, quantity=Decimal("2.50"),
                order_type=OrderType.LIMIT, limit_price=Decimal("1E+5"),
                time_in_force=TimeInForce.FOK,
            ),
            [("type", "LIMIT"), ("timeInForce", "FOK"), ("quantity", "2.5"), ("price", "100000")],
        ),
        (
            OrderTicket(
                symbol="BTCUSDT", side=Side.SELL, quantity=Decimal(1),
                order_type=OrderType.LIMIT, limit_price=Decimal("70000"), post_only=True,
            ),
            [("type", "LIMIT_MAKER"), ("quantity", "1"), ("price", "70000")],
        ),
    ],
)  # fmt: skip
def test_order_params_per_order_type(ticket: OrderTicket, expected: list[tuple[str, str]]) -> None:
    params = order_params(ticket, "id-1")
    assert params == [
        ("symbol", "BTCUSDT"), ("side", "SELL"), *expected,
        ("newClientOrderId", "id-1"), ("newOrderRespType", "FULL"),
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("ticket", "error"),
    [
        (
            OrderTicket(
                symbol="X", side=Side.BUY, quantity=Decimal(1), order_type=OrderType.STOP_LIMIT,
                limit_price=Decimal(1), stop_price=Decimal(1),
            ),
            UnsupportedOrder,
        ),
        (
            OrderTicket(symbol="X", side=Side.BUY, quantity=Decimal(1), post_only=True),
            UnsupportedOrder,
        ),
        (OrderTicket(symbol="X", side=Side.BUY, quantity=Decimal(0)), BadParameter),
        (
            OrderTicket(symbol="X", side=Side.BUY, quantity=Decimal(1), order_type=OrderType.LIMIT),
            BadParameter,
        ),
    ],
)  # fmt: skip
def test_orders_binance_spot_cannot_take_are_refused_before_sending(
    ticket: OrderTicket, error: type[Exception]
) -> None:
    with pytest.raises(error, match="not sent"):
        order_params(ticket, "id")


def test_wire_decimal_has_no_exponent_and_no_trailing_zeros() -> None:
    assert wire_decimal(Decimal("0.00100000")) == "0.001"
    assert wire_decimal(Decimal("1E-8")) == "0.00000001"
    assert wire_decimal(Decimal("6E+4")) == "60000"


# --- error mapping ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "code", "msg", "kind"),
    [
        (400, -1022, "Signature for this request is not valid.", BadSignature),
        (400, -2010, "Account has insufficient balance for requested action.", OrderRejected),
        (400, -2013, "Order does not exist.", NoSuchOrder),
        (400, -1013, "Filter failure: LOT_SIZE", FilterFailure),
        (400, -1100, "Illegal characters found in a parameter.", BadParameter),
        (400, -1102, "Mandatory parameter 'quantity' was not sent.", BadParameter),
        (400, -1121, "Invalid symbol.", BadParameter),
        (401, -2015, "Invalid API-key, IP, or permissions for action.", Unauthorized),
        (400, -1007, "Timeout waiting for response from backend server.", OutcomeUnknown),
        (503, None, "Service Unavailable.", VenueUnavailable),
        (500, -1001, "Internal error; unable to process your request.", VenueUnavailable),
        (400, -9999, "Something new.", BinanceError),
    ],
)
async def test_errors_are_typed_and_name_endpoint_code_and_msg(
    clock: FakeClock,
    budget: WeightBudget,
    router: respx.MockRouter,
    status: int,
    code: int | None,
    msg: str,
    kind: type[BinanceError],
) -> None:
    route = router.post("/api/v3/order").mock(return_value=_error(status, code, msg))
    async with _rest(clock, budget) as rest:
        with pytest.raises(BinanceError) as caught:
            await rest.new_order(TICKET, "c1")
    error = caught.value
    assert type(error) is kind
    assert (error.endpoint, error.code, error.msg, error.status) == (
        "POST /api/v3/order", code, msg, status,
    )  # fmt: skip
    text = str(error)
    assert text.startswith("POST /api/v3/order: ")
    assert msg in text
    assert API_KEY not in text and SECRET not in text and "signature" not in text
    assert route.call_count == 1  # none of these is resent by the client


async def test_order_rejection_carries_binance_message(
    clock: FakeClock, budget: WeightBudget, router: respx.MockRouter
) -> None:
    router.post("/api/v3/order").mock(
        return_value=_error(400, -2010, "Account has insufficient balance for requested action.")
    )
    async with _rest(clock, budget) as rest:
        with pytest.raises(OrderRejected, match="insufficient balance"):
            await rest.new_order(TICKET, "c1")


async def test_cancel_of_unknown_order_is_its_own_type(
    clock: FakeClock, budget: WeightBudget, router: respx.MockRouter
) -> None:
    route = router.delete("/api/v3/order")
    route.side_effect = [
        _error(400, -2011, "Unknown order sent."),
        _error(400, -2011, "Order was canceled or expired."),
    ]
    async with _rest(clock, budget) as rest:
        with pytest.raises(UnknownOrder):
            await rest.cancel_order("BTCUSDT", "c9")
        with pytest.raises(CancelRejected) as caught:
            await rest.cancel_order("BTCUSDT", "c9")
    assert not isinstance(caught.value, UnknownOrder)


async def test_query_of_unknown_client_id_is_no_such_order(
    clock: FakeClock, budget: WeightBudget, router: respx.MockRouter
) -> None:
    router.get("/api/v3/order").mock(return_value=_error(400, -2013, "Order does not exist."))
    async with _rest(clock, budget) as rest:
        with pytest.raises(NoSuchOrder, match="GET /api/v3/order: HTTP 400 code -2013"):
            await rest.query_order("BTCUSDT", "never-sent")


async def test_filter_failure_from_binance_names_the_filter(
    clock: FakeClock, budget: WeightBudget, router: respx.MockRouter
) -> None:
    router.post("/api/v3/order").mock(return_value=_error(400, -1013, "Filter failure: NOTIONAL"))
    async with _rest(clock, budget) as rest:
        with pytest.raises(FilterFailure) as caught:
            await rest.new_order(TICKET, "c1")
    assert caught.value.filter_type == "NOTIONAL"


async def test_an_error_body_that_is_not_json_is_still_named(
    clock: FakeClock, budget: WeightBudget, router: respx.MockRouter
) -> None:
    router.get("/api/v3/klines").respond(403, text="<html>WAF limit</html>")
    async with _rest(clock, budget) as rest:
        with pytest.raises(BinanceError, match="GET /api/v3/klines: HTTP 403 <html>WAF limit"):
            await rest.klines("BTCUSDT", "1m")


# --- -1021: resync and resend once ------------------------------------------------------


async def test_timestamp_outside_window_resyncs_and_resends_once(
    clock: FakeClock, budget: WeightBudget, router: respx.MockRouter
) -> None:
    route = router.post("/api/v3/order")
    route.side_effect = [
        _error(400, -1021, "Timestamp for this request is outside of the recvWindow."),
        httpx.Response(200, json=_full_response()),
    ]
    async with _rest(clock, budget) as rest:
        await rest.sync_time()
        clock.now += 3  # the server moved on; the next sync measures it again
        answer = await rest.new_order(TICKET, "c1")
    assert answer.client_order_id == "c1"
    assert router.routes[0].call_count == 2  # the first sync and the resync
    first, second = (dict(_fields(call.request.content.decode())) for call in route.calls)
    assert first["newClientOrderId"] == second["newClientOrderId"] == "c1"


async def test_timestamp_outside_window_twice_is_raised(
    clock: FakeClock, budget: WeightBudget, router: respx.MockRouter
) -> None:
    route = router.get("/api/v3/account").mock(
        return_value=_error(400, -1021, "Timestamp for this request was 1000ms ahead.")
    )
    async with _rest(clock, budget) as rest:
        with pytest.raises(TimestampOutOfWindow):
            await rest.account()
    assert route.call_count == 2


# --- weight, 429 and 418 ----------------------------------------------------------------


async def test_used_weight_header_makes_the_next_request_wait(
    clock: FakeClock, budget: WeightBudget, router: respx.MockRouter
) -> None:
    router.get("/api/v3/ping").respond(json={}, headers={"X-MBX-USED-WEIGHT-1M": "5999"})
    async with _rest(clock, budget) as rest:
        await rest.ping()
        await rest.ping()
        await rest.ping()
    assert clock.sleeps == [40.0]


async def test_exchange_info_sets_the_weight_limit(
    clock: FakeClock, budget: WeightBudget, router: respx.MockRouter
) -> None:
    limits = [{"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1,
               "limit": 1200}]  # fmt: skip
    route = router.get("/api/v3/exchangeInfo").respond(
        json={"serverTime": 1, "rateLimits": limits, "symbols": []}
    )
    async with _rest(clock, budget) as rest:
        await rest.exchange_info(["BTCUSDT", "ETHUSDT"])
        await rest.exchange_info(["BTCUSDT"])
    assert budget.limit == 1200
    first, second = (call.request.url.params for call in route.calls)
    assert first["symbols"] == '["BTCUSDT","ETHUSDT"]'
    assert second["symbol"] == "BTCUSDT"


async def test_429_waits_retry_after_then_resends(
    clock: FakeClock, budget: WeightBudget, router: respx.MockRouter
) -> None:
    route = router.get("/api/v3/klines")
    route.side_effect = [
        _error(429, -1003, "Too many requests.", **{"Retry-After": "9"}),
        httpx.Response(200, json=[]),
    ]
    async with _rest(clock, budget) as rest:
        assert await rest.klines("BTCUSDT", "1m") == []
    assert clock.sleeps == [9.0]
    assert route.call_count == 2


async def test_429_retries_are_bounded(
    clock: FakeClock, budget: WeightBudget, router: respx.MockRouter
) -> None:
    route = router.get("/api/v3/klines").mock(
        return_value=_error(429, -1003, "Too many requests.", **{"Retry-After": "2"})
    )
    async with _rest(clock, budget, rate_limit_retries=2) as rest:
        with pytest.raises(RateLimited) as caught:
            await rest.klines("BTCUSDT", "1m")
    assert caught.value.retry_after == 2
    assert route.call_count == 3
    assert clock.sleeps == [2.0, 2.0]


async def test_418_stops_all_sending_until_the_ban_passes(
    clock: FakeClock, budget: WeightBudget, router: respx.MockRouter
) -> None:
    klines = router.get("/api/v3/klines")
    klines.side_effect = [
        _error(418, -1003, "Way too many requests; IP banned.", **{"Retry-After": "120"}),
        httpx.Response(200, json=[]),
    ]
    order = router.post("/api/v3/order").respond(json=_full_response())
    async with _rest(clock, budget) as rest:
        await rest.sync_time()
        with pytest.raises(IpBanned) as caught:
            await rest.klines("BTCUSDT", "1m")
        assert caught.value.halts_trading and caught.value.retry_after == 120
        with pytest.raises(IpBanned, match="POST /api/v3/order: not sent"):
            await rest.new_order(TICKET, "c1")
        assert (klines.call_count, order.call_count) == (1, 0)
        clock.now += 120
        assert await rest.klines("BTCUSDT", "1m") == []
    assert clock.sleeps == []


# --- unknown outcomes -------------------------------------------------------------------


@pytest.mark.parametrize(
    "failure", [httpx.ReadTimeout, httpx.WriteTimeout, httpx.RemoteProtocolError, httpx.ReadError]
)
async def test_a_submit_that_gets_no_answer_has_an_unknown_outcome(
    clock: FakeClock,
    budget: WeightBudget,
    router: respx.MockRouter,
    failure: type[Exception],
) -> None:
    route = router.post("/api/v3/order").mock(side_effect=failure)
    async with _rest(clock, budget) as rest:
        with pytest.raises(OutcomeUnknown) as caught:
            await rest.new_order(TICKET, "c1")
    assert not isinstance(caught.value, OrderRejected)
    assert "outcome" in str(caught.value) and "POST /api/v3/order" in str(caught.value)
    assert route.call_count == 1  # never resent blindly: a query decides


async def test_a_5xx_on_submit_is_unknown_not_rejected(
    clock: FakeClock, budget: WeightBudget, router: respx.MockRouter
) -> None:
    router.post("/api/v3/order").respond(502, text="Bad Gateway")
    async with _rest(clock, budget) as rest:
        with pytest.raises(OutcomeUnknown) as caught:
            await rest.new_order(TICKET, "c1")
    assert isinstance(caught.value, VenueUnavailable)


async def test_a_cancel_that_times_out_is_unknown(
    clock: FakeClock, budget: WeightBudget, router: respx.MockRouter
) -> None:
    router.delete("/api/v3/order").mock(side_effect=httpx.ReadTimeout)
    async with _rest(clock, budget) as rest:
        with pytest.raises(OutcomeUnknown):
            await rest.cancel_order("BTCUSDT", "c1")


@pytest.mark.parametrize("failure", [httpx.ConnectError, httpx.ConnectTimeout])
async def test_a_connection_that_never_opened_sent_nothing(
    clock: FakeClock, budget: WeightBudget, router: respx.MockRouter, failure: type[Exception]
) -> None:
    router.post("/api/v3/order").mock(side_effect=failure)
    async with _rest(clock, budget) as rest:
        with pytest.raises(VenueUnreachable, match=r"not sent: cannot connect to http://sim\.test"):
            await rest.new_order(TICKET, "c1")


async def test_a_success_with_an_unreadable_body_is_unknown_for_a_submit(
    clock: FakeClock, budget: WeightBudget, router: respx.MockRouter
) -> None:
    router.post("/api/v3/order").respond(200, text="{not json")
    router.get("/api/v3/order").respond(200, json={"unexpected": 1})
    async with _rest(clock, budget) as rest:
        with pytest.raises(OutcomeUnknown, match="unexpected answer"):
            await rest.new_order(TICKET, "c1")
        with pytest.raises(UnexpectedResponse, match="unexpected answer"):
            await rest.query_order("BTCUSDT", "c1")


# --- no secret in logs ------------------------------------------------------------------


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    root, httpx_logger = logging.getLogger(), logging.getLogger("httpx")
    handlers, level, previous = list(root.handlers), root.level, app.logs._handler
    httpx_level = httpx_logger.level
    httpx_logger.setLevel(logging.NOTSET)  # httpx's request lines hold the signed URL
    stream = io.StringIO()
    app.logs.configure_logging("DEBUG", json=True, stream=stream)
    yield stream
    root.handlers[:] = handlers
    root.setLevel(level)
    httpx_logger.setLevel(httpx_level)
    app.logs._handler = previous
    structlog.reset_defaults()


async def test_no_key_secret_or_signature_reaches_a_log_line(
    clock: FakeClock, budget: WeightBudget, router: respx.MockRouter, log_stream: io.StringIO
) -> None:
    query = router.get("/api/v3/order").respond(json=_order_info())
    order = router.post("/api/v3/order").mock(return_value=_error(400, -2010, "Rejected."))
    async with _rest(clock, budget) as rest:
        await rest.query_order("BTCUSDT", "c1")
        with pytest.raises(OrderRejected):
            await rest.new_order(TICKET, "c1")
    signatures = [
        _split_signature(query.calls.last.request.url.query.decode())[1],
        _split_signature(order.calls.last.request.content.decode())[1],
    ]
    output = log_stream.getvalue()
    assert "binance_error" in output and "HTTP Request" in output  # something was logged
    for secret in (API_KEY, SECRET, *signatures):
        assert secret not in output
    assert "signature=***" in output  # httpx logged the signed URL; the redactor masked it


# --- into the catalog -------------------------------------------------------------------


def _response(**fields: Any) -> OrderResponse:
    return msgspec.json.decode(msgspec.json.encode(_full_response(**fields)), type=OrderResponse)


def _info(**fields: Any) -> OrderInfo:
    return msgspec.json.decode(msgspec.json.encode(_order_info(**fields)), type=OrderInfo)


def test_full_response_becomes_acceptance_then_one_report_per_trade() -> None:
    reports = execution_reports(_response())
    assert [r.status for r in reports] == [
        OrderStatus.ACCEPTED, OrderStatus.PARTIALLY_FILLED, OrderStatus.FILLED,
    ]  # fmt: skip
    fill = reports[2]
    assert (fill.venue, fill.client_order_id, fill.venue_order_id) == ("binance", "c1", "28")
    assert (fill.last_price, fill.last_quantity) == (Decimal("60010.00"), Decimal("0.002"))
    assert fill.cumulative_quantity == Decimal("0.003")
    assert (fill.fee, fill.fee_asset, fill.trade_id) == (Decimal("0.12002"), "USDT", "57")
    assert fill.liquidity is Liquidity.TAKER
    assert all(r.ts == 1_700_000_000_000 * 1_000_000 for r in reports)


def test_ioc_partially_filled_then_expired_ends_with_its_expiry() -> None:
    response = _response(
        status="EXPIRED", timeInForce="IOC", type="LIMIT", origQty="0.010",
        executedQty="0.003",
    )  # fmt: skip
    reports = execution_reports(response)
    assert [r.status for r in reports] == [
        OrderStatus.ACCEPTED, OrderStatus.PARTIALLY_FILLED, OrderStatus.PARTIALLY_FILLED,
        OrderStatus.EXPIRED,
    ]  # fmt: skip
    assert reports[-1].cumulative_quantity == Decimal("0.003")
    assert reports[-1].reason == "LIMIT IOC EXPIRED"


def test_the_order_manager_takes_the_reports_as_a_venue_gateway_would_send_them() -> None:
    manager = OrderManager()
    out: list[Any] = []
    manager.attach(out.append, SimClock(1_000))
    ticket = OrderTicket(symbol="BTCUSDT", side=Side.BUY, quantity=Decimal("0.010"))
    manager.on_order_request(
        OrderRequest(ts=1_000, intent=OrderIntent(ts=1_000, strategy="s", ticket=ticket))
    )
    submit = next(m for m in out if isinstance(m, SubmitOrder))
    response = _response(
        clientOrderId=submit.client_order_id, status="EXPIRED", timeInForce="IOC",
        type="MARKET", origQty="0.010", executedQty="0.003",
    )  # fmt: skip
    out.clear()
    for report in execution_reports(response):
        manager.on_execution_report(report)
    kinds = [type(m) for m in out]
    assert kinds == [OrderAccepted, Fill, Fill, OrderExpired]
    fills = [m for m in out if isinstance(m, Fill)]
    assert [f.cumulative_quantity for f in fills] == [Decimal("0.001"), Decimal("0.003")]
    assert manager.orders[submit.client_order_id].status is OrderStatus.EXPIRED
    for report in execution_reports(response):  # a repeated answer changes nothing
        manager.on_execution_report(report)
    assert [type(m) for m in out] == kinds


def test_status_report_of_a_queried_order() -> None:
    report = status_report(_info(status="PARTIALLY_FILLED", executedQty="0.001"))
    assert (report.client_order_id, report.venue_order_id, report.symbol) == ("c1", "7", "BTCUSDT")
    assert (report.status, report.side, report.found) == (
        OrderStatus.PARTIALLY_FILLED, Side.BUY, True,
    )  # fmt: skip
    assert (report.quantity, report.filled_quantity) == (Decimal("0.002"), Decimal("0.001"))
    assert report.ts == 1_700_000_000_500 * 1_000_000


def test_cancel_answer_reports_the_order_under_its_own_client_id() -> None:
    info = _info(clientOrderId="cancel-1", origClientOrderId="c1", status="CANCELED")
    assert status_report(info, ts=5).client_order_id == "c1"
    assert status_report(info, ts=5).status is OrderStatus.CANCELED


def _trade(
    *, id: int, price: int, qty: str, time: int, is_maker: bool, order_id: int = 7
) -> AccountTrade:
    return AccountTrade(
        symbol="BTCUSDT", id=id, order_id=order_id, price=Decimal(price), qty=Decimal(qty),
        quote_qty=Decimal(0), commission=Decimal("0.01"), commission_asset="USDT", time=time,
        is_buyer=True, is_maker=is_maker,
    )  # fmt: skip


def test_order_reports_replay_an_order_from_its_trades() -> None:
    info = _info(status="FILLED", executedQty="0.002")
    trades = [
        _trade(id=12, price=60001, qty="0.0015", time=1_700_000_000_300, is_maker=False),
        _trade(id=11, price=60000, qty="0.0005", time=1_700_000_000_200, is_maker=True),
        _trade(id=13, order_id=8, price=1, qty="1", time=1_700_000_000_400, is_maker=True),
    ]
    reports = order_reports(info, trades)
    assert [(r.status, r.trade_id) for r in reports] == [
        (OrderStatus.ACCEPTED, ""),
        (OrderStatus.PARTIALLY_FILLED, "11"),
        (OrderStatus.FILLED, "12"),
    ]
    assert reports[1].liquidity is Liquidity.MAKER and reports[2].liquidity is Liquidity.TAKER
    fill = fill_from_trade(
        trades[0], client_order_id="c1", strategy="s", cumulative_quantity=Decimal("0.002")
    )
    assert (fill.side, fill.trade_id, fill.venue_order_id, fill.liquidity) == (
        Side.BUY, "12", "7", Liquidity.TAKER,
    )  # fmt: skip


def test_canceled_order_with_no_trades_ends_canceled() -> None:
    reports = order_reports(_info(status="CANCELED"), [])
    assert [r.status for r in reports] == [OrderStatus.ACCEPTED, OrderStatus.CANCELED]
    assert isinstance(reports[-1], ExecutionReport)


def test_not_found_report_tells_the_order_manager_the_venue_never_saw_it() -> None:
    report = not_found_report("c1", "BTCUSDT", Side.SELL, ts=9)
    assert (report.found, report.client_order_id, report.ts) == (False, "c1", 9)


@pytest.mark.parametrize(
    ("binance", "ours"),
    [
        ("NEW", OrderStatus.ACCEPTED), ("PENDING_NEW", OrderStatus.ACCEPTED),
        ("PARTIALLY_FILLED", OrderStatus.PARTIALLY_FILLED), ("FILLED", OrderStatus.FILLED),
        ("CANCELED", OrderStatus.CANCELED), ("PENDING_CANCEL", OrderStatus.PENDING_CANCEL),
        ("REJECTED", OrderStatus.REJECTED), ("EXPIRED", OrderStatus.EXPIRED),
        ("EXPIRED_IN_MATCH", OrderStatus.EXPIRED),
    ],
)  # fmt: skip
def test_order_statuses_map_to_ours(binance: str, ours: OrderStatus) -> None:
    assert order_status(binance) is ours


def test_an_unknown_order_status_is_an_unexpected_response() -> None:
    with pytest.raises(UnexpectedResponse, match="'NEWISH'"):
        order_status("NEWISH")


def test_balances_are_totals_without_zeros_by_asset() -> None:
    account = Account(
        balances=(
            Balance(asset="USDT", free=Decimal("10.5"), locked=Decimal("2")),
            Balance(asset="BNB", free=Decimal(0), locked=Decimal(0)),
            Balance(asset="BTC", free=Decimal(0), locked=Decimal("0.1")),
        )
    )
    assert balances(account) == {"BTC": Decimal("0.1"), "USDT": Decimal("12.5")}
