"""The Actor base: a synchronous state machine that the runtime feeds messages.

An actor never awaits and never does I/O. It declares what it consumes by
defining ``on_<message>`` methods (``on_bar``, ``on_order_intent``...), updates
its own state in them, and publishes messages with ``self.publish``. Because
handlers are plain synchronous calls, the same actor runs under the live
scheduler (one task per actor, bounded inboxes) and under the deterministic
scheduler (one FIFO dispatcher, no task switches) and decides the same way.

An actor with state declares it as a msgspec Struct (``state_type``) and
implements ``snapshot``/``restore``: the journal writes every actor's snapshot
every N messages, and recovery restores them before replaying the frames after.
The contract: a fresh actor built from the same configuration, given
``restore(snapshot())`` (through msgpack and back), must decide exactly as the
original would for every later message, and snapshot the same afterwards.
Configuration (limits, instruments, the fill model) is not state: it comes from
the settings on both sides.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import msgspec

from actors.clock import Clock, SimClock
from actors.messages import ALL_MESSAGES, Message, handler_name

__all__ = ["Actor", "ActorNotAttachedError"]


class ActorNotAttachedError(RuntimeError):
    """An actor published before a scheduler attached it to a bus."""


def _not_attached(message: Message) -> None:
    raise ActorNotAttachedError(f"publish({type(message).__name__}) before the actor was attached")


class Actor:
    """Base class of every actor. Subclasses set ``name`` and define ``on_<message>``."""

    name: ClassVar[str] = "actor"
    # The Struct ``snapshot`` returns and ``restore`` takes; None for a stateless actor.
    state_type: ClassVar[type[msgspec.Struct] | None] = None

    def __init__(self) -> None:
        # Assigned by the scheduler; an instance attribute so the hot path is one call.
        self.publish: Callable[[Message], None] = _not_attached
        self.clock: Clock = SimClock()

    def handlers(self) -> dict[type[Message], Callable[[Any], None]]:
        """Map each message type this actor consumes to its bound handler."""
        found: dict[type[Message], Callable[[Any], None]] = {}
        for message_type in ALL_MESSAGES:
            handler = getattr(self, handler_name(message_type), None)
            if handler is not None:
                found[message_type] = handler
        return found

    def attach(self, publish: Callable[[Message], None], clock: Clock) -> None:
        self.publish = publish
        self.clock = clock

    def on_start(self) -> None:
        """Called once before the first message: set timers here."""

    def on_restart(self, error: BaseException) -> None:
        """Called by the supervisor after a handler raised and before the next message.

        The message that raised is dropped; the actor's state is kept, so a handler
        should validate before it mutates. Override to repair state.
        """

    def snapshot(self) -> msgspec.Struct | None:
        """This actor's state as a ``state_type`` Struct (None when it has none)."""
        return None

    def restore(self, state: Any) -> None:
        """Take over ``state``, a ``state_type`` Struct another instance's ``snapshot``
        returned; called on a fresh actor before ``on_start`` and before any message."""
        if state is not None:
            raise TypeError(f"actor {self.name!r} keeps no state to restore")

    def set_timer(self, name: str, interval_ns: int) -> None:
        """Deliver ``TimerFired(owner=self.name, name=name)`` every ``interval_ns``."""
        self.clock.set_timer(self.name, name, interval_ns)
