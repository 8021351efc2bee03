"""Backtest throughput: 1,000,000 one-minute bars through all seven actors.

SMA(10/30) crossover, long only, fixed quantity, market fills at the next bar's
open, taker fee 10 bps, no spread or impact. Prints bars/s under the
deterministic scheduler (median of several runs), the same rules computed with
plain numpy in the same run as the baseline, their ratio, and checks that both
produce the same trades and the same final equity.

    uv run python benchmarks/backtest_throughput.py [--bars 1000000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

import duckdb
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from actors.messages import Side
from app.backtest import build_backtest
from app.settings import load_settings
from storage.sample import write_sample

MINUTE_NS = 60_000_000_000
START = dt.date(2020, 1, 1)
FAST, SLOW = 10, 30
QUANTITY = Decimal("0.01")
FEE_BPS = Decimal(10)
CASH = Decimal(1_000_000)
TICK = 0.01


def _settings(data_dir: Path, days: int):
    return load_settings(
        None,
        {
            "data.dir": str(data_dir),
            "backtest.symbols": ["BTCUSDT"],
            "backtest.interval": "1m",
            "backtest.start": START,
            "backtest.end": START + dt.timedelta(days=days),
            "backtest.initial_cash": CASH,
            "strategy.name": "sma_cross",
            "strategy.params": {"fast": FAST, "slow": SLOW, "quantity": str(QUANTITY)},
            "exchange.taker_fee_bps": FEE_BPS,
            "exchange.half_spread_bps": 0,
            "exchange.impact_bps": 0,
            "risk.max_order_notional": 0,
            "risk.max_position_notional": 0,
            "risk.daily_loss_limit": 0,
            "log.level": "WARNING",
        },
    )


def run_actors(settings, bars: int) -> tuple[float, list, Decimal]:
    session = build_backtest(settings, end_ns=_start_ns() + bars * MINUTE_NS)
    t0 = time.perf_counter()
    session.scheduler.run(session.feed.messages())
    elapsed = time.perf_counter() - t0
    equity = session.recorder.equity[-1].equity
    return elapsed, session.recorder.fills, equity


def _start_ns() -> int:
    return int(dt.datetime(START.year, START.month, START.day, tzinfo=dt.UTC).timestamp()) * 10**9


def load_bars(data_dir: Path, bars: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    glob = str(data_dir / "lake" / "bars_1m" / "symbol=BTCUSDT" / "*" / "*.parquet")
    table = duckdb.sql(
        f"SELECT epoch_ns(open_time) AS start, open, close FROM read_parquet('{glob}') "
        f"ORDER BY open_time LIMIT {bars}"
    ).fetchnumpy()
    return table["start"], table["open"], table["close"]


def numpy_reference(opens: np.ndarray, closes: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """The same rules, vectorized: indices of the fill bars, fill prices, final equity."""
    n = len(closes)
    # Sums in ticks are exact integers, so a tie between the averages is a tie (float
    # means put an ulp of noise on it), as in the strategy's own indicator.
    ticks = np.rint(closes / TICK).astype(np.int64)
    fast_sum = sliding_window_view(ticks, FAST).sum(axis=1)[SLOW - FAST :]
    slow_sum = sliding_window_view(ticks, SLOW).sum(axis=1)
    above = SLOW * fast_sum > FAST * slow_sum  # above[j] is bar i = j + SLOW - 1
    change = np.flatnonzero(above[1:] != above[:-1]) + 1
    crosses_up = above[change]
    first_up = np.argmax(crosses_up) if crosses_up.any() else len(change)
    decisions = change[first_up:] + SLOW - 1  # alternating up, down, up... from the first up
    decisions = decisions[decisions + 1 < n]  # a decision on the last bar never fills
    fill_bars = decisions + 1
    is_buy = np.arange(len(fill_bars)) % 2 == 0
    raw = opens[fill_bars]
    scaled = np.round(raw / TICK, 6)
    prices = np.where(is_buy, np.ceil(scaled), np.floor(scaled)) * TICK
    qty = float(QUANTITY)
    notional = prices * qty
    fees = np.round(notional * float(FEE_BPS) / 10_000, 8)
    cash = float(CASH) - notional[is_buy].sum() + notional[~is_buy].sum() - fees.sum()
    position = qty * (is_buy.sum() - (~is_buy).sum())
    return fill_bars, prices, cash + position * closes[-1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    days = -(-args.bars // 1440)
    with tempfile.TemporaryDirectory(prefix="tickdeck-bench-") as tmp:
        data_dir = Path(tmp)
        t0 = time.perf_counter()
        write_sample(data_dir, "BTCUSDT", START, days, seed=11)
        print(f"generated {days * 1440:,} sample bars in {time.perf_counter() - t0:.1f} s")
        settings = _settings(data_dir, days)
        starts, opens, closes = load_bars(data_dir, args.bars)

        actor_times, numpy_times = [], []
        fills: list = []
        equity = Decimal(0)
        reference: tuple = ()
        for _ in range(args.repeat):
            elapsed, fills, equity = run_actors(settings, args.bars)
            actor_times.append(elapsed)
            t0 = time.perf_counter()
            reference = numpy_reference(opens, closes)
            numpy_times.append(time.perf_counter() - t0)

        actors_rate = args.bars / statistics.median(actor_times)
        numpy_rate = args.bars / statistics.median(numpy_times)
        print(f"bars:                      {args.bars:,}")
        print(f"actors (deterministic):    {actors_rate:>14,.0f} bars/s  (median of {args.repeat})")
        print(f"numpy reference:           {numpy_rate:>14,.0f} bars/s  (median of {args.repeat})")
        print(f"ratio actors / numpy:      1/{numpy_rate / actors_rate:,.1f}")
        print(f"target 250,000 bars/s:     {'met' if actors_rate >= 250_000 else 'NOT met'}")

        fill_bars, prices, ref_equity = reference
        ours_bars = [(f.ts - _start_ns()) // MINUTE_NS for f in fills]
        ours_prices = [float(f.price) for f in fills]
        ours_sides = [f.side is Side.BUY for f in fills]
        same_trades = (
            ours_bars == fill_bars.tolist()
            and np.allclose(ours_prices, prices, rtol=0, atol=1e-9)
            and ours_sides == [i % 2 == 0 for i in range(len(fill_bars))]
        )
        same_equity = abs(float(equity) - ref_equity) <= 1e-6 * ref_equity
        print(f"fills: actors {len(fills):,}, numpy {len(fill_bars):,}; same trades: {same_trades}")
        print(f"final equity: actors {equity}, numpy {ref_equity:.8f}; equal: {same_equity}")
        del starts
        return 0 if same_trades and same_equity else 1


if __name__ == "__main__":
    sys.exit(main())
