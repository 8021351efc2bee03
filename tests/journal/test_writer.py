"""The writer: group commit, durability per seq, the failed state, and a clean close."""

from __future__ import annotations

import errno
import os
import re
import threading
from pathlib import Path

import anyio
import anyio.lowlevel
import msgspec
import pytest

from actors.messages import Heartbeat, Message
from journal import (
    JournalClosedError,
    JournalLockedError,
    JournalReader,
    JournalTornTailError,
    JournalVersionError,
    JournalWriteError,
    JournalWriter,
    open_journal,
    truncate_torn_tail,
)
from journal.frames import encode_frame
from journal.segments import JOURNAL_FORMAT
from tests.journal.conftest import (
    SESSION,
    every_message,
    frame_offsets,
    heartbeats,
    is_directory_fd,
    is_segment_fd,
    raw_header,
    segments,
    write_journal,
)


class DiskCalls:
    """Counts writes and fsyncs of segment files, passing them through."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.writes = 0
        self.fsyncs = 0
        self.directory_fsyncs = 0
        self._write, self._fsync = os.write, os.fsync
        monkeypatch.setattr(os, "write", self.write)
        monkeypatch.setattr(os, "fsync", self.fsync)

    def write(self, fd: int, data: bytes) -> int:
        self.writes += is_segment_fd(fd)
        return self._write(fd, data)

    def fsync(self, fd: int) -> None:
        self.fsyncs += is_segment_fd(fd)
        self.directory_fsyncs += is_directory_fd(fd)
        self._fsync(fd)


def frame_of_heartbeat(seq: int) -> bytes:
    return encode_frame(seq, seq, Heartbeat(ts=seq, actor=f"actor-{seq}"))


def _read(directory: Path) -> list[tuple[int, int, Message]]:
    return [(r.seq, r.ts, r.message) for r in JournalReader(directory)]


async def test_every_catalog_message_round_trips_through_the_journal(tmp_path: Path) -> None:
    messages = every_message()
    async with open_journal(tmp_path, SESSION) as journal:
        seqs = [journal.append(message, 1_000 + i) for i, message in enumerate(messages)]
    assert seqs == list(range(1, len(messages) + 1))
    records = _read(tmp_path / SESSION)
    assert records == [(i + 1, 1_000 + i, m) for i, m in enumerate(messages)]
    assert [type(m) for _, _, m in records] == [type(m) for m in messages]


async def test_appends_queued_together_are_one_write_and_one_fsync(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with open_journal(tmp_path, SESSION) as journal:
        disk = DiskCalls(monkeypatch)
        last = 0
        for message in heartbeats(1000):
            last = journal.append(message, message.ts)
        await journal.durable(last)
        assert (disk.writes, disk.fsyncs) == (1, 1)
        assert journal.statistics().largest_batch == 1000


async def test_concurrent_producers_share_fsyncs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Seven producers, each waiting for every append to be durable before the next:
    without group commit that is one fsync per append."""
    async with open_journal(tmp_path, SESSION) as journal:
        disk = DiskCalls(monkeypatch)

        async def produce(producer: int) -> None:
            for i in range(50):
                await journal.durable(journal.append(Heartbeat(ts=i, actor=str(producer)), i))

        async with anyio.create_task_group() as tasks:
            for producer in range(7):
                tasks.start_soon(produce, producer)
        assert journal.durable_seq == 350
        assert disk.fsyncs == disk.writes
        assert disk.fsyncs <= 350 / 5
    assert len(_read(tmp_path / SESSION)) == 350


