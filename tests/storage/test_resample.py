"""Resampling in SQL: bars from trades, aggTrades and shorter bars, checked against a direct
computation in Python; UTC grid, no bar for an empty interval, idempotent lake writes."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pytest

from storage.lake import DAY_NS
from storage.resample import (
    ResampleError,
    bars_query,
    build_bars,
    resample,
    source_interval,
    target_dataset,
)
from storage.sample import generate_bars, write_sample
from tests.shared_fixtures import shared_fixtures
from tests.storage.lake_tables import (
    BAR_FIELDS,
    DAY0,
    DAY0_NS,
    MINUTE,
    Tick,
    agg_trades_table,
    file_digests,
    lake_bars,
    random_ticks,
    reference_bars,
    trades_table,
    write_partitions,
)

HOUR = 60 * MINUTE


def assert_same_bars(actual: list[tuple[int, ...]], expected: list[tuple[int, ...]]) -> None:
    """Times, prices and trade counts equal; volumes equal to a part in 10^12 (SQL sums
    decimals converted from each float, Python sums the floats)."""
    assert [bar[:5] + bar[7:] for bar in actual] == [bar[:5] + bar[7:] for bar in expected]
    for got, want in zip(actual, expected, strict=True):
        assert got[5:7] == pytest.approx(want[5:7], rel=1e-12, abs=0)


# --- tests ---------------------------------------------------------------------------------


def test_one_minute_bars_from_trades_equal_a_direct_computation(tmp_path: Path) -> None:
    ticks = random_ticks(1, 3000, DAY0_NS, 2 * DAY_NS)
    write_partitions(tmp_path, "trades", "BTCUSDT", trades_table(ticks))

    result = resample(tmp_path, "trades", "1m", "BTCUSDT")

    expected = reference_bars(ticks, MINUTE)
    assert result.dataset == "bars_1m"
    assert result.bars == len(expected)
    assert_same_bars(lake_bars(tmp_path, "bars_1m", "BTCUSDT"), expected)
    assert [path.parent.name for path in result.files] == ["date=2024-03-01", "date=2024-03-02"]


def test_empty_intervals_produce_no_bar(tmp_path: Path) -> None:
    ticks = [Tick(1, DAY0_NS + 5, 100.0, 1.0), Tick(2, DAY0_NS + 3 * MINUTE + 7, 101.0, 2.0)]
    write_partitions(tmp_path, "trades", "BTCUSDT", trades_table(ticks))

    resample(tmp_path, "trades", "1m", "BTCUSDT")

    bars = lake_bars(tmp_path, "bars_1m", "BTCUSDT")
    assert [bar[0] for bar in bars] == [DAY0_NS, DAY0_NS + 3 * MINUTE]


def test_bars_are_aligned_on_the_utc_grid(tmp_path: Path) -> None:
    ticks = [
        Tick(1, DAY0_NS + 4 * HOUR - 1, 100.0, 1.0),  # last nanosecond of the 00:00 bar
        Tick(2, DAY0_NS + 4 * HOUR, 102.0, 1.0),  # first of the 04:00 bar
        Tick(3, DAY0_NS + 7 * HOUR + 59 * MINUTE, 99.0, 1.0),
    ]
    write_partitions(tmp_path, "trades", "BTCUSDT", trades_table(ticks))

    resample(tmp_path, "trades", "4h", "BTCUSDT")

    bars = lake_bars(tmp_path, "bars_4h", "BTCUSDT")
    assert [(bar[0], bar[1], bar[4], bar[7]) for bar in bars] == [
        (DAY0_NS, 100.0, 100.0, 1),
        (DAY0_NS + 4 * HOUR, 102.0, 99.0, 2),
    ]


def test_open_and_close_follow_trade_ids_not_row_order(tmp_path: Path) -> None:
    ticks = [
        Tick(7, DAY0_NS + 10, 103.0, 1.0),
        Tick(5, DAY0_NS + 10, 101.0, 1.0),
        Tick(6, DAY0_NS + 10, 102.0, 1.0),
    ]
    write_partitions(tmp_path, "trades", "BTCUSDT", trades_table(ticks))

    resample(tmp_path, "trades", "1m", "BTCUSDT")

    [bar] = lake_bars(tmp_path, "bars_1m", "BTCUSDT")
    assert (bar[1], bar[4]) == (101.0, 103.0)


def test_agg_trades_count_trades_from_their_id_ranges(tmp_path: Path) -> None:
    ticks = random_ticks(2, 2000, DAY0_NS, DAY_NS)
    write_partitions(tmp_path, "agg_trades", "ETHUSDT", agg_trades_table(ticks))

    result = resample(tmp_path, "agg_trades", "5m", "ETHUSDT")

    assert result.dataset == "bars_5m"
    expected = reference_bars(ticks, 5 * MINUTE, aggregated=True)
    assert_same_bars(lake_bars(tmp_path, "bars_5m", "ETHUSDT"), expected)


def test_one_minute_bars_resample_to_an_hour(tmp_path: Path) -> None:
    write_sample(tmp_path, "BTCUSDT", DAY0, 2, seed=3)
    minutes = generate_bars("BTCUSDT", DAY0, 2, seed=3)

    resample(tmp_path, "bars_1m", "1h", "BTCUSDT")

    starts = pc.cast(minutes.column("open_time"), pa.int64()).to_pylist()
    columns = [minutes.column(name).to_pylist() for name in BAR_FIELDS]
    rows = list(zip(starts, *columns, strict=True))
    expected = []
    for hour in range(0, len(rows), 60):
        group = rows[hour : hour + 60]
        expected.append(
            (
                group[0][0],
                group[0][1],
                max(row[2] for row in group),
                min(row[3] for row in group),
                group[-1][4],
                sum(row[5] for row in group),
                sum(row[6] for row in group),
                sum(row[7] for row in group),
            )
        )
    actual = lake_bars(tmp_path, "bars_1h", "BTCUSDT")
    assert len(actual) == 48
    assert_same_bars(actual, expected)


def test_resampling_again_writes_the_same_bytes(tmp_path: Path) -> None:
    ticks = random_ticks(3, 5000, DAY0_NS, 3 * DAY_NS)
    write_partitions(tmp_path, "agg_trades", "BTCUSDT", agg_trades_table(ticks))
    first = resample(tmp_path, "agg_trades", "1m", "BTCUSDT")
    before = file_digests(tmp_path / "lake" / "bars_1m")
    for path in first.files:
        os.utime(path, ns=(0, 0))

    again = resample(tmp_path, "agg_trades", "1m", "BTCUSDT")

    assert again == first
    assert file_digests(tmp_path / "lake" / "bars_1m") == before


def test_usd_m_sources_write_the_um_prefixed_dataset(tmp_path: Path) -> None:
    ticks = random_ticks(4, 500, DAY0_NS, DAY_NS)
    write_partitions(tmp_path, "um_agg_trades", "BTCUSDT", agg_trades_table(ticks))

    result = resample(tmp_path, "um_agg_trades", "15m", "BTCUSDT")
    resample(tmp_path, "um_bars_15m", "1h", "BTCUSDT")

    assert result.dataset == "um_bars_15m"
    assert_same_bars(
        lake_bars(tmp_path, "um_bars_15m", "BTCUSDT"),
        reference_bars(ticks, 15 * MINUTE, aggregated=True),
    )
    assert len(lake_bars(tmp_path, "um_bars_1h", "BTCUSDT")) == 24
    assert not (tmp_path / "lake" / "bars_15m").exists()
    assert not (tmp_path / "lake" / "bars_1h").exists()


def test_start_and_end_resample_only_those_days(tmp_path: Path) -> None:
    ticks = random_ticks(5, 3000, DAY0_NS, 3 * DAY_NS)
    write_partitions(tmp_path, "trades", "BTCUSDT", trades_table(ticks))
    middle = DAY0 + dt.timedelta(days=1)

    result = resample(tmp_path, "trades", "1m", "BTCUSDT", middle, middle + dt.timedelta(days=1))

    assert [path.parent.name for path in result.files] == ["date=2024-03-02"]
    inside = [t for t in ticks if DAY0_NS + DAY_NS <= t.ts < DAY0_NS + 2 * DAY_NS]
    assert_same_bars(lake_bars(tmp_path, "bars_1m", "BTCUSDT"), reference_bars(inside, MINUTE))


def test_other_symbols_are_not_mixed_in(tmp_path: Path) -> None:
    write_partitions(tmp_path, "trades", "BTCUSDT", trades_table([Tick(1, DAY0_NS, 100.0, 1.0)]))
    write_partitions(tmp_path, "trades", "ETHUSDT", trades_table([Tick(1, DAY0_NS, 5.0, 9.0)]))

    resample(tmp_path, "trades", "1m", "ETHUSDT")

    assert lake_bars(tmp_path, "bars_1m", "ETHUSDT") == [
        (DAY0_NS, 5.0, 5.0, 5.0, 5.0, 9.0, 45.0, 1)
    ]
    assert not (tmp_path / "lake" / "bars_1m" / "symbol=BTCUSDT").exists()


def test_bars_query_runs_over_any_from_item(tmp_path: Path) -> None:
    """What the benchmark does: bars straight from a CSV, no lake involved."""
    ticks = random_ticks(6, 1000, DAY0_NS, DAY_NS)
    csv = tmp_path / "agg.csv"
    table = agg_trades_table(ticks)
    table = table.set_column(1, "ts", pc.cast(table.column("ts"), pa.int64()))
    pcsv.write_csv(table, csv)
    rows = f"(SELECT * REPLACE (make_timestamp_ns(ts) AS ts) FROM read_csv('{csv.as_posix()}'))"
    with duckdb.connect() as connection:
        bars = build_bars(connection, "agg_trades", "1h", rows)
    assert bars.num_rows == 24
    assert pc.sum(bars.column("trades")).as_py() == sum(t.trades for t in ticks)
    assert "GROUP BY bucket" in bars_query("trades", "1m", "trades")


def test_target_and_source_names() -> None:
    assert target_dataset("trades", "1m") == "bars_1m"
    assert target_dataset("um_trades", "1h") == "um_bars_1h"
    assert target_dataset("um_mark_price_bars_1m", "1h") == "um_mark_price_bars_1h"
    assert source_interval("um_bars_5m") == "5m"
    assert source_interval("agg_trades") is None


@pytest.mark.parametrize(
    ("source", "interval", "message"),
    [
        ("quotes", "1m", "cannot resample 'quotes'"),
        ("bars_5m", "1m", "must be a longer multiple of 5m"),
        ("bars_5m", "5m", "must be a longer multiple of 5m"),
        ("bars_1h", "90m", "unknown interval"),
    ],
)
def test_impossible_requests_are_refused(source: str, interval: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        target_dataset(source, interval)


def test_a_missing_dataset_or_symbol_is_named(tmp_path: Path) -> None:
    with pytest.raises(ResampleError, match="no agg_trades in the lake"):
        resample(tmp_path, "agg_trades", "1m", "BTCUSDT")
    write_partitions(tmp_path, "trades", "BTCUSDT", trades_table([Tick(1, DAY0_NS, 1.0, 1.0)]))
    with pytest.raises(ResampleError, match="no trades rows for ETHUSDT"):
        resample(tmp_path, "trades", "1m", "ETHUSDT")
    with pytest.raises(ResampleError, match="empty range"):
        resample(tmp_path, "trades", "1m", "BTCUSDT", DAY0, DAY0)


def test_real_trades_resample_to_the_real_candles_built_from_them(
    tmp_path: Path, real_fixtures: Path
) -> None:
    """freqtrade's XRP/ETH 1m and 5m candles are an exact aggregation of its trades
    (PROVENANCE.md); ours must be the same, minute by minute."""
    folder = real_fixtures / "candles" / "freqtrade"
    raw = pcsv.read_csv(folder / "XRP_ETH-trades.csv")
    ticks = [
        Tick(tid, ms * 1_000_000, price, amount)
        for tid, ms, price, amount in zip(
            raw["id"].to_pylist(),
            raw["timestamp_ms"].to_pylist(),
            raw["price"].to_pylist(),
            raw["amount"].to_pylist(),
            strict=True,
        )
    ]
    write_partitions(tmp_path, "trades", "XRPETH", trades_table(ticks))

    for interval, step in (("1m", MINUTE), ("5m", 5 * MINUTE)):
        resample(tmp_path, "trades", interval, "XRPETH")
        candles = pcsv.read_csv(folder / f"XRP_ETH-{interval}.csv")
        ours = lake_bars(tmp_path, f"bars_{interval}", "XRPETH")
        assert [bar[0] for bar in ours] == [
            ms * 1_000_000 for ms in candles["open_time_ms"].to_pylist()
        ]
        for name, index in (("open", 1), ("high", 2), ("low", 3), ("close", 4)):
            assert [bar[index] for bar in ours] == candles[name].to_pylist(), (interval, name)
        assert [bar[5] for bar in ours] == pytest.approx(candles["volume"].to_pylist())
        assert all(bar[0] % step == 0 for bar in ours)


@pytest.fixture
def real_fixtures() -> Path:
    return shared_fixtures()
