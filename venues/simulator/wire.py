"""Payload shapes: the JSON objects the simulator answers and streams, field for field as Binance's.

The field sets are those of Binance's documented responses and events
(binance-spot-api-docs rest-api.md, user-data-stream.md, web-socket-streams.md;
the tests compare them with the real examples under shared/fixtures/real).
Prices and quantities are strings with eight decimals, as Binance sends them; times
are epoch milliseconds (simulated time, see clock.py).

Deliberate omissions, as Binance omits them: an executionReport's ``v`` (prevented
match id) appears only for orders expired by self-trade prevention, which the
simulator never does.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any, Final

from venues.fill_model import FillModelConfig
from venues.simulator.config import SymbolSpec
from venues.simulator.engine import AccountEvent, AccountTrade, ExecutionEvent, SimOrder
from venues.simulator.market import Kline, SynthTrade

__all__ = [
    "account",
    "account_position",
    "agg_trade",
    "agg_trade_event",
    "book_ticker_event",
    "cancel_response",
    "exchange_info",
    "execution_report",
    "fmt",
    "kline_event",
    "kline_row",
    "listen_key_expired",
    "my_trade",
    "new_order_response",
    "order",
    "public_trade",
    "trade_event",
]

_ZERO_TEXT: Final = "0.00000000"
_BPS: Final = Decimal(10_000)


def fmt(value: Decimal) -> str:
    return f"{value:.8f}"


def order(o: SimOrder) -> dict[str, Any]:
    """GET /api/v3/order and each entry of /api/v3/openOrders."""
    return {
        "symbol": o.symbol,
        "orderId": o.order_id,
        "orderListId": -1,
        "clientOrderId": o.client_order_id,
        "price": fmt(o.price),
        "origQty": fmt(o.quantity),
        "executedQty": fmt(o.executed),
        "cummulativeQuoteQty": fmt(o.quote_executed),
        "status": o.status,
        "timeInForce": o.time_in_force,
        "type": o.type,
        "side": o.side.value,
        "stopPrice": _ZERO_TEXT,
        "icebergQty": _ZERO_TEXT,
        "time": o.time_ms,
        "updateTime": o.update_ms,
        "isWorking": o.on_book,
        "workingTime": o.working_ms,
        "origQuoteOrderQty": _ZERO_TEXT,
        "selfTradePreventionMode": "NONE",
    }


def new_order_response(
    o: SimOrder, trades: Iterable[AccountTrade], response_type: str, transact_ms: int
) -> dict[str, Any]:
    """POST /api/v3/order in its ACK, RESULT or FULL shape."""
    payload: dict[str, Any] = {
        "symbol": o.symbol,
        "orderId": o.order_id,
        "orderListId": -1,
        "clientOrderId": o.client_order_id,
        "transactTime": transact_ms,
    }
    if response_type == "ACK":
        return payload
    payload.update(
        price=fmt(o.price),
        origQty=fmt(o.quantity),
        executedQty=fmt(o.executed),
        origQuoteOrderQty=_ZERO_TEXT,
        cummulativeQuoteQty=fmt(o.quote_executed),
        status=o.status,
        timeInForce=o.time_in_force,
        type=o.type,
        side=o.side.value,
        workingTime=o.working_ms,
        selfTradePreventionMode="NONE",
    )
    if response_type == "FULL":
        payload["fills"] = [
            {
                "price": fmt(t.price),
                "qty": fmt(t.quantity),
                "commission": fmt(t.commission),
                "commissionAsset": t.commission_asset,
                "tradeId": t.trade_id,
            }
            for t in trades
        ]
    return payload


def cancel_response(o: SimOrder, cancel_client_id: str, transact_ms: int) -> dict[str, Any]:
    """DELETE /api/v3/order: ``clientOrderId`` is the cancel's own id."""
    return {
        "symbol": o.symbol,
        "origClientOrderId": o.client_order_id,
        "orderId": o.order_id,
        "orderListId": -1,
        "clientOrderId": cancel_client_id,
        "transactTime": transact_ms,
        "price": fmt(o.price),
        "origQty": fmt(o.quantity),
        "executedQty": fmt(o.executed),
        "origQuoteOrderQty": _ZERO_TEXT,
        "cummulativeQuoteQty": fmt(o.quote_executed),
        "status": o.status,
        "timeInForce": o.time_in_force,
        "type": o.type,
        "side": o.side.value,
        "selfTradePreventionMode": "NONE",
    }


