"""Klines backfill against a synthetic paged venue (respx): pages of 1000, one partition per
day, resumable after an interruption, no duplicate or missing minute, Binance's own gaps
reported, only closed bars written, weight waits."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pyarrow.compute as pc
import pytest
import respx

from storage.lake import Lake
from tests.venues.binance.fake_clock import FakeClock
from tests.venues.binance.klines_venue import (
    DAY1,
    DAY1_MS,
    DAY_MS,
    MINUTE_MS,
    SYMBOL,
    PagedVenue,
    kline,
    minutes,
)
from venues.binance.backfill import BackfillError, Gap, backfill_klines, complete_days
from venues.binance.rest import BinanceRest
from venues.binance.weights import WeightBudget

BASE = "http://sim.test"


@pytest.fixture
def now_ms() -> list[int]:
    """The server's time (a list so a test can move it): long after the test days."""
    return [DAY1_MS + 30 * DAY_MS]


@pytest.fixture
def router(now_ms: list[int]) -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=BASE, assert_all_called=False) as mock:
        mock.get("/api/v3/time").mock(
            side_effect=lambda request: httpx.Response(200, json={"serverTime": now_ms[0]})
        )
        yield mock


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    return Lake(tmp_path / "data")


async def _backfill(
    router: respx.MockRouter,
    venue: PagedVenue,
    lake: Lake,
    clock: FakeClock,
    *,
    end: dt.date = DAY1 + dt.timedelta(days=2),
    interval: str = "1m",
    budget: WeightBudget | None = None,
    **options: Any,
) -> Any:
    router.get("/api/v3/klines").mock(side_effect=venue)
    budget = budget or WeightBudget(6000, clock=clock.time, sleep=clock.sleep)
    async with BinanceRest(BASE, budget=budget) as rest:
        return await backfill_klines(
            rest, lake, SYMBOL, interval, DAY1, end, sleep=clock.sleep, **options
        )


