"""The data-quality report: gaps, duplicates, coverage and the trades-vs-klines cross-check on
lakes built to have known defects, and a clean month under 0.1 % issues."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest

from storage.lake import DAY_NS, Lake
from storage.quality import QualityError, check_quality, dataset_shape, iso
from storage.sample import generate_bars
from tests.shared_fixtures import shared_fixtures
from tests.storage.lake_tables import (
    DAY0,
    DAY0_NS,
    MINUTE,
    TIME,
    Tick,
    agg_trades_table,
    random_ticks,
    reference_bars,
    trades_table,
    write_partitions,
)

SECOND = 1_000_000_000


def minute_bars(starts: list[int], price: float = 100.0, volume: float = 1.0) -> pa.Table:
    n = len(starts)
    return pa.table(
        {
            "open_time": pa.array(starts, pa.int64()).cast(TIME),
            "open": [price] * n,
            "high": [price + 1] * n,
            "low": [price - 1] * n,
            "close": [price] * n,
            "volume": [volume] * n,
            "quote_volume": [volume * price] * n,
            "trades": pa.array([1] * n, pa.int64()),
        }
    )


def bars_from(ticks: list[Tick]) -> pa.Table:
    """1m klines computed directly from ``ticks`` (no SQL), as a venue would publish them."""
    rows = reference_bars(ticks, MINUTE)
    columns = list(zip(*rows, strict=True))
    return pa.table(
        {
            "open_time": pa.array(columns[0], pa.int64()).cast(TIME),
            **{
                name: pa.array(values, pa.float64())
                for name, values in zip(
                    ("open", "high", "low", "close", "volume", "quote_volume"),
                    columns[1:7],
                    strict=True,
                )
            },
            "trades": pa.array(columns[7], pa.int64()),
        }
    )


def one_per_ten_seconds(first_ns: int, end_ns: int) -> list[Tick]:
    return [
        Tick(index, ts, 100.0 + index % 7, 0.5)
        for index, ts in enumerate(range(first_ns, end_ns, 10 * SECOND))
    ]


def test_missing_bars_are_reported_as_runs(tmp_path: Path) -> None:
    present = [DAY0_NS + m * MINUTE for m in range(1440) if m not in (0, 1, 100, 101, 102, 1439)]
    Lake(tmp_path).write_bars("BTCUSDT", "1m", minute_bars(present))

    report = check_quality(tmp_path, "bars_1m", "BTCUSDT")

    assert (report.start, report.end) == ("2024-03-01", "2024-03-02")
    assert [(gap.start, gap.end, gap.missing) for gap in report.gaps] == [
        ("2024-03-01T00:00:00Z", "2024-03-01T00:02:00Z", 2),
        ("2024-03-01T01:40:00Z", "2024-03-01T01:43:00Z", 3),
        ("2024-03-01T23:59:00Z", "2024-03-02T00:00:00Z", 1),
    ]
    assert report.gaps[1].seconds == 180.0
    assert (report.rows, report.expected_rows, report.missing) == (1434, 1440, 6)
    assert report.issue_units == 6 and report.issue_share == pytest.approx(6 / 1440)


def test_coverage_lists_every_day_of_the_range(tmp_path: Path) -> None:
    day2 = DAY0_NS + 2 * DAY_NS
    starts = [DAY0_NS + m * MINUTE for m in range(1440)] + [day2 + m * MINUTE for m in range(720)]
    Lake(tmp_path).write_bars("BTCUSDT", "1m", minute_bars(starts))

    report = check_quality(tmp_path, "bars_1m", "BTCUSDT", end=DAY0 + dt.timedelta(days=4))

    assert [(c.date, c.rows, c.expected, c.present) for c in report.coverage] == [
        ("2024-03-01", 1440, 1440, 1.0),
        ("2024-03-02", 0, 1440, 0.0),
        ("2024-03-03", 720, 1440, 0.5),
        ("2024-03-04", 0, 1440, 0.0),
    ]
    assert report.missing == 1440 + 720 + 1440
    assert [gap.missing for gap in report.gaps] == [1440, 720 + 1440]


def test_hourly_bars_are_counted_in_hours(tmp_path: Path) -> None:
    hour = 60 * MINUTE
    Lake(tmp_path).write_bars("BTCUSDT", "1h", minute_bars([DAY0_NS + h * hour for h in range(23)]))

    report = check_quality(tmp_path, "bars_1h", "BTCUSDT")

    assert (report.unit, report.units, report.missing) == ("1h", 24, 1)
    assert report.coverage[0].expected == 24


def test_duplicate_bars_are_counted_and_conflicts_told_apart(tmp_path: Path) -> None:
    starts = [DAY0_NS + m * MINUTE for m in range(1440)]
    Lake(tmp_path).write_bars("BTCUSDT", "1m", minute_bars(starts))
    partition = tmp_path / "lake" / "bars_1m" / "symbol=BTCUSDT" / "date=2024-03-01"
    repeats = minute_bars(starts[:3])  # the same three bars again
    conflicting = minute_bars(starts[10:11], price=105.0)  # another version of minute 10
    pq.write_table(pa.concat_tables([repeats, repeats, conflicting]), partition / "extra.parquet")

    report = check_quality(tmp_path, "bars_1m", "BTCUSDT")

    dup = report.duplicates
    assert (dup.keys, dup.extra_rows, dup.conflicting) == (4, 7, 1)
    assert [example["copies"] for example in dup.examples] == [3, 3, 3, 2]
    assert dup.examples[3] == {"open_time": starts[10], "copies": 2, "versions": 2}
    assert report.rows == 1447 and report.missing == 0
    assert report.coverage[0].present == 1.0
    assert report.issue_units == 4


def test_off_grid_bars_are_counted(tmp_path: Path) -> None:
    starts = [DAY0_NS + m * MINUTE for m in range(1440)]
    starts[5] += 30 * SECOND
    Lake(tmp_path).write_bars("BTCUSDT", "1m", minute_bars(starts))
    assert check_quality(tmp_path, "bars_1m", "BTCUSDT").off_grid == 1


def test_empty_stretches_in_trades_are_gaps_edges_included(tmp_path: Path) -> None:
    ticks = one_per_ten_seconds(DAY0_NS + 5 * MINUTE, DAY0_NS + DAY_NS - MINUTE)
    ticks = [t for t in ticks if not DAY0_NS + 600 * MINUTE < t.ts < DAY0_NS + 602 * MINUTE]
    write_partitions(tmp_path, "trades", "BTCUSDT", trades_table(ticks))

    report = check_quality(tmp_path, "trades", "BTCUSDT")

    assert report.gap_threshold_seconds == 60.0
    assert [(gap.start, gap.end, gap.seconds, gap.missing) for gap in report.gaps] == [
        ("2024-03-01T00:00:00Z", "2024-03-01T00:05:00Z", 300.0, None),
        ("2024-03-01T10:00:00Z", "2024-03-01T10:02:00Z", 120.0, None),
        ("2024-03-01T23:58:50Z", "2024-03-02T00:00:00Z", 70.0, None),
    ]
    assert report.gap_seconds == 490.0
    assert report.coverage[0].present == pytest.approx(1 - 490 / 86400)
    assert report.coverage[0].expected is None
    assert report.issue_units == pytest.approx(490 / 60)
    assert report.units == 1440


def test_the_gap_threshold_can_be_set(tmp_path: Path) -> None:
    ticks = one_per_ten_seconds(DAY0_NS, DAY0_NS + DAY_NS)
    ticks = [t for t in ticks if t.ts != DAY0_NS + 100 * SECOND]  # one 20 s hole
    write_partitions(tmp_path, "trades", "BTCUSDT", trades_table(ticks))

    assert check_quality(tmp_path, "trades", "BTCUSDT").gaps == []
    tight = check_quality(tmp_path, "trades", "BTCUSDT", max_gap_seconds=15)
    assert [(gap.start, gap.seconds) for gap in tight.gaps] == [("2024-03-01T00:01:30Z", 20.0)]
    assert tight.gap_threshold_seconds == 15.0


def test_sub_second_stretches_are_exact(tmp_path: Path) -> None:
    ticks = [Tick(i, DAY0_NS + i * SECOND // 10, 1.0, 1.0) for i in range(50)]
    ticks.append(Tick(99, DAY0_NS + 7 * SECOND + 123_456_789, 1.0, 1.0))
    write_partitions(tmp_path, "trades", "BTCUSDT", trades_table(ticks))

    report = check_quality(
        tmp_path, "trades", "BTCUSDT", end=DAY0 + dt.timedelta(days=1), max_gap_seconds=0.5
    )

    assert [(gap.start, gap.end) for gap in report.gaps[:2]] == [
        ("2024-03-01T00:00:04.9Z", "2024-03-01T00:00:07.123456789Z"),
        ("2024-03-01T00:00:07.123456789Z", "2024-03-02T00:00:00Z"),
    ]


def test_duplicate_trades_by_trade_id(tmp_path: Path) -> None:
    ticks = one_per_ten_seconds(DAY0_NS, DAY0_NS + DAY_NS)
    twice = [ticks[3], ticks[3], ticks[500], Tick(ticks[700].id, ticks[700].ts, 1.5, 9.0)]
    write_partitions(tmp_path, "trades", "BTCUSDT", trades_table(ticks + twice))

    report = check_quality(tmp_path, "trades", "BTCUSDT")

    dup = report.duplicates
    assert (dup.keys, dup.extra_rows, dup.conflicting) == (3, 4, 1)
    assert [example["trade_id"] for example in dup.examples] == [3, 500, 700]
    # three minutes hold a duplicated trade id: three issue minutes of 1440
    assert report.issue_units == 3
    assert report.issue_share == pytest.approx(3 / 1440)


def test_cross_check_agrees_with_klines_built_from_the_same_trades(tmp_path: Path) -> None:
    ticks = random_ticks(11, 20_000, DAY0_NS, DAY_NS)
    write_partitions(tmp_path, "trades", "BTCUSDT", trades_table(ticks))
    Lake(tmp_path).write_bars("BTCUSDT", "1m", bars_from(ticks))

    for dataset in ("bars_1m", "trades"):
        report = check_quality(tmp_path, dataset, "BTCUSDT")
        cross = report.cross_check
        assert cross is not None
        assert (cross.bars, cross.ticks) == ("bars_1m", "trades")
        assert cross.minutes_compared == len(bars_from(ticks))
        assert (cross.differing, cross.bars_only, cross.ticks_only) == (0, 0, 0)
        assert cross.examples == []


def test_cross_check_counts_minutes_that_differ_by_field(tmp_path: Path) -> None:
    quiet_from, quiet_to = DAY0_NS + 100 * MINUTE, DAY0_NS + 110 * MINUTE
    ticks = [
        t for t in random_ticks(12, 5000, DAY0_NS, DAY_NS) if not quiet_from <= t.ts < quiet_to
    ]
    write_partitions(tmp_path, "trades", "BTCUSDT", trades_table(ticks))
    names = ("open_time", "open", "high", "low", "close", "volume", "quote_volume", "trades")
    klines = [dict(zip(names, row, strict=True)) for row in reference_bars(ticks, MINUTE)]
    klines[10]["high"] += 0.5
    klines[20]["volume"] *= 1.001
    klines[30]["close"] -= 1.0
    klines[30]["open"] += 1.0
    klines[40]["volume"] *= 1 + 1e-12  # within the tolerance
    ghost = {**klines[0], "open_time": quiet_from + 5 * MINUTE, "volume": 2.0}  # no trades
    quiet = {**klines[0], "open_time": quiet_from + 7 * MINUTE, "volume": 0.0}  # fine
    removed = klines.pop(50)
    table = pa.Table.from_pylist([*klines, ghost, quiet], schema=bars_from(ticks).schema)
    Lake(tmp_path).write_bars("BTCUSDT", "1m", table)

    report = check_quality(tmp_path, "bars_1m", "BTCUSDT")

    cross = report.cross_check
    assert cross is not None
    assert cross.differing == 3
    assert cross.by_field == {"open": 1, "high": 1, "low": 0, "close": 1, "volume": 1}
    assert (cross.bars_only, cross.ticks_only) == (1, 1)
    disagreeing = [klines[10], klines[20], klines[30], removed, ghost]
    minutes = sorted(iso(bar["open_time"]) for bar in disagreeing)
    assert [example["minute"] for example in cross.examples] == minutes
    assert cross.examples[0]["bar_high"] == klines[10]["high"]
    # The bars' issues: the missing minutes (gaps) plus 3 differing and 1 ghost minute.
    assert report.issue_units == report.missing + 4


def test_cross_check_uses_agg_trades_when_there_are_no_trades(tmp_path: Path) -> None:
    ticks = random_ticks(13, 3000, DAY0_NS, DAY_NS)
    write_partitions(tmp_path, "um_agg_trades", "BTCUSDT", agg_trades_table(ticks))
    bars = bars_from(ticks)
    write_partitions(tmp_path, "um_bars_1m", "BTCUSDT", bars, time="open_time")

    report = check_quality(tmp_path, "um_bars_1m", "BTCUSDT")

    cross = report.cross_check
    assert cross is not None
    assert (cross.bars, cross.ticks) == ("um_bars_1m", "um_agg_trades")
    assert (cross.minutes_compared, cross.differing) == (bars.num_rows, 0)


def test_cross_check_compares_only_days_both_sides_hold(tmp_path: Path) -> None:
    ticks = random_ticks(14, 6000, DAY0_NS, 3 * DAY_NS)
    Lake(tmp_path).write_bars("BTCUSDT", "1m", bars_from(ticks))
    middle = [t for t in ticks if not DAY0_NS + DAY_NS <= t.ts < DAY0_NS + 2 * DAY_NS]
    write_partitions(tmp_path, "trades", "BTCUSDT", trades_table(middle))

    cross = check_quality(tmp_path, "bars_1m", "BTCUSDT").cross_check

    assert cross is not None
    assert (cross.minutes_compared, cross.differing) == (bars_from(middle).num_rows, 0)
    assert (cross.bars_only, cross.ticks_only) == (0, 0)


def test_no_cross_check_without_the_other_side(tmp_path: Path) -> None:
    Lake(tmp_path).write_bars("BTCUSDT", "1m", minute_bars([DAY0_NS]))
    write_partitions(tmp_path, "trades", "ETHUSDT", trades_table([Tick(1, DAY0_NS, 1.0, 1.0)]))
    assert check_quality(tmp_path, "bars_1m", "BTCUSDT").cross_check is None


def test_a_clean_month_shows_under_a_tenth_of_a_percent(tmp_path: Path) -> None:
    month = generate_bars("BTCUSDT", dt.date(2024, 1, 1), 31, seed=7)
    starts = pc.cast(month.column("open_time"), pa.int64())
    # three minutes lost to a venue outage, as real months have
    outage = pc.is_in(starts, pa.array(starts.to_pylist()[20000:20003]))
    Lake(tmp_path).write_bars("BTCUSDT", "1m", month.filter(pc.invert(outage)))

    report = check_quality(tmp_path, "bars_1m", "BTCUSDT")

    assert (report.start, report.end, report.units) == ("2024-01-01", "2024-02-01", 44640)
    assert report.missing == 3 and len(report.gaps) == 1
    assert report.issue_share == pytest.approx(3 / 44640)
    assert report.issue_share < 0.001
    assert json.loads(json.dumps(dataclasses.asdict(report)))["issue_share"] < 0.001


def test_a_clean_month_of_trades_and_klines_has_no_issue(tmp_path: Path) -> None:
    start = (dt.date(2024, 1, 1) - dt.date(1970, 1, 1)).days * DAY_NS
    ticks = one_per_ten_seconds(start, start + 31 * DAY_NS)
    write_partitions(tmp_path, "trades", "BTCUSDT", trades_table(ticks))
    Lake(tmp_path).write_bars("BTCUSDT", "1m", bars_from(ticks))

    for dataset in ("trades", "bars_1m"):
        report = check_quality(tmp_path, dataset, "BTCUSDT")
        assert report.issue_units == 0 and report.issue_share == 0.0
        assert report.cross_check is not None and report.cross_check.minutes_compared == 44640


def test_snapshot_datasets_use_their_cadence(tmp_path: Path) -> None:
    times = [DAY0_NS + h * 8 * 60 * MINUTE for h in range(3 * 3)]
    funding = pa.table(
        {
            "ts": pa.array(times, pa.int64()).cast(TIME),
            "funding_interval_hours": pa.array([8] * len(times), pa.int64()),
            "rate": [0.0001] * len(times),
        }
    )
    write_partitions(tmp_path, "um_funding", "BTCUSDT", funding)
    assert check_quality(tmp_path, "um_funding", "BTCUSDT").gaps == []

    write_partitions(tmp_path, "um_funding", "BTCUSDT", funding.filter(pc.not_equal(
        pc.cast(funding.column("ts"), pa.int64()), times[4]
    )))  # fmt: skip
    [gap] = check_quality(tmp_path, "um_funding", "BTCUSDT").gaps
    assert gap.seconds == 16 * 3600


def test_book_depth_duplicates_are_keyed_by_time_and_band(tmp_path: Path) -> None:
    ts = [DAY0_NS + 30 * SECOND * i for i in range(2880) for _ in range(2)]
    depth = pa.table(
        {
            "ts": pa.array([*ts, DAY0_NS], pa.int64()).cast(TIME),
            "percentage": [-1.0, 1.0] * 2880 + [1.0],
            "depth": [5.0] * 5761,
            "notional": [500.0] * 5761,
        }
    )
    write_partitions(tmp_path, "um_book_depth", "BTCUSDT", depth)

    report = check_quality(tmp_path, "um_book_depth", "BTCUSDT")

    assert (report.duplicates.keys, report.duplicates.extra_rows) == (1, 1)
    assert report.duplicates.examples == [
        {"ts": DAY0_NS, "percentage": 1.0, "copies": 2, "versions": 1}
    ]
    assert report.gaps == []


def test_the_range_limits_every_figure(tmp_path: Path) -> None:
    starts = [DAY0_NS + m * MINUTE for m in range(3 * 1440) if m != 2000]
    Lake(tmp_path).write_bars("BTCUSDT", "1m", minute_bars(starts))
    day2 = DAY0 + dt.timedelta(days=1)

    report = check_quality(tmp_path, "bars_1m", "BTCUSDT", day2, day2 + dt.timedelta(days=1))

    assert (report.rows, report.missing, len(report.coverage)) == (1439, 1, 1)


def test_unknown_datasets_and_empty_symbols_are_named(tmp_path: Path) -> None:
    Lake(tmp_path).write_bars("BTCUSDT", "1m", minute_bars([DAY0_NS]))
    with pytest.raises(QualityError, match="does not know the key of dataset 'orders'"):
        check_quality(tmp_path, "orders", "BTCUSDT")
    with pytest.raises(QualityError, match=r"no trades for BTCUSDT under .* \(datasets: bars_1m\)"):
        check_quality(tmp_path, "trades", "BTCUSDT")
    with pytest.raises(QualityError, match="no bars_1m for ETHUSDT"):
        check_quality(tmp_path, "bars_1m", "ETHUSDT")
    with pytest.raises(QualityError, match="--max-gap applies to ticks"):
        check_quality(tmp_path, "bars_1m", "BTCUSDT", max_gap_seconds=5)
    with pytest.raises(QualityError, match="empty range"):
        check_quality(tmp_path, "bars_1m", "BTCUSDT", DAY0, DAY0)
    with pytest.raises(QualityError, match="must be positive"):
        dataset_shape("trades", 0)


def test_real_xrp_eth_candles_agree_with_their_trades(
    tmp_path: Path,
    real_fixtures: Path,
) -> None:
    """freqtrade's XRP/ETH 1m candles were built from its trades (PROVENANCE.md): the
    cross-check finds every one of the 2,469 minutes equal; the quiet minutes (no
    trades, so no candle) are the missing bars."""
    folder = real_fixtures / "candles" / "freqtrade"
    raw = pcsv.read_csv(folder / "XRP_ETH-trades.csv")
    ticks = [
        Tick(tid, ms * 1_000_000, price, amount)
        for tid, ms, price, amount in zip(
            raw["id"].to_pylist(), raw["timestamp_ms"].to_pylist(),
            raw["price"].to_pylist(), raw["amount"].to_pylist(), strict=True,
        )
    ]  # fmt: skip
    write_partitions(tmp_path, "trades", "XRPETH", trades_table(ticks))
    candles = pcsv.read_csv(folder / "XRP_ETH-1m.csv")
    open_ns = pc.multiply(candles.column("open_time_ms"), 1_000_000)
    klines = pa.table(
        {
            "open_time": open_ns.cast(TIME),
            **{name: candles.column(name) for name in ("open", "high", "low", "close")},
            "volume": candles.column("volume").cast(pa.float64()),
            "quote_volume": candles.column("volume").cast(pa.float64()),
            "trades": pa.array([1] * candles.num_rows, pa.int64()),
        }
    )
    Lake(tmp_path).write_bars("XRPETH", "1m", klines)

    report = check_quality(tmp_path, "bars_1m", "XRPETH")

    cross = report.cross_check
    assert cross is not None
    assert (cross.minutes_compared, cross.differing, cross.bars_only, cross.ticks_only) == (
        2469, 0, 0, 0,
    )  # fmt: skip
    assert report.rows == 2469
    assert (report.start, report.end) == ("2019-10-11", "2019-10-14")
    assert report.missing == 3 * 1440 - 2469


@pytest.fixture
def real_fixtures() -> Path:
    return shared_fixtures()
