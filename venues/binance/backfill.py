"""Klines backfill: Binance's bars of a symbol and interval into the lake, day by day, resumable.

The range is whole UTC days (end exclusive). A day the lake already holds
complete (every bar of the day, on the interval grid) is skipped; the other days
are fetched in runs of consecutive days, 1000 klines per request
(``GET /api/v3/klines``), and each day is written as one partition
(``bars_<interval>``, ``storage.lake``) as soon as the pages have passed its
end. So an interrupted run keeps every day it finished, and a rerun fetches only
what is still missing. A day is written whole from Binance's answer, replacing
what the lake held of it.

Every page is checked against the cursor: a bar must start on the interval grid,
at or after where the previous one ended; one that starts again or earlier is a
duplicate and stops the backfill (nothing of that day is written). A bar that
starts later than expected leaves a gap, which is reported as Binance's
(``Gap``), never filled in. Only closed bars are written: the range is cut at the
start of the bar open at the server's current time, and a day not over yet is
written as far as it has closed and reported as partial.

Request weight is the client's concern: every request draws from the host's
shared budget (``venues.binance.weights``), waiting when it must.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import Final, TypeVar

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import structlog

from actors.intervals import interval_ns
from storage.lake import DAY_NS, Lake, bars_dataset
from venues.binance.errors import BinanceError, OutcomeUnknown, VenueUnreachable
from venues.binance.rest import MAX_KLINES, BinanceRest, Kline

__all__ = ["BackfillError", "BackfillReport", "Gap", "backfill_klines", "complete_days"]

log = structlog.get_logger(__name__)

_MS: Final = 1_000_000
_DAY_MS: Final = DAY_NS // _MS
_EPOCH: Final = dt.date(1970, 1, 1)
_TIME: Final = pa.timestamp("ns", tz="UTC")
# A failed page (timeout, 5xx, refused connection) is asked again after these waits:
# a klines read changes nothing, so it is safe to repeat.
_RETRY_DELAYS: Final = (1.0, 4.0)

Sleep = Callable[[float], Awaitable[None]]
_T = TypeVar("_T")


class BackfillError(ValueError):
    """The backfill stopped; the message names the symbol, the day and the cause. Days
    written before it stay in the lake, and a rerun resumes after them."""


@dataclass(frozen=True, slots=True)
class Gap:
    """Bars ``[start_ms, end_ms)`` that Binance does not have (``missing`` of them)."""

    start_ms: int
    end_ms: int
    missing: int

    def describe(self) -> str:
        first, end = _iso(self.start_ms), _iso(self.end_ms)
        return f"{first} -> {end}: {self.missing:,} bars Binance does not have"


@dataclass(slots=True)
class BackfillReport:
    """What a backfill did: days asked for, those already complete, those written (with
    their bar counts), days not over yet, Binance's gaps, and the requests it took."""

    symbol: str
    interval: str
    days: list[dt.date]
    complete_before: list[dt.date] = field(default_factory=list)
    written: dict[dt.date, int] = field(default_factory=dict)
    partial: list[dt.date] = field(default_factory=list)
    not_closed: list[dt.date] = field(default_factory=list)
    gaps: list[Gap] = field(default_factory=list)
    requests: int = 0

    @property
    def bars_written(self) -> int:
        return sum(self.written.values())


def _day_ms(day: dt.date) -> int:
    return (day - _EPOCH).days * _DAY_MS


