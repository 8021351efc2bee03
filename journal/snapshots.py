"""Snapshots: every actor's state at one seq, so recovery replays only the frames after it.

A snapshot is written when the session is quiescent (no message in flight) and
only once the seq it covers is durable, so it never describes frames a crash
could take back. It names that seq, the record's clock time and the CRC of the
record's frame: recovery checks the snapshot against the journal it restores
over (a snapshot from another run, or over a journal cut short, disagrees and
is refused, never used). The file is ``<session>/snapshots/snapshot-<seq>.tds``:
``MAGIC`` then one frame (``[u32 length][u32 crc32][msgpack SessionSnapshot]``),
written under a temporary name, fsynced and renamed, so a crash leaves either
the whole snapshot or none. Each actor's state is kept as its own msgpack
bytes, decoded with the actor's ``state_type`` at restore, so a damaged or
outdated state names the actor it belongs to.
"""

from __future__ import annotations

import os
import re
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import msgspec

from actors.actor import Actor
from journal.errors import JournalError
from journal.frames import FRAME_HEADER
from journal.segments import fsync_directory, make_directory, write_all

__all__ = [
    "SNAPSHOT_FORMAT",
    "SessionSnapshot",
    "SnapshotError",
    "encode_states",
    "list_snapshots",
    "read_snapshot",
    "restore_states",
    "snapshot_directory",
    "write_snapshot",
]

SNAPSHOT_FORMAT: Final = 1
MAGIC: Final = b"TDSNAP\r\n"
CLOCK: Final = "clock"  # the key of the simulated clock's state beside the actors'
_NAME: Final = re.compile(r"snapshot-(\d{20})\.tds")


class SnapshotError(JournalError):
    """A snapshot that cannot be used: damaged, from another format or session, or
    disagreeing with the journal's frames. Recovery falls back to an older one."""

    def __init__(self, file: Path, reason: str) -> None:
        super().__init__(f"{file}: snapshot refused: {reason}")
        self.file = file
        self.reason = reason


class SessionSnapshot(msgspec.Struct, frozen=True, kw_only=True):
    """The state of a session's actors after the record ``seq`` (clock time ``ts``, frame
    CRC ``record_crc``) and nothing after it. ``states`` maps each actor's name (and
    ``"clock"``) to its state Struct, msgpack-encoded."""

    format: int
    session: str
    seq: int
    ts: int
    record_crc: int
    states: dict[str, msgspec.Raw]


_encoder: Final = msgspec.msgpack.Encoder(decimal_format="string")
_decoder: Final = msgspec.msgpack.Decoder(SessionSnapshot)


def snapshot_directory(journal_directory: Path) -> Path:
    return journal_directory / "snapshots"


def encode_states(actors: Mapping[str, Actor], clock: Any | None = None) -> dict[str, msgspec.Raw]:
    """Each stateful actor's ``snapshot()`` (and the clock's), encoded, by name."""
    states = {}
    for name, actor in actors.items():
        if actor.state_type is not None:
            states[name] = msgspec.Raw(_encoder.encode(actor.snapshot()))
    if clock is not None:
        states[CLOCK] = msgspec.Raw(_encoder.encode(clock.snapshot()))
    return states


def restore_states(
    snapshot: SessionSnapshot, file: Path, actors: Mapping[str, Actor], clock: Any | None = None
) -> None:
    """Restore every stateful actor (and the clock) from ``snapshot``. Decodes all of them
    before restoring any, so a refused snapshot leaves the actors as they were."""
    decoded: list[tuple[Any, Any]] = []
    expected = {name for name, actor in actors.items() if actor.state_type is not None}
    if clock is not None:
        expected.add(CLOCK)
    missing, extra = (
        sorted(expected - snapshot.states.keys()),
        sorted(snapshot.states.keys() - expected),
    )
    if missing or extra:
        problems = [f"it lacks the state of {', '.join(missing)}"] if missing else []
        problems += [f"it holds the state of unknown {', '.join(extra)}"] if extra else []
        raise SnapshotError(file, "; ".join(problems))
    for name, actor in actors.items():
        if actor.state_type is not None:
            decoded.append((actor, _decode_state(file, name, snapshot, actor.state_type)))
    if clock is not None:
        decoded.append((clock, _decode_state(file, CLOCK, snapshot, type(clock.snapshot()))))
    for owner, state in decoded:
        owner.restore(state)


def _decode_state(file: Path, name: str, snapshot: SessionSnapshot, state_type: type) -> Any:
    try:
        return msgspec.msgpack.decode(snapshot.states[name], type=state_type)
    except msgspec.DecodeError as error:
        raise SnapshotError(file, f"the state of {name!r} does not decode: {error}") from error


def write_snapshot(journal_directory: Path, snapshot: SessionSnapshot, *, keep: int = 3) -> Path:
    """Write ``snapshot`` atomically and durably; keep the newest ``keep`` snapshots."""
    directory = snapshot_directory(journal_directory)
    make_directory(directory)
    body = _encoder.encode(snapshot)
    data = MAGIC + FRAME_HEADER.pack(len(body), zlib.crc32(body)) + body
    path = directory / f"snapshot-{snapshot.seq:020d}.tds"
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        write_all(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    fsync_directory(directory)
    for _, old in list_snapshots(journal_directory)[:-keep]:
        old.unlink()
    return path


def list_snapshots(journal_directory: Path) -> list[tuple[int, Path]]:
    """The session's snapshot files as ``(seq, path)``, oldest first."""
    directory = snapshot_directory(journal_directory)
    if not directory.is_dir():
        return []
    found = []
    for path in directory.iterdir():
        match = _NAME.fullmatch(path.name)
        if match:
            found.append((int(match.group(1)), path))
    return sorted(found)


def read_snapshot(path: Path, session: str | None = None) -> SessionSnapshot:
    """Read and check one snapshot file; ``SnapshotError`` says what is wrong with it."""
    data = path.read_bytes()
    prefix = len(MAGIC) + FRAME_HEADER.size
    if len(data) < prefix or not data.startswith(MAGIC):
        raise SnapshotError(path, "not a tickdeck snapshot (bad magic or cut short)")
    length, crc = FRAME_HEADER.unpack_from(data, len(MAGIC))
    body = data[prefix:]
    if length != len(body) or zlib.crc32(body) != crc:
        raise SnapshotError(path, f"damaged: {len(body)} bytes, expected {length} with its CRC")
    try:
        snapshot = _decoder.decode(body)
    except msgspec.DecodeError as error:
        raise SnapshotError(path, f"does not decode: {error}") from error
    if snapshot.format != SNAPSHOT_FORMAT:
        raise SnapshotError(
            path, f"format {snapshot.format}; this build reads format {SNAPSHOT_FORMAT}"
        )
    match = _NAME.fullmatch(path.name)
    if match and int(match.group(1)) != snapshot.seq:
        raise SnapshotError(path, f"holds seq {snapshot.seq}, its name says {match.group(1)}")
    if session is not None and snapshot.session != session:
        raise SnapshotError(path, f"belongs to session {snapshot.session!r}, not {session!r}")
    return snapshot
