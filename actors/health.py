"""Actor health and the restart budget, shared by both schedulers.

The supervisor's policy is one-for-one: an actor whose handler raises is
restarted on its own (the message that raised is dropped, the actor's state is
kept) after an exponential backoff. Restarts are counted over a rolling window;
when an actor spends its budget it is in a crash loop, and a crash-looping
actor in a trading system must stop trading rather than flap, so the scheduler
publishes ``TradingHalted`` and stops the session.
"""

from __future__ import annotations

import enum
from collections import deque
from dataclasses import dataclass, field

__all__ = ["ActorHealth", "ActorState", "RestartPolicy"]


class ActorState(enum.StrEnum):
    IDLE = "idle"
    RUNNING = "running"
    RESTARTING = "restarting"
    FAILED = "failed"
    STOPPED = "stopped"


@dataclass(frozen=True, slots=True)
class RestartPolicy:
    max_restarts: int = 5
    window_seconds: float = 60.0
    initial_backoff_seconds: float = 0.05
    max_backoff_seconds: float = 5.0

    def backoff_seconds(self, restarts_in_window: int) -> float:
        """Delay before the n-th restart in the window: doubles each time, capped."""
        delay = self.initial_backoff_seconds * (2 ** max(restarts_in_window - 1, 0))
        return min(delay, self.max_backoff_seconds)


@dataclass(slots=True)
class ActorHealth:
    """What the supervisor knows of one actor; the TUI's health table shows these."""

    name: str
    state: ActorState = ActorState.IDLE
    restarts: int = 0
    last_error: str = ""
    processed: int = 0
    depth: int = 0
    peak: int = 0
    capacity: int = 0
    waiting: int = 0
    messages_per_second: float = 0.0
    last_active_ns: int = 0
    heartbeat_age_seconds: float = 0.0
    _restart_times: deque[int] = field(default_factory=deque, repr=False)

    def record_failure(self, error: BaseException, now_ns: int, policy: RestartPolicy) -> bool:
        """Count a failure at ``now_ns``; True if the actor may restart, False if its
        restart budget for the window is spent (a crash loop)."""
        self.last_error = f"{type(error).__name__}: {error}"
        window_ns = int(policy.window_seconds * 1e9)
        times = self._restart_times
        while times and now_ns - times[0] > window_ns:
            times.popleft()
        if len(times) >= policy.max_restarts:
            self.state = ActorState.FAILED
            return False
        times.append(now_ns)
        self.restarts += 1
        self.state = ActorState.RESTARTING
        return True

    @property
    def restarts_in_window(self) -> int:
        return len(self._restart_times)
