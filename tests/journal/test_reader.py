"""Reading back: records in order, torn tails told from corruption, and the cut."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import anyio
import msgspec
import pytest
import structlog
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from actors.messages import Bar, Fill, Heartbeat, Message, Side, VenueSnapshot
from journal import (
    JournalCorruptError,
    JournalReader,
    JournalRecord,
    JournalVersionError,
    TornTail,
    inspect_tail,
    open_journal,
    truncate_torn_tail,
)
from journal.schema import CATALOG_SHAPE
from tests.journal.conftest import (
    SESSION,
    frame_of,
    frame_offsets,
    heartbeats,
    rewrite_header,
    segments,
    write_journal,
)


def _append_after_recovery(directory: Path, count: int) -> list[int]:
    async def append() -> list[int]:
        async with open_journal(directory.parent, directory.name) as journal:
            return [journal.append(message, message.ts) for message in heartbeats(count, 1000)]

    return anyio.run(append)


def _multi_segment(tmp_path: Path, batches: int = 4, per_batch: int = 5) -> Path:
    """A journal of several segments: one batch of ``per_batch`` heartbeats each."""
    for batch in range(batches):
        write_journal(tmp_path, heartbeats(per_batch, batch * per_batch + 1), segment_bytes=1)
    return tmp_path / SESSION


def test_records_come_back_in_seq_order_across_segments(tmp_path: Path) -> None:
    directory = _multi_segment(tmp_path)
    reader = JournalReader(directory)
    records = list(reader)
    assert len(segments(directory)) >= 4
    assert records == [JournalRecord(m.ts, m.ts, m) for m in heartbeats(20)]
    assert (reader.last_seq, reader.torn_tail) == (20, None)


def test_an_empty_or_missing_journal(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    assert list(JournalReader(tmp_path / "empty")) == []
    assert inspect_tail(tmp_path / "empty") is None
    assert truncate_torn_tail(tmp_path / "empty") is None
    with pytest.raises(FileNotFoundError):
        list(JournalReader(tmp_path / "absent"))


def test_torn_tail_at_every_byte_of_the_last_frame_is_cut_and_reported(tmp_path: Path) -> None:
    pristine = write_journal(tmp_path / "pristine", heartbeats(5))
    (segment,) = segments(pristine)
    offsets = frame_offsets(segment)
    last_frame, end = offsets[-2], offsets[-1]
    data = segment.read_bytes()
    for cut in range(last_frame, end):
        directory = tmp_path / f"cut-{cut}" / SESSION
        shutil.copytree(pristine, directory)
        torn_segment = directory / segment.name
        torn_segment.write_bytes(data[:cut])

        reader = JournalReader(directory)
        assert [r.seq for r in reader] == [1, 2, 3, 4]
        expected = None
        if cut > last_frame:
            expected = TornTail(
                file=str(torn_segment), offset=last_frame, seq=5, bytes_cut=cut - last_frame
            )
        assert reader.torn_tail == expected

        assert truncate_torn_tail(directory) == expected
        assert torn_segment.stat().st_size == last_frame
        assert truncate_torn_tail(directory) is None
        assert _append_after_recovery(directory, 2) == [5, 6]
        assert [r.seq for r in JournalReader(directory)] == [1, 2, 3, 4, 5, 6]


def test_truncation_is_logged_with_the_report(tmp_path: Path) -> None:
    directory = write_journal(tmp_path, heartbeats(3))
    (segment,) = segments(directory)
    segment.write_bytes(segment.read_bytes()[:-3])
    with structlog.testing.capture_logs() as logs:
        torn = truncate_torn_tail(directory)
    assert torn is not None
    assert logs == [
        {
            "event": "journal.torn_tail_truncated",
            "log_level": "warning",
            "file": str(segment),
            "offset": torn.offset,
            "seq": 3,
            "bytes_cut": torn.bytes_cut,
        }
    ]


def test_a_zero_filled_tail_is_torn(tmp_path: Path) -> None:
    """After a crash a file may have grown with blocks that were never written: zeros."""
    directory = write_journal(tmp_path, heartbeats(3))
    (segment,) = segments(directory)
    end = segment.stat().st_size
    with segment.open("ab") as file:
        file.write(bytes(8192))
    torn = truncate_torn_tail(directory)
    assert torn == TornTail(file=str(segment), offset=end, seq=4, bytes_cut=8192)
    assert [r.seq for r in JournalReader(directory)] == [1, 2, 3]


def test_a_flipped_byte_in_a_middle_frame_is_corruption_naming_file_and_offset(
    tmp_path: Path,
) -> None:
    directory = write_journal(tmp_path, heartbeats(6))
    (segment,) = segments(directory)
    offsets = frame_offsets(segment)
    start, end = offsets[2], offsets[3]  # the frame of seq 3
    data = segment.read_bytes()
    for index in range(start, end):
        segment.write_bytes(data[:index] + bytes([data[index] ^ 0xFF]) + data[index + 1 :])
        with pytest.raises(JournalCorruptError) as info:
            list(JournalReader(directory))
        error = info.value
        assert (error.file, error.offset, error.last_good_seq) == (segment, start, 2), index
        assert f"followed by an intact frame at byte {end}" in error.reason
        assert f"{segment}: journal corrupt at byte {start} (last good seq 2)" in str(error)
        with pytest.raises(JournalCorruptError):
            truncate_torn_tail(directory)
    segment.write_bytes(data)
    assert len(list(JournalReader(directory))) == 6


def test_garbage_then_an_intact_frame_at_the_end_is_corruption(tmp_path: Path) -> None:
    directory = write_journal(tmp_path, heartbeats(2))
    (segment,) = segments(directory)
    end = segment.stat().st_size
    stray = frame_of(msgspec.msgpack.encode([3, 3, {"type": "Heartbeat", "ts": 3, "actor": "x"}]))
    with segment.open("ab") as file:
        file.write(b"\x07garbage" + stray)
    with pytest.raises(JournalCorruptError, match=f"intact frame at byte {end + 8}") as info:
        list(JournalReader(directory))
    assert info.value.offset == end


def test_a_bad_frame_in_a_segment_that_is_not_the_last_is_corruption(tmp_path: Path) -> None:
    directory = _multi_segment(tmp_path)
    first = segments(directory)[0]
    first.write_bytes(first.read_bytes()[:-1])  # cut its last frame, seq 5
    with pytest.raises(JournalCorruptError, match="not the last") as info:
        list(JournalReader(directory))
    assert (info.value.file, info.value.last_good_seq) == (first, 4)


def test_a_missing_middle_segment_is_corruption(tmp_path: Path) -> None:
    directory = _multi_segment(tmp_path)
    _, second, third, *_ = segments(directory)
    second.unlink()
    reader = JournalReader(directory)
    with pytest.raises(JournalCorruptError, match="a segment is missing") as info:
        for _ in reader:
            pass
    assert (info.value.file, info.value.offset, info.value.last_good_seq) == (third, 0, 5)
    assert reader.last_seq == 5


def test_a_missing_first_segment_is_corruption(tmp_path: Path) -> None:
    directory = _multi_segment(tmp_path)
    segments(directory)[0].unlink()
    with pytest.raises(JournalCorruptError, match="earlier segments are missing"):
        list(JournalReader(directory))


def test_an_intact_frame_with_the_wrong_seq_is_corruption(tmp_path: Path) -> None:
    directory = write_journal(tmp_path, heartbeats(3))
    (segment,) = segments(directory)
    offsets = frame_offsets(segment)
    data = segment.read_bytes()
    segment.write_bytes(data + data[offsets[2] : offsets[3]])  # seq 3 again, as seq 4
    with pytest.raises(JournalCorruptError, match="frame holds seq 3, not 4") as info:
        list(JournalReader(directory))
    assert info.value.offset == offsets[3]


def test_an_intact_frame_that_does_not_decode_is_corruption_even_at_the_end(
    tmp_path: Path,
) -> None:
    directory = write_journal(tmp_path, heartbeats(1))
    (segment,) = segments(directory)
    end = segment.stat().st_size
    alien = msgspec.msgpack.encode([2, 2, {"type": "Heartbeat", "ts": 2, "actor": 5}])
    with segment.open("ab") as file:
        file.write(frame_of(alien))
    with pytest.raises(JournalCorruptError, match=r"does not decode: Expected `str`, got `int`"):
        list(JournalReader(directory))
    assert truncate_torn_tail(directory) is None  # a frame whose CRC checks is never torn
    assert segment.stat().st_size == end + len(frame_of(alien))


def test_a_segment_of_another_session_is_corruption(tmp_path: Path) -> None:
    directory = _multi_segment(tmp_path)
    rewrite_header(segments(directory)[2], session="other")
    with pytest.raises(JournalCorruptError, match="session 'other'"):
        list(JournalReader(directory))


def test_every_header_is_checked_before_the_first_record(tmp_path: Path) -> None:
    directory = _multi_segment(tmp_path)
    last = segments(directory)[-1]
    rewrite_header(last, catalog={**CATALOG_SHAPE, "Liquidation": ("ts",)})
    seen: list[int] = []
    with pytest.raises(JournalVersionError):
        for record in JournalReader(directory):
            seen.append(record.seq)
    assert seen == []


def test_inspect_tail_reports_where_the_journal_ends(tmp_path: Path) -> None:
    directory = _multi_segment(tmp_path)
    tail = inspect_tail(directory)
    assert tail is not None
    assert (tail.file, tail.last_seq, tail.torn_tail) == (str(segments(directory)[-1]), 20, None)
    assert tail.header.session == SESSION


_text = st.text(max_size=24)
_decimal = st.decimals(
    allow_nan=False, allow_infinity=False, places=8, min_value=-(10**12), max_value=10**12
)
_float = st.floats(allow_nan=False, allow_infinity=False)
_ts = st.integers(min_value=0, max_value=2**63 - 1)
_message = st.one_of(
    st.builds(Heartbeat, ts=_ts, actor=_text),
    st.builds(
        Bar, ts=_ts, symbol=_text, interval=st.just("1m"), start=_ts, open=_float, high=_float,
        low=_float, close=_float, volume=_float, trades=st.integers(0, 10**6), vwap=_float,
    ),
    st.builds(
        Fill, ts=_ts, client_order_id=_text, venue_order_id=_text, trade_id=_text,
        strategy=_text, symbol=_text, side=st.sampled_from(Side), price=_decimal,
        quantity=_decimal, cumulative_quantity=_decimal, fee=_decimal, fee_asset=_text,
    ),
    st.builds(
        VenueSnapshot, ts=_ts, venue=_text,
        balances=st.dictionaries(_text, _decimal, max_size=4),
        trade_ids=st.lists(_text, max_size=30).map(tuple),
    ),
)  # fmt: skip


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    batches=st.lists(st.lists(_message, min_size=1, max_size=8), max_size=8),
    segment_bytes=st.sampled_from([1, 2500, 1 << 26]),
    crash=st.integers(min_value=0, max_value=2**32),
)
def test_a_crash_at_any_byte_reads_back_a_prefix_and_appending_continues(
    batches: list[list[Message]], segment_bytes: int, crash: int
) -> None:
    """Appends in batches (each awaited durable), then a crash cuts the last segment at
    an arbitrary byte after its header (segments are created whole, and earlier
    segments were fsynced before it was created). What reads back is exactly a prefix
    of what was appended; once the tail is cut, the next append gets the next seq."""
    appended = [message for batch in batches for message in batch]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        directory = root / SESSION

        async def write() -> None:
            async with open_journal(root, SESSION, segment_bytes=segment_bytes) as journal:
                for batch in batches:
                    seqs = [journal.append(message, message.ts) for message in batch]
                    await journal.durable(seqs[-1])

        anyio.run(write)
        *earlier, last = segments(directory)
        offsets = frame_offsets(last)
        cut = offsets[0] + crash % (offsets[-1] - offsets[0] + 1)
        last.write_bytes(last.read_bytes()[:cut])

        reader = JournalReader(directory)
        records = list(reader)
        count = len(records)
        assert [(r.seq, r.ts, r.message) for r in records] == [
            (seq, m.ts, m) for seq, m in enumerate(appended[:count], 1)
        ]
        assert count >= sum(len(frame_offsets(path)) - 1 for path in earlier)
        assert (reader.torn_tail is None) == (cut in offsets)

        torn = truncate_torn_tail(directory)
        assert torn == reader.torn_tail
        assert _append_after_recovery(directory, 2) == [count + 1, count + 2]
        assert [r.seq for r in JournalReader(directory)] == list(range(1, count + 3))
