"""Market data the simulator replays: one-minute bars and the trades, quotes, klines made of them.

Bars come from the lake (``bars_1m`` through the DuckDB catalog, as the backtest
feed reads them) or from the seeded sample generator. A bar becomes
``trades_per_bar`` trades walking open -> low -> high -> close (a rising bar) or
open -> high -> low -> close (a falling one), at evenly spaced times inside the
minute, with the bar's volume split between them on the lot grid. The walk is a
pure function of the bar, so the trades, the kline updates built from them and the
klines REST serves agree with each other and with the lake's OHLCV, on every run:

- trade ids are ``minute * trades_per_bar + i`` (the minute since the epoch), the
  same whatever range was loaded; aggTrade ids equal them (one trade per aggTrade);
- a trade's aggressor follows the walk: up is a buyer taking (``m`` false), down a
  seller, a flat step repeats the previous one;
- a kline's volume, trade count, quote and taker-buy volumes are the sums over its
  trades (a bar with no volume has no trades: its kline is flat at the open).

A bar's volume finer than the symbol's step is absorbed by the last trade; a bar
with less volume than one step per trade has only the trades that get a step
(so its trades may miss the bar's high or low).
"""

from __future__ import annotations

import bisect
import datetime as dt
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Final

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from actors.messages import Side
from storage.catalog import CatalogError, open_catalog
from storage.sample import generate_bars
from venues.fill_model import floor_to_lot, price_to_tick
from venues.simulator.config import SymbolSpec

__all__ = [
    "MINUTE_MS",
    "BarSeries",
    "Kline",
    "SimulatorDataError",
    "SynthTrade",
    "bar_trades",
    "kline_of",
    "load_lake_bars",
    "load_sample_bars",
    "quote_around",
    "reference_volume",
    "to_tick",
]

MINUTE_MS: Final = 60_000
_ZERO: Final = Decimal(0)
_BPS: Final = Decimal(10_000)

_LAKE_QUERY: Final = """
SELECT epoch_ns(open_time) // 1000000 AS t, open, high, low, close, volume, quote_volume, trades
FROM {bars}
WHERE symbol = $symbol AND date >= $first AND date < $last
ORDER BY open_time
"""


class SimulatorDataError(ValueError):
    """The simulator has no usable bars: the message names the data directory and symbol."""


@dataclass(frozen=True, slots=True)
class BarSeries:
    """One symbol's one-minute bars in time order, as compact columns (ms open times)."""

    symbol: str
    open_ms: array[int]
    open: array[float]
    high: array[float]
    low: array[float]
    close: array[float]
    volume: array[float]

    def __len__(self) -> int:
        return len(self.open_ms)

    def index_at(self, time_ms: int) -> int:
        """Index of the first bar opening at or after ``time_ms``."""
        return bisect.bisect_left(self.open_ms, time_ms)


@dataclass(frozen=True, slots=True)
class SynthTrade:
    trade_id: int
    price: Decimal
    quantity: Decimal
    time_ms: int
    buyer_maker: bool


@dataclass(frozen=True, slots=True)
class Kline:
    open_ms: int
    first_trade_id: int
    last_trade_id: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    trades: int
    quote_volume: Decimal
    taker_buy_volume: Decimal
    taker_buy_quote_volume: Decimal

    @property
    def close_ms(self) -> int:
        return self.open_ms + MINUTE_MS - 1


def _series(symbol: str, table: pa.Table) -> BarSeries:
    opens: list[int] = []
    columns: dict[str, list[float]] = {name: [] for name in ("open", "high", "low", "close")}
    columns["volume"] = []
    times = table.column("t").to_pylist()
    values = {name: table.column(name).to_pylist() for name in columns}
    previous = None
    for row, start in enumerate(times):
        if start == previous:  # a duplicate in the lake: the first row wins
            continue
        previous = start
        opens.append(start)
        for name, column in columns.items():
            column.append(values[name][row])
    return BarSeries(
        symbol=symbol,
        open_ms=array("q", opens),
        open=array("d", columns["open"]),
        high=array("d", columns["high"]),
        low=array("d", columns["low"]),
        close=array("d", columns["close"]),
        volume=array("d", columns["volume"]),
    )


def load_lake_bars(
    data_dir: Path, symbol: str, first: dt.date | None, last: dt.date | None
) -> BarSeries:
    """``symbol``'s ``bars_1m`` from the lake under ``data_dir``, days ``[first, last)``."""
    connection = duckdb.connect()
    try:
        with open_catalog(data_dir, connection=connection) as catalog:
            try:
                bars = catalog.view("bars_1m")
            except CatalogError as error:
                raise SimulatorDataError(f"{data_dir}: {error}") from None
            params = {
                "symbol": symbol,
                "first": first or dt.date(1970, 1, 1),
                "last": last or dt.date(9999, 1, 1),
            }
            table = connection.sql(_LAKE_QUERY.format(bars=bars), params=params).to_arrow_table()
    finally:
        connection.close()
    if table.num_rows == 0:
        raise SimulatorDataError(
            f"{data_dir}: the lake has no bars_1m of {symbol} in the range "
            f"{first or 'start'} to {last or 'end'}"
        )
    return _series(symbol, table)


