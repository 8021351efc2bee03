"""The request-weight budget: one per Binance host, shared by every caller in the process.

Binance counts request weight per IP in fixed windows of one minute and reports
the count of the current window in ``X-MBX-USED-WEIGHT-1M`` on every response
(rest-api.md, "IP Limits"). Going over gets HTTP 429 with ``Retry-After``;
ignoring 429s gets HTTP 418, an IP ban of two minutes to three days. So:

- a caller reserves its request's weight before sending and waits for the next
  window when the reservation would pass the limit (the limit comes from
  exchangeInfo's ``REQUEST_WEIGHT`` minute limit, or from config);
- each response's header raises the count to what Binance says (other processes
  on the same IP count too); the count never goes down within a window;
- a 429 pauses every caller until ``Retry-After`` has passed;
- a 418 bans every caller: each later request raises ``IpBanned`` at once, without
  touching the network, until the ban's ``Retry-After`` has passed.

Time is read from an injected clock and waited with an injected sleep, so tests
run on a fake clock without sleeping.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Final
from urllib.parse import urlsplit

import msgspec
import structlog

from venues.binance.errors import IpBanned

__all__ = [
    "DEFAULT_BAN_SECONDS",
    "DEFAULT_WEIGHT_LIMIT",
    "REQUEST_WEIGHTS",
    "USED_WEIGHT_HEADER",
    "BudgetStatistics",
    "RateLimit",
    "WeightBudget",
    "minute_weight_limit",
    "shared_budget",
]

log = structlog.get_logger(__name__)

USED_WEIGHT_HEADER: Final = "X-MBX-USED-WEIGHT-1M"
# Binance spot's REQUEST_WEIGHT limit per minute since 2023 (it was 1200 before, as the
# recorded 2021 exchangeInfo shows); exchangeInfo's rateLimits replace it once read.
DEFAULT_WEIGHT_LIMIT: Final = 6000
# A 418 without Retry-After: Binance's shortest ban.
DEFAULT_BAN_SECONDS: Final = 120.0
_WINDOW_SECONDS: Final = 60.0

# Weights from the spot REST docs (market-data, trading and account endpoints).
# openOrders is 6 for one symbol and 80 for all; myTrades is 20, 5 with orderId.
REQUEST_WEIGHTS: Final[Mapping[str, int]] = {
    "GET /api/v3/ping": 1,
    "GET /api/v3/time": 1,
    "GET /api/v3/exchangeInfo": 20,
    "GET /api/v3/klines": 2,
    "GET /api/v3/aggTrades": 4,
    "GET /api/v3/trades": 25,
    "GET /api/v3/ticker/bookTicker": 2,
    "GET /api/v3/avgPrice": 2,
    "POST /api/v3/order": 1,
    "DELETE /api/v3/order": 1,
    "GET /api/v3/order": 4,
    "GET /api/v3/openOrders": 6,
    "GET /api/v3/myTrades": 20,
    "GET /api/v3/account": 20,
    "POST /api/v3/userDataStream": 2,
    "PUT /api/v3/userDataStream": 2,
    "DELETE /api/v3/userDataStream": 2,
}

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


class BudgetStatistics(msgspec.Struct, frozen=True, kw_only=True):
    """What a UI shows of the budget: weight used in the current window of ``limit``,
    seconds waited so far, and the epoch seconds a pause or ban lasts until (0: none)."""

    limit: int
    used: int
    window_start: float
    waited_seconds: float
    paused_until: float
    banned_until: float


class WeightBudget:
    """Request weight of one IP against Binance's per-minute limit; see the module doc."""

    def __init__(
        self,
        limit: int = DEFAULT_WEIGHT_LIMIT,
        *,
        clock: Clock = time.time,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._check_limit(limit)
        self._limit = limit
        self._clock = clock
        self._sleep = sleep
        self._window = -1
        self._used = 0
        self._paused_until = 0.0
        self._banned_until = 0.0
        self._waited = 0.0

    @property
    def limit(self) -> int:
        return self._limit

    def set_limit(self, limit: int) -> None:
        """Take the venue's own limit (``minute_weight_limit`` of exchangeInfo)."""
        self._check_limit(limit)
        self._limit = limit

    def statistics(self) -> BudgetStatistics:
        self._roll(self._clock())
        return BudgetStatistics(
            limit=self._limit,
            used=self._used,
            window_start=self._window * _WINDOW_SECONDS,
            waited_seconds=self._waited,
            paused_until=self._paused_until,
            banned_until=self._banned_until,
        )

    async def acquire(self, weight: int, endpoint: str) -> int:
        """Reserve ``weight`` for a request to ``endpoint``, waiting as long as the budget
        says; return the window it was counted in (for ``observe``). Raises ``IpBanned``
        while a ban lasts: nothing may be sent then, not even to ask."""
        while True:
            now = self._clock()
            if now < self._banned_until:
                raise IpBanned(
                    endpoint,
                    f"not sent: the IP is banned for {self._banned_until - now:.0f} s more",
                    code=None,
                    status=None,
                    retry_after=self._banned_until - now,
                )
            if now < self._paused_until:
                await self._wait(self._paused_until - now, "rate_limit_pause", endpoint)
                continue
            self._roll(now)
            # A request heavier than the whole limit still goes, alone in a fresh window.
            if self._used and self._used + weight > self._limit:
                await self._wait(
                    (self._window + 1) * _WINDOW_SECONDS - now, "weight_budget_wait", endpoint
                )
                continue
            self._used += weight
            return self._window

    def observe(self, window: int, headers: Mapping[str, str]) -> None:
        """Raise the count of ``window`` to the venue's ``X-MBX-USED-WEIGHT-1M``. A header
        of a window that has since rolled over says nothing of the current one."""
        value = headers.get(USED_WEIGHT_HEADER)
        if value is None:
            return
        try:
            used = int(value)
        except ValueError:
            log.warning("bad_used_weight_header", value=value[:40])
            return
        if window == self._window and used > self._used:
            self._used = used

    def pause(self, retry_after: float | None) -> None:
        """HTTP 429: every caller waits ``retry_after`` seconds (the next window if unknown)."""
        now = self._clock()
        if retry_after is None:
            until = (math.floor(now / _WINDOW_SECONDS) + 1) * _WINDOW_SECONDS
        else:
            until = now + retry_after
        self._paused_until = max(self._paused_until, until)
        log.warning("rate_limited", retry_after=retry_after, paused_until=self._paused_until)

    def ban(self, retry_after: float | None) -> None:
        """HTTP 418: nothing is sent for ``retry_after`` seconds."""
        seconds = DEFAULT_BAN_SECONDS if retry_after is None else retry_after
        self._banned_until = max(self._banned_until, self._clock() + seconds)
        log.error("ip_banned", retry_after=seconds, banned_until=self._banned_until)

    def _roll(self, now: float) -> None:
        window = math.floor(now / _WINDOW_SECONDS)
        if window != self._window:
            self._window = window
            self._used = 0

    async def _wait(self, seconds: float, event: str, endpoint: str) -> None:
        log.info(event, endpoint=endpoint, seconds=round(seconds, 3), used=self._used)
        self._waited += seconds
        await self._sleep(seconds)

    @staticmethod
    def _check_limit(limit: int) -> None:
        if limit < 1:
            raise ValueError(f"a request weight limit must be at least 1, got {limit}")


class RateLimit(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """One row of exchangeInfo's ``rateLimits``. Every field has a default: the docs'
    own example lists an empty row (``"rateLimits": [{}]``)."""

    rate_limit_type: str = ""
    interval: str = ""
    interval_num: int = 0
    limit: int = 0


def minute_weight_limit(rate_limits: Iterable[RateLimit]) -> int | None:
    """The ``REQUEST_WEIGHT`` limit per one minute among ``rate_limits``, or ``None``."""
    for row in rate_limits:
        if (
            row.rate_limit_type == "REQUEST_WEIGHT"
            and row.interval == "MINUTE"
            and row.interval_num == 1
            and row.limit > 0
        ):
            return row.limit
    return None


_SHARED: dict[str, WeightBudget] = {}


def shared_budget(base_url: str) -> WeightBudget:
    """The process's one budget for ``base_url``'s host: Binance limits per IP, so every
    client of a host in this process draws from the same weight."""
    host = urlsplit(base_url).netloc.lower()
    budget = _SHARED.get(host)
    if budget is None:
        budget = _SHARED[host] = WeightBudget()
    return budget
