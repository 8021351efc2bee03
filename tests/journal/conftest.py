"""Helpers for journal tests: example messages, writing a journal, and reaching its frames."""

from __future__ import annotations

import os
import stat
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anyio
import msgspec

from actors.messages import ALL_MESSAGES, Heartbeat, Message
from journal import open_journal
from journal.frames import FRAME_HEADER
from journal.segments import MAGIC, SegmentHeader, encode_header, list_segments, read_header
from tests.factories import example_struct

SESSION = "session-1"


def every_message() -> list[Message]:
    return [example_struct(cls) for cls in ALL_MESSAGES]


def heartbeats(count: int, start: int = 1) -> list[Message]:
    """Messages whose ``ts`` and ``actor`` both say which one they are."""
    return [Heartbeat(ts=i, actor=f"actor-{i}") for i in range(start, start + count)]


def write_journal(root: Path, messages: Sequence[Message], **options: Any) -> Path:
    """Append ``messages`` (one batch) through a writer and close it; the session dir."""

    async def write() -> None:
        async with open_journal(root, SESSION, **options) as journal:
            for message in messages:
                journal.append(message, message.ts)

    anyio.run(write)
    return root / SESSION


def segments(directory: Path) -> list[Path]:
    return [path for _, path in list_segments(directory)]


def frame_offsets(path: Path) -> list[int]:
    """Byte offsets of the frames of an intact segment, and of its end last."""
    first_seq = int(path.stem.removeprefix("segment-"))
    _, pos = read_header(path, first_seq, 0)
    data = path.read_bytes()
    offsets = [pos]
    while pos < len(data):
        length, _ = FRAME_HEADER.unpack_from(data, pos)
        pos += FRAME_HEADER.size + length
        offsets.append(pos)
    return offsets


def rewrite_header(path: Path, **changes: Any) -> None:
    """Replace fields of a segment's header, keeping its frames."""
    first_seq = int(path.stem.removeprefix("segment-"))
    header, start = read_header(path, first_seq, 0)
    data = path.read_bytes()
    path.write_bytes(encode_header(msgspec.structs.replace(header, **changes)) + data[start:])


def raw_header(path: Path, header: SegmentHeader | dict[str, Any]) -> None:
    """Replace a segment's header with any msgpack map, as a newer build might write one."""
    first_seq = int(path.stem.removeprefix("segment-"))
    _, start = read_header(path, first_seq, 0)
    rest = path.read_bytes()[start:]
    body = msgspec.msgpack.encode(header)
    path.write_bytes(MAGIC + FRAME_HEADER.pack(len(body), zlib.crc32(body)) + body + rest)


def frame_of(record_bytes: bytes) -> bytes:
    return FRAME_HEADER.pack(len(record_bytes), zlib.crc32(record_bytes)) + record_bytes


def is_segment_fd(fd: int) -> bool:
    """Whether ``fd`` is open on a journal segment (not a directory, not anything else)."""
    try:
        return os.readlink(f"/proc/self/fd/{fd}").endswith(".tdj")
    except OSError:
        return False


def is_directory_fd(fd: int) -> bool:
    return stat.S_ISDIR(os.fstat(fd).st_mode)
