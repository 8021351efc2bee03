"""Recovery of a real backtest session: the newest snapshot that agrees with the frames, the
frames after it replayed through the actors, and every disagreement refused by name."""

from __future__ import annotations

import shutil
from pathlib import Path

import msgspec
import pytest

from actors.messages import BarUpdate, Fill, Message
from app.backtest import BacktestSession, build_backtest, run_backtest
from app.settings import Settings
from journal import JournalReader
from journal.frames import FRAME_HEADER, encode_frame
from journal.recovery import RecoveryReport, ReplayDivergenceError, recover
from journal.segments import list_segments, read_header
from journal.snapshots import list_snapshots, read_snapshot, write_snapshot
from tests.e2e.conftest import backtest_settings, write_lake

SESSION = "s"


@pytest.fixture(scope="module")
def journaled(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, Path]:
    """A finished journaled backtest of two days, snapshots every 2000 messages."""
    data_dir = write_lake(tmp_path_factory.mktemp("recovery"), days=2)
    overrides = {"backtest.journal": True, "journal.snapshot_every": 2000}
    settings = backtest_settings(data_dir, overrides, days=2)
    run_backtest(settings, write=False, session_name=SESSION)
    return settings, data_dir / "journal" / SESSION


def _copy(journal_dir: Path, tmp_path: Path) -> Path:
    copy = tmp_path / SESSION
    shutil.copytree(journal_dir, copy)
    return copy


def _state(session: BacktestSession) -> tuple[tuple[str, bytes], ...]:
    actors = session.bus.actors
    return tuple((name, msgspec.msgpack.encode(actor.snapshot())) for name, actor in actors.items())


def _recover(settings: Settings, directory: Path) -> tuple[BacktestSession, RecoveryReport]:
    session = build_backtest(settings)

    def on_source(message: Message) -> None:
        if isinstance(message, BarUpdate):
            session.feed.mark_emitted(message)

    return session, recover(directory, SESSION, session.scheduler, on_source=on_source)


def test_recovery_from_each_snapshot_reaches_the_same_state(
    journaled: tuple[Settings, Path], tmp_path: Path
) -> None:
    settings, journal_dir = journaled
    snapshots = list_snapshots(journal_dir)
    assert len(snapshots) >= 2
    states = []
    for kept in range(len(snapshots) + 1):  # the newest, then older ones, then none
        directory = _copy(journal_dir, tmp_path / str(kept))
        for _, path in list_snapshots(directory)[len(snapshots) - kept :]:
            path.unlink()
        session, report = _recover(settings, directory)
        assert report.last_seq == sum(1 for _ in JournalReader(directory))
        assert report.refused_snapshots == []
        states.append(_state(session))
    first, *others = states
    for other in others:
        assert [name for (name, a), (_, b) in zip(first, other, strict=True) if a != b] == []


def test_a_snapshot_that_disagrees_with_the_frames_is_refused_and_an_older_one_used(
    journaled: tuple[Settings, Path], tmp_path: Path
) -> None:
    settings, journal_dir = journaled
    directory = _copy(journal_dir, tmp_path)
    (older_seq, _), (newest_seq, newest) = list_snapshots(directory)[-2:]
    forged = msgspec.structs.replace(read_snapshot(newest), record_crc=12345)
    write_snapshot(directory, forged)
    session = build_backtest(settings)
    report = recover(directory, SESSION, session.scheduler)
    assert report.snapshot_seq == older_seq
    (refusal,) = report.refused_snapshots
    assert str(newest) in refusal
    assert f"disagrees with the journal at seq {newest_seq}" in refusal


def test_a_snapshot_beyond_the_end_of_the_journal_is_refused(
    journaled: tuple[Settings, Path], tmp_path: Path
) -> None:
    settings, journal_dir = journaled
    directory = _copy(journal_dir, tmp_path)
    _, newest = list_snapshots(directory)[-1]
    snapshot = read_snapshot(newest)
    ahead = msgspec.structs.replace(snapshot, seq=snapshot.seq + 50)
    write_snapshot(directory, ahead)
    report = recover(directory, SESSION, build_backtest(settings).scheduler)
    assert report.snapshot_seq == snapshot.seq
    assert any("beyond the journal's end" in refusal for refusal in report.refused_snapshots)


def test_a_journaled_message_the_actors_do_not_reproduce_is_a_divergence_named_by_seq(
    journaled: tuple[Settings, Path], tmp_path: Path
) -> None:
    settings, journal_dir = journaled
    directory = _copy(journal_dir, tmp_path)
    for _, path in list_snapshots(directory):
        path.unlink()
    first_seq, segment = list_segments(directory)[0]
    _, pos = read_header(segment, first_seq, 0)
    data = bytearray(segment.read_bytes())
    seq = first_seq
    while True:  # the first Fill: rewrite it at another price, as a valid frame
        length, _ = FRAME_HEADER.unpack_from(data, pos)
        end = pos + FRAME_HEADER.size + length
        record = next(r for r in JournalReader(directory) if r.seq == seq)
        if isinstance(record.message, Fill):
            fake = msgspec.structs.replace(record.message, price=record.message.price + 1)
            data[pos:end] = encode_frame(seq, record.ts, fake)
            break
        pos, seq = end, seq + 1
    segment.write_bytes(bytes(data))
    with pytest.raises(ReplayDivergenceError, match=f"replay diverges at seq {seq}") as info:
        recover(directory, SESSION, build_backtest(settings).scheduler)
    assert info.value.expected == fake
