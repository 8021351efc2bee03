"""Market data: bars as trades and klines, the lake as a source, the clock and time checks."""

from __future__ import annotations

import datetime as dt
from array import array
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from storage.sample import write_sample
from tests.venues.simulator.helpers import Api, paused
from venues.simulator import SimulatorDataError, run_simulator
from venues.simulator.auth import TimeSync
from venues.simulator.clock import ReplayClock
from venues.simulator.config import default_symbol_spec
from venues.simulator.errors import BinanceError
from venues.simulator.market import (
    MINUTE_MS,
    BarSeries,
    bar_trades,
    kline_of,
    load_sample_bars,
)

SPEC = default_symbol_spec("BTCUSDT", 42000.0)


def _one_bar(open_: float, high: float, low: float, close: float, volume: float) -> BarSeries:
    return BarSeries(
        symbol="BTCUSDT", open_ms=array("q", [0, MINUTE_MS]), open=array("d", [open_, open_]),
        high=array("d", [open_, high]), low=array("d", [open_, low]),
        close=array("d", [open_, close]), volume=array("d", [1.0, volume]),
    )  # fmt: skip


prices = st.decimals(min_value=Decimal("100"), max_value=Decimal("100000"), places=2)


@given(
    st.lists(prices, min_size=4, max_size=4),
    st.decimals(min_value=Decimal("0.001"), max_value=Decimal("500"), places=5),
    st.integers(min_value=4, max_value=12),
)
def test_a_bars_trades_rebuild_its_ohlcv(
    points: list[Decimal], volume: Decimal, count: int
) -> None:
    open_, close = points[0], points[3]
    high, low = max(points), min(points)
    series = _one_bar(float(open_), float(high), float(low), float(close), float(volume))
    trades = bar_trades(series, 1, SPEC, count)
    kline = kline_of(series, 1, SPEC, trades)
    assert (kline.open, kline.high, kline.low, kline.close) == (open_, high, low, close)
    assert kline.volume == volume and kline.trades == count
    times = [t.time_ms for t in trades]
    assert times == sorted(set(times)) and times[0] > MINUTE_MS and times[-1] < 2 * MINUTE_MS
    assert [t.trade_id for t in trades] == list(range(count, 2 * count))
    assert kline.quote_volume == sum(t.price * t.quantity for t in trades)


def test_a_rising_bar_walks_down_first_and_aggressors_follow_the_walk() -> None:
    series = _one_bar(100.0, 103.0, 99.0, 102.0, 4.0)
    trades = bar_trades(series, 1, default_symbol_spec("XUSDT", 100.0), 4)
    assert [t.price for t in trades] == [100, 99, 103, 102]
    assert [t.buyer_maker for t in trades] == [False, True, False, True]


def test_a_bar_without_volume_has_no_trades_and_a_flat_kline() -> None:
    series = _one_bar(100.0, 100.0, 100.0, 100.0, 0.0)
    assert bar_trades(series, 1, SPEC, 4) == []
    kline = kline_of(series, 1, SPEC, [])
    assert (kline.high, kline.volume, kline.trades, kline.first_trade_id) == (
        Decimal(100),
        0,
        0,
        -1,
    )


def test_the_sample_source_is_deterministic() -> None:
    first = load_sample_bars("BTCUSDT", dt.date(2024, 1, 1), 1, 7, 42000.0)
    again = load_sample_bars("BTCUSDT", dt.date(2024, 1, 1), 1, 7, 42000.0)
    assert len(first) == 1440 and first.open_ms[0] == 1704067200000
    assert [bar_trades(first, i, SPEC, 4) for i in range(50)] == [
        bar_trades(again, i, SPEC, 4) for i in range(50)
    ]


