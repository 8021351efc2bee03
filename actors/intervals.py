"""Bar intervals: their names and lengths, and the UTC grid bars are aligned to.

Names follow Binance (``1m``, ``5m``, ``15m``, ``1h``, ``4h``, ``1d``) because
that is what users type and what the lake's dataset names use (``bars_1m``).
"""

from __future__ import annotations

from typing import Final

__all__ = ["INTERVALS", "UnknownIntervalError", "align", "interval_ns"]

_MINUTE: Final = 60_000_000_000

INTERVALS: Final[dict[str, int]] = {
    "1m": _MINUTE,
    "3m": 3 * _MINUTE,
    "5m": 5 * _MINUTE,
    "15m": 15 * _MINUTE,
    "30m": 30 * _MINUTE,
    "1h": 60 * _MINUTE,
    "2h": 120 * _MINUTE,
    "4h": 240 * _MINUTE,
    "6h": 360 * _MINUTE,
    "8h": 480 * _MINUTE,
    "12h": 720 * _MINUTE,
    "1d": 1440 * _MINUTE,
}


class UnknownIntervalError(ValueError):
    def __init__(self, name: str) -> None:
        super().__init__(f"unknown interval {name!r}; known: {', '.join(INTERVALS)}")
        self.name = name


def interval_ns(name: str) -> int:
    """Length of interval ``name`` in nanoseconds."""
    try:
        return INTERVALS[name]
    except KeyError:
        raise UnknownIntervalError(name) from None


def align(ts: int, length_ns: int) -> int:
    """Start of the interval of ``length_ns`` containing ``ts`` on the UTC epoch grid."""
    return ts - ts % length_ns
