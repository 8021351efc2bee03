"""Streaming indicators: O(1) per update, no history kept beyond the window."""

from __future__ import annotations

from collections import deque

__all__ = ["SimpleMovingAverage"]


class SimpleMovingAverage:
    """Mean of the last ``period`` values; ``value`` is None until the window is full.

    A running sum makes an update O(1) whatever the period. Adding and
    subtracting floats drifts by a few ulps over millions of updates, so the sum
    is recomputed exactly each time the window has turned over ``_RESYNC``
    times: the drift stays bounded and the result stays deterministic.
    """

    _RESYNC = 4096

    __slots__ = ("_since_resync", "_sum", "_window", "period", "value")

    def __init__(self, period: int) -> None:
        if period < 1:
            raise ValueError(f"period must be at least 1, got {period}")
        self.period = period
        self._window: deque[float] = deque(maxlen=period)
        self._sum = 0.0
        self._since_resync = 0
        self.value: float | None = None

    def update(self, x: float) -> float | None:
        window = self._window
        if len(window) == self.period:
            self._sum += x - window[0]
            window.append(x)
            self._since_resync += 1
            if self._since_resync >= self._RESYNC * self.period:
                self._since_resync = 0
                self._sum = sum(window)
            self.value = self._sum / self.period
        else:
            window.append(x)
            self._sum += x
            if len(window) == self.period:
                self.value = self._sum / self.period
        return self.value
