"""Verify: do the strategies, run again over a journal's inputs, decide what it says they did?

One actor (the strategy host, built fresh from the session's config, or from a
variant of it) is given every journaled message it consumes, in journal order,
with the clock at each record's time, exactly as the session delivered them.
Every decision it makes (an ``OrderIntent`` or a ``Signal``) is compared with
the next journaled decision. The first difference is reported with its seq:
a changed strategy, a changed parameter, or a journal that was altered. This
needs no other actor and no venue, so it works on any session, live or not.
"""

from __future__ import annotations

from collections import deque
from pathlib import Path
from typing import Final

import msgspec

from actors.actor import Actor
from actors.clock import SimClock
from actors.messages import EndOfData, Message, OrderIntent, Signal
from journal.reader import JournalReader

__all__ = ["DECISIONS", "Divergence", "VerifyResult", "verify_decisions"]

DECISIONS: Final = (OrderIntent, Signal)
_json: Final = msgspec.json.Encoder(decimal_format="string")


class Divergence(msgspec.Struct, frozen=True, kw_only=True):
    """The first decision that differs: at journal ``seq`` (the journaled decision's, or
    for a decision the journal lacks, the record whose delivery produced it), the
    journal's decision (``expected``, None if it has none) and the re-run's (``got``)."""

    seq: int
    message: str
    expected: Message | None
    got: Message | None

    def describe(self) -> str:
        def show(message: Message | None) -> str:
            return _json.encode(message).decode() if message is not None else "no decision"

        return (
            f"first divergence at seq {self.seq} ({self.message}):\n"
            f"  expected {show(self.expected)}\n"
            f"  got      {show(self.got)}"
        )


class VerifyResult(msgspec.Struct, frozen=True, kw_only=True):
    inputs: int  # journaled messages delivered to the strategies
    decisions: int  # journaled decisions matched
    last_seq: int
    divergence: Divergence | None
    # Decisions made on the last records that the journal does not hold: it ended (a
    # crash, or --until) before they were journaled. Not a divergence.
    pending: int


def verify_decisions(directory: Path, host: Actor, *, until: int | None = None) -> VerifyResult:
    """Re-run ``host`` (fresh, not started) over the journal in ``directory``."""
    clock = SimClock()
    made: deque[Message] = deque()
    made_at: deque[int] = deque()  # the seq of the record whose delivery made each one
    host.attach(made.append, clock)
    host.on_start()
    handlers = host.handlers()
    inputs = decisions = last_seq = 0
    ended = False
    for record in JournalReader(directory):
        if until is not None and record.seq > until:
            break
        last_seq = record.seq
        message = record.message
        if isinstance(message, DECISIONS):
            got = made.popleft() if made else None
            if got is not None:
                made_at.popleft()
            if got is None or _json.encode(got) != _json.encode(message):
                return _diverged(record.seq, message, got, inputs, decisions)
            decisions += 1
            continue
        ended = type(message) is EndOfData
        handler = handlers.get(type(message))
        if handler is None:
            continue
        clock.now_ns = record.ts
        before = len(made)
        handler(message)
        made_at.extend([record.seq] * (len(made) - before))
        inputs += 1
    if made and ended:  # a finished session journaled every decision it made
        return _diverged(made_at[0], None, made[0], inputs, decisions)
    return VerifyResult(
        inputs=inputs, decisions=decisions, last_seq=last_seq, divergence=None, pending=len(made)
    )


def _diverged(
    seq: int, expected: Message | None, got: Message | None, inputs: int, decisions: int
) -> VerifyResult:
    shown = expected if expected is not None else got
    divergence = Divergence(seq=seq, message=type(shown).__name__, expected=expected, got=got)
    return VerifyResult(
        inputs=inputs, decisions=decisions, last_seq=seq, divergence=divergence, pending=0
    )
