"""Binance symbol filters: what exchangeInfo says an order must look like, and orders made so.

From each symbol's ``filters`` (filters.md in binance-spot-api-docs) this reads
PRICE_FILTER (tick size, min/max price), LOT_SIZE and MARKET_LOT_SIZE (step
size, min/max quantity), and MIN_NOTIONAL or NOTIONAL (min/max notional, and
whether they apply to market orders). A value of 0 disables that part of a
filter, as Binance documents (the recorded BTCUSDT MARKET_LOT_SIZE has step 0).

``prepare_order`` rounds an order onto these rules and checks it before it
leaves the process, so a refusal names the filter and the numbers here instead
of costing a request and coming back as -1013. Rounding never makes an order
worse for its owner: a buy's limit goes down to the tick, a sell's up; the
quantity goes down to the step. Decimal throughout.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any, Final

import msgspec

from actors.messages import Instrument, OrderTicket, OrderType, Side
from venues.binance.errors import FilterFailure, UnexpectedResponse

__all__ = [
    "SymbolInfo",
    "SymbolRules",
    "instrument",
    "plain_decimal",
    "prepare_order",
    "rules_from_instrument",
    "symbol_rules",
]

VENUE: Final = "binance"
_ZERO: Final = Decimal(0)
_ONE: Final = Decimal(1)
_NOT_SENT: Final = "POST /api/v3/order"
_EXCHANGE_INFO: Final = "GET /api/v3/exchangeInfo"
_MS: Final = 1_000_000


class SymbolInfo(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """One entry of exchangeInfo's ``symbols``; ``filters`` stay raw until ``symbol_rules``
    reads the ones orders depend on (Binance lists many more kinds)."""

    symbol: str
    status: str = "TRADING"
    base_asset: str
    quote_asset: str
    base_asset_precision: int = 8
    quote_asset_precision: int = 8
    order_types: tuple[str, ...] = ()
    is_spot_trading_allowed: bool = True
    filters: tuple[dict[str, Any], ...] = ()


class _PriceFilter(msgspec.Struct, rename="camel"):
    min_price: Decimal = _ZERO
    max_price: Decimal = _ZERO
    tick_size: Decimal = _ZERO


class _LotSize(msgspec.Struct, rename="camel"):
    min_qty: Decimal = _ZERO
    max_qty: Decimal = _ZERO
    step_size: Decimal = _ZERO


class _MinNotional(msgspec.Struct, rename="camel"):
    min_notional: Decimal = _ZERO
    apply_to_market: bool = True


class _Notional(msgspec.Struct, rename="camel"):
    min_notional: Decimal = _ZERO
    apply_min_to_market: bool = True
    max_notional: Decimal = _ZERO
    apply_max_to_market: bool = False


class SymbolRules(msgspec.Struct, frozen=True, kw_only=True):
    """The rules an order of ``symbol`` must meet; 0 means "no such rule".

    ``notional_filter`` names the filter the notional bounds came from (``NOTIONAL``
    or ``MIN_NOTIONAL``), so a refusal quotes the one Binance would."""

    symbol: str
    base: str
    quote: str
    status: str = "TRADING"
    tick_size: Decimal = _ZERO
    min_price: Decimal = _ZERO
    max_price: Decimal = _ZERO
    step_size: Decimal = _ZERO
    min_quantity: Decimal = _ZERO
    max_quantity: Decimal = _ZERO
    market_step_size: Decimal = _ZERO
    market_min_quantity: Decimal = _ZERO
    market_max_quantity: Decimal = _ZERO
    notional_filter: str = "NOTIONAL"
    min_notional: Decimal = _ZERO
    min_notional_on_market: bool = True
    max_notional: Decimal = _ZERO
    max_notional_on_market: bool = False
    # What the asset precisions allow when a filter gives no tick or step.
    default_tick_size: Decimal = Decimal("0.00000001")
    default_step_size: Decimal = Decimal("0.00000001")


_FILTER_TYPES: Final[dict[str, type[msgspec.Struct]]] = {
    "PRICE_FILTER": _PriceFilter,
    "LOT_SIZE": _LotSize,
    "MARKET_LOT_SIZE": _LotSize,
    "MIN_NOTIONAL": _MinNotional,
    "NOTIONAL": _Notional,
}


def symbol_rules(info: SymbolInfo) -> SymbolRules:
    """The order rules of one exchangeInfo symbol; a known filter with a malformed value
    is an ``UnexpectedResponse`` naming the symbol and the filter."""
    fields: dict[str, Any] = {}
    for raw in info.filters:
        kind = raw.get("filterType")
        target = _FILTER_TYPES.get(kind) if isinstance(kind, str) else None
        if target is None:
            continue
        try:
            parsed = msgspec.convert(raw, target)
        except msgspec.ValidationError as error:
            raise UnexpectedResponse(_EXCHANGE_INFO, f"{info.symbol} {kind}: {error}") from None
        fields.update(_rule_fields(kind, parsed))
    return SymbolRules(
        symbol=info.symbol,
        base=info.base_asset,
        quote=info.quote_asset,
        status=info.status,
        default_tick_size=_ONE.scaleb(-info.quote_asset_precision),
        default_step_size=_ONE.scaleb(-info.base_asset_precision),
        **fields,
    )


def _rule_fields(kind: str, parsed: msgspec.Struct) -> dict[str, Any]:
    if isinstance(parsed, _PriceFilter):
        return {
            "tick_size": parsed.tick_size,
            "min_price": parsed.min_price,
            "max_price": parsed.max_price,
        }
    if isinstance(parsed, _LotSize):
        prefix = "market_" if kind == "MARKET_LOT_SIZE" else ""
        return {
            f"{prefix}step_size": parsed.step_size,
            f"{prefix}min_quantity": parsed.min_qty,
            f"{prefix}max_quantity": parsed.max_qty,
        }
    if isinstance(parsed, _MinNotional):
        return {
            "notional_filter": kind,
            "min_notional": parsed.min_notional,
            "min_notional_on_market": parsed.apply_to_market,
        }
    assert isinstance(parsed, _Notional)
    return {
        "notional_filter": kind,
        "min_notional": parsed.min_notional,
        "min_notional_on_market": parsed.apply_min_to_market,
        "max_notional": parsed.max_notional,
        "max_notional_on_market": parsed.apply_max_to_market,
    }


def plain_decimal(value: Decimal) -> Decimal:
    """``value`` without trailing zeros and never in exponent form: exchangeInfo's
    "0.01000000" is 0.01 and "10.00000000" is 10 (not 1E+1)."""
    normalized = value.normalize()
    return normalized.quantize(_ONE) if normalized == normalized.to_integral_value() else normalized


def instrument(rules: SymbolRules, venue: str = VENUE, server_time_ms: int = 0) -> Instrument:
    """Our ``Instrument`` of a Binance symbol. A symbol without a tick or step gets the
    smallest its asset precision allows: an instrument always has both."""
    return Instrument(
        ts=server_time_ms * _MS,
        symbol=rules.symbol,
        venue=venue,
        base=rules.base,
        quote=rules.quote,
        tick_size=plain_decimal(rules.tick_size or rules.default_tick_size),
        lot_size=plain_decimal(rules.step_size or rules.default_step_size),
        min_quantity=plain_decimal(rules.min_quantity),
        max_quantity=plain_decimal(rules.max_quantity),
        min_notional=plain_decimal(rules.min_notional),
    )


def rules_from_instrument(item: Instrument) -> SymbolRules:
    """The rules an ``Instrument`` carries (no price bounds, no market lot, no max notional)."""
    return SymbolRules(
        symbol=item.symbol,
        base=item.base,
        quote=item.quote,
        tick_size=item.tick_size,
        step_size=item.lot_size,
        min_quantity=item.min_quantity,
        max_quantity=item.max_quantity,
        min_notional=item.min_notional,
    )


def prepare_order(
    ticket: OrderTicket,
    rules: SymbolRules | Instrument,
    reference_price: Decimal | None = None,
) -> OrderTicket:
    """``ticket`` rounded onto the symbol's rules, or ``FilterFailure`` naming the filter.

    A limit's notional is taken at its (rounded) limit price; a market order's at
    ``reference_price`` (the last trade or mid), needed only when a notional rule
    applies to market orders. Binance checks market orders against its own average
    price, so a price far from it may still be refused there."""
    if isinstance(rules, Instrument):
        rules = rules_from_instrument(rules)
    if ticket.symbol != rules.symbol:
        raise ValueError(f"rules of {rules.symbol} given for an order of {ticket.symbol}")
    market = ticket.order_type is OrderType.MARKET
    quantity = _quantity(ticket, rules, market)
    limit_price = stop_price = None
    if not market:
        limit_price = _price(ticket, rules, "limit", ticket.limit_price)
        if ticket.order_type is OrderType.STOP_LIMIT:
            stop_price = _price(ticket, rules, "stop", ticket.stop_price)
    _check_notional(ticket, rules, quantity, limit_price if not market else reference_price)
    return msgspec.structs.replace(
        ticket, quantity=quantity, limit_price=limit_price, stop_price=stop_price
    )


def _t(value: Decimal) -> str:
    """A number in a refusal as a person writes it: 6, not 6.0000000; 0.0001, not 1E-4."""
    return format(value.normalize(), "f")


def _refuse(filter_type: str, rules: SymbolRules, detail: str) -> FilterFailure:
    return FilterFailure(
        _NOT_SENT,
        f"not sent: Filter failure: {filter_type}: {rules.symbol} {detail}",
        code=None,
        filter_type=filter_type,
    )


def _quantity(ticket: OrderTicket, rules: SymbolRules, market: bool) -> Decimal:
    quantity = _on_grid(ticket.quantity, rules.step_size, rules.min_quantity, ROUND_FLOOR)
    _check_quantity("LOT_SIZE", rules, ticket.quantity, quantity, rules.step_size,
                    rules.min_quantity, rules.max_quantity)  # fmt: skip
    market_lot = rules.market_step_size or rules.market_min_quantity or rules.market_max_quantity
    if market and market_lot:
        rounded = _on_grid(quantity, rules.market_step_size, rules.market_min_quantity, ROUND_FLOOR)
        _check_quantity("MARKET_LOT_SIZE", rules, ticket.quantity, rounded,
                        rules.market_step_size, rules.market_min_quantity,
                        rules.market_max_quantity)  # fmt: skip
        quantity = rounded
    return quantity


def _check_quantity(
    filter_type: str,
    rules: SymbolRules,
    asked: Decimal,
    quantity: Decimal,
    step: Decimal,
    minimum: Decimal,
    maximum: Decimal,
) -> None:
    rounded = f"quantity {_t(asked)}"
    if asked != quantity:
        rounded += f" (down to {_t(quantity)} at step {_t(step)})"
    if quantity <= _ZERO:
        raise _refuse(filter_type, rules, f"{rounded} is not positive")
    if minimum and quantity < minimum:
        raise _refuse(filter_type, rules, f"{rounded} is below minQty {_t(minimum)}")
    if maximum and quantity > maximum:
        raise _refuse(filter_type, rules, f"{rounded} is above maxQty {_t(maximum)}")


def _price(ticket: OrderTicket, rules: SymbolRules, label: str, price: Decimal | None) -> Decimal:
    if price is None or price <= _ZERO:
        raise _refuse(
            "PRICE_FILTER", rules,
            f"{ticket.order_type} order needs a positive {label} price, got {price}",
        )  # fmt: skip
    # A buy never pays more than asked and a sell never takes less.
    rounding = ROUND_FLOOR if ticket.side is Side.BUY else ROUND_CEILING
    rounded = _on_grid(price, rules.tick_size, rules.min_price, rounding)
    shown = f"{label} price {_t(price)}"
    if rounded != price:
        shown += f" (to {_t(rounded)} at tick {_t(rules.tick_size)})"
    if rounded <= _ZERO or (rules.min_price and rounded < rules.min_price):
        raise _refuse("PRICE_FILTER", rules, f"{shown} is below minPrice {_t(rules.min_price)}")
    if rules.max_price and rounded > rules.max_price:
        raise _refuse("PRICE_FILTER", rules, f"{shown} is above maxPrice {_t(rules.max_price)}")
    return rounded


def _check_notional(
    ticket: OrderTicket, rules: SymbolRules, quantity: Decimal, price: Decimal | None
) -> None:
    market = ticket.order_type is OrderType.MARKET
    check_min = rules.min_notional > _ZERO and (not market or rules.min_notional_on_market)
    check_max = rules.max_notional > _ZERO and (not market or rules.max_notional_on_market)
    if not (check_min or check_max):
        return
    if price is None or price <= _ZERO:
        raise _refuse(
            rules.notional_filter, rules,
            "market order needs a positive reference price to check the notional",
        )  # fmt: skip
    notional = quantity * price
    if check_min and notional < rules.min_notional:
        raise _refuse(
            rules.notional_filter, rules,
            f"notional {_t(notional)} ({_t(quantity)} x {_t(price)}) is below minNotional "
            f"{_t(rules.min_notional)}",
        )  # fmt: skip
    if check_max and notional > rules.max_notional:
        raise _refuse(
            rules.notional_filter, rules,
            f"notional {_t(notional)} ({_t(quantity)} x {_t(price)}) is above maxNotional "
            f"{_t(rules.max_notional)}",
        )  # fmt: skip


def _on_grid(value: Decimal, step: Decimal, origin: Decimal, rounding: str) -> Decimal:
    """``value`` on the grid ``origin + k * step`` (Binance: ``(price - minPrice) % tickSize
    == 0``), rounded as asked; unchanged when the step is 0 (no such rule)."""
    if step <= _ZERO:
        return value
    steps = ((value - origin) / step).to_integral_value(rounding=rounding)
    return origin + steps * step
