"""The Binance spot REST client: requests built, signed, weighed and answered as Binance documents.

``BinanceRest`` speaks the subset of ``/api/v3`` the desk uses (rest-api.md):
server time, exchangeInfo, klines, aggTrades/trades, new order (FULL response),
cancel, query by client id, open orders, myTrades, account, and the listenKey of
the user data stream. It points at the loopback simulator unless told otherwise;
real Binance is ``base_url=BINANCE_URL``.

What it guarantees:

- a SIGNED request carries ``recvWindow``, ``timestamp`` (local clock plus the
  offset measured from ``/api/v3/time``) and ``signature`` last, over the exact
  url-encoded parameters in their order; ``X-MBX-APIKEY`` is a header. POST
  parameters go in the form body, so no signature sits in a POST's URL;
- every request first reserves its weight in the host's shared ``WeightBudget``;
  a 429 pauses every caller and is retried (at most ``rate_limit_retries`` times);
  a 418 bans every later request until it has passed (``IpBanned``, which halts);
- -1021 (timestamp outside the window) re-syncs the clock and resends once;
- a timeout, a dropped connection or a 5xx raises ``OutcomeUnknown``, never a
  rejection: an order's fate is then asked for by client id. Nothing is resent
  by this client after an unknown outcome;
- answers are small msgspec structs with Decimal money (market data as float),
  plus helpers that turn them into the catalog's ``ExecutionReport``,
  ``OrderStatusReport`` and ``Fill`` the order manager expects.

Errors and this module's log events name the endpoint (method and path) only,
never the query, the API key or the signature. httpx's own request lines do hold a
GET's signed URL: the redaction processor of ``app.logs`` masks its ``signature=``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any, Final, Self, TypeVar

import httpx
import msgspec
import structlog

from actors.messages import (
    ExecutionReport,
    Fill,
    Liquidity,
    OrderStatus,
    OrderStatusReport,
    OrderTicket,
    OrderType,
    Side,
)
from venues.binance.errors import (
    BadParameter,
    OutcomeUnknown,
    RateLimited,
    TimestampOutOfWindow,
    Unauthorized,
    UnexpectedResponse,
    UnsupportedOrder,
    VenueUnreachable,
    error_from_response,
)
from venues.binance.filters import SymbolInfo
from venues.binance.signing import Credentials, encode_params
from venues.binance.weights import (
    REQUEST_WEIGHTS,
    USED_WEIGHT_HEADER,
    RateLimit,
    WeightBudget,
    minute_weight_limit,
    shared_budget,
)

__all__ = [
    "BINANCE_URL",
    "MAX_KLINES",
    "SIMULATOR_URL",
    "VENUE",
    "Account",
    "AccountTrade",
    "AggTrade",
    "Balance",
    "BinanceRest",
    "ExchangeInfo",
    "Kline",
    "OrderAck",
    "OrderFill",
    "OrderInfo",
    "OrderResponse",
    "PublicTrade",
    "ServerTime",
    "balances",
    "execution_reports",
    "fill_from_trade",
    "not_found_report",
    "order_params",
    "order_reports",
    "order_status",
    "status_report",
    "wire_decimal",
]

log = structlog.get_logger(__name__)

SIMULATOR_URL: Final = "http://127.0.0.1:8765"
BINANCE_URL: Final = "https://api.binance.com"
VENUE: Final = "binance"
MAX_KLINES: Final = 1000
DEFAULT_RECV_WINDOW_MS: Final = 5000
DEFAULT_TIMEOUT_SECONDS: Final = 10.0
DEFAULT_RATE_LIMIT_RETRIES: Final = 3
_MS: Final = 1_000_000
_ZERO: Final = Decimal(0)
_API_KEY_HEADER: Final = "X-MBX-APIKEY"
_FORM: Final = {"Content-Type": "application/x-www-form-urlencoded"}


# --- answers --------------------------------------------------------------------------


class _Answer(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """Base of Binance's JSON answers: camelCase on the wire, unknown fields ignored."""


class ServerTime(_Answer, kw_only=True):
    server_time: int


class ExchangeInfo(_Answer, kw_only=True):
    timezone: str = "UTC"
    server_time: int
    rate_limits: tuple[RateLimit, ...] = ()
    symbols: tuple[SymbolInfo, ...] = ()


