"""The bar builder: exactly-once closed bars, gaps, bars from ticks, aggregation."""

from __future__ import annotations

import duckdb
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actors.bar_builder import BarBuilder
from actors.bus import Bus
from actors.clock import SimClock
from actors.messages import (
    Bar,
    BarGap,
    BarUpdate,
    EndOfData,
    Message,
    Side,
    TimerFired,
    TradeTick,
)
from actors.scheduler import DeterministicScheduler
from tests.shared_fixtures import shared_fixtures

MINUTE = 60_000_000_000
SECOND = 1_000_000_000
DAY0 = 19_723 * 86_400 * SECOND  # 2024-01-01T00:00:00Z


def make_bar(
    minute: int,
    close: float = 100.0,
    *,
    symbol: str = "BTCUSDT",
    interval: str = "1m",
    length: int = MINUTE,
    volume: float = 1.0,
    spread: float = 1.0,
) -> Bar:
    start = DAY0 + minute * length
    return Bar(
        ts=start + length, symbol=symbol, interval=interval, start=start,
        open=close - 0.5 * spread, high=close + spread, low=close - spread, close=close,
        volume=volume, trades=3, vwap=close - 0.25 * spread,
    )  # fmt: skip


def closed(bar: Bar) -> BarUpdate:
    return BarUpdate(ts=bar.ts, closed=True, bar=bar)


def opened(bar: Bar) -> BarUpdate:
    return BarUpdate(ts=bar.start, closed=False, bar=bar)


def tick(ts: int, price: float, size: float = 1.0, symbol: str = "BTCUSDT") -> TradeTick:
    return TradeTick(ts=ts, symbol=symbol, price=price, size=size, aggressor=Side.BUY)


def attached(builder: BarBuilder) -> list[Message]:
    out: list[Message] = []
    builder.attach(out.append, SimClock(DAY0))
    return out


def bars_of(out: list[Message], interval: str = "1m") -> list[Bar]:
    return [m for m in out if isinstance(m, Bar) and m.interval == interval]


# --- closed bar updates ---------------------------------------------------------------


def test_open_updates_are_ignored() -> None:
    builder = BarBuilder()
    out = attached(builder)
    builder.on_bar_update(opened(make_bar(0)))
    assert out == []


def test_a_closed_bar_is_published_as_the_same_object() -> None:
    builder = BarBuilder()
    out = attached(builder)
    bars = [make_bar(i) for i in range(3)]
    for bar in bars:
        builder.on_bar_update(opened(bar))
        builder.on_bar_update(closed(bar))
    assert len(out) == 3
    assert all(seen is sent for seen, sent in zip(out, bars, strict=True))


def test_a_repeated_bar_is_refused_and_counted() -> None:
    builder = BarBuilder()
    out = attached(builder)
    first, second = make_bar(0), make_bar(1)
    for update in (closed(first), closed(second), closed(second), closed(make_bar(1, 5.0))):
        builder.on_bar_update(update)
    assert out == [first, second]
    assert builder.duplicates == {("BTCUSDT", "1m"): 2}


def test_an_older_bar_is_refused_as_a_duplicate() -> None:
    builder = BarBuilder()
    out = attached(builder)
    for minute in (0, 1, 2, 1, 0):
        builder.on_bar_update(closed(make_bar(minute)))
    assert [bar.start for bar in bars_of(out)] == [DAY0, DAY0 + MINUTE, DAY0 + 2 * MINUTE]
    assert builder.duplicates == {("BTCUSDT", "1m"): 2}
    assert builder.totals()["duplicates"] == 2


