"""Seeded sample bars, so a fresh clone can backtest offline with no download.

The series is meant to look like BTC/USDT spot one-minute bars to the code
that consumes it (strategies, the fill model, the data-quality report), not
to predict anything:

- Price: geometric Brownian motion at about 60 %/yr, with a slowly
  mean-reverting volatility regime (volatility clusters, returns have fat
  tails) and an intraday volatility profile that follows volume.
- High and low: the extremes of the Brownian path *inside* the bar, drawn
  from the exact distribution of the maximum (minimum) of a Brownian bridge
  between open and close. That is the limit of simulating ever finer
  sub-steps, at the cost of two uniforms, and gives the true range/volatility
  ratio (Parkinson) that a few coarse sub-steps would understate.
- Open is the previous close; prices sit on a tick grid, volumes on a lot grid.
- Volume: a UTC-hour profile (Asia open, Europe, the US session peak),
  quieter weekends, lognormal noise, more volume when the price moves and
  when volatility is high.
- Trades: volume over a noisy average trade size (zero only with zero volume);
  quote volume is volume times a price inside the bar, so VWAP lies in
  [low, high].

Only ``random.Random(seed)`` and ``math`` are used (no numpy at runtime), so a
seed gives the same bars on every platform, and 1,000,000 bars take a few
seconds because columns are built as lists and handed to Arrow once.
"""

from __future__ import annotations

import datetime as dt
import math
import random
from pathlib import Path
from typing import Final

import pyarrow as pa

from actors.intervals import interval_ns
from storage.lake import BARS_SCHEMA, DAY_NS, Lake

__all__ = ["generate_bars", "write_sample"]

_MINUTE_NS: Final = 60_000_000_000
_MINUTES_PER_YEAR: Final = 365.25 * 24 * 60
_ANNUAL_VOLATILITY: Final = 0.60
# Volatility regime: log-volatility is AR(1) with this stationary sd and half-life.
_REGIME_SD: Final = 0.45
_REGIME_HALF_LIFE_MINUTES: Final = 6 * 60
# Binance BTCUSDT-like activity: quote turnover and average trade size, in quote units.
_QUOTE_TURNOVER_PER_MINUTE: Final = 1.5e6
_QUOTE_PER_TRADE: Final = 1_500.0
_VOLUME_NOISE_SD: Final = 0.5
_TRADE_SIZE_NOISE_SD: Final = 0.25
_WEEKEND_ACTIVITY: Final = 0.7
# Relative activity per UTC hour: Asia open, a lull before Europe, the US session peak.
_HOURLY_ACTIVITY: Final = (
    1.15, 1.00, 0.90, 0.80, 0.70, 0.65, 0.65, 0.75, 0.90, 0.95, 0.95, 0.95,
    1.00, 1.15, 1.35, 1.45, 1.35, 1.15, 1.05, 1.00, 0.95, 0.95, 1.00, 1.05,
)  # fmt: skip