async def test_the_simulator_replays_the_lake(tmp_path: Path) -> None:
    write_sample(tmp_path, "ETHUSDT", dt.date(2024, 3, 1), 2, seed=3, start_price=3000.0)
    config = paused(data_dir=tmp_path, symbols=("ETHUSDT",), balances={"USDT": 1000})
    async with run_simulator(config) as sim:
        assert sim.now_ms() == 1709251200000 + 60 * MINUTE_MS  # an hour into the first day
        async with httpx.AsyncClient(base_url=sim.url) as client:
            api = Api(sim, client)
            info = (await api.public("/api/v3/exchangeInfo")).json()
            filters = {f["filterType"]: f for f in info["symbols"][0]["filters"]}
            assert filters["LOT_SIZE"]["stepSize"] == "0.00010000"  # Binance's ETHUSDT
            rows = (
                await api.public("/api/v3/klines", {"symbol": "ETHUSDT", "interval": "1m"})
            ).json()
            assert len(rows) == 61


async def test_a_lake_without_the_symbol_is_a_clear_error(tmp_path: Path) -> None:
    write_sample(tmp_path, "ETHUSDT", dt.date(2024, 3, 1), 1, seed=3)
    with pytest.raises(SimulatorDataError, match="no bars_1m of BTCUSDT"):
        async with run_simulator(paused(data_dir=tmp_path)):
            pass
    with pytest.raises(SimulatorDataError, match="no view 'bars_1m'"):
        async with run_simulator(paused(data_dir=tmp_path / "empty")):
            pass


async def test_several_symbols_replay_side_by_side() -> None:
    async with run_simulator(paused(symbols=("BTCUSDT", "ETHUSDT"))) as sim:
        await sim.advance(MINUTE_MS)
        btc, eth = sim.engine.book("BTCUSDT")[0], sim.engine.book("ETHUSDT")[0]
    assert btc > 10_000 > eth > 100


# --- the clock ------------------------------------------------------------------------------


class FakeWall:
    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


def test_simulated_time_runs_at_speed_but_never_past_the_replay() -> None:
    wall = FakeWall()
    clock = ReplayClock(1_000_000, 60.0, wall=wall)
    clock.set_horizon(10_000_000)
    wall.now += 1.5
    assert clock.now_ms() == 1_090_000
    clock.set_horizon(1_050_000)  # no effect: the horizon only moves forward
    assert clock.now_ms() == 1_090_000
    wall.now += 1000
    assert clock.now_ms() == 10_000_000
    assert (
        clock.wall_seconds_until(11_000_000) == 0.0
    )  # the wall is past it: replay as fast as it can


def test_a_paused_clock_stands_until_advanced_or_resumed() -> None:
    wall = FakeWall()
    clock = ReplayClock(1_000_000, 60.0, paused=True, wall=wall)
    clock.set_horizon(float("inf"))
    wall.now += 10
    assert clock.now_ms() == 1_000_000
    assert clock.wall_seconds_until(1_060_000) is None
    clock.advance_to(1_060_000)
    assert clock.now_ms() == 1_060_000
    clock.resume()
    wall.now += 1
    assert clock.now_ms() == 1_120_000
    with pytest.raises(RuntimeError):
        clock.advance_to(2_000_000)


# --- timestamps of signed requests ------------------------------------------------------------


def test_at_speed_one_the_timestamp_rule_is_binances() -> None:
    sync = TimeSync()
    sync.check(timestamp=10_000, recv_window=5000, server_ms=14_000, wall_ms=14_000)
    sync.check(timestamp=14_999, recv_window=5000, server_ms=14_000, wall_ms=14_000)
    for timestamp in (8_999, 15_000):
        with pytest.raises(BinanceError) as refused:
            sync.check(timestamp=timestamp, recv_window=5000, server_ms=14_000, wall_ms=14_000)
        assert refused.value.code == -1021


def test_a_timestamp_from_a_handed_out_offset_passes() -> None:
    sync = TimeSync()
    sync.handed_out(server_ms=1_000_000, wall_ms=100)  # offset 999,900
    # later the server has run far ahead, the client's clock only 2 s
    sync.check(timestamp=2_100 + 999_900, recv_window=5000, server_ms=9_000_000, wall_ms=2_100)
    with pytest.raises(BinanceError):
        sync.check(timestamp=2_100 + 990_000, recv_window=5000, server_ms=9_000_000, wall_ms=2_100)
