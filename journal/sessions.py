"""The journal as a person reads it: which sessions there are, a quick summary of each, a
full inspection of one, its last records, and following a live one as it grows.

Everything here only reads. Whether a writer holds a session is probed with a
shared, non-blocking ``flock`` released at once, so a writer starting in that
instant is refused for microseconds at most, never waits. A quick summary reads
the first frame and scans the last segment (``inspect_tail``); an inspection and
the last records go through ``JournalReader``, so they judge torn tails and
corruption exactly as recovery does. A journal a writer is appending to ends,
to any reader, in a frame still being written: that is what a live journal
looks like, and it is reported as open, not as torn.
"""

from __future__ import annotations

import collections
import fcntl
import json
import os
import zlib
from pathlib import Path
from typing import Any, BinaryIO, Final

import msgspec

from journal.errors import JournalCorruptError, JournalVersionError
from journal.frames import (
    FRAME_HEADER,
    MAX_RECORD_BYTES,
    JournalRecord,
    record_decoder,
    seq_decoder,
)
from journal.reader import JournalReader, TornTail, inspect_tail
from journal.recovery import REPORT_FILE
from journal.schema import CATALOG_SHAPE, unknown_to
from journal.segments import list_segments, read_header, segment_path
from journal.snapshots import SnapshotError, list_snapshots, read_snapshot

__all__ = [
    "CONFIG_FILE",
    "JournalFollower",
    "RecentRecords",
    "SegmentInfo",
    "SessionInspection",
    "SessionSummary",
    "SnapshotInfo",
    "UnknownSessionError",
    "inspect_session",
    "recent_records",
    "session_directory",
    "session_names",
    "summarize_session",
    "writer_holds",
]

CONFIG_FILE: Final = "config.toml"
# How much of a segment a follower reads at a time: memory stays bounded when it is far
# behind a writer.
_READ_BYTES: Final = 4 * 1024 * 1024


class UnknownSessionError(ValueError):
    """A session name with no journal directory; the message lists the known ones."""


class SessionSummary(msgspec.Struct, frozen=True, kw_only=True):
    """One line of ``tickdeck journal ls``. ``state`` is ``ok``, ``empty``, ``open`` (a
    writer holds it), ``torn tail at seq N``, ``corrupt: ...`` or ``newer build: ...``;
    only the first frame and the last segment were read to say so. ``last_seq`` is
    None when damage kept the scan from finding it."""

    session: str
    segments: int
    last_seq: int | None
    first_ts: int | None
    last_ts: int | None
    bytes: int
    snapshot_seq: int | None
    state: str


class SegmentInfo(msgspec.Struct, frozen=True, kw_only=True):
    """One segment file; ``last_seq`` and ``frames`` are None where reading stopped
    before (or in) it, and ``problem`` says what stopped it there."""

    file: str
    first_seq: int
    last_seq: int | None
    frames: int | None
    bytes: int
    problem: str | None = None


class SnapshotInfo(msgspec.Struct, frozen=True, kw_only=True):
    """One snapshot file: the seq it covers, its record's time and the actors it holds,
    or why it cannot be used."""

    file: str
    seq: int
    ts: int | None
    bytes: int
    actors: tuple[str, ...]
    problem: str | None = None


class SessionInspection(msgspec.Struct, frozen=True, kw_only=True):
    """Everything ``tickdeck journal inspect`` shows. ``problem`` is the corruption or
    version error that stopped the read (the records before it were read);
    ``recovery`` is the last recovery's report as written, if any."""

    session: str
    directory: str
    open: bool
    segments: tuple[SegmentInfo, ...]
    records: int
    first_ts: int | None
    last_ts: int | None
    catalog: str
    torn_tail: TornTail | None
    problem: str | None
    snapshots: tuple[SnapshotInfo, ...]
    config: str | None
    recovery: dict[str, Any] | None
    recovery_problem: str | None