def test_a_missing_minute_is_reported_as_a_gap_before_the_next_bar() -> None:
    builder = BarBuilder()
    out = attached(builder)
    for minute in (0, 1, 4):
        builder.on_bar_update(closed(make_bar(minute)))
    gap = BarGap(
        ts=DAY0 + 5 * MINUTE, symbol="BTCUSDT", interval="1m", start=DAY0 + 2 * MINUTE,
        end=DAY0 + 4 * MINUTE, missing=2,
    )  # fmt: skip
    assert out[2] == gap
    assert out[3] == make_bar(4)
    assert builder.gaps == {("BTCUSDT", "1m"): 2}


def test_symbols_are_checked_separately() -> None:
    builder = BarBuilder()
    out = attached(builder)
    for minute in (0, 1):
        builder.on_bar_update(closed(make_bar(minute, symbol="BTCUSDT")))
        builder.on_bar_update(closed(make_bar(minute, symbol="ETHUSDT")))
    assert len(out) == 4
    assert builder.totals() == {"duplicates": 0, "gaps": 0, "misaligned": 0, "late_ticks": 0}


def test_a_bar_off_the_utc_grid_is_refused() -> None:
    builder = BarBuilder()
    out = attached(builder)
    bar = make_bar(0)
    shifted = Bar(**{**{f: getattr(bar, f) for f in bar.__struct_fields__}, "start": DAY0 + 1})
    builder.on_bar_update(closed(shifted))
    assert out == []
    assert builder.misaligned == {("BTCUSDT", "1m"): 1}


def test_bars_of_another_interval_are_checked_and_passed_through() -> None:
    builder = BarBuilder(aggregate_to=("1h",))
    out = attached(builder)
    hourly = [make_bar(i, interval="1h", length=60 * MINUTE) for i in (0, 1, 1, 3)]
    for bar in hourly:
        builder.on_bar_update(closed(bar))
    assert [type(m).__name__ for m in out] == ["Bar", "Bar", "BarGap", "Bar"]
    assert out[0] is hourly[0]
    assert builder.duplicates == {("BTCUSDT", "1h"): 1}
    assert builder.gaps == {("BTCUSDT", "1h"): 1}


# --- bars from trade ticks ------------------------------------------------------------


def test_ticks_build_ohlcv_and_vwap() -> None:
    builder = BarBuilder()
    out = attached(builder)
    prints = [(5, 100.0, 2.0), (10, 103.0, 1.0), (20, 99.0, 3.0), (59, 101.0, 4.0)]
    for second, price, size in prints:
        builder.on_trade_tick(tick(DAY0 + second * SECOND, price, size))
    assert out == []  # the minute has not closed yet
    builder.on_trade_tick(tick(DAY0 + MINUTE, 102.0))
    notional = 100 * 2 + 103 * 1 + 99 * 3 + 101 * 4
    assert out == [
        Bar(
            ts=DAY0 + MINUTE, symbol="BTCUSDT", interval="1m", start=DAY0, open=100.0,
            high=103.0, low=99.0, close=101.0, volume=10.0, trades=4, vwap=notional / 10.0,
        )
    ]  # fmt: skip


def test_each_tick_bar_is_emitted_exactly_once() -> None:
    builder = BarBuilder()
    out = attached(builder)
    for second in range(0, 5 * 60, 7):
        builder.on_trade_tick(tick(DAY0 + second * SECOND, 100.0 + second))
    builder.on_end_of_data(EndOfData(ts=DAY0 + 5 * MINUTE))
    builder.on_end_of_data(EndOfData(ts=DAY0 + 6 * MINUTE))
    starts = [bar.start for bar in bars_of(out)]
    assert starts == [DAY0 + i * MINUTE for i in range(5)]


def test_a_tick_on_the_boundary_belongs_to_the_next_minute() -> None:
    builder = BarBuilder()
    out = attached(builder)
    builder.on_trade_tick(tick(DAY0 + MINUTE - 1, 1.0))
    builder.on_trade_tick(tick(DAY0 + MINUTE, 2.0))
    assert [bar.close for bar in bars_of(out)] == [1.0]


