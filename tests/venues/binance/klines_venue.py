"""A synthetic Binance klines endpoint for the backfill tests: pages as Binance serves them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import httpx

MINUTE_MS = 60_000
DAY_MS = 86_400_000
DAY1 = dt.date(2024, 1, 1)
DAY1_MS = 1_704_067_200_000
SYMBOL = "BTCUSDT"


def kline(open_ms: int, step_ms: int = MINUTE_MS) -> list[Any]:
    """A kline row as Binance sends it, its prices made from its time (so a misplaced or
    repeated row shows)."""
    minute = (open_ms - DAY1_MS) // MINUTE_MS
    price = 40_000 + minute / 100
    return [
        open_ms, f"{price:.8f}", f"{price + 5:.8f}", f"{price - 5:.8f}", f"{price + 1:.8f}",
        "1.50000000", open_ms + step_ms - 1, f"{price * 1.5:.8f}", minute % 97, "0.7", "1.1", "0",
    ]  # fmt: skip


class PagedVenue:
    """``GET /api/v3/klines`` as Binance answers it: rows with ``startTime <= open_time <=
    endTime``, oldest first, at most ``limit``. ``fail`` may answer a call instead."""

    def __init__(
        self,
        opens: list[int],
        step_ms: int = MINUTE_MS,
        fail: Callable[[int], httpx.Response | Exception | None] | None = None,
    ) -> None:
        self.rows = {start: kline(start, step_ms) for start in opens}
        self.fail = fail
        self.calls: list[tuple[int, int, int]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        params = request.url.params
        start, end = int(params["startTime"]), int(params["endTime"])
        limit = int(params["limit"])
        self.calls.append((start, end, limit))
        if self.fail is not None:
            failure = self.fail(len(self.calls))
            if isinstance(failure, Exception):
                raise failure
            if failure is not None:
                return failure
        rows = [self.rows[t] for t in sorted(self.rows) if start <= t <= end][:limit]
        return httpx.Response(200, json=rows, headers={"X-MBX-USED-WEIGHT-1M": "2"})


def minutes(first_ms: int, count: int) -> list[int]:
    return [first_ms + i * MINUTE_MS for i in range(count)]
