"""Export to the lake: one row per record with its key fields and the whole message as JSON,
streamed in bounded batches, replacing a previous export atomically, and stopping at
corruption instead of skipping it."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import journal.export
from actors.messages import (
    Bar,
    BarUpdate,
    ExecutionReport,
    Fill,
    Heartbeat,
    Message,
    OrderCanceled,
    OrderIntent,
    OrderRequest,
    OrderStatus,
    OrderTicket,
    OrderType,
    PositionChanged,
    RiskRejected,
    RiskState,
    RiskStateChanged,
    Side,
    SubmitOrder,
    TradeTick,
)
from journal import JournalCorruptError, JournalRecord, JournalVersionError
from journal.export import (
    JOURNAL_SCHEMA,
    KEY_COLUMNS,
    KEY_SOURCES,
    export_path,
    export_session,
    record_batches,
)
from journal.schema import CATALOG_SHAPE
from journal.writer import BlockingJournalWriter
from storage.catalog import open_catalog
from tests.journal.conftest import (
    SESSION,
    every_message,
    frame_offsets,
    heartbeats,
    rewrite_header,
    segments,
)

CLOCK = 1_704_067_200_000_000_000  # 2024-01-01T00:00:00Z


def write(root: Path, messages: list[Message], session: str = SESSION, **options: Any) -> Path:
    """Append ``messages`` at clock times CLOCK + seq (so a record's clock time and its
    message's own ts differ), one commit per batch; the session directory."""
    with BlockingJournalWriter(root, session, **options) as writer:
        for message in messages:
            writer.append(message, CLOCK + writer.last_seq + 1)
    return root / session


def rows_of(table: pa.Table) -> list[dict[str, Any]]:
    """The rows, times as int ns (Python's datetime has no nanoseconds)."""
    for name in ("ts", "event_ts"):
        index = table.schema.get_field_index(name)
        table = table.set_column(index, name, table.column(name).cast(pa.int64()))
    return table.to_pylist()


def exported(lake: Path, session: str = SESSION) -> list[dict[str, Any]]:
    return rows_of(pq.read_table(export_path(lake, session)))


def ticket(**changes: Any) -> OrderTicket:
    terms: dict[str, Any] = {"symbol": "ETHUSDT", "side": Side.SELL, "quantity": Decimal("1.5")}
    return OrderTicket(**{**terms, **changes})


def fill(**changes: Any) -> Fill:
    fields: dict[str, Any] = {
        "ts": 5, "client_order_id": "c-1", "venue_order_id": "v-1", "trade_id": "t-1",
        "strategy": "sma", "symbol": "BTCUSDT", "side": Side.BUY, "price": Decimal("42000.10"),
        "quantity": Decimal("0.00000001"), "cumulative_quantity": Decimal("0.00000001"),
        "fee": Decimal("0"), "fee_asset": "USDT",
    }  # fmt: skip
    return Fill(**{**fields, **changes})


def bar(close: float = 43001.75) -> Bar:
    return Bar(
        ts=120, symbol="BTCUSDT", interval="1m", start=60,
        open=1.0, high=2.0, low=0.5, close=close, volume=3.0,
    )  # fmt: skip


def keys(row: dict[str, Any]) -> dict[str, Any]:
    return {name: row[name] for name in KEY_COLUMNS if row[name] is not None}


def test_every_record_is_a_row_with_seq_times_type_and_the_whole_message(tmp_path: Path) -> None:
    messages = every_message()
    directory = write(tmp_path / "journal", messages)

    result = export_session(directory, tmp_path / "lake")

    table = pq.read_table(result.path)
    assert result.path == str(tmp_path / "lake/journal/session=session-1/journal.parquet")
    assert table.schema.remove_metadata() == JOURNAL_SCHEMA
    assert (result.records, result.torn_tail) == (len(messages), None)
    rows = rows_of(table)
    assert [row["seq"] for row in rows] == list(range(1, len(messages) + 1))
    for row, message in zip(rows, messages, strict=True):
        assert row["session"] == SESSION
        assert row["type"] == type(message).__name__
        assert (row["ts"], row["event_ts"]) == (CLOCK + row["seq"], message.ts)
        # The payload is the message, exactly: it decodes back to an equal message.
        assert msgspec.json.decode(row["payload"], type=type(message)) == message
        assert msgspec.json.decode(row["payload"])["type"] == type(message).__name__


def test_key_fields_come_from_the_message_its_ticket_intent_or_bar(tmp_path: Path) -> None:
    intent = OrderIntent(
        ts=1,
        strategy="breakout",
        ticket=ticket(order_type=OrderType.LIMIT, limit_price=Decimal("2500.25")),
    )
    messages: list[Message] = [
        fill(),
        intent,
        OrderRequest(ts=2, intent=intent),
        RiskRejected(ts=3, intent=intent, reason="max position"),
        SubmitOrder(ts=4, client_order_id="c-2", strategy="sma", ticket=ticket()),
        ExecutionReport(
            ts=6,
            venue="backtest",
            client_order_id="c-1",
            venue_order_id="v-1",
            symbol="BTCUSDT",
            side=Side.BUY,
            status=OrderStatus.PARTIALLY_FILLED,
            last_price=Decimal("42000.1"),
            last_quantity=Decimal("0.25"),
        ),
        PositionChanged(
            ts=7,
            symbol="BTCUSDT",
            quantity=Decimal("-0.5"),
            average_price=Decimal("43251.33333333333333333333333"),
            realized_pnl=Decimal(0),
        ),
        BarUpdate(ts=60, bar=bar(), closed=False),
        bar(),
        TradeTick(ts=8, symbol="SHIBUSDT", price=1e-05, size=2.5e7, aggressor=Side.SELL),
        RiskStateChanged(ts=9, previous=RiskState.ACTIVE, state=RiskState.HALTED, reason="x"),
        OrderCanceled(ts=10, client_order_id="c-2", symbol="ETHUSDT"),
        Heartbeat(ts=11, actor="risk"),
    ]
    export_session(write(tmp_path / "journal", messages), tmp_path / "lake")

    assert [keys(row) for row in exported(tmp_path / "lake")] == [
        {"symbol": "BTCUSDT", "strategy": "sma", "client_order_id": "c-1", "side": "BUY",
         "quantity": "0.00000001", "price": "42000.10"},
        {"symbol": "ETHUSDT", "strategy": "breakout", "side": "SELL", "quantity": "1.5",
         "price": "2500.25"},
        {"symbol": "ETHUSDT", "strategy": "breakout", "side": "SELL", "quantity": "1.5",
         "price": "2500.25"},
        {"symbol": "ETHUSDT", "strategy": "breakout", "side": "SELL", "quantity": "1.5",
         "price": "2500.25", "reason": "max position"},
        {"symbol": "ETHUSDT", "strategy": "sma", "client_order_id": "c-2", "side": "SELL",
         "quantity": "1.5"},  # a market order has no price
        {"symbol": "BTCUSDT", "client_order_id": "c-1", "side": "BUY", "quantity": "0.25",
         "price": "42000.1", "status": "PARTIALLY_FILLED"},
        {"symbol": "BTCUSDT", "quantity": "-0.5", "price": "43251.33333333333333333333333"},
        {"symbol": "BTCUSDT", "price": "43001.75"},
        {"symbol": "BTCUSDT", "price": "43001.75"},
        {"symbol": "SHIBUSDT", "side": "SELL", "quantity": "25000000", "price": "0.00001"},
        {"status": "HALTED", "reason": "x"},
        {"symbol": "ETHUSDT", "client_order_id": "c-2"},  # no reason given: null, not ""
        {},
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (Decimal("1E-8"), "0.00000001"),
        (Decimal("1E+3"), "1000"),
        (Decimal("-0.000"), "-0.000"),
        (Decimal("123456789012345678901234.123456789012345678"),
         "123456789012345678901234.123456789012345678"),
    ],
)  # fmt: skip
def test_decimal_amounts_are_exact_text_in_plain_notation(
    tmp_path: Path, value: Decimal, text: str
) -> None:
    export_session(write(tmp_path / "journal", [fill(price=value)]), tmp_path / "lake")
    (row,) = exported(tmp_path / "lake")
    assert row["price"] == text
    assert Decimal(row["price"]) == value