def test_a_minute_without_ticks_is_a_gap_not_a_fake_bar() -> None:
    builder = BarBuilder()
    out = attached(builder)
    builder.on_trade_tick(tick(DAY0 + 1 * SECOND, 1.0))
    builder.on_trade_tick(tick(DAY0 + 3 * MINUTE + SECOND, 2.0))  # minutes 1 and 2 are empty
    builder.on_trade_tick(tick(DAY0 + 4 * MINUTE + SECOND, 3.0))
    assert [type(m).__name__ for m in out] == ["Bar", "BarGap", "Bar"]
    gap = out[1]
    assert isinstance(gap, BarGap)
    assert (gap.start, gap.end, gap.missing) == (DAY0 + MINUTE, DAY0 + 3 * MINUTE, 2)


def test_late_ticks_of_a_closed_minute_are_counted_and_dropped() -> None:
    builder = BarBuilder()
    out = attached(builder)
    builder.on_trade_tick(tick(DAY0 + 10 * SECOND, 1.0))
    builder.on_trade_tick(tick(DAY0 + MINUTE + 10 * SECOND, 2.0))
    builder.on_trade_tick(tick(DAY0 + 50 * SECOND, 9.0))  # minute 0 already closed
    builder.on_trade_tick(tick(DAY0 + 2 * MINUTE + 10 * SECOND, 3.0))
    assert [(bar.high, bar.trades) for bar in bars_of(out)] == [(1.0, 1), (2.0, 1)]
    assert builder.late_ticks == {"BTCUSDT": 1}


def test_a_tick_older_than_the_open_minute_is_late_even_if_its_minute_never_closed() -> None:
    builder = BarBuilder()
    out = attached(builder)
    builder.on_trade_tick(tick(DAY0 + 2 * MINUTE, 1.0))
    builder.on_trade_tick(tick(DAY0 + MINUTE, 9.0))
    builder.on_end_of_data(EndOfData(ts=DAY0 + 3 * MINUTE))
    assert [(bar.start, bar.high) for bar in bars_of(out)] == [(DAY0 + 2 * MINUTE, 1.0)]
    assert builder.late_ticks == {"BTCUSDT": 1}


def test_a_tick_after_the_timer_closed_its_minute_is_late() -> None:
    builder = BarBuilder(close_on_timer=True)
    out = attached(builder)
    builder.on_trade_tick(tick(DAY0 + 10 * SECOND, 1.0))
    builder.on_timer_fired(TimerFired(ts=DAY0 + MINUTE, owner="bar_builder", name="close_bars"))
    builder.on_trade_tick(tick(DAY0 + 59 * SECOND, 5.0))
    assert len(bars_of(out)) == 1
    assert builder.late_ticks == {"BTCUSDT": 1}


def test_another_actors_timer_closes_nothing() -> None:
    builder = BarBuilder(close_on_timer=True)
    out = attached(builder)
    builder.on_trade_tick(tick(DAY0 + 10 * SECOND, 1.0))
    builder.on_timer_fired(TimerFired(ts=DAY0 + MINUTE, owner="reconciler", name="close_bars"))
    assert out == []


def test_end_of_data_closes_only_minutes_that_have_ended() -> None:
    builder = BarBuilder()
    out = attached(builder)
    builder.on_trade_tick(tick(DAY0 + 10 * SECOND, 1.0))
    builder.on_end_of_data(EndOfData(ts=DAY0 + 30 * SECOND))
    assert out == []
    builder.on_end_of_data(EndOfData(ts=DAY0 + MINUTE))
    assert len(bars_of(out)) == 1


def _run_ticks(builder: BarBuilder, ticks: list[TradeTick], start: int = DAY0) -> list[Message]:
    bus = Bus([builder])
    seen: list[Message] = []
    for message_type in (Bar, BarGap, TradeTick):
        bus.subscribe(message_type, seen.append, owner="tap")
    scheduler = DeterministicScheduler(bus, SimClock(start))
    scheduler.start()
    for message in ticks:
        scheduler.publish(message)
    return seen


