"""Every real Binance spot REST answer under shared/fixtures/real/binance_rest/spot_* parses:
through the client's own endpoint (served by respx) where the adapter has one, into the
documented shapes otherwise, with values checked against the files."""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import pytest
import respx

from actors.messages import Liquidity, OrderStatus, Side
from tests.shared_fixtures import shared_fixtures
from venues.binance.errors import BadParameter, error_from_response
from venues.binance.filters import instrument, symbol_rules
from venues.binance.rest import (
    Account,
    AccountTrade,
    AggTrade,
    BinanceRest,
    ExchangeInfo,
    Kline,
    OrderAck,
    OrderInfo,
    OrderResponse,
    PublicTrade,
    balances,
    execution_reports,
    status_report,
)
from venues.binance.signing import Credentials, HmacSigner
from venues.binance.weights import WeightBudget

BASE = "http://sim.test"
DIRS = ("spot_docs_examples", "spot_recorded")

Call = Callable[[BinanceRest], Awaitable[Any]]
# fixture -> (method, path, how the client asks for it)
THROUGH_CLIENT: dict[str, tuple[str, str, Call]] = {
    "account.json": ("GET", "/api/v3/account", lambda rest: rest.account()),
    "agg_trades.json": (
        "GET", "/api/v3/aggTrades", lambda rest: rest.agg_trades("BTCUSDT", from_id=1),
    ),
    "cancel_order.json": (
        "DELETE", "/api/v3/order", lambda rest: rest.cancel_order("LTCBTC", "myOrder1"),
    ),
    "exchange_info.json": ("GET", "/api/v3/exchangeInfo", lambda rest: rest.exchange_info()),
    "klines.json": ("GET", "/api/v3/klines", lambda rest: rest.klines("BTCUSDT", "1m")),
    "my_trades.json": ("GET", "/api/v3/myTrades", lambda rest: rest.my_trades("BNBBTC")),
    "open_orders.json": ("GET", "/api/v3/openOrders", lambda rest: rest.open_orders("LTCBTC")),
    "query_order.json": (
        "GET", "/api/v3/order", lambda rest: rest.query_order("LTCBTC", "myOrder1"),
    ),
    "server_time.json": ("GET", "/api/v3/time", lambda rest: rest.server_time()),
    "time.json": ("GET", "/api/v3/time", lambda rest: rest.server_time()),
    "trades.json": ("GET", "/api/v3/trades", lambda rest: rest.trades("BTCUSDT")),
}  # fmt: skip
# Shapes with no endpoint of their own in the adapter (same structs as one that has).
DECODED: dict[str, Any] = {
    "all_orders.json": list[OrderInfo],
    "historical_trades.json": list[PublicTrade],
    "new_order_ack.json": OrderAck,
    "new_order_full.json": OrderResponse,
    "new_order_result.json": OrderResponse,
}
# Checked elsewhere: the error payload (below) and the filter catalogue (test_filters.py).
ELSEWHERE = {"error_payload_example.json", "filters_examples.json"}
# Market data the adapter does not read over REST (the streams carry it).
NOT_USED = {"avg_price.json", "book_ticker.json", "depth.json", "ticker_price.json"}


def _fixture_files() -> list[Path]:
    root = shared_fixtures() / "binance_rest"
    return sorted(path for folder in DIRS for path in (root / folder).glob("*.json"))


def _path(folder: str, name: str) -> Path:
    return shared_fixtures() / "binance_rest" / folder / name


@pytest.fixture
def router() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=BASE, assert_all_called=False) as mock:
        yield mock


def test_every_spot_fixture_is_parsed_somewhere() -> None:
    known = set(THROUGH_CLIENT) | set(DECODED) | ELSEWHERE | NOT_USED
    unknown = [f"{path.parent.name}/{path.name}" for path in _fixture_files()]
    assert [name for name in unknown if name.rpartition("/")[2] not in known] == []


async def _through_client(router: respx.MockRouter, path: Path) -> Any:
    method, endpoint, call = THROUGH_CLIENT[path.name]
    router.route(method=method, path=endpoint).respond(content=path.read_bytes())
    if endpoint != "/api/v3/time":
        router.get("/api/v3/time").respond(json={"serverTime": 1_499_827_319_559})
    budget = WeightBudget(6000)
    credentials = Credentials("key", HmacSigner("secret"))
    async with BinanceRest(BASE, credentials=credentials, budget=budget) as rest:
        return await call(rest)