def load_sample_bars(
    symbol: str, start: dt.date, days: int, seed: int, start_price: float
) -> BarSeries:
    table = generate_bars(symbol, start, days, seed, start_price=start_price)
    times = pc.divide(table.column("open_time").cast(pa.int64()), 1_000_000)
    return _series(symbol, table.append_column("t", times))


def to_tick(value: float, tick: Decimal) -> Decimal:
    """A float price from the data on the tick grid, exactly (through its shortest repr)."""
    return (Decimal(repr(value)) / tick).to_integral_value(ROUND_HALF_EVEN) * tick


def quote_around(
    price: Decimal, tick: Decimal, half_spread_bps: Decimal
) -> tuple[Decimal, Decimal]:
    """Best bid and ask ``half_spread_bps`` around ``price``, on the tick, at least a tick apart."""
    half = half_spread_bps / _BPS
    bid = price_to_tick(price * (1 - half), tick, Side.SELL)
    ask = price_to_tick(price * (1 + half), tick, Side.BUY)
    if ask <= bid:
        ask = bid + tick
    return bid, ask


def _walk(vertices: Sequence[Decimal], count: int, tick: Decimal) -> list[Decimal]:
    """``count`` prices through the four vertices (exactly at them), straight lines between."""
    last = count - 1
    marks = (0, round(last / 3), round(2 * last / 3), last)
    prices: list[Decimal] = []
    for leg in range(3):
        begin, end = marks[leg], marks[leg + 1]
        low_price, high_price = vertices[leg], vertices[leg + 1]
        steps = end - begin
        for step in range(steps):
            share = (high_price - low_price) * step / steps
            prices.append(low_price + (share / tick).to_integral_value(ROUND_HALF_EVEN) * tick)
    prices.append(vertices[3])
    return prices


def bar_trades(series: BarSeries, index: int, spec: SymbolSpec, count: int) -> list[SynthTrade]:
    """The trades the bar at ``index`` is replayed as (none for a bar without volume)."""
    volume = Decimal(repr(series.volume[index]))
    if volume <= 0:
        return []
    tick = spec.tick_size
    open_, close = to_tick(series.open[index], tick), to_tick(series.close[index], tick)
    high, low = to_tick(series.high[index], tick), to_tick(series.low[index], tick)
    vertices = (open_, low, high, close) if close >= open_ else (open_, high, low, close)
    prices = _walk(vertices, count, tick)
    part = floor_to_lot(volume / count, spec.step_size)
    quantities = [part] * (count - 1) + [volume - part * (count - 1)]
    start = series.open_ms[index]
    first_id = start // MINUTE_MS * count
    previous = to_tick(series.close[index - 1], tick) if index > 0 else open_
    buyer_maker = False
    trades: list[SynthTrade] = []
    for i, (price, quantity) in enumerate(zip(prices, quantities, strict=True)):
        if price != previous:
            buyer_maker = price < previous
        previous = price
        if quantity <= 0:
            continue
        time_ms = start + (i * MINUTE_MS + MINUTE_MS // 2) // count
        trades.append(SynthTrade(first_id + i, price, quantity, time_ms, buyer_maker))
    return trades


def kline_of(
    series: BarSeries, index: int, spec: SymbolSpec, trades: Sequence[SynthTrade]
) -> Kline:
    """The kline of the bar at ``index`` made of ``trades`` (all of its trades, or the
    ones printed so far for a bar in progress)."""
    if not trades:
        price = to_tick(series.open[index], spec.tick_size)
        start = series.open_ms[index]
        return Kline(start, -1, -1, price, price, price, price, _ZERO, 0, _ZERO, _ZERO, _ZERO)
    high = low = trades[0].price
    volume = quote = buy_volume = buy_quote = _ZERO
    for trade in trades:
        price, quantity = trade.price, trade.quantity
        high = max(high, price)
        low = min(low, price)
        volume += quantity
        notional = price * quantity
        quote += notional
        if not trade.buyer_maker:
            buy_volume += quantity
            buy_quote += notional
    return Kline(
        open_ms=series.open_ms[index],
        first_trade_id=trades[0].trade_id,
        last_trade_id=trades[-1].trade_id,
        open=trades[0].price, high=high, low=low, close=trades[-1].price,
        volume=volume, trades=len(trades), quote_volume=quote,
        taker_buy_volume=buy_volume, taker_buy_quote_volume=buy_quote,
    )  # fmt: skip


def reference_volume(series: BarSeries, index: int) -> Decimal | None:
    """The volume of the bar before ``index``: what the account's takers measure against."""
    return Decimal(repr(series.volume[index - 1])) if index > 0 else None