class RecentRecords(msgspec.Struct, frozen=True, kw_only=True):
    """The last records of a journal (at most the number asked for), where reading
    ended (``last_seq``), the torn tail after them, and the corruption that stopped
    the read early, if any: the records are then the last ones before it."""

    records: tuple[JournalRecord, ...]
    last_seq: int
    torn_tail: TornTail | None
    error: JournalCorruptError | None


def session_names(root: Path) -> list[str]:
    """The sessions with a journal directory under ``root``, sorted."""
    if not root.is_dir():
        return []
    return sorted(
        entry.name
        for entry in os.scandir(root)
        if entry.is_dir() and not entry.name.startswith(".")
    )


def session_directory(root: Path, session: str) -> Path:
    """The journal directory of ``session``; ``UnknownSessionError`` names the known ones."""
    known = session_names(root)
    if session not in known:
        listed = ", ".join(known) if known else "none"
        raise UnknownSessionError(
            f"no journal session {session!r} under {root} (known sessions: {listed})"
        )
    return root / session


def writer_holds(directory: Path) -> bool:
    """Whether a journal writer holds ``directory`` right now (its exclusive ``flock``)."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def summarize_session(directory: Path) -> SessionSummary:
    """The quick look: segment count, last seq, first and last record times, size on
    disk, newest snapshot and state, from the first frame and the last segment only."""
    segments = list_segments(directory)
    snapshots = list_snapshots(directory)
    held = writer_holds(directory)
    last_seq: int | None = 0
    first_ts = last_ts = None
    state = "open" if held else "empty"
    try:
        if segments:
            first_ts = _first_record_time(*segments[0], is_last=len(segments) == 1)
            tail = inspect_tail(directory)
            if tail is not None:
                last_seq = tail.last_seq
                last_ts = _last_record_time(segments, tail.last_seq)
                if not held:
                    torn = tail.torn_tail
                    state = "ok" if torn is None else f"torn tail at seq {torn.seq}"
    except JournalCorruptError as error:
        last_seq = None
        state = f"corrupt: {error.reason} ({Path(error.file).name} byte {error.offset})"
    except JournalVersionError as error:
        last_seq = None
        state = f"newer build: {error.reason} ({Path(error.file).name})"
    return SessionSummary(
        session=directory.name,
        segments=len(segments),
        last_seq=last_seq,
        first_ts=first_ts,
        last_ts=last_ts,
        bytes=_size_on_disk(directory),
        snapshot_seq=snapshots[-1][0] if snapshots else None,
        state=state,
    )


def inspect_session(directory: Path) -> SessionInspection:
    """The full look: every frame read and checked (as recovery reads them), each
    segment's seqs, the time range, the catalog, snapshots and the last recovery."""
    held = writer_holds(directory)
    segments = list_segments(directory)
    first_ts = last_ts = None
    last_seq = 0
    reader = JournalReader(directory)
    problem: str | None = None  # what stopped the read, in full
    stopped_in: str | None = None  # the file it stopped in
    where: str | None = None  # what is wrong there, for that segment's line
    try:
        for record in reader:
            if first_ts is None:
                first_ts = record.ts
            last_ts, last_seq = record.ts, record.seq
    except JournalCorruptError as error:
        problem, stopped_in = str(error), str(error.file)
        where = f"corrupt at byte {error.offset}: {error.reason}"
    except JournalVersionError as error:
        problem, stopped_in, where = str(error), str(error.file), error.reason
    recovery, recovery_problem = _recovery_report(directory)
    config = directory / CONFIG_FILE
    return SessionInspection(
        session=directory.name,
        directory=str(directory),
        open=held,
        segments=_segment_infos(segments, last_seq, stopped_in, where),
        records=last_seq,
        first_ts=first_ts,
        last_ts=last_ts,
        catalog=_catalog_check(segments),
        # A writer's batch in progress reads as a torn frame; a writer never runs over a
        # real torn tail (it refuses to open until recovery has cut it).
        torn_tail=None if problem or held else reader.torn_tail,
        problem=problem,
        snapshots=tuple(
            _snapshot_info(directory, seq, path) for seq, path in list_snapshots(directory)
        ),
        config=str(config) if config.is_file() else None,
        recovery=recovery,
        recovery_problem=recovery_problem,
    )