@pytest.mark.parametrize("folder", DIRS)
async def test_fixtures_parse_through_the_client(router: respx.MockRouter, folder: str) -> None:
    parsed = 0
    for path in sorted((shared_fixtures() / "binance_rest" / folder).glob("*.json")):
        if path.name in THROUGH_CLIENT:
            assert await _through_client(router, path) is not None, path.name
            parsed += 1
        elif path.name in DECODED:
            kind = DECODED[path.name]
            # Market data sends prices as strings into float fields: lax, as the client is.
            msgspec.json.decode(path.read_bytes(), type=kind, strict=kind != list[PublicTrade])
            parsed += 1
    assert parsed >= 5


def test_recorded_klines_are_ten_contiguous_closed_minutes() -> None:
    rows = msgspec.json.decode(
        _path("spot_recorded", "klines.json").read_bytes(), type=list[Kline], strict=False
    )
    assert len(rows) == 10
    assert [b.open_time - a.open_time for a, b in itertools.pairwise(rows)] == [60_000] * 9
    assert all(row.close_time == row.open_time + 59_999 for row in rows)
    first = rows[0]
    assert (first.open_time, first.open, first.high, first.low, first.close) == (
        1634943780000, 60685.22, 60729.84, 60670.90, 60719.27,
    )  # fmt: skip
    assert (first.volume, first.quote_volume, first.trades) == (21.63272, 1313200.0134041, 617)


def test_recorded_exchange_info_gives_instruments_and_weight_limit() -> None:
    info = msgspec.json.decode(
        _path("spot_recorded", "exchange_info.json").read_bytes(), type=ExchangeInfo
    )
    assert [s.symbol for s in info.symbols] == ["BTCUSDT", "ETHUSDT"]
    assert info.rate_limits[0].limit == 1200
    assert instrument(symbol_rules(info.symbols[1])).tick_size == Decimal("0.01")


def test_docs_full_order_becomes_reports_with_every_fill() -> None:
    response = msgspec.json.decode(
        _path("spot_docs_examples", "new_order_full.json").read_bytes(), type=OrderResponse
    )
    reports = execution_reports(response)
    assert [r.status for r in reports] == [OrderStatus.ACCEPTED] + [
        OrderStatus.PARTIALLY_FILLED
    ] * 4 + [OrderStatus.FILLED]
    assert [r.trade_id for r in reports[1:]] == ["56", "57", "58", "59", "60"]
    assert reports[-1].cumulative_quantity == Decimal("10.00000000")
    assert sum(r.fee for r in reports) == Decimal("39.98300000")
    assert {r.side for r in reports} == {Side.SELL}
    assert {r.liquidity for r in reports} == {Liquidity.TAKER}
    assert reports[0].client_order_id == "6gCrw2kRUAF9CvJDGP16IP"


def test_docs_query_and_cancel_become_status_reports() -> None:
    query = msgspec.json.decode(
        _path("spot_docs_examples", "query_order.json").read_bytes(), type=OrderInfo
    )
    cancel = msgspec.json.decode(
        _path("spot_docs_examples", "cancel_order.json").read_bytes(), type=OrderInfo
    )
    report = status_report(query)
    assert (report.status, report.quantity, report.filled_quantity) == (
        OrderStatus.ACCEPTED, Decimal("1.0"), Decimal("0.0"),
    )  # fmt: skip
    assert status_report(cancel).client_order_id == "myOrder1"  # not the cancel's own id
    assert status_report(cancel).status is OrderStatus.CANCELED


def test_docs_account_and_trades_keep_exact_decimals() -> None:
    account = msgspec.json.decode(
        _path("spot_docs_examples", "account.json").read_bytes(), type=Account
    )
    assert balances(account) == {
        "BTC": Decimal("4723846.89208129"),
        "LTC": Decimal("4763368.68006011"),
    }
    trades = msgspec.json.decode(
        _path("spot_docs_examples", "my_trades.json").read_bytes(), type=list[AccountTrade]
    )
    assert (trades[0].quote_qty, trades[0].commission) == (Decimal("48.000012"), Decimal("10.1"))


def test_recorded_agg_trades_keep_their_ids_and_sides() -> None:
    rows = msgspec.json.decode(
        _path("spot_recorded", "agg_trades.json").read_bytes(), type=list[AggTrade], strict=False
    )
    assert [row.agg_trade_id for row in rows] == list(range(966492862, 966492872))
    assert rows[2].buyer_is_maker and not rows[0].buyer_is_maker


def test_docs_error_payload_maps_to_a_typed_error() -> None:
    body = _path("spot_docs_examples", "error_payload_example.json").read_bytes()
    error = error_from_response("GET /api/v3/exchangeInfo", 400, body, {})
    assert isinstance(error, BadParameter)
    assert str(error) == "GET /api/v3/exchangeInfo: HTTP 400 code -1121 Invalid symbol."