def test_the_timer_closes_a_quiet_markets_bar_at_the_boundary() -> None:
    ticks = [tick(DAY0 + 10 * SECOND, 1.0), tick(DAY0 + 3 * MINUTE, 2.0, symbol="ETHUSDT")]
    seen = _run_ticks(BarBuilder(close_on_timer=True), ticks)
    assert [type(m).__name__ for m in seen] == ["TradeTick", "Bar", "TradeTick"]
    bar = seen[1]
    assert isinstance(bar, Bar) and bar.ts == DAY0 + MINUTE and bar.symbol == "BTCUSDT"


def test_without_the_timer_a_bar_waits_for_its_next_tick() -> None:
    ticks = [tick(DAY0 + 10 * SECOND, 1.0), tick(DAY0 + 3 * MINUTE, 2.0, symbol="ETHUSDT")]
    seen = _run_ticks(BarBuilder(), ticks)
    assert [type(m).__name__ for m in seen] == ["TradeTick", "TradeTick"]


# --- aggregation ----------------------------------------------------------------------


def _expected_window(bars: list[Bar], interval: str, length: int) -> Bar:
    start = bars[0].start - bars[0].start % length
    volume = sum(bar.volume for bar in bars)
    return Bar(
        ts=start + length, symbol=bars[0].symbol, interval=interval, start=start,
        open=bars[0].open, high=max(bar.high for bar in bars), low=min(bar.low for bar in bars),
        close=bars[-1].close, volume=volume, trades=sum(bar.trades for bar in bars),
        vwap=sum(bar.vwap * bar.volume for bar in bars) / volume if volume else bars[-1].close,
    )  # fmt: skip


def _assert_same_bar(actual: Bar, expected: Bar) -> None:
    assert (actual.ts, actual.symbol, actual.interval, actual.start) == (
        expected.ts, expected.symbol, expected.interval, expected.start,
    )  # fmt: skip
    assert (actual.open, actual.high, actual.low, actual.close, actual.trades) == (
        expected.open, expected.high, expected.low, expected.close, expected.trades,
    )  # fmt: skip
    assert actual.volume == pytest.approx(expected.volume, rel=1e-12)
    assert actual.vwap == pytest.approx(expected.vwap, rel=1e-12)


def test_one_minute_bars_aggregate_into_five_minutes_and_hours() -> None:
    builder = BarBuilder(aggregate_to=("1h", "5m"))
    out = attached(builder)
    base = [make_bar(i, 100.0 + (i * 37) % 11, volume=1.0 + i % 4) for i in range(120)]
    for bar in base:
        builder.on_bar_update(closed(bar))
    fives, hours = bars_of(out, "5m"), bars_of(out, "1h")
    assert len(fives) == 24 and len(hours) == 2
    for index, five in enumerate(fives):
        _assert_same_bar(five, _expected_window(base[5 * index : 5 * index + 5], "5m", 5 * MINUTE))
    for index, hour in enumerate(hours):
        window = base[60 * index : 60 * index + 60]
        _assert_same_bar(hour, _expected_window(window, "1h", 60 * MINUTE))


def test_a_window_is_emitted_right_after_its_last_base_bar() -> None:
    builder = BarBuilder(aggregate_to=("5m",))
    out = attached(builder)
    for minute in range(5):
        builder.on_bar_update(closed(make_bar(minute)))
    assert [(m.interval, m.start) for m in out] == [("1m", DAY0 + i * MINUTE) for i in range(5)] + [
        ("5m", DAY0)
    ]


