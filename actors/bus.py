"""The bus: who receives which message type, and the bounded inboxes of live actors.

Routing is by message type: an actor subscribes to every type it has an
``on_<message>`` handler for, and other code (the journal writer, the run
recorder, the TUI bridge) can subscribe plain callables to a type. Routes are
resolved once, when the bus is built, so publishing is a dict lookup and a loop.

Live actors read from bounded inboxes. A bound is backpressure: when a
consumer falls behind, the producer's task waits at ``send`` instead of the
process growing without limit, and ``statistics()`` shows where the queue is.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from actors.actor import Actor
from actors.messages import ALL_MESSAGES, Message

__all__ = ["Bus", "DuplicateActorError", "Inbox", "InboxStatistics", "Route"]

Handler = Callable[[Any], None]


class DuplicateActorError(ValueError):
    """Two actors on one bus share a name; health, timers and logs key on names."""


@dataclass(frozen=True, slots=True)
class Route:
    """One delivery of a message type: ``owner`` is an actor name, or a tap's label."""

    owner: str
    handler: Handler
    actor: Actor | None


class Bus:
    """Routing table from message type to subscribers, in subscription order."""

    def __init__(self, actors: Sequence[Actor]) -> None:
        self.actors: dict[str, Actor] = {}
        self._routes: dict[type[Message], list[Route]] = {}
        # Every catalog type -> its handlers, kept in step with the routes and mutated
        # in place, so a dispatcher may hold on to it: delivery is one lookup, no .get.
        self.handlers: dict[type[Message], tuple[Handler, ...]] = dict.fromkeys(ALL_MESSAGES, ())
        for actor in actors:
            if actor.name in self.actors:
                raise DuplicateActorError(f"two actors named {actor.name!r}")
            self.actors[actor.name] = actor
            for message_type, handler in actor.handlers().items():
                self._add(message_type, Route(actor.name, handler, actor))

    def _add(self, message_type: type[Message], route: Route) -> None:
        self._routes.setdefault(message_type, []).append(route)
        self.handlers[message_type] = tuple(r.handler for r in self._routes[message_type])

    def subscribe(self, message_type: type[Message], handler: Handler, owner: str) -> None:
        """Deliver ``message_type`` to a plain callable too (a tap: recorder, journal)."""
        self._add(message_type, Route(owner, handler, None))

    def unroute(self, owner: str) -> None:
        """Stop delivering anything to ``owner`` (an actor that failed for good)."""
        for message_type, routes in self._routes.items():
            kept = [route for route in routes if route.owner != owner]
            self._routes[message_type] = kept
            self.handlers[message_type] = tuple(route.handler for route in kept)

    def route_of(self, message_type: type[Message], handler: Handler) -> Route:
        """The route a handler was subscribed by (to blame a failure on its owner)."""
        return next(r for r in self._routes[message_type] if r.handler == handler)

    def routes(self, message_type: type[Message]) -> list[Route]:
        return self._routes.get(message_type, [])

    def route_table(self) -> dict[type[Message], list[Route]]:
        return self._routes

    def subscribed_types(self, actor_name: str) -> list[type[Message]]:
        return [
            message_type
            for message_type, routes in self._routes.items()
            if any(route.owner == actor_name for route in routes)
        ]


@dataclass(frozen=True, slots=True)
class InboxStatistics:
    depth: int
    capacity: int
    peak: int
    processed: int
    waiting_senders: int


class Inbox:
    """A bounded FIFO of messages for one live actor, with the statistics a UI shows."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"inbox capacity must be at least 1, got {capacity}")
        self._send: MemoryObjectSendStream[Message]
        self._receive: MemoryObjectReceiveStream[Message]
        self._send, self._receive = anyio.create_memory_object_stream[Message](capacity)
        self.capacity = capacity
        self.peak = 0
        self.processed = 0

    async def send(self, message: Message) -> None:
        await self._send.send(message)
        depth = self._send.statistics().current_buffer_used
        if depth > self.peak:
            self.peak = depth

    async def receive(self) -> Message:
        message = await self._receive.receive()
        self.processed += 1
        return message

    def discard(self) -> int:
        """Close the inbox and drop what is queued; return how many were dropped."""
        dropped = 0
        while True:
            try:
                self._receive.receive_nowait()
            except (anyio.WouldBlock, anyio.EndOfStream, anyio.ClosedResourceError):
                break
            dropped += 1
        self.close()
        return dropped

    def close(self) -> None:
        self._send.close()
        self._receive.close()

    def statistics(self) -> InboxStatistics:
        stats = self._send.statistics()
        return InboxStatistics(
            depth=stats.current_buffer_used,
            capacity=self.capacity,
            peak=self.peak,
            processed=self.processed,
            waiting_senders=stats.tasks_waiting_send,
        )
