"""Seeded sample bars: deterministic, well formed, and statistically BTC-like."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from storage.lake import BARS_SCHEMA, DAY_NS, Lake
from storage.sample import generate_bars, write_sample

START = dt.date(2024, 1, 1)  # a Monday
START_NS = (START - dt.date(1970, 1, 1)).days * DAY_NS
MINUTE = 60_000_000_000


@pytest.fixture(scope="module")
def month() -> dict[str, np.ndarray]:
    table = generate_bars("BTCUSDT", START, 28, seed=3)
    columns = {name: table.column(name).to_numpy() for name in BARS_SCHEMA.names}
    columns["open_time"] = table.column("open_time").cast(pa.int64()).to_numpy()
    return columns


def test_same_seed_gives_the_same_bars() -> None:
    assert generate_bars("BTCUSDT", START, 2, seed=5).equals(
        generate_bars("BTCUSDT", START, 2, seed=5)
    )


def test_seed_and_symbol_both_change_the_path() -> None:
    base = generate_bars("BTCUSDT", START, 1, seed=5).column("close")
    assert not base.equals(generate_bars("BTCUSDT", START, 1, seed=6).column("close"))
    assert not base.equals(generate_bars("ETHUSDT", START, 1, seed=5).column("close"))


def test_a_known_seed_gives_known_values() -> None:
    # Pins the generator: a change here changes every demo backtest's numbers.
    table = generate_bars("BTCUSDT", START, 1, seed=1)
    first, last = table.slice(0, 1).to_pylist()[0], table.slice(1439, 1).to_pylist()[0]
    assert first["open_time"] == dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    assert (first["open"], first["high"], first["low"], first["close"]) == (
        42000.0, 42038.38, 41977.41, 42032.01,
    )  # fmt: skip
    assert (first["volume"], first["trades"]) == (23.89036, 483)
    assert (last["open"], last["close"], last["volume"], last["trades"]) == (
        41697.43, 41680.93, 10.02174, 261,
    )  # fmt: skip


def test_bars_have_the_schema_and_one_row_per_minute(month: dict[str, np.ndarray]) -> None:
    table = generate_bars("BTCUSDT", START, 2, seed=3)
    assert table.schema == BARS_SCHEMA
    assert table.num_rows == 2 * 1440
    starts = table.column("open_time").cast(pa.int64()).to_pylist()
    assert starts == [START_NS + i * MINUTE for i in range(2 * 1440)]
    assert len(month["open"]) == 28 * 1440


def test_other_intervals_have_whole_days_of_bars() -> None:
    table = generate_bars("BTCUSDT", START, 3, seed=3, interval="1h")
    starts = table.column("open_time").cast(pa.int64()).to_pylist()
    assert starts == [START_NS + i * 3_600_000_000_000 for i in range(72)]
    with pytest.raises(ValueError, match="unknown interval"):
        generate_bars("BTCUSDT", START, 1, seed=3, interval="2m")


def test_open_is_the_previous_close(month: dict[str, np.ndarray]) -> None:
    assert month["open"][0] == 42000.0
    assert np.array_equal(month["open"][1:], month["close"][:-1])


def test_high_and_low_bound_the_bar(month: dict[str, np.ndarray]) -> None:
    o, h, lo, c = month["open"], month["high"], month["low"], month["close"]
    assert np.all(h >= np.maximum(o, c))
    assert np.all(lo <= np.minimum(o, c))
    assert np.all(lo > 0)


def test_prices_sit_on_the_tick_and_volumes_on_the_lot(month: dict[str, np.ndarray]) -> None:
    for name in ("open", "high", "low", "close"):
        cents = month[name] * 100
        assert np.allclose(cents, np.round(cents), rtol=0, atol=1e-6)
    lots = month["volume"] * 1e5
    assert np.allclose(lots, np.round(lots), rtol=0, atol=1e-4)


def test_volume_trades_and_vwap_are_consistent(month: dict[str, np.ndarray]) -> None:
    volume, trades = month["volume"], month["trades"]
    assert np.all(volume > 0)
    assert np.all(trades >= 1)
    vwap = month["quote_volume"] / volume
    assert np.all(vwap >= month["low"]) and np.all(vwap <= month["high"])
    # trade counts follow volume: about a thousand trades a minute at ~30 BTC a minute
    assert np.corrcoef(volume, trades)[0, 1] > 0.8
    assert 10 < volume.mean() < 80
    assert 300 < trades.mean() < 3000


def test_volatility_is_btc_like(month: dict[str, np.ndarray]) -> None:
    returns = np.diff(np.log(month["close"]))
    annualized = returns.std() * math.sqrt(365.25 * 1440)
    assert 0.45 < annualized < 0.8
    # volatility clusters: fat tails
    kurtosis = ((returns - returns.mean()) ** 4).mean() / returns.var() ** 2
    assert kurtosis > 4


def test_intrabar_range_matches_a_continuous_path(month: dict[str, np.ndarray]) -> None:
    # Parkinson: E[ln(high/low)] = sqrt(8/pi) * sigma for Brownian motion, ~1.6 sigma; a
    # few discrete sub-steps would give much less, and stochastic volatility a bit less.
    ranges = np.log(month["high"] / month["low"])
    returns = np.diff(np.log(month["close"]))
    ratio = ranges.mean() / returns.std()
    assert 1.2 < ratio < 1.7


def test_volume_follows_the_utc_day_and_the_week(month: dict[str, np.ndarray]) -> None:
    hours = (month["open_time"] // 3_600_000_000_000) % 24
    days = (month["open_time"] - START_NS) // DAY_NS
    weekday = days % 7 < 5  # START is a Monday
    volume = month["volume"]
    us_session = volume[weekday & (hours >= 14) & (hours < 17)].mean()
    asia_lull = volume[weekday & (hours >= 4) & (hours < 7)].mean()
    assert us_session > 1.6 * asia_lull
    assert volume[~weekday].mean() < 0.85 * volume[weekday].mean()


def test_volume_rises_with_the_size_of_the_move(month: dict[str, np.ndarray]) -> None:
    moves = np.abs(np.log(month["close"] / month["open"]))
    assert np.corrcoef(moves, month["volume"])[0, 1] > 0.3


def test_write_sample_writes_one_file_per_day_through_the_lake(tmp_path: Path) -> None:
    written = write_sample(tmp_path, "BTCUSDT", START, 3, seed=9)
    assert written == Lake(tmp_path).bar_files("BTCUSDT", "1m", START_NS, START_NS + 3 * DAY_NS)
    assert [pq.read_metadata(path).num_rows for path in written] == [1440] * 3
    table = pa.concat_tables(pq.read_table(path) for path in written)
    assert table.equals(generate_bars("BTCUSDT", START, 3, seed=9))


def test_write_sample_again_is_byte_identical(tmp_path: Path) -> None:
    first = write_sample(tmp_path, "BTCUSDT", START, 2, seed=9)
    before = [path.read_bytes() for path in first]
    again = write_sample(tmp_path, "BTCUSDT", START, 2, seed=9)
    assert [path.read_bytes() for path in again] == before


def test_only_missing_days_are_filled_in(tmp_path: Path) -> None:
    full = write_sample(tmp_path / "full", "BTCUSDT", START, 3, seed=9)
    lake = tmp_path / "partial"
    write_sample(lake, "BTCUSDT", START + dt.timedelta(days=1), 1, seed=4)
    written = write_sample(lake, "BTCUSDT", START, 3, seed=9, only_missing=True)
    assert [path.parent.name for path in written] == ["date=2024-01-01", "date=2024-01-03"]
    assert [path.read_bytes() for path in written] == [full[0].read_bytes(), full[2].read_bytes()]
    assert write_sample(lake, "BTCUSDT", START, 3, seed=9, only_missing=True) == []


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="start_price"):
        generate_bars("BTCUSDT", START, 1, seed=1, start_price=0.0)
    with pytest.raises(ValueError, match="days"):
        generate_bars("BTCUSDT", START, -1, seed=1)
    assert generate_bars("BTCUSDT", START, 0, seed=1).num_rows == 0


def test_a_small_start_price_gets_a_finer_tick() -> None:
    table = generate_bars("ADABTC", START, 1, seed=2, start_price=0.0000285)
    closes = table.column("close").to_pylist()
    assert len(set(closes)) > 100  # not all rounded to one value
    assert all(close > 0 for close in closes)