def my_trade(t: AccountTrade) -> dict[str, Any]:
    return {
        "symbol": t.symbol,
        "id": t.trade_id,
        "orderId": t.order_id,
        "orderListId": -1,
        "price": fmt(t.price),
        "qty": fmt(t.quantity),
        "quoteQty": fmt(t.quote_quantity),
        "commission": fmt(t.commission),
        "commissionAsset": t.commission_asset,
        "time": t.time_ms,
        "isBuyer": t.side.value == "BUY",
        "isMaker": t.is_maker,
        "isBestMatch": True,
    }


def account(
    balances: Iterable[tuple[str, Decimal, Decimal]],
    fees: FillModelConfig,
    update_ms: int,
    *,
    omit_zero: bool = False,
) -> dict[str, Any]:
    """GET /api/v3/account. ``makerCommission`` is in bps, as Binance's (15 = 0.15%)."""
    maker, taker = fees.maker_fee_bps, fees.taker_fee_bps
    rows = [
        {"asset": asset, "free": fmt(free), "locked": fmt(locked)}
        for asset, free, locked in balances
        if not (omit_zero and not free and not locked)
    ]
    return {
        "makerCommission": int(maker),
        "takerCommission": int(taker),
        "buyerCommission": 0,
        "sellerCommission": 0,
        "commissionRates": {
            "maker": fmt(maker / _BPS),
            "taker": fmt(taker / _BPS),
            "buyer": _ZERO_TEXT,
            "seller": _ZERO_TEXT,
        },
        "canTrade": True,
        "canWithdraw": False,
        "canDeposit": False,
        "brokered": False,
        "requireSelfTradePrevention": False,
        "preventSor": False,
        "updateTime": update_ms,
        "accountType": "SPOT",
        "balances": rows,
        "permissions": ["SPOT"],
        "uid": 1,
    }


