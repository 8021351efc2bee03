"""The bar builder's snapshot: bars half built from ticks, open aggregate windows and the
series' last starts carry over, so a restored builder emits exactly what the original
would have."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actors.bar_builder import BarBuilder, BarBuilderState, PartialBar
from actors.clock import SimClock
from actors.messages import (
    Bar,
    BarUpdate,
    EndOfData,
    Message,
    Side,
    TimerFired,
    TradeTick,
)

SECOND = 1_000_000_000
MINUTE = 60 * SECOND
DAY0 = 19_723 * 86_400 * SECOND  # 2024-01-01T00:00:00Z
SYMBOLS = ("BTCUSDT", "ETHUSDT")
ENCODER = msgspec.msgpack.Encoder(decimal_format="string")
DECODER = msgspec.msgpack.Decoder(BarBuilderState)
CONFIG: dict[str, Any] = {
    "base_interval": "1m",
    "aggregate_to": ("5m", "15m", "1h"),
    "close_on_timer": True,
}


def _builder(now: int) -> tuple[BarBuilder, list[Message], SimClock]:
    builder = BarBuilder(**CONFIG)
    out: list[Message] = []
    clock = SimClock(now)
    builder.attach(out.append, clock)
    return builder, out, clock


def _through_msgpack(state: BarBuilderState) -> BarBuilderState:
    return DECODER.decode(ENCODER.encode(state))


def _deliver(builder: BarBuilder, clock: SimClock, messages: list[Message]) -> None:
    handlers: dict[type, Callable[[Any], None]] = builder.handlers()
    for message in messages:
        clock.advance_to(message.ts)
        handlers[type(message)](message)


_ticks = st.tuples(
    st.just("tick"),
    st.sampled_from(SYMBOLS),
    st.integers(0, 100),  # seconds since the previous message
    st.integers(-50, 50),  # price, in cents from 100
    st.sampled_from([0.001, 0.5, 2.0]),
)
_bars = st.tuples(
    st.just("bar"),
    st.sampled_from(SYMBOLS),
    st.sampled_from(["1m", "1m", "1m", "5m"]),
    st.integers(-3, 4),  # intervals from the current one: older ones are duplicates
    st.integers(-50, 50),
)
_timers = st.tuples(st.just("timer"), st.integers(0, 100))
_ends = st.tuples(st.just("end"))
_steps = st.lists(
    st.one_of(_ticks, _ticks, _ticks, _bars, _bars, _timers, _ends), min_size=5, max_size=120
)


def _messages(steps: list[tuple[Any, ...]]) -> list[Message]:
    """Time moves forward from message to message; bars and ticks may still be late."""
    now = DAY0 + 7 * MINUTE
    messages: list[Message] = []
    for step in steps:
        match step:
            case ("tick", symbol, seconds, cents, size):
                now += seconds * SECOND
                price = 100 + cents / 100
                messages.append(
                    TradeTick(ts=now, symbol=symbol, price=price, size=size, aggressor=Side.BUY)
                )
            case ("bar", symbol, interval, offset, cents):
                length = 5 * MINUTE if interval == "5m" else MINUTE
                start = now - now % length + offset * length
                close = 100 + cents / 100
                bar = Bar(
                    ts=start + length, symbol=symbol, interval=interval, start=start,
                    open=close - 0.1, high=close + 0.2, low=close - 0.3, close=close,
                    volume=1.5, trades=4, vwap=close - 0.05,
                )  # fmt: skip
                now = max(now, bar.ts)
                messages.append(BarUpdate(ts=bar.ts, bar=bar, closed=True))
            case ("timer", seconds):
                now += seconds * SECOND
                messages.append(TimerFired(ts=now, owner="bar_builder", name="close_bars"))
            case ("end",):
                messages.append(EndOfData(ts=now))
    return messages


@settings(max_examples=200, deadline=None)
@given(steps=_steps, data=st.data())
def test_a_restored_builder_emits_exactly_what_the_original_would_have(
    steps: list[tuple[Any, ...]], data: st.DataObject
) -> None:
    messages = _messages(steps)
    cut = data.draw(st.integers(0, len(messages)), label="cut")
    original, out, clock = _builder(DAY0)
    _deliver(original, clock, messages[:cut])
    saved = _through_msgpack(original.snapshot())

    restored, restored_out, restored_clock = _builder(clock.now())
    restored.restore(saved)
    assert restored.snapshot() == saved
    out.clear()
    _deliver(original, clock, messages[cut:])
    _deliver(restored, restored_clock, messages[cut:])

    assert restored_out == out
    assert restored.snapshot() == original.snapshot()
    assert restored.totals() == original.totals()
    assert (restored.duplicates, restored.gaps) == (original.duplicates, original.gaps)


def test_the_snapshot_holds_the_bar_being_built_the_open_windows_and_the_counters() -> None:
    builder, _, clock = _builder(DAY0)
    first = Bar(
        ts=DAY0 + MINUTE, symbol="BTCUSDT", interval="1m", start=DAY0, open=1.0, high=3.0,
        low=0.5, close=2.0, volume=2.0, trades=5, vwap=1.5,
    )  # fmt: skip
    third = msgspec.structs.replace(first, ts=DAY0 + 3 * MINUTE, start=DAY0 + 2 * MINUTE)
    ticks = [
        TradeTick(ts=DAY0 + 3 * MINUTE + s * SECOND, symbol="BTCUSDT", price=p, size=1.0,
                  aggressor=Side.SELL)
        for s, p in ((1, 10.0), (20, 12.0), (30, 9.0))
    ]  # fmt: skip
    updates = [BarUpdate(ts=bar.ts, bar=bar) for bar in (first, third, first)]
    _deliver(builder, clock, [*updates, *ticks])
    state = builder.snapshot()
    assert state.last_base == {"BTCUSDT": DAY0 + 2 * MINUTE}
    assert state.open_bars == {
        "BTCUSDT": PartialBar(
            start=DAY0 + 3 * MINUTE, end=0, open=10.0, high=12.0, low=9.0, close=9.0,
            volume=3.0, trades=3, notional=31.0,
        )
    }  # fmt: skip
    five = state.windows["5m"]["BTCUSDT"]
    assert (five.start, five.end, five.volume, five.trades) == (DAY0, DAY0 + 5 * MINUTE, 4.0, 10)
    assert state.windows["15m"] == state.windows["1h"] == {}
    assert state.duplicates == {"BTCUSDT": {"1m": 1}}
    assert state.gaps == {"BTCUSDT": {"1m": 1}}


def test_changing_a_restored_builder_leaves_the_original_and_its_snapshot_alone() -> None:
    original, _, clock = _builder(DAY0)
    ticks = _messages([("tick", "BTCUSDT", 5, 0, 1.0), ("tick", "ETHUSDT", 5, 3, 1.0)])
    _deliver(original, clock, ticks)
    saved = original.snapshot()
    before = ENCODER.encode(saved)

    restored, _, restored_clock = _builder(clock.now())
    restored.restore(saved)  # in process: nothing may be shared
    later = TradeTick(
        ts=clock.now() + SECOND, symbol="BTCUSDT", price=150.0, size=4.0, aggressor=Side.BUY
    )
    closing = TradeTick(
        ts=clock.now() + 2 * MINUTE, symbol="ETHUSDT", price=1.0, size=1.0, aggressor=Side.BUY
    )
    _deliver(restored, restored_clock, [later, closing])

    assert restored.snapshot() != saved
    assert ENCODER.encode(saved) == before
    assert original.snapshot() == saved


def test_a_snapshot_aggregating_to_intervals_this_builder_lacks_is_refused() -> None:
    original, _, clock = _builder(DAY0)
    _deliver(original, clock, _messages([("bar", "BTCUSDT", "1m", 0, 0)]))
    with pytest.raises(ValueError, match=r"\['15m', '1h', '5m'\]"):
        BarBuilder(base_interval="1m").restore(original.snapshot())
