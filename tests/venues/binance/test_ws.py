"""The reconnecting WebSocket: backoff with full jitter, pings answered, dead connections
found, planned rotations that neither lose nor repeat a frame, and what it reports when a
handover cannot be matched."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from structlog.testing import capture_logs

from tests.venues.binance.stream_helpers import (
    MINUTE,
    Reader,
    RecordingSleep,
    no_wait,
    paused,
    wait_until,
)
from venues.binance.errors import VenueUnreachable
from venues.binance.ws import (
    Connected,
    ExponentialBackoff,
    ReconnectingWebSocket,
    ReconnectPolicy,
)
from venues.simulator import run_simulator

ALL_STREAMS = "btcusdt@trade/btcusdt@aggTrade/btcusdt@bookTicker/btcusdt@kline_1m"
QUIET = ReconnectPolicy(rotate_after_seconds=None, idle_timeout_seconds=30.0)


class Hub:
    """A WebSocket server the test scripts: every connection gets what is published while
    it is open, and can be closed by number."""

    def __init__(self) -> None:
        self.connections: list[web.WebSocketResponse] = []
        self.server = TestServer(self._app())

    def _app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/ws", self._serve)
        return app

    async def _serve(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.connections.append(ws)
        async for _ in ws:
            pass
        return ws

    @property
    def url(self) -> str:
        return str(self.server.make_url("/ws")).replace("http", "ws", 1)

    async def publish(self, text: str, *, to: int | None = None) -> None:
        """Send ``text`` to every open connection (or to connection ``to``, 1-based)."""
        targets = self.connections if to is None else [self.connections[to - 1]]
        for ws in targets:
            if not ws.closed:
                await ws.send_str(text)


@pytest.fixture
async def hub() -> AsyncIterator[Hub]:
    hub = Hub()
    await hub.server.start_server()
    try:
        yield hub
    finally:
        await hub.server.close()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


def test_backoff_draws_full_jitter_under_a_doubling_ceiling() -> None:
    backoff = ExponentialBackoff(0.5, 4.0, random.Random(3))
    delays = [backoff.next_delay() for _ in range(7)]
    ceilings = [0.5, 1.0, 2.0, 4.0, 4.0, 4.0, 4.0]
    replay = random.Random(3)
    assert delays == [replay.uniform(0.0, ceiling) for ceiling in ceilings]
    assert all(0.0 <= delay <= ceiling for delay, ceiling in zip(delays, ceilings, strict=True))
    assert len(set(delays)) == len(delays)  # jittered, not the ceiling itself
    backoff.reset()
    assert backoff.next_delay() <= 0.5


@pytest.mark.parametrize(
    "changes",
    [
        {"initial_backoff_seconds": 0.0},
        {"initial_backoff_seconds": 5.0, "max_backoff_seconds": 1.0},
        {"idle_timeout_seconds": 0.0},
        {"rotate_after_seconds": 0.0},
        {"inbox_size": 0},
    ],
)
def test_a_policy_that_cannot_work_is_refused(changes: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        ReconnectPolicy(**changes)  # type: ignore[arg-type]


async def test_pings_are_answered_and_keep_a_quiet_connection_alive(
    session: aiohttp.ClientSession,
) -> None:
    # The server wants each ping answered within 0.25 s; nothing else is sent (paused),
    # so without the pings the client would take the connection for dead after 1.5 s.
    policy = ReconnectPolicy(rotate_after_seconds=None, idle_timeout_seconds=1.5)
    async with run_simulator(paused(ping_interval_seconds=0.5)) as sim:
        socket = ReconnectingWebSocket(
            f"{sim.ws_url}/ws/btcusdt@trade", session=session, policy=policy, sleep=no_wait
        )
        reader: Reader[str | Connected] = Reader(socket.frames())
        await wait_until(lambda: socket.pings >= 3, "three pings")
        await reader.stop()
    assert (socket.connections, socket.reconnects) == (1, 0)
    assert reader.items == [Connected(1, after_loss=False)]


async def test_a_connection_silent_past_the_idle_timeout_is_replaced(
    session: aiohttp.ClientSession,
) -> None:
    policy = ReconnectPolicy(rotate_after_seconds=None, idle_timeout_seconds=0.2)
    async with run_simulator(paused()) as sim:  # pings only every 20 s
        socket = ReconnectingWebSocket(
            f"{sim.ws_url}/ws/btcusdt@trade", session=session, policy=policy, sleep=no_wait
        )
        reader: Reader[str | Connected] = Reader(socket.frames())
        await wait_until(lambda: socket.reconnects >= 1, "a reconnect")
        await reader.stop()
    assert reader.items[:2] == [Connected(1, after_loss=False), Connected(2, after_loss=True)]


async def test_a_rotation_yields_exactly_the_frames_of_one_unbroken_connection(
    session: aiohttp.ClientSession,
) -> None:
    async with run_simulator(paused()) as sim:
        url = f"{sim.ws_url}/stream?streams={ALL_STREAMS}"
        async with session.ws_connect(url) as reference:
            socket = ReconnectingWebSocket(url, session=session, policy=QUIET, sleep=no_wait)
            reader: Reader[str | Connected] = Reader(socket.frames())
            await wait_until(lambda: sim.hub.connections_made == 2, "both connections")
            await sim.advance(2 * MINUTE)
            socket.rotate()
            await sim.advance(MINUTE)  # published while the new connection opens
            await wait_until(lambda: sim.hub.connections_made == 3, "the rotation's connection")
            await sim.advance(3 * MINUTE)
            expected = [(await reference.receive(timeout=5.0)).data for _ in range(6 * 17)]
            frames = lambda: [item for item in reader.items if isinstance(item, str)]  # noqa: E731
            await wait_until(lambda: len(frames()) >= len(expected), "the rotated stream")
            await reader.stop()
    assert frames() == expected
    assert [item for item in reader.items if isinstance(item, Connected)] == [
        Connected(1, after_loss=False),
        Connected(2, after_loss=False, planned=True),
    ]
    assert (socket.planned_reconnects, socket.reconnects) == (1, 0)


async def test_a_handover_the_old_connection_never_matches_is_reported_as_a_possible_loss(
    hub: Hub, session: aiohttp.ClientSession
) -> None:
    policy = ReconnectPolicy(rotate_after_seconds=None, overlap_timeout_seconds=0.1)
    socket = ReconnectingWebSocket(hub.url, session=session, policy=policy, sleep=no_wait)
    reader: Reader[str | Connected] = Reader(socket.frames())
    await wait_until(lambda: len(hub.connections) == 1, "the first connection")
    await hub.publish("a1")
    await wait_until(lambda: "a1" in reader.items, "a1")
    socket.rotate()
    await wait_until(lambda: len(hub.connections) == 2, "the rotation's connection")
    await hub.publish("b1", to=2)  # never seen on the old connection
    await hub.publish("b2", to=2)
    await wait_until(lambda: "b2" in reader.items, "the switch")
    await reader.stop()
    assert reader.items == [
        Connected(1, after_loss=False),
        "a1",
        Connected(2, after_loss=True, planned=True),
        "b1",
        "b2",
    ]
    assert hub.connections[0].closed


async def test_a_rotation_whose_old_connection_dies_first_is_reported_as_a_possible_loss(
    hub: Hub, session: aiohttp.ClientSession
) -> None:
    socket = ReconnectingWebSocket(hub.url, session=session, policy=QUIET, sleep=no_wait)
    reader: Reader[str | Connected] = Reader(socket.frames())
    await wait_until(lambda: len(hub.connections) == 1, "the first connection")
    socket.rotate()
    await wait_until(lambda: len(hub.connections) == 2, "the rotation's connection")
    await hub.connections[0].close()
    await wait_until(lambda: len(reader.items) == 2, "the switch")
    await hub.publish("b1")
    await wait_until(lambda: "b1" in reader.items, "b1")
    await reader.stop()
    assert reader.items == [
        Connected(1, after_loss=False),
        Connected(2, after_loss=True, planned=True),
        "b1",
    ]
    assert socket.reconnects == 0


async def test_dropping_a_connection_discards_what_it_still_had_queued(
    hub: Hub, session: aiohttp.ClientSession
) -> None:
    socket = ReconnectingWebSocket(hub.url, session=session, policy=QUIET, sleep=no_wait)
    seen: list[str | Connected] = []
    frames = socket.frames()
    seen.append(await anext(frames))
    await wait_until(lambda: len(hub.connections) == 1, "the first connection")
    for text in ("a1", "a2", "a3"):
        await hub.publish(text)
    seen.append(await anext(frames))
    # a2 and a3 have arrived and wait in the inbox: dropped with their connection.
    await wait_until(lambda: socket._inbox.qsize() >= 2, "a2 and a3 queued")
    socket.drop("the consumer could not go on")
    seen.append(await anext(frames))
    await hub.publish("b1", to=2)
    seen.append(await anext(frames))
    await frames.aclose()
    assert seen == [Connected(1, after_loss=False), "a1", Connected(2, after_loss=True), "b1"]
    assert socket.reconnects == 1


async def test_connections_that_fail_to_open_are_retried_after_the_backoff(
    hub: Hub, session: aiohttp.ClientSession
) -> None:
    failures = 2

    async def url() -> str:
        nonlocal failures
        if failures:
            failures -= 1
            raise VenueUnreachable("POST /api/v3/userDataStream", "not sent: refused")
        return hub.url

    sleep = RecordingSleep()
    socket = ReconnectingWebSocket(
        url, session=session, policy=QUIET, sleep=sleep, rng=random.Random(9)
    )
    frames = socket.frames()
    assert await anext(frames) == Connected(1, after_loss=False)
    await frames.aclose()
    replay = ExponentialBackoff(0.5, 30.0, random.Random(9))
    assert sleep.delays == [replay.next_delay(), replay.next_delay()]
    assert (socket.failed_connects, socket.connections, socket.reconnects) == (2, 1, 0)


async def test_a_closed_socket_closes_its_connection(
    hub: Hub, session: aiohttp.ClientSession
) -> None:
    socket = ReconnectingWebSocket(hub.url, session=session, policy=QUIET, sleep=no_wait)
    frames = socket.frames()
    await anext(frames)
    await wait_until(lambda: len(hub.connections) == 1, "the connection")
    await frames.aclose()
    await wait_until(lambda: hub.connections[0].closed, "the server to see the close")
    assert socket.backoff_delays == []


async def test_a_refused_connection_is_logged_without_its_url(
    session: aiohttp.ClientSession,
) -> None:
    """A user data stream's URL holds the listenKey: a failure must not print it."""
    async with run_simulator(paused()) as sim:
        urls = [f"{sim.ws_url}/ws/not-a-live-listen-key-0123", f"{sim.ws_url}/ws/btcusdt@trade"]

        async def url() -> str:
            return urls.pop(0) if len(urls) > 1 else urls[0]

        socket = ReconnectingWebSocket(url, session=session, policy=QUIET, sleep=no_wait)
        frames = socket.frames()
        with capture_logs() as logs:
            assert await anext(frames) == Connected(1, after_loss=False)
        await frames.aclose()
    (failure,) = [entry for entry in logs if entry["event"] == "binance_ws_connect_failed"]
    assert "HTTP 400" in failure["error"]
    assert "listen-key" not in repr(logs)
