"""The journal's place on the bus: every delivered message appended, snapshots at quiet points.

Under the deterministic scheduler the tap journals each message as it is
delivered, which is the order it was published in, so replaying the records
one by one reproduces every actor's inputs in order. Snapshots are taken only
where nothing is in flight (between source messages: no cascade half done)
and only after the journal is committed up to the seq they cover.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from actors.bus import Bus
from actors.clock import SimClock
from actors.messages import ALL_MESSAGES, Message
from journal.snapshots import SNAPSHOT_FORMAT, SessionSnapshot, encode_states, write_snapshot
from journal.writer import BlockingJournalWriter

__all__ = ["JournalTap"]

OWNER = "journal"


class JournalTap:
    """Appends every message the bus delivers to ``writer`` at the clock's time, and
    writes a snapshot of every actor every ``snapshot_every`` records (at the next
    quiet point) and on ``snapshot``.

    A failed write raises ``JournalWriteError`` out of the delivery: the session stops
    rather than trade with decisions the journal does not hold."""

    def __init__(
        self, writer: BlockingJournalWriter, bus: Bus, clock: SimClock, snapshot_every: int
    ) -> None:
        if snapshot_every <= 0:
            raise ValueError(f"snapshot_every must be positive, got {snapshot_every}")
        self.writer = writer
        self.bus = bus
        self.clock = clock
        self.snapshot_every = snapshot_every
        self.snapshot_seq = writer.last_seq
        self.snapshots_written = 0

    def attach(self) -> None:
        """Subscribe to every message type: from here on, everything delivered is journaled."""
        for message_type in ALL_MESSAGES:
            self.bus.subscribe(message_type, self._append, OWNER)

    def _append(self, message: Message) -> None:
        self.writer.append(message, self.clock.now_ns)

    def quiet_points(
        self, source: Iterable[Message], stopping: Callable[[], bool]
    ) -> Iterator[Message]:
        """``source``, taking a snapshot whenever one is due before the next message is
        taken from it: the scheduler asks for a source message only when nothing is in
        flight, and a source's state (the feed's position) must not count a message not
        yet delivered. Ends, without taking another, once ``stopping()``."""
        messages = iter(source)
        while not stopping():
            if self.writer.last_seq - self.snapshot_seq >= self.snapshot_every:
                self.snapshot()
            message = next(messages, None)
            if message is None:
                return
            yield message

    def snapshot(self) -> Path | None:
        """Commit the journal and snapshot every actor at its last seq (None if nothing
        was journaled since the last snapshot). Call only while nothing is in flight."""
        writer = self.writer
        seq = writer.last_seq
        if seq == self.snapshot_seq:
            return None
        writer.commit()
        snapshot = SessionSnapshot(
            format=SNAPSHOT_FORMAT,
            session=writer.session,
            seq=seq,
            ts=self.clock.now_ns,
            record_crc=writer.last_crc,
            states=encode_states(self.bus.actors, self.clock),
        )
        path = write_snapshot(writer.directory, snapshot)
        self.snapshot_seq = seq
        self.snapshots_written += 1
        return path
