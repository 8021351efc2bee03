"""Reading sessions for a person: the quick summary, the full inspection, the last records,
and following a journal while a writer appends to it."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import msgspec
import pytest

import journal.sessions
from actors.messages import Heartbeat, Message
from journal import JournalCorruptError, truncate_torn_tail
from journal.frames import JournalRecord, encode_frame
from journal.schema import CATALOG_SHAPE
from journal.sessions import (
    JournalFollower,
    UnknownSessionError,
    inspect_session,
    recent_records,
    session_directory,
    session_names,
    summarize_session,
    writer_holds,
)
from journal.snapshots import SNAPSHOT_FORMAT, SessionSnapshot, write_snapshot
from journal.writer import BlockingJournalWriter
from tests.journal.conftest import SESSION, frame_offsets, heartbeats, rewrite_header, segments

CLOCK = 1_704_067_200_000_000_000  # 2024-01-01T00:00:00Z
DEADLINE_SECONDS = 20.0


def write(root: Path, messages: list[Message], session: str = SESSION, **options: Any) -> Path:
    """Append ``messages`` in one writer run at clock times CLOCK + seq."""
    with BlockingJournalWriter(root, session, **options) as writer:
        for message in messages:
            writer.append(message, CLOCK + writer.last_seq + 1)
    return root / session


def several_segments(root: Path, runs: int = 3, per_run: int = 4) -> Path:
    """A journal of ``runs`` writer runs of ``per_run`` heartbeats: a segment each."""
    for run in range(runs):
        write(root, heartbeats(per_run, run * per_run + 1))
    return root / SESSION


def flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


def cut_last_frame(directory: Path) -> Path:
    """Tear the last frame of the last segment, as a crash mid-write does."""
    segment = segments(directory)[-1]
    segment.write_bytes(segment.read_bytes()[:-3])
    return segment


def snapshot(directory: Path, seq: int, states: tuple[str, ...] = ("risk", "clock")) -> Path:
    raw = {name: msgspec.Raw(msgspec.msgpack.encode({"name": name})) for name in states}
    return write_snapshot(
        directory,
        SessionSnapshot(
            format=SNAPSHOT_FORMAT,
            session=directory.name,
            seq=seq,
            ts=CLOCK + seq,
            record_crc=0,
            states=raw,
        ),
    )


# --- sessions and the quick summary ---------------------------------------------------------


def test_sessions_are_the_directories_of_the_journal_root(tmp_path: Path) -> None:
    write(tmp_path, heartbeats(1), session="b")
    write(tmp_path, heartbeats(1), session="a")
    (tmp_path / ".hidden").mkdir()
    (tmp_path / "stray.txt").write_text("x")
    assert session_names(tmp_path) == ["a", "b"]
    assert session_names(tmp_path / "absent") == []
    assert session_directory(tmp_path, "a") == tmp_path / "a"
    with pytest.raises(UnknownSessionError, match=r"no journal session 'c' .*known sessions: a, b"):
        session_directory(tmp_path, "c")


def test_a_summary_reads_seqs_times_size_and_snapshot(tmp_path: Path) -> None:
    directory = several_segments(tmp_path)
    snapshot(directory, 8)

    summary = summarize_session(directory)

    size = sum(path.stat().st_size for path in directory.rglob("*") if path.is_file())
    assert (summary.session, summary.segments, summary.last_seq) == (SESSION, 3, 12)
    assert (summary.first_ts, summary.last_ts) == (CLOCK + 1, CLOCK + 12)
    assert (summary.bytes, summary.snapshot_seq, summary.state) == (size, 8, "ok")


def test_a_summary_finds_the_last_record_in_the_segment_before_an_empty_last_one(
    tmp_path: Path,
) -> None:
    directory = write(tmp_path, heartbeats(5), segment_bytes=1)  # rolls after the commit
    assert len(segments(directory)) == 2
    summary = summarize_session(directory)
    assert (summary.last_seq, summary.last_ts, summary.state) == (5, CLOCK + 5, "ok")


def test_a_summary_says_empty_open_torn_corrupt_or_newer(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    assert summarize_session(tmp_path / "empty").state == "empty"

    torn = write(tmp_path, heartbeats(5), session="torn")
    cut_last_frame(torn)
    assert summarize_session(torn).state == "torn tail at seq 5"
    assert summarize_session(torn).last_seq == 4

    corrupt = write(tmp_path, heartbeats(5), session="corrupt")
    (segment,) = segments(corrupt)
    offsets = frame_offsets(segment)
    flip(segment, offsets[1] + 9)
    state = summarize_session(corrupt).state
    assert summarize_session(corrupt).last_seq is None
    assert state.startswith("corrupt: frame fails its CRC, followed by an intact frame")
    assert state.endswith(f"({segment.name} byte {offsets[1]})")

    newer = write(tmp_path, heartbeats(2), session="newer")
    rewrite_header(segments(newer)[0], catalog={**CATALOG_SHAPE, "Liquidation": ("ts",)})
    assert summarize_session(newer).state.startswith("newer build: written by a newer message")

    with BlockingJournalWriter(tmp_path, "live") as writer:
        writer.append(Heartbeat(ts=1, actor="a"), CLOCK)
        writer.commit()
        assert writer_holds(tmp_path / "live")
        assert summarize_session(tmp_path / "live").state == "open"
    assert not writer_holds(tmp_path / "live")
    assert summarize_session(tmp_path / "live").state == "ok"


def test_probing_for_a_writer_leaves_the_lock_free_for_one(tmp_path: Path) -> None:
    directory = write(tmp_path, heartbeats(2))
    summarize_session(directory)
    inspect_session(directory)
    with BlockingJournalWriter(tmp_path, SESSION) as writer:
        assert writer.last_seq == 2


# --- the full inspection ---------------------------------------------------------------------


def test_an_inspection_lists_segments_times_catalog_snapshots_and_recovery(tmp_path: Path) -> None:
    directory = several_segments(tmp_path)
    snapshot(directory, 4, ("risk",))
    snapshot(directory, 8, ("risk", "order_manager"))
    (directory / "config.toml").write_text("[strategy]\nname = 'sma_cross'\n")
    report = {"session": SESSION, "snapshot_seq": 8, "replayed_frames": 4, "torn_tail": None}
    (directory / "recovery.json").write_text(json.dumps(report))

    inspection = inspect_session(directory)

    files = segments(directory)
    assert [(s.file, s.first_seq, s.last_seq, s.frames) for s in inspection.segments] == [
        (files[0].name, 1, 4, 4),
        (files[1].name, 5, 8, 4),
        (files[2].name, 9, 12, 4),
    ]
    assert [s.bytes for s in inspection.segments] == [f.stat().st_size for f in files]
    assert (inspection.records, inspection.first_ts, inspection.last_ts) == (
        12,
        CLOCK + 1,
        CLOCK + 12,
    )
    assert (inspection.problem, inspection.torn_tail, inspection.open) == (None, None, False)
    assert inspection.catalog == "this build's"
    assert [(s.seq, s.ts, s.actors, s.problem) for s in inspection.snapshots] == [
        (4, CLOCK + 4, ("risk",), None),
        (8, CLOCK + 8, ("order_manager", "risk"), None),
    ]
    assert inspection.config == str(directory / "config.toml")
    assert (inspection.recovery, inspection.recovery_problem) == (report, None)


def test_an_inspection_without_the_optional_files(tmp_path: Path) -> None:
    inspection = inspect_session(write(tmp_path, heartbeats(1)))
    assert (inspection.snapshots, inspection.config, inspection.recovery) == ((), None, None)
    assert inspection.recovery_problem is None


def test_an_inspection_reports_a_missing_middle_segment_and_what_was_not_read(
    tmp_path: Path,
) -> None:
    directory = several_segments(tmp_path, runs=4)
    first, second, third, fourth = segments(directory)
    second.unlink()

    inspection = inspect_session(directory)

    assert inspection.problem is not None
    assert "a segment is missing" in inspection.problem
    assert f"{third}: journal corrupt at byte 0 (last good seq 4)" in inspection.problem
    assert [(s.file, s.last_seq, s.frames, s.problem) for s in inspection.segments] == [
        (first.name, 4, 4, None),
        (
            third.name,
            None,
            0,
            "corrupt at byte 0: segment starts at seq 9, but the previous one ends at seq 4: "
            "a segment is missing",
        ),
        (fourth.name, None, None, "not read"),
    ]
    assert inspection.records == 4


def test_an_inspection_reports_a_flipped_byte_with_the_frames_before_it(tmp_path: Path) -> None:
    directory = several_segments(tmp_path)
    second = segments(directory)[1]
    offsets = frame_offsets(second)
    flip(second, offsets[2] + 9)  # the frame of seq 7

    inspection = inspect_session(directory)

    assert inspection.problem is not None
    assert f"{second}: journal corrupt at byte {offsets[2]} (last good seq 6)" in inspection.problem
    assert [(s.last_seq, s.frames) for s in inspection.segments] == [(4, 4), (6, 2), (None, None)]
    assert inspection.segments[2].problem == "not read"
    assert (inspection.records, inspection.last_ts, inspection.torn_tail) == (6, CLOCK + 6, None)


def test_an_inspection_reports_a_torn_tail(tmp_path: Path) -> None:
    directory = write(tmp_path, heartbeats(4))
    segment = cut_last_frame(directory)
    inspection = inspect_session(directory)
    assert inspection.torn_tail is not None
    assert (inspection.torn_tail.file, inspection.torn_tail.seq) == (str(segment), 4)
    assert (inspection.records, inspection.problem) == (3, None)


def test_an_inspection_of_a_newer_journal_reports_it_and_reads_nothing(tmp_path: Path) -> None:
    directory = several_segments(tmp_path)
    last = segments(directory)[-1]
    rewrite_header(last, catalog={**CATALOG_SHAPE, "Heartbeat": ("ts", "actor", "load")})

    inspection = inspect_session(directory)

    assert inspection.catalog.startswith("newer than this build: written by a newer message")
    assert "Heartbeat.load" in inspection.catalog
    assert inspection.problem is not None and "upgrade tickdeck" in inspection.problem
    assert [s.problem for s in inspection.segments][:2] == ["not read", "not read"]
    assert inspection.records == 0


def test_an_older_catalog_is_readable_and_said_so(tmp_path: Path) -> None:
    directory = write(tmp_path, heartbeats(2))
    older = {name: fields for name, fields in CATALOG_SHAPE.items() if name != "QueryOrder"}
    rewrite_header(segments(directory)[0], catalog=older)
    inspection = inspect_session(directory)
    assert (
        inspection.catalog == "older than this build, readable (this build adds 1 types or fields)"
    )
    assert inspection.records == 2


def test_an_unusable_snapshot_or_recovery_report_is_reported_not_raised(tmp_path: Path) -> None:
    directory = write(tmp_path, heartbeats(3))
    damaged = snapshot(directory, 2)
    damaged.write_bytes(damaged.read_bytes()[:-1])
    (directory / "recovery.json").write_text("{not json")

    inspection = inspect_session(directory)

    (info,) = inspection.snapshots
    assert info.problem is not None and info.problem.startswith("damaged")
    assert inspection.recovery is None
    assert inspection.recovery_problem is not None
    assert "recovery.json does not read" in inspection.recovery_problem


# --- the last records -------------------------------------------------------------------------


def test_the_last_records_are_the_last_n(tmp_path: Path) -> None:
    directory = several_segments(tmp_path)
    recent = recent_records(directory, 3)
    assert [record.seq for record in recent.records] == [10, 11, 12]
    assert (recent.last_seq, recent.torn_tail, recent.error) == (12, None, None)
    assert recent_records(directory, 0).records == ()


def test_corruption_ends_the_last_records_at_the_damage(tmp_path: Path) -> None:
    directory = write(tmp_path, heartbeats(8))
    (segment,) = segments(directory)
    offsets = frame_offsets(segment)
    flip(segment, offsets[5] + 9)  # seq 6
    recent = recent_records(directory, 3)
    assert [record.seq for record in recent.records] == [3, 4, 5]
    assert recent.error is not None
    assert (recent.error.offset, recent.error.last_good_seq, recent.last_seq) == (offsets[5], 5, 5)


# --- following a live journal ----------------------------------------------------------------


def poll_until(follower: JournalFollower, last_seq: int) -> list[JournalRecord]:
    records: list[JournalRecord] = []
    deadline = time.monotonic() + DEADLINE_SECONDS
    while follower.last_seq < last_seq:
        assert time.monotonic() < deadline, f"stuck at seq {follower.last_seq}"
        records.extend(follower.poll())
        time.sleep(0.001)
    return records


def test_the_follower_reads_what_a_writer_appends_across_new_segments(tmp_path: Path) -> None:
    directory = write(tmp_path, heartbeats(3))
    follower = JournalFollower(directory, after_seq=3)
    assert follower.poll() == []

    def append() -> None:
        with BlockingJournalWriter(tmp_path, SESSION, segment_bytes=400) as writer:
            for message in heartbeats(300, start=4):
                writer.append(message, CLOCK + message.ts)
                if message.ts % 7 == 0:
                    writer.commit()
                    time.sleep(0.0005)

    writer = threading.Thread(target=append)
    writer.start()
    records = poll_until(follower, 303)
    writer.join()

    assert len(segments(directory)) > 10
    assert [record.seq for record in records] == list(range(4, 304))
    assert [record.message for record in records] == heartbeats(300, start=4)
    assert follower.poll() == []


def test_the_follower_waits_for_a_frame_being_written(tmp_path: Path) -> None:
    directory = write(tmp_path, heartbeats(2))
    (segment,) = segments(directory)
    follower = JournalFollower(directory, after_seq=2)
    frame = encode_frame(3, CLOCK + 3, Heartbeat(ts=3, actor="actor-3"))

    with segment.open("ab") as file:
        file.write(frame[:5])
        file.flush()
        assert follower.poll() == []
        file.write(frame[5:-1])
        file.flush()
        assert follower.poll() == []
        file.write(frame[-1:])
    assert [record.seq for record in follower.poll()] == [3]


def test_the_follower_waits_at_a_torn_tail_and_goes_on_after_recovery(tmp_path: Path) -> None:
    directory = write(tmp_path, heartbeats(5))
    cut_last_frame(directory)
    follower = JournalFollower(directory, after_seq=4)
    assert follower.poll() == []

    truncate_torn_tail(directory)
    write(tmp_path, heartbeats(3, start=105))

    records = follower.poll()
    assert [(record.seq, record.message.ts) for record in records] == [(5, 105), (6, 106), (7, 107)]


def test_the_follower_follows_an_empty_segment_replaced_by_the_next_writer(tmp_path: Path) -> None:
    write(tmp_path, heartbeats(3))
    directory = write(tmp_path, [])  # a run that appended nothing: an empty segment at seq 4
    assert len(segments(directory)) == 2
    follower = JournalFollower(directory, after_seq=3)
    assert follower.poll() == []

    write(tmp_path, heartbeats(2, start=4), segment_bytes=1 << 20)  # replaces that segment

    assert [record.seq for record in follower.poll()] == [4, 5]


def test_the_follower_starts_before_the_first_segment_exists(tmp_path: Path) -> None:
    (tmp_path / SESSION).mkdir()
    follower = JournalFollower(tmp_path / SESSION, after_seq=0)
    assert follower.poll() == []
    write(tmp_path, heartbeats(2))
    assert [record.seq for record in follower.poll()] == [1, 2]


def test_bytes_left_in_a_finished_segment_are_corruption(tmp_path: Path) -> None:
    directory = several_segments(tmp_path, runs=2)
    first, second = segments(directory)
    follower = JournalFollower(directory, after_seq=2)
    size = first.stat().st_size
    with first.open("ab") as file:
        file.write(b"\x01\x02\x03")

    # The records before the damage come first; the damage is raised by the next poll.
    assert [record.seq for record in follower.poll()] == [3, 4]
    with pytest.raises(JournalCorruptError, match="3 bytes that are no whole frame") as info:
        follower.poll()
    assert (info.value.file, info.value.offset, info.value.last_good_seq) == (first, size, 4)
    assert f"goes on in {second.name}" in info.value.reason


def test_an_appended_frame_with_the_wrong_seq_is_corruption(tmp_path: Path) -> None:
    directory = write(tmp_path, heartbeats(2))
    (segment,) = segments(directory)
    follower = JournalFollower(directory, after_seq=2)
    size = segment.stat().st_size
    with segment.open("ab") as file:
        file.write(encode_frame(9, CLOCK, Heartbeat(ts=9, actor="x")))
    with pytest.raises(JournalCorruptError, match="frame holds seq 9, not 3") as info:
        follower.poll()
    assert info.value.offset == size


def test_a_batch_being_written_is_not_called_a_torn_tail_while_the_writer_holds_it(
    tmp_path: Path,
) -> None:
    with BlockingJournalWriter(tmp_path, SESSION) as writer:
        writer.append(Heartbeat(ts=1, actor="a"), CLOCK)
        writer.commit()
        directory = tmp_path / SESSION
        segment = segments(directory)[-1]
        with segment.open("ab") as file:  # half a frame, as a write in progress leaves it
            file.write(encode_frame(2, CLOCK, Heartbeat(ts=2, actor="a"))[:7])
        inspection = inspect_session(directory)
        assert (inspection.open, inspection.torn_tail, inspection.records) == (True, None, 1)
        assert summarize_session(directory).state == "open"
        segment.write_bytes(segment.read_bytes()[:-7])


def test_the_follower_reads_in_bounded_chunks_and_polls(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(journal.sessions, "_READ_BYTES", 37)  # frames straddle every chunk
    messages: list[Message] = [
        Heartbeat(ts=seq, actor="a" * (seq % 3) * 40) for seq in range(1, 151)
    ]
    write(tmp_path, messages[:60], segment_bytes=1500, max_batch_frames=10)
    directory = write(tmp_path, messages[60:], segment_bytes=1500, max_batch_frames=10)
    assert len(segments(directory)) > 3
    follower = JournalFollower(directory, after_seq=0, max_records=7)

    polls = []
    while batch := follower.poll():
        polls.append(batch)

    assert all(len(batch) <= 7 for batch in polls)
    assert [record.message for batch in polls for record in batch] == messages