def recent_records(directory: Path, count: int) -> RecentRecords:
    """The last ``count`` records, every frame before them checked. Corruption stops the
    read and is returned (with the records before it), never skipped; a version
    error is raised, as nothing could be read."""
    reader = JournalReader(directory)
    last: collections.deque[JournalRecord] = collections.deque(maxlen=count)
    error = None
    try:
        last.extend(reader)
        last_seq = reader.last_seq
    except JournalCorruptError as corrupt:
        error, last_seq = corrupt, corrupt.last_good_seq
    return RecentRecords(
        records=tuple(last),
        last_seq=last_seq,
        torn_tail=None if error else reader.torn_tail,
        error=error,
    )


class JournalFollower:
    """Reads the records a writer appends to a journal after ``after_seq``, as they land.

    ``poll`` returns what is complete now (at most ``max_records``; the rest comes
    with the next poll) and never waits. It takes only whole frames whose CRC
    checks: a frame still being written (or a torn one a crash left, which
    recovery will cut) is taken once it is whole, or passed by when recovery has
    cut it and the writer goes on in a new segment. It moves to the next segment
    when one appears starting at the next seq, after reading what the finished
    one still held. Bytes left in a finished segment, a frame with the wrong seq,
    an intact frame that does not decode, or a segment cut short of what was
    already read raise ``JournalCorruptError``, never skipped."""

    def __init__(self, directory: Path, after_seq: int, *, max_records: int = 10_000) -> None:
        if max_records <= 0:
            raise ValueError("max_records must be > 0")
        self.directory = Path(directory)
        self.last_seq = after_seq
        self.max_records = max_records
        self._segment: Path | None = None
        self._inode = 0
        self._pos = 0
        self._damage: JournalCorruptError | None = None

    def poll(self) -> list[JournalRecord]:
        """The records complete since the last poll. Corruption found after some records
        is raised by the next poll, so that the records before it are delivered first."""
        if self._damage is not None:
            raise self._damage
        records: list[JournalRecord] = []
        try:
            self._poll(records)
        except JournalCorruptError as error:
            if not records:
                raise
            self._damage = error
        return records

    def _poll(self, records: list[JournalRecord]) -> None:
        while self._segment is not None or self._locate():
            segment = self._segment
            if segment is None or not self._read(segment, records):
                continue
            if len(records) >= self.max_records:
                return
            following = segment_path(self.directory, self.last_seq + 1)
            if following == segment or not following.exists():
                return
            # The writer finished this segment before it created the next one: take
            # what it added since the read above; nothing may be left after that.
            if not self._read(segment, records) or len(records) >= self.max_records:
                return
            size = segment.stat().st_size
            if size > self._pos:
                raise JournalCorruptError(
                    segment,
                    self._pos,
                    self.last_seq,
                    f"{size - self._pos} bytes that are no whole frame, and the journal "
                    f"goes on in {following.name}",
                )
            self._segment = None

    def _locate(self) -> bool:
        """Find the segment holding the seq after ``last_seq``, and that seq's offset."""
        wanted = self.last_seq + 1
        holding = [
            (first, path) for first, path in list_segments(self.directory) if first <= wanted
        ]
        if not holding:
            return False
        first_seq, path = holding[-1]
        _, pos = read_header(path, first_seq, first_seq - 1)
        with path.open("rb") as file:
            self._inode = os.fstat(file.fileno()).st_ino
            data = file.read()
        self._pos = _frame_offset(path, data, pos, wanted - first_seq, first_seq)
        self._segment = path
        return True

    def _read(self, segment: Path, records: list[JournalRecord]) -> bool:
        """Take the whole frames after the current offset, up to ``max_records`` in all;
        False when the segment was replaced (a writer replaces one holding no frames)
        and must be located again."""
        try:
            with segment.open("rb") as file:
                status = os.fstat(file.fileno())
                if status.st_ino != self._inode:
                    self._segment = None
                    return False
                if status.st_size < self._pos:
                    raise JournalCorruptError(
                        segment, status.st_size, self.last_seq,
                        f"the segment was cut short of seq {self.last_seq}, already read",
                    )  # fmt: skip
                file.seek(self._pos)
                while len(records) < self.max_records and self._take(segment, file, records):
                    pass
        except FileNotFoundError:
            self._segment = None
            return False
        return True

    def _take(self, segment: Path, file: BinaryIO, records: list[JournalRecord]) -> bool:
        """Take the whole frames of the next chunk of ``file`` (read from the current
        offset, and long enough for its first frame); whether the file may hold more
        frames after the chunk, so that reading should go on."""
        requested = _READ_BYTES
        data = file.read(requested)
        if len(data) == requested:
            length, _ = FRAME_HEADER.unpack_from(data)
            missing = FRAME_HEADER.size + min(length, MAX_RECORD_BYTES) - len(data)
            if missing > 0:
                requested += missing
                data += file.read(missing)
        more = len(data) == requested
        pos = 0
        size = len(data)
        while len(records) < self.max_records and pos + FRAME_HEADER.size <= size:
            length, crc = FRAME_HEADER.unpack_from(data, pos)
            end = pos + FRAME_HEADER.size + length
            if end > size and 0 < length <= MAX_RECORD_BYTES:
                break  # cut by the chunk's end (read whole next time) or the file's
            body = data[pos + FRAME_HEADER.size : end]
            if not 0 < length <= MAX_RECORD_BYTES or zlib.crc32(body) != crc:
                more = False  # no whole frame (yet): wait
                break
            records.append(self._decode(segment, self._pos + pos, body))
            pos = end
        self._pos += pos
        file.seek(self._pos)
        return more

    def _decode(self, segment: Path, offset: int, body: bytes) -> JournalRecord:
        try:
            record = record_decoder.decode(body)
        except msgspec.DecodeError as error:
            raise JournalCorruptError(
                segment, offset, self.last_seq, f"an intact frame does not decode: {error}"
            ) from error
        if record.seq != self.last_seq + 1:
            raise JournalCorruptError(
                segment,
                offset,
                self.last_seq,
                f"frame holds seq {record.seq}, not {self.last_seq + 1}",
            )
        self.last_seq = record.seq
        return record


