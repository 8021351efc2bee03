"""The deterministic scheduler: one FIFO dispatcher on a simulated clock.

Backtests and replays run every actor in one thread with no task switches:
the source's next message is published only when everything the previous one
caused has been handled, and every message is delivered to its subscribers in
subscription order. Same inputs, same order, same decisions, as fast as a
Python loop over a deque allows.
"""

from __future__ import annotations

import gc
from collections import deque
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from actors.bus import Bus, Route
from actors.clock import SimClock
from actors.health import ActorHealth, ActorState, RestartPolicy
from actors.messages import ALL_MESSAGES, EndOfData, Message, TimerFired, TradingHalted

__all__ = ["DeterministicScheduler", "ReplayMismatchError", "SchedulerBase", "cyclic_gc_paused"]


@contextmanager
def cyclic_gc_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector, and restore it after as it was.

    For a whole session under this scheduler: reference counting frees every message,
    the actors form no garbage cycles, and each full collection would walk everything
    the books have grown (every order and report of the session), which cost 10-15% of
    a backtest of a million bars. The pause is process-wide: cycles other threads make
    wait for the end of the session.
    """
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


class ReplayMismatchError(RuntimeError):
    """A journal's records cannot have come from this scheduler: time or timers disagree."""


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
        self.delivered: dict[type[Message], int] = dict.fromkeys(ALL_MESSAGES, 0)
        for actor in bus.actors.values():
            actor.attach(self._queue.append, self.clock)

    def publish(self, message: Message) -> None:
        """Publish from outside the actors (a source, a command) and run it to quiescence."""
        self.run_messages((message,))

    def run(self, source: Iterable[Message]) -> None:
        """Start the actors, publish every source message, then ``EndOfData``, with the
        cyclic garbage collector paused (``cyclic_gc_paused``)."""
        with cyclic_gc_paused():
            self.start()
            self.run_messages(source)
            self.finish()

    def run_messages(self, source: Iterable[Message], *, settle: bool = False) -> None:
        """Publish each source message in turn, each run to quiescence first; stop taking
        source messages once the session is stopping, unless ``settle``.

        This loop is the backtest's hot path, so the drain is written inline: one
        type lookup per message and one call per delivery. A source message finds
        nothing in flight (the previous one was run to quiescence), so it is delivered
        at once rather than through the queue; only when messages are still in flight (a
        replay left them, or an error escaped an earlier call) does it queue behind them.
        """
        queue = self._queue
        popleft, append = queue.popleft, queue.append
        handlers = self.bus.handlers
        delivered = self.delivered
        clock = self.clock
        for message in source:
            if self.stopping and not settle:
                break
            ts = message.ts
            message_type = type(message)
            if ts >= clock.deadline and message_type is not TimerFired:
                self._fire_timers(ts)
            if ts > clock.now_ns:
                clock.now_ns = ts
            if queue:
                append(message)
            else:
                # The delivery below, for the source message: saves an append/popleft pair.
                delivered[message_type] += 1
                for handler in handlers[message_type]:
                    try:
                        handler(message)
                    except Exception as error:
                        self._restart(self.bus.route_of(message_type, handler), error)
            while queue:
                message = popleft()
                message_type = type(message)
                delivered[message_type] += 1
                for handler in handlers[message_type]:
                    try:
                        handler(message)
                    except Exception as error:
                        self._restart(self.bus.route_of(message_type, handler), error)

    def start(self, *, restored: bool = False) -> None:
        """Start the actors: ``on_start`` each, unless ``restored`` from a snapshot (which
        holds the timers ``on_start`` set)."""
        for name, actor in self.bus.actors.items():
            if not restored:
                actor.on_start()
            self.health[name].state = ActorState.RUNNING

    def finish(self) -> None:
        """Settle the session: actors see ``EndOfData`` at the last time and drain."""
        self.run_messages((EndOfData(ts=self.clock.now()),), settle=True)
        for health in self.health.values():
            if health.state is not ActorState.FAILED:
                health.state = ActorState.STOPPED
        self._count_processed()

    def _fire_timers(self, ts: int) -> None:
        """Deliver every timer due at or before ``ts``, each at its own time, in due order
        (a timer's own delivery does not fire the others, which keeps that order)."""
        while (due := self.clock.next_due(ts)) is not None:
            timer = due.timer
            self.run_messages((TimerFired(ts=due.due, owner=timer.owner, name=timer.name),))
        self.clock.advance_to(ts)

    # --- replay: the journal's records delivered again --------------------------------

    def redeliver(self, message: Message) -> Message | None:
        """Deliver a journaled message again, to every subscriber, as the original run did.

        Under this scheduler the journal holds messages in delivery order, which is
        publish order, and a source message is only published once everything before it
        has been handled. So a record is either a source message (nothing is in flight:
        timers and time move as they did then) or the message some earlier handler
        published first and not yet matched. Returns that regenerated message, for the
        caller to check against the record (None for a source message). What handlers
        publish now stays queued for the next records; ``resume`` delivers what is left
        when the journal ends mid-cascade."""
        queue = self._queue
        regenerated = None
        if queue:
            regenerated = queue.popleft()
        else:
            self._replay_time(message)
        self._deliver(message)
        return regenerated

    def _replay_time(self, message: Message) -> None:
        """Move time as ``run_messages`` did before publishing this source message: a
        ``TimerFired`` is the next due timer; anything else comes after every due timer
        (the journal holds each timer before the message its time passed)."""
        clock = self.clock
        if type(message) is TimerFired:
            due = clock.next_due(message.ts)
            if due is None or (due.due, due.timer.owner, due.timer.name) != (
                message.ts, message.owner, message.name,
            ):  # fmt: skip
                raise ReplayMismatchError(
                    f"timer {message.owner}/{message.name} at {message.ts} is not the clock's "
                    f"next due timer ({due})"
                )
            return
        due = clock.next_due(message.ts)
        if due is not None:
            raise ReplayMismatchError(
                f"timer {due.timer.owner}/{due.timer.name} was due at {due.due}, before this "
                f"{type(message).__name__} at {message.ts}, and is not in the journal"
            )
        clock.advance_to(message.ts)

    def deliver_recorded(self, message: Message, ts: int, skip: frozenset[str]) -> list[Message]:
        """Deliver a message journaled by a live session again, at its clock time ``ts``, to every
        subscriber but the ``skip``ped ones (a venue gateway: no I/O on replay); return
        what the handlers published, taken off the queue. Under the live scheduler the
        journal's order is each actor's delivery order but not one global FIFO, so what
        the outputs correspond to is for the caller to match."""
        self.clock.advance_to(ts)
        message_type = type(message)
        self.delivered[message_type] += 1
        for route in self.bus.routes(message_type):
            if route.owner in skip:
                continue
            try:
                route.handler(message)
            except Exception as error:
                self._restart(route, error)
        published = list(self._queue)
        self._queue.clear()
        return published

    @property
    def in_flight(self) -> int:
        """Messages published and not yet delivered (0 when the session is quiescent)."""
        return len(self._queue)

    def requeue(self, messages: list[Message]) -> None:
        """Put messages back in flight, in order (a live replay's unmatched outputs)."""
        self._queue.extend(messages)

    def take_in_flight(self) -> list[Message]:
        """Take what a replay left in flight, for another scheduler to deliver."""
        taken = list(self._queue)
        self._queue.clear()
        return taken

    def resume(self) -> None:
        """Deliver what a replay left in flight (the journal ended mid-cascade), in order.
        Timers due meanwhile fire before the next source message, as they would have."""
        queue = self._queue
        while queue:
            self._deliver(queue.popleft())

    def _deliver(self, message: Message) -> None:
        message_type = type(message)
        self.delivered[message_type] += 1
        for handler in self.bus.handlers[message_type]:
            try:
                handler(message)
            except Exception as error:
                self._restart(self.bus.route_of(message_type, handler), error)

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
                self.delivered[message_type] for message_type in self.bus.subscribed_types(name)
            )
