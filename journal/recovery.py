"""Recovery: a session's actors brought back to the state the journal says they had.

Steps, as DESIGN.md §5 orders them: with the torn tail cut (a crash mid-batch;
what it held was never durable, so no one was told it happened), pick the newest
snapshot that agrees with the journal, restore every actor and the clock from
it, then deliver the records after it again through the actors with the
deterministic scheduler. Side effects are off by construction: handlers only
publish, and what they publish is checked against the journal's next records
instead of being sent anywhere. A regenerated message that differs from its
record is a divergence (code or configuration changed since the journal was
written, or a snapshot that does not belong to these frames): recovery stops
and names the seq. When the journal ends in the middle of a cascade, what the
replay regenerated beyond its end is still in flight; the caller resumes it
with the journal attached, so it is journaled and delivered as it would have
been.
"""

from __future__ import annotations

import datetime as dt
import time
from collections import defaultdict, deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import structlog

from actors.messages import Message
from actors.scheduler import DeterministicScheduler, ReplayMismatchError
from journal.errors import JournalError
from journal.frames import message_decoder, raw_record_crc
from journal.reader import JournalReader, TornTail, record_at
from journal.snapshots import (
    SessionSnapshot,
    SnapshotError,
    list_snapshots,
    read_snapshot,
    restore_states,
)

__all__ = ["RecoveryReport", "ReplayDivergenceError", "recover", "write_report"]

_log = structlog.get_logger(__name__)
_json = msgspec.json.Encoder(decimal_format="string")
REPORT_FILE = "recovery.json"
_END = 2**63


class ReplayDivergenceError(JournalError):
    """Re-running the actors over the journal did not reproduce a journaled message."""

    def __init__(self, directory: Path, seq: int, expected: Any, got: Any) -> None:
        expected_text = _json.encode(expected).decode() if expected is not None else "nothing"
        got_text = _json.encode(got).decode() if got is not None else "nothing"
        super().__init__(
            f"{directory}: replay diverges at seq {seq}: the journal holds {expected_text}, "
            f"the actors produced {got_text}"
        )
        self.seq = seq
        self.expected = expected
        self.got = got


class RecoveryReport(msgspec.Struct, frozen=True, kw_only=True):
    """What a recovery did, for ``journal inspect`` and the UI's journal screen."""

    session: str
    recovered_at: str
    snapshot_seq: int
    snapshot_file: str
    refused_snapshots: list[str]
    torn_tail: TornTail | None
    replayed_frames: int
    # Messages the replay regenerated past the journal's end (a cascade a crash cut),
    # delivered and journaled by the caller's ``resume``.
    completed_frames: int
    last_seq: int
    queried_orders: list[str]
    seconds: float


def write_report(directory: Path, report: RecoveryReport) -> None:
    (directory / REPORT_FILE).write_bytes(msgspec.json.format(_json.encode(report)) + b"\n")


def recover(
    directory: Path,
    session: str,
    scheduler: DeterministicScheduler,
    *,
    on_source: Callable[[Message], None] | None = None,
    on_history: Callable[[Message], None] | None = None,
    until: int | None = None,
    torn_tail: TornTail | None = None,
    live: bool = False,
    skip: frozenset[str] = frozenset(),
) -> RecoveryReport:
    """Bring ``scheduler``'s actors and clock to the journal's last seq (or ``until``).

    A torn tail is not cut here: a session cuts it (``truncate_torn_tail``, reported
    as ``torn_tail``) before its writer takes the journal, and ``tickdeck replay``
    leaves it in place; the reader stops before it all the same, and the report
    names it.
    ``on_source`` sees each replayed source message (the feed learns where to go on
    from); ``on_history`` sees every message the snapshot covers, in order (a run's
    recorder rebuilds from it; without it those frames are checked, not decoded).
    Without a usable snapshot the actors start fresh (``on_start``) and replay from seq
    1. Raises ``JournalCorruptError`` for damage, ``ReplayDivergenceError`` when the
    actors do not reproduce the journal.

    ``live``: the journal of a live session, whose scheduler delivered each actor's
    messages in journal order but interleaved actors freely, so what a handler
    publishes is matched with a later record of its type rather than with the next
    record; ``skip`` names the actors that must not see the records again (a venue
    gateway: on replay nothing leaves the process). What the handlers published that
    the journal never got (a crash cut the cascade) is left in ``scheduler``'s queue,
    in the order it was published, for the session to publish once it runs."""
    started = time.perf_counter()
    refused: list[str] = []
    last = until if until is not None else _END
    snapshot, path = _restore_snapshot(directory, session, scheduler, refused, last)
    scheduler.start(restored=snapshot is not None)
    start = snapshot.seq if snapshot else 0
    reader = JournalReader(directory, decode_from=start + 1)
    if live:
        replayed = _replay_live(reader, start, last, scheduler, on_source, on_history, skip)
        return _report(
            session, start, path, refused, torn_tail, reader, replayed, scheduler, started
        )
    replayed = 0
    for record in reader:
        message = record.message
        if record.seq > last:
            break
        if record.seq <= start:
            if on_history is not None:
                on_history(message_decoder.decode(message))
            continue
        try:
            regenerated = scheduler.redeliver(message)
        except ReplayMismatchError as error:
            raise ReplayDivergenceError(directory, record.seq, message, str(error)) from error
        if regenerated is None:
            if on_source is not None:
                on_source(message)
        elif regenerated != message:  # Struct equality: same type, equal fields
            raise ReplayDivergenceError(directory, record.seq, message, regenerated)
        replayed += 1
    return _report(session, start, path, refused, torn_tail, reader, replayed, scheduler, started)


