"""Request weight: the per-minute limit, 429 with Retry-After, 418 for clients that keep going."""

from __future__ import annotations

import httpx

from tests.venues.simulator.helpers import paused
from venues.simulator import run_simulator
from venues.simulator.limits import WeightLimiter, request_weight


class FakeWall:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_weights_follow_binance() -> None:
    assert request_weight("GET", "/api/v3/exchangeInfo", {}) == 20
    assert request_weight("GET", "/api/v3/order", {}) == 4
    assert request_weight("GET", "/api/v3/openOrders", {}) == 80
    assert request_weight("GET", "/api/v3/openOrders", {"symbol": "BTCUSDT"}) == 6
    assert request_weight("GET", "/api/v3/myTrades", {"orderId": "3"}) == 5
    assert request_weight("POST", "/api/v3/userDataStream", {}) == 2


def test_the_window_resets_each_minute() -> None:
    wall = FakeWall()
    limiter = WeightLimiter(limit=10, window_seconds=60, bans_after=3, ban_seconds=120, clock=wall)
    assert [limiter.admit(4).status for _ in range(3)] == [200, 200, 429]
    refused = limiter.admit(1)
    assert refused.status == 429 and 0 < refused.retry_after <= 60
    wall.now = 1080.0
    assert limiter.admit(4) == limiter.admit(0).__class__(200, 4)


def test_a_client_that_keeps_going_after_429s_is_banned() -> None:
    wall = FakeWall()
    limiter = WeightLimiter(limit=2, window_seconds=60, bans_after=3, ban_seconds=120, clock=wall)
    statuses = [limiter.admit(1).status for _ in range(6)]
    assert statuses == [200, 200, 429, 429, 429, 418]
    wall.now += 100
    banned = limiter.admit(1)
    assert (banned.status, round(banned.retry_after)) == (418, 20)
    wall.now += 21
    assert limiter.admit(1).status == 200


def test_a_client_that_waits_as_told_is_not_banned() -> None:
    wall = FakeWall()
    limiter = WeightLimiter(limit=1, window_seconds=1, bans_after=2, ban_seconds=120, clock=wall)
    for _ in range(5):
        assert limiter.admit(1).status == 200
        refused = limiter.admit(1)
        assert refused.status == 429
        wall.now += refused.retry_after
    assert limiter.admit(1).status == 200


async def test_over_the_limit_the_server_answers_429_then_418() -> None:
    async with (
        run_simulator(paused(weight_limit=25, bans_after_429s=2)) as sim,
        httpx.AsyncClient(base_url=sim.url) as client,
    ):
        assert (await client.get("/api/v3/exchangeInfo")).status_code == 200
        limited = await client.get("/api/v3/klines", params={"symbol": "BTCUSDT", "interval": "1m"})
        assert limited.status_code == 200
        limited = await client.get("/api/v3/exchangeInfo")
        assert limited.status_code == 429
        assert limited.json()["code"] == -1003
        assert "current limit is 25 request weight per 1 MINUTE" in limited.json()["msg"]
        assert int(limited.headers["Retry-After"]) >= 1
        assert limited.headers["X-MBX-USED-WEIGHT-1M"] == "42"
        assert (await client.get("/api/v3/ping")).status_code == 429
        banned = await client.get("/api/v3/ping")
        assert banned.status_code == 418
        assert "IP banned until" in banned.json()["msg"]
        assert int(banned.headers["Retry-After"]) == 120
