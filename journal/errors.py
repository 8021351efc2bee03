"""The journal's typed errors: each names the file, and the byte offset or seq, it is about.

A caller decides by type, never by parsing a message: ``JournalWriteError``
means "what you appended may not be on disk: stop trading"; ``JournalCorruptError``
means "the journal holds damage a crash cannot explain: a human must look";
``JournalTornTailError`` means "a crash cut the last frame: run
``truncate_torn_tail`` (recovery) before writing again".
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "JournalClosedError",
    "JournalCorruptError",
    "JournalError",
    "JournalLockedError",
    "JournalTornTailError",
    "JournalVersionError",
    "JournalWriteError",
]


class JournalError(Exception):
    """Base of every journal error."""


class JournalCorruptError(JournalError):
    """Damage in the middle of a journal: a bad frame with intact frames after it, a bad
    frame in a segment that is not the last, a gap in the sequence, a missing segment,
    or a segment header that does not check out. Never skipped, never truncated."""

    def __init__(self, file: Path, offset: int, last_good_seq: int, reason: str) -> None:
        super().__init__(
            f"{file}: journal corrupt at byte {offset} (last good seq {last_good_seq}): {reason}"
        )
        self.file = file
        self.offset = offset
        self.last_good_seq = last_good_seq
        self.reason = reason


class JournalVersionError(JournalError):
    """A segment written by a newer journal format or a newer message catalog than this
    build knows: reading it would misread or drop what the newer build wrote."""

    def __init__(self, file: Path, reason: str) -> None:
        super().__init__(f"{file}: {reason}; upgrade tickdeck to read this journal")
        self.file = file
        self.reason = reason


class JournalTornTailError(JournalError):
    """The last segment ends in a torn frame, as a crash leaves it; a writer refuses to
    append after it until recovery has cut it (``truncate_torn_tail``)."""

    def __init__(self, file: Path, offset: int, seq: int) -> None:
        super().__init__(
            f"{file}: torn frame at byte {offset} (seq {seq} onwards); "
            "run truncate_torn_tail() before appending"
        )
        self.file = file
        self.offset = offset
        self.seq = seq


class JournalWriteError(JournalError):
    """Writing or syncing a batch failed (a full disk, an I/O error). The journal stays
    failed: nothing later is accepted, because after a failed fsync the kernel may have
    dropped the data and a retry can report success for bytes that never reached the
    disk. Whether seqs ``first_seq..last_seq`` are on disk is unknown, not "no"."""

    def __init__(self, file: Path, first_seq: int, last_seq: int, cause: BaseException) -> None:
        seqs = f"seq {first_seq}" if first_seq == last_seq else f"seqs {first_seq}..{last_seq}"
        super().__init__(f"{file}: journal write of {seqs} failed: {cause}")
        self.file = file
        self.first_seq = first_seq
        self.last_seq = last_seq
        self.errno: int | None = getattr(cause, "errno", None)


class JournalLockedError(JournalError):
    """Another writer (in this process or another) holds the session's journal: two
    writers would interleave their seqs, and a cut under a live writer would destroy
    the batch it is writing."""

    def __init__(self, directory: Path) -> None:
        super().__init__(f"{directory}: the journal is held by a running writer")
        self.directory = directory


class JournalClosedError(JournalError):
    """An append after the writer began closing."""
