"""The lake: hive layout, atomic idempotent bar partitions, finding files by range."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from storage.lake import (
    BARS_SCHEMA,
    DAY_NS,
    Lake,
    LakeSchemaError,
    bars_dataset,
    check_bars_file,
    utc_date,
)

MINUTE = 60_000_000_000
DAY0 = (dt.date(2024, 3, 1) - dt.date(1970, 1, 1)).days * DAY_NS


def bars(starts: list[int], price: float = 100.0) -> pa.Table:
    n = len(starts)
    return pa.table(
        {
            "open_time": pa.array(starts, pa.int64()).cast(pa.timestamp("ns", tz="UTC")),
            "open": [price + i for i in range(n)],
            "high": [price + i + 1 for i in range(n)],
            "low": [price + i - 1 for i in range(n)],
            "close": [price + i + 0.5 for i in range(n)],
            "volume": [1.0 + i for i in range(n)],
            "quote_volume": [(1.0 + i) * (price + i) for i in range(n)],
            "trades": pa.array([i + 1 for i in range(n)], pa.int64()),
        }
    )


def starts_of(path: Path) -> list[int]:
    return pq.read_table(path).column("open_time").cast(pa.int64()).to_pylist()


def test_write_bars_splits_by_utc_date_into_hive_partitions(tmp_path: Path) -> None:
    starts = [DAY0 - MINUTE, DAY0, DAY0 + DAY_NS - MINUTE, DAY0 + DAY_NS]
    written = Lake(tmp_path).write_bars("BTCUSDT", "1m", bars(starts))
    base = tmp_path / "lake" / "bars_1m" / "symbol=BTCUSDT"
    assert written == [
        base / "date=2024-02-29" / "part-0.parquet",
        base / "date=2024-03-01" / "part-0.parquet",
        base / "date=2024-03-02" / "part-0.parquet",
    ]
    assert [starts_of(path) for path in written] == [starts[:1], starts[1:3], starts[3:]]


def test_written_file_has_exactly_the_bars_schema(tmp_path: Path) -> None:
    table = bars([DAY0, DAY0 + MINUTE]).select(list(reversed(BARS_SCHEMA.names)))
    table = table.append_column("extra", pa.array([1, 2]))
    (path,) = Lake(tmp_path).write_bars("BTCUSDT", "1m", table)
    assert pq.read_schema(path).remove_metadata() == BARS_SCHEMA
    assert check_bars_file(path) == 2


def test_rows_are_written_sorted_by_open_time(tmp_path: Path) -> None:
    starts = [DAY0 + 5 * MINUTE, DAY0, DAY0 + 2 * MINUTE]
    (path,) = Lake(tmp_path).write_bars("BTCUSDT", "1m", bars(starts))
    assert starts_of(path) == sorted(starts)
    # the other columns travel with their open_time
    assert pq.read_table(path).column("open").to_pylist() == [101.0, 102.0, 100.0]


def test_rewriting_the_same_bars_is_byte_identical(tmp_path: Path) -> None:
    lake = Lake(tmp_path)
    starts = [DAY0 + i * MINUTE for i in range(3000)]
    first = lake.write_bars("BTCUSDT", "1m", bars(starts))
    before = [path.read_bytes() for path in first]
    shuffled = bars(starts).take(pa.array([(i * 7919) % 3000 for i in range(3000)]))
    again = lake.write_bars("BTCUSDT", "1m", shuffled)
    assert again == first
    assert [path.read_bytes() for path in again] == before


def test_identical_bars_in_two_lakes_give_identical_bytes(tmp_path: Path) -> None:
    table = bars([DAY0 + i * MINUTE for i in range(100)])
    (one,) = Lake(tmp_path / "a").write_bars("BTCUSDT", "1m", table)
    (two,) = Lake(tmp_path / "b").write_bars("BTCUSDT", "1m", table)
    assert one.read_bytes() == two.read_bytes()


def test_writing_a_date_replaces_its_whole_partition(tmp_path: Path) -> None:
    lake = Lake(tmp_path)
    lake.write_bars("BTCUSDT", "1m", bars([DAY0 + i * MINUTE for i in range(10)]))
    partition = tmp_path / "lake" / "bars_1m" / "symbol=BTCUSDT" / "date=2024-03-01"
    (partition / "part-1.parquet").write_bytes(b"stale")
    (path,) = lake.write_bars("BTCUSDT", "1m", bars([DAY0 + 60 * MINUTE], price=7.0))
    assert starts_of(path) == [DAY0 + 60 * MINUTE]
    assert sorted(p.name for p in partition.iterdir()) == ["part-0.parquet"]


def test_no_temporary_file_is_left_behind(tmp_path: Path) -> None:
    Lake(tmp_path).write_bars("BTCUSDT", "1m", bars([DAY0]))
    names = [p.name for p in (tmp_path / "lake").rglob("*") if p.is_file()]
    assert names == ["part-0.parquet"]


def test_duplicate_open_times_are_refused_with_the_time(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"duplicate open_time 2024-03-01T00:01:00"):
        Lake(tmp_path).write_bars("BTCUSDT", "1m", bars([DAY0, DAY0 + MINUTE, DAY0 + MINUTE]))
    assert not (tmp_path / "lake").exists()


def test_a_missing_column_is_named(tmp_path: Path) -> None:
    table = bars([DAY0]).drop_columns(["quote_volume"])
    with pytest.raises(LakeSchemaError, match="quote_volume"):
        Lake(tmp_path).write_bars("BTCUSDT", "1m", table)


def test_null_values_are_refused(tmp_path: Path) -> None:
    table = bars([DAY0, DAY0 + MINUTE])
    table = table.set_column(4, "close", pa.array([1.0, None], pa.float64()))
    with pytest.raises(LakeSchemaError, match="'close' has 1 nulls"):
        Lake(tmp_path).write_bars("BTCUSDT", "1m", table)


def test_an_unusable_symbol_is_refused(tmp_path: Path) -> None:
    for symbol in ("", "BTC/USDT", "a=b", ".hidden"):
        with pytest.raises(ValueError, match="cannot name a lake partition"):
            Lake(tmp_path).write_bars(symbol, "1m", bars([DAY0]))


def test_an_unknown_interval_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown interval '7m'"):
        Lake(tmp_path).write_bars("BTCUSDT", "7m", bars([DAY0]))
    assert bars_dataset("1h") == "bars_1h"


def test_bar_files_returns_the_overlapping_partitions_sorted(tmp_path: Path) -> None:
    lake = Lake(tmp_path)
    starts = [DAY0 + day * DAY_NS + 10 * MINUTE for day in range(5)]
    written = lake.write_bars("BTCUSDT", "1m", bars(starts))
    lake.write_bars("ETHUSDT", "1m", bars(starts))
    assert lake.bar_files("BTCUSDT", "1m", DAY0, DAY0 + 5 * DAY_NS) == written
    # the end is exclusive: a range ending at midnight does not touch the next day
    assert lake.bar_files("BTCUSDT", "1m", DAY0 + DAY_NS, DAY0 + 3 * DAY_NS) == written[1:3]
    # a range inside one day touches that day only
    inside = lake.bar_files("BTCUSDT", "1m", DAY0 + 2 * DAY_NS + 1, DAY0 + 2 * DAY_NS + 2)
    assert inside == written[2:3]


def test_bar_files_is_empty_for_an_unknown_symbol_or_an_empty_range(tmp_path: Path) -> None:
    lake = Lake(tmp_path)
    lake.write_bars("BTCUSDT", "1m", bars([DAY0]))
    assert lake.bar_files("SOLUSDT", "1m", DAY0, DAY0 + DAY_NS) == []
    assert lake.bar_files("BTCUSDT", "1h", DAY0, DAY0 + DAY_NS) == []
    assert lake.bar_files("BTCUSDT", "1m", DAY0, DAY0) == []


def test_bars_glob_reads_every_symbol_and_date_through_duckdb(tmp_path: Path) -> None:
    lake = Lake(tmp_path)
    lake.write_bars("BTCUSDT", "1m", bars([DAY0, DAY0 + DAY_NS]))
    lake.write_bars("ETHUSDT", "1m", bars([DAY0]))
    glob = lake.bars_glob("1m")
    rows = duckdb.sql(
        f"SELECT symbol, CAST(date AS VARCHAR), count(*) FROM read_parquet('{glob}',"
        " hive_partitioning = true) GROUP BY ALL ORDER BY ALL"
    ).fetchall()
    assert rows == [
        ("BTCUSDT", "2024-03-01", 1),
        ("BTCUSDT", "2024-03-02", 1),
        ("ETHUSDT", "2024-03-01", 1),
    ]


def test_check_bars_file_names_the_file_and_the_wrong_column(tmp_path: Path) -> None:
    path = tmp_path / "bad.parquet"
    table = bars([DAY0]).set_column(7, "trades", pa.array([1.5]))
    pq.write_table(table, path)
    with pytest.raises(LakeSchemaError, match=r"bad\.parquet: column 'trades' is double"):
        check_bars_file(path)
    (tmp_path / "junk.parquet").write_bytes(b"not parquet")
    with pytest.raises(LakeSchemaError, match=r"junk\.parquet: not a readable Parquet file"):
        check_bars_file(tmp_path / "junk.parquet")


def test_utc_date_floors_before_the_epoch() -> None:
    assert utc_date(0) == dt.date(1970, 1, 1)
    assert utc_date(-1) == dt.date(1969, 12, 31)
    assert utc_date(DAY0 + DAY_NS - 1) == dt.date(2024, 3, 1)


@settings(max_examples=40, deadline=None)
@given(
    offsets=st.lists(
        st.integers(min_value=-3 * 1440, max_value=3 * 1440), min_size=1, max_size=60, unique=True
    )
)
def test_the_lake_returns_exactly_the_rows_written(tmp_path_factory, offsets: list[int]) -> None:
    root = tmp_path_factory.mktemp("lake")
    starts = [DAY0 + offset * MINUTE for offset in offsets]
    lake = Lake(root)
    written = lake.write_bars("BTCUSDT", "1m", bars(starts))
    found = lake.bar_files("BTCUSDT", "1m", min(starts), max(starts) + 1)
    assert found == written
    read = [start for path in found for start in starts_of(path)]
    assert read == sorted(starts)
    for path in found:
        date = path.parent.name.removeprefix("date=")
        assert {utc_date(start).isoformat() for start in starts_of(path)} == {date}