def _replay_live(
    reader: JournalReader,
    start: int,
    last: int,
    scheduler: DeterministicScheduler,
    on_source: Callable[[Message], None] | None,
    on_history: Callable[[Message], None] | None,
    skip: frozenset[str],
) -> int:
    """Redeliver a live session's records; outputs are matched with the later records of
    their type (first equal one) and what no record matched is left in flight."""
    published: list[Message | None] = []  # every output, None once a record matched it
    waiting: dict[type, deque[int]] = defaultdict(deque)  # per type, indexes into it
    replayed = 0
    for record in reader:
        message = record.message
        if record.seq > last:
            break
        if record.seq <= start:
            if on_history is not None:
                on_history(message_decoder.decode(message))
            continue
        if not _matched(message, published, waiting.get(type(message))) and on_source:
            on_source(message)
        for output in scheduler.deliver_recorded(message, record.ts, skip):
            waiting[type(output)].append(len(published))
            published.append(output)
        replayed += 1
    scheduler.requeue([output for output in published if output is not None])
    return replayed


def _matched(message: Message, published: list[Message | None], waiting: deque[int] | None) -> bool:
    if not waiting:
        return False
    for position, index in enumerate(waiting):
        if published[index] == message:
            published[index] = None
            del waiting[position]
            return True
    return False


def _report(
    session: str,
    start: int,
    path: Path | None,
    refused: list[str],
    torn_tail: TornTail | None,
    reader: JournalReader,
    replayed: int,
    scheduler: DeterministicScheduler,
    started: float,
) -> RecoveryReport:
    report = RecoveryReport(
        session=session,
        recovered_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        snapshot_seq=start,
        snapshot_file=str(path) if path else "",
        refused_snapshots=refused,
        torn_tail=torn_tail if torn_tail is not None else reader.torn_tail,
        replayed_frames=replayed,
        completed_frames=scheduler.in_flight,
        last_seq=start + replayed,
        queried_orders=[],
        seconds=round(time.perf_counter() - started, 3),
    )
    _log.info(
        "journal.recovered",
        session=session,
        snapshot_seq=start,
        replayed_frames=replayed,
        last_seq=start + replayed,
        refused_snapshots=len(refused),
        torn_tail_seq=torn_tail.seq if torn_tail else None,
    )
    return report


def _restore_snapshot(
    directory: Path,
    session: str,
    scheduler: DeterministicScheduler,
    refused: list[str],
    until: int,
) -> tuple[SessionSnapshot | None, Path | None]:
    """Restore the newest snapshot that reads, checks, agrees with the journal's record at
    its seq and decodes for every actor; each one refused on the way is reported (and
    logged), never used. (None, None) when there is none."""
    for seq, path in reversed(list_snapshots(directory)):
        if seq > until:
            continue
        try:
            snapshot = read_snapshot(path, session)
            record = record_at(directory, seq)
            if record is None:
                raise SnapshotError(path, f"it covers seq {seq}, beyond the journal's end")
            crc = raw_record_crc(record)
            if record.ts != snapshot.ts or crc != snapshot.record_crc:
                raise SnapshotError(
                    path,
                    f"it disagrees with the journal at seq {seq} (record time {record.ts}, "
                    f"snapshot says {snapshot.ts}; frame CRC {crc:#010x}, snapshot says "
                    f"{snapshot.record_crc:#010x})",
                )
            restore_states(snapshot, path, scheduler.bus.actors, scheduler.clock)
        except SnapshotError as error:
            refused.append(str(error))
            _log.warning("journal.snapshot_refused", error=str(error))
            continue
        return snapshot, path
    return None, None
