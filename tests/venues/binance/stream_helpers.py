"""Helpers of the WebSocket stream tests (no tests here): a paused simulator config, a REST
client signed with its keys, instant or gated sleeps, bounded waits, and a task that reads
a stream while the test drives the simulator's clock."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, Callable
from dataclasses import replace
from typing import Any, Generic, TypeVar

from venues.binance.rest import BinanceRest
from venues.binance.signing import Credentials, HmacSigner
from venues.binance.ws import ReconnectPolicy
from venues.simulator import Simulator, SimulatorConfig

MINUTE = 60_000
MS = 1_000_000
SYMBOL = "BTCUSDT"
KLINES = "btcusdt@kline_1m"
# Paused at 01:00 on 2024-01-01 with an hour of history: tests move time with advance().
PAUSED = SimulatorConfig(start_paused=True, sample_days=1, history_minutes=60)
# No planned rotation unless a test asks; reconnect waits are instant (see ``no_wait``).
POLICY = ReconnectPolicy(rotate_after_seconds=None, idle_timeout_seconds=30.0)

T = TypeVar("T")


def paused(**changes: Any) -> SimulatorConfig:
    return replace(PAUSED, **changes)


def rest_for(sim: Simulator) -> BinanceRest:
    """A REST client of ``sim`` signing with the simulator's throwaway keys."""
    return BinanceRest(sim.url, credentials=Credentials(sim.api_key, HmacSigner(sim.api_secret)))


def sim_now_ns(sim: Simulator) -> Callable[[], int]:
    return lambda: sim.now_ms() * MS


class RecordingSleep:
    """A sleep that only yields to the loop, recording how long it was asked to wait."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        await asyncio.sleep(0)


async def no_wait(seconds: float) -> None:
    await asyncio.sleep(0)


class Gate:
    """A sleep that waits until the test opens the gate (then every later call passes)."""

    def __init__(self) -> None:
        self._open = asyncio.Event()
        self.waiting = 0

    async def __call__(self, seconds: float) -> None:
        self.waiting += 1
        await self._open.wait()

    def open(self) -> None:
        self._open.set()


class Ticker:
    """A sleep that returns once per ``tick()``: a periodic task steps when the test says."""

    def __init__(self) -> None:
        self._ticks = asyncio.Semaphore(0)
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
        await self._ticks.acquire()

    def tick(self) -> None:
        self._ticks.release()


async def wait_until(predicate: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    """Poll ``predicate`` until it holds; fail naming ``what`` after ``timeout`` seconds."""
    try:
        async with asyncio.timeout(timeout):
            while not predicate():
                await asyncio.sleep(0.005)
    except TimeoutError:
        raise AssertionError(f"timed out after {timeout} s waiting for {what}") from None


class Reader(Generic[T]):
    """Reads an async iterable in a task into ``items`` until ``stop()``."""

    def __init__(self, source: AsyncIterable[T]) -> None:
        self.items: list[T] = []
        self._task = asyncio.create_task(self._run(source))

    async def _run(self, source: AsyncIterable[T]) -> None:
        async for item in source:
            self.items.append(item)

    def of_type(self, kind: type[Any]) -> list[Any]:
        return [item for item in self.items if isinstance(item, kind)]

    async def stop(self) -> None:
        if self._task.done():
            self._task.result()  # a crashed reader fails the test with its own error
            return
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
