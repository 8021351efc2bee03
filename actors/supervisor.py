"""The live scheduler and supervisor: one anyio task per actor, bounded inboxes.

Each actor drains its own inbox in its own task; what a handler publishes is
collected and sent after the handler returns, so backpressure from a full
inbox makes the publishing actor wait rather than drop or grow. A handler that
raises is restarted one-for-one after an exponential backoff; an actor that
spends its restart budget halts trading and stops the session cleanly
(``TradingHalted``, then ``EndOfData``, then the tasks end).

With ``pace=True`` the source waits until every actor is idle before its next
message: a simulated-time session under this scheduler then makes exactly the
decisions of the deterministic scheduler, which a test checks.

With a journal, every message is appended as it is published, before any actor
sees it, and a write-ahead message (an order leaving for the venue, a cancel)
reaches its subscribers only once the journal says it is durable. If the
journal fails (a full disk), trading stops: ``TradingHalted`` from "journal" is
the last message delivered, unjournaled, and nothing published after it is,
because nothing may act on what the journal does not hold.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterable, Callable
from typing import Any, Protocol

import anyio
import anyio.abc
import structlog

from actors.actor import Actor
from actors.bus import Bus, Inbox
from actors.clock import Clock, LiveClock, SimClock, Timer
from actors.health import ActorHealth, ActorState, RestartPolicy
from actors.messages import CancelOrder, EndOfData, Message, SubmitOrder, TimerFired, TradingHalted
from actors.scheduler import SchedulerBase

__all__ = ["WRITE_AHEAD", "JournalPort", "LiveScheduler"]

_log = structlog.get_logger(__name__)

# What must be on disk before its subscribers (the venue gateway) act on it: an order
# sent, or a cancel, that the journal did not hold could be sent again after a crash.
WRITE_AHEAD: frozenset[type[Message]] = frozenset((SubmitOrder, CancelOrder))


class JournalPort(Protocol):
    """What the live scheduler needs of a journal (``journal.JournalWriter`` is one)."""

    def append(self, message: Message, ts: int) -> int: ...

    async def durable(self, seq: int) -> None: ...


class LiveScheduler(SchedulerBase):
    def __init__(
        self,
        bus: Bus,
        clock: Clock | None = None,
        policy: RestartPolicy | None = None,
        inbox_capacity: int = 1024,
        journal: JournalPort | None = None,
    ) -> None:
        super().__init__(bus, policy)
        self.clock: Clock = clock or LiveClock()
        self.journal = journal
        self.journal_failure: Exception | None = None
        self.unjournaled_dropped = 0
        # Once ``run`` has stopped the actors, nothing handles a message any more: what a
        # venue still reports (an order's answer, the user stream's echo of a fill) is
        # journaled, for a resumed session to replay, but not delivered.
        self.actors_stopped = False
        self.after_stop = 0
        self.inboxes = {name: Inbox(inbox_capacity) for name in bus.actors}
        self._in_flight = 0
        self._idle = anyio.Event()
        self._idle.set()
        self._rate_marks: dict[str, tuple[float, int]] = {}
        self._outboxes: dict[str, list[Message]] = {}
        for name, actor in bus.actors.items():
            outbox: list[Message] = []
            self._outboxes[name] = outbox
            actor.attach(outbox.append, self.clock)
            self.health[name].capacity = inbox_capacity

    async def publish(self, message: Message) -> None:
        """Journal ``message`` (waiting for the disk if it is write-ahead), then deliver it
        to taps at once and to each subscribed actor's inbox (may wait)."""
        journal = self.journal
        if journal is not None:
            if self.journal_failure is not None:
                self.unjournaled_dropped += 1
                return
            try:
                seq = journal.append(message, self.clock.now())
                if type(message) in WRITE_AHEAD:
                    await journal.durable(seq)
            except Exception as error:
                await self._halt_unjournaled(error)
                return
        if self.actors_stopped:
            self.after_stop += 1
            _log.warning(
                "message_after_actors_stopped",
                message=type(message).__name__,
                journaled=journal is not None,
            )
            return
        await self._deliver(message)

    async def _halt_unjournaled(self, error: Exception) -> None:
        """The journal failed: deliver the halt (the one message it cannot hold) and stop."""
        self.journal_failure = error
        self.stopping = True
        self.stop_reason = f"journal failed, trading halted: {error}"
        _log.error("journal.failed_trading_halted", error=str(error))
        await self._deliver(
            TradingHalted(ts=self.clock.now(), reason=self.stop_reason, source="journal")
        )

    async def _deliver(self, message: Message) -> None:
        for route in self.bus.routes(type(message)):
            if route.actor is None:
                route.handler(message)
                continue
            self._enter()
            try:
                await self.inboxes[route.owner].send(message)
            except (anyio.ClosedResourceError, anyio.BrokenResourceError):
                self._leave()  # the actor has stopped for good; nothing will handle it

    async def run(self, source: AsyncIterable[Message], *, pace: bool = False) -> None:
        """Run the actors over ``source`` until it ends or the session stops."""
        async with anyio.create_task_group() as tasks:
            for name, actor in self.bus.actors.items():
                actor.on_start()
                self.health[name].state = ActorState.RUNNING
                tasks.start_soon(self._supervise, actor, name=f"actor:{name}")
            if isinstance(self.clock, LiveClock):
                for timer in self.clock.timers:
                    tasks.start_soon(self._run_timer, timer)
            async for message in source:
                if self.stopping:
                    break
                await self._advance(message.ts)
                await self.publish(message)
                if pace:
                    await self.wait_idle()
            await self.publish(EndOfData(ts=self.clock.now()))
            await self.wait_idle()
            self.stopping = True
            self.actors_stopped = True
            tasks.cancel_scope.cancel()
        for health in self.health.values():
            if health.state is not ActorState.FAILED:
                health.state = ActorState.STOPPED

    async def wait_idle(self) -> None:
        """Return once no message is queued or being handled anywhere."""
        await self._idle.wait()

    def snapshot(self) -> list[ActorHealth]:
        """Health of every actor as of now, with inbox statistics and rates."""
        now_wall = time.monotonic()
        now_ns = self.clock.now()
        for name, health in self.health.items():
            stats = self.inboxes[name].statistics()
            health.depth, health.peak = stats.depth, stats.peak
            health.waiting, health.processed = stats.waiting_senders, stats.processed
            then, processed_then = self._rate_marks.get(name, (now_wall, stats.processed))
            elapsed = now_wall - then
            if elapsed > 0:
                health.messages_per_second = (stats.processed - processed_then) / elapsed
            self._rate_marks[name] = (now_wall, stats.processed)
            if health.last_active_ns:
                health.heartbeat_age_seconds = max(now_ns - health.last_active_ns, 0) / 1e9
        return list(self.health.values())

    def _enter(self) -> None:
        self._in_flight += 1
        if self._idle.is_set():
            self._idle = anyio.Event()

    def _leave(self) -> None:
        self._in_flight -= 1
        if self._in_flight == 0:
            self._idle.set()

    async def _advance(self, ts: int) -> None:
        """Under a simulated clock, fire due timers as messages before ``ts``."""
        clock = self.clock
        if not isinstance(clock, SimClock):
            return
        while (due := clock.next_due(ts)) is not None:
            timer = due.timer
            await self.publish(TimerFired(ts=due.due, owner=timer.owner, name=timer.name))
            await self.wait_idle()
        clock.advance_to(ts)

    async def _run_timer(self, timer: Timer) -> None:
        interval = timer.interval_ns / 1e9
        while not self.stopping:
            await anyio.sleep(interval)
            await self.publish(TimerFired(ts=self.clock.now(), owner=timer.owner, name=timer.name))

    async def _supervise(self, actor: Actor) -> None:
        name = actor.name
        inbox = self.inboxes[name]
        outbox = self._outboxes[name]
        health = self.health[name]
        handlers: dict[type[Message], Callable[[Any], None]] = {
            message_type: route.handler
            for message_type in self.bus.subscribed_types(name)
            for route in self.bus.routes(message_type)
            if route.owner == name
        }
        while True:
            try:
                message = await inbox.receive()
            except (anyio.EndOfStream, anyio.ClosedResourceError):
                return
            failed: Exception | None = None
            try:
                handlers[type(message)](message)
            except Exception as error:
                failed = error
            health.last_active_ns = self.clock.now()
            pending = list(outbox)
            outbox.clear()
            for out in pending:
                await self.publish(out)
            if failed is not None and not await self._restart(actor, failed):
                self._leave()
                return
            self._leave()

    async def _restart(self, actor: Actor, error: Exception) -> bool:
        """Back off and restart ``actor``; on a crash loop, halt and stop the session."""
        now = self.clock.now()
        health = self.health[actor.name]
        if not self._record_failure(actor.name, error, now):
            halted = self._crash_loop_halt(actor.name, now)
            for _ in range(self.inboxes[actor.name].discard()):
                self._leave()
            await self.publish(halted)
            return False
        await anyio.sleep(self.policy.backoff_seconds(health.restarts_in_window))
        actor.on_restart(error)
        health.state = ActorState.RUNNING
        return True