def _open_times(lake: Lake, day: dt.date, dataset: str = "bars_1m") -> list[int]:
    table = lake.read_partition(dataset, SYMBOL, day)
    assert table is not None, f"no partition for {day}"
    return [t // 1_000_000 for t in pc.cast(table.column("open_time"), "int64").to_pylist()]


async def test_two_days_arrive_in_pages_of_1000_one_partition_per_day(
    router: respx.MockRouter, lake: Lake, clock: FakeClock
) -> None:
    venue = PagedVenue(minutes(DAY1_MS, 2880))
    report = await _backfill(router, venue, lake, clock)
    assert report.written == {DAY1: 1440, DAY1 + dt.timedelta(days=1): 1440}
    assert report.gaps == [] and report.partial == [] and report.complete_before == []
    assert [limit for _, _, limit in venue.calls] == [1000, 1000, 1000]
    assert [start for start, _, _ in venue.calls] == [
        DAY1_MS, DAY1_MS + 1000 * MINUTE_MS, DAY1_MS + 2000 * MINUTE_MS,
    ]  # fmt: skip
    assert all(end == DAY1_MS + 2 * DAY_MS - 1 for _, end, _ in venue.calls)
    assert report.requests == 4  # server time + 3 pages
    assert _open_times(lake, DAY1) == minutes(DAY1_MS, 1440)
    assert _open_times(lake, DAY1 + dt.timedelta(days=1)) == minutes(DAY1_MS + DAY_MS, 1440)
    table = lake.read_partition("bars_1m", SYMBOL, DAY1)
    assert table is not None
    row = table.slice(61, 1).to_pylist()[0]
    assert (row["open"], row["high"], row["close"]) == (40_000.61, 40_005.61, 40_001.61)
    assert (row["volume"], row["trades"]) == (1.5, 61)
    assert row["quote_volume"] == pytest.approx(60_000.915)


async def test_a_rerun_fetches_nothing_when_the_lake_is_complete(
    router: respx.MockRouter, lake: Lake, clock: FakeClock
) -> None:
    venue = PagedVenue(minutes(DAY1_MS, 2880))
    await _backfill(router, venue, lake, clock)
    venue.calls.clear()
    report = await _backfill(router, venue, lake, clock)
    assert report.complete_before == [DAY1, DAY1 + dt.timedelta(days=1)]
    assert report.written == {} and report.requests == 0 and venue.calls == []


async def test_an_interrupted_run_keeps_its_days_and_a_rerun_resumes(
    router: respx.MockRouter, lake: Lake, clock: FakeClock
) -> None:
    day2, day3 = DAY1 + dt.timedelta(days=1), DAY1 + dt.timedelta(days=2)
    opens = minutes(DAY1_MS, 3 * 1440)

    def broken_from_third_page(call: int) -> httpx.Response | None:
        return httpx.Response(503, text="Service Unavailable") if call >= 3 else None

    broken = PagedVenue(opens, fail=broken_from_third_page)
    with pytest.raises(BackfillError) as caught:
        await _backfill(router, broken, lake, clock, end=day3 + dt.timedelta(days=1))
    text = str(caught.value)
    assert text.startswith(f"symbol {SYMBOL}, day {day2}: GET /api/v3/klines: HTTP 503")
    assert "1 days written before it are kept, run again to resume" in text
    assert clock.sleeps == [1.0, 4.0]  # the page was asked three times before giving up
    assert complete_days(lake, SYMBOL, "1m", [DAY1, day2, day3]) == [DAY1]
    assert lake.read_partition("bars_1m", SYMBOL, day2) is None  # nothing half-written
    first_file = lake.partition_dir("bars_1m", SYMBOL, DAY1) / "part-0.parquet"
    first_bytes = first_file.read_bytes()

    venue = PagedVenue(opens)
    report = await _backfill(router, venue, lake, clock, end=day3 + dt.timedelta(days=1))
    assert report.complete_before == [DAY1]
    assert report.written == {day2: 1440, day3: 1440}
    assert venue.calls[0][0] == DAY1_MS + DAY_MS  # resumed at the first missing day
    assert first_file.read_bytes() == first_bytes
    assert complete_days(lake, SYMBOL, "1m", [DAY1, day2, day3]) == [DAY1, day2, day3]
    every = [t for day in (DAY1, day2, day3) for t in _open_times(lake, day)]
    assert every == opens  # no minute missing, none twice


async def test_a_gap_binance_has_is_reported_not_invented(
    router: respx.MockRouter, lake: Lake, clock: FakeClock
) -> None:
    missing = set(minutes(DAY1_MS + 995 * MINUTE_MS, 11))  # across the first page's end
    opens = [t for t in minutes(DAY1_MS, 2880) if t not in missing]
    report = await _backfill(router, PagedVenue(opens), lake, clock)
    assert report.gaps == [
        Gap(DAY1_MS + 995 * MINUTE_MS, DAY1_MS + 1006 * MINUTE_MS, 11),
    ]
    assert "2024-01-01T16:35:00Z -> 2024-01-01T16:46:00Z: 11 bars" in report.gaps[0].describe()
    assert report.written[DAY1] == 1429
    assert _open_times(lake, DAY1) == [t for t in minutes(DAY1_MS, 1440) if t not in missing]


async def test_a_day_binance_has_nothing_for_is_a_gap_and_no_partition(
    router: respx.MockRouter, lake: Lake, clock: FakeClock
) -> None:
    day2 = DAY1 + dt.timedelta(days=1)
    opens = minutes(DAY1_MS, 1440) + minutes(DAY1_MS + 2 * DAY_MS, 1440)
    report = await _backfill(router, PagedVenue(opens), lake, clock, end=DAY1 + dt.timedelta(3))
    assert report.gaps == [Gap(DAY1_MS + DAY_MS, DAY1_MS + 2 * DAY_MS, 1440)]
    assert sorted(report.written) == [DAY1, DAY1 + dt.timedelta(days=2)]
    assert lake.read_partition("bars_1m", SYMBOL, day2) is None


async def test_bars_before_a_listing_are_a_gap_at_the_start(
    router: respx.MockRouter, lake: Lake, clock: FakeClock
) -> None:
    listed = DAY1_MS + 6 * 60 * MINUTE_MS
    report = await _backfill(
        router, PagedVenue(minutes(listed, 1080)), lake, clock, end=DAY1 + dt.timedelta(1)
    )
    assert report.gaps == [Gap(DAY1_MS, listed, 360)]
    assert report.written == {DAY1: 1080}


async def test_a_repeated_bar_from_the_venue_stops_the_backfill(
    router: respx.MockRouter, lake: Lake, clock: FakeClock
) -> None:
    def repeat_on_second_page(call: int) -> httpx.Response | None:
        if call != 2:
            return None
        start = DAY1_MS + 999 * MINUTE_MS  # the last bar of the first page, again
        return httpx.Response(200, json=[kline(start + i * MINUTE_MS) for i in range(1000)])

    venue = PagedVenue(minutes(DAY1_MS, 2880), fail=repeat_on_second_page)
    with pytest.raises(BackfillError, match="repeats or precedes one already received") as caught:
        await _backfill(router, venue, lake, clock)
    assert str(caught.value).startswith(f"symbol {SYMBOL}, day {DAY1}:")
    assert lake.read_partition("bars_1m", SYMBOL, DAY1) is None


async def test_a_bar_off_the_interval_grid_stops_the_backfill(
    router: respx.MockRouter, lake: Lake, clock: FakeClock
) -> None:
    venue = PagedVenue([DAY1_MS, DAY1_MS + MINUTE_MS + 1])
    with pytest.raises(BackfillError, match="off the 1m grid"):
        await _backfill(router, venue, lake, clock)


async def test_only_closed_bars_are_written_and_the_current_day_is_partial(
    router: respx.MockRouter, lake: Lake, clock: FakeClock, now_ms: list[int]
) -> None:
    now_ms[0] = DAY1_MS + DAY_MS + 12 * 3_600_000 + 30_000  # day 2, 12:00:30
    day2, day3 = DAY1 + dt.timedelta(days=1), DAY1 + dt.timedelta(days=2)
    venue = PagedVenue(minutes(DAY1_MS, 3 * 1440))  # a sloppy venue that has the future too
    report = await _backfill(router, venue, lake, clock, end=day3 + dt.timedelta(days=1))
    assert report.written == {DAY1: 1440, day2: 720}
    assert (report.partial, report.not_closed, report.gaps) == ([day2], [day3], [])
    assert _open_times(lake, day2)[-1] == DAY1_MS + DAY_MS + 719 * MINUTE_MS  # 11:59
    assert all(end == DAY1_MS + DAY_MS + 720 * MINUTE_MS - 1 for _, end, _ in venue.calls)
    now_ms[0] += DAY_MS  # a day later the rerun completes day 2 and fetches day 3's morning
    report = await _backfill(router, venue, lake, clock, end=day3 + dt.timedelta(days=1))
    assert report.complete_before == [DAY1]
    assert report.written == {day2: 1440, day3: 720}


async def test_rows_past_the_asked_end_are_never_written(
    router: respx.MockRouter, lake: Lake, clock: FakeClock, now_ms: list[int]
) -> None:
    now_ms[0] = DAY1_MS + 10 * MINUTE_MS + 5_000

    def ignores_end_time(call: int) -> httpx.Response:
        return httpx.Response(200, json=[kline(t) for t in minutes(DAY1_MS, 1000)])

    venue = PagedVenue([], fail=ignores_end_time)
    report = await _backfill(router, venue, lake, clock, end=DAY1 + dt.timedelta(days=1))
    assert report.written == {DAY1: 10}
    assert len(venue.calls) == 1


async def test_a_day_complete_from_another_source_is_skipped_unless_forced(
    router: respx.MockRouter, lake: Lake, clock: FakeClock
) -> None:
    first = PagedVenue(minutes(DAY1_MS, 1440))
    await _backfill(router, first, lake, clock, end=DAY1 + dt.timedelta(days=1))
    venue = PagedVenue(minutes(DAY1_MS, 1440))
    skipped = await _backfill(router, venue, lake, clock, end=DAY1 + dt.timedelta(days=1))
    assert skipped.written == {} and venue.calls == []
    forced = await _backfill(
        router, venue, lake, clock, end=DAY1 + dt.timedelta(days=1), force=True
    )
    assert forced.written == {DAY1: 1440} and len(venue.calls) == 2


async def test_a_day_short_of_bars_in_the_lake_is_fetched_again(
    router: respx.MockRouter, lake: Lake, clock: FakeClock
) -> None:
    opens = minutes(DAY1_MS, 1440)
    await _backfill(router, PagedVenue(opens[:-1]), lake, clock, end=DAY1 + dt.timedelta(days=1))
    assert complete_days(lake, SYMBOL, "1m", [DAY1]) == []
    report = await _backfill(
        router, PagedVenue(opens), lake, clock, end=DAY1 + dt.timedelta(days=1)
    )
    assert report.written == {DAY1: 1440}
    assert complete_days(lake, SYMBOL, "1m", [DAY1]) == [DAY1]


async def test_coarse_intervals_page_across_days(
    router: respx.MockRouter, lake: Lake, clock: FakeClock
) -> None:
    hour = 3_600_000
    venue = PagedVenue([DAY1_MS + i * hour for i in range(72)], step_ms=hour)
    report = await _backfill(
        router, venue, lake, clock, end=DAY1 + dt.timedelta(days=3), interval="1h"
    )
    assert len(venue.calls) == 1
    assert sorted(report.written.values()) == [24, 24, 24]
    assert _open_times(lake, DAY1 + dt.timedelta(days=2), "bars_1h")[0] == DAY1_MS + 48 * hour


async def test_pages_wait_for_request_weight(
    router: respx.MockRouter, lake: Lake, clock: FakeClock
) -> None:
    budget = WeightBudget(5, clock=clock.time, sleep=clock.sleep)  # two klines per minute
    venue = PagedVenue(minutes(DAY1_MS, 2880))
    report = await _backfill(router, venue, lake, clock, budget=budget)
    assert len(report.written) == 2
    assert clock.sleeps == [40.0]  # time (1) + 2 pages (4) fill a minute; the third waits


async def test_a_transient_failure_is_asked_again(
    router: respx.MockRouter, lake: Lake, clock: FakeClock
) -> None:
    def timeout_once(call: int) -> Exception | None:
        return httpx.ReadTimeout("timed out") if call == 1 else None

    venue = PagedVenue(minutes(DAY1_MS, 1440), fail=timeout_once)
    report = await _backfill(router, venue, lake, clock, end=DAY1 + dt.timedelta(days=1))
    assert report.written == {DAY1: 1440}
    assert clock.sleeps == [1.0]


async def test_an_invalid_symbol_names_the_symbol_and_day(
    router: respx.MockRouter, lake: Lake, clock: FakeClock
) -> None:
    def invalid(call: int) -> httpx.Response:
        return httpx.Response(400, json={"code": -1121, "msg": "Invalid symbol."})

    with pytest.raises(BackfillError) as caught:
        await _backfill(router, PagedVenue([], fail=invalid), lake, clock)
    assert str(caught.value) == (
        f"symbol {SYMBOL}, day {DAY1}: GET /api/v3/klines: HTTP 400 code -1121 Invalid symbol."
    )


async def test_an_empty_range_is_refused(lake: Lake) -> None:
    async with BinanceRest(BASE) as rest:
        with pytest.raises(BackfillError, match="must be after the start"):
            await backfill_klines(rest, lake, SYMBOL, "1m", DAY1, DAY1)
