"""The strategy host's operator commands (pause, resume) and its indicator signals."""

from __future__ import annotations

import msgspec

import strategies
from actors.clock import SimClock
from actors.messages import (
    Alert,
    Message,
    OrderIntent,
    PauseStrategy,
    ResumeStrategy,
    Signal,
)
from actors.strategy import StrategyHost, StrategyHostState
from tests.actors.conftest import make_bar
from tests.factories import btcusdt

# fast crosses above slow on the 12, below on the 5, above again on the 20
CLOSES = [10, 10, 10, 9, 12, 5, 5, 20]


def _host(*, indicators: bool = False) -> tuple[StrategyHost, list[Message]]:
    plugin = strategies.create(
        "sma_cross", {"fast": 2, "slow": 3, "quantity": "1"}, ["BTCUSDT"], "1m"
    )
    host = StrategyHost([plugin], {"BTCUSDT": btcusdt()}, indicators=indicators)
    out: list[Message] = []
    host.attach(out.append, SimClock(start_ns=0))
    return host, out


def _intents(out: list[Message]) -> list[OrderIntent]:
    return [m for m in out if isinstance(m, OrderIntent)]


def test_a_paused_strategy_sends_no_intent_and_a_resumed_one_does() -> None:
    host, out = _host()
    host.on_pause_strategy(PauseStrategy(ts=0, strategy="sma_cross"))
    for i, close in enumerate(CLOSES[:5]):
        host.on_bar(make_bar(i, float(close)))
    assert _intents(out) == [] and host.dropped_intents == 1
    host.on_resume_strategy(ResumeStrategy(ts=0, strategy="sma_cross"))
    for i, close in enumerate(CLOSES[5:], start=5):
        host.on_bar(make_bar(i, float(close)))
    (buy,) = _intents(out)  # the indicators kept up while paused: the next cross trades
    assert buy.ticket.symbol == "BTCUSDT" and buy.tag == "cross_up"


def test_pausing_an_unknown_strategy_is_refused_with_an_alert() -> None:
    host, out = _host()
    host.on_pause_strategy(PauseStrategy(ts=0, strategy="nope"))
    (alert,) = [m for m in out if isinstance(m, Alert)]
    assert "nope" in alert.text and "sma_cross" in alert.text
    assert host.paused == set()


def test_the_paused_set_survives_a_snapshot() -> None:
    host, _ = _host()
    host.on_pause_strategy(PauseStrategy(ts=0, strategy="sma_cross"))
    data = msgspec.msgpack.Encoder(decimal_format="string").encode(host.snapshot())
    fresh, out = _host()
    fresh.restore(msgspec.msgpack.Decoder(StrategyHostState).decode(data))
    for i, close in enumerate(CLOSES[:5]):
        fresh.on_bar(make_bar(i, float(close)))
    assert _intents(out) == [] and fresh.paused == {"sma_cross"}


def test_indicator_signals_only_when_asked_for() -> None:
    quiet, quiet_out = _host()
    charted, charted_out = _host(indicators=True)
    for i, close in enumerate(CLOSES[:4]):
        quiet.on_bar(make_bar(i, float(close)))
        charted.on_bar(make_bar(i, float(close)))
    assert not [m for m in quiet_out if isinstance(m, Signal)]
    values = {(m.ts, m.name): m.value for m in charted_out if isinstance(m, Signal)}
    # the slow window (3) fills on the third bar: from then on both averages each bar
    assert sorted({name for _, name in values}) == ["sma_2", "sma_3"]
    assert all(m.kind == "indicator" for m in charted_out if isinstance(m, Signal))
    last = max(ts for ts, _ in values)
    assert values[(last, "sma_2")] == 9.5 and values[(last, "sma_3")] == (10 + 10 + 9) / 3