def test_an_incomplete_window_waits_for_a_later_window_then_precedes_the_gap() -> None:
    builder = BarBuilder(aggregate_to=("5m",))
    out = attached(builder)
    for minute in (0, 1, 2):
        builder.on_bar_update(closed(make_bar(minute, 100.0 + minute)))
    assert bars_of(out, "5m") == []
    builder.on_bar_update(closed(make_bar(6, 106.0)))
    kinds = [(type(m).__name__, m.interval) for m in out[3:]]  # type: ignore[attr-defined]
    assert kinds == [("Bar", "5m"), ("BarGap", "1m"), ("Bar", "1m")]
    five = out[3]
    assert isinstance(five, Bar)
    assert (five.start, five.ts, five.close, five.trades) == (DAY0, DAY0 + 5 * MINUTE, 102.0, 9)


def test_a_window_without_any_base_bar_is_a_gap_of_the_aggregate_interval() -> None:
    builder = BarBuilder(aggregate_to=("5m",))
    out = attached(builder)
    for minute in (*range(5), *range(15, 20)):
        builder.on_bar_update(closed(make_bar(minute)))
    gaps = [m for m in out if isinstance(m, BarGap) and m.interval == "5m"]
    assert [(gap.start, gap.end, gap.missing) for gap in gaps] == [
        (DAY0 + 5 * MINUTE, DAY0 + 15 * MINUTE, 2)
    ]
    assert [bar.start for bar in bars_of(out, "5m")] == [DAY0, DAY0 + 15 * MINUTE]
    assert builder.gaps == {("BTCUSDT", "1m"): 10, ("BTCUSDT", "5m"): 2}


def test_a_window_still_open_at_the_end_of_data_is_not_emitted() -> None:
    builder = BarBuilder(aggregate_to=("5m",))
    out = attached(builder)
    for minute in range(8):
        builder.on_bar_update(closed(make_bar(minute)))
    builder.on_end_of_data(EndOfData(ts=DAY0 + 8 * MINUTE))
    assert [bar.start for bar in bars_of(out, "5m")] == [DAY0]


def test_hours_from_five_minute_bars_equal_hours_from_minutes() -> None:
    base = [make_bar(i, 50.0 + (i * 13) % 17, volume=0.5 + i % 3) for i in range(180) if i % 7]
    direct, cascaded = BarBuilder(aggregate_to=("1h",)), BarBuilder(aggregate_to=("5m", "1h"))
    out_direct, out_cascaded = attached(direct), attached(cascaded)
    for bar in base:
        direct.on_bar_update(closed(bar))
        cascaded.on_bar_update(closed(bar))
    hours_direct, hours_cascaded = bars_of(out_direct, "1h"), bars_of(out_cascaded, "1h")
    assert len(hours_direct) == 3
    for one, other in zip(hours_direct, hours_cascaded, strict=True):
        _assert_same_bar(one, other)


def test_impossible_aggregations_are_refused() -> None:
    with pytest.raises(ValueError, match="cannot aggregate 1m bars into 1m"):
        BarBuilder(aggregate_to=("1m",))
    with pytest.raises(ValueError, match="cannot aggregate 3m bars into 5m"):
        BarBuilder(base_interval="3m", aggregate_to=("5m",))
    with pytest.raises(ValueError, match="unknown interval"):
        BarBuilder(aggregate_to=("7m",))
    with pytest.raises(TypeError):
        BarBuilder(aggregate_to="5m")
    assert BarBuilder(aggregate_to=("1h", "5m", "1h")).aggregate_to == ("5m", "1h")


