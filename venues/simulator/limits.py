"""Request weight: per-endpoint weights, the per-minute limit, 429 with Retry-After, then 418 bans.

Weights are Binance's (binance-spot-api-docs rest-api.md, each endpoint's
"Weight"). Every request adds its weight to the current window and is answered
with the window's total in ``X-MBX-USED-WEIGHT-1M``; past the limit it gets HTTP
429 with ``Retry-After`` (seconds to the window's end). A client that sends again
before the Retry-After it was given has violated it; after ``bans_after``
violations in a row it is banned: HTTP 418 for ``ban_seconds``, whatever it sends
(Binance: "repeatedly violating rate limits and/or failing to back off after
receiving 429s will result in an automated IP ban (HTTP status 418)").

Windows are real wall-clock minutes (from the top of the minute, as Binance's), not
simulated ones: the limit models the load a client puts on a server, and at speed 60
a simulated minute lasts a second.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final

__all__ = ["WEIGHT_HEADER", "Admission", "WeightLimiter", "request_weight", "retry_after_header"]

WEIGHT_HEADER: Final = "X-MBX-USED-WEIGHT-1M"

_WEIGHTS: Final[dict[tuple[str, str], int]] = {
    ("GET", "/api/v3/ping"): 1,
    ("GET", "/api/v3/time"): 1,
    ("GET", "/api/v3/exchangeInfo"): 20,
    ("GET", "/api/v3/klines"): 2,
    ("GET", "/api/v3/trades"): 25,
    ("GET", "/api/v3/aggTrades"): 4,
    ("POST", "/api/v3/order"): 1,
    ("DELETE", "/api/v3/order"): 1,
    ("GET", "/api/v3/order"): 4,
    ("GET", "/api/v3/openOrders"): 6,
    ("GET", "/api/v3/myTrades"): 20,
    ("GET", "/api/v3/account"): 20,
    ("POST", "/api/v3/userDataStream"): 2,
    ("PUT", "/api/v3/userDataStream"): 2,
    ("DELETE", "/api/v3/userDataStream"): 2,
}


def request_weight(method: str, path: str, params: Mapping[str, str]) -> int:
    """The weight Binance charges: openOrders without a symbol costs 80, myTrades
    with an orderId 5."""
    if path == "/api/v3/openOrders" and not params.get("symbol"):
        return 80
    if path == "/api/v3/myTrades" and params.get("orderId"):
        return 5
    return _WEIGHTS.get((method, path), 1)


@dataclass(frozen=True, slots=True)
class Admission:
    """``status`` 200 (go on), 429 or 418; ``used`` for the weight header."""

    status: int
    used: int
    retry_after: float = 0.0


class WeightLimiter:
    def __init__(
        self,
        limit: int,
        window_seconds: float,
        bans_after: int,
        ban_seconds: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.limit = limit
        self._window = window_seconds
        self._bans_after = bans_after
        self._ban_seconds = ban_seconds
        self._clock = clock
        self._window_index = -1
        self._used = 0
        self._wait_until = 0.0
        self._violations = 0
        self._banned_until = 0.0

    @property
    def used(self) -> int:
        self._roll(self._clock())
        return self._used

    def admit(self, weight: int) -> Admission:
        now = self._clock()
        self._roll(now)
        if now < self._banned_until:
            return Admission(418, self._used, self._banned_until - now)
        if now < self._wait_until:
            self._violations += 1
            if self._violations >= self._bans_after:
                self._banned_until = now + self._ban_seconds
                return Admission(418, self._used, self._ban_seconds)
        else:
            self._violations = 0
        self._used += weight
        if self._used > self.limit:
            window_end = (self._window_index + 1) * self._window
            self.told_to_wait(window_end - now)
            return Admission(429, self._used, window_end - now)
        if now < self._wait_until:
            return Admission(429, self._used, self._wait_until - now)
        return Admission(200, self._used)

    def told_to_wait(self, seconds: float) -> None:
        """A 429 went out: sending again sooner violates it."""
        self._wait_until = max(self._wait_until, self._clock() + seconds)

    def _roll(self, now: float) -> None:
        index = math.floor(now / self._window)
        if index != self._window_index:
            self._window_index = index
            self._used = 0


def retry_after_header(seconds: float) -> str:
    """Retry-After is whole seconds (RFC 9110); round up so waiting that long is enough."""
    return str(max(1, math.ceil(seconds)))
