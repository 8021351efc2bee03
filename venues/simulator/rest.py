"""The REST endpoints: Binance spot's paths and parameters, answered from the engine and the replay.

Each request goes through, in order: injected latency, the weight limiter (418 while
banned, 429 past the limit), injected 429 bursts (for their endpoints only, and they
never lead to a ban: only the weight limit does) and 5xx answers, the endpoint's own
checks (API key, signature, timestamp for SIGNED endpoints; parameters), the
endpoint, and last an injected lost response (the work is done, the answer comes too
late or never). Every answer carries ``X-MBX-USED-WEIGHT-1M``.

Parameters are read from the query string and the form body (the query string wins
a name sent in both, as Binance documents); a name sent twice in one of them is
-1101. Blank values count as not sent.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Final
from urllib.parse import parse_qsl

import msgspec
from aiohttp import web

from actors.messages import Side
from venues.fill_model import FillModelConfig
from venues.simulator import errors, wire
from venues.simulator.auth import Credentials, TimeSync, signature_payload
from venues.simulator.clock import ReplayClock
from venues.simulator.config import SymbolSpec
from venues.simulator.engine import ORDER_TYPES, MatchingEngine, SimOrder
from venues.simulator.errors import BinanceError
from venues.simulator.faults import RestFaults
from venues.simulator.limits import (
    WEIGHT_HEADER,
    Admission,
    WeightLimiter,
    request_weight,
    retry_after_header,
)
from venues.simulator.replay import MarketReplay
from venues.simulator.streams import StreamHub

__all__ = ["ENDPOINTS", "RestApi"]

_AMOUNT: Final = re.compile(errors.AMOUNT_PATTERN)
_INTEGER_PATTERN: Final = r"^[0-9]{1,20}$"
_INTEGER: Final = re.compile(_INTEGER_PATTERN)
_RECV_WINDOW: Final = re.compile(r"^[0-9]{1,20}(\.[0-9]{1,3})?$")
_MAX_RECV_WINDOW: Final = 60_000
_DEFAULT_RECV_WINDOW: Final = 5000
_HOUR_MS: Final = 3_600_000
_TIME_IN_FORCE: Final = ("GTC", "IOC", "FOK")
_RESPONSE_TYPES: Final = ("ACK", "RESULT", "FULL")
_UNSUPPORTED_ORDER_PARAMS: Final = ("quoteOrderQty", "stopPrice", "icebergQty", "trailingDelta")
_SERVER_ERROR: Final = {
    "code": -1001,
    "msg": "Internal error; unable to process your request. Please try again.",
}
_encode = msgspec.json.Encoder().encode

Params = dict[str, str]

ENDPOINTS: Final = (
    # method, path, security (NONE, USER_STREAM: API key only, SIGNED), action
    ("GET", "/api/v3/ping", "NONE", "ping"),
    ("GET", "/api/v3/time", "NONE", "server_time"),
    ("GET", "/api/v3/exchangeInfo", "NONE", "exchange_info"),
    ("GET", "/api/v3/klines", "NONE", "klines"),
    ("GET", "/api/v3/trades", "NONE", "trades"),
    ("GET", "/api/v3/aggTrades", "NONE", "agg_trades"),
    ("POST", "/api/v3/order", "SIGNED", "new_order"),
    ("DELETE", "/api/v3/order", "SIGNED", "cancel_order"),
    ("GET", "/api/v3/order", "SIGNED", "query_order"),
    ("GET", "/api/v3/openOrders", "SIGNED", "open_orders"),
    ("GET", "/api/v3/myTrades", "SIGNED", "my_trades"),
    ("GET", "/api/v3/account", "SIGNED", "account"),
    ("POST", "/api/v3/userDataStream", "USER_STREAM", "new_listen_key"),
    ("PUT", "/api/v3/userDataStream", "USER_STREAM", "keep_listen_key"),
    ("DELETE", "/api/v3/userDataStream", "USER_STREAM", "close_listen_key"),
)


@dataclass
class _Reply:
    payload: Any
    status: int = 200


@dataclass
class RestApi:
    specs: dict[str, SymbolSpec]
    engine: MatchingEngine
    replay: MarketReplay
    hub: StreamHub
    clock: ReplayClock
    credentials: Credentials
    limiter: WeightLimiter
    faults: RestFaults
    fees: FillModelConfig
    weight_limit: int
    listen_key: Callable[[], str]
    wall: Callable[[], float] = time.monotonic
    epoch_ms: Callable[[], int] = field(default=lambda: time.time_ns() // 1_000_000)
    time_sync: TimeSync = field(default_factory=TimeSync)
    _orders_10s: list[float] = field(default_factory=list)
    _orders_today: int = 0

    def routes(self) -> list[web.RouteDef]:
        return [
            web.route(method, path, self._handler(security, getattr(self, "_" + action)))
            for method, path, security, action in ENDPOINTS
        ]

    def _handler(
        self, security: str, action: Callable[[web.Request, Params, dict[str, str]], Any]
    ) -> Callable[[web.Request], Any]:
        async def handle(request: web.Request) -> web.StreamResponse:
            return await self._handle(request, security, action)

        return handle

    async def _handle(
        self,
        request: web.Request,
        security: str,
        action: Callable[[web.Request, Params, dict[str, str]], Any],
    ) -> web.StreamResponse:
        method, path = request.method, request.path
        body = await request.text() if request.body_exists else ""
        latency = self.faults.latency_seconds(method, path)
        if latency:
            await asyncio.sleep(latency)
        try:
            params: Params = _params(request.query_string, body)
            refused: BinanceError | None = None
        except BinanceError as error:
            params, refused = {}, error
        admission = self.limiter.admit(request_weight(method, path, params))
        headers = {WEIGHT_HEADER: str(admission.used)}
        if admission.status != 200:
            return self._limited(admission, headers)
        burst = self.faults.rate_limited(method, path, self.wall())
        if burst is not None:
            return self._limited(Admission(429, admission.used, burst), headers)
        server_error = self.faults.server_error(method, path)
        if server_error is not None and not server_error.executed:
            return _json(_SERVER_ERROR, server_error.status, headers)
        try:
            if refused is not None:
                raise refused
            if security != "NONE":
                self._authenticate(request, params, body, signed=security == "SIGNED")
            reply = _Reply(action(request, params, headers))
        except BinanceError as error:
            reply = _Reply(error.payload(), error.status)
        if server_error is not None:
            return _json(_SERVER_ERROR, server_error.status, headers)
        lost = self.faults.lost_response(method, path)
        if lost is not None:
            if lost.drop:
                if request.transport is not None:
                    request.transport.abort()
                # aiohttp takes a cancelled handler for a client that went away: it
                # writes nothing and logs nothing, which is the fault wanted here.
                raise asyncio.CancelledError
            await asyncio.sleep(lost.delay_seconds)
        return _json(reply.payload, reply.status, headers)

    def _limited(self, admission: Admission, headers: dict[str, str]) -> web.Response:
        headers["Retry-After"] = retry_after_header(admission.retry_after)
        if admission.status == 418:
            until = self.epoch_ms() + int(admission.retry_after * 1000)
            message = (
                f"Way too much request weight used; IP banned until {until}. "
                "Please use WebSocket Streams for live updates to avoid bans."
            )
        else:
            message = (
                f"Too much request weight used; current limit is {self.weight_limit} request "
                "weight per 1 MINUTE. Please use WebSocket Streams for live updates to avoid "
                "polling the API."
            )
        return _json({"code": -1003, "msg": message}, admission.status, headers)

    def _authenticate(self, request: web.Request, params: Params, body: str, signed: bool) -> None:
        api_key = request.headers.get("X-MBX-APIKEY")
        self.credentials.check_key(api_key)
        if not signed:
            return
        assert api_key is not None
        signature = params.get("signature")
        if signature is None:
            raise errors.mandatory("signature")
        timestamp = _integer(params, "timestamp", required=True)
        assert timestamp is not None
        recv_window = _DEFAULT_RECV_WINDOW
        raw_window = params.get("recvWindow")
        if raw_window is not None:
            if not _RECV_WINDOW.match(raw_window):
                raise errors.illegal_characters("recvWindow", _INTEGER_PATTERN)
            recv_window = int(Decimal(raw_window))
            if recv_window > _MAX_RECV_WINDOW:
                raise BinanceError(-1131, "recvWindow must be less than 60000")
        self.credentials.verify(api_key, signature_payload(request.query_string, body), signature)
        self.time_sync.check(timestamp, recv_window, self.clock.now_ms(), self.epoch_ms())

    # --- market data --------------------------------------------------------------------

    def _ping(self, request: web.Request, params: Params, headers: dict[str, str]) -> Any:
        return {}

    def _server_time(self, request: web.Request, params: Params, headers: dict[str, str]) -> Any:
        return {"serverTime": self._hand_out_time()}

    def _hand_out_time(self) -> int:
        now = self.clock.now_ms()
        self.time_sync.handed_out(now, self.epoch_ms())
        return now

    def _exchange_info(self, request: web.Request, params: Params, headers: dict[str, str]) -> Any:
        chosen = list(self.specs)
        if "symbol" in params:
            chosen = [self._symbol(params)]
        elif "symbols" in params:
            try:
                names = json.loads(params["symbols"])
            except json.JSONDecodeError:
                names = None
            if not isinstance(names, list) or not names:
                raise errors.illegal_characters("symbols", '["SYMBOL",...]')
            if any(name not in self.specs for name in names):
                raise errors.invalid_symbol()
            chosen = list(dict.fromkeys(names))
        specs = [self.specs[name] for name in chosen]
        return wire.exchange_info(specs, self._hand_out_time(), self.weight_limit)

    def _klines(self, request: web.Request, params: Params, headers: dict[str, str]) -> Any:
        symbol = self._symbol(params)
        interval = params.get("interval")
        if interval is None:
            raise errors.mandatory("interval")
        if interval != "1m":
            raise BinanceError(-1120, "Invalid interval.")
        limit = _checked_limit(params)
        start = _integer(params, "startTime")
        end = _integer(params, "endTime")
        if start is not None and end is not None and start > end:
            raise BinanceError(-1023, "Start time is greater than end time.")
        klines = self.replay.klines(symbol, start, end, limit, self.clock.now_ms())
        return [wire.kline_row(kline) for kline in klines]

    def _trades(self, request: web.Request, params: Params, headers: dict[str, str]) -> Any:
        symbol = self._symbol(params)
        limit = _checked_limit(params)
        trades = self.replay.public_trades(
            symbol, from_id=None, start_ms=None, end_ms=None, limit=limit,
            now_ms=self.clock.now_ms(),
        )  # fmt: skip
        return [wire.public_trade(trade) for trade in trades]

    def _agg_trades(self, request: web.Request, params: Params, headers: dict[str, str]) -> Any:
        symbol = self._symbol(params)
        limit = _checked_limit(params)
        from_id = _integer(params, "fromId")
        start = _integer(params, "startTime")
        end = _integer(params, "endTime")
        if from_id is not None and (start is not None or end is not None):
            raise BinanceError(-1128, "Combination of optional parameters invalid.")
        if start is not None or end is not None:
            # Binance: one time bound alone means an hour from (or up to) it; both, at most an hour.
            start = end - _HOUR_MS if start is None else start
            end = start + _HOUR_MS if end is None else end
            if start > end:
                raise BinanceError(-1023, "Start time is greater than end time.")
            if end - start > _HOUR_MS:
                raise BinanceError(-1127, "More than 1 hours between startTime and endTime.")
        trades = self.replay.public_trades(
            symbol, from_id=from_id, start_ms=start, end_ms=end, limit=limit,
            now_ms=self.clock.now_ms(),
        )  # fmt: skip
        return [wire.agg_trade(trade) for trade in trades]

    # --- orders -------------------------------------------------------------------------

    def _new_order(self, request: web.Request, params: Params, headers: dict[str, str]) -> Any:
        symbol = self._symbol(params)
        side = _choice(params, "side", ("BUY", "SELL"), BinanceError(-1117, "Invalid side."))
        order_type = _choice(params, "type", ORDER_TYPES, BinanceError(-1116, "Invalid orderType."))
        for name in _UNSUPPORTED_ORDER_PARAMS:
            if name in params:
                raise errors.not_required(name)
        if order_type == "LIMIT":
            time_in_force = _choice(
                params, "timeInForce", _TIME_IN_FORCE, BinanceError(-1115, "Invalid timeInForce.")
            )
        elif "timeInForce" in params:
            raise errors.not_required("timeInForce")
        else:
            time_in_force = "GTC"
        quantity = _amount(params, "quantity")
        if order_type == "MARKET":
            if "price" in params:
                raise errors.not_required("price")
            price = Decimal(0)
        else:
            price = _amount(params, "price")
        default_response = "ACK" if order_type == "LIMIT_MAKER" else "FULL"
        response_type = params.get("newOrderRespType", default_response)
        if response_type not in _RESPONSE_TYPES:
            raise errors.illegal_characters("newOrderRespType", "ACK|RESULT|FULL")
        now = self.clock.now_ms()
        order, trades = self.engine.place(
            symbol=symbol, side=Side(side), order_type=order_type, time_in_force=time_in_force,
            quantity=quantity, price=price, client_order_id=params.get("newClientOrderId"),
            time_ms=now,
        )  # fmt: skip
        self._count_order(headers)
        return wire.new_order_response(order, trades, response_type, now)

    def _count_order(self, headers: dict[str, str]) -> None:
        wall = self.wall()
        self._orders_10s = [t for t in self._orders_10s if wall - t < 10.0]
        self._orders_10s.append(wall)
        self._orders_today += 1
        headers["X-MBX-ORDER-COUNT-10S"] = str(len(self._orders_10s))
        headers["X-MBX-ORDER-COUNT-1D"] = str(self._orders_today)

    def _cancel_order(self, request: web.Request, params: Params, headers: dict[str, str]) -> Any:
        symbol = self._symbol(params)
        order_id, client_id = _order_reference(params)
        now = self.clock.now_ms()
        cancel_id = params.get("newClientOrderId")
        order, cancel_id = self.engine.cancel(symbol, order_id, client_id, cancel_id, now)
        return wire.cancel_response(order, cancel_id, now)

    def _query_order(self, request: web.Request, params: Params, headers: dict[str, str]) -> Any:
        symbol = self._symbol(params)
        order_id, client_id = _order_reference(params)
        return wire.order(self.engine.order(symbol, order_id, client_id))

    def _open_orders(self, request: web.Request, params: Params, headers: dict[str, str]) -> Any:
        symbol = self._symbol(params) if "symbol" in params else None
        orders: list[SimOrder] = self.engine.open_orders(symbol)
        return [wire.order(o) for o in orders]

    def _my_trades(self, request: web.Request, params: Params, headers: dict[str, str]) -> Any:
        symbol = self._symbol(params)
        order_id = _integer(params, "orderId")
        start = _integer(params, "startTime")
        end = _integer(params, "endTime")
        from_id = _integer(params, "fromId")
        limit = _checked_limit(params)
        if from_id is not None and (start is not None or end is not None):
            raise BinanceError(-1128, "Combination of optional parameters invalid.")
        trades = [
            t
            for t in self.engine.trades(symbol)
            if (order_id is None or t.order_id == order_id)
            and (start is None or t.time_ms >= start)
            and (end is None or t.time_ms <= end)
            and (from_id is None or t.trade_id >= from_id)
        ]
        chosen = trades[:limit] if from_id is not None or start is not None else trades[-limit:]
        return [wire.my_trade(t) for t in chosen]

    def _account(self, request: web.Request, params: Params, headers: dict[str, str]) -> Any:
        omit = params.get("omitZeroBalances", "false").lower() == "true"
        balances = self.engine.balances_view()
        return wire.account(balances, self.fees, self.engine.update_ms, omit_zero=omit)

    # --- user data stream -----------------------------------------------------------------

    def _new_listen_key(self, request: web.Request, params: Params, headers: dict[str, str]) -> Any:
        key = self.listen_key()
        self.hub.create_listen_key(key)
        return {"listenKey": key}

    def _keep_listen_key(
        self, request: web.Request, params: Params, headers: dict[str, str]
    ) -> Any:
        if not self.hub.keep_alive(_listen_key_param(params)):
            raise BinanceError(-1125, "This listenKey does not exist.")
        return {}

    def _close_listen_key(
        self, request: web.Request, params: Params, headers: dict[str, str]
    ) -> Any:
        if not self.hub.close_listen_key(_listen_key_param(params)):
            raise BinanceError(-1125, "This listenKey does not exist.")
        return {}

    def _symbol(self, params: Params) -> str:
        symbol = params.get("symbol")
        if symbol is None:
            raise errors.mandatory("symbol")
        if symbol not in self.specs:
            raise errors.invalid_symbol()
        return symbol


def _json(payload: Any, status: int, headers: dict[str, str]) -> web.Response:
    return web.Response(
        body=_encode(payload), status=status, content_type="application/json", headers=headers
    )


def _params(query: str, body: str) -> Params:
    merged: Params = {}
    for raw in (body, query):  # the query string wins a name sent in both
        seen: set[str] = set()
        for name, value in parse_qsl(raw, keep_blank_values=True):
            if name in seen:
                raise BinanceError(-1101, "Duplicate values for a parameter detected.")
            seen.add(name)
            if value != "":
                merged[name] = value
    return merged


def _choice(params: Params, name: str, allowed: tuple[str, ...], invalid: BinanceError) -> str:
    value = params.get(name)
    if value is None:
        raise errors.mandatory(name)
    if value not in allowed:
        raise invalid
    return value


def _amount(params: Params, name: str) -> Decimal:
    value = params.get(name)
    if value is None:
        raise errors.mandatory(name)
    if not _AMOUNT.match(value):
        raise errors.illegal_characters(name, errors.AMOUNT_PATTERN)
    return Decimal(value)


def _integer(params: Params, name: str, *, required: bool = False) -> int | None:
    value = params.get(name)
    if value is None:
        if required:
            raise errors.mandatory(name)
        return None
    if not _INTEGER.match(value):
        raise errors.illegal_characters(name, _INTEGER_PATTERN)
    return int(value)


def _checked_limit(params: Params) -> int:
    """``limit``: 500 when not sent, at most 1000."""
    limit = _integer(params, "limit")
    if limit is None:
        return 500
    if not 1 <= limit <= 1000:
        raise BinanceError(-1130, "Data sent for parameter 'limit' is not valid.")
    return limit


def _order_reference(params: Params) -> tuple[int | None, str | None]:
    order_id = _integer(params, "orderId")
    client_id = params.get("origClientOrderId")
    if order_id is None and client_id is None:
        raise BinanceError(
            -1102, "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!"
        )
    return order_id, client_id


def _listen_key_param(params: Params) -> str:
    key = params.get("listenKey")
    if key is None:
        raise errors.mandatory("listenKey")
    return key
