"""The bar feed: lake Parquet through DuckDB to open/closed BarUpdates, in time order."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from actors.bar_builder import BarBuilder
from actors.bus import Bus
from actors.clock import SimClock
from actors.feed import BarFeed, InputFile, NoDataError
from actors.messages import BAR_OPEN, Bar, BarGap, BarUpdate, Subscribe, Unsubscribe
from actors.scheduler import DeterministicScheduler
from storage.lake import DAY_NS, Lake, LakeSchemaError
from storage.sample import generate_bars, write_sample

START = dt.date(2024, 1, 1)
START_NS = (START - dt.date(1970, 1, 1)).days * DAY_NS
MINUTE = 60_000_000_000


@pytest.fixture
def lake(tmp_path: Path) -> Path:
    write_sample(tmp_path, "BTCUSDT", START, 2, seed=1)
    write_sample(tmp_path, "ETHUSDT", START, 2, seed=1, start_price=2300.0)
    return tmp_path


def rows(symbol: str, days: int = 2, start_price: float = 42000.0) -> list[dict]:
    return generate_bars(symbol, START, days, seed=1, start_price=start_price).to_pylist()


def closed_bars(feed: BarFeed) -> list[Bar]:
    return [update.bar for update in feed.messages() if update.closed]


def test_each_bar_is_an_open_update_then_a_closed_update(lake: Path) -> None:
    feed = BarFeed(lake, ["BTCUSDT"], "1m", START_NS, START_NS + 2 * DAY_NS)
    messages = list(feed.messages())
    assert len(messages) == 2 * 2 * 1440
    assert all(isinstance(message, BarUpdate) for message in messages)
    assert [message.closed for message in messages[:4]] == [False, True, False, True]
    opening, closing = messages[2], messages[3]
    start = START_NS + MINUTE
    assert opening.ts == start and opening.bar.start == start and opening.bar.ts == start + MINUTE
    assert closing.ts == start + MINUTE and closing.bar.start == start


def test_the_open_update_shows_only_the_open(lake: Path) -> None:
    feed = BarFeed(lake, ["BTCUSDT"], "1m", START_NS, START_NS + DAY_NS)
    opening = next(iter(feed.messages())).bar
    first = rows("BTCUSDT")[0]
    assert opening == Bar(
        ts=START_NS + MINUTE, symbol="BTCUSDT", interval="1m", start=START_NS,
        open=first["open"], high=first["open"], low=first["open"], close=first["open"],
        volume=0.0, trades=0, vwap=first["open"],
    )  # fmt: skip


def test_closed_bars_carry_the_lake_values(lake: Path) -> None:
    feed = BarFeed(lake, ["BTCUSDT"], "1m", START_NS, START_NS + 2 * DAY_NS)
    bars = closed_bars(feed)
    expected = rows("BTCUSDT")
    assert len(bars) == len(expected) == 2 * 1440
    for bar, row in zip(bars, expected, strict=True):
        assert bar.symbol == "BTCUSDT" and bar.interval == "1m"
        assert bar.start == int(row["open_time"].timestamp()) * 1_000_000_000
        assert bar.ts == bar.start + MINUTE
        assert (bar.open, bar.high, bar.low, bar.close) == (
            row["open"], row["high"], row["low"], row["close"],
        )  # fmt: skip
        assert (bar.volume, bar.trades) == (row["volume"], row["trades"])
        assert bar.vwap == row["quote_volume"] / row["volume"]
    assert feed.bars_read == 2 * 1440


def test_the_range_is_start_inclusive_end_exclusive(lake: Path) -> None:
    start, end = START_NS + 90 * MINUTE, START_NS + DAY_NS + 10 * MINUTE
    bars = closed_bars(BarFeed(lake, ["BTCUSDT"], "1m", start, end))
    assert bars[0].start == start
    assert bars[-1].start == end - MINUTE
    assert len(bars) == (end - start) // MINUTE


def test_without_open_updates_only_closed_bars_flow(lake: Path) -> None:
    feed = BarFeed(lake, ["BTCUSDT"], "1m", START_NS, START_NS + DAY_NS, emit_open_updates=False)
    messages = list(feed.messages())
    assert len(messages) == 1440
    assert all(message.closed for message in messages)


def test_batch_size_does_not_change_the_stream(lake: Path) -> None:
    def stream(batch_size: int) -> list[BarUpdate]:
        feed = BarFeed(
            lake, ["BTCUSDT", "ETHUSDT"], "1m", START_NS, START_NS + DAY_NS, batch_size=batch_size
        )
        return list(feed.messages())

    assert stream(7) == stream(65536)


def test_opens_flow_only_for_subscribed_symbols_from_the_next_bar_on(lake: Path) -> None:
    feed = BarFeed(
        lake, ["BTCUSDT", "ETHUSDT"], "1m", START_NS, START_NS + DAY_NS, emit_open_updates=False
    )
    stream = feed.messages()
    head = [next(stream) for _ in range(2)]
    assert [(m.closed, m.bar.symbol) for m in head] == [(True, "BTCUSDT"), (True, "ETHUSDT")]
    # A decision on these closes subscribes: the next bar's open is the next message.
    feed.on_subscribe(Subscribe(ts=0, subscriber="exchange", symbol="ETHUSDT", stream=BAR_OPEN))
    after = [next(stream) for _ in range(6)]
    assert [(m.closed, m.bar.symbol, m.bar.start - START_NS) for m in after] == [
        (False, "ETHUSDT", MINUTE), (True, "BTCUSDT", MINUTE), (True, "ETHUSDT", MINUTE),
        (False, "ETHUSDT", 2 * MINUTE), (True, "BTCUSDT", 2 * MINUTE),
        (True, "ETHUSDT", 2 * MINUTE),
    ]  # fmt: skip
    feed.on_unsubscribe(Unsubscribe(ts=0, subscriber="exchange", symbol="ETHUSDT", stream=BAR_OPEN))
    assert all(m.closed for m in stream)


def test_a_subscription_to_an_unknown_symbol_or_stream_changes_nothing(lake: Path) -> None:
    feed = BarFeed(lake, ["BTCUSDT"], "1m", START_NS, START_NS + DAY_NS, emit_open_updates=False)
    feed.on_subscribe(Subscribe(ts=0, subscriber="x", symbol="XRPUSDT", stream=BAR_OPEN))
    feed.on_subscribe(Subscribe(ts=0, subscriber="x", symbol="BTCUSDT", stream="depth"))
    assert all(m.closed for m in feed.messages())


def test_several_symbols_open_together_before_any_closes(lake: Path) -> None:
    feed = BarFeed(lake, ["ETHUSDT", "BTCUSDT"], "1m", START_NS, START_NS + DAY_NS)
    messages = list(feed.messages())
    assert len(messages) == 2 * 2 * 1440
    head = [(m.closed, m.bar.symbol, m.bar.start - START_NS) for m in messages[:8]]
    assert head == [
        (False, "BTCUSDT", 0), (False, "ETHUSDT", 0),
        (True, "BTCUSDT", 0), (True, "ETHUSDT", 0),
        (False, "BTCUSDT", MINUTE), (False, "ETHUSDT", MINUTE),
        (True, "BTCUSDT", MINUTE), (True, "ETHUSDT", MINUTE),
    ]  # fmt: skip
    times = [message.ts for message in messages]
    assert times == sorted(times)
    eth = [m.bar for m in messages if m.closed and m.bar.symbol == "ETHUSDT"]
    assert [bar.close for bar in eth] == [row["close"] for row in rows("ETHUSDT", 1, 2300.0)]


def test_a_symbol_present_on_only_some_days_streams_what_exists(tmp_path: Path) -> None:
    write_sample(tmp_path, "BTCUSDT", START, 2, seed=1)
    write_sample(tmp_path, "ETHUSDT", START + dt.timedelta(days=1), 1, seed=1)
    feed = BarFeed(tmp_path, ["BTCUSDT", "ETHUSDT"], "1m", START_NS, START_NS + 2 * DAY_NS)
    bars = closed_bars(feed)
    assert sum(bar.symbol == "BTCUSDT" for bar in bars) == 2 * 1440
    eth = [bar.start for bar in bars if bar.symbol == "ETHUSDT"]
    assert eth[0] == START_NS + DAY_NS and len(eth) == 1440


def test_vwap_is_kept_inside_the_bar(tmp_path: Path) -> None:
    table = generate_bars("BTCUSDT", START, 1, seed=1).slice(0, 2)
    volume = table.column("volume").to_pylist()
    high, low = table.column("high").to_pylist(), table.column("low").to_pylist()
    quote = [volume[0] * high[0] * 1.001, volume[1] * low[1] * 0.999]
    Lake(tmp_path).write_bars("BTCUSDT", "1m", table.set_column(6, "quote_volume", [quote]))
    bars = closed_bars(BarFeed(tmp_path, ["BTCUSDT"], "1m", START_NS, START_NS + 2 * MINUTE))
    assert [bar.vwap for bar in bars] == [high[0], low[1]]


def test_zero_volume_bars_take_the_close_as_vwap(tmp_path: Path) -> None:
    table = generate_bars("BTCUSDT", START, 1, seed=1)
    table = table.set_column(5, "volume", pa.array([0.0] * table.num_rows))
    table = table.set_column(6, "quote_volume", pa.array([0.0] * table.num_rows))
    Lake(tmp_path).write_bars("BTCUSDT", "1m", table)
    bars = closed_bars(BarFeed(tmp_path, ["BTCUSDT"], "1m", START_NS, START_NS + 5 * MINUTE))
    assert [bar.vwap for bar in bars] == [bar.close for bar in bars]


def test_an_existing_duckdb_connection_is_used(lake: Path) -> None:
    connection = duckdb.connect()
    feed = BarFeed(lake, ["BTCUSDT"], "1m", START_NS, START_NS + 10 * MINUTE, connection=connection)
    assert len(closed_bars(feed)) == 10
    assert connection.sql("SELECT 42").fetchall() == [(42,)]


def test_inputs_list_each_file_with_its_hash_and_rows(lake: Path) -> None:
    feed = BarFeed(lake, ["ETHUSDT", "BTCUSDT"], "1m", START_NS + DAY_NS, START_NS + 2 * DAY_NS)
    inputs = feed.inputs()
    assert [item.path for item in inputs] == [
        "lake/bars_1m/symbol=BTCUSDT/date=2024-01-02/part-0.parquet",
        "lake/bars_1m/symbol=ETHUSDT/date=2024-01-02/part-0.parquet",
    ]
    for item in inputs:
        assert isinstance(item, InputFile)
        data = (lake / item.path).read_bytes()
        assert item.sha256 == hashlib.sha256(data).hexdigest()
        assert item.rows == 1440


def test_inputs_count_whole_files_even_for_part_of_a_day(lake: Path) -> None:
    feed = BarFeed(lake, ["BTCUSDT"], "1m", START_NS, START_NS + 10 * MINUTE)
    assert [item.rows for item in feed.inputs()] == [1440]


def test_no_data_names_symbol_interval_range_and_data_dir(tmp_path: Path) -> None:
    feed = BarFeed(tmp_path, ["BTCUSDT"], "1m", START_NS, START_NS + DAY_NS)
    with pytest.raises(NoDataError) as raised:
        feed.messages()  # at the call, before the scheduler starts any actor
    message = str(raised.value)
    assert isinstance(raised.value, ValueError)
    assert "\n" not in message
    assert "1m bars for BTCUSDT" in message
    assert "[2024-01-01T00:00:00Z, 2024-01-02T00:00:00Z)" in message
    assert str(tmp_path / "lake" / "bars_1m") in message
    assert "tickdeck sample-data" in message
    with pytest.raises(NoDataError):
        feed.inputs()


def test_no_data_names_the_missing_symbol_among_several(lake: Path) -> None:
    feed = BarFeed(lake, ["BTCUSDT", "SOLUSDT"], "1m", START_NS, START_NS + DAY_NS)
    with pytest.raises(NoDataError, match="for SOLUSDT"):
        next(iter(feed.messages()))


def test_no_data_when_the_files_hold_no_bar_in_the_range(tmp_path: Path) -> None:
    table = generate_bars("BTCUSDT", START, 1, seed=1).slice(0, 60)  # 00:00-00:59 only
    Lake(tmp_path).write_bars("BTCUSDT", "1m", table)
    feed = BarFeed(tmp_path, ["BTCUSDT"], "1m", START_NS + 2 * 3600 * 10**9, START_NS + DAY_NS)
    with pytest.raises(NoDataError, match="for BTCUSDT in \\[2024-01-01T02:00:00Z"):
        next(iter(feed.messages()))


def test_a_foreign_file_in_the_lake_is_named(lake: Path) -> None:
    partition = lake / "lake" / "bars_1m" / "symbol=BTCUSDT" / "date=2024-01-01"
    pq.write_table(pa.table({"open_time": [1], "price": [1.0]}), partition / "part-1.parquet")
    feed = BarFeed(lake, ["BTCUSDT"], "1m", START_NS, START_NS + DAY_NS)
    with pytest.raises(LakeSchemaError, match=r"part-1\.parquet: column 'open_time' is int64"):
        next(iter(feed.messages()))


def test_bad_arguments_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="sequence of symbols"):
        BarFeed(tmp_path, "BTCUSDT", "1m", START_NS, START_NS + DAY_NS)
    with pytest.raises(ValueError, match="empty range"):
        BarFeed(tmp_path, ["BTCUSDT"], "1m", START_NS, START_NS)
    with pytest.raises(ValueError, match="unknown interval"):
        BarFeed(tmp_path, ["BTCUSDT"], "2m", START_NS, START_NS + DAY_NS)


def test_the_feed_drives_the_bar_builder_without_gaps_or_duplicates(lake: Path) -> None:
    feed = BarFeed(lake, ["BTCUSDT", "ETHUSDT"], "1m", START_NS, START_NS + 2 * DAY_NS)
    builder = BarBuilder(aggregate_to=("1h",))
    bus = Bus([feed, builder])
    published: list[Bar | BarGap] = []
    bus.subscribe(Bar, published.append, owner="tap")
    bus.subscribe(BarGap, published.append, owner="tap")
    DeterministicScheduler(bus, SimClock()).run(feed.messages())
    minutes = [bar for bar in published if isinstance(bar, Bar) and bar.interval == "1m"]
    hours = [bar for bar in published if isinstance(bar, Bar) and bar.interval == "1h"]
    assert len(minutes) == 2 * 2 * 1440
    assert len(hours) == 2 * 2 * 24
    assert builder.totals() == {"duplicates": 0, "gaps": 0, "misaligned": 0, "late_ticks": 0}


def test_a_null_price_written_by_another_tool_is_refused_with_symbol_and_time(
    tmp_path: Path,
) -> None:
    table = generate_bars("BTCUSDT", START, 1, seed=1).slice(0, 3)
    nullable = pa.schema([field.with_nullable(True) for field in table.schema])
    table = table.cast(nullable).set_column(4, "close", pa.array([1.0, None, 2.0], pa.float64()))
    partition = tmp_path / "lake" / "bars_1m" / "symbol=BTCUSDT" / "date=2024-01-01"
    partition.mkdir(parents=True)
    pq.write_table(table, partition / "part-0.parquet")
    feed = BarFeed(tmp_path, ["BTCUSDT"], "1m", START_NS, START_NS + DAY_NS)
    with pytest.raises(LakeSchemaError, match=r"null 'close' .* BTCUSDT at 2024-01-01T00:01:00Z"):
        list(feed.messages())
