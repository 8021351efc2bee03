"""Lake tables for tests: ticks in the lake's trades and agg_trades schemas, partitions
written the way ingestion lays them out, and bars computed directly to check SQL against."""

from __future__ import annotations

import datetime as dt
import hashlib
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from storage.lake import DAY_NS

MINUTE = 60_000_000_000
DAY0 = dt.date(2024, 3, 1)
DAY0_NS = (DAY0 - dt.date(1970, 1, 1)).days * DAY_NS
TIME = pa.timestamp("ns", tz="UTC")
BAR_FIELDS = ("open", "high", "low", "close", "volume", "quote_volume", "trades")


@dataclass(frozen=True, slots=True)
class Tick:
    """One trade (or aggregated trade: ``trades`` trades from ``id``'s first trade id)."""

    id: int
    ts: int
    price: float
    quantity: float
    trades: int = 1


def trades_table(ticks: Sequence[Tick]) -> pa.Table:
    """Ticks in the lake's trades schema (the issue 3 addendum)."""
    return pa.table(
        {
            "trade_id": pa.array([t.id for t in ticks], pa.int64()),
            "ts": pa.array([t.ts for t in ticks], pa.int64()).cast(TIME),
            "price": pa.array([t.price for t in ticks], pa.float64()),
            "quantity": pa.array([t.quantity for t in ticks], pa.float64()),
            "quote_quantity": pa.array([t.price * t.quantity for t in ticks], pa.float64()),
            "aggressor": pa.array(["BUY" if t.id % 2 else "SELL" for t in ticks], pa.string()),
            "is_best_match": pa.array([True] * len(ticks), pa.bool_()),
        }
    )


def agg_trades_table(ticks: Sequence[Tick]) -> pa.Table:
    """Ticks in the lake's agg_trades schema; trade ids run on from one tick to the next."""
    first_ids, next_id = [], 1000
    for tick in ticks:
        first_ids.append(next_id)
        next_id += tick.trades
    return pa.table(
        {
            "agg_trade_id": pa.array([t.id for t in ticks], pa.int64()),
            "ts": pa.array([t.ts for t in ticks], pa.int64()).cast(TIME),
            "price": pa.array([t.price for t in ticks], pa.float64()),
            "quantity": pa.array([t.quantity for t in ticks], pa.float64()),
            "first_trade_id": pa.array(first_ids, pa.int64()),
            "last_trade_id": pa.array(
                [first + t.trades - 1 for first, t in zip(first_ids, ticks, strict=True)],
                pa.int64(),
            ),
            "aggressor": pa.array(["SELL"] * len(ticks), pa.string()),
            "is_best_match": pa.nulls(len(ticks), pa.bool_()),
        }
    )


def write_partitions(
    data_dir: Path, dataset: str, symbol: str, table: pa.Table, time: str = "ts"
) -> list[Path]:
    """Write ``table`` into the lake's hive layout, one file per UTC date of ``time``
    (what ingestion does, without its checks)."""
    days = pc.divide(pc.cast(table.column(time), pa.int64()), DAY_NS)
    written = []
    for day in sorted(set(days.to_pylist())):
        date = dt.date(1970, 1, 1) + dt.timedelta(days=day)
        partition = data_dir / "lake" / dataset / f"symbol={symbol}" / f"date={date}"
        partition.mkdir(parents=True, exist_ok=True)
        pq.write_table(table.filter(pc.equal(days, day)), partition / "part-0.parquet")
        written.append(partition / "part-0.parquet")
    return written


def random_ticks(seed: int, count: int, start_ns: int, span_ns: int) -> list[Tick]:
    """``count`` ticks at random times in ``[start_ns, start_ns + span_ns)``, ids rising with
    time. Prices and sizes are binary fractions, so every sum and product is exact and
    the SQL result can be compared with Python's for equality."""
    rng = random.Random(seed)
    times = sorted(start_ns + rng.randrange(span_ns) for _ in range(count))
    return [
        Tick(
            id=500 + index,
            ts=ts,
            price=42000 + rng.randint(-2000, 2000) / 256,
            quantity=rng.randint(1, 4000) / 1024,
            trades=rng.randint(1, 5),
        )
        for index, ts in enumerate(times)
    ]


def reference_bars(
    ticks: Sequence[Tick], step: int, *, aggregated: bool = False
) -> list[tuple[int, ...]]:
    """Bars of ``ticks`` computed directly: (open_time, o, h, l, c, volume, quote, trades)."""
    buckets: dict[int, list[Tick]] = {}
    for tick in sorted(ticks, key=lambda t: t.id):
        buckets.setdefault(tick.ts - tick.ts % step, []).append(tick)
    bars = []
    for start, group in sorted(buckets.items()):
        prices = [t.price for t in group]
        bars.append(
            (
                start,
                group[0].price,
                max(prices),
                min(prices),
                group[-1].price,
                sum(t.quantity for t in group),
                sum(t.price * t.quantity for t in group),
                sum(t.trades for t in group) if aggregated else len(group),
            )
        )
    return bars


def lake_bars(data_dir: Path, dataset: str, symbol: str) -> list[tuple[int, ...]]:
    """Every bar of ``symbol`` in ``dataset``, by time, as (open_time ns, *BAR_FIELDS)."""
    files = sorted((data_dir / "lake" / dataset / f"symbol={symbol}").glob("date=*/*.parquet"))
    table = pa.concat_tables([pq.read_table(path) for path in files])
    assert table.schema.field("open_time").type == TIME
    starts = pc.cast(table.column("open_time"), pa.int64()).to_pylist()
    values = [table.column(name).to_pylist() for name in BAR_FIELDS]
    return sorted(zip(starts, *values, strict=True))


def file_digests(root: Path) -> dict[str, str]:
    return {
        path.relative_to(root).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*.parquet"))
    }
