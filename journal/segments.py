"""Segment files: naming, the versioned header, atomic creation, and directory fsync.

A session's journal is ``<root>/<session>/segment-<first_seq:020d>.tdj``; the
zero-padded first seq makes the name order the seq order. A segment starts
with ``MAGIC`` and then one frame holding a ``SegmentHeader`` (a msgpack map,
so any later format can add keys and still be recognised and refused by this
build). A segment is created whole or not at all: its header is written and
fsynced under a ``.tmp`` name, renamed into place and the directory fsynced,
so after a crash a segment file always has an intact header and a bad header
is damage, never a torn write.
"""

from __future__ import annotations

import errno
import fcntl
import os
import re
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Final

import msgspec

from journal.errors import JournalCorruptError, JournalLockedError, JournalVersionError
from journal.frames import FRAME_HEADER
from journal.schema import CATALOG_SHAPE, unknown_to

__all__ = [
    "JOURNAL_FORMAT",
    "MAGIC",
    "SegmentHeader",
    "create_segment",
    "encode_header",
    "fsync_directory",
    "list_segments",
    "lock_directory",
    "make_directory",
    "new_header",
    "read_header",
    "remove_stale_segments",
    "segment_path",
    "write_all",
]

MAGIC: Final = b"TDJRNL\r\n"
# The version of everything below the header: the frame layout and the record struct.
JOURNAL_FORMAT: Final = 1
_SEGMENT_NAME: Final = re.compile(r"segment-(\d{20})\.tdj")
_TMP_SUFFIX: Final = ".tmp"


class SegmentHeader(msgspec.Struct, frozen=True, kw_only=True):
    """What a reader must know before trusting a segment's frames: the format that wrote
    them, the session they belong to, the seq of the first frame (the file name repeats
    it) and the shape of the message catalog that encoded them."""

    format: int
    session: str
    first_seq: int
    catalog: dict[str, tuple[str, ...]]


class _FormatProbe(msgspec.Struct, frozen=True):
    """Only the format of a header: readable whatever else a newer format put beside it."""

    format: int


_encoder: Final = msgspec.msgpack.Encoder()
_probe_decoder: Final = msgspec.msgpack.Decoder(_FormatProbe)
_header_decoder: Final = msgspec.msgpack.Decoder(SegmentHeader)
_PREFIX: Final = len(MAGIC) + FRAME_HEADER.size
_MAX_HEADER_BYTES: Final = 1024 * 1024


def segment_path(directory: Path, first_seq: int) -> Path:
    return directory / f"segment-{first_seq:020d}.tdj"


def list_segments(directory: Path) -> list[tuple[int, Path]]:
    """``(first_seq, path)`` of every segment in ``directory``, in seq order. Other files
    (stale ``.tmp`` segments, later snapshots) are not segments and are left out."""
    segments = []
    for entry in os.scandir(directory):
        match = _SEGMENT_NAME.fullmatch(entry.name)
        if match:
            segments.append((int(match.group(1)), Path(entry.path)))
    segments.sort()
    return segments


def encode_header(header: SegmentHeader) -> bytes:
    body = _encoder.encode(header)
    return MAGIC + FRAME_HEADER.pack(len(body), zlib.crc32(body)) + body


def read_header(path: Path, first_seq: int, last_good_seq: int) -> tuple[SegmentHeader, int]:
    """The header of the segment at ``path`` (named for ``first_seq``) and the byte offset
    of its first frame. Refuses a newer format or catalog (``JournalVersionError``)
    and a header that does not check out (``JournalCorruptError``)."""

    def corrupt(reason: str) -> JournalCorruptError:
        return JournalCorruptError(path, 0, last_good_seq, reason)

    with path.open("rb") as file:
        prefix = file.read(_PREFIX)
        if prefix[: len(MAGIC)] != MAGIC[: len(prefix)]:
            raise corrupt("not a journal segment (bad magic)")
        if len(prefix) < _PREFIX:
            raise corrupt("segment header is cut short")
        length, crc = FRAME_HEADER.unpack_from(prefix, len(MAGIC))
        if length > _MAX_HEADER_BYTES:
            raise corrupt(f"segment header length {length} is out of bounds")
        body = file.read(length)
    if len(body) < length or zlib.crc32(body) != crc:
        raise corrupt("segment header fails its CRC")
    try:
        found = _probe_decoder.decode(body).format
    except msgspec.DecodeError as error:
        raise corrupt(f"segment header does not decode: {error}") from error
    if found > JOURNAL_FORMAT:
        raise JournalVersionError(
            path, f"written by journal format {found}; this build reads format {JOURNAL_FORMAT}"
        )
    if found != JOURNAL_FORMAT:
        raise corrupt(f"unknown journal format {found}")
    try:
        header = _header_decoder.decode(body)
    except msgspec.DecodeError as error:
        raise corrupt(f"segment header does not decode: {error}") from error
    unknown = unknown_to(CATALOG_SHAPE, header.catalog)
    if unknown:
        raise JournalVersionError(
            path,
            "written by a newer message catalog: this build does not know " + ", ".join(unknown),
        )
    if header.first_seq != first_seq:
        raise corrupt(f"header says first seq {header.first_seq}, the file name {first_seq}")
    return header, _PREFIX + length


def new_header(
    session: str, first_seq: int, catalog: Mapping[str, tuple[str, ...]]
) -> SegmentHeader:
    return SegmentHeader(
        format=JOURNAL_FORMAT, session=session, first_seq=first_seq, catalog=dict(catalog)
    )


def write_all(fd: int, data: bytes) -> None:
    """``os.write`` until every byte is written: a write may be short (a disk filling up
    writes what fits and fails on the next call)."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        if written <= 0:
            raise OSError(errno.EIO, "write wrote nothing")
        view = view[written:]


def fsync_directory(directory: Path) -> None:
    """Make a created, renamed or removed entry of ``directory`` survive a crash."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def make_directory(directory: Path) -> None:
    """Create ``directory`` and missing parents, each made durable in its parent."""
    missing = []
    for path in (directory, *directory.parents):
        if path.is_dir():
            break
        missing.append(path)
    for path in reversed(missing):
        try:
            path.mkdir()
        except FileExistsError:
            continue
        fsync_directory(path.parent)


def lock_directory(directory: Path) -> int:
    """Take the session's exclusive lock (``flock`` on the directory); closing the
    returned fd releases it, and so does the death of the process."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise JournalLockedError(directory) from None
    return fd


def remove_stale_segments(directory: Path) -> list[Path]:
    """Remove ``.tmp`` segments a crash left half-created (never renamed into place)."""
    stale = [
        Path(entry.path)
        for entry in os.scandir(directory)
        if entry.name.endswith(_TMP_SUFFIX)
        and _SEGMENT_NAME.fullmatch(entry.name.removesuffix(_TMP_SUFFIX))
    ]
    for path in stale:
        path.unlink()
    if stale:
        fsync_directory(directory)
    return stale


def create_segment(directory: Path, header: SegmentHeader) -> tuple[Path, int, int]:
    """Create the segment for ``header`` atomically; returns its path, a write fd
    positioned after the header, and its size. Replaces an existing segment of the same
    name: the caller only lets that happen to a segment that holds no frames."""
    path = segment_path(directory, header.first_seq)
    tmp = path.with_name(path.name + _TMP_SUFFIX)
    data = encode_header(header)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
    try:
        write_all(fd, data)
        os.fsync(fd)
        os.replace(tmp, path)
        fsync_directory(directory)
    except BaseException:
        os.close(fd)
        tmp.unlink(missing_ok=True)
        raise
    return path, fd, len(data)
