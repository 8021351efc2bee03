from decimal import Decimal

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from actors.messages import Side
from venues.fill_model import (
    FEE_QUANTUM,
    FillModel,
    FillModelConfig,
    RandomState,
    fee,
    floor_to_lot,
    is_marketable,
    is_stop_triggered,
    price_to_tick,
    traded_through,
)

D = Decimal
TICK = D("0.01")


def model(**overrides: object) -> FillModel:
    return FillModel(FillModelConfig(**overrides))  # type: ignore[arg-type]


def test_defaults_are_ten_bps_taker_two_bps_maker_and_a_tenth_of_volume() -> None:
    config = FillModelConfig()
    assert config.taker_fee_bps == D(10)
    assert config.maker_fee_bps == D(2)
    assert config.participation_cap == D("0.1")
    assert config.half_spread_bps == config.impact_bps == config.slippage_noise_bps == D(0)


def test_config_converts_numbers_through_their_text() -> None:
    config = FillModelConfig(taker_fee_bps=7.5, maker_fee_bps="1.2", impact_bps=3)  # type: ignore[arg-type]
    assert config.taker_fee_bps == D("7.5")
    assert config.maker_fee_bps == D("1.2")
    assert config.impact_bps == D(3)
    assert isinstance(config.impact_bps, Decimal)


@pytest.mark.parametrize(
    "overrides",
    [
        {"taker_fee_bps": D(-1)},
        {"half_spread_bps": D("-0.5")},
        {"participation_cap": D(0)},
        {"participation_cap": D("1.5")},
        {"slippage_noise_bps": D("NaN")},
    ],
)
def test_config_refuses_negative_or_meaningless_values(overrides: dict[str, Decimal]) -> None:
    with pytest.raises(ValueError):
        FillModelConfig(**overrides)  # type: ignore[arg-type]


def test_buys_round_up_to_the_tick_and_sells_down() -> None:
    assert price_to_tick(D("100.003"), TICK, Side.BUY) == D("100.01")
    assert price_to_tick(D("100.003"), TICK, Side.SELL) == D("100.00")
    assert price_to_tick(D("100.01"), TICK, Side.BUY) == D("100.01")
    assert price_to_tick(D("100.01"), TICK, Side.SELL) == D("100.01")
    assert price_to_tick(D("100.12"), D("0.05"), Side.BUY) == D("100.15")
    assert price_to_tick(D("100.12"), D("0.05"), Side.SELL) == D("100.10")


@given(
    st.decimals(min_value=D("0.0001"), max_value=D(1_000_000), places=6),
    st.sampled_from([D("0.01"), D("0.05"), D("0.5"), D(1), D("0.0001")]),
)
def test_tick_rounding_never_favours_the_trader(price: Decimal, tick: Decimal) -> None:
    buy = price_to_tick(price, tick, Side.BUY)
    sell = price_to_tick(price, tick, Side.SELL)
    assert sell <= price <= buy
    assert buy - price < tick
    assert price - sell < tick
    assert buy % tick == 0
    assert sell % tick == 0


def test_floor_to_lot_rounds_quantity_down() -> None:
    assert floor_to_lot(D("0.12345"), D("0.001")) == D("0.123")
    assert floor_to_lot(D("0.0009"), D("0.001")) == D(0)


def test_fee_is_notional_times_bps_rounded_up_to_the_fee_quantum() -> None:
    assert fee(D("100.06"), D(10)) == D("0.10006")
    assert fee(D("1.23456789"), D(10)) == D("0.00123457")
    assert fee(D("1.23456789"), D(10)) % FEE_QUANTUM == 0
    assert fee(D(100), D(0)) == D(0)


def test_market_price_adds_half_spread_and_impact_for_a_buy_and_subtracts_for_a_sell() -> None:
    fills = model(half_spread_bps=D(5), impact_bps=D(10))
    # participation 1/10 -> impact 1 bp; 5 + 1 = 6 bps of 100
    assert fills.market_price(Side.BUY, D(100), D(1), D(10), TICK) == D("100.06")
    assert fills.market_price(Side.SELL, D(100), D(1), D(10), TICK) == D("99.94")


def test_impact_is_proportional_to_participation() -> None:
    fills = model(impact_bps=D(20))
    assert fills.impact_bps(D(1), D(4)) == D(5)
    assert fills.impact_bps(D(8), D(4)) == D(40)


def test_impact_without_a_reference_volume_is_the_full_participation_impact() -> None:
    fills = model(impact_bps=D(20))
    assert fills.impact_bps(D(1), None) == D(20)
    assert fills.impact_bps(D(1), D(0)) == D(20)


