"""The plug-in base: the state recipe its docstring teaches works through a host snapshot."""

from __future__ import annotations

from decimal import Decimal

import msgspec

from actors.clock import SimClock
from actors.messages import Bar, Message, Side
from actors.ports import Decisions, StrategyContext
from actors.strategy import StrategyHost, StrategyHostState
from strategies.base import Strategy
from tests.factories import btcusdt

MINUTE = 60_000_000_000
ENCODER = msgspec.msgpack.Encoder(decimal_format="string")


class BreakoutParams(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    lookback: int = 3
    quantity: Decimal = Decimal("0.01")


class BreakoutState(msgspec.Struct, frozen=True, kw_only=True):
    highs: dict[str, tuple[float, ...]]


class Breakout(Strategy):
    """The README's example with the state ``strategies.base`` tells how to add."""

    kind = "breakout"
    Params = BreakoutParams
    state_type = BreakoutState

    def setup(self) -> None:
        self.highs: dict[str, list[float]] = {symbol: [] for symbol in self.symbols}

    def snapshot(self) -> BreakoutState:
        return BreakoutState(highs={s: tuple(h) for s, h in self.highs.items()})

    def restore(self, state: BreakoutState) -> None:
        self.highs = {s: list(h) for s, h in state.highs.items()}

    def on_bar(self, bar: Bar, ctx: StrategyContext) -> Decisions:
        highs = self.highs[bar.symbol]
        breakout = len(highs) == self.params.lookback and bar.close > max(highs)
        highs.append(bar.high)
        del highs[: -self.params.lookback]
        if breakout and ctx.position(bar.symbol) + ctx.working(bar.symbol) == 0:
            return [ctx.market(bar.symbol, Side.BUY, self.params.quantity, tag="breakout")]
        return None


def _host() -> tuple[StrategyHost, list[Message]]:
    host = StrategyHost([Breakout({}, ["BTCUSDT"], "1m")], {"BTCUSDT": btcusdt()})
    out: list[Message] = []
    host.attach(out.append, SimClock(0))
    return host, out


def _bar(minute: int, high: float, close: float) -> Bar:
    return Bar(
        ts=(minute + 1) * MINUTE, symbol="BTCUSDT", interval="1m", start=minute * MINUTE,
        open=close, high=high, low=close, close=close, volume=1.0,
    )  # fmt: skip


def test_a_plugin_state_made_the_documented_way_survives_a_host_snapshot() -> None:
    bars = [_bar(i, high, high - 1) for i, high in enumerate((10.0, 12.0, 11.0, 9.0, 13.5))]
    original, out = _host()
    for bar in bars[:3]:
        original.on_bar(bar)
    encoded = ENCODER.encode(original.snapshot())
    restored, restored_out = _host()
    restored.restore(msgspec.msgpack.decode(encoded, type=StrategyHostState))
    for bar in bars[3:]:
        original.on_bar(bar)
        restored.on_bar(bar)
    assert len(out) == 1  # 12.5 breaks out above the highs 12, 11 and 9
    assert restored_out == out
    assert restored.snapshot() == original.snapshot()
