"""The append-only journal: every message of a session, in order, durable before it counts.

This package owns the journal's bytes and their guarantees: the frame
(``[u32 length][u32 crc32][msgpack record]``, a record being seq, clock time and
a catalog message), segment files with a versioned header that refuses
journals from a newer format or catalog, the group-commit writer (one writer per
session, one write and one fsync per batch, ``durable(seq)`` to wait for a
message to be on disk, a failed state on any write error), and the reader that
checks every frame, cuts a torn tail and refuses corruption with the file, byte
offset and last good seq. Snapshots, recovery, replay through the actors and
export build on it.
"""

from journal.errors import (
    JournalClosedError,
    JournalCorruptError,
    JournalError,
    JournalLockedError,
    JournalTornTailError,
    JournalVersionError,
    JournalWriteError,
)
from journal.frames import JournalRecord
from journal.reader import JournalReader, JournalTail, TornTail, inspect_tail, truncate_torn_tail
from journal.segments import JOURNAL_FORMAT, SegmentHeader
from journal.writer import JournalStatistics, JournalWriter, open_journal

__all__ = [
    "JOURNAL_FORMAT",
    "JournalClosedError",
    "JournalCorruptError",
    "JournalError",
    "JournalLockedError",
    "JournalReader",
    "JournalRecord",
    "JournalStatistics",
    "JournalTail",
    "JournalTornTailError",
    "JournalVersionError",
    "JournalWriteError",
    "JournalWriter",
    "SegmentHeader",
    "TornTail",
    "inspect_tail",
    "open_journal",
    "truncate_torn_tail",
]
