"""The simulator's clock: simulated time, which is also the server's time.

Server time is simulated time (``GET /api/v3/time``, ``transactTime``, event
times, the kline the market is in), so everything a client sees lines up: a trade
stamped 10:03:07 arrives when the server says it is 10:03:07, and ``klines`` up to
"now" end with the bar the streams are in. The price is that the server's clock
runs ``speed`` times faster than the client's; see auth.py for how timestamps of
signed requests are checked against it.

Simulated time is ``anchor + speed x (wall - wall anchor)``, but never ahead of
the replay: it is capped just before the next market event not yet handled, so a
request never sees a time whose trades have not happened (when the machine cannot
keep up with ``speed``, time slows down instead of running ahead of the data).
Paused, it stands still, and only ``advance_to`` moves it (tests step it exactly).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

__all__ = ["ReplayClock"]


class ReplayClock:
    def __init__(
        self,
        start_ms: int,
        speed: float,
        *,
        paused: bool = False,
        wall: Callable[[], float] = time.monotonic,
    ) -> None:
        self.speed = speed
        self._wall = wall
        self._anchor_ms: float = start_ms
        self._anchor_wall: float | None = None if paused else wall()
        self._horizon: float = start_ms

    @property
    def paused(self) -> bool:
        return self._anchor_wall is None

    def target_ms(self) -> float:
        """Where the wall clock says simulated time is, ignoring the replay's cap."""
        if self._anchor_wall is None:
            return self._anchor_ms
        return self._anchor_ms + (self._wall() - self._anchor_wall) * 1000.0 * self.speed

    def now_ms(self) -> int:
        return int(min(self.target_ms(), self._horizon))

    def set_horizon(self, horizon_ms: float) -> None:
        """The replay has handled every event up to ``horizon_ms`` (inf: all of them)."""
        self._horizon = max(self._horizon, horizon_ms)

    def pause(self) -> None:
        if self._anchor_wall is not None:
            self._anchor_ms = self.now_ms()
            self._anchor_wall = None

    def resume(self) -> None:
        if self._anchor_wall is None:
            self._anchor_ms = self.now_ms()
            self._anchor_wall = self._wall()

    def advance_to(self, time_ms: int) -> None:
        """Paused: let simulated time reach ``time_ms`` (it never goes back)."""
        if self._anchor_wall is not None:
            raise RuntimeError("advance_to needs a paused clock: pause() first")
        self._anchor_ms = max(self._anchor_ms, time_ms)

    def wall_seconds_until(self, time_ms: float) -> float | None:
        """Real seconds until simulated time reaches ``time_ms`` (0 if it has; None
        when paused short of it: only ``advance_to`` or ``resume`` gets it there)."""
        remaining = time_ms - self.target_ms()
        if remaining <= 0:
            return 0.0
        if self._anchor_wall is None:
            return None
        return remaining / (1000.0 * self.speed)

    @property
    def exhausted(self) -> bool:
        return math.isinf(self._horizon)
