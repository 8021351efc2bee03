"""SMA crossover's snapshot: the averages' windows per symbol, restored without a context."""

from __future__ import annotations

import msgspec
import pytest

import strategies
from actors.clock import SimClock
from actors.messages import Message, OrderIntent
from actors.strategy import StrategyHost
from strategies.base import Strategy
from strategies.indicators import MovingAverageCrossState
from strategies.sma_cross import SmaCross, SmaCrossState
from tests.factories import btcusdt, flat_bar

MINUTE = 60_000_000_000
BTC = btcusdt()
ETH = msgspec.structs.replace(BTC, symbol="ETHUSDT", base="ETH")
PARAMS = {"fast": 2, "slow": 3, "quantity": "1"}


def _host(plugin: Strategy) -> tuple[StrategyHost, list[Message]]:
    host = StrategyHost([plugin], {"BTCUSDT": BTC, "ETHUSDT": ETH})
    out: list[Message] = []
    host.attach(out.append, SimClock(0))
    return host, out


def test_the_state_is_each_symbols_window_sorted_by_symbol() -> None:
    plugin = SmaCross(PARAMS, ["ETHUSDT", "BTCUSDT"], "1m")
    host, _ = _host(plugin)
    for minute, (symbol, close) in enumerate(
        [("ETHUSDT", 1.0), ("BTCUSDT", 2.0), ("ETHUSDT", 3.0)]
    ):
        host.on_bar(flat_bar(close, (minute + 1) * MINUTE, symbol))
    state = plugin.snapshot()
    assert list(state.averages) == ["BTCUSDT", "ETHUSDT"]
    assert state == SmaCrossState(
        averages={
            "BTCUSDT": MovingAverageCrossState(prices=(200,), above=None),
            "ETHUSDT": MovingAverageCrossState(prices=(100, 300), above=None),
        }
    )


def test_a_restored_window_waits_for_its_symbols_next_bar_and_then_decides_on() -> None:
    original = SmaCross(PARAMS, ["BTCUSDT"], "1m")
    original_host, original_out = _host(original)
    for minute, close in enumerate([10.0, 10.0, 10.0]):
        original_host.on_bar(flat_bar(close, (minute + 1) * MINUTE))
    saved = msgspec.msgpack.decode(msgspec.msgpack.encode(original.snapshot()), type=SmaCrossState)

    restored = SmaCross(PARAMS, ["BTCUSDT"], "1m")
    restored.restore(saved)
    assert restored.snapshot() == saved  # before any bar: still the restored window
    restored_host, restored_out = _host(restored)
    original_out.clear()
    rising = flat_bar(11.0, 4 * MINUTE)
    original_host.on_bar(rising)
    restored_host.on_bar(rising)
    assert restored_out == original_out
    assert [type(message) for message in restored_out].count(OrderIntent) == 1
    assert restored.snapshot() == original.snapshot()


def test_restoring_replaces_what_the_plugin_had() -> None:
    plugin = SmaCross(PARAMS, ["BTCUSDT"], "1m")
    host, _ = _host(plugin)
    host.on_bar(flat_bar(5.0, MINUTE))
    plugin.restore(SmaCrossState(averages={}))
    assert plugin.snapshot() == SmaCrossState(averages={})


def test_a_plugin_without_state_snapshots_none_and_refuses_a_state() -> None:
    class Quiet(Strategy):
        kind = "quiet"
        Params = msgspec.defstruct("QuietParams", [])

    plugin = Quiet({}, ["BTCUSDT"], "1m")
    assert Quiet.state_type is None and plugin.snapshot() is None
    plugin.restore(None)
    with pytest.raises(TypeError, match="'quiet' keeps no state"):
        plugin.restore(SmaCrossState(averages={}))


def test_registered_plugins_declare_the_state_they_snapshot() -> None:
    for kind, cls in strategies.REGISTRY.items():
        plugin = strategies.create(kind, {"quantity": "1"}, ["BTCUSDT"], "1m")
        state = plugin.snapshot()
        assert (state is None) == (cls.state_type is None)
        assert state is None or type(state) is cls.state_type