def test_market_price_rounds_against_the_trader() -> None:
    fills = model(half_spread_bps=D(1))
    # 100.005 * 1.0001 = 100.0150005 (buy, up); 100.005 * 0.9999 = 99.9949995 (sell, down)
    assert fills.market_price(Side.BUY, D("100.005"), D(1), D(10), TICK) == D("100.02")
    assert fills.market_price(Side.SELL, D("100.005"), D(1), D(10), TICK) == D("99.99")


def test_a_sell_is_never_priced_below_one_tick() -> None:
    fills = model(impact_bps=D(10_000))
    assert fills.market_price(Side.SELL, D(100), D(5), D(1), TICK) == TICK


def test_noise_is_adverse_bounded_and_reproducible_from_the_seed() -> None:
    def draws(seed: int) -> list[Decimal]:
        fills = model(slippage_noise_bps=D(50), seed=seed)
        return [fills.market_price(Side.BUY, D(100), D(1), D(10), TICK) for _ in range(20)]

    first = draws(7)
    assert first == draws(7)
    assert first != draws(8)
    assert all(D(100) <= price <= D("100.50") for price in first)
    assert len(set(first)) > 1


def test_noise_free_model_draws_nothing() -> None:
    fills = model(half_spread_bps=D(5))
    state = fills._random.getstate()
    fills.market_price(Side.BUY, D(100), D(1), D(10), TICK)
    assert fills._random.getstate() == state


def test_a_model_given_anothers_random_state_draws_the_same_noise_from_there() -> None:
    def prices(fills: FillModel) -> list[Decimal]:
        return [fills.market_price(Side.BUY, D(100), D(1), D(10), TICK) for _ in range(20)]

    original = model(slippage_noise_bps=D(50), seed=4)
    prices(original)
    encoded = msgspec.msgpack.encode(original.random_state())
    restored = model(slippage_noise_bps=D(50), seed=99)
    restored.set_random_state(msgspec.msgpack.decode(encoded, type=RandomState))
    assert prices(restored) == prices(original)
    assert restored.random_state() == original.random_state()


def test_worst_market_price_bounds_every_noisy_price() -> None:
    fills = model(half_spread_bps=D(2), slippage_noise_bps=D(30), seed=3)
    worst_buy = fills.worst_market_price(Side.BUY, D(100), D(1), D(10), TICK)
    worst_sell = fills.worst_market_price(Side.SELL, D(100), D(1), D(10), TICK)
    assert worst_buy == D("100.32")
    assert worst_sell == D("99.68")
    for _ in range(50):
        assert fills.market_price(Side.BUY, D(100), D(1), D(10), TICK) <= worst_buy
        assert fills.market_price(Side.SELL, D(100), D(1), D(10), TICK) >= worst_sell


def test_touching_a_limit_is_not_trading_through_it() -> None:
    assert not traded_through(Side.BUY, D(99), low=D(99), high=D(101))
    assert traded_through(Side.BUY, D(99), low=D("98.99"), high=D(101))
    assert not traded_through(Side.SELL, D(101), low=D(99), high=D(101))
    assert traded_through(Side.SELL, D(101), low=D(99), high=D("101.01"))


def test_limit_is_marketable_when_it_reaches_the_price() -> None:
    assert is_marketable(Side.BUY, D(100), D(100))
    assert not is_marketable(Side.BUY, D("99.99"), D(100))
    assert is_marketable(Side.SELL, D(100), D(100))
    assert not is_marketable(Side.SELL, D("100.01"), D(100))


def test_stop_triggers_at_or_through_the_stop() -> None:
    assert is_stop_triggered(Side.BUY, D(105), low=D(100), high=D(105))
    assert not is_stop_triggered(Side.BUY, D(105), low=D(100), high=D("104.99"))
    assert is_stop_triggered(Side.SELL, D(95), low=D(95), high=D(100))
    assert not is_stop_triggered(Side.SELL, D(95), low=D("95.01"), high=D(100))


def test_participation_capacity_is_the_cap_share_of_volume_floored_to_the_lot() -> None:
    fills = model(participation_cap=D("0.1"))
    assert fills.participation_capacity(D("1.2345"), D("0.001")) == D("0.123")
    assert fills.participation_capacity(D("0.005"), D("0.001")) == D(0)


def test_maker_and_taker_fees_use_their_rates_and_max_fee_the_larger() -> None:
    fills = model(taker_fee_bps=D(10), maker_fee_bps=D(2))
    assert fills.taker_fee(D(1000)) == D("1")
    assert fills.maker_fee(D(1000)) == D("0.2")
    assert fills.max_fee(D(1000)) == D("1")
