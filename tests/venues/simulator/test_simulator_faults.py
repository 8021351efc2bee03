"""Fault injection: plans from files and specs, and each fault as a client meets it."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import pytest

from tests.venues.simulator.helpers import Api, paused, receive_json
from venues.simulator import (
    FaultConfigError,
    FaultPlan,
    FaultRule,
    Simulator,
    load_fault_plan,
    parse_fault_spec,
    run_simulator,
)
from venues.simulator.faults import RestFaults

MINUTE = 60_000


@asynccontextmanager
async def faulty(*rules: FaultRule, seed: int = 1) -> AsyncIterator[Api]:
    async with (
        run_simulator(paused(faults=FaultPlan(seed=seed, rules=rules))) as sim,
        httpx.AsyncClient(base_url=sim.url, timeout=5.0) as client,
    ):
        yield Api(sim, client)


async def _order_exists(api: Api, client_id: str) -> bool:
    query = {"symbol": "BTCUSDT", "origClientOrderId": client_id}
    return (await api.signed("GET", "/api/v3/order", query)).status_code == 200


# --- plans ------------------------------------------------------------------------------


def test_a_toml_plan_and_a_json_plan_read_the_same(tmp_path: Path) -> None:
    toml = tmp_path / "faults.toml"
    toml.write_text(
        'seed = 7\n[[fault]]\nkind = "latency"\nfixed_ms = 50\njitter_ms = 20\n'
        '[[fault]]\nkind = "lost_response"\nrate = 0.2\nmode = "drop"\n'
        'endpoints = ["POST /api/v3/order"]\n'
    )
    data = {"seed": 7, "fault": [
        {"kind": "latency", "fixed_ms": 50, "jitter_ms": 20},
        {"kind": "lost_response", "rate": 0.2, "mode": "drop", "endpoints": ["POST /api/v3/order"]},
    ]}  # fmt: skip
    (tmp_path / "faults.json").write_text(json.dumps(data))
    plan = load_fault_plan(toml)
    assert plan == load_fault_plan(tmp_path / "faults.json")
    assert plan.seed == 7 and [r.kind for r in plan.rules] == ["latency", "lost_response"]


def test_a_spec_from_the_command_line() -> None:
    rule = parse_fault_spec("ws_drop:rate=0.01,streams=btcusdt@trade;user,limit=3")
    assert rule == FaultRule(kind="ws_drop", rate=0.01, streams=("btcusdt@trade", "user"), limit=3)
    assert parse_fault_spec("ws_disconnect:every_messages=100,abrupt=true").abrupt is True


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ("teleport", "unknown fault kind 'teleport'"),
        ("latency:rate=2", "rate must be in [0, 1]"),
        ("latency:speed=3", "unknown keys ['speed']"),
        ("latency:fixed_ms=soon", "fixed_ms: expected float"),
        ("ws_disconnect", "needs every_messages or every_seconds"),
        ("server_error:status=404", "status must be one of"),
        ("ws_drop:endpoints=/api/v3/order", "takes streams, not endpoints"),
    ],
)
def test_bad_specs_say_what_is_wrong(spec: str, words: str) -> None:
    with pytest.raises(FaultConfigError, match=words.replace("[", r"\[").replace("]", r"\]")):
        parse_fault_spec(spec)


def test_a_bad_file_names_the_file_and_the_rule(tmp_path: Path) -> None:
    path = tmp_path / "faults.toml"
    path.write_text('[[fault]]\nkind = "latency"\n[[fault]]\nkind = "nope"\n')
    with pytest.raises(FaultConfigError, match=r"faults.toml: fault #2: unknown fault kind"):
        load_fault_plan(path)


def test_skip_and_limit_pick_exactly_which_requests_are_hit() -> None:
    rule = FaultRule(kind="server_error", skip=2, limit=2, endpoints=("/api/v3/time",))
    faults = RestFaults(FaultPlan(rules=(rule,)))
    hits = [faults.server_error("GET", "/api/v3/time") is not None for _ in range(6)]
    assert hits == [False, False, True, True, False, False]
    assert faults.server_error("GET", "/api/v3/ping") is None


def test_the_same_seed_draws_the_same_faults() -> None:
    def draws(seed: int) -> list[bool]:
        faults = RestFaults(FaultPlan(seed=seed, rules=(FaultRule(kind="server_error", rate=0.5),)))
        return [faults.server_error("GET", "/api/v3/time") is not None for _ in range(64)]

    assert draws(1) == draws(1)
    assert draws(1) != draws(2)


# --- REST faults ------------------------------------------------------------------------


async def test_latency_delays_only_the_targeted_endpoint() -> None:
    rule = FaultRule(kind="latency", fixed_ms=150, jitter_ms=50, endpoints=("GET /api/v3/time",))
    async with faulty(rule) as api:
        started = time.perf_counter()
        await api.public("/api/v3/ping")
        quick = time.perf_counter() - started
        started = time.perf_counter()
        await api.public("/api/v3/time")
        slow = time.perf_counter() - started
    assert quick < 0.1 <= 0.15 <= slow < 0.5


async def test_a_server_error_before_execution_places_nothing() -> None:
    async with faulty(FaultRule(kind="server_error", status=503, limit=1)) as api:
        response = await api.order(
            side="BUY", type="MARKET", quantity="0.001", newClientOrderId="e-1"
        )
        assert response.status_code == 503
        assert response.json()["code"] == -1001
        assert not await _order_exists(api, "e-1")


async def test_a_server_error_after_execution_leaves_the_order_placed() -> None:
    rule = FaultRule(
        kind="server_error", status=500, executed=True, endpoints=("POST /api/v3/order",)
    )
    async with faulty(rule) as api:
        response = await api.order(
            side="BUY", type="MARKET", quantity="0.001", newClientOrderId="e-2"
        )
        assert response.status_code == 500
        assert await _order_exists(api, "e-2")


async def test_a_rate_limit_burst_answers_429_with_retry_after() -> None:
    rule = FaultRule(kind="rate_limit", retry_after=0.3, limit=1, endpoints=("/api/v3/time",))
    async with faulty(rule) as api:
        first = await api.public("/api/v3/time")
        assert (first.status_code, first.headers["Retry-After"], first.json()["code"]) == (
            429,
            "1",
            -1003,
        )
        assert "X-MBX-USED-WEIGHT-1M" in first.headers
        assert (await api.public("/api/v3/time")).status_code == 429  # the burst lasts
        assert (await api.public("/api/v3/ping")).status_code == 200  # not targeted
        await asyncio.sleep(0.35)
        assert (await api.public("/api/v3/time")).status_code == 200


async def test_a_submit_whose_answer_comes_too_late_was_placed() -> None:
    async with faulty(FaultRule(kind="lost_response", mode="delay", delay_ms=2000)) as api:
        with pytest.raises(httpx.ReadTimeout):
            await api.order(
                side="BUY", type="MARKET", quantity="0.001", newClientOrderId="late-1",
                request_timeout=0.2,
            )  # fmt: skip
        assert await _order_exists(api, "late-1")


async def test_a_submit_whose_connection_drops_was_placed() -> None:
    async with faulty(FaultRule(kind="lost_response", mode="drop", limit=1)) as api:
        with pytest.raises(httpx.RemoteProtocolError):
            await api.order(side="BUY", type="MARKET", quantity="0.001", newClientOrderId="drop-1")
        assert await _order_exists(api, "drop-1")
        retry = await api.order(
            side="BUY", type="MARKET", quantity="0.001", newClientOrderId="ok-1"
        )
        assert retry.status_code == 200


async def test_a_cancel_can_be_lost_too() -> None:
    rule = FaultRule(kind="lost_response", mode="drop", endpoints=("DELETE /api/v3/order",))
    async with faulty(rule) as api:
        _, bid, _ = api.sim.engine.book("BTCUSDT")
        await api.order(side="BUY", type="LIMIT", timeInForce="GTC", quantity="0.01",
                        price=str(bid - 100), newClientOrderId="k-1")  # fmt: skip
        query = {"symbol": "BTCUSDT", "origClientOrderId": "k-1"}
        with pytest.raises(httpx.RemoteProtocolError):
            await api.signed("DELETE", "/api/v3/order", query)
        assert (await api.signed("GET", "/api/v3/order", query)).json()["status"] == "CANCELED"


# --- WebSocket faults ---------------------------------------------------------------------


async def _frames(sim: Simulator, path: str, minutes: int, count: int) -> list[Any]:
    async with aiohttp.ClientSession() as session, session.ws_connect(f"{sim.ws_url}{path}") as ws:
        await sim.advance(minutes * MINUTE)
        return [await receive_json(ws) for _ in range(count)]


async def _trade_ids(*rules: FaultRule, count: int = 8) -> list[int]:
    async with run_simulator(paused(faults=FaultPlan(seed=5, rules=rules))) as sim:
        frames = await _frames(sim, "/ws/btcusdt@trade", 3, count)
    return [frame["t"] - frames[0]["t"] for frame in frames]


async def test_a_dropped_message_never_arrives() -> None:
    ids = await _trade_ids(FaultRule(kind="ws_drop", skip=2, limit=1))
    assert ids == [0, 1, 3, 4, 5, 6, 7, 8]


async def test_a_duplicated_message_arrives_twice() -> None:
    ids = await _trade_ids(FaultRule(kind="ws_duplicate", skip=2, limit=1))
    assert ids == [0, 1, 2, 2, 3, 4, 5, 6]


async def test_a_reordered_message_arrives_after_the_next() -> None:
    ids = await _trade_ids(FaultRule(kind="ws_reorder", skip=2, limit=1))
    assert ids == [0, 1, 3, 2, 4, 5, 6, 7]


async def test_stream_faults_hit_only_their_streams() -> None:
    ids = await _trade_ids(FaultRule(kind="ws_drop", streams=("btcusdt@kline_1m", "user")))
    assert ids == list(range(8))


async def test_a_disconnect_after_n_messages() -> None:
    rule = FaultRule(kind="ws_disconnect", every_messages=5)
    async with (
        run_simulator(paused(faults=FaultPlan(rules=(rule,)))) as sim,
        aiohttp.ClientSession() as session,
        session.ws_connect(f"{sim.ws_url}/ws/btcusdt@trade") as ws,
    ):
        await sim.advance(3 * MINUTE)
        frames = [await receive_json(ws) for _ in range(5)]
        closing = await ws.receive(timeout=2.0)
    assert len(frames) == 5
    assert (closing.type, closing.data) == (aiohttp.WSMsgType.CLOSE, 1001)


async def test_an_abrupt_disconnect_sends_no_close_frame() -> None:
    rule = FaultRule(kind="ws_disconnect", every_seconds=0.1, abrupt=True)
    async with (
        run_simulator(paused(faults=FaultPlan(rules=(rule,)))) as sim,
        aiohttp.ClientSession() as session,
        session.ws_connect(f"{sim.ws_url}/ws/btcusdt@trade") as ws,
    ):
        message = await ws.receive(timeout=2.0)
    assert message.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR)


async def test_the_user_stream_can_be_disconnected_too() -> None:
    rule = FaultRule(kind="ws_disconnect", every_messages=1, streams=("user",))
    async with faulty(rule) as api:
        key = await api.listen_key()
        async with (
            aiohttp.ClientSession() as session,
            session.ws_connect(f"{api.sim.ws_url}/ws/{key}") as user,
            session.ws_connect(f"{api.sim.ws_url}/ws/btcusdt@trade") as market,
        ):
            await api.order(side="BUY", type="MARKET", quantity="0.001")
            assert (await receive_json(user))["e"] == "executionReport"
            assert (await user.receive(timeout=2.0)).type == aiohttp.WSMsgType.CLOSE
            await api.sim.advance(MINUTE)
            assert (await receive_json(market))["e"] == "trade"