class Kline(msgspec.Struct, frozen=True, array_like=True):
    """One kline row as Binance sends it (an array of 12); prices are market data (float).
    ``close_time`` is the last millisecond of the bar: open_time + interval - 1."""

    open_time: int
    open: float
    high: float
    low: float
    close: float
    volume: float
    close_time: int
    quote_volume: float
    trades: int
    taker_buy_base_volume: float
    taker_buy_quote_volume: float
    ignore: str = "0"


class AggTrade(msgspec.Struct, frozen=True, kw_only=True):
    """``/api/v3/aggTrades`` row: Binance's one-letter keys, named."""

    agg_trade_id: int = msgspec.field(name="a")
    price: float = msgspec.field(name="p")
    quantity: float = msgspec.field(name="q")
    first_trade_id: int = msgspec.field(name="f")
    last_trade_id: int = msgspec.field(name="l")
    time: int = msgspec.field(name="T")
    buyer_is_maker: bool = msgspec.field(name="m")
    best_match: bool = msgspec.field(default=True, name="M")


class PublicTrade(_Answer, kw_only=True):
    """``/api/v3/trades`` (and historicalTrades) row."""

    id: int
    price: float
    qty: float
    quote_qty: float
    time: int
    is_buyer_maker: bool
    is_best_match: bool = True


class OrderFill(_Answer, kw_only=True):
    """One trade in a FULL new-order response (always ours as taker: it filled on arrival)."""

    price: Decimal
    qty: Decimal
    commission: Decimal
    commission_asset: str
    trade_id: int


class OrderAck(_Answer, kw_only=True):
    """The ACK new-order response (we always ask for FULL; kept to read the docs' example)."""

    symbol: str
    order_id: int
    order_list_id: int = -1
    client_order_id: str
    transact_time: int


class OrderResponse(OrderAck, kw_only=True):
    """The RESULT/FULL new-order response; ``fills`` only in FULL."""

    price: Decimal = _ZERO
    orig_qty: Decimal
    executed_qty: Decimal
    cummulative_quote_qty: Decimal = _ZERO
    status: str
    time_in_force: str = ""
    type: str
    side: str
    working_time: int = 0
    fills: tuple[OrderFill, ...] = ()


class OrderInfo(_Answer, kw_only=True):
    """An order as query, openOrders and cancel describe it. A cancel's ``clientOrderId``
    is the cancel request's own id; the order's is then ``origClientOrderId``."""

    symbol: str
    order_id: int
    order_list_id: int = -1
    client_order_id: str
    orig_client_order_id: str = ""
    price: Decimal = _ZERO
    orig_qty: Decimal
    executed_qty: Decimal
    cummulative_quote_qty: Decimal = _ZERO
    status: str
    time_in_force: str = ""
    type: str
    side: str
    stop_price: Decimal = _ZERO
    time: int = 0
    update_time: int = 0
    transact_time: int = 0
    is_working: bool = True

    @property
    def order_client_id(self) -> str:
        return self.orig_client_order_id or self.client_order_id

    @property
    def last_update_ms(self) -> int:
        return self.update_time or self.transact_time or self.time


class AccountTrade(_Answer, kw_only=True):
    """``/api/v3/myTrades`` row: one of our trades."""

    symbol: str
    id: int
    order_id: int
    order_list_id: int = -1
    price: Decimal
    qty: Decimal
    quote_qty: Decimal
    commission: Decimal
    commission_asset: str
    time: int
    is_buyer: bool
    is_maker: bool
    is_best_match: bool = True


class Balance(_Answer, kw_only=True):
    asset: str
    free: Decimal
    locked: Decimal


class Account(_Answer, kw_only=True):
    maker_commission: int = 0
    taker_commission: int = 0
    can_trade: bool = True
    update_time: int = 0
    account_type: str = "SPOT"
    balances: tuple[Balance, ...] = ()
    permissions: tuple[str, ...] = ()


class _ListenKey(_Answer, kw_only=True):
    listen_key: str


class _Empty(_Answer, kw_only=True):
    pass


_T = TypeVar("_T")
_MARKET_DATA: Final = (list[Kline], list[AggTrade], list[PublicTrade])
_DECODERS: dict[Any, msgspec.json.Decoder[Any]] = {}


def _decoder(kind: Any) -> msgspec.json.Decoder[Any]:
    decoder = _DECODERS.get(kind)
    if decoder is None:
        # Market data sends prices as strings; float fields take them only in lax mode.
        strict = kind not in _MARKET_DATA
        decoder = _DECODERS[kind] = msgspec.json.Decoder(kind, strict=strict)
    return decoder


