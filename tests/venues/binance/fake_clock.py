"""A fake clock for the Binance adapter's tests: time moves only when code sleeps on it."""

from __future__ import annotations


class FakeClock:
    """Seconds since the epoch; ``sleep`` advances them at once and records each wait."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def time(self) -> float:
        return self.now

    def time_ms(self) -> int:
        return round(self.now * 1000)

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
