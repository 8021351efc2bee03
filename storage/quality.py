"""The data-quality report: gaps, duplicates, daily coverage and a trades-vs-klines cross-check.

One symbol of one lake dataset over whole UTC days ``[start, end)`` (by
default the first to the last day the lake has). Every figure comes from a
DuckDB query over the dataset's Parquet; Python only arranges the results.

- **Gaps.** Bars: runs of missing intervals on the UTC grid, each with its
  start, end (exclusive) and count. Other datasets: empty stretches longer
  than a threshold (a minute for trades and quotes), found from per-second
  first/last timestamps, so the sort is over seconds, not rows. The range's
  edges count: no rows in its first hour is a gap.
- **Duplicates** by the dataset's key (trade id, update id, open time...):
  keys held more than once, the extra rows, and how many of those keys hold
  rows that differ (a conflict, not just a repeat).
- **Coverage per UTC day**: rows, the expected rows for bars, and the share
  present: distinct bars over expected for bars, the share of the day outside
  long empty stretches for the others.
- **Cross-check** (1m bars against trades, or aggTrades when there are no
  trades, of the same market): 1m bars are built from the ticks with the
  resampler's SQL and compared minute by minute; a minute differs when open,
  high, low, close or volume are further apart than a relative tolerance.

The summary's ``issue_share`` is the share of the range's intervals (bars) or
minutes (other datasets) that have an issue: missing (or inside a long empty
stretch), holding a duplicated key, or contradicted by the cross-check. A clean
month of real data is well under 0.1 %.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import duckdb

from actors.intervals import interval_ns
from storage.catalog import dataset_scan, lake_datasets, one_line
from storage.datasets import DATASET_SPECS, UnknownDatasetError, dataset_spec
from storage.lake import DAY_NS, utc_date
from storage.resample import bars_query

__all__ = [
    "DEFAULT_TOLERANCE",
    "CrossCheck",
    "DatasetShape",
    "DayCoverage",
    "Duplicates",
    "Gap",
    "QualityError",
    "QualityReport",
    "check_quality",
    "dataset_shape",
    "iso",
]

_EPOCH: Final = dt.date(1970, 1, 1)
_SECOND: Final = 1_000_000_000
_MINUTE: Final = 60 * _SECOND
_BARS: Final = re.compile(r"(?P<prefix>[a-z0-9_]*?)bars_(?P<interval>[0-9]+[a-z])")
_EXAMPLES: Final = 10
_FIELDS: Final = ("open", "high", "low", "close", "volume")
DEFAULT_TOLERANCE: Final = 1e-9
"""Relative: a kline's volume is a decimal, the trades' sum of it an exact sum of floats."""


class QualityError(ValueError):
    """A report that cannot be made (no such dataset, no rows); the message says which."""


@dataclass(frozen=True, slots=True)
class DatasetShape:
    """What the report needs to know of a dataset: its time column, its key, and either
    its bar interval or the longest empty stretch that is not a gap."""

    time: str
    key: tuple[str, ...]
    interval_ns: int | None
    max_gap_ns: int


# The longest empty stretch that is not a gap, per non-bar dataset of the registry (by
# name without the market prefix); keys and time columns are the registry's. The
# thresholds follow each feed's cadence: ticks arrive every second or so on a listed
# pair, bookDepth snapshots about every 30-60 s, metrics every 5 min, funding every 8 h.
_MAX_GAP_NS: Final = {
    "trades": 60 * _SECOND,
    "agg_trades": 60 * _SECOND,
    "quotes": 60 * _SECOND,
    "book_depth": 180 * _SECOND,
    "depth_updates": 60 * _SECOND,
    "metrics": 10 * _MINUTE,
    "funding": 9 * 60 * _MINUTE,
}


@dataclass(frozen=True, slots=True)
class Gap:
    """Bars: ``missing`` intervals from ``start`` to ``end`` (exclusive). Other datasets:
    no row strictly between the rows at ``start`` and ``end`` (or the range's edges)."""

    start: str
    end: str
    seconds: float
    missing: int | None


@dataclass(frozen=True, slots=True)
class Duplicates:
    keys: int
    """Keys held by more than one row."""
    extra_rows: int
    conflicting: int
    """Duplicated keys whose rows are not all the same."""
    examples: list[dict[str, Any]]
    """The first few duplicated keys, with their copies and versions."""


@dataclass(frozen=True, slots=True)
class DayCoverage:
    date: str
    rows: int
    expected: int | None
    present: float
    """Bars: distinct bars / expected. Others: share of the day outside long empty stretches."""


@dataclass(frozen=True, slots=True)
class CrossCheck:
    """1m bars (``bars``) against 1m bars built from ``ticks``, on the days both hold."""

    bars: str
    ticks: str
    tolerance: float
    minutes_compared: int
    differing: int
    by_field: dict[str, int]
    bars_only: int
    """Minutes with a bar that has volume, and no ticks."""
    ticks_only: int
    """Minutes with ticks and no bar."""
    examples: list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class QualityReport:
    dataset: str
    symbol: str
    start: str
    end: str
    """Exclusive, like every range here."""
    unit: str
    """What ``units`` and ``issue_units`` count: the bar interval, or ``1m`` (minutes)."""
    rows: int
    expected_rows: int | None
    gap_threshold_seconds: float | None
    gaps: list[Gap]
    missing: int | None
    """Bars: intervals missing in the range."""
    gap_seconds: float
    duplicates: Duplicates
    coverage: list[DayCoverage]
    cross_check: CrossCheck | None
    units: int
    issue_units: float
    issue_share: float
    off_grid: int = 0
    """Bars whose open time is not on the interval's UTC grid."""


def dataset_shape(dataset: str, max_gap_seconds: float | None = None) -> DatasetShape:
    """The shape of lake ``dataset``; ``max_gap_seconds`` overrides the gap threshold."""
    bars = _BARS.fullmatch(dataset)
    if bars:
        step = interval_ns(bars["interval"])
        return DatasetShape("open_time", ("open_time",), step, step)
    try:
        spec, _ = dataset_spec(dataset)
    except UnknownDatasetError:
        spec = None
    max_gap_ns = None if spec is None else _MAX_GAP_NS.get(spec.base.removeprefix("um_"))
    if spec is None or max_gap_ns is None:
        known = ", ".join(sorted(known.base for known in DATASET_SPECS if not known.per_interval))
        raise QualityError(
            f"qa does not know the key of dataset {dataset!r}; it knows bars_<interval> "
            f"(with a prefix such as um_) and {known}"
        )
    if max_gap_seconds is None:
        return DatasetShape(spec.time_column, spec.key, None, max_gap_ns)
    if not max_gap_seconds > 0:
        raise QualityError(f"the gap threshold must be positive, got {max_gap_seconds} s")
    return DatasetShape(spec.time_column, spec.key, None, round(max_gap_seconds * _SECOND))


def check_quality(
    data_dir: Path,
    dataset: str,
    symbol: str,
    start: dt.date | None = None,
    end: dt.date | None = None,
    *,
    max_gap_seconds: float | None = None,
    tolerance: float = DEFAULT_TOLERANCE,
) -> QualityReport:
    """The quality report of ``symbol`` in ``dataset`` over UTC days ``[start, end)``."""
    data_dir = Path(data_dir)
    shape = dataset_shape(dataset, max_gap_seconds)
    if shape.interval_ns is not None and max_gap_seconds is not None:
        raise QualityError("--max-gap applies to ticks and snapshots; bars gaps are missing bars")
    if not tolerance >= 0:
        raise QualityError(f"the tolerance must be >= 0, got {tolerance}")
    days = _partition_days(data_dir, dataset, symbol)
    if not days:
        available = ", ".join(lake_datasets(data_dir)) or "none"
        raise QualityError(
            f"no {dataset} for {symbol} under {data_dir / 'lake'} (datasets: {available})"
        )
    first = start or days[0]
    last = end or days[-1] + dt.timedelta(days=1)
    if last <= first:
        raise QualityError(f"empty range: --end {last} is not after --start {first}")
    with duckdb.connect() as connection:
        check = _Check(connection, data_dir, dataset, symbol, shape, first, last)
        return check.report(tolerance)


def iso(ts_ns: int) -> str:
    """An epoch-ns time as ISO 8601 UTC, to the second unless it has a fraction."""
    seconds, nanos = divmod(ts_ns, _SECOND)
    moment = dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
    fraction = f".{nanos:09d}".rstrip("0") if nanos else ""
    return f"{moment}{fraction}Z"


class _Check:
    """One report's queries, over one connection; ``scan`` is the dataset's rows of the
    symbol and range as a FROM item."""

    def __init__(
        self,
        connection: duckdb.DuckDBPyConnection,
        data_dir: Path,
        dataset: str,
        symbol: str,
        shape: DatasetShape,
        first: dt.date,
        last: dt.date,
    ) -> None:
        self.connection = connection
        self.data_dir = data_dir
        self.dataset = dataset
        self.symbol = symbol
        self.shape = shape
        self.first = first
        self.last = last
        self.start_ns = _day_ns(first)
        self.end_ns = _day_ns(last)
        self.unit_ns = shape.interval_ns or _MINUTE
        self.scan = self._rows(dataset, shape.time)

    def report(self, tolerance: float) -> QualityReport:
        daily = self._daily()
        rows = sum(day_rows for day_rows, _, _ in daily.values())
        off_grid = sum(day_off_grid for _, _, day_off_grid in daily.values())
        gaps = self._bar_gaps() if self.shape.interval_ns else self._empty_stretches()
        gap_ns = sum(end - start for start, end, _ in gaps)
        duplicates, duplicate_units = self._duplicates()
        coverage = self._coverage(daily, gaps)
        cross = self._cross_check(tolerance)
        cross_check, contradicted = cross if cross else (None, set())
        units = (self.end_ns - self.start_ns) // self.unit_ns
        missing = sum(count for _, _, count in gaps) if self.shape.interval_ns else None
        empty_units = missing if missing is not None else gap_ns / self.unit_ns
        issue_units = empty_units + len(duplicate_units | contradicted)
        expected = units if self.shape.interval_ns else None
        return QualityReport(
            dataset=self.dataset,
            symbol=self.symbol,
            start=self.first.isoformat(),
            end=self.last.isoformat(),
            unit=_unit_name(self.unit_ns),
            rows=rows,
            expected_rows=expected,
            gap_threshold_seconds=None if expected is not None else self.shape.max_gap_ns / _SECOND,
            gaps=[Gap(iso(s), iso(e), (e - s) / _SECOND, n) for s, e, n in gaps],
            missing=missing,
            gap_seconds=gap_ns / _SECOND,
            duplicates=duplicates,
            coverage=coverage,
            cross_check=cross_check,
            units=units,
            issue_units=issue_units,
            issue_share=issue_units / units if units else 0.0,
            off_grid=off_grid,
        )

    def _rows(self, dataset: str, time: str, *, both: bool = False) -> str:
        """Rows of ``dataset`` for the symbol and range (and with ``both``, only of the
        days in ``$both_days``), as a FROM item."""
        days = " AND list_contains($both_days, date)" if both else ""
        return (
            f"({dataset_scan(self.data_dir, dataset)} WHERE symbol = $symbol "
            f"AND date >= $first AND date < $last{days} "
            f"AND epoch_ns({time}) >= $start_ns AND epoch_ns({time}) < $end_ns)"
        )

    def _sql(self, sql: str, **extra: object) -> list[tuple[Any, ...]]:
        params = {
            "symbol": self.symbol,
            "first": self.first,
            "last": self.last,
            "start_ns": self.start_ns,
            "end_ns": self.end_ns,
        }
        params.update(extra)
        # DuckDB refuses a value for a parameter the statement does not use.
        used = {name: value for name, value in params.items() if f"${name}" in sql}
        try:
            return self.connection.sql(sql, params=used).fetchall()
        except duckdb.Error as error:
            raise QualityError(f"{self.dataset} of {self.symbol}: {one_line(str(error))}") from None

    def _daily(self) -> dict[dt.date, tuple[int, int, int]]:
        """Per UTC day with rows: (rows, distinct bars, bars off the grid); bars only
        count the last two, which cost a distinct count."""
        step = self.shape.interval_ns
        time = self.shape.time
        bars = f"count(DISTINCT {time}), count(*) FILTER (epoch_ns({time}) % {step} <> 0)"
        figures = bars if step else "0, 0"
        return {
            day: (rows, present, off_grid)
            for day, rows, present, off_grid in self._sql(
                f"SELECT date, count(*), {figures} FROM {self.scan} GROUP BY date"
            )
        }

    def _bar_gaps(self) -> list[tuple[int, int, int]]:
        """(start, end, missing bars) of each run of missing bars, from the distinct open
        times and two sentinels: one bar before the range and the range's end."""
        step = self.shape.interval_ns
        return [
            (start, end, count)
            for start, end, count in self._sql(
                f"""
                WITH times AS (
                    SELECT DISTINCT epoch_ns(open_time) AS t FROM {self.scan}
                    UNION ALL SELECT $start_ns - {step}
                    UNION ALL SELECT $end_ns
                ),
                runs AS (SELECT t + {step} AS gap_start, lead(t) OVER (ORDER BY t) AS gap_end
                         FROM times)
                SELECT gap_start, gap_end, (gap_end - gap_start) // {step}
                FROM runs WHERE gap_end > gap_start ORDER BY gap_start
                """
            )
        ]

    def _empty_stretches(self) -> list[tuple[int, int, None]]:
        """(last row before, first row after, None) of each stretch longer than the
        threshold; any such stretch lies between two one-second buckets, so the window
        runs over buckets, not rows."""
        bucket = min(_SECOND, self.shape.max_gap_ns)
        time = self.shape.time
        return [
            (start, end, None)
            for start, end in self._sql(
                f"""
                WITH buckets AS (
                    SELECT min(epoch_ns({time})) AS lo, max(epoch_ns({time})) AS hi
                    FROM {self.scan} GROUP BY epoch_ns({time}) // {bucket}
                    UNION ALL SELECT $start_ns, $start_ns
                    UNION ALL SELECT $end_ns, $end_ns
                ),
                runs AS (SELECT hi AS gap_start, lead(lo) OVER (ORDER BY lo, hi) AS gap_end
                         FROM buckets)
                SELECT gap_start, gap_end FROM runs
                WHERE gap_end - gap_start > $threshold ORDER BY gap_start
                """,
                threshold=self.shape.max_gap_ns,
            )
        ]

    def _duplicates(self) -> tuple[Duplicates, set[int]]:
        """Duplicated keys, and the units (bars, or minutes) that hold one."""
        key = ", ".join(self.shape.key)
        # Keys first, then versions of those keys only: a distinct count of whole rows
        # for every key would cost more than finding the few duplicated ones.
        self._sql(
            f"""
            CREATE OR REPLACE TEMPORARY TABLE duplicates AS
            WITH repeated AS (
                SELECT {key}, count(*) AS copies FROM {self.scan} GROUP BY {key}
                HAVING count(*) > 1
            )
            SELECT {key}, any_value(copies) AS copies, count(DISTINCT r) AS versions,
                   min(epoch_ns({self.shape.time})) // {self.unit_ns} AS unit
            FROM {self.scan} AS r JOIN repeated USING ({key}) GROUP BY {key}
            """
        )
        [(keys, extra, conflicting)] = self._sql(
            "SELECT count(*), coalesce(sum(copies - 1), 0), count(*) FILTER (versions > 1) "
            "FROM duplicates"
        )
        names = [*self.shape.key, "copies", "versions"]
        examples = [
            dict(zip(names, row, strict=True))
            for row in self._sql(
                f"SELECT {_plain(self.shape)}, copies, versions FROM duplicates "
                f"ORDER BY {key} LIMIT {_EXAMPLES}"
            )
        ]
        units = {unit for (unit,) in self._sql("SELECT DISTINCT unit FROM duplicates")}
        return Duplicates(int(keys), int(extra), int(conflicting), examples), units

    def _coverage(
        self, daily: dict[dt.date, tuple[int, int, int]], gaps: list[tuple[int, int, int | None]]
    ) -> list[DayCoverage]:
        step = self.shape.interval_ns
        per_day = DAY_NS // step if step else None
        empty = _empty_per_day(gaps) if step is None else {}
        coverage = []
        day = self.first
        while day < self.last:
            rows, bars_present, _ = daily.get(day, (0, 0, 0))
            if per_day is not None:
                present = bars_present / per_day
            else:
                present = 1.0 - empty.get(day, 0) / DAY_NS
            coverage.append(DayCoverage(day.isoformat(), rows, per_day, present))
            day += dt.timedelta(days=1)
        return coverage

    def _cross_check(self, tolerance: float) -> tuple[CrossCheck, set[int]] | None:
        """Compare with the other side (klines for ticks, ticks for 1m klines) on the days
        both hold (a day one side lacks is that side's gap, not a disagreement); None when
        this dataset has no other side or the lake lacks it."""
        pair = _cross_pair(self.dataset, self.shape)
        if pair is None:
            return None
        bars, ticks = self._present(pair)
        if bars is None or ticks is None:
            return None
        bar_days = set(_partition_days(self.data_dir, bars, self.symbol))
        both = sorted(set(_partition_days(self.data_dir, ticks, self.symbol)) & bar_days)
        both = [day for day in both if self.first <= day < self.last]
        if not both:
            return None
        built = bars_query(ticks, "1m", self._rows(ticks, "ts", both=True))
        differs = " OR ".join(f"{name}_differs" for name in _FIELDS)
        compare = ",\n".join(
            f"abs(k.{name} - b.{name}) > $tolerance * greatest(abs(k.{name}), abs(b.{name}))"
            f" AS {name}_differs"
            for name in _FIELDS
        )
        self._sql(
            f"""
            CREATE OR REPLACE TEMPORARY TABLE cross_check AS
            WITH k AS (
                SELECT DISTINCT ON (t) epoch_ns(open_time) AS t, open, high, low, close, volume
                FROM {self._rows(bars, "open_time", both=True)}
                ORDER BY t, open, high, low, close, volume
            ),
            b AS (SELECT epoch_ns(open_time) AS t, open, high, low, close, volume FROM ({built}))
            SELECT coalesce(k.t, b.t) AS t, k.t IS NOT NULL AS has_bar,
                   b.t IS NOT NULL AS has_ticks, k.volume > 0 AS bar_traded,
                   {compare},
                   k.open AS bar_open, k.high AS bar_high, k.low AS bar_low,
                   k.close AS bar_close, k.volume AS bar_volume,
                   b.open AS ticks_open, b.high AS ticks_high, b.low AS ticks_low,
                   b.close AS ticks_close, b.volume AS ticks_volume
            FROM k FULL JOIN b ON k.t = b.t
            """,
            tolerance=tolerance,
            both_days=both,
        )
        field_counts = ", ".join(f"count(*) FILTER ({name}_differs)" for name in _FIELDS)
        [(compared, differing, bars_only, ticks_only, *by_field)] = self._sql(
            f"""
            SELECT count(*) FILTER (has_bar AND has_ticks),
                   count(*) FILTER (has_bar AND has_ticks AND ({differs})),
                   count(*) FILTER (bar_traded AND NOT has_ticks),
                   count(*) FILTER (has_ticks AND NOT has_bar),
                   {field_counts}
            FROM cross_check
            """
        )
        disagree = f"(has_bar AND has_ticks AND ({differs})) OR (bar_traded AND NOT has_ticks) "
        disagree += "OR (has_ticks AND NOT has_bar)"
        columns = [f"{side}_{name}" for side in ("bar", "ticks") for name in _FIELDS]
        examples = [
            {"minute": iso(t), **dict(zip(columns, values, strict=True))}
            for t, *values in self._sql(
                f"SELECT t, {', '.join(columns)} FROM cross_check WHERE {disagree} "
                f"ORDER BY t LIMIT {_EXAMPLES}"
            )
        ]
        # This dataset's present units the other side contradicts; where this side has
        # no rows it is a gap already, counted there.
        own = "has_bar" if self.shape.interval_ns else "has_ticks"
        contradicted = {
            t // self.unit_ns
            for (t,) in self._sql(f"SELECT t FROM cross_check WHERE {own} AND ({disagree})")
        }
        check = CrossCheck(
            bars=bars,
            ticks=ticks,
            tolerance=tolerance,
            minutes_compared=int(compared),
            differing=int(differing),
            by_field=dict(zip(_FIELDS, (int(count) for count in by_field), strict=True)),
            bars_only=int(bars_only),
            ticks_only=int(ticks_only),
            examples=examples,
        )
        return check, contradicted

    def _present(self, pair: tuple[str, tuple[str, ...]]) -> tuple[str | None, str | None]:
        """The bars dataset and the first tick dataset of ``pair`` the symbol has."""
        bars, candidates = pair
        ticks = next(
            (name for name in candidates if _partition_days(self.data_dir, name, self.symbol)),
            None,
        )
        has_bars = bool(_partition_days(self.data_dir, bars, self.symbol))
        return (bars if has_bars else None), ticks


def _cross_pair(dataset: str, shape: DatasetShape) -> tuple[str, tuple[str, ...]] | None:
    """(1m bars dataset, tick datasets by preference) to cross-check ``dataset`` against."""
    prefix = "um_" if dataset.startswith("um_") else ""
    base = dataset.removeprefix(prefix)
    if shape.interval_ns == _MINUTE and base == "bars_1m":
        return dataset, (f"{prefix}trades", f"{prefix}agg_trades")
    if base in ("trades", "agg_trades"):
        return f"{prefix}bars_1m", (dataset,)
    return None


def _partition_days(data_dir: Path, dataset: str, symbol: str) -> list[dt.date]:
    """UTC days with a partition file of ``symbol`` in ``dataset``, sorted."""
    symbol_dir = Path(data_dir) / "lake" / dataset / f"symbol={symbol}"
    if not symbol_dir.is_dir():
        return []
    days = []
    for partition in symbol_dir.iterdir():
        key, _, value = partition.name.partition("=")
        if key != "date" or next(partition.glob("*.parquet"), None) is None:
            continue
        try:
            days.append(dt.date.fromisoformat(value))
        except ValueError:
            continue
    return sorted(days)


def _empty_per_day(gaps: list[tuple[int, int, int | None]]) -> dict[dt.date, int]:
    """Nanoseconds of each UTC day that lie inside a gap."""
    empty: dict[dt.date, int] = {}
    for start, end, _ in gaps:
        cursor = start
        while cursor < end:
            day_end = (cursor // DAY_NS + 1) * DAY_NS
            piece = min(end, day_end) - cursor
            day = utc_date(cursor)
            empty[day] = empty.get(day, 0) + piece
            cursor += piece
    return empty


def _plain(shape: DatasetShape) -> str:
    """The key columns as plain values (times as epoch ns), for JSON examples."""
    return ", ".join(
        f"epoch_ns({name})" if name in ("ts", "open_time") else name for name in shape.key
    )


def _unit_name(unit_ns: int) -> str:
    minutes = unit_ns // _MINUTE
    if minutes % 1440 == 0:
        return f"{minutes // 1440}d"
    return f"{minutes // 60}h" if minutes % 60 == 0 else f"{minutes}m"


def _day_ns(day: dt.date) -> int:
    return (day - _EPOCH).days * DAY_NS