@pytest.mark.parametrize("value", [1e-05, 2.5e-08, 43001.75, 0.1 + 0.2, 1.5e17, 5.0])
def test_float_amounts_are_their_shortest_exact_digits(tmp_path: Path, value: float) -> None:
    tick = TradeTick(ts=1, symbol="X", price=value, size=1.0, aggressor=Side.BUY)
    export_session(write(tmp_path / "journal", [tick]), tmp_path / "lake")
    (row,) = exported(tmp_path / "lake")
    assert "e" not in row["price"].lower()
    assert float(row["price"]) == value
    assert Decimal(row["price"]) == Decimal(repr(value))


def _resolve(message: Any, path: str) -> tuple[bool, Any]:
    for name in path.split("."):
        if not hasattr(message, name):
            return False, None
        message = getattr(message, name)
    return True, message


def _naive_keys(message: Message) -> dict[str, Any]:
    """The key columns of one message, the slow and obvious way: the oracle for the
    export's batch-wise, grouped-by-type extraction."""
    row: dict[str, Any] = {}
    for column in KEY_COLUMNS:
        for path in KEY_SOURCES[column]:
            found, value = _resolve(message, path)
            if found:
                row[column] = value
                break
    text: dict[str, Any] = {}
    for column, value in row.items():
        if value is None or value == "":
            continue
        if isinstance(value, Decimal):
            text[column] = format(value, "f")
        elif isinstance(value, float):
            text[column] = format(Decimal(repr(value)), "f")
        else:
            text[column] = str(value)
    return text