async def test_a_lingering_batch_waits_for_the_write_ahead_and_shares_its_fsync(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Market data nobody waits for, then the order it caused: one fsync for both,
    started when the order asks, not two in a row."""
    async with open_journal(tmp_path, SESSION, linger_us=1_000_000) as journal:
        disk = DiskCalls(monkeypatch)
        journal.append(Heartbeat(ts=1, actor="tick"), 1)
        await anyio.sleep(0.05)  # the writer has had every chance to commit it
        assert (journal.durable_seq, disk.fsyncs) == (0, 0)
        order = journal.append(Heartbeat(ts=2, actor="order"), 2)
        with anyio.fail_after(0.5):  # far sooner than the linger
            await journal.durable(order)
        assert (disk.writes, disk.fsyncs) == (1, 1)


async def test_what_nobody_waits_for_is_committed_after_the_linger(tmp_path: Path) -> None:
    async with open_journal(tmp_path, SESSION, linger_us=50_000) as journal:
        journal.append(Heartbeat(ts=1, actor="tick"), 1)
        await anyio.sleep(0.01)
        assert journal.durable_seq == 0
        await anyio.sleep(0.2)
        assert journal.durable_seq == 1


async def test_close_does_not_wait_out_the_linger(tmp_path: Path) -> None:
    with anyio.fail_after(0.5):  # the linger is a second
        async with open_journal(tmp_path, SESSION, linger_us=1_000_000) as journal:
            journal.append(Heartbeat(ts=1, actor="tick"), 1)
    assert len(_read(tmp_path / SESSION)) == 1


async def test_a_batch_holds_at_most_max_batch_frames(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with open_journal(tmp_path, SESSION, max_batch_frames=10) as journal:
        disk = DiskCalls(monkeypatch)
        for message in heartbeats(95):
            journal.append(message, message.ts)
        await journal.durable(95)
        assert (disk.writes, disk.fsyncs) == (10, 10)
        assert journal.statistics().largest_batch == 10


@pytest.mark.parametrize(("max_batch_us", "batches"), [(10_000_000, 1), (0, 2)])
async def test_a_batch_stays_open_to_a_firehose_at_most_max_batch_us(
    tmp_path: Path, max_batch_us: int, batches: int
) -> None:
    """A producer appending at every turn of the event loop keeps the queue from
    draining; only the time bound closes the batch."""
    async with open_journal(tmp_path, SESSION, max_batch_us=max_batch_us) as journal:
        for message in heartbeats(200):
            journal.append(message, message.ts)
            await anyio.lowlevel.checkpoint()
        await journal.durable(200)
        if batches == 1:
            assert journal.statistics().batches == 1
        else:
            assert journal.statistics().batches >= batches


async def test_durable_returns_only_after_the_fsync_of_its_batch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    in_fsync, release = threading.Event(), threading.Event()
    real_fsync = os.fsync
    synced: list[int] = []

    def slow_fsync(fd: int) -> None:
        if is_segment_fd(fd):
            in_fsync.set()
            release.wait(10)
            synced.append(os.fstat(fd).st_size)
        real_fsync(fd)

    async with open_journal(tmp_path, SESSION) as journal:
        monkeypatch.setattr(os, "fsync", slow_fsync)
        first = journal.append(Heartbeat(ts=1, actor="a"), 1)
        done: list[int] = []

        async def wait(seq: int) -> None:
            await journal.durable(seq)
            done.append(seq)

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(wait, first)
            await anyio.to_thread.run_sync(in_fsync.wait, 10)
            second = journal.append(Heartbeat(ts=2, actor="b"), 2)  # the next batch
            tasks.start_soon(wait, second)
            await anyio.sleep(0.05)
            assert done == []
            assert journal.durable_seq == 0
            release.set()
        assert done == [first, second]
        assert len(synced) == 2


async def test_a_full_disk_fails_durable_and_every_later_append(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_write = os.write

    def full_disk(fd: int, data: bytes) -> int:
        if is_segment_fd(fd):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    with pytest.raises(JournalWriteError):
        async with open_journal(tmp_path, SESSION) as journal:
            await journal.durable(journal.append(Heartbeat(ts=1, actor="a"), 1))
            monkeypatch.setattr(os, "write", full_disk)
            seq = journal.append(Heartbeat(ts=2, actor="b"), 2)
            queued = journal.append(Heartbeat(ts=3, actor="c"), 3)
            with pytest.raises(JournalWriteError) as info:
                await journal.durable(seq)
            error = info.value
            (segment,) = segments(tmp_path / SESSION)
            assert (error.file, error.first_seq, error.errno) == (segment, 2, errno.ENOSPC)
            assert f"{segment}: journal write of seqs 2..3 failed" in str(error)
            assert "No space left on device" in str(error)
            with pytest.raises(JournalWriteError):
                await journal.durable(queued)
            with pytest.raises(JournalWriteError):
                journal.append(Heartbeat(ts=4, actor="d"), 4)
            await journal.durable(1)  # what was durable stays durable
            assert journal.statistics().failed
    monkeypatch.setattr(os, "write", real_write)
    assert [seq for seq, _, _ in _read(tmp_path / SESSION)] == [1]


async def test_a_short_write_then_a_full_disk_leaves_a_torn_tail_to_cut(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_write = os.write
    calls = 0

    def filling_disk(fd: int, data: bytes) -> int:
        nonlocal calls
        if not is_segment_fd(fd):
            return real_write(fd, data)
        calls += 1
        if calls == 1:
            return real_write(fd, bytes(data)[:-5])  # all but the end of the last frame
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(JournalWriteError, match=r"seqs 1\.\.10"):
        async with open_journal(tmp_path, SESSION) as journal:
            monkeypatch.setattr(os, "write", filling_disk)
            for message in heartbeats(10):
                journal.append(message, message.ts)
    monkeypatch.setattr(os, "write", real_write)
    torn = truncate_torn_tail(tmp_path / SESSION)
    assert torn is not None
    assert (torn.seq, torn.bytes_cut) == (10, len(frame_of_heartbeat(10)) - 5)
    assert [seq for seq, _, _ in _read(tmp_path / SESSION)] == list(range(1, 10))


async def test_a_failed_fsync_is_never_retried(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_fsync = os.fsync
    attempts = 0

    def failing_fsync(fd: int) -> None:
        nonlocal attempts
        if is_segment_fd(fd):
            attempts += 1
            raise OSError(errno.EIO, "Input/output error")
        real_fsync(fd)

    with pytest.raises(JournalWriteError, match="Input/output error"):
        async with open_journal(tmp_path, SESSION) as journal:
            monkeypatch.setattr(os, "fsync", failing_fsync)
            seq = journal.append(Heartbeat(ts=1, actor="a"), 1)
            with pytest.raises(JournalWriteError):
                await journal.durable(seq)
    assert attempts == 1


async def test_close_commits_everything_appended(tmp_path: Path) -> None:
    async with open_journal(tmp_path, SESSION, max_batch_frames=7) as journal:
        for message in heartbeats(100):
            journal.append(message, message.ts)
    assert journal.durable_seq == 100
    assert [seq for seq, _, _ in _read(tmp_path / SESSION)] == list(range(1, 101))
    with pytest.raises(JournalClosedError, match="closed"):
        journal.append(Heartbeat(ts=1, actor="late"), 1)


async def test_an_error_in_the_block_still_commits_and_is_raised_unwrapped(
    tmp_path: Path,
) -> None:
    with pytest.raises(KeyError):
        async with open_journal(tmp_path, SESSION) as journal:
            journal.append(Heartbeat(ts=1, actor="a"), 1)
            raise KeyError("boom")
    assert len(_read(tmp_path / SESSION)) == 1


async def test_cancelling_the_writer_task_still_commits_what_was_appended(
    tmp_path: Path,
) -> None:
    writer = JournalWriter(tmp_path, SESSION)
    async with anyio.create_task_group() as tasks:
        await tasks.start(writer.run)
        for message in heartbeats(100):
            writer.append(message, message.ts)
        tasks.cancel_scope.cancel()
    assert writer.durable_seq == 100
    assert len(_read(tmp_path / SESSION)) == 100


async def test_cancelling_the_block_still_commits_what_was_appended(tmp_path: Path) -> None:
    with anyio.move_on_after(0.05) as scope:
        async with open_journal(tmp_path, SESSION) as journal:
            for message in heartbeats(100):
                journal.append(message, message.ts)
            await anyio.sleep(10)
    assert scope.cancelled_caught
    assert journal.durable_seq == 100
    assert len(_read(tmp_path / SESSION)) == 100


async def test_appends_outside_the_running_window_are_refused(tmp_path: Path) -> None:
    writer = JournalWriter(tmp_path, SESSION)
    with pytest.raises(JournalClosedError, match="not running"):
        writer.append(Heartbeat(ts=1, actor="early"), 1)


async def test_what_would_not_read_back_is_refused_without_using_a_seq(tmp_path: Path) -> None:
    class Stranger(msgspec.Struct, frozen=True, kw_only=True, tag=True):
        ts: int

    async with open_journal(tmp_path, SESSION) as journal:
        with pytest.raises(TypeError, match="Stranger is not a message of the catalog"):
            journal.append(Stranger(ts=1), 1)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match=r"Heartbeat at seq 1 would not read back.*\$\.actor"):
            journal.append(Heartbeat(ts=1, actor=5), 1)  # type: ignore[arg-type]
        assert journal.append(Heartbeat(ts=1, actor="ok"), 1) == 1
    assert len(_read(tmp_path / SESSION)) == 1


async def test_durable_of_a_seq_never_appended_is_an_error(tmp_path: Path) -> None:
    async with open_journal(tmp_path, SESSION) as journal:
        with pytest.raises(ValueError, match="seq 1 has not been appended"):
            await journal.durable(1)


def test_a_reopened_journal_continues_the_seq_in_a_new_segment(tmp_path: Path) -> None:
    directory = write_journal(tmp_path, heartbeats(3))
    write_journal(tmp_path, heartbeats(2, 4))
    assert [p.name for p in segments(directory)] == [
        "segment-00000000000000000001.tdj",
        "segment-00000000000000000004.tdj",
    ]
    assert [seq for seq, _, _ in _read(directory)] == [1, 2, 3, 4, 5]


def test_a_last_segment_without_frames_is_replaced_not_duplicated(tmp_path: Path) -> None:
    directory = write_journal(tmp_path, heartbeats(3))
    write_journal(tmp_path, [])
    write_journal(tmp_path, [])
    assert [p.name for p in segments(directory)] == [
        "segment-00000000000000000001.tdj",
        "segment-00000000000000000004.tdj",
    ]
    write_journal(tmp_path, heartbeats(1, 4))
    assert [seq for seq, _, _ in _read(directory)] == [1, 2, 3, 4]


def test_segments_roll_by_size_and_each_is_made_durable_in_the_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    disk = DiskCalls(monkeypatch)

    async def write() -> None:
        async with open_journal(tmp_path, SESSION, segment_bytes=4096) as journal:
            for i, message in enumerate(heartbeats(400), 1):
                journal.append(message, message.ts)
                if i % 20 == 0:
                    await journal.durable(i)

    anyio.run(write)
    directory = tmp_path / SESSION
    files = segments(directory)
    assert len(files) > 3
    for path in files[:-1]:
        assert path.stat().st_size >= 4096
        first_seq = int(path.stem.removeprefix("segment-"))
        assert first_seq == 1 or (first_seq - 1) % 20 == 0  # whole batches per segment
    assert disk.directory_fsyncs >= len(files)
    assert [seq for seq, _, _ in _read(directory)] == list(range(1, 401))


def test_opening_after_a_crash_requires_the_torn_tail_cut_first(tmp_path: Path) -> None:
    directory = write_journal(tmp_path, heartbeats(3))
    (segment,) = segments(directory)
    last_frame = frame_offsets(segment)[-2]
    segment.write_bytes(segment.read_bytes()[:-2])
    with pytest.raises(JournalTornTailError, match="run truncate_torn_tail") as info:
        write_journal(tmp_path, heartbeats(1, 4))
    assert (info.value.file, info.value.offset, info.value.seq) == (segment, last_frame, 3)
    truncate_torn_tail(directory)
    after = Heartbeat(ts=9, actor="after")
    write_journal(tmp_path, [after])
    assert [(seq, message) for seq, _, message in _read(directory)][2:] == [(3, after)]


async def test_one_writer_at_a_time_and_no_cut_under_a_running_writer(tmp_path: Path) -> None:
    async with open_journal(tmp_path, SESSION) as journal:
        journal.append(Heartbeat(ts=1, actor="a"), 1)
        with pytest.raises(JournalLockedError, match="held by a running writer"):
            async with open_journal(tmp_path, SESSION):
                pass
        with pytest.raises(JournalLockedError):
            truncate_torn_tail(tmp_path / SESSION)
    async with open_journal(tmp_path, SESSION) as journal:
        assert journal.append(Heartbeat(ts=2, actor="b"), 2) == 2


def test_a_journal_written_by_a_newer_format_is_not_appended_to(tmp_path: Path) -> None:
    directory = write_journal(tmp_path, heartbeats(2))
    (segment,) = segments(directory)
    raw_header(segment, {"format": JOURNAL_FORMAT + 1})
    with pytest.raises(JournalVersionError, match=re.escape(str(segment))):
        write_journal(tmp_path, heartbeats(1, 3))


def test_session_names_must_be_plain_directory_names(tmp_path: Path) -> None:
    for session in ("", "..", "a/b"):
        with pytest.raises(ValueError, match="plain directory name"):
            JournalWriter(tmp_path, session)