def _frame_offset(path: Path, data: bytes, pos: int, skip: int, first_seq: int) -> int:
    """The offset of the frame after the ``skip`` frames from ``pos`` (the first of them
    seq ``first_seq``), stepping over their lengths: they were checked when read."""
    for index in range(skip):
        if pos + FRAME_HEADER.size > len(data):
            seq = first_seq + index
            raise JournalCorruptError(path, pos, seq - 1, f"the segment ends before seq {seq}")
        length, _ = FRAME_HEADER.unpack_from(data, pos)
        pos += FRAME_HEADER.size + length
    return pos


def _first_record_time(first_seq: int, path: Path, *, is_last: bool) -> int | None:
    """The clock time of the journal's first record, from the first segment's first frame;
    None when it holds no whole frame yet (or a torn one, in the last segment)."""
    _, start = read_header(path, first_seq, first_seq - 1)
    with path.open("rb") as file:
        file.seek(start)
        head = file.read(FRAME_HEADER.size)
        if len(head) < FRAME_HEADER.size:
            return None
        length, crc = FRAME_HEADER.unpack(head)
        body = file.read(length) if 0 < length <= MAX_RECORD_BYTES else b""
    if len(body) == length and zlib.crc32(body) == crc:
        return seq_decoder.decode(body).ts
    if is_last:
        return None
    raise JournalCorruptError(path, start, first_seq - 1, "the first frame is damaged")