def _records(messages: list[Message]) -> Iterator[JournalRecord]:
    for seq, message in enumerate(messages, 1):
        yield JournalRecord(seq, CLOCK + seq, message)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    order=st.lists(st.integers(0, len(every_message()) - 1), max_size=80),
    batch_rows=st.integers(1, 20),
)
def test_batches_keep_every_record_in_order_whatever_the_mix_of_types(
    order: list[int], batch_rows: int
) -> None:
    examples = [*every_message(), fill(), bar(), BarUpdate(ts=2, bar=bar(1e-07))]
    messages = [examples[index % len(examples)] for index in order]

    batches = list(record_batches(_records(messages), "s", batch_rows))

    assert all(0 < batch.num_rows <= batch_rows for batch in batches)
    assert all(batch.schema == JOURNAL_SCHEMA for batch in batches)
    rows = rows_of(pa.Table.from_batches(batches, JOURNAL_SCHEMA))
    assert [row["seq"] for row in rows] == list(range(1, len(messages) + 1))
    assert [keys(row) for row in rows] == [_naive_keys(message) for message in messages]
    assert [row["type"] for row in rows] == [type(message).__name__ for message in messages]


def test_batches_are_streamed_not_built_from_the_whole_journal() -> None:
    consumed = 0

    def records() -> Iterator[JournalRecord]:
        nonlocal consumed
        for seq in range(1, 1001):
            consumed += 1
            yield JournalRecord(seq, seq, Heartbeat(ts=seq, actor="a"))

    batches = record_batches(records(), "s", batch_rows=100)
    first = next(batches)
    assert (first.num_rows, consumed) == (100, 100)
    assert sum(batch.num_rows for batch in batches) == 900


def test_a_batch_also_closes_on_its_payload_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(journal.export, "_BATCH_PAYLOAD_BYTES", 200)
    messages = [Heartbeat(ts=seq, actor="x" * 60) for seq in range(1, 11)]
    batches = list(record_batches(_records(messages), "s", batch_rows=1000))
    assert len(batches) > 1
    assert sum(batch.num_rows for batch in batches) == 10