def exchange_info(specs: Iterable[SymbolSpec], server_ms: int, weight_limit: int) -> dict[str, Any]:
    return {
        "timezone": "UTC",
        "serverTime": server_ms,
        "rateLimits": [
            {
                "rateLimitType": "REQUEST_WEIGHT",
                "interval": "MINUTE",
                "intervalNum": 1,
                "limit": weight_limit,
            },
            {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
            {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": 200000},
        ],
        "exchangeFilters": [],
        "symbols": [_symbol(spec) for spec in specs],
        "sors": [],
    }


def _symbol(spec: SymbolSpec) -> dict[str, Any]:
    return {
        "symbol": spec.symbol,
        "status": "TRADING",
        "baseAsset": spec.base,
        "baseAssetPrecision": 8,
        "quoteAsset": spec.quote,
        "quotePrecision": 8,
        "quoteAssetPrecision": 8,
        "baseCommissionPrecision": 8,
        "quoteCommissionPrecision": 8,
        "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET"],
        "icebergAllowed": False,
        "ocoAllowed": False,
        "otoAllowed": False,
        "opoAllowed": False,
        "quoteOrderQtyMarketAllowed": False,
        "allowTrailingStop": False,
        "cancelReplaceAllowed": False,
        "amendAllowed": False,
        "pegInstructionsAllowed": False,
        "isSpotTradingAllowed": True,
        "isMarginTradingAllowed": False,
        "filters": [
            {
                "filterType": "PRICE_FILTER",
                "minPrice": fmt(spec.lowest_price),
                "maxPrice": fmt(spec.max_price),
                "tickSize": fmt(spec.tick_size),
            },
            {
                "filterType": "LOT_SIZE",
                "minQty": fmt(spec.min_qty),
                "maxQty": fmt(spec.max_qty),
                "stepSize": fmt(spec.step_size),
            },
            {
                "filterType": "NOTIONAL",
                "minNotional": fmt(spec.min_notional),
                "applyMinToMarket": True,
                "maxNotional": "9000000.00000000",
                "applyMaxToMarket": False,
                "avgPriceMins": 5,
            },
        ],
        "permissions": [],
        "permissionSets": [["SPOT"]],
        "defaultSelfTradePreventionMode": "NONE",
        "allowedSelfTradePreventionModes": ["NONE"],
    }


def kline_row(k: Kline) -> list[Any]:
    """One row of GET /api/v3/klines."""
    return [
        k.open_ms,
        fmt(k.open),
        fmt(k.high),
        fmt(k.low),
        fmt(k.close),
        fmt(k.volume),
        k.close_ms,
        fmt(k.quote_volume),
        k.trades,
        fmt(k.taker_buy_volume),
        fmt(k.taker_buy_quote_volume),
        "0",
    ]


def public_trade(t: SynthTrade) -> dict[str, Any]:
    """One row of GET /api/v3/trades."""
    return {
        "id": t.trade_id,
        "price": fmt(t.price),
        "qty": fmt(t.quantity),
        "quoteQty": fmt(t.price * t.quantity),
        "time": t.time_ms,
        "isBuyerMaker": t.buyer_maker,
        "isBestMatch": True,
    }


def agg_trade(t: SynthTrade) -> dict[str, Any]:
    """One row of GET /api/v3/aggTrades: each replayed trade is its own aggregate."""
    return {
        "a": t.trade_id,
        "p": fmt(t.price),
        "q": fmt(t.quantity),
        "f": t.trade_id,
        "l": t.trade_id,
        "T": t.time_ms,
        "m": t.buyer_maker,
        "M": True,
    }


def trade_event(symbol: str, t: SynthTrade) -> dict[str, Any]:
    return {
        "e": "trade",
        "E": t.time_ms,
        "s": symbol,
        "t": t.trade_id,
        "p": fmt(t.price),
        "q": fmt(t.quantity),
        "T": t.time_ms,
        "m": t.buyer_maker,
        "M": True,
    }


def agg_trade_event(symbol: str, t: SynthTrade) -> dict[str, Any]:
    return {
        "e": "aggTrade",
        "E": t.time_ms,
        "s": symbol,
        "a": t.trade_id,
        "p": fmt(t.price),
        "q": fmt(t.quantity),
        "f": t.trade_id,
        "l": t.trade_id,
        "T": t.time_ms,
        "m": t.buyer_maker,
        "M": True,
    }


def book_ticker_event(
    symbol: str, update_id: int, bid: Decimal, ask: Decimal, size: Decimal
) -> dict[str, Any]:
    return {
        "u": update_id,
        "s": symbol,
        "b": fmt(bid),
        "B": fmt(size),
        "a": fmt(ask),
        "A": fmt(size),
    }


def kline_event(symbol: str, k: Kline, event_ms: int, closed: bool) -> dict[str, Any]:
    return {
        "e": "kline",
        "E": event_ms,
        "s": symbol,
        "k": {
            "t": k.open_ms,
            "T": k.close_ms,
            "s": symbol,
            "i": "1m",
            "f": k.first_trade_id,
            "L": k.last_trade_id,
            "o": fmt(k.open),
            "c": fmt(k.close),
            "h": fmt(k.high),
            "l": fmt(k.low),
            "v": fmt(k.volume),
            "n": k.trades,
            "x": closed,
            "q": fmt(k.quote_volume),
            "V": fmt(k.taker_buy_volume),
            "Q": fmt(k.taker_buy_quote_volume),
            "B": "0",
        },
    }


def execution_report(event: ExecutionEvent, sequence: int) -> dict[str, Any]:
    """The user data stream's executionReport for ``event`` (``I``, an ignored field,
    carries the stream's event sequence number)."""
    o, trade = event.order, event.trade
    canceled = event.execution_type == "CANCELED" and bool(event.cancel_client_id)
    return {
        "e": "executionReport",
        "E": event.time_ms,
        "s": o.symbol,
        "c": event.cancel_client_id if canceled else o.client_order_id,
        "S": o.side.value,
        "o": o.type,
        "f": o.time_in_force,
        "q": fmt(o.quantity),
        "p": fmt(o.price),
        "P": _ZERO_TEXT,
        "F": _ZERO_TEXT,
        "g": -1,
        "C": o.client_order_id if canceled else "",
        "x": event.execution_type,
        "X": o.status,
        "r": "NONE",
        "i": o.order_id,
        "l": fmt(trade.quantity) if trade else _ZERO_TEXT,
        "z": fmt(o.executed),
        "L": fmt(trade.price) if trade else _ZERO_TEXT,
        "n": fmt(trade.commission) if trade else "0",
        "N": trade.commission_asset if trade else None,
        "T": event.time_ms,
        "t": trade.trade_id if trade else -1,
        "I": sequence,
        "w": o.is_open and o.type != "MARKET",
        "m": trade.is_maker if trade else False,
        "M": False,
        "O": o.time_ms,
        "Z": fmt(o.quote_executed),
        "Y": fmt(trade.quote_quantity) if trade else _ZERO_TEXT,
        "Q": _ZERO_TEXT,
        "W": o.working_ms,
        "V": "NONE",
    }


def account_position(event: AccountEvent) -> dict[str, Any]:
    return {
        "e": "outboundAccountPosition",
        "E": event.time_ms,
        "u": event.time_ms,
        "B": [
            {"a": asset, "f": fmt(free), "l": fmt(locked)} for asset, free, locked in event.balances
        ],
    }


def listen_key_expired(listen_key: str, event_ms: int) -> Mapping[str, Any]:
    return {"e": "listenKeyExpired", "E": event_ms, "listenKey": listen_key}
