"""``tickdeck journal ls / tail / inspect / export``: real journals read through the command
line; damage is one ``tickdeck: error:`` line naming the file and the seq or offset, and
nothing ever modifies the journal."""

from __future__ import annotations

import csv
import io
import json
import threading
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import pytest

import app.cli_journal
from actors.messages import (
    BarUpdate,
    Fill,
    Heartbeat,
    Message,
    OrderCanceled,
    OrderTicket,
    Side,
    SubmitOrder,
)
from app.cli import main
from journal.schema import CATALOG_SHAPE
from journal.snapshots import SNAPSHOT_FORMAT, SessionSnapshot, write_snapshot
from journal.writer import BlockingJournalWriter
from tests.factories import flat_bar
from tests.journal.conftest import (
    every_message,
    frame_offsets,
    heartbeats,
    rewrite_header,
    segments,
)

CLOCK = 1_704_067_200_000_000_000  # 2024-01-01T00:00:00Z
MINUTE = 60_000_000_000
SESSION = "paper-1"


def write(data: Path, messages: list[Message], session: str = SESSION, **options: Any) -> Path:
    """Append ``messages`` in one writer run, record n at clock time CLOCK + n minutes."""
    with BlockingJournalWriter(data / "journal", session, **options) as writer:
        for message in messages:
            writer.append(message, CLOCK + (writer.last_seq + 1) * MINUTE)
    return data / "journal" / session


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()  # what writing the fixtures logged
    try:
        status = main(list(argv))
    except SystemExit as exit_:
        status = exit_.code if isinstance(exit_.code, int) else 1
    out, err = capsys.readouterr()
    return status, out, err


def flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


def fill() -> Fill:
    return Fill(
        ts=CLOCK + 1, client_order_id="sma.BTCUSDT.1", venue_order_id="17", trade_id="t9",
        strategy="sma_cross", symbol="BTCUSDT", side=Side.BUY, price=Decimal("42000.10"),
        quantity=Decimal("0.00000001"), cumulative_quantity=Decimal("0.00000001"),
        fee=Decimal("0.0042"), fee_asset="USDT",
    )  # fmt: skip


def orders() -> list[Message]:
    ticket = OrderTicket(symbol="BTCUSDT", side=Side.BUY, quantity=Decimal("0.5"))
    return [
        SubmitOrder(ts=CLOCK + MINUTE, client_order_id="c-1", strategy="sma", ticket=ticket),
        fill(),
        BarUpdate(ts=CLOCK + 3 * MINUTE, bar=flat_bar(41999.5, CLOCK + 4 * MINUTE), closed=False),
        OrderCanceled(ts=CLOCK + 4 * MINUTE, client_order_id="c-2", symbol="BTCUSDT",
                      reason="canceled by the operator"),
        Heartbeat(ts=CLOCK + 5 * MINUTE, actor="risk"),
    ]  # fmt: skip


def snapshot(directory: Path, seq: int) -> None:
    states = {name: msgspec.Raw(msgspec.msgpack.encode(name)) for name in ("risk", "clock")}
    write_snapshot(
        directory,
        SessionSnapshot(
            format=SNAPSHOT_FORMAT, session=directory.name, seq=seq,
            ts=CLOCK + seq * MINUTE, record_crc=0, states=states,
        ),
    )  # fmt: skip


# --- ls ---------------------------------------------------------------------------------------