def _last_record_time(segments: list[tuple[int, Path]], last_seq: int) -> int | None:
    """The clock time of record ``last_seq``, found by stepping over the frames before it
    in its segment. That segment is the last (the tail scan checked it) or, when the
    last holds no frames yet, the one before, checked here as far as this goes."""
    holding = [(first, path) for first, path in segments if first <= last_seq]
    if not holding:
        return None
    first_seq, path = holding[-1]
    _, pos = read_header(path, first_seq, first_seq - 1)
    data = path.read_bytes()
    pos = _frame_offset(path, data, pos, last_seq - first_seq, first_seq)
    start = pos + FRAME_HEADER.size
    if start <= len(data):
        length, crc = FRAME_HEADER.unpack_from(data, pos)
        body = data[start : start + length]
        if len(body) == length and zlib.crc32(body) == crc:
            return seq_decoder.decode(body).ts
    raise JournalCorruptError(path, pos, last_seq - 1, f"the frame of seq {last_seq} is damaged")


def _size_on_disk(directory: Path) -> int:
    total = 0
    for parent, _, files in os.walk(directory):
        for name in files:
            try:
                total += os.stat(os.path.join(parent, name)).st_size
            except FileNotFoundError:
                continue
    return total


def _segment_infos(
    segments: list[tuple[int, Path]], last_seq: int, stopped_in: str | None, problem: str | None
) -> tuple[SegmentInfo, ...]:
    """Each segment's seqs, from a read that reached ``last_seq``: a segment ends where
    the next begins, the last one (or the one the read stopped in) at ``last_seq``.
    A read that stopped leaves the segments after that one "not read", and those
    before it that it had not reached (a bad header stops it before any frame)."""
    infos = []
    past_stop = False
    for index, (first_seq, path) in enumerate(segments):
        here = stopped_in == str(path)
        if past_stop:
            reached = False
        elif stopped_in is None or here:
            reached = True
        else:
            reached = first_seq <= last_seq
        is_last = index + 1 == len(segments)
        end = last_seq if is_last or here else min(segments[index + 1][0] - 1, last_seq)
        frames = max(end - first_seq + 1, 0) if reached else None
        infos.append(
            SegmentInfo(
                file=path.name,
                first_seq=first_seq,
                last_seq=end if frames else None,
                frames=frames,
                bytes=path.stat().st_size,
                problem=problem if here else (None if reached else "not read"),
            )
        )
        past_stop = past_stop or here
    return tuple(infos)


def _catalog_check(segments: list[tuple[int, Path]]) -> str:
    """How the catalog the segments were written with compares with this build's."""
    added: set[str] = set()
    for first_seq, path in segments:
        try:
            header, _ = read_header(path, first_seq, first_seq - 1)
        except JournalVersionError as error:
            return f"newer than this build: {error.reason} ({path.name})"
        except JournalCorruptError:
            continue
        added.update(unknown_to(header.catalog, CATALOG_SHAPE))
    if not segments:
        return "no segments"
    if not added:
        return "this build's"
    return f"older than this build, readable (this build adds {len(added)} types or fields)"


def _snapshot_info(directory: Path, seq: int, path: Path) -> SnapshotInfo:
    size = path.stat().st_size
    try:
        snapshot = read_snapshot(path, directory.name)
    except SnapshotError as error:
        return SnapshotInfo(
            file=path.name, seq=seq, ts=None, bytes=size, actors=(), problem=error.reason
        )
    return SnapshotInfo(
        file=path.name,
        seq=snapshot.seq,
        ts=snapshot.ts,
        bytes=size,
        actors=tuple(sorted(snapshot.states)),
    )


def _recovery_report(directory: Path) -> tuple[dict[str, Any] | None, str | None]:
    path = directory / REPORT_FILE
    if not path.is_file():
        return None, None
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        return None, f"{path} does not read: {error}"
    if not isinstance(report, dict):
        return None, f"{path} is not a JSON object"
    return report, None