# --- the client -----------------------------------------------------------------------


def _wall_ms() -> int:
    return time.time_ns() // _MS


class BinanceRest:
    """One Binance spot REST endpoint; see the module doc. Use ``async with``."""

    def __init__(
        self,
        base_url: str = SIMULATOR_URL,
        *,
        credentials: Credentials | None = None,
        budget: WeightBudget | None = None,
        recv_window_ms: int = DEFAULT_RECV_WINDOW_MS,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
        rate_limit_retries: int = DEFAULT_RATE_LIMIT_RETRIES,
        clock_ms: Callable[[], int] = _wall_ms,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if not 0 < recv_window_ms <= 60_000:
            raise ValueError(f"recv_window_ms must be in 1..60000 (Binance), got {recv_window_ms}")
        if rate_limit_retries < 0:
            raise ValueError(f"rate_limit_retries must be >= 0, got {rate_limit_retries}")
        self.base_url = base_url.rstrip("/")
        self._credentials = credentials
        self._budget = budget if budget is not None else shared_budget(self.base_url)
        self._recv_window = recv_window_ms
        self._retries = rate_limit_retries
        self._clock_ms = clock_ms
        self._offset_ms: int | None = None
        self._client = httpx.AsyncClient(
            base_url=self.base_url, timeout=timeout_seconds, transport=transport
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()

    @property
    def budget(self) -> WeightBudget:
        return self._budget

    @property
    def time_offset_ms(self) -> int | None:
        """Server time minus local time, as last measured (``None``: not yet)."""
        return self._offset_ms

    def server_now_ms(self) -> int:
        """The server's clock as estimated here (local time until the first sync)."""
        return self._clock_ms() + (self._offset_ms or 0)

    # --- market data and time ---------------------------------------------------

    async def ping(self) -> None:
        await self._call("GET", "/api/v3/ping", [], _Empty)

    async def server_time(self) -> int:
        """The server's time in ms."""
        answer = await self._call("GET", "/api/v3/time", [], ServerTime)
        return answer.server_time

    async def sync_time(self) -> int:
        """Measure the server clock's offset from ours (at the middle of the round trip)
        and use it for every later ``timestamp``; returns the offset in ms."""
        sent = self._clock_ms()
        server = await self.server_time()
        received = self._clock_ms()
        self._offset_ms = server - (sent + received) // 2
        log.info("binance_time_synced", offset_ms=self._offset_ms, round_trip_ms=received - sent)
        return self._offset_ms

    async def exchange_info(self, symbols: Sequence[str] = ()) -> ExchangeInfo:
        """Symbols and their filters (all of them when ``symbols`` is empty). The request
        weight limit it lists becomes the budget's."""
        params: list[tuple[str, str]] = []
        if len(symbols) == 1:
            params.append(("symbol", symbols[0]))
        elif symbols:
            params.append(("symbols", "[" + ",".join(f'"{s}"' for s in symbols) + "]"))
        info = await self._call("GET", "/api/v3/exchangeInfo", params, ExchangeInfo)
        limit = minute_weight_limit(info.rate_limits)
        if limit is not None:
            self._budget.set_limit(limit)
        return info

    async def klines(
        self,
        symbol: str,
        interval: str,
        start_ms: int | None = None,
        end_ms: int | None = None,
        limit: int = MAX_KLINES,
    ) -> list[Kline]:
        """Klines of ``[start_ms, end_ms]`` (both inclusive, Binance's way), oldest first,
        at most ``limit`` (1..1000). The newest may still be open: its close_time is then
        in the future."""
        endpoint = "GET /api/v3/klines"
        if not 1 <= limit <= MAX_KLINES:
            raise BadParameter(endpoint, f"not sent: limit must be in 1..{MAX_KLINES}, got {limit}")
        params = [("symbol", symbol), ("interval", interval)]
        _add_range(params, start_ms, end_ms, limit)
        return await self._call("GET", "/api/v3/klines", params, list[Kline])

    async def agg_trades(
        self,
        symbol: str,
        *,
        from_id: int | None = None,
        start_ms: int | None = None,
        end_ms: int | None = None,
        limit: int = 500,
    ) -> list[AggTrade]:
        """Aggregate trades from ``from_id`` (inclusive) or in a time range: how a stream's
        gap in trades is filled."""
        params = [("symbol", symbol)]
        if from_id is not None:
            params.append(("fromId", str(from_id)))
        _add_range(params, start_ms, end_ms, limit)
        return await self._call("GET", "/api/v3/aggTrades", params, list[AggTrade])

    async def trades(self, symbol: str, limit: int = 500) -> list[PublicTrade]:
        """The most recent trades of ``symbol``."""
        params = [("symbol", symbol), ("limit", str(limit))]
        return await self._call("GET", "/api/v3/trades", params, list[PublicTrade])

    # --- orders (SIGNED) --------------------------------------------------------

    async def new_order(self, ticket: OrderTicket, client_order_id: str) -> OrderResponse:
        """Place ``ticket`` (already ``prepare_order``-ed) under ``client_order_id`` with the
        FULL response. ``OutcomeUnknown`` if it timed out or Binance failed: the order may
        exist; ask ``query_order`` and resend under the same id only if it does not."""
        params = order_params(ticket, client_order_id)
        return await self._call("POST", "/api/v3/order", params, OrderResponse, signed=True)

    async def cancel_order(self, symbol: str, client_order_id: str) -> OrderInfo:
        """Cancel by our client id; ``UnknownOrder`` if no such order is open."""
        params = [("symbol", symbol), ("origClientOrderId", client_order_id)]
        return await self._call("DELETE", "/api/v3/order", params, OrderInfo, signed=True)

    async def query_order(self, symbol: str, client_order_id: str) -> OrderInfo:
        """The order with our client id; ``NoSuchOrder`` if Binance has none."""
        params = [("symbol", symbol), ("origClientOrderId", client_order_id)]
        return await self._call("GET", "/api/v3/order", params, OrderInfo, signed=True)

    async def open_orders(self, symbol: str | None = None) -> list[OrderInfo]:
        """Open orders of ``symbol``, or of every symbol (weight 80 instead of 6)."""
        params = [] if symbol is None else [("symbol", symbol)]
        weight = REQUEST_WEIGHTS["GET /api/v3/openOrders"] if symbol else 80
        return await self._call(
            "GET", "/api/v3/openOrders", params, list[OrderInfo], signed=True, weight=weight
        )

    async def my_trades(
        self,
        symbol: str,
        *,
        from_id: int | None = None,
        order_id: int | None = None,
        limit: int = 500,
    ) -> list[AccountTrade]:
        """Our trades of ``symbol`` with id >= ``from_id`` (oldest first), or of one order."""
        params = [("symbol", symbol)]
        if order_id is not None:
            params.append(("orderId", str(order_id)))
        if from_id is not None:
            params.append(("fromId", str(from_id)))
        params.append(("limit", str(limit)))
        weight = 5 if order_id is not None else REQUEST_WEIGHTS["GET /api/v3/myTrades"]
        return await self._call(
            "GET", "/api/v3/myTrades", params, list[AccountTrade], signed=True, weight=weight
        )

    async def account(self) -> Account:
        return await self._call("GET", "/api/v3/account", [], Account, signed=True)

    # --- user data stream (API key, not signed) ---------------------------------

    async def start_user_stream(self) -> str:
        """A listenKey for ``/ws/<listenKey>``; valid 60 minutes unless kept alive."""
        answer = await self._call("POST", "/api/v3/userDataStream", [], _ListenKey, keyed=True)
        return answer.listen_key

    async def keepalive_user_stream(self, listen_key: str) -> None:
        params = [("listenKey", listen_key)]
        await self._call("PUT", "/api/v3/userDataStream", params, _Empty, keyed=True)

    async def close_user_stream(self, listen_key: str) -> None:
        params = [("listenKey", listen_key)]
        await self._call("DELETE", "/api/v3/userDataStream", params, _Empty, keyed=True)

    # --- the request --------------------------------------------------------------

    async def _call(
        self,
        method: str,
        path: str,
        params: list[tuple[str, str]],
        kind: type[_T] | Any,
        *,
        signed: bool = False,
        keyed: bool = False,
        weight: int | None = None,
    ) -> _T:
        """Send, with the budget, the 429 retries and the one -1021 resync; decode."""
        endpoint = f"{method} {path}"
        cost = REQUEST_WEIGHTS.get(endpoint, 1) if weight is None else weight
        headers: dict[str, str] = {}
        if signed or keyed:
            headers[_API_KEY_HEADER] = self._require_credentials(endpoint).api_key
        if method == "POST":
            headers.update(_FORM)
        if signed and self._offset_ms is None:
            await self.sync_time()
        rate_limited = 0
        resynced = False
        while True:
            window = await self._budget.acquire(cost, endpoint)
            # Signed after any wait for weight, so the timestamp is fresh when it leaves.
            query = self._signed_query(params) if signed else encode_params(params)
            response = await self._send(endpoint, method, path, query, headers)
            self._budget.observe(window, response.headers)
            if response.is_success:
                return self._decode(endpoint, method, response, kind)
            error = error_from_response(
                endpoint, response.status_code, response.content, response.headers
            )
            log.warning(
                "binance_error",
                endpoint=endpoint,
                status=response.status_code,
                code=error.code,
                msg=error.msg,
            )
            if isinstance(error, RateLimited):
                if error.halts_trading:  # 418: nothing more may be sent until the ban ends
                    self._budget.ban(error.retry_after)
                    raise error
                # Binance did not execute a request it answered with 429: resending is safe.
                self._budget.pause(error.retry_after)
                if rate_limited < self._retries:
                    rate_limited += 1
                    continue
                raise error
            if isinstance(error, TimestampOutOfWindow) and signed and not resynced:
                # Refused before execution, so resending under a fresh timestamp is safe.
                resynced = True
                await self.sync_time()
                continue
            raise error

    async def _send(
        self, endpoint: str, method: str, path: str, query: str, headers: dict[str, str]
    ) -> httpx.Response:
        body = query if method == "POST" else ""
        url = path if method == "POST" or not query else f"{path}?{query}"
        try:
            response = await self._client.request(
                method, url, content=body.encode() if body else None, headers=headers
            )
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as error:
            raise VenueUnreachable(
                endpoint, f"not sent: cannot connect to {self.base_url} ({_reason(error)})"
            ) from None
        except httpx.TimeoutException as error:
            raise OutcomeUnknown(
                endpoint, f"no answer in time ({_reason(error)}): the outcome is unknown"
            ) from None
        except httpx.TransportError as error:
            raise OutcomeUnknown(
                endpoint, f"connection failed mid-request ({_reason(error)}): outcome unknown"
            ) from None
        log.debug(
            "binance_response",
            endpoint=endpoint,
            status=response.status_code,
            used_weight=response.headers.get(USED_WEIGHT_HEADER),
        )
        return response

    def _signed_query(self, params: list[tuple[str, str]]) -> str:
        credentials = self._credentials
        assert credentials is not None  # _require_credentials ran first
        payload = encode_params(
            [
                *params,
                ("recvWindow", str(self._recv_window)),
                ("timestamp", str(self.server_now_ms())),
            ]
        )
        return payload + "&" + encode_params([("signature", credentials.signer.sign(payload))])

    def _require_credentials(self, endpoint: str) -> Credentials:
        if self._credentials is None:
            raise Unauthorized(
                endpoint,
                "not sent: no API key (set TICKDECK_BINANCE__API_KEY and "
                "TICKDECK_BINANCE__API_SECRET or TICKDECK_BINANCE__PRIVATE_KEY_PATH)",
            )
        return self._credentials

    @staticmethod
    def _decode(endpoint: str, method: str, response: httpx.Response, kind: Any) -> Any:
        try:
            return _decoder(kind).decode(response.content)
        except msgspec.DecodeError as error:
            text = f"unexpected answer: {error}"
            if method == "GET":
                raise UnexpectedResponse(endpoint, text, status=response.status_code) from None
            # The venue did something and said it oddly: what it did is not known here.
            raise OutcomeUnknown(endpoint, text, status=response.status_code) from None


def _reason(error: httpx.HTTPError) -> str:
    return str(error) or type(error).__name__


# --- building requests ----------------------------------------------------------------


def _add_range(
    params: list[tuple[str, str]], start_ms: int | None, end_ms: int | None, limit: int
) -> None:
    """Append a market-data query's ``startTime``/``endTime`` (when given) and ``limit``."""
    if start_ms is not None:
        params.append(("startTime", str(start_ms)))
    if end_ms is not None:
        params.append(("endTime", str(end_ms)))
    params.append(("limit", str(limit)))


def wire_decimal(value: Decimal) -> str:
    """A Decimal as Binance reads it: plain digits, no exponent, no trailing zeros."""
    return format(value.normalize(), "f")


def order_params(ticket: OrderTicket, client_order_id: str) -> list[tuple[str, str]]:
    """The parameters of ``POST /api/v3/order`` for ``ticket``, in Binance's documented
    order. A post-only limit is a LIMIT_MAKER (it takes no timeInForce). Spot has no
    reduce-only; the flag is the risk layer's and sends nothing."""
    endpoint = "POST /api/v3/order"
    if ticket.order_type is OrderType.STOP_LIMIT:
        raise UnsupportedOrder(endpoint, "not sent: stop-limit orders are not supported on spot")
    if ticket.quantity <= _ZERO:
        raise BadParameter(endpoint, f"not sent: quantity must be positive, got {ticket.quantity}")
    params = [("symbol", ticket.symbol), ("side", ticket.side.value)]
    if ticket.order_type is OrderType.MARKET:
        if ticket.post_only:
            raise UnsupportedOrder(endpoint, "not sent: post-only applies to limit orders only")
        params += [("type", "MARKET"), ("quantity", wire_decimal(ticket.quantity))]
    else:
        price = ticket.limit_price
        if price is None or price <= _ZERO:
            raise BadParameter(
                endpoint, f"not sent: a limit order needs a positive price, got {price}"
            )
        if ticket.post_only:
            params.append(("type", "LIMIT_MAKER"))
        else:
            params += [("type", "LIMIT"), ("timeInForce", ticket.time_in_force.value)]
        params += [("quantity", wire_decimal(ticket.quantity)), ("price", wire_decimal(price))]
    params += [("newClientOrderId", client_order_id), ("newOrderRespType", "FULL")]
    return params


# --- into the catalog -----------------------------------------------------------------

_STATUSES: Final[dict[str, OrderStatus]] = {
    "NEW": OrderStatus.ACCEPTED,
    # An order list's pending leg: Binance holds it, so it is accepted.
    "PENDING_NEW": OrderStatus.ACCEPTED,
    "PARTIALLY_FILLED": OrderStatus.PARTIALLY_FILLED,
    "FILLED": OrderStatus.FILLED,
    "CANCELED": OrderStatus.CANCELED,
    "PENDING_CANCEL": OrderStatus.PENDING_CANCEL,
    "REJECTED": OrderStatus.REJECTED,
    "EXPIRED": OrderStatus.EXPIRED,
    # Expired by self-trade prevention in the matching engine.
    "EXPIRED_IN_MATCH": OrderStatus.EXPIRED,
}
_ENDINGS: Final = frozenset({OrderStatus.CANCELED, OrderStatus.REJECTED, OrderStatus.EXPIRED})


def order_status(binance_status: str) -> OrderStatus:
    """Our ``OrderStatus`` of a Binance order status (NEW is our ACCEPTED)."""
    try:
        return _STATUSES[binance_status]
    except KeyError:
        raise UnexpectedResponse(
            "order status", f"unknown order status {binance_status!r}"
        ) from None


def _side(value: str) -> Side:
    try:
        return Side(value)
    except ValueError:
        raise UnexpectedResponse("order side", f"unknown order side {value!r}") from None


def execution_reports(response: OrderResponse, venue: str = VENUE) -> list[ExecutionReport]:
    """The reports a FULL new-order answer stands for, in order: ACCEPTED (Binance holds
    the order), one report per trade in it (taker: they filled on arrival; the last one
    FILLED when the order is), then how it ended if it ended otherwise (an IOC's EXPIRED)."""
    status = order_status(response.status)
    common = {
        "ts": response.transact_time * _MS,
        "venue": venue,
        "client_order_id": response.client_order_id,
        "venue_order_id": str(response.order_id),
        "symbol": response.symbol,
        "side": _side(response.side),
    }
    reports = [ExecutionReport(status=OrderStatus.ACCEPTED, **common)]
    filled = _ZERO
    for trade in response.fills:
        filled += trade.qty
        reports.append(
            _trade_report(
                trade, str(trade.trade_id), filled, response.orig_qty, Liquidity.TAKER, common
            )
        )
    if status in _ENDINGS:
        reports.append(
            ExecutionReport(
                status=status,
                cumulative_quantity=filled,
                reason=f"{response.type} {response.time_in_force} {response.status}".strip(),
                **common,
            )
        )
    return reports


def _trade_report(
    trade: OrderFill | AccountTrade,
    trade_id: str,
    filled: Decimal,
    quantity: Decimal,
    liquidity: Liquidity,
    common: dict[str, Any],
    **extra: Any,
) -> ExecutionReport:
    """The report of one trade of an order of ``quantity``: FILLED once ``filled`` (the
    cumulative quantity with this trade) reaches it, else PARTIALLY_FILLED."""
    return ExecutionReport(
        status=OrderStatus.FILLED if filled == quantity else OrderStatus.PARTIALLY_FILLED,
        last_price=trade.price,
        last_quantity=trade.qty,
        cumulative_quantity=filled,
        fee=trade.commission,
        fee_asset=trade.commission_asset,
        trade_id=trade_id,
        liquidity=liquidity,
        **extra,
        **common,
    )


def order_reports(
    info: OrderInfo, trades: Sequence[AccountTrade], venue: str = VENUE
) -> list[ExecutionReport]:
    """An order's life as reports, from its query and its trades (``my_trades(order_id=)``):
    how a gateway answers a ``QueryOrder``. Trades of other orders are skipped."""
    common = {
        "venue": venue,
        "client_order_id": info.order_client_id,
        "venue_order_id": str(info.order_id),
        "symbol": info.symbol,
        "side": _side(info.side),
    }
    status = order_status(info.status)
    reports = [
        ExecutionReport(
            ts=(info.time or info.last_update_ms) * _MS, status=OrderStatus.ACCEPTED, **common
        )
    ]
    filled = _ZERO
    for trade in sorted(trades, key=lambda row: row.id):
        if trade.order_id != info.order_id:
            continue
        filled += trade.qty
        liquidity = Liquidity.MAKER if trade.is_maker else Liquidity.TAKER
        reports.append(
            _trade_report(
                trade, str(trade.id), filled, info.orig_qty, liquidity, common,
                ts=trade.time * _MS,
            )
        )  # fmt: skip
    if status in _ENDINGS:
        reports.append(
            ExecutionReport(
                ts=info.last_update_ms * _MS, status=status, cumulative_quantity=filled,
                reason=f"{info.type} {info.time_in_force} {info.status}".strip(), **common,
            )
        )  # fmt: skip
    return reports


def status_report(info: OrderInfo, venue: str = VENUE, ts: int | None = None) -> OrderStatusReport:
    """``OrderStatusReport`` of an order Binance has (``ts`` defaults to its last update)."""
    return OrderStatusReport(
        ts=info.last_update_ms * _MS if ts is None else ts,
        venue=venue,
        client_order_id=info.order_client_id,
        venue_order_id=str(info.order_id),
        symbol=info.symbol,
        side=_side(info.side),
        status=order_status(info.status),
        quantity=info.orig_qty,
        filled_quantity=info.executed_qty,
    )


def not_found_report(
    client_order_id: str, symbol: str, side: Side, ts: int, venue: str = VENUE
) -> OrderStatusReport:
    """The answer when Binance says -2013 for ``client_order_id``: it never saw the order."""
    return OrderStatusReport(
        ts=ts, venue=venue, client_order_id=client_order_id, venue_order_id="", symbol=symbol,
        side=side, status=OrderStatus.REJECTED, quantity=_ZERO, filled_quantity=_ZERO,
        found=False,
    )  # fmt: skip


def fill_from_trade(
    trade: AccountTrade, *, client_order_id: str, strategy: str, cumulative_quantity: Decimal
) -> Fill:
    """A ``Fill`` of one of our trades; the client id and strategy are ours to know
    (myTrades has only Binance's order id)."""
    return Fill(
        ts=trade.time * _MS,
        client_order_id=client_order_id,
        venue_order_id=str(trade.order_id),
        trade_id=str(trade.id),
        strategy=strategy,
        symbol=trade.symbol,
        side=Side.BUY if trade.is_buyer else Side.SELL,
        price=trade.price,
        quantity=trade.qty,
        cumulative_quantity=cumulative_quantity,
        fee=trade.commission,
        fee_asset=trade.commission_asset,
        liquidity=Liquidity.MAKER if trade.is_maker else Liquidity.TAKER,
    )


def balances(account: Account) -> dict[str, Decimal]:
    """Each asset's total (free + locked), zero balances left out, by asset name."""
    totals = {row.asset: row.free + row.locked for row in account.balances}
    return {asset: totals[asset] for asset in sorted(totals) if totals[asset]}
