"""The deterministic scheduler: one FIFO dispatcher on a simulated clock.

Backtests and replays run every actor in one thread with no task switches:
the source's next message is published only when everything the previous one
caused has been handled, and every message is delivered to its subscribers in
subscription order. Same inputs, same order, same decisions, as fast as a
Python loop over a deque allows.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

from actors.bus import Bus, Route
from actors.clock import SimClock
from actors.health import ActorHealth, ActorState, RestartPolicy
from actors.messages import EndOfData, Message, TimerFired, TradingHalted

__all__ = ["DeterministicScheduler", "SchedulerBase"]


class SchedulerBase:
    """What both schedulers share: health, the restart budget, halting on a crash loop."""

    def __init__(self, bus: Bus, policy: RestartPolicy | None = None) -> None:
        self.bus = bus
        self.policy = policy or RestartPolicy()
        self.health: dict[str, ActorHealth] = {name: ActorHealth(name) for name in bus.actors}
        self.stopping = False
        self.stop_reason = ""

    def _record_failure(self, owner: str, error: Exception, now: int) -> bool:
        """Book a handler failure; True if the actor may restart, False on a crash loop."""
        health = self.health.get(owner)
        if health is None:  # a tap, not an actor: its failure is a bug to surface
            raise error
        return health.record_failure(error, now, self.policy)

    def _crash_loop_halt(self, actor_name: str, now: int) -> TradingHalted:
        """Take a crash-looping actor off the bus and say why trading stops."""
        self.bus.unroute(actor_name)
        self.stopping = True
        self.stop_reason = f"crash loop in {actor_name}: {self.health[actor_name].last_error}"
        return TradingHalted(ts=now, reason=self.stop_reason, source="supervisor")


class DeterministicScheduler(SchedulerBase):
    def __init__(
        self, bus: Bus, clock: SimClock | None = None, policy: RestartPolicy | None = None
    ) -> None:
        super().__init__(bus, policy)
        self.clock = clock or SimClock()
        self._queue: deque[Message] = deque()
        self.delivered: dict[type[Message], int] = {}
        for actor in bus.actors.values():
            actor.attach(self._queue.append, self.clock)

    def publish(self, message: Message) -> None:
        """Publish from outside the actors (a source, a command) and run it to quiescence."""
        self._advance(message.ts)
        self._queue.append(message)
        self._drain()

    def run(self, source: Iterable[Message]) -> None:
        """Start the actors, publish every source message, then ``EndOfData``."""
        self.start()
        for message in source:
            if self.stopping:
                break
            self.publish(message)
        self.finish()

    def start(self) -> None:
        for name, actor in self.bus.actors.items():
            actor.on_start()
            self.health[name].state = ActorState.RUNNING

    def finish(self) -> None:
        """Settle the session: actors see ``EndOfData`` at the last time and drain."""
        self._queue.append(EndOfData(ts=self.clock.now()))
        self._drain()
        for health in self.health.values():
            if health.state is not ActorState.FAILED:
                health.state = ActorState.STOPPED
        self._count_processed()

    def _advance(self, ts: int) -> None:
        clock = self.clock
        while (due := clock.next_due(ts)) is not None:
            timer = due.timer
            self._queue.append(TimerFired(ts=due.due, owner=timer.owner, name=timer.name))
            self._drain()
        clock.advance_to(ts)

    def _drain(self) -> None:
        queue = self._queue
        popleft = queue.popleft
        routes = self.bus.route_table()
        delivered = self.delivered
        empty: list[Route] = []
        while queue:
            message = popleft()
            message_type = type(message)
            delivered[message_type] = delivered.get(message_type, 0) + 1
            for route in routes.get(message_type, empty):
                try:
                    route.handler(message)
                except Exception as error:
                    self._restart(route, error)

    def _restart(self, route: Route, error: Exception) -> None:
        """Restart at once (simulated time has no backoff to wait) or halt on a crash loop."""
        now = self.clock.now()
        if not self._record_failure(route.owner, error, now):
            self._queue.append(self._crash_loop_halt(route.owner, now))
            return
        if route.actor is not None:
            route.actor.on_restart(error)
        self.health[route.owner].state = ActorState.RUNNING

    def _count_processed(self) -> None:
        """Per-actor processed counts, from per-type delivery counts (cheaper than
        counting each delivery on the hot path)."""
        for name, health in self.health.items():
            health.processed = sum(
                self.delivered.get(message_type, 0)
                for message_type in self.bus.subscribed_types(name)
            )