def test_a_reexport_replaces_the_previous_one_and_leaves_nothing_behind(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    directory = write(tmp_path / "journal", heartbeats(3))
    export_session(directory, lake)
    write(tmp_path / "journal", heartbeats(2, start=4))  # the session goes on

    result = export_session(directory, lake)

    assert result.records == 5
    assert [row["seq"] for row in exported(lake)] == [1, 2, 3, 4, 5]
    assert sorted(p.relative_to(lake).as_posix() for p in lake.rglob("*")) == [
        "journal",
        "journal/session=session-1",
        "journal/session=session-1/journal.parquet",
    ]


def test_a_failed_reexport_keeps_the_previous_export(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    directory = write(tmp_path / "journal", heartbeats(6))
    export_session(directory, lake)
    before = export_path(lake, SESSION).read_bytes()
    (segment,) = segments(directory)
    offsets = frame_offsets(segment)
    data = bytearray(segment.read_bytes())
    data[offsets[2] + 10] ^= 0xFF

    segment.write_bytes(bytes(data))
    with pytest.raises(JournalCorruptError):
        export_session(directory, lake)

    assert export_path(lake, SESSION).read_bytes() == before
    assert [p.name for p in (lake / "journal").iterdir()] == ["session=session-1"]


def test_a_torn_tail_is_reported_not_exported_and_the_journal_is_left_alone(
    tmp_path: Path,
) -> None:
    directory = write(tmp_path / "journal", heartbeats(5))
    (segment,) = segments(directory)
    offsets = frame_offsets(segment)
    segment.write_bytes(segment.read_bytes()[: offsets[-1] - 3])  # seq 5 cut short
    journal_bytes = segment.read_bytes()

    result = export_session(directory, tmp_path / "lake")

    assert result.records == 4
    assert result.torn_tail is not None
    assert (result.torn_tail.file, result.torn_tail.offset) == (str(segment), offsets[4])
    assert result.torn_tail.seq == 5
    assert [row["seq"] for row in exported(tmp_path / "lake")] == [1, 2, 3, 4]
    assert segment.read_bytes() == journal_bytes


def test_a_flipped_byte_mid_segment_stops_the_export_naming_file_offset_and_seq(
    tmp_path: Path,
) -> None:
    directory = write(tmp_path / "journal", heartbeats(6))
    (segment,) = segments(directory)
    offsets = frame_offsets(segment)
    data = bytearray(segment.read_bytes())
    data[offsets[2] + 9] ^= 0x01
    segment.write_bytes(bytes(data))

    with pytest.raises(JournalCorruptError) as info:
        export_session(directory, tmp_path / "lake")

    assert (info.value.file, info.value.offset, info.value.last_good_seq) == (
        segment,
        offsets[2],
        2,
    )
    assert not export_path(tmp_path / "lake", SESSION).exists()


def test_a_missing_middle_segment_stops_the_export(tmp_path: Path) -> None:
    root = tmp_path / "journal"
    for start in (1, 4, 7):
        write(root, heartbeats(3, start), segment_bytes=1)
    directory = root / SESSION
    _, second, third, *_ = segments(directory)
    second.unlink()

    with pytest.raises(JournalCorruptError, match="a segment is missing") as info:
        export_session(directory, tmp_path / "lake")

    assert (info.value.file, info.value.last_good_seq) == (third, 3)
    assert not export_path(tmp_path / "lake", SESSION).exists()


def test_a_journal_from_a_newer_catalog_is_refused(tmp_path: Path) -> None:
    directory = write(tmp_path / "journal", heartbeats(2))
    (segment,) = segments(directory)
    rewrite_header(segment, catalog={**CATALOG_SHAPE, "Liquidation": ("ts", "symbol")})

    with pytest.raises(JournalVersionError, match="does not know Liquidation"):
        export_session(directory, tmp_path / "lake")

    assert not (tmp_path / "lake/journal/session=session-1").exists()


def test_an_empty_journal_exports_an_empty_table(tmp_path: Path) -> None:
    directory = tmp_path / "journal" / "quiet"
    directory.mkdir(parents=True)
    result = export_session(directory, tmp_path / "lake")
    table = pq.read_table(result.path)
    assert (result.records, table.num_rows) == (0, 0)
    assert table.schema.remove_metadata() == JOURNAL_SCHEMA


def test_exports_are_the_catalogs_journal_view_with_session_a_column(tmp_path: Path) -> None:
    root, lake = tmp_path / "journal", tmp_path / "lake"
    export_session(write(root, [fill(), bar(), bar()], session="paper-1"), lake)
    export_session(write(root, heartbeats(3), session="paper-2"), lake)
    shutil.rmtree(root)  # the view reads the lake, not the journal

    with open_catalog(tmp_path) as catalog:
        rows = catalog.connection.sql(
            "SELECT session, type, count(*), sum(quantity::DECIMAL(38, 18)) FROM journal "
            "GROUP BY ALL ORDER BY ALL"
        ).fetchall()
        columns = [name for name, _ in catalog.describe()["journal"]]

    assert rows == [
        ("paper-1", "Bar", 2, None),
        ("paper-1", "Fill", 1, Decimal("0.00000001")),
        ("paper-2", "Heartbeat", 3, None),
    ]
    assert columns == JOURNAL_SCHEMA.names
