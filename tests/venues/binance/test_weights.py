"""The request-weight budget on a fake clock: waits before the limit, headers, 429 pauses,
418 bans that stop every caller, and one budget per host."""

from __future__ import annotations

import asyncio

import msgspec
import pytest

from tests.shared_fixtures import shared_fixtures
from tests.venues.binance.fake_clock import FakeClock
from venues.binance.errors import IpBanned
from venues.binance.rest import ExchangeInfo
from venues.binance.weights import (
    DEFAULT_BAN_SECONDS,
    USED_WEIGHT_HEADER,
    RateLimit,
    WeightBudget,
    minute_weight_limit,
    shared_budget,
)

ENDPOINT = "GET /api/v3/klines"


def _budget(clock: FakeClock, limit: int = 100) -> WeightBudget:
    return WeightBudget(limit, clock=clock.time, sleep=clock.sleep)


async def test_requests_within_the_limit_do_not_wait(clock: FakeClock) -> None:
    budget = _budget(clock)
    for _ in range(5):
        await budget.acquire(20, ENDPOINT)
    assert clock.sleeps == []
    assert budget.statistics().used == 100


async def test_a_request_past_the_limit_waits_for_the_next_minute(clock: FakeClock) -> None:
    budget = _budget(clock)
    await budget.acquire(90, ENDPOINT)
    await budget.acquire(20, ENDPOINT)
    assert clock.sleeps == [40.0]  # 20 s into the minute: 40 s to the next one
    stats = budget.statistics()
    assert (stats.used, stats.waited_seconds) == (20, 40.0)


async def test_every_caller_draws_from_one_budget(clock: FakeClock) -> None:
    budget = _budget(clock)
    await asyncio.gather(*(budget.acquire(40, ENDPOINT) for _ in range(3)))
    assert clock.sleeps == [40.0]


async def test_the_venue_header_raises_the_count(clock: FakeClock) -> None:
    budget = _budget(clock)
    window = await budget.acquire(1, ENDPOINT)
    budget.observe(window, {USED_WEIGHT_HEADER: "95"})
    assert budget.statistics().used == 95
    budget.observe(window, {USED_WEIGHT_HEADER: "3"})  # never lowers the count
    assert budget.statistics().used == 95
    await budget.acquire(10, ENDPOINT)
    assert clock.sleeps == [40.0]


async def test_a_header_of_a_past_window_is_ignored(clock: FakeClock) -> None:
    budget = _budget(clock)
    window = await budget.acquire(1, ENDPOINT)
    clock.now += 60
    await budget.acquire(1, ENDPOINT)
    budget.observe(window, {USED_WEIGHT_HEADER: "99"})
    assert budget.statistics().used == 1


async def test_an_unreadable_header_changes_nothing(clock: FakeClock) -> None:
    budget = _budget(clock)
    window = await budget.acquire(1, ENDPOINT)
    budget.observe(window, {USED_WEIGHT_HEADER: "lots"})
    budget.observe(window, {})
    assert budget.statistics().used == 1


async def test_a_request_heavier_than_the_limit_goes_alone(clock: FakeClock) -> None:
    budget = _budget(clock, limit=10)
    await budget.acquire(50, ENDPOINT)
    assert clock.sleeps == []
    await budget.acquire(1, ENDPOINT)
    assert clock.sleeps == [40.0]


async def test_429_pauses_every_caller_for_retry_after(clock: FakeClock) -> None:
    budget = _budget(clock)
    budget.pause(7)
    await budget.acquire(1, ENDPOINT)
    await budget.acquire(1, ENDPOINT)
    assert clock.sleeps == [7.0]


async def test_429_without_retry_after_pauses_until_the_next_minute(clock: FakeClock) -> None:
    budget = _budget(clock)
    budget.pause(None)
    await budget.acquire(1, ENDPOINT)
    assert clock.sleeps == [40.0]


async def test_418_stops_every_request_until_the_ban_ends(clock: FakeClock) -> None:
    budget = _budget(clock)
    budget.ban(300)
    for _ in range(2):
        with pytest.raises(IpBanned) as caught:
            await budget.acquire(1, ENDPOINT)
        assert caught.value.halts_trading
        assert "not sent" in str(caught.value)
        assert ENDPOINT in str(caught.value)
    assert clock.sleeps == []  # a ban is not waited out silently: callers must know
    clock.now += 299
    with pytest.raises(IpBanned):
        await budget.acquire(1, ENDPOINT)
    clock.now += 1
    await budget.acquire(1, ENDPOINT)


async def test_418_without_retry_after_bans_for_the_shortest_ban(clock: FakeClock) -> None:
    budget = _budget(clock)
    budget.ban(None)
    assert budget.statistics().banned_until == clock.now + DEFAULT_BAN_SECONDS


def test_limit_comes_from_recorded_exchange_info() -> None:
    path = shared_fixtures() / "binance_rest" / "spot_recorded" / "exchange_info.json"
    info = msgspec.json.decode(path.read_bytes(), type=ExchangeInfo)
    assert minute_weight_limit(info.rate_limits) == 1200


def test_no_request_weight_row_means_no_limit() -> None:
    assert minute_weight_limit([RateLimit()]) is None
    orders = RateLimit(rate_limit_type="ORDERS", interval="SECOND", interval_num=10, limit=50)
    assert minute_weight_limit([orders]) is None


def test_limit_must_be_positive(clock: FakeClock) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        _budget(clock, limit=0)
    with pytest.raises(ValueError, match="at least 1"):
        _budget(clock).set_limit(0)


def test_one_budget_per_host_in_the_process() -> None:
    first = shared_budget("http://127.0.0.1:8765")
    assert shared_budget("http://127.0.0.1:8765/") is first
    assert shared_budget("https://api.binance.com") is not first