def test_ls_prints_one_line_per_session_with_its_state(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    write(tmp_path, heartbeats(3))
    write(tmp_path, heartbeats(2, start=4))
    snapshot(tmp_path / "journal" / SESSION, 4)
    crashed = write(tmp_path, heartbeats(4), session="crashed")
    (torn,) = segments(crashed)
    torn.write_bytes(torn.read_bytes()[:-2])
    damaged = write(tmp_path, heartbeats(4), session="damaged")
    (segment,) = segments(damaged)
    flip(segment, frame_offsets(segment)[1] + 9)
    (tmp_path / "journal" / "fresh").mkdir()

    status, out, err = run(capsys, "journal", "ls", "--data-dir", str(tmp_path))

    assert (status, err) == (0, "")
    header, *lines = out.splitlines()
    assert header.split() == [
        "session", "segments", "frames", "first", "(UTC)", "last", "(UTC)", "size", "snapshot",
        "state",
    ]  # fmt: skip
    rows = {line.split()[0]: line.split(maxsplit=8) for line in lines}
    assert list(rows) == ["crashed", "damaged", "fresh", SESSION]
    assert rows[SESSION][1:5] == ["2", "5", "2024-01-01T00:01:00Z", "2024-01-01T00:05:00Z"]
    assert rows[SESSION][7:] == ["4", "ok"]
    assert rows["crashed"][1:3] == ["1", "3"]
    assert rows["crashed"][8] == "torn tail at seq 4"
    assert rows["damaged"][2] == "-"  # where it ends is unknown: the scan met the damage
    assert rows["damaged"][8].startswith("corrupt: frame fails its CRC")
    assert f"({segment.name} byte {frame_offsets(segment)[1]})" in rows["damaged"][8]
    assert lines[2].split()[1:5] == ["0", "0", "-", "-"]
    assert lines[2].endswith("  -  empty")


def test_ls_says_open_while_a_writer_holds_a_session(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    with BlockingJournalWriter(tmp_path / "journal", SESSION) as writer:
        writer.append(Heartbeat(ts=1, actor="a"), CLOCK)
        writer.commit()
        status, out, _ = run(capsys, "journal", "ls", "--data-dir", str(tmp_path))
        assert status == 0
        assert out.splitlines()[1].endswith("  open")
        writer.append(Heartbeat(ts=2, actor="a"), CLOCK)  # the probe did not get in its way


def test_ls_without_any_journal(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    status, out, _ = run(capsys, "journal", "ls", "--data-dir", str(tmp_path))
    assert (status, out) == (0, f"no journal sessions under {tmp_path / 'journal'}\n")


# --- tail -------------------------------------------------------------------------------------


def test_tail_prints_the_last_records_one_line_each(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    write(tmp_path, heartbeats(30) + orders())

    status, out, err = run(capsys, "journal", "tail", SESSION, "--data-dir", str(tmp_path))

    assert (status, err) == (0, "")
    lines = out.splitlines()
    assert len(lines) == 20
    assert lines[0].split()[0] == "16"
    assert lines[-5:] == [
        "        31  2024-01-01T00:31:00.000000000Z  SubmitOrder  symbol=BTCUSDT side=BUY "
        "quantity=0.5 client_order_id=c-1 strategy=sma event=2024-01-01T00:01:00.000000000Z",
        "        32  2024-01-01T00:32:00.000000000Z  Fill  symbol=BTCUSDT side=BUY "
        "quantity=0.00000001 price=42000.10 client_order_id=sma.BTCUSDT.1 strategy=sma_cross "
        "venue_order_id=17 trade_id=t9 cumulative_quantity=0.00000001 fee=0.0042 fee_asset=USDT "
        "event=2024-01-01T00:00:00.000000001Z",
        "        33  2024-01-01T00:33:00.000000000Z  BarUpdate  symbol=BTCUSDT interval=1m "
        "start=2024-01-01T00:03:00.000000000Z open=41999.5 high=41999.5 low=41999.5 "
        "close=41999.5 volume=1.0 closed=false event=2024-01-01T00:03:00.000000000Z",
        "        34  2024-01-01T00:34:00.000000000Z  OrderCanceled  symbol=BTCUSDT "
        'client_order_id=c-2 reason="canceled by the operator" '
        "event=2024-01-01T00:04:00.000000000Z",
        "        35  2024-01-01T00:35:00.000000000Z  Heartbeat  actor=risk "
        "event=2024-01-01T00:05:00.000000000Z",
    ]


def test_tail_shows_every_message_of_the_catalog_on_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    messages = every_message()
    write(tmp_path, messages)
    status, out, _ = run(
        capsys, "journal", "tail", SESSION, "-n", str(len(messages)), "--data-dir", str(tmp_path)
    )
    assert status == 0
    lines = out.splitlines()
    assert [line.split()[2] for line in lines] == [type(m).__name__ for m in messages]
    drift = next(line for line in lines if " DriftDetected " in line)
    assert 'diffs=[(kind="BTCUSDT ünïcode" key="BTCUSDT ünïcode"' in drift
    snapshot_line = next(line for line in lines if " VenueSnapshot " in line)
    assert 'balances={"BTCUSDT ünïcode":0.00012345}' in snapshot_line


def test_tail_n_records(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    write(tmp_path, heartbeats(10))
    status, out, _ = run(capsys, "journal", "tail", SESSION, "-n", "3", "--data-dir", str(tmp_path))
    assert status == 0
    assert [line.split()[0] for line in out.splitlines()] == ["8", "9", "10"]


def test_tail_of_an_unknown_session_lists_the_known_ones(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    write(tmp_path, heartbeats(1), session="b")
    write(tmp_path, heartbeats(1), session="a")
    status, out, err = run(capsys, "journal", "tail", "nope", "--data-dir", str(tmp_path))
    assert (status, out) == (2, "")
    assert err == (
        f"tickdeck: error: no journal session 'nope' under {tmp_path / 'journal'} "
        "(known sessions: a, b)\n"
    )


def test_tail_shows_the_records_before_a_torn_tail_and_says_it_follows(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    directory = write(tmp_path, heartbeats(5))
    (segment,) = segments(directory)
    offsets = frame_offsets(segment)
    segment.write_bytes(segment.read_bytes()[:-4])
    before = segment.read_bytes()

    status, out, err = run(capsys, "journal", "tail", SESSION, "--data-dir", str(tmp_path))

    assert status == 0
    assert [line.split()[0] for line in out.splitlines()] == ["1", "2", "3", "4"]
    assert err == (
        f"note: a torn tail follows seq 4: {segment} from byte {offsets[4]} "
        f"({offsets[5] - 4 - offsets[4]} bytes, a crash cut the frame of seq 5) is not shown; "
        "the journal is left as it is (recovery cuts it)\n"
    )
    assert segment.read_bytes() == before


def test_tail_stops_at_a_flipped_byte_and_names_file_offset_and_seq(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    directory = write(tmp_path, heartbeats(6))
    (segment,) = segments(directory)
    offsets = frame_offsets(segment)
    flip(segment, offsets[3] + 10)

    status, out, err = run(capsys, "journal", "tail", SESSION, "--data-dir", str(tmp_path))

    assert status == 2
    assert [line.split()[0] for line in out.splitlines()] == ["1", "2", "3"]
    assert err.startswith(
        f"tickdeck: error: {segment}: journal corrupt at byte {offsets[3]} (last good seq 3): "
        "frame fails its CRC, followed by an intact frame"
    )
    assert err.count("\n") == 1


def test_tail_stops_at_a_missing_middle_segment(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    for start in (1, 4, 7):
        write(tmp_path, heartbeats(3, start))
    _, second, third = segments(tmp_path / "journal" / SESSION)
    second.unlink()

    status, out, err = run(capsys, "journal", "tail", SESSION, "--data-dir", str(tmp_path))

    assert status == 2
    assert [line.split()[0] for line in out.splitlines()] == ["1", "2", "3"]
    assert err == (
        f"tickdeck: error: {third}: journal corrupt at byte 0 (last good seq 3): segment "
        "starts at seq 7, but the previous one ends at seq 3: a segment is missing\n"
    )


def test_tail_refuses_a_journal_from_a_newer_catalog(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    directory = write(tmp_path, heartbeats(2))
    (segment,) = segments(directory)
    rewrite_header(segment, catalog={**CATALOG_SHAPE, "Liquidation": ("ts", "symbol")})

    status, out, err = run(capsys, "journal", "tail", SESSION, "--data-dir", str(tmp_path))

    assert (status, out) == (2, "")
    assert err == (
        f"tickdeck: error: {segment}: written by a newer message catalog: this build does not "
        "know Liquidation; upgrade tickdeck to read this journal\n"
    )


def test_tail_follow_prints_what_a_writer_appends_and_stops_cleanly_on_ctrl_c(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path, heartbeats(5))
    done = threading.Event()

    def append() -> None:
        with BlockingJournalWriter(tmp_path / "journal", SESSION, segment_bytes=500) as writer:
            for message in heartbeats(120, start=6):
                writer.append(message, CLOCK)
                if message.ts % 5 == 0:
                    writer.commit()
                    time.sleep(0.001)
        done.set()

    writer = threading.Thread(target=append)
    empty_polls_after_done = 0

    def sleep(seconds: float) -> None:
        """Start the writer at the first wait (once the last records are printed); press
        Ctrl-C once a whole poll has run, and found nothing, after the writer ended."""
        nonlocal empty_polls_after_done
        if not writer.is_alive() and not done.is_set():
            writer.start()
        if done.is_set():
            empty_polls_after_done += 1
            if empty_polls_after_done == 2:
                raise KeyboardInterrupt
        time.sleep(0.002)

    monkeypatch.setattr(app.cli_journal, "_sleep", sleep)
    try:
        status, out, _ = run(
            capsys, "journal", "tail", SESSION, "-n", "2", "-f", "--data-dir", str(tmp_path)
        )
    finally:
        writer.join()

    assert status == 0
    assert [int(line.split()[0]) for line in out.splitlines()] == list(range(4, 126))
    assert out.splitlines()[-1].endswith(
        "Heartbeat  actor=actor-125 event=1970-01-01T00:00:00.000000125Z"
    )


def test_follow_stops_when_told(tmp_path: Path) -> None:
    directory = write(tmp_path, heartbeats(3))
    records = list(app.cli_journal.follow(directory, 1, 0.0, should_stop=lambda: True))
    assert [record.seq for record in records] == [2, 3]


def test_a_negative_count_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    status, _, err = run(capsys, "journal", "tail", SESSION, "-n", "-1")
    assert status == 2
    assert err == "tickdeck: error: argument -n/--lines: expected 0 or more, got -1\n"


def test_journal_needs_an_action(capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run(capsys, "journal")
    assert status == 2
    assert err.startswith("tickdeck: error: the following arguments are required: ACTION")


# --- inspect ----------------------------------------------------------------------------------


def test_inspect_shows_segments_ranges_catalog_snapshots_and_the_last_recovery(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    write(tmp_path, heartbeats(3))
    directory = write(tmp_path, heartbeats(2, start=4))
    snapshot(directory, 3)
    (directory / "config.toml").write_text("[strategy]\nname = 'sma_cross'\n")
    report = {
        "session": SESSION, "recovered_at": "2024-01-01T00:04:30Z", "snapshot_seq": 3,
        "snapshot_file": "snapshot-00000000000000000003.tds", "refused_snapshots": [],
        "torn_tail": {"file": "segment-00000000000000000004.tdj", "offset": 812, "seq": 4,
                      "bytes_cut": 9},
        "replayed_frames": 0, "completed_frames": 0, "last_seq": 3,
        "queried_orders": ["c-1", "c-2"], "seconds": 0.01,
    }  # fmt: skip
    (directory / "recovery.json").write_text(json.dumps(report))
    first, second = segments(directory)

    status, out, err = run(capsys, "journal", "inspect", SESSION, "--data-dir", str(tmp_path))

    assert (status, err) == (0, "")
    snapshot_file = "snapshot-00000000000000000003.tds"
    size = f"{(directory / 'snapshots' / snapshot_file).stat().st_size:,}"
    width = max(5, len(size))
    assert out.splitlines() == [
        f"session    {SESSION}",
        f"directory  {directory}",
        "state      ok",
        "records    seq 1..5 (5 records)",
        "time       2024-01-01T00:01:00.000000000Z .. 2024-01-01T00:05:00.000000000Z",
        "catalog    this build's",
        f"config     {directory / 'config.toml'}",
        "segments   (2)",
        "  file                              first seq  last seq  frames  bytes",
        f"  {first.name}          1         3       3  {first.stat().st_size:>5,}",
        f"  {second.name}          4         5       2  {second.stat().st_size:>5,}",
        "snapshots  (1)",
        f"  file                               seq  time{' ' * 28}{'bytes':>{width}}  actors",
        f"  {snapshot_file}    3  2024-01-01T00:03:00.000000000Z  {size:>{width}}  clock, risk",
        "recovery   (the last one)",
        "  session            paper-1",
        "  recovered_at       2024-01-01T00:04:30Z",
        "  snapshot_seq       3",
        "  snapshot_file      snapshot-00000000000000000003.tds",
        "  refused_snapshots  none",
        "  torn_tail          file=segment-00000000000000000004.tdj offset=812 seq=4 bytes_cut=9",
        "  replayed_frames    0",
        "  completed_frames   0",
        "  last_seq           3",
        "  queried_orders     c-1, c-2",
        "  seconds            0.01",
    ]  # fmt: skip


def test_inspect_without_optional_files(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    write(tmp_path, heartbeats(1))
    status, out, _ = run(capsys, "journal", "inspect", SESSION, "--data-dir", str(tmp_path))
    assert status == 0
    assert "config     none\n" in out
    assert out.endswith("snapshots  none\nrecovery   none recorded\n")


def test_inspect_reports_damage_as_the_state(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    directory = write(tmp_path, heartbeats(6))
    (segment,) = segments(directory)
    offsets = frame_offsets(segment)
    flip(segment, offsets[2] + 9)

    status, out, err = run(capsys, "journal", "inspect", SESSION, "--data-dir", str(tmp_path))

    assert (status, err) == (0, "")
    lines = out.splitlines()
    assert lines[2].startswith(
        f"state      {segment}: journal corrupt at byte {offsets[2]} (last good seq 2)"
    )
    assert lines[3] == "records    seq 1..2 (2 records read before the problem)"
    assert lines[9].split()[:4] == [segment.name, "1", "2", "2"]


def test_inspect_reports_a_torn_tail(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    directory = write(tmp_path, heartbeats(3))
    (segment,) = segments(directory)
    offsets = frame_offsets(segment)
    segment.write_bytes(segment.read_bytes()[:-1])

    status, out, _ = run(capsys, "journal", "inspect", SESSION, "--data-dir", str(tmp_path))

    assert status == 0
    assert "state      torn tail at seq 3 (a crash cut it; recovery cuts it)\n" in out
    cut = offsets[3] - 1 - offsets[2]
    assert (
        f"torn tail  {segment.name} from byte {offsets[2]:,}: {cut} bytes from seq 3 on "
        "(recovery cuts them)\n"
    ) in out


def test_inspect_reports_a_newer_catalog(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    directory = write(tmp_path, heartbeats(2))
    (segment,) = segments(directory)
    rewrite_header(segment, catalog={**CATALOG_SHAPE, "Heartbeat": ("ts", "actor", "load")})
    status, out, _ = run(capsys, "journal", "inspect", SESSION, "--data-dir", str(tmp_path))
    assert status == 0
    assert (
        "catalog    newer than this build: written by a newer message catalog: this build "
        f"does not know Heartbeat.load ({segment.name})\n"
    ) in out


# --- export -----------------------------------------------------------------------------------


def test_export_then_query_the_journal_view(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    write(tmp_path, heartbeats(3) + orders())

    status, out, err = run(capsys, "journal", "export", SESSION, "--data-dir", str(tmp_path))

    assert (status, err) == (0, "")
    path = tmp_path / "lake/journal/session=paper-1/journal.parquet"
    first, second = out.splitlines()
    assert first.startswith("exported 8 records in ")
    assert first.endswith(f" records/s) to {path}")
    assert second == (
        '  query it: tickdeck sql "SELECT type, count(*) FROM journal WHERE session = '
        "'paper-1' GROUP BY 1\""
    )

    query = "select type, count(*) as n from journal group by 1 order by 1"
    status, out, err = run(capsys, "sql", query, "--format", "csv", "--data-dir", str(tmp_path))
    assert (status, err) == (0, "")
    assert list(csv.reader(io.StringIO(out))) == [
        ["type", "n"],
        ["BarUpdate", "1"],
        ["Fill", "1"],
        ["Heartbeat", "4"],
        ["OrderCanceled", "1"],
        ["SubmitOrder", "1"],
    ]

    query = (
        "select session, seq, ts, event_ts, side, quantity, price, payload from journal "
        "where type = 'Fill'"
    )
    status, out, _ = run(capsys, "sql", query, "--format", "json", "--data-dir", str(tmp_path))
    (row,) = json.loads(out)
    assert row["session"] == SESSION
    assert (row["seq"], row["side"], row["quantity"], row["price"]) == (
        5, "BUY", "0.00000001", "42000.10",
    )  # fmt: skip
    assert row["ts"].startswith("2024-01-01 00:05:00")
    assert row["event_ts"].startswith("2024-01-01 00:00:00.000000001")
    assert msgspec.json.decode(row["payload"], type=Fill) == fill()


def test_export_of_a_torn_journal_says_what_it_left_out(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    directory = write(tmp_path, heartbeats(4))
    (segment,) = segments(directory)
    offsets = frame_offsets(segment)
    segment.write_bytes(segment.read_bytes()[:-1])
    before = segment.read_bytes()

    status, out, _ = run(capsys, "journal", "export", SESSION, "--data-dir", str(tmp_path))

    assert status == 0
    lines = out.splitlines()
    assert lines[0].startswith("exported 3 records in ")
    assert lines[1] == (
        f"  note: a torn tail follows seq 3: {segment} from byte {offsets[3]} "
        f"({offsets[4] - 1 - offsets[3]} bytes, a crash cut the frame of seq 4) is not "
        "exported; the journal is left as it is (recovery cuts it)"
    )
    assert segment.read_bytes() == before


def test_export_stops_at_damage_and_names_file_offset_and_seq(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    directory = write(tmp_path, heartbeats(5))
    (segment,) = segments(directory)
    offsets = frame_offsets(segment)
    flip(segment, offsets[1] + 12)

    status, out, err = run(capsys, "journal", "export", SESSION, "--data-dir", str(tmp_path))

    assert (status, out) == (2, "")
    assert err.startswith(
        f"tickdeck: error: {segment}: journal corrupt at byte {offsets[1]} (last good seq 1):"
    )
    assert not (tmp_path / "lake/journal/session=paper-1").exists()


def test_export_of_an_unknown_session(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    status, _, err = run(capsys, "journal", "export", "nope", "--data-dir", str(tmp_path))
    assert status == 2
    assert err == (
        f"tickdeck: error: no journal session 'nope' under {tmp_path / 'journal'} "
        "(known sessions: none)\n"
    )


def test_export_of_a_session_a_writer_holds_says_later_records_are_not_in_it(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    with BlockingJournalWriter(tmp_path / "journal", SESSION) as writer:
        for message in heartbeats(3):
            writer.append(message, CLOCK)
        writer.commit()
        status, out, _ = run(capsys, "journal", "export", SESSION, "--data-dir", str(tmp_path))
        writer.append(Heartbeat(ts=4, actor="a"), CLOCK)

    assert status == 0
    lines = out.splitlines()
    assert lines[0].startswith("exported 3 records in ")
    assert lines[1] == (
        "  a writer holds the session: what it appends from now on is not in the export"
    )
