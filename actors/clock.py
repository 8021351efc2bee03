"""Clocks: wall time for live sessions, simulated time for backtests and replay.

Actors read time only through a clock and set timers only on it, so a backtest
runs timers in simulated time (a one-hour reconciliation timer fires every
sixty one-minute bars, instantly) and tests never sleep.
"""

from __future__ import annotations

import heapq
import sys
import time
from typing import NamedTuple, Protocol

import msgspec

__all__ = ["Clock", "DueTimer", "LiveClock", "SimClock", "SimClockState", "Timer"]

_NEVER = sys.maxsize


class Timer(NamedTuple):
    owner: str
    name: str
    interval_ns: int


class DueTimer(NamedTuple):
    due: int
    timer: Timer


class Clock(Protocol):
    def now(self) -> int:
        """Current time, int ns UTC."""
        ...

    def set_timer(self, owner: str, name: str, interval_ns: int) -> None:
        """Fire ``TimerFired(owner, name)`` every ``interval_ns`` from now on."""
        ...


class LiveClock:
    """Wall-clock time. Timers are run by the live scheduler, one task each."""

    def __init__(self) -> None:
        self.timers: list[Timer] = []

    def now(self) -> int:
        return time.time_ns()

    def set_timer(self, owner: str, name: str, interval_ns: int) -> None:
        if interval_ns <= 0:
            raise ValueError(f"timer {owner}/{name}: interval must be positive, got {interval_ns}")
        self.timers.append(Timer(owner, name, interval_ns))


class SimClockState(msgspec.Struct, frozen=True, kw_only=True):
    """A simulated clock's time and armed timers, for a session's snapshot: the timers
    must fire after a restore exactly when they would have without the interruption."""

    now_ns: int
    started: bool
    counter: int
    # (due, order of arming, owner, name, interval) and, before time starts, (owner, name,
    # interval) in the order they were set.
    timers: list[tuple[int, int, str, str, int]]
    unstarted: list[tuple[str, str, int]]


class SimClock:
    """Simulated time that only moves when the scheduler advances it.

    Time starts at the first event (or at ``start_ns``); timers set before that
    are due one interval after it. Timers due at or before a new time fire
    first, in due order (ties in the order they were set), each at its own due
    time, so a timer's handler sees the world as of that moment.

    ``now_ns`` and ``deadline`` are plain attributes so the deterministic
    scheduler's hot loop can compare and move time without a call per message.
    """

    def __init__(self, start_ns: int | None = None) -> None:
        self.now_ns = start_ns if start_ns is not None else 0
        self._started = start_ns is not None
        self._heap: list[tuple[int, int, Timer]] = []
        self._counter = 0
        self._unstarted: list[Timer] = []
        # The earliest time at which ``next_due`` has work: the first timer, or at
        # once while time has not started.
        self.deadline = _NEVER if self._started else -1

    def now(self) -> int:
        return self.now_ns

    def set_timer(self, owner: str, name: str, interval_ns: int) -> None:
        if interval_ns <= 0:
            raise ValueError(f"timer {owner}/{name}: interval must be positive, got {interval_ns}")
        timer = Timer(owner, name, interval_ns)
        if self._started:
            self._push(self.now_ns + interval_ns, timer)
        else:
            self._unstarted.append(timer)

    def _push(self, due: int, timer: Timer) -> None:
        self._counter += 1
        heapq.heappush(self._heap, (due, self._counter, timer))
        self.deadline = self._heap[0][0]

    def _start(self, ts: int) -> None:
        self._started = True
        self.now_ns = ts
        self.deadline = _NEVER
        for timer in self._unstarted:
            self._push(ts + timer.interval_ns, timer)
        self._unstarted.clear()

    def next_due(self, until_ns: int) -> DueTimer | None:
        """Pop the next timer due at or before ``until_ns``, re-arm it, move time to it."""
        if not self._started:
            self._start(until_ns)
        heap = self._heap
        if not heap or heap[0][0] > until_ns:
            return None
        due, _, timer = heapq.heappop(heap)
        self._push(due + timer.interval_ns, timer)
        if due > self.now_ns:
            self.now_ns = due
        return DueTimer(due, timer)

    def snapshot(self) -> SimClockState:
        return SimClockState(
            now_ns=self.now_ns,
            started=self._started,
            counter=self._counter,
            timers=sorted(
                (due, order, t.owner, t.name, t.interval_ns) for due, order, t in self._heap
            ),
            unstarted=[(t.owner, t.name, t.interval_ns) for t in self._unstarted],
        )

    def restore(self, state: SimClockState) -> None:
        self.now_ns = state.now_ns
        self._started = state.started
        self._counter = state.counter
        self._heap = [(due, order, Timer(*timer)) for due, order, *timer in state.timers]
        heapq.heapify(self._heap)
        self._unstarted = [Timer(*timer) for timer in state.unstarted]
        if not self._started:
            self.deadline = -1
        else:
            self.deadline = self._heap[0][0] if self._heap else _NEVER

    def advance_to(self, ts: int) -> None:
        """Move time forward (never back). Drain ``next_due`` first to fire timers."""
        if not self._started:
            self._start(ts)
        elif ts > self.now_ns:
            self.now_ns = ts
