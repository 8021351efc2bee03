"""Ingestion: validation per file and row, dedup by key, idempotent merges into the lake."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from storage.datasets import dataset_spec
from storage.ingest import WARNING_KINDS, FileReport, IngestReport, ingest
from storage.lake import BARS_SCHEMA, Lake, LakeSchemaError, check_bars_file
from tests.storage.test_binance_vision import (
    DAY0_MS,
    MS,
    agg_trade,
    kline,
    shared_fixtures,
    write_vision_file,
)

DAY_MS = 86_400_000
SPOT_AGG = "data/spot/daily/aggTrades/BTCUSDT/BTCUSDT-aggTrades-2024-01-01.csv"
BOOK_TICKER_HEADER = (
    "update_id,best_bid_price,best_bid_qty,best_ask_price,best_ask_qty,transaction_time,event_time"
)


def lake_rows(data_dir: Path, dataset: str, symbol: str = "BTCUSDT") -> list[dict[str, Any]]:
    """Every row of a dataset and symbol, partitions by date, times as int ns."""
    spec, _ = dataset_spec(dataset)
    root = data_dir / "lake" / dataset / f"symbol={symbol}"
    tables = [pq.read_table(path) for path in sorted(root.glob("date=*/*.parquet"))]
    if not tables:
        return []
    table = pa.concat_tables(tables)
    for name in spec.time_columns:
        index = table.schema.get_field_index(name)
        table = table.set_column(index, name, table.column(name).cast(pa.int64()))
    return table.to_pylist()


def lake_state(data_dir: Path) -> dict[Path, tuple[bytes, int]]:
    """Every file of the lake with its bytes and modification time."""
    return {
        path: (path.read_bytes(), path.stat().st_mtime_ns)
        for path in sorted((data_dir / "lake").rglob("*"))
        if path.is_file()
    }


def only(report: IngestReport) -> FileReport:
    (file,) = report.files
    return file


def assert_balanced(report: IngestReport) -> None:
    for file in report.files:
        if file.ok:
            assert file.rows_read == file.rows_written + file.duplicates + file.dropped, file


# -- the real files --------------------------------------------------------------------------


def _expected_rows(path: Path) -> tuple[str, list[dict[str, Any]]]:
    """A reference reading of a real fixture, independent of the ingester: the
    dataset and its lake rows (sorted as the lake sorts them)."""
    lines = [row for row in csv.reader(path.read_text().splitlines()) if row]
    if not lines[0][0].isdigit():
        lines = lines[1:]
    family = path.parent.name if path.parent.name != "1m" else "klines"
    if family == "klines":
        rows = [
            {"open_time": int(r[0]) * MS, "open": float(r[1]), "high": float(r[2]),
             "low": float(r[3]), "close": float(r[4]), "volume": float(r[5]),
             "quote_volume": float(r[7]), "trades": int(r[8])}
            for r in lines
        ]  # fmt: skip
        return "bars_1m", sorted(rows, key=lambda r: r["open_time"])
    if family == "aggTrades":
        rows = [
            {"agg_trade_id": int(r[0]), "ts": int(r[5]) * MS, "price": float(r[1]),
             "quantity": float(r[2]), "first_trade_id": int(r[3]), "last_trade_id": int(r[4]),
             "aggressor": "SELL" if r[6] == "true" else "BUY", "is_best_match": None}
            for r in lines
        ]  # fmt: skip
        return "um_agg_trades", sorted(rows, key=lambda r: (r["ts"], r["agg_trade_id"]))
    if family == "bookTicker":
        rows = [
            {"update_id": int(r[0]), "ts": int(r[5]) * MS, "event_ts": int(r[6]) * MS,
             "bid_price": float(r[1]), "bid_quantity": float(r[2]), "ask_price": float(r[3]),
             "ask_quantity": float(r[4])}
            for r in lines
        ]  # fmt: skip
        return "um_quotes", sorted(rows, key=lambda r: (r["ts"], r["update_id"]))
    assert family == "bookDepth"
    epoch = dt.datetime(1970, 1, 1)
    rows = [
        {"ts": int((dt.datetime.fromisoformat(r[0]) - epoch).total_seconds()) * 1_000_000_000,
         "percentage": float(r[1]), "depth": float(r[2]), "notional": float(r[3])}
        for r in lines
    ]  # fmt: skip
    return "um_book_depth", sorted(rows, key=lambda r: (r["ts"], r["percentage"]))


@pytest.fixture
def real_vision() -> Path:
    return shared_fixtures() / "binance_vision"


def test_every_real_file_is_ingested_with_its_rows(tmp_path: Path, real_vision: Path) -> None:
    report = ingest([real_vision], tmp_path)
    assert len(report.files) == 6
    assert report.failed == []
    assert_balanced(report)
    by_dataset: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for file in report.files:
        dataset, rows = _expected_rows(file.path)
        assert file.dataset == dataset
        assert (file.rows_read, file.rows_written, file.dropped) == (len(rows), len(rows), 0)
        by_dataset.setdefault((dataset, file.symbol), []).extend(rows)
    for (dataset, symbol), rows in by_dataset.items():
        spec, _ = dataset_spec(dataset)
        expected = sorted(rows, key=lambda r: tuple(r[c] for c in spec.sort))
        assert lake_rows(tmp_path, dataset, symbol) == expected, dataset


def test_real_first_and_last_values_match_the_files(tmp_path: Path, real_vision: Path) -> None:
    ingest([real_vision], tmp_path)
    bars = lake_rows(tmp_path, "bars_1m", "ADABTC")
    assert len(bars) == 2880
    # ADABTC-1m-2021-11-27.csv line 1 and ADABTC-1m-2021-11-28.csv line 1440
    assert bars[0] == {
        "open_time": 1637971200000 * MS, "open": 0.00002853, "high": 0.00002854,
        "low": 0.00002851, "close": 0.00002854, "volume": 36304.2,
        "quote_volume": 1.03547608, "trades": 79,
    }  # fmt: skip
    assert (bars[-1]["open_time"], bars[-1]["close"], bars[-1]["trades"]) == (
        1638143940000 * MS, 0.00002784, 42,
    )  # fmt: skip
    quotes = lake_rows(tmp_path, "um_quotes")
    assert len(quotes) == 9999
    assert (quotes[0]["update_id"], quotes[0]["bid_price"], quotes[0]["event_ts"]) == (
        3319366863672, 27981.3, 1696204800018 * MS,
    )  # fmt: skip
    assert (quotes[-1]["update_id"], quotes[-1]["ask_quantity"], quotes[-1]["ts"]) == (
        3319370990389, 10.079, 1696204827849 * MS,
    )  # fmt: skip
    depth = lake_rows(tmp_path, "um_book_depth")
    assert [(r["percentage"], r["depth"]) for r in (depth[0], depth[-1])] == [
        (-5.0, 7885.275), (5.0, 6491.515),
    ]  # fmt: skip
    snapshot = dt.datetime(2025, 5, 19, 11, 7, 31, tzinfo=dt.UTC)
    assert depth[0]["ts"] == int(snapshot.timestamp()) * 10**9
    trades = lake_rows(tmp_path, "um_agg_trades")
    assert len(trades) == 22
    # the monthly excerpts interleave two id ranges; the lake holds them sorted
    assert [t["agg_trade_id"] for t in trades] == sorted(t["agg_trade_id"] for t in trades)
    assert trades[0] == {
        "agg_trade_id": 1715206948, "ts": 1682899200101 * MS, "price": 29223.0,
        "quantity": 0.639, "first_trade_id": 3643221425, "last_trade_id": 3643221428,
        "aggressor": "BUY", "is_best_match": None,
    }  # fmt: skip
    assert (trades[-1]["agg_trade_id"], trades[-1]["price"], trades[-1]["aggressor"]) == (
        1896999307, 33944.9, "BUY",
    )  # fmt: skip


def test_the_interleaved_monthly_excerpts_are_sorted_and_counted(
    tmp_path: Path, real_vision: Path
) -> None:
    report = ingest([real_vision / "futures/um/aggTrades"], tmp_path)
    assert [(f.warnings, f.first_lines) for f in report.files] == [
        ({"out_of_order": 4}, {"out_of_order": 4}),  # header, so the first swap is on line 4
        ({"out_of_order": 5}, {"out_of_order": 3}),
    ]
    dates = sorted(p.name for p in (tmp_path / "lake/um_agg_trades/symbol=BTCUSDT").iterdir())
    assert dates == ["date=2023-05-01", "date=2023-05-30", "date=2023-10-01", "date=2023-10-27"]


def test_ingesting_the_real_files_again_changes_nothing(tmp_path: Path, real_vision: Path) -> None:
    ingest([real_vision], tmp_path)
    before = lake_state(tmp_path)
    again = ingest([real_vision], tmp_path)
    assert lake_state(tmp_path) == before
    assert again.rows_written == 0
    assert again.duplicates == again.rows_read == 9999 + 2880 + 10 + 22
    assert all(file.partitions == [] for file in again.files)


def test_real_klines_become_the_bars_write_bars_would_write(
    tmp_path: Path, real_vision: Path
) -> None:
    ingest([real_vision / "spot"], tmp_path / "ingested")
    written = sorted((tmp_path / "ingested/lake/bars_1m/symbol=ADABTC").rglob("*.parquet"))
    assert [check_bars_file(path) for path in written] == [1440, 1440]
    table = pa.concat_tables([pq.read_table(path) for path in written])
    direct = Lake(tmp_path / "direct").write_bars("ADABTC", "1m", table)
    assert [path.read_bytes() for path in direct] == [path.read_bytes() for path in written]
    assert pq.read_schema(written[0]).remove_metadata() == BARS_SCHEMA


def test_files_that_are_not_binance_vision_fail_clearly_and_the_rest_is_ingested(
    tmp_path: Path, real_vision: Path
) -> None:
    candles = shared_fixtures() / "candles/freqtrade/XRP_ETH-1m.csv"
    depth = shared_fixtures() / "binance_misc/futures_btcusdt_depth_snap.csv"
    book = real_vision / "futures/um/bookTicker/BTCUSDT-bookTicker-2023-10-02.head9999.csv"
    report = ingest([candles, book, depth], tmp_path)
    assert [file.ok for file in report.files] == [False, True, False]
    assert report.files[0].error == f"{candles}: not a binance.vision file name " + (
        "(expected <SYMBOL>-<family or interval>-<YYYY-MM[-DD]>.csv or .zip)"
    )
    assert str(depth) in (report.files[2].error or "")
    assert len(lake_rows(tmp_path, "um_quotes")) == 9999


# -- validation, one rule at a time ------------------------------------------------------------


def test_non_positive_prices_are_dropped_and_counted_with_the_first_line(tmp_path: Path) -> None:
    rows = [
        agg_trade(1, 100.0, 1.0, DAY0_MS),
        agg_trade(2, 0.0, 1.0, DAY0_MS + 1),
        agg_trade(3, -5.0, 1.0, DAY0_MS + 2),
        agg_trade(4, 101.0, 1.0, DAY0_MS + 3),
    ]
    file = only(ingest([write_vision_file(tmp_path, SPOT_AGG, rows)], tmp_path))
    assert (file.warnings, file.first_lines) == (
        {"non_positive_price": 2}, {"non_positive_price": 2},
    )  # fmt: skip
    assert (file.rows_written, file.dropped) == (2, 2)
    assert [r["agg_trade_id"] for r in lake_rows(tmp_path, "agg_trades")] == [1, 4]


def test_not_a_number_or_infinite_prices_are_dropped(tmp_path: Path) -> None:
    rows = [agg_trade(1, 100.0, 1.0, DAY0_MS), "2,nan,1.0,20,21,1704067200001,True,True",
            "3,inf,1.0,30,31,1704067200002,True,True"]  # fmt: skip
    file = only(ingest([write_vision_file(tmp_path, SPOT_AGG, rows)], tmp_path))
    assert file.warnings == {"non_positive_price": 2}
    assert len(lake_rows(tmp_path, "agg_trades")) == 1


def test_negative_sizes_are_dropped_and_counted(tmp_path: Path) -> None:
    rows = [agg_trade(1, 100.0, -1.0, DAY0_MS), agg_trade(2, 100.0, 0.0, DAY0_MS + 1)]
    file = only(ingest([write_vision_file(tmp_path, SPOT_AGG, rows)], tmp_path))
    assert (file.warnings, file.first_lines) == ({"negative_size": 1}, {"negative_size": 1})
    assert [r["agg_trade_id"] for r in lake_rows(tmp_path, "agg_trades")] == [2]


def test_a_bid_at_or_above_the_ask_is_dropped_and_counted(tmp_path: Path) -> None:
    rows = [
        f"1,100.0,1.0,100.5,1.0,{DAY0_MS},{DAY0_MS + 1}",
        f"2,100.5,1.0,100.5,1.0,{DAY0_MS + 1},{DAY0_MS + 2}",
        f"3,101.0,1.0,100.5,1.0,{DAY0_MS + 2},{DAY0_MS + 3}",
        f"4,100.0,1.0,100.5,1.0,{DAY0_MS + 3},{DAY0_MS + 4}",
    ]
    tree = "data/futures/um/daily/bookTicker/BTCUSDT/BTCUSDT-bookTicker-2024-01-01.csv"
    path = write_vision_file(tmp_path, tree, rows, header=BOOK_TICKER_HEADER)
    file = only(ingest([path], tmp_path))
    assert (file.warnings, file.first_lines) == ({"crossed_book": 2}, {"crossed_book": 3})
    assert [r["update_id"] for r in lake_rows(tmp_path, "um_quotes")] == [1, 4]


def test_rows_outside_the_named_day_are_dropped_and_counted(tmp_path: Path) -> None:
    rows = [
        agg_trade(1, 100.0, 1.0, DAY0_MS - 1),
        agg_trade(2, 100.0, 1.0, DAY0_MS),
        agg_trade(3, 100.0, 1.0, DAY0_MS + DAY_MS - 1),
        agg_trade(4, 100.0, 1.0, DAY0_MS + DAY_MS),
    ]
    file = only(ingest([write_vision_file(tmp_path, SPOT_AGG, rows)], tmp_path))
    assert (file.warnings, file.first_lines) == ({"outside_period": 2}, {"outside_period": 1})
    assert [r["agg_trade_id"] for r in lake_rows(tmp_path, "agg_trades")] == [2, 3]
    assert [p.name for p in (tmp_path / "lake/agg_trades/symbol=BTCUSDT").iterdir()] == [
        "date=2024-01-01"
    ]


def test_a_monthly_file_spreads_over_day_partitions_and_keeps_its_month(tmp_path: Path) -> None:
    rows = [agg_trade(i, 100.0, 1.0, DAY0_MS + i * DAY_MS) for i in range(33)]
    path = write_vision_file(tmp_path, "data/spot/monthly/aggTrades/BTCUSDT/"
                             "BTCUSDT-aggTrades-2024-01.csv", rows)  # fmt: skip
    file = only(ingest([path], tmp_path))
    assert (file.rows_written, file.warnings) == (31, {"outside_period": 2})
    assert len(file.partitions) == 31
    assert file.partitions[-1].parent.name == "date=2024-01-31"


def test_rows_out_of_order_are_counted_and_stored_sorted_by_time_then_key(tmp_path: Path) -> None:
    rows = [
        agg_trade(3, 100.0, 1.0, DAY0_MS + 5),
        agg_trade(1, 100.0, 1.0, DAY0_MS + 1),
        agg_trade(5, 100.0, 1.0, DAY0_MS + 1),
        agg_trade(2, 100.0, 1.0, DAY0_MS + 1),
        agg_trade(4, 100.0, 1.0, DAY0_MS + 9),
    ]
    file = only(ingest([write_vision_file(tmp_path, SPOT_AGG, rows)], tmp_path))
    assert (file.warnings, file.first_lines) == ({"out_of_order": 2}, {"out_of_order": 2})
    assert file.rows_written == 5
    stored = lake_rows(tmp_path, "agg_trades")
    assert [(r["ts"] // MS - DAY0_MS, r["agg_trade_id"]) for r in stored] == [
        (1, 1), (1, 2), (1, 5), (5, 3), (9, 4),
    ]  # fmt: skip


def test_a_failing_file_is_reported_and_the_files_around_it_are_still_ingested(
    tmp_path: Path,
) -> None:
    tree = "data/spot/daily/aggTrades/BTCUSDT/BTCUSDT-aggTrades-2024-01-0{}.csv"
    for day in (1, 2, 3):
        start = DAY0_MS + (day - 1) * DAY_MS
        rows = [agg_trade(day * 10 + i, 100.0, 1.0, start + i) for i in range(3)]
        if day == 2:
            rows.insert(2, "21,100.0,1.0,210,211,1704153600001,True")
        write_vision_file(tmp_path / "in", tree.format(day), rows)
    report = ingest([tmp_path / "in"], tmp_path)
    assert [f.ok for f in report.files] == [True, False, True]
    bad = report.files[1]
    assert bad.error == (
        f"{bad.path}: line 3: Expected Number of Columns: 8 Found: 7 "
        "('21,100.0,1.0,210,211,1704153600001,True')"
    )
    assert bad.partitions == []
    dates = sorted(p.name for p in (tmp_path / "lake/agg_trades/symbol=BTCUSDT").iterdir())
    assert dates == ["date=2024-01-01", "date=2024-01-03"]


def test_an_unparseable_timestamp_fails_the_file_before_anything_is_written(tmp_path: Path) -> None:
    rows = [agg_trade(1, 100.0, 1.0, DAY0_MS), "2,100.0,1.0,20,21,yesterday,True,True"]
    file = only(ingest([write_vision_file(tmp_path, SPOT_AGG, rows)], tmp_path))
    assert file.error is not None
    assert "line 2: column 'transact_time'" in file.error
    assert not (tmp_path / "lake").exists()


def test_a_checksum_mismatch_fails_the_file_and_writes_nothing(tmp_path: Path) -> None:
    path = write_vision_file(tmp_path, SPOT_AGG, [agg_trade(1, 100.0, 1.0, DAY0_MS)],
                             zipped=True, checksum=True)  # fmt: skip
    good = only(ingest([path], tmp_path / "good"))
    assert good.checksum_verified and good.rows_written == 1
    path.with_name(path.name + ".CHECKSUM").write_text(f"{'ab' * 32}  {path.name}\n")
    bad = only(ingest([path], tmp_path / "bad"))
    assert bad.error is not None and "does not match" in bad.error
    assert not (tmp_path / "bad" / "lake").exists()


def test_an_empty_file_is_a_warning_and_writes_nothing(tmp_path: Path) -> None:
    file = only(ingest([write_vision_file(tmp_path, SPOT_AGG, [])], tmp_path))
    assert (file.ok, file.warnings, file.partitions) == (True, {"empty_file": 1}, [])


def test_every_warning_kind_is_declared() -> None:
    assert set(WARNING_KINDS) == {
        "non_positive_price", "negative_size", "crossed_book", "outside_period",
        "out_of_order", "conflicting_duplicate", "empty_file",
    }  # fmt: skip


# -- duplicates and idempotence ------------------------------------------------------------------


def test_a_key_repeated_in_a_file_is_stored_once_and_the_later_row_wins(tmp_path: Path) -> None:
    rows = [
        agg_trade(1, 100.0, 1.0, DAY0_MS),
        agg_trade(2, 100.0, 1.0, DAY0_MS + 1),
        agg_trade(1, 100.0, 1.0, DAY0_MS),  # the same row again
        agg_trade(2, 100.5, 1.0, DAY0_MS + 1),  # the same trade id, another price
        agg_trade(3, 100.0, 1.0, DAY0_MS + 2),
    ]
    file = only(ingest([write_vision_file(tmp_path, SPOT_AGG, rows)], tmp_path))
    assert (file.rows_written, file.duplicates, file.dropped) == (3, 2, 0)
    # reported on the line of the later row, the one that is kept
    conflict = (file.warnings["conflicting_duplicate"], file.first_lines["conflicting_duplicate"])
    assert conflict == (1, 4)
    stored = lake_rows(tmp_path, "agg_trades")
    assert [(r["agg_trade_id"], r["price"]) for r in stored] == [(1, 100.0), (2, 100.5), (3, 100.0)]


def test_ingesting_the_same_files_twice_changes_nothing_byte_for_byte(tmp_path: Path) -> None:
    days = []
    for day in (1, 2):
        start = DAY0_MS + (day - 1) * DAY_MS
        rows = [agg_trade(day * 1000 + i, 100.0 + i, 1.0, start + i * 7) for i in range(500)]
        tree = f"data/spot/daily/aggTrades/BTCUSDT/BTCUSDT-aggTrades-2024-01-0{day}.csv"
        # the second day as binance.vision serves it: zipped, with its checksum
        days.append(
            write_vision_file(tmp_path / "in", tree, rows, zipped=day == 2, checksum=day == 2)
        )
    first = ingest(days, tmp_path)
    assert first.rows_written == 1000
    before = lake_state(tmp_path)
    second = ingest(days, tmp_path)
    assert lake_state(tmp_path) == before
    assert (second.rows_written, second.duplicates) == (0, 1000)
    assert_balanced(second)


def _overlap_files(root: Path) -> tuple[Path, Path]:
    """A monthly file of 3 days and the daily file of its second day, with a row the
    monthly file lacks (ids 2000.. on day 2)."""
    monthly_rows = [agg_trade(day * 1000 + i, 100.0, 1.0, DAY0_MS + (day - 1) * DAY_MS + i)
                    for day in (1, 2, 3) for i in range(4)]  # fmt: skip
    daily_rows = [agg_trade(2000 + i, 100.0, 1.0, DAY0_MS + DAY_MS + i) for i in range(5)]
    monthly = write_vision_file(root, "data/spot/monthly/aggTrades/BTCUSDT/"
                                "BTCUSDT-aggTrades-2024-01.csv", monthly_rows)  # fmt: skip
    daily = write_vision_file(root, "data/spot/daily/aggTrades/BTCUSDT/"
                              "BTCUSDT-aggTrades-2024-01-02.csv", daily_rows)  # fmt: skip
    return monthly, daily


def test_overlapping_daily_and_monthly_files_are_deduplicated_in_either_order(
    tmp_path: Path,
) -> None:
    monthly, daily = _overlap_files(tmp_path / "in")
    one = ingest([monthly, daily], tmp_path / "a")
    two = ingest([daily, monthly], tmp_path / "b")
    assert [(f.rows_written, f.duplicates) for f in one.files] == [(12, 0), (1, 4)]
    assert [(f.rows_written, f.duplicates) for f in two.files] == [(5, 0), (8, 4)]
    a, b = lake_state(tmp_path / "a"), lake_state(tmp_path / "b")
    assert [path.relative_to(tmp_path / "a") for path in a] == [
        path.relative_to(tmp_path / "b") for path in b
    ]
    assert [content for content, _ in a.values()] == [content for content, _ in b.values()]
    day2 = [r["agg_trade_id"] for r in lake_rows(tmp_path / "a", "agg_trades")][4:9]
    assert day2 == [2000, 2001, 2002, 2003, 2004]


def test_merging_into_a_partition_keeps_its_rows_and_sorts_the_union(tmp_path: Path) -> None:
    early = [agg_trade(10 + i, 100.0, 1.0, DAY0_MS + 1000 + i) for i in range(3)]
    late = [agg_trade(i, 100.0, 1.0, DAY0_MS + i) for i in range(3)]
    ingest([write_vision_file(tmp_path / "a", SPOT_AGG, early)], tmp_path)
    monthly = write_vision_file(tmp_path / "b", "data/spot/monthly/aggTrades/BTCUSDT/"
                                "BTCUSDT-aggTrades-2024-01.csv", late + early[:1])  # fmt: skip
    file = only(ingest([monthly], tmp_path))
    assert (file.rows_written, file.duplicates) == (3, 1)
    assert [r["agg_trade_id"] for r in lake_rows(tmp_path, "agg_trades")] == [0, 1, 2, 10, 11, 12]


def test_a_corrected_file_replaces_the_rows_it_changes_and_says_so(tmp_path: Path) -> None:
    rows = [agg_trade(i, 100.0, 1.0, DAY0_MS + i) for i in range(4)]
    ingest([write_vision_file(tmp_path / "a", SPOT_AGG, rows)], tmp_path)
    rows[2] = agg_trade(2, 99.0, 1.0, DAY0_MS + 2)
    file = only(ingest([write_vision_file(tmp_path / "b", SPOT_AGG, rows)], tmp_path))
    assert (file.rows_written, file.duplicates) == (1, 3)
    assert (file.warnings, file.first_lines) == (
        {"conflicting_duplicate": 1}, {"conflicting_duplicate": 3},
    )  # fmt: skip
    assert [r["price"] for r in lake_rows(tmp_path, "agg_trades")] == [100.0, 100.0, 99.0, 100.0]


def test_microsecond_and_millisecond_files_of_the_same_trades_are_the_same_lake(
    tmp_path: Path,
) -> None:
    rows = [(i, 100.0 + i, 0.5, DAY0_MS + i * 333) for i in range(50)]
    ms = write_vision_file(tmp_path / "ms", SPOT_AGG, [agg_trade(*r) for r in rows])
    us = write_vision_file(tmp_path / "us", SPOT_AGG, [agg_trade(*r, micros=True) for r in rows])
    ingest([ms], tmp_path / "a")
    ingest([us], tmp_path / "b")
    (a,) = (tmp_path / "a/lake").rglob("*.parquet")
    (b,) = (tmp_path / "b/lake").rglob("*.parquet")
    assert a.read_bytes() == b.read_bytes()


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    order=st.permutations(list(range(12))),
    repeats=st.lists(st.integers(0, 11), max_size=6),
    split=st.integers(0, 12),
)
def test_any_order_and_repetition_of_the_same_trades_gives_the_same_lake(
    tmp_path_factory: pytest.TempPathFactory, order: list[int], repeats: list[int], split: int
) -> None:
    """Shuffled, repeated and split over a daily and a monthly file, the trades end up
    stored once each, sorted, and the counts add up."""
    root = tmp_path_factory.mktemp("property")
    trade = [agg_trade(i, 100.0 + i, 1.0, DAY0_MS + (i // 3) * 1000, i % 2 == 0) for i in range(12)]
    rows = [trade[i] for i in order] + [trade[i] for i in repeats]
    monthly = write_vision_file(root / "in", "spot/monthly/aggTrades/BTCUSDT-aggTrades-2024-01.csv",
                                rows[:split])  # fmt: skip
    daily = write_vision_file(root / "in", "spot/daily/aggTrades/BTCUSDT-aggTrades-2024-01-01.csv",
                              rows[split:])  # fmt: skip
    report = ingest([monthly, daily], root)
    assert report.failed == []
    assert_balanced(report)
    assert report.rows_written == 12
    assert report.duplicates == len(repeats)
    assert [r["agg_trade_id"] for r in lake_rows(root, "agg_trades")] == list(range(12))


# -- every family and layout, end to end ------------------------------------------------------


def test_futures_trades_in_a_future_data_tree(tmp_path: Path) -> None:
    path = write_vision_file(
        tmp_path, "future_data/daily_data/trades/BTCUSDT-trades-2024-01-01.csv",
        [f"5,100.0,2.0,200.0,{DAY0_MS + 3},true"],
        header="id,price,qty,quote_qty,time,is_buyer_maker",
    )  # fmt: skip
    file = only(ingest([path], tmp_path))
    assert file.dataset == "um_trades"
    assert lake_rows(tmp_path, "um_trades") == [{
        "trade_id": 5, "ts": (DAY0_MS + 3) * MS, "price": 100.0, "quantity": 2.0,
        "quote_quantity": 200.0, "aggressor": "SELL", "is_best_match": None,
    }]  # fmt: skip


def test_spot_trades_in_a_spot_data_tree_zipped(tmp_path: Path) -> None:
    path = write_vision_file(tmp_path, "spot_data/monthly/trades/BTCUSDT-trades-2025-01.csv",
                             [f"9,100.0,2.0,200.0,{(DAY0_MS + 366 * DAY_MS) * 1000},False,True"],
                             zipped=True, checksum=True)  # fmt: skip
    file = only(ingest([path], tmp_path))
    assert (file.dataset, file.checksum_verified, file.rows_written) == ("trades", True, 1)
    assert lake_rows(tmp_path, "trades")[0]["ts"] == (DAY0_MS + 366 * DAY_MS) * MS


def test_futures_klines_in_a_raw_futures_tree(tmp_path: Path) -> None:
    path = write_vision_file(
        tmp_path, "data/raw/futures/daily/klines_1m/BTCUSDT-1m-2024-01-01.csv",
        [kline(DAY0_MS + i * 60_000) for i in range(3)], zipped=True,
    )  # fmt: skip
    file = only(ingest([path], tmp_path))
    assert (file.dataset, file.rows_written) == ("um_bars_1m", 3)
    assert [check_bars_file(p) for p in file.partitions] == [3]


@pytest.mark.parametrize(
    ("folder", "dataset", "close"),
    [
        ("markPriceKlines", "um_mark_price_bars_1h", 42000.5),
        ("indexPriceKlines", "um_index_price_bars_1h", 41999.0),
        ("premiumIndexKlines", "um_premium_index_bars_1h", -0.00031),
    ],
)
def test_mark_index_and_premium_klines_have_their_datasets(
    tmp_path: Path, folder: str, dataset: str, close: float
) -> None:
    # premium-index values are negative when futures trade below the index: not dropped
    line = f"{DAY0_MS},{close},{close},{close},{close},0,{DAY0_MS + 3_599_999},0,60,0,0,0"
    path = write_vision_file(tmp_path, f"data/futures/um/daily/{folder}/BTCUSDT/1h/"
                             "BTCUSDT-1h-2024-01-01.csv", [line])  # fmt: skip
    file = only(ingest([path], tmp_path))
    assert (file.dataset, file.rows_written, file.warnings) == (dataset, 1, {})
    (bar,) = lake_rows(tmp_path, dataset)
    assert (bar["close"], bar["trades"], bar["volume"]) == (close, 60, 0.0)


def test_a_negative_mark_price_is_dropped(tmp_path: Path) -> None:
    line = f"{DAY0_MS},-1,1,1,1,0,{DAY0_MS + 59_999},0,60,0,0,0"
    path = write_vision_file(tmp_path, "data/futures/um/daily/markPriceKlines/BTCUSDT/1m/"
                             "BTCUSDT-1m-2024-01-01.csv", [line])  # fmt: skip
    assert only(ingest([path], tmp_path)).warnings == {"non_positive_price": 1}


def test_metrics_funding_and_book_depth_reach_their_datasets(tmp_path: Path) -> None:
    metrics = write_vision_file(
        tmp_path / "in",
        "data/futures/um/daily/metrics/BTCUSDT/BTCUSDT-metrics-2024-01-01.csv",
        [f"2024-01-01 00:{m:02d}:00,BTCUSDT,81000,3.4e9,1.5,1.2,1.7,0.9" for m in (5, 10)],
        header="create_time,symbol,sum_open_interest,sum_open_interest_value,"
        "count_toptrader_long_short_ratio,sum_toptrader_long_short_ratio,count_long_short_ratio,"
        "sum_taker_long_short_vol_ratio",
    )
    funding = write_vision_file(
        tmp_path / "in",
        "data/futures/um/monthly/fundingRate/BTCUSDT/BTCUSDT-fundingRate-2024-01.csv",
        [f"{DAY0_MS + h * 3_600_000},8,0.0001" for h in range(0, 48, 8)],
        header="calc_time,funding_interval_hours,last_funding_rate",
    )
    depth = write_vision_file(
        tmp_path / "in",
        "data/futures/um/daily/bookDepth/BTCUSDT/BTCUSDT-bookDepth-2024-01-01.csv",
        [f"2024-01-01 00:00:30,{p},{abs(p) * 10},{abs(p) * 1e6}" for p in (-2, -1, 1, 2)],
        header="timestamp,percentage,depth,notional",
    )
    report = ingest([tmp_path / "in"], tmp_path)
    assert report.failed == []
    assert [(f.dataset, f.rows_written) for f in report.files] == [
        ("um_book_depth", 4), ("um_metrics", 2), ("um_funding", 6),  # daily/ sorts before monthly/
    ]  # fmt: skip
    assert [r["ts"] for r in lake_rows(tmp_path, "um_metrics")] == [
        (DAY0_MS + 300_000) * MS, (DAY0_MS + 600_000) * MS,
    ]  # fmt: skip
    funding_days = sorted(p.name for p in (tmp_path / "lake/um_funding/symbol=BTCUSDT").iterdir())
    assert funding_days == ["date=2024-01-01", "date=2024-01-02"]
    assert [r["percentage"] for r in lake_rows(tmp_path, "um_book_depth")] == [-2, -1, 1, 2]
    assert metrics.exists() and funding.exists() and depth.exists()


def test_a_file_without_a_market_folder_uses_the_market_given(tmp_path: Path) -> None:
    path = write_vision_file(tmp_path, "downloads/BTCUSDT-aggTrades-2024-01-01.csv",
                             [agg_trade(1, 100.0, 1.0, DAY0_MS, spot=False)])  # fmt: skip
    assert "no folder says spot or futures" in (only(ingest([path], tmp_path)).error or "")
    assert only(ingest([path], tmp_path, market="um")).dataset == "um_agg_trades"


# -- the lake's generic partitions (storage/lake.py, used by ingestion) ------------------------


def test_a_partition_streamed_in_odd_chunks_is_the_bytes_of_one_write(tmp_path: Path) -> None:
    # more than one row group (1 << 20 rows), so the streamed row-group cuts are exercised
    spec, _ = dataset_spec("um_funding")
    n = (1 << 20) + 12_345
    start = DAY0_MS * MS
    table = pa.table(
        {
            "ts": pa.array(range(start, start + n), pa.int64()),
            "funding_interval_hours": pa.array([8] * n, pa.int64()),
            "rate": pa.array([0.0001] * n, pa.float64()),
        }
    )
    chunks = [table.slice(offset, 77_777) for offset in range(0, n, 77_777)]
    day = dt.date(2024, 1, 1)
    encoding = spec.column_encoding
    once = Lake(tmp_path / "a").write_partition(
        "um_funding", "X", day, spec.schema, [table], encoding
    )
    streamed = Lake(tmp_path / "b").write_partition(
        "um_funding", "X", day, spec.schema, chunks, encoding
    )
    assert once.read_bytes() == streamed.read_bytes()
    assert pq.ParquetFile(once).metadata.num_row_groups == 2
    assert Lake(tmp_path / "b").read_partition("um_funding", "X", day) == pq.read_table(once)


def test_a_partition_refuses_nulls_in_a_required_column_naming_it(tmp_path: Path) -> None:
    spec, _ = dataset_spec("um_funding")
    rows = pa.table({"ts": [1], "funding_interval_hours": [None], "rate": [0.1]})
    with pytest.raises(LakeSchemaError, match="'funding_interval_hours' has 1 nulls"):
        Lake(tmp_path).write_partition("um_funding", "X", dt.date(2024, 1, 1), spec.schema, [rows])
    assert Lake(tmp_path).read_partition("um_funding", "X", dt.date(2024, 1, 1)) is None
