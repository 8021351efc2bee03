"""Small actors for testing the runtime itself."""

from __future__ import annotations

import pytest

from actors.actor import Actor
from actors.messages import Bar, Halt, Signal, TimerFired, TradingHalted
from tests.factories import flat_bar

MINUTE = 60_000_000_000


def make_bar(i: int, close: float = 100.0, symbol: str = "BTCUSDT") -> Bar:
    """The ``i``-th one-minute bar from the epoch, at one price."""
    return flat_bar(close, (i + 1) * MINUTE, symbol)


class Doubler(Actor):
    """Publishes a Signal with twice each bar's close; raises on a close of 13."""

    name = "doubler"

    def __init__(self) -> None:
        super().__init__()
        self.restarted: list[str] = []

    def on_bar(self, bar: Bar) -> None:
        if bar.close == 13:
            raise RuntimeError("unlucky bar")
        doubled = 2 * bar.close
        self.publish(Signal(ts=bar.ts, strategy="d", symbol=bar.symbol, name="x2", value=doubled))

    def on_restart(self, error: BaseException) -> None:
        self.restarted.append(str(error))


class Echo(Actor):
    """Answers every Signal with a Halt, and counts timers and halts."""

    name = "echo"

    def __init__(self) -> None:
        super().__init__()
        self.timers: list[int] = []
        self.halted: list[TradingHalted] = []

    def on_start(self) -> None:
        self.set_timer("tick", 5 * MINUTE)

    def on_signal(self, signal: Signal) -> None:
        self.publish(Halt(ts=signal.ts, reason=f"echo {signal.value}"))

    def on_timer_fired(self, timer: TimerFired) -> None:
        if timer.owner == self.name:
            self.timers.append(timer.ts)

    def on_trading_halted(self, halted: TradingHalted) -> None:
        self.halted.append(halted)


@pytest.fixture
def minute() -> int:
    return MINUTE
