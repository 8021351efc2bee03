"""SMA crossover: decisions at crosses only, long only, sized by quantity or notional."""

from __future__ import annotations

from decimal import Decimal

import pytest

import strategies
from actors.clock import SimClock
from actors.messages import (
    Bar,
    Message,
    OrderIntent,
    RiskRejected,
    Side,
    Signal,
    SubmitOrder,
)
from actors.strategy import StrategyHost
from strategies.sma_cross import SmaCross
from tests.actors.conftest import MINUTE, make_bar
from tests.factories import btcusdt, flat_bar, make_fill, position_changed

BTC = btcusdt()


def _host(**params: object) -> tuple[StrategyHost, list[Message]]:
    plugin = strategies.create("sma_cross", params, ["BTCUSDT"], "1m")
    host = StrategyHost([plugin], {"BTCUSDT": BTC})
    out: list[Message] = []
    host.attach(out.append, SimClock(start_ns=0))
    return host, out


def _intents(out: list[Message]) -> list[OrderIntent]:
    return [m for m in out if isinstance(m, OrderIntent)]


def test_buys_on_a_cross_up_and_sells_everything_on_the_cross_down() -> None:
    host, out = _host(fast=2, slow=3, quantity="0.5")
    for i, close in enumerate([10, 10, 10, 9, 12]):  # fast crosses above slow on the 12
        host.on_bar(make_bar(i, float(close)))
    (buy,) = _intents(out)
    assert buy.ticket.side is Side.BUY and buy.ticket.quantity == Decimal("0.5")
    assert buy.ts == host.clock.now() and buy.strategy == "sma_cross"
    host.on_submit_order(
        SubmitOrder(ts=1, client_order_id="c1", strategy=buy.strategy, ticket=buy.ticket)
    )
    host.on_fill(make_fill(Side.BUY, "0.5", "12", ts=1, strategy="sma_cross"))
    assert host.working == {}
    host.on_position_changed(position_changed("0.5", ts=1, average_price="12"))
    for i, close in enumerate([13, 5], start=5):
        host.on_bar(make_bar(i, float(close)))
    sell = _intents(out)[-1]
    assert sell.ticket.side is Side.SELL and sell.ticket.quantity == Decimal("0.5")
    assert [s.name for s in out if isinstance(s, Signal)] == ["cross_up", "cross_down"]


def test_no_second_buy_while_the_first_is_still_working() -> None:
    host, out = _host(fast=2, slow=3, quantity="1")
    for i, close in enumerate([10, 10, 10, 9, 12, 5, 5, 20]):
        host.on_bar(make_bar(i, float(close)))
    assert len(_intents(out)) == 1  # in flight, not filled: nothing to sell, no second buy
    (buy,) = _intents(out)
    host.on_submit_order(
        SubmitOrder(ts=1, client_order_id="c1", strategy=buy.strategy, ticket=buy.ticket)
    )
    assert host.working == {("sma_cross", "BTCUSDT"): Decimal(1)}
    for i, close in enumerate([5, 5, 30], start=8):
        host.on_bar(make_bar(i, float(close)))
    assert len(_intents(out)) == 1  # submitted, not filled: still working


def test_a_rejected_intent_stops_counting_as_working() -> None:
    host, out = _host(fast=2, slow=3, quantity="1")
    for i, close in enumerate([10, 10, 10, 9, 12]):
        host.on_bar(make_bar(i, float(close)))
    (buy,) = _intents(out)
    host.on_risk_rejected(RiskRejected(ts=1, intent=buy, reason="max_order_notional"))
    assert host.working == {}
    for i, close in enumerate([5, 5, 30], start=5):
        host.on_bar(make_bar(i, float(close)))
    assert len(_intents(out)) == 2


def test_notional_sizing_floors_to_the_lot() -> None:
    host, out = _host(fast=2, slow=3, notional="1000")
    for i, close in enumerate([10, 10, 10, 9, 30000]):
        host.on_bar(make_bar(i, float(close)))
    (buy,) = _intents(out)
    assert buy.ticket.quantity == Decimal("0.03333")


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"fast": 30, "slow": 10, "quantity": "1"}, "slow (10) must be greater than fast (30)"),
        ({"fast": "ten", "quantity": "1"}, "Expected `int`, got `str` - at `$.fast`"),
        ({"fast": 5}, "give exactly one of quantity or notional"),
        ({"quantity": "1", "speed": 3}, "unknown field `speed`"),
        ({"quantity": "-1"}, "order size must be positive"),
    ],
)
def test_bad_parameters_are_refused_naming_the_parameter(params: dict, message: str) -> None:
    with pytest.raises(strategies.StrategyParameterError, match="sma_cross") as error:
        strategies.create("sma_cross", params, ["BTCUSDT"], "1m")
    assert message in str(error.value)


def test_parameters_given_as_cli_strings_are_converted() -> None:
    plugin = strategies.create(
        "sma_cross", {"fast": "5", "slow": "20", "quantity": "0.1"}, [], "1m"
    )
    assert (plugin.params.fast, plugin.params.slow) == (5, 20)


def test_an_unknown_strategy_names_the_available_ones() -> None:
    with pytest.raises(strategies.UnknownStrategyError, match="available: sma_cross"):
        strategies.create("mean_revert", {}, ["BTCUSDT"], "1m")


def test_a_flat_market_after_a_fall_does_not_buy() -> None:
    """Means of floats put 10.7 over 2 bars an ulp above 10.7 over 3: a tie, not a cross."""
    host, out = _host(fast=2, slow=3, quantity="1")
    for i, close in enumerate([12.7, 11.7, *[10.7] * 20]):
        host.on_bar(make_bar(i, close))
    assert out == []


def _bar(i: int, close: float, interval: str, minutes: int) -> Bar:
    return flat_bar(close, (i + 1) * minutes * MINUTE, interval=interval)


def test_bars_reach_only_the_plugins_of_their_interval() -> None:
    params = {"fast": 2, "slow": 3, "quantity": "1"}
    minute = SmaCross(params, ["BTCUSDT"], "1m", name="minute")
    five = SmaCross(params, ["BTCUSDT"], "5m", name="five")
    host = StrategyHost([minute, five], {"BTCUSDT": BTC})
    out: list[Message] = []
    host.attach(out.append, SimClock(start_ns=0))
    for i, close in enumerate([10, 10, 10, 9, 12]):
        host.on_bar(_bar(i, float(close), "5m", 5))
        host.on_bar(_bar(i, 100.0, "1m", 1))  # flat: no cross on the minute plugin
        host.on_bar(_bar(i, float(close), "1h", 60))  # nobody trades hourly bars
    assert [(i.strategy, i.ticket.side) for i in _intents(out)] == [("five", Side.BUY)]


def test_dust_below_one_lot_is_flat_neither_sold_nor_blocking_the_next_entry() -> None:
    host, out = _host(fast=2, slow=3, quantity="0.5")
    dust = BTC.lot_size * Decimal("0.7")  # what a fee paid in the base asset leaves
    host.on_position_changed(position_changed(str(dust), ts=1, average_price="12"))
    for i, close in enumerate([10, 10, 10, 12, 5, 5, 20]):  # up on the 12, down on the 5
        host.on_bar(make_bar(i, float(close)))
    intents = _intents(out)
    assert [(i.ticket.side, i.ticket.quantity) for i in intents] == [(Side.BUY, Decimal("0.5"))]