@settings(max_examples=60, deadline=None)
@given(
    present=st.lists(st.booleans(), min_size=1, max_size=200),
    prices=st.lists(st.integers(min_value=1, max_value=50), min_size=200, max_size=200),
)
def test_aggregation_matches_a_direct_computation(present: list[bool], prices: list[int]) -> None:
    builder = BarBuilder(aggregate_to=("5m", "15m", "1h"))
    out = attached(builder)
    base = [
        make_bar(i, float(prices[i]), volume=float(i % 5), spread=float(i % 3))
        for i, here in enumerate(present)
        if here
    ]
    for bar in base:
        builder.on_bar_update(closed(bar))
    # 1m: every present bar once, and gaps that cover exactly the holes between them
    assert bars_of(out) == base
    missing = sum(gap.missing for gap in out if isinstance(gap, BarGap) and gap.interval == "1m")
    if base:
        assert missing == (base[-1].start - base[0].start) // MINUTE + 1 - len(base)
    last_start = base[-1].start if base else 0
    for interval, minutes in (("5m", 5), ("15m", 15), ("1h", 60)):
        length = minutes * MINUTE
        windows: dict[int, list[Bar]] = {}
        for bar in base:
            windows.setdefault(bar.start - bar.start % length, []).append(bar)
        # a window is closed by its own last minute or by any bar of a later window
        expected = [
            _expected_window(bars, interval, length)
            for start, bars in windows.items()
            if bars[-1].start == start + length - MINUTE or last_start >= start + length
        ]
        emitted = bars_of(out, interval)
        assert [bar.start for bar in emitted] == [bar.start for bar in expected]
        for actual, wanted in zip(emitted, expected, strict=True):
            _assert_same_bar(actual, wanted)
    assert builder.duplicates == {}


# --- real data ------------------------------------------------------------------------


def test_real_trades_build_the_published_one_minute_candles() -> None:
    """XRP/ETH trades against the 1m and 5m candles resampled from them (freqtrade test
    data): every minute and five minutes equal, and the empty minutes are gaps."""
    root = shared_fixtures() / "candles" / "freqtrade"
    db = duckdb.connect()
    trades = db.sql(
        f"SELECT timestamp_ms, price, amount FROM read_csv('{root / 'XRP_ETH-trades.csv'}')"
        " ORDER BY timestamp_ms, id"
    ).fetchall()
    builder = BarBuilder(aggregate_to=("5m",))
    out = attached(builder)
    for ms, price, amount in trades:
        builder.on_trade_tick(tick(ms * 1_000_000, price, amount, symbol="XRPETH"))
    builder.on_end_of_data(EndOfData(ts=trades[-1][0] * 1_000_000 + MINUTE))
    for interval, name in (("1m", "XRP_ETH-1m.csv"), ("5m", "XRP_ETH-5m.csv")):
        candles = db.sql(f"SELECT * FROM read_csv('{root / name}') ORDER BY 1").fetchall()
        built = bars_of(out, interval)
        assert len(built) == len(candles)
        for bar, (ms, o, h, lo, c, v) in zip(built, candles, strict=True):
            assert (bar.start, bar.open, bar.high, bar.low, bar.close) == (ms * 10**6, o, h, lo, c)
            assert bar.volume == pytest.approx(v, rel=1e-9)
            assert bar.low <= bar.vwap <= bar.high
        span = (candles[-1][0] - candles[0][0]) // (60_000 if interval == "1m" else 300_000) + 1
        assert builder.gaps[("XRPETH", interval)] == span - len(candles)
    assert sum(bar.trades for bar in bars_of(out)) == len(trades)
    assert builder.late_ticks == {} and builder.duplicates == {}


