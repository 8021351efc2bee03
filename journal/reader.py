"""Reading a session's journal back: records in seq order, each frame CRC-checked, and
the line between a torn tail (what a crash leaves) and corruption (what it cannot).

A crash during a batch leaves the last segment ending in a partial or damaged
frame with nothing intact after it: a torn tail. It holds only frames whose
batch was never fsynced, so no caller was ever told they were durable, and
``truncate_torn_tail`` cuts it. Anything else is corruption and raises
``JournalCorruptError``: a bad frame with an intact frame anywhere after it in
the file, a bad frame in a segment that is not the last (a segment is fsynced
whole before the next is created), an intact frame holding the wrong seq or
not decoding, a gap or overlap between segments, a missing first segment.
Nothing is ever skipped: the reader stops at the first damage.

A bad last frame with nothing after it is indistinguishable from a torn write
(a crash can leave a frame's full length on disk with unwritten pages inside),
so it is treated as torn and reported, never cut silently. The other way round,
a crash can (rarely) persist a later page of the unsynced last batch but not an
earlier one: that reads as a bad frame followed by an intact one and is refused
as corruption, the safe side; the error's offset is where a human may cut.
"""

from __future__ import annotations

import os
import re
import zlib
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any, Final

import msgspec
import structlog

from journal.errors import JournalCorruptError
from journal.frames import (
    FRAME_HEADER,
    MAX_RECORD_BYTES,
    JournalRecord,
    RecordSeq,
    record_decoder,
    seq_decoder,
)
from journal.segments import SegmentHeader, list_segments, lock_directory, read_header

__all__ = [
    "JournalReader",
    "JournalTail",
    "TornTail",
    "inspect_tail",
    "record_at",
    "truncate_torn_tail",
]

_log = structlog.get_logger(__name__)
_NONZERO: Final = re.compile(rb"[^\x00]")
_NEVER: Final = 2**63


class TornTail(msgspec.Struct, frozen=True, kw_only=True):
    """Where a crash cut the journal: the torn bytes run from ``offset`` to the end of
    ``file``, and ``seq`` is the first seq they held (the last intact seq + 1)."""

    file: str
    offset: int
    seq: int
    bytes_cut: int


class JournalTail(msgspec.Struct, frozen=True, kw_only=True):
    """The last segment of a journal, scanned: what a writer continuing it must know."""

    file: str
    header: SegmentHeader
    last_seq: int
    torn_tail: TornTail | None


class JournalReader:
    """Iterates a session directory's records (``JournalRecord``: seq, ts, message) in seq
    order across its segments. Every segment header is checked before the first record
    is yielded, so a journal from a newer build is refused before any of it is used.

    Iteration stops quietly at a torn tail (``torn_tail`` then describes it) and raises
    ``JournalCorruptError`` at corruption; ``last_seq`` is the last seq yielded.

    Records before ``decode_from`` are checked (CRC, seq) but their message is left
    undecoded (``RecordSeq``, the message as ``msgspec.Raw``): recovery from a snapshot
    must verify the whole journal but only needs the messages after the snapshot."""

    def __init__(self, directory: Path | str, *, decode_from: int = 1) -> None:
        self.directory = Path(directory)
        self.decode_from = decode_from
        self.torn_tail: TornTail | None = None
        self.last_seq = 0

    def __iter__(self) -> Iterator[JournalRecord]:
        return self._records()

    def _records(self) -> Generator[Any, None, None]:
        self.torn_tail = None
        self.last_seq = 0
        segments = _open_segments(self.directory)
        seq = 1
        for index, (path, header, start) in enumerate(segments):
            if header.first_seq != seq:
                raise JournalCorruptError(path, 0, seq - 1, _gap(header.first_seq, seq))
            is_last = index == len(segments) - 1
            seq, self.torn_tail = yield from _frames(
                path, path.read_bytes(), start, seq, record_decoder, is_last, self.decode_from
            )
            self.last_seq = seq - 1


def record_at(directory: Path | str, seq: int) -> RecordSeq | None:
    """Record ``seq``, its message undecoded, reading only the segment that holds it
    (frames before it in that segment are checked on the way); None if the journal does
    not reach it."""
    directory = Path(directory)
    segments = list_segments(directory)
    holding = [index for index, (first, _) in enumerate(segments) if first <= seq]
    if seq < 1 or not holding:
        return None
    index = holding[-1]
    first_seq, path = segments[index]
    _, start = read_header(path, first_seq, first_seq - 1)
    is_last = index == len(segments) - 1
    for record in _frames(path, path.read_bytes(), start, first_seq, seq_decoder, is_last, _NEVER):
        if record.seq == seq:
            return record  # type: ignore[no-any-return]
    return None


def inspect_tail(directory: Path | str) -> JournalTail | None:
    """Scan the last segment of ``directory`` (CRCs and seqs, messages left undecoded):
    where the journal ends and whether a crash tore it. ``None`` without segments."""
    directory = Path(directory)
    segments = list_segments(directory)
    if not segments:
        return None
    first_seq, path = segments[-1]
    header, start = read_header(path, first_seq, first_seq - 1)
    frames = _frames(path, path.read_bytes(), start, first_seq, record_decoder, True, _NEVER)
    seq, torn_tail = _exhaust(frames)
    return JournalTail(file=str(path), header=header, last_seq=seq - 1, torn_tail=torn_tail)


