"""Symbol filters from real exchangeInfo answers, and orders rounded and checked against them
before they leave: the safe rounding direction, every refusal naming its filter and values."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from actors.messages import OrderTicket, OrderType, Side, TimeInForce
from tests.factories import btcusdt
from tests.shared_fixtures import shared_fixtures
from venues.binance.errors import FilterFailure, UnexpectedResponse
from venues.binance.filters import (
    SymbolInfo,
    SymbolRules,
    instrument,
    plain_decimal,
    prepare_order,
    symbol_rules,
)
from venues.binance.rest import ExchangeInfo


def _rest_fixture(*parts: str) -> Path:
    return shared_fixtures().joinpath("binance_rest", *parts)


def _recorded_info() -> ExchangeInfo:
    path = _rest_fixture("spot_recorded", "exchange_info.json")
    return msgspec.json.decode(path.read_bytes(), type=ExchangeInfo)


def _rules(symbol: str = "BTCUSDT") -> SymbolRules:
    info = _recorded_info()
    return symbol_rules(next(s for s in info.symbols if s.symbol == symbol))


# Filters as the recorded BTCUSDT has them, for tests that must run without the fixtures.
BTCUSDT = SymbolRules(
    symbol="BTCUSDT", base="BTC", quote="USDT",
    tick_size=Decimal("0.01"), min_price=Decimal("0.01"), max_price=Decimal("1000000"),
    step_size=Decimal("0.00001"), min_quantity=Decimal("0.00001"), max_quantity=Decimal("9000"),
    market_max_quantity=Decimal("112.21108820"),
    notional_filter="MIN_NOTIONAL", min_notional=Decimal("10"),
)  # fmt: skip


def _limit(side: Side, quantity: str, price: str, **fields: Any) -> OrderTicket:
    return OrderTicket(
        symbol="BTCUSDT", side=side, quantity=Decimal(quantity),
        order_type=OrderType.LIMIT, limit_price=Decimal(price), **fields,
    )  # fmt: skip


def _market(side: Side, quantity: str) -> OrderTicket:
    return OrderTicket(symbol="BTCUSDT", side=side, quantity=Decimal(quantity))


# --- reading exchangeInfo ---------------------------------------------------------------


def test_recorded_btcusdt_filters_are_read_exactly() -> None:
    rules = _rules("BTCUSDT")
    assert rules == BTCUSDT.__class__(
        **{
            **msgspec.structs.asdict(BTCUSDT),
            "default_tick_size": Decimal("1E-8"),
            "default_step_size": Decimal("1E-8"),
        }
    )
    assert rules.market_step_size == 0  # "0.00000000": disabled, as Binance documents
    assert rules.min_notional_on_market is True


def test_recorded_symbols_become_instruments() -> None:
    info = _recorded_info()
    instruments = {
        item.symbol: instrument(symbol_rules(item), server_time_ms=info.server_time)
        for item in info.symbols
    }
    btc, eth = instruments["BTCUSDT"], instruments["ETHUSDT"]
    assert (btc.base, btc.quote, btc.venue) == ("BTC", "USDT", "binance")
    assert btc.ts == 1634942465856 * 1_000_000
    assert str(btc.tick_size) == "0.01"
    assert str(btc.lot_size) == "0.00001"
    assert btc.min_quantity == Decimal("0.00001")
    assert str(btc.max_quantity) == "9000"
    assert str(btc.min_notional) == "10"
    assert eth.lot_size == Decimal("0.0001")
    assert eth.min_quantity == Decimal("0.0001")


def test_docs_example_symbol_without_filters_gets_precision_tick_and_step() -> None:
    path = _rest_fixture("spot_docs_examples", "exchange_info.json")
    info = msgspec.json.decode(path.read_bytes(), type=ExchangeInfo)
    item = instrument(symbol_rules(info.symbols[0]))
    assert (item.symbol, item.base, item.quote) == ("ETHBTC", "ETH", "BTC")
    assert item.tick_size == Decimal("0.00000001")
    assert item.lot_size == Decimal("0.00000001")
    assert item.min_notional == 0


def test_every_documented_filter_kind_is_read_or_skipped() -> None:
    examples = json.loads(_rest_fixture("spot_docs_examples", "filters_examples.json").read_text())
    ordered = [examples[name] for name in examples if name != "NOTIONAL"] + [examples["NOTIONAL"]]
    info = SymbolInfo(symbol="X", base_asset="A", quote_asset="B", filters=tuple(ordered))
    rules = symbol_rules(info)
    assert rules.tick_size == Decimal("0.000001")
    assert rules.max_price == Decimal("100000")
    assert rules.step_size == Decimal("0.001")
    assert rules.market_step_size == Decimal("0.001")
    assert rules.notional_filter == "NOTIONAL"
    assert (rules.min_notional, rules.max_notional) == (Decimal(10), Decimal(10000))
    assert (rules.min_notional_on_market, rules.max_notional_on_market) == (False, False)


def test_malformed_filter_value_names_symbol_and_filter() -> None:
    bad = {"filterType": "LOT_SIZE", "minQty": "x", "maxQty": "1", "stepSize": "0.1"}
    info = SymbolInfo(symbol="BTCUSDT", base_asset="BTC", quote_asset="USDT", filters=(bad,))
    with pytest.raises(UnexpectedResponse, match="BTCUSDT LOT_SIZE"):
        symbol_rules(info)


@pytest.mark.parametrize(
    ("text", "plain"), [("10.00000000", "10"), ("0.01000000", "0.01"), ("0", "0"), ("1E-8", "1E-8")]
)
def test_plain_decimal_drops_trailing_zeros_without_exponent(text: str, plain: str) -> None:
    assert str(plain_decimal(Decimal(text))) == plain


# --- rounding -------------------------------------------------------------------------


def test_buy_limit_rounds_price_down_and_sell_rounds_up() -> None:
    buy = prepare_order(_limit(Side.BUY, "0.001", "60000.019"), BTCUSDT)
    sell = prepare_order(_limit(Side.SELL, "0.001", "60000.011"), BTCUSDT)
    assert buy.limit_price == Decimal("60000.01")
    assert sell.limit_price == Decimal("60000.02")


def test_quantity_rounds_down_to_the_step() -> None:
    prepared = prepare_order(_limit(Side.SELL, "0.123456789", "60000"), BTCUSDT)
    assert prepared.quantity == Decimal("0.12345")


def test_on_grid_order_is_unchanged_in_value_and_keeps_its_terms() -> None:
    ticket = _limit(Side.BUY, "0.5", "100.5", time_in_force=TimeInForce.IOC)
    prepared = prepare_order(ticket, BTCUSDT)
    assert (prepared.quantity, prepared.limit_price) == (Decimal("0.5"), Decimal("100.5"))
    assert prepared.time_in_force is TimeInForce.IOC


def test_prices_are_on_the_grid_of_min_price() -> None:
    rules = msgspec.structs.replace(BTCUSDT, min_price=Decimal("0.005"), tick_size=Decimal("0.01"))
    prepared = prepare_order(_limit(Side.BUY, "1", "100.013"), rules)
    assert prepared.limit_price == Decimal("100.005")


def test_instrument_rules_round_the_same_way() -> None:
    prepared = prepare_order(_limit(Side.BUY, "0.0123456", "100.019"), btcusdt())
    assert (prepared.quantity, prepared.limit_price) == (Decimal("0.01234"), Decimal("100.01"))


def test_market_order_quantity_keeps_no_price() -> None:
    prepared = prepare_order(_market(Side.BUY, "0.0012345"), BTCUSDT, Decimal("60000"))
    assert prepared.quantity == Decimal("0.00123")
    assert prepared.limit_price is None


@given(
    price_ticks=st.integers(min_value=1, max_value=10**8 - 1),
    price_extra=st.integers(min_value=0, max_value=99),
    quantity_units=st.integers(min_value=100_000, max_value=10**11),
    side=st.sampled_from(list(Side)),
)
def test_rounding_never_worsens_the_order_and_lands_on_the_grid(
    price_ticks: int, price_extra: int, quantity_units: int, side: Side
) -> None:
    price = Decimal(price_ticks) * Decimal("0.01") + Decimal(price_extra) * Decimal("0.0001")
    quantity = Decimal(quantity_units) * Decimal("0.00000001")
    rules = msgspec.structs.replace(BTCUSDT, min_notional=Decimal(0))
    prepared = prepare_order(_limit(side, str(quantity), str(price)), rules)
    assert prepared.limit_price is not None
    assert (prepared.limit_price - rules.min_price) % rules.tick_size == 0
    assert (prepared.quantity - rules.min_quantity) % rules.step_size == 0
    assert 0 <= quantity - prepared.quantity < rules.step_size
    if side is Side.BUY:
        assert 0 <= price - prepared.limit_price < rules.tick_size
    else:
        assert 0 <= prepared.limit_price - price < rules.tick_size


# --- refusals -------------------------------------------------------------------------


def _refusal(ticket: OrderTicket, rules: Any = BTCUSDT, reference: str | None = None) -> str:
    with pytest.raises(FilterFailure) as caught:
        prepare_order(ticket, rules, None if reference is None else Decimal(reference))
    return f"{caught.value.filter_type}|{caught.value}"


def test_quantity_below_min_qty_names_lot_size_and_values() -> None:
    text = _refusal(_limit(Side.BUY, "0.000009", "60000"))
    assert text.startswith("LOT_SIZE|")
    assert "BTCUSDT quantity 0.000009 (down to 0 at step 0.00001) is not positive" in text


def test_quantity_above_max_qty_is_refused() -> None:
    text = _refusal(_limit(Side.SELL, "9000.5", "1"))
    assert text.startswith("LOT_SIZE|")
    assert "above maxQty 9000" in text


def test_quantity_below_min_qty_after_rounding() -> None:
    rules = msgspec.structs.replace(BTCUSDT, min_quantity=Decimal("0.001"))
    text = _refusal(_limit(Side.BUY, "0.0009", "60000"), rules)
    assert "quantity 0.0009 is below minQty 0.001" in text


def test_market_quantity_above_market_lot_size_is_refused() -> None:
    text = _refusal(_market(Side.BUY, "200"), reference="60000")
    assert text.startswith("MARKET_LOT_SIZE|")
    assert "above maxQty 112.2110882" in text


def test_limit_notional_below_min_names_the_filter_and_numbers() -> None:
    text = _refusal(_limit(Side.BUY, "0.0001", "60000"))
    assert text.startswith("MIN_NOTIONAL|")
    assert "notional 6 (0.0001 x 60000) is below minNotional 10" in text


def test_market_notional_uses_the_reference_price() -> None:
    assert "MIN_NOTIONAL|" in _refusal(_market(Side.SELL, "0.0001"), reference="60000")
    prepare_order(_market(Side.SELL, "0.001"), BTCUSDT, Decimal("60000"))


def test_market_order_without_reference_price_is_refused_when_notional_applies() -> None:
    assert "needs a positive reference price" in _refusal(_market(Side.BUY, "0.001"))
    unchecked = msgspec.structs.replace(BTCUSDT, min_notional_on_market=False)
    assert prepare_order(_market(Side.BUY, "0.001"), unchecked).quantity == Decimal("0.001")


def test_max_notional_applies_to_limits_and_not_to_markets_unless_told() -> None:
    rules = msgspec.structs.replace(
        BTCUSDT, notional_filter="NOTIONAL", max_notional=Decimal(10000)
    )
    assert "above maxNotional 10000" in _refusal(_limit(Side.BUY, "1", "60000"), rules)
    prepare_order(_market(Side.BUY, "1"), rules, Decimal("60000"))


@pytest.mark.parametrize(
    ("side", "price", "message"),
    [
        (Side.BUY, "0.005", "below minPrice 0.01"),
        (Side.SELL, "1000000.001", "above maxPrice 1000000"),
        (Side.BUY, "0", "needs a positive limit price"),
    ],
)
def test_price_outside_price_filter_is_refused(side: Side, price: str, message: str) -> None:
    text = _refusal(_limit(side, "1", price))
    assert text.startswith("PRICE_FILTER|")
    assert message in text


def test_refusal_says_nothing_was_sent() -> None:
    text = _refusal(_limit(Side.BUY, "0.0001", "60000"))
    assert "POST /api/v3/order: not sent: Filter failure: MIN_NOTIONAL" in text


def test_rules_of_another_symbol_are_a_programming_error() -> None:
    ticket = OrderTicket(symbol="ETHUSDT", side=Side.BUY, quantity=Decimal(1))
    with pytest.raises(ValueError, match="rules of BTCUSDT"):
        prepare_order(ticket, BTCUSDT)