def test_real_binance_trades_build_a_minute_closed_by_the_timer() -> None:
    """BTCUSDT spot trades, 2021-01-08 00:00:00-00:00:46 UTC: the bar closes on the timer
    at 00:01:00 and matches a direct computation over the trades."""
    path = shared_fixtures() / "binance_misc" / "spot_btcusdt_trades_2021-01-08.parquet"
    table = pq.read_table(path)
    times = table.column("timestamp").cast("int64").to_pylist()  # ms
    prices, sizes = table.column("price").to_pylist(), table.column("quantity").to_pylist()
    makers = table.column("buyer_maker").to_pylist()
    ticks = [
        TradeTick(
            ts=ms * 1_000_000,
            symbol="BTCUSDT",
            price=price,
            size=size,
            aggressor=Side.SELL if maker == "True" else Side.BUY,
        )
        for ms, price, size, maker in zip(times, prices, sizes, makers, strict=True)
    ]
    minute = times[0] * 1_000_000 - times[0] * 1_000_000 % MINUTE
    after = TradeTick(
        ts=minute + 2 * MINUTE, symbol="ETHUSDT", price=1.0, size=1.0, aggressor=Side.BUY
    )
    seen = _run_ticks(BarBuilder(close_on_timer=True), [*ticks, after], start=minute)
    (bar,) = [m for m in seen if isinstance(m, Bar)]
    (expected,) = (
        duckdb.connect()
        .sql(
            f"SELECT arg_min(price, trade_id), max(price), min(price), arg_max(price, trade_id),"
            f" sum(quantity), count(*), sum(price * quantity) / sum(quantity)"
            f" FROM read_parquet('{path}')"
        )
        .fetchall()
    )
    assert bar.ts == minute + MINUTE
    assert (bar.open, bar.high, bar.low, bar.close) == expected[:4]
    assert bar.volume == pytest.approx(expected[4], rel=1e-12)
    assert bar.trades == expected[5] == len(ticks)
    assert bar.vwap == pytest.approx(expected[6], rel=1e-12)
    assert seen.index(bar) < seen.index(after)  # closed at 00:01:00, before the next tick


def test_real_klines_aggregate_like_a_sql_group_by() -> None:
    """Two days of Binance ADABTC 1m klines (data.binance.vision) through the builder into
    5m, 1h and 1d bars, against DuckDB GROUP BY over the same CSVs."""
    folder = shared_fixtures() / "binance_vision" / "spot" / "klines" / "1m"
    files = sorted(str(path) for path in folder.glob("ADABTC-1m-*.csv"))
    if not files:
        pytest.skip(f"no ADABTC klines in {folder}")
    db = duckdb.connect()
    db.sql(
        "CREATE TABLE k AS SELECT column00 AS t, column01 AS o, column02 AS h, column03 AS l,"
        " column04 AS c, column05 AS v, column07 AS q, column08 AS n"
        f" FROM read_csv({files!r}, header = false)"
    )
    builder = BarBuilder(aggregate_to=("5m", "1h", "1d"))
    out = attached(builder)
    for t, o, h, lo, c, v, q, n in db.sql("SELECT * FROM k ORDER BY t").fetchall():
        start = t * 1_000_000
        bar = Bar(
            ts=start + MINUTE, symbol="ADABTC", interval="1m", start=start, open=o, high=h,
            low=lo, close=c, volume=v, trades=n, vwap=q / v if v else c,
        )  # fmt: skip
        builder.on_bar_update(opened(bar))
        builder.on_bar_update(closed(bar))
    assert len(bars_of(out)) == 2 * 1440
    assert builder.totals() == {"duplicates": 0, "gaps": 0, "misaligned": 0, "late_ticks": 0}
    for interval, ms in (("5m", 300_000), ("1h", 3_600_000), ("1d", 86_400_000)):
        expected = db.sql(
            f"SELECT t - t % {ms}, arg_min(o, t), max(h), min(l), arg_max(c, t), sum(v), sum(n),"
            f" sum(q) / sum(v) FROM k GROUP BY 1 ORDER BY 1"
        ).fetchall()
        built = bars_of(out, interval)
        assert len(built) == len(expected) == 2 * 86_400_000 // ms
        for bar, (start, o, h, lo, c, v, n, vwap) in zip(built, expected, strict=True):
            assert (bar.start, bar.ts) == (start * 10**6, (start + ms) * 10**6)
            assert (bar.open, bar.high, bar.low, bar.close, bar.trades) == (o, h, lo, c, n)
            assert bar.volume == pytest.approx(v, rel=1e-9)
            assert bar.vwap == pytest.approx(vwap, rel=1e-9)