def truncate_torn_tail(directory: Path | str) -> TornTail | None:
    """Cut a torn tail from the last segment (and fsync the cut), so a writer can
    continue the journal at the next seq; ``None`` when the journal ends intact.
    Corruption is not a torn tail: it raises ``JournalCorruptError`` and nothing is cut.
    Refused (``JournalLockedError``) while a writer runs: its batch in progress would
    look torn."""
    directory = Path(directory)
    lock = lock_directory(directory)
    try:
        tail = inspect_tail(directory)
        if tail is None or tail.torn_tail is None:
            return None
        torn = tail.torn_tail
        fd = os.open(torn.file, os.O_WRONLY)
        try:
            os.ftruncate(fd, torn.offset)
            os.fsync(fd)
        finally:
            os.close(fd)
    finally:
        os.close(lock)
    _log.warning(
        "journal.torn_tail_truncated",
        file=torn.file,
        offset=torn.offset,
        seq=torn.seq,
        bytes_cut=torn.bytes_cut,
    )
    return torn


def _exhaust(
    frames: Generator[Any, None, tuple[int, TornTail | None]],
) -> tuple[int, TornTail | None]:
    """Run a segment scan to its end for what it returns."""
    while True:
        try:
            next(frames)
        except StopIteration as end:
            return end.value


def _open_segments(directory: Path) -> list[tuple[Path, SegmentHeader, int]]:
    segments = []
    session = None
    for first_seq, path in list_segments(directory):
        header, start = read_header(path, first_seq, first_seq - 1)
        if session is None:
            session = header.session
        elif header.session != session:
            raise JournalCorruptError(
                path, 0, first_seq - 1, f"segment of session {header.session!r} among {session!r}"
            )
        segments.append((path, header, start))
    return segments


def _gap(first_seq: int, expected: int) -> str:
    if expected == 1:
        return f"the first segment starts at seq {first_seq}: earlier segments are missing"
    if first_seq > expected:
        return (
            f"segment starts at seq {first_seq}, but the previous one ends at seq "
            f"{expected - 1}: a segment is missing"
        )
    return f"segment starts at seq {first_seq}, inside the previous one (ends at {expected - 1})"


def _frames(
    path: Path,
    data: bytes,
    pos: int,
    seq: int,
    decoder: msgspec.msgpack.Decoder[Any],
    is_last: bool,
    decode_from: int,
) -> Generator[Any, None, tuple[int, TornTail | None]]:
    """Yield the records of one segment's ``data`` from byte ``pos``, the first one
    ``seq``, with ``decoder`` from seq ``decode_from`` on and without decoding messages
    before it; return the seq after the last one and the torn tail, if any."""
    size = len(data)
    unpack = FRAME_HEADER.unpack_from
    crc32 = zlib.crc32
    decode = decoder.decode if seq >= decode_from else seq_decoder.decode
    while pos < size:
        if seq == decode_from:
            decode = decoder.decode
        start = pos + 8
        if start <= size:
            length, crc = unpack(data, pos)
            end = start + length
            if 0 < length <= MAX_RECORD_BYTES and end <= size:
                body = data[start:end]
                if crc32(body) == crc:
                    try:
                        record = decode(body)
                    except msgspec.DecodeError as error:
                        raise JournalCorruptError(
                            path, pos, seq - 1, f"an intact frame does not decode: {error}"
                        ) from error
                    if record.seq != seq:
                        raise JournalCorruptError(
                            path, pos, seq - 1, f"frame holds seq {record.seq}, not {seq}"
                        )
                    yield record
                    seq += 1
                    pos = end
                    continue
        return seq, _torn_tail(path, data, pos, seq, is_last)
    return seq, None


def _torn_tail(path: Path, data: bytes, pos: int, seq: int, is_last: bool) -> TornTail:
    """The bad frame at ``pos`` as a torn tail, or ``JournalCorruptError`` if it is not one."""
    reason = _bad_frame(data, pos)
    if not is_last:
        raise JournalCorruptError(
            path, pos, seq - 1, f"{reason}, in a segment that is not the last"
        )
    intact = _next_intact_frame(data, pos + 1)
    if intact is not None:
        raise JournalCorruptError(
            path, pos, seq - 1, f"{reason}, followed by an intact frame at byte {intact}"
        )
    return TornTail(file=str(path), offset=pos, seq=seq, bytes_cut=len(data) - pos)


def _bad_frame(data: bytes, pos: int) -> str:
    if pos + FRAME_HEADER.size > len(data):
        return "frame header cut short"
    length, _ = FRAME_HEADER.unpack_from(data, pos)
    if not 0 < length <= MAX_RECORD_BYTES:
        return f"frame length {length} out of bounds"
    present = len(data) - pos - FRAME_HEADER.size
    if length > present:
        return f"frame cut short ({present} of {length} bytes)"
    return "frame fails its CRC"


def _next_intact_frame(data: bytes, pos: int) -> int | None:
    """The offset of the first frame at or after ``pos`` whose CRC checks, if any. Runs of
    zeros (unwritten blocks a crash can expose) are skipped: a zero length is no frame."""
    size = len(data)
    unpack = FRAME_HEADER.unpack_from
    while pos + FRAME_HEADER.size < size:
        length, crc = unpack(data, pos)
        if length == 0:
            nonzero = _NONZERO.search(data, pos + 4)
            if nonzero is None:
                return None
            pos = max(pos + 1, nonzero.start() - 3)
            continue
        end = pos + FRAME_HEADER.size + length
        intact = length <= MAX_RECORD_BYTES and end <= size
        if intact and zlib.crc32(data[pos + FRAME_HEADER.size : end]) == crc:
            return pos
        pos += 1
    return None
