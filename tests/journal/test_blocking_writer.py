"""The blocking writer the deterministic scheduler journals through: batches, roll, failure."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from actors.messages import Heartbeat
from journal import JournalReader, JournalWriteError
from journal.errors import JournalClosedError, JournalLockedError
from journal.writer import BlockingJournalWriter
from tests.journal.conftest import SESSION, heartbeats, is_segment_fd, segments


def _seqs(directory: Path) -> list[int]:
    return [record.seq for record in JournalReader(directory)]


def test_a_batch_is_written_and_fsynced_when_it_is_full(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_fsync = os.fsync
    fsyncs: list[int] = []

    def counting_fsync(fd: int) -> None:
        if is_segment_fd(fd):
            fsyncs.append(fd)
        real_fsync(fd)

    with BlockingJournalWriter(tmp_path, SESSION, max_batch_frames=4) as writer:
        monkeypatch.setattr(os, "fsync", counting_fsync)
        for message in heartbeats(9):
            writer.append(message, message.ts)
        assert (writer.durable_seq, len(fsyncs)) == (8, 2)  # two full batches, one queued
        assert _seqs(tmp_path / SESSION) == list(range(1, 9))
    assert len(fsyncs) == 3  # close committed the ninth
    assert _seqs(tmp_path / SESSION) == list(range(1, 10))


def test_commit_makes_every_appended_seq_durable(tmp_path: Path) -> None:
    with BlockingJournalWriter(tmp_path, SESSION) as writer:
        seq = writer.append(Heartbeat(ts=5, actor="a"), 5)
        assert writer.durable_seq == 0
        writer.commit()
        assert writer.durable_seq == seq == 1
        assert writer.last_crc != 0


def test_a_reopened_journal_continues_after_its_last_seq(tmp_path: Path) -> None:
    for start in (1, 4):
        with BlockingJournalWriter(tmp_path, SESSION) as writer:
            for message in heartbeats(3, start):
                writer.append(message, message.ts)
    assert _seqs(tmp_path / SESSION) == list(range(1, 7))
    assert len(segments(tmp_path / SESSION)) == 2


def test_segments_roll_by_size(tmp_path: Path) -> None:
    with BlockingJournalWriter(tmp_path, SESSION, segment_bytes=200, max_batch_frames=2) as w:
        for message in heartbeats(20):
            w.append(message, message.ts)
    assert len(segments(tmp_path / SESSION)) > 3
    assert _seqs(tmp_path / SESSION) == list(range(1, 21))


def test_a_full_disk_fails_the_journal_for_good_and_names_file_and_seqs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_write = os.write

    def full_disk(fd: int, data: bytes) -> int:
        if is_segment_fd(fd):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    writer = BlockingJournalWriter(tmp_path, SESSION, max_batch_frames=100)
    writer.open()
    writer.append(Heartbeat(ts=1, actor="a"), 1)
    writer.commit()
    monkeypatch.setattr(os, "write", full_disk)
    writer.append(Heartbeat(ts=2, actor="b"), 2)
    writer.append(Heartbeat(ts=3, actor="c"), 3)
    with pytest.raises(JournalWriteError) as info:
        writer.commit()
    (segment,) = segments(tmp_path / SESSION)
    assert (info.value.file, info.value.first_seq, info.value.last_seq) == (segment, 2, 3)
    assert "No space left on device" in str(info.value)
    with pytest.raises(JournalWriteError):
        writer.append(Heartbeat(ts=4, actor="d"), 4)
    with pytest.raises(JournalWriteError):
        writer.commit()
    monkeypatch.setattr(os, "write", real_write)
    writer.close()
    assert writer.statistics().failed
    assert _seqs(tmp_path / SESSION) == [1]  # what was durable stays; nothing after it


def test_appends_before_open_or_after_close_are_refused(tmp_path: Path) -> None:
    writer = BlockingJournalWriter(tmp_path, SESSION)
    with pytest.raises(JournalClosedError):
        writer.append(Heartbeat(ts=1, actor="a"), 1)
    writer.open()
    writer.close()
    with pytest.raises(JournalClosedError):
        writer.append(Heartbeat(ts=1, actor="a"), 1)


def test_one_writer_per_session(tmp_path: Path) -> None:
    with BlockingJournalWriter(tmp_path, SESSION), pytest.raises(JournalLockedError):
        BlockingJournalWriter(tmp_path, SESSION).open()