def generate_bars(
    symbol: str,
    start: dt.date,
    days: int,
    seed: int,
    start_price: float = 42000.0,
    interval: str = "1m",
) -> pa.Table:
    """``days`` whole UTC days of bars from ``start``, in the bars schema.

    The generator is seeded with the symbol and ``seed`` together, so two symbols
    sampled with one seed do not move in lockstep.
    """
    if not symbol:
        raise ValueError("sample bars need a symbol")
    if days < 0:
        raise ValueError(f"days must be >= 0, got {days}")
    if not start_price > 0:
        raise ValueError(f"start_price must be positive, got {start_price}")
    step = interval_ns(interval)
    if DAY_NS % step:
        raise ValueError(f"interval {interval!r} does not divide a day")
    bars_per_day = DAY_NS // step
    minutes = step / _MINUTE_NS
    first_ns = (start - dt.date(1970, 1, 1)).days * DAY_NS

    sigma = _ANNUAL_VOLATILITY * math.sqrt(minutes / _MINUTES_PER_YEAR)
    persistence = math.exp(-math.log(2) * minutes / _REGIME_HALF_LIFE_MINUTES)
    regime_shock = _REGIME_SD * math.sqrt(1 - persistence * persistence)
    regime_bias = _REGIME_SD * _REGIME_SD  # E[exp(2(h - sd^2))] = 1: variance is kept
    activity = _bar_activity(bars_per_day, step)
    mean_volume = _QUOTE_TURNOVER_PER_MINUTE * minutes / start_price
    mean_trade_size = _QUOTE_PER_TRADE / start_price
    # About seven significant digits of price (0.01 at 42,000) and a lot to match
    # (0.00001 at 42,000); rounding by multiply-round-divide is monotone, so a rounded
    # high is still >= the rounded open and close.
    magnitude = math.floor(math.log10(start_price))
    tick_scale = 10.0 ** (6 - magnitude)
    lot_scale = 10.0 ** min(max(magnitude + 1, 0), 8)

    # A str seed is hashed with SHA-512 by ``random``: the same on every platform and run.
    uniform = random.Random(f"{symbol}:{seed}").random
    exp, log, sqrt, cos, sin = math.exp, math.log, math.sqrt, math.cos, math.sin
    two_pi = 2.0 * math.pi
    volume_bias = 0.5 * _VOLUME_NOISE_SD * _VOLUME_NOISE_SD
    opens: list[float] = []
    highs: list[float] = []
    lows: list[float] = []
    closes: list[float] = []
    volumes: list[float] = []
    quote_volumes: list[float] = []
    trades: list[int] = []
    price = start_price
    open_price = round(price * tick_scale) / tick_scale
    regime = 0.0
    for day in range(days):
        weekday = (start + dt.timedelta(days=day)).weekday()
        day_activity = _WEEKEND_ACTIVITY if weekday >= 5 else 1.0
        for volume_factor, volatility_factor in activity:
            # Four standard normals from two Box-Muller pairs (random.gauss is pure Python
            # and several times slower): regime, return, volume noise, trade-size noise.
            radius = sqrt(-2.0 * log(1.0 - uniform()))
            angle = two_pi * uniform()
            regime = persistence * regime + regime_shock * radius * cos(angle)
            shock = radius * sin(angle)
            radius = sqrt(-2.0 * log(1.0 - uniform()))
            angle = two_pi * uniform()
            volume_noise = radius * cos(angle)
            size_noise = radius * sin(angle)

            regime_scale = exp(regime - regime_bias)
            bar_sigma = sigma * volatility_factor * regime_scale
            variance = bar_sigma * bar_sigma
            log_return = bar_sigma * shock - 0.5 * variance
            spread = log_return * log_return
            log_high = 0.5 * (log_return + sqrt(spread - 2.0 * variance * log(1.0 - uniform())))
            log_low = 0.5 * (log_return - sqrt(spread - 2.0 * variance * log(1.0 - uniform())))
            high = round(price * exp(log_high) * tick_scale) / tick_scale
            low = round(price * exp(log_low) * tick_scale) / tick_scale
            price *= exp(log_return)
            close = round(price * tick_scale) / tick_scale
            volume = (
                round(
                    mean_volume
                    * volume_factor
                    * day_activity
                    * regime_scale
                    * (0.35 + 0.815 * abs(shock))
                    * exp(_VOLUME_NOISE_SD * volume_noise - volume_bias)
                    * lot_scale
                )
                / lot_scale
            )
            opens.append(open_price)
            highs.append(high)
            lows.append(low)
            closes.append(close)
            volumes.append(volume)
            quote_volumes.append(volume * 0.25 * (open_price + high + low + close))
            if volume > 0:
                trade_size = mean_trade_size * exp(_TRADE_SIZE_NOISE_SD * size_noise)
                trades.append(int(volume / trade_size) + 1)
            else:
                trades.append(0)
            open_price = close
    open_times = [first_ns + index * step for index in range(days * bars_per_day)]
    return pa.Table.from_arrays(
        [
            pa.array(open_times, pa.int64()).cast(BARS_SCHEMA.field("open_time").type),
            pa.array(opens, pa.float64()),
            pa.array(highs, pa.float64()),
            pa.array(lows, pa.float64()),
            pa.array(closes, pa.float64()),
            pa.array(volumes, pa.float64()),
            pa.array(quote_volumes, pa.float64()),
            pa.array(trades, pa.int64()),
        ],
        schema=BARS_SCHEMA,
    )


def write_sample(
    data_dir: Path,
    symbol: str,
    start: dt.date,
    days: int,
    seed: int,
    *,
    start_price: float = 42000.0,
    interval: str = "1m",
    only_missing: bool = False,
) -> list[Path]:
    """Generate sample bars and write them to the lake under ``data_dir``; return the
    files written, by date.

    With ``only_missing``, days that already have a partition are left alone (the
    first-run demo fills in what is absent without rewriting what is there). The
    whole range is still generated, so a day's bars do not depend on which other
    days existed.
    """
    lake = Lake(data_dir)
    table = generate_bars(symbol, start, days, seed, start_price=start_price, interval=interval)
    if not only_missing:
        return lake.write_bars(symbol, interval, table)
    bars_per_day = DAY_NS // interval_ns(interval)
    first_ns = (start - dt.date(1970, 1, 1)).days * DAY_NS
    written: list[Path] = []
    for day in range(days):
        day_ns = first_ns + day * DAY_NS
        if not lake.bar_files(symbol, interval, day_ns, day_ns + DAY_NS):
            rows = table.slice(day * bars_per_day, bars_per_day)
            written.extend(lake.write_bars(symbol, interval, rows))
    return written


def _bar_activity(bars_per_day: int, step: int) -> list[tuple[float, float]]:
    """(volume factor, volatility factor) of each bar of a day, from the UTC-hour profile.

    Both average to one over a day (volatility in variance), so the profile moves
    activity around the clock without changing the daily volume or annual volatility.
    """
    hour_ns = 3_600_000_000_000
    raw: list[float] = []
    for index in range(bars_per_day):
        hours = range(index * step // hour_ns, (index * step + step - 1) // hour_ns + 1)
        raw.append(sum(_HOURLY_ACTIVITY[hour % 24] for hour in hours) / len(hours))
    mean = sum(raw) / len(raw)
    return [(value / mean, math.sqrt(value / mean)) for value in raw]