def _iso(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _days(start: dt.date, end: dt.date) -> list[dt.date]:
    return [start + dt.timedelta(days=offset) for offset in range((end - start).days)]


def complete_days(lake: Lake, symbol: str, interval: str, days: list[dt.date]) -> list[dt.date]:
    """The days of ``days`` whose partition holds every bar of the day on the grid."""
    step = interval_ns(interval)
    dataset = bars_dataset(interval)
    return [day for day in days if _is_complete(lake, dataset, symbol, day, step)]


def _is_complete(lake: Lake, dataset: str, symbol: str, day: dt.date, step: int) -> bool:
    files = sorted(lake.partition_dir(dataset, symbol, day).glob("*.parquet"))
    if not files:
        return False
    try:
        tables = [pq.read_table(path, columns=["open_time"]) for path in files]
    except (OSError, pa.ArrowException) as error:
        log.warning("unreadable_partition", path=str(files[0].parent), error=str(error))
        return False
    starts = pc.cast(pa.concat_tables(tables).column("open_time"), pa.int64())
    first = (day - _EPOCH).days * DAY_NS
    if len(starts) != DAY_NS // step or starts[0].as_py() != first:
        return False
    steps = pc.subtract(starts.slice(1), starts.slice(0, len(starts) - 1))
    return len(steps) == 0 or bool(pc.all(pc.equal(steps, step)).as_py())


def _runs(days: list[dt.date]) -> Iterator[tuple[dt.date, dt.date]]:
    """Consecutive days as ``(first, end)`` with ``end`` exclusive."""
    index = 0
    while index < len(days):
        first = days[index]
        while index + 1 < len(days) and days[index + 1] - days[index] == dt.timedelta(days=1):
            index += 1
        yield first, days[index] + dt.timedelta(days=1)
        index += 1


async def backfill_klines(
    rest: BinanceRest,
    lake: Lake,
    symbol: str,
    interval: str,
    start: dt.date,
    end: dt.date,
    *,
    force: bool = False,
    page_limit: int = MAX_KLINES,
    sleep: Sleep = asyncio.sleep,
) -> BackfillReport:
    """Bring ``symbol``'s ``interval`` bars of the days ``[start, end)`` into ``lake``.

    ``force`` fetches every day, complete or not (to replace bars of another source)."""
    if end <= start:
        raise BackfillError(f"the end {end} must be after the start {start} (end is exclusive)")
    step_ms = interval_ns(interval) // _MS
    days = _days(start, end)
    report = BackfillReport(symbol=symbol, interval=interval, days=days)
    if not force:
        report.complete_before = complete_days(lake, symbol, interval, days)
    done = set(report.complete_before)
    todo = [day for day in days if day not in done]
    if not todo:
        return report
    now_ms = await _ask(rest, report, sleep, symbol, todo[0], rest.server_time)
    # Bars that have closed by now: those starting before the bar open at the moment.
    closed_end_ms = now_ms - now_ms % step_ms
    for first, run_end in _runs(todo):
        fetch = _RunFetch(rest, lake, report, sleep, symbol, interval, step_ms, page_limit)
        await fetch.run(_day_ms(first), min(_day_ms(run_end), closed_end_ms), _day_ms(run_end))
    return report


async def _ask(
    rest: BinanceRest,
    report: BackfillReport,
    sleep: Sleep,
    symbol: str,
    day: dt.date,
    request: Callable[[], Awaitable[_T]],
) -> _T:
    """One request, asked again after a transient failure; any other error ends the
    backfill with the symbol and day named."""
    attempt = 0
    while True:
        report.requests += 1
        try:
            return await request()
        except (OutcomeUnknown, VenueUnreachable) as error:
            if attempt >= len(_RETRY_DELAYS):
                raise _stopped(report, symbol, day, error) from None
            log.warning("backfill_retry", symbol=symbol, day=day.isoformat(), error=str(error))
            await sleep(_RETRY_DELAYS[attempt])
            attempt += 1
        except BinanceError as error:
            raise _stopped(report, symbol, day, error) from None


def _stopped(report: BackfillReport, symbol: str, day: dt.date, error: Exception) -> BackfillError:
    kept = len(report.written)
    tail = f"; {kept} days written before it are kept, run again to resume" if kept else ""
    return BackfillError(f"symbol {symbol}, day {day}: {error}{tail}")


class _RunFetch:
    """Pages through one run of consecutive days, writing each day once it is passed."""

    def __init__(
        self,
        rest: BinanceRest,
        lake: Lake,
        report: BackfillReport,
        sleep: Sleep,
        symbol: str,
        interval: str,
        step_ms: int,
        page_limit: int,
    ) -> None:
        self._rest, self._lake, self._report, self._sleep = rest, lake, report, sleep
        self._symbol, self._interval, self._step = symbol, interval, step_ms
        self._limit = page_limit
        self._day = -1  # first ms of the day being collected
        self._rows: list[Kline] = []

    async def run(self, start_ms: int, end_ms: int, run_end_ms: int) -> None:
        """Fetch ``[start_ms, end_ms)``; days up to ``run_end_ms`` that ``end_ms`` (the
        closed bars) does not reach are partial or not over yet."""
        cursor = start_ms
        self._day = start_ms
        while cursor < end_ms:
            request = partial(
                self._rest.klines, self._symbol, self._interval, cursor, end_ms - 1, self._limit
            )
            page = await _ask(
                self._rest, self._report, self._sleep, self._symbol, self._date(cursor), request
            )
            past_end = False
            for row in page:
                if row.open_time >= end_ms:
                    past_end = True  # still open, or past the range: never written
                    break
                cursor = self._take(row, cursor)
            if past_end or len(page) < self._limit:
                break
        if cursor < end_ms:
            self._gap(cursor, end_ms)
        self._flush_until(end_ms)
        self._finish(end_ms, run_end_ms)

    def _take(self, row: Kline, cursor: int) -> int:
        """Check one bar against the cursor, keep it, and return the next cursor."""
        start = row.open_time
        if start % self._step:
            raise self._bad(start, f"a bar at {_iso(start)} is off the {self._interval} grid")
        if start < cursor:
            raise self._bad(
                start, f"a bar at {_iso(start)} repeats or precedes one already received "
                f"(expected {_iso(cursor)} or later)",
            )  # fmt: skip
        if start > cursor:
            self._gap(cursor, start)
        self._flush_until(start)
        self._rows.append(row)
        return start + self._step

    def _gap(self, start_ms: int, end_ms: int) -> None:
        missing = (end_ms - start_ms) // self._step
        gaps = self._report.gaps
        if gaps and gaps[-1].end_ms == start_ms:
            previous = gaps.pop()
            start_ms, missing = previous.start_ms, previous.missing + missing
        gaps.append(Gap(start_ms, end_ms, missing))
        log.warning("kline_gap", symbol=self._symbol, start=_iso(start_ms), end=_iso(end_ms))

    def _flush_until(self, ms: int) -> None:
        """Write the day being collected once ``ms`` is past its end."""
        while self._day + _DAY_MS <= ms:
            self._write_day()
            self._day += _DAY_MS

    def _write_day(self) -> None:
        rows, self._rows = self._rows, []
        if not rows:
            return
        table = pa.table(
            {
                "open_time": pa.array([row.open_time * _MS for row in rows], pa.int64()).cast(
                    _TIME
                ),
                "open": pa.array([row.open for row in rows], pa.float64()),
                "high": pa.array([row.high for row in rows], pa.float64()),
                "low": pa.array([row.low for row in rows], pa.float64()),
                "close": pa.array([row.close for row in rows], pa.float64()),
                "volume": pa.array([row.volume for row in rows], pa.float64()),
                "quote_volume": pa.array([row.quote_volume for row in rows], pa.float64()),
                "trades": pa.array([row.trades for row in rows], pa.int64()),
            }
        )
        self._lake.write_bars(self._symbol, self._interval, table)
        day = self._date(self._day)
        self._report.written[day] = len(rows)
        log.info("backfill_day_written", symbol=self._symbol, day=day.isoformat(), bars=len(rows))

    def _finish(self, end_ms: int, run_end_ms: int) -> None:
        """The days the closed bars do not reach: the one cut short is written as far as
        it closed (partial); the ones after it have not begun."""
        while self._day < run_end_ms:
            day = self._date(self._day)
            if self._day < end_ms:
                self._write_day()
                self._report.partial.append(day)
            else:
                self._report.not_closed.append(day)
            self._day += _DAY_MS

    def _date(self, ms: int) -> dt.date:
        return _EPOCH + dt.timedelta(days=ms // _DAY_MS)

    def _bad(self, ms: int, text: str) -> BackfillError:
        return _stopped(
            self._report, self._symbol, self._date(ms), BinanceError("GET /api/v3/klines", text)
        )
