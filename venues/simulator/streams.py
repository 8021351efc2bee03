"""WebSocket streams: combined and raw market streams, the user data stream, and their faults.

Paths as Binance serves them (binance-spot-api-docs web-socket-streams.md,
user-data-stream.md): ``/stream?streams=a/b`` sends ``{"stream": name, "data":
payload}``; ``/ws/<name>`` sends the bare payload; ``/ws/<listenKey>`` is the user
data stream. A connection may ``SUBSCRIBE``, ``UNSUBSCRIBE`` and
``LIST_SUBSCRIPTIONS`` with JSON requests. The server pings every
``ping_interval_seconds`` (aiohttp's heartbeat: a client that does not answer the
ping with a pong is disconnected) and closes a connection after
``max_connection_seconds`` (Binance: 24 hours).

Publishing never waits on a client: each connection has a queue its own writer
task drains, so a slow client cannot stall the replay; one that falls
``ws_queue_size`` messages behind is disconnected (close code 1008). Faults act
where a message is queued, in publishing order, so they depend only on the seed,
the connection's number and the messages, not on timing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Final

import msgspec
import structlog
from aiohttp import WSMsgType, web

from venues.simulator.faults import USER_STREAM, FaultPlan, StreamFaults
from venues.simulator.wire import listen_key_expired

__all__ = ["STREAM_KINDS", "StreamHub", "stream_names"]

log = structlog.get_logger(__name__)

STREAM_KINDS: Final = ("trade", "aggTrade", "bookTicker", "kline_1m")
_GOING_AWAY: Final = 1001
_POLICY: Final = 1008
_encode = msgspec.json.Encoder().encode


def stream_names(symbol: str) -> dict[str, str]:
    """The market streams of ``symbol``, by kind."""
    lower = symbol.lower()
    return {kind: f"{lower}@{kind}" for kind in STREAM_KINDS}


def encode(payload: Any) -> str:
    return _encode(payload).decode()


class _Connection:
    def __init__(
        self,
        ws: web.WebSocketResponse,
        request: web.Request,
        streams: Iterable[str],
        combined: bool,
        faults: StreamFaults,
        queue_size: int,
    ) -> None:
        self.ws = ws
        self.request = request
        self.streams: list[str] = list(dict.fromkeys(streams))
        self.combined = combined
        self.faults = faults
        self._queue: asyncio.Queue[str | None] = asyncio.Queue()
        self._queue_size = queue_size
        self.closing = False
        self._abrupt = False
        self._code = _GOING_AWAY

    def offer(self, stream: str, text: str) -> None:
        if self.closing:
            return
        for frame in self.faults.route(stream, text):
            self.put(frame)
        if self.faults.disconnect_due:
            self.close_soon(abrupt=self.faults.abrupt)

    def put(self, frame: str) -> None:
        if self.closing:
            return
        if self._queue.qsize() >= self._queue_size:
            log.warning("simulator_slow_client", path=self.request.path, queued=self._queue_size)
            self.close_soon(code=_POLICY)
            return
        self._queue.put_nowait(frame)

    def close_soon(self, *, abrupt: bool = False, code: int = _GOING_AWAY) -> None:
        """Close after what is queued has gone (abruptly: no close frame)."""
        if self.closing:
            return
        self.closing = True
        self._abrupt = abrupt
        self._code = code
        self._queue.put_nowait(None)

    async def write(self) -> None:
        while (frame := await self._queue.get()) is not None:
            try:
                await self.ws.send_str(frame)
            except (ConnectionError, RuntimeError):
                return
        if self._abrupt:
            transport = self.request.transport
            if transport is not None:
                transport.abort()
        else:
            await self.ws.close(code=self._code)


@dataclass
class _ListenKey:
    expires: float
    connections: list[_Connection] = field(default_factory=list)


class StreamHub:
    """Who listens to what, and the WebSocket handlers that add and remove them."""

    def __init__(
        self,
        symbols: Iterable[str],
        plan: FaultPlan,
        *,
        ping_interval: float,
        max_connection_seconds: float,
        queue_size: int,
        listen_key_ttl: float,
        now_ms: Callable[[], int],
        wall: Callable[[], float] = time.monotonic,
    ) -> None:
        self._valid = {name for symbol in symbols for name in stream_names(symbol).values()}
        self._plan = plan
        self._ping = ping_interval
        self._lifetime = max_connection_seconds
        self._queue_size = queue_size
        self._ttl = listen_key_ttl
        self._now_ms = now_ms
        self._wall = wall
        self._market: dict[str, list[_Connection]] = {}
        self._listen_keys: dict[str, _ListenKey] = {}
        self._all: set[_Connection] = set()
        self.connections_made = 0
        self._user_sequence = 0

    # --- publishing -------------------------------------------------------------------

    def listening(self, stream: str) -> bool:
        return stream in self._market

    def publish_market(self, stream: str, data: dict[str, Any]) -> None:
        connections = self._market.get(stream)
        if not connections:
            return
        raw: str | None = None
        wrapped: str | None = None
        for connection in connections:
            if connection.combined:
                if wrapped is None:
                    wrapped = encode({"stream": stream, "data": data})
                connection.offer(stream, wrapped)
            else:
                if raw is None:
                    raw = encode(data)
                connection.offer(stream, raw)

    def next_user_sequence(self) -> int:
        self._user_sequence += 1
        return self._user_sequence

    def publish_user(self, data: dict[str, Any]) -> None:
        text = encode(data)
        for key in self._listen_keys.values():
            for connection in key.connections:
                connection.offer(USER_STREAM, text)

    # --- listen keys ------------------------------------------------------------------

    def create_listen_key(self, key: str) -> None:
        self._listen_keys.setdefault(key, _ListenKey(expires=0.0)).expires = (
            self._wall() + self._ttl
        )

    def active_listen_key(self) -> str | None:
        return next(iter(self._listen_keys), None)

    def keep_alive(self, key: str) -> bool:
        entry = self._listen_keys.get(key)
        if entry is None:
            return False
        entry.expires = self._wall() + self._ttl
        return True

    def close_listen_key(self, key: str) -> bool:
        entry = self._listen_keys.pop(key, None)
        if entry is None:
            return False
        for connection in entry.connections:
            connection.close_soon()
        return True

    def expire_listen_keys(self) -> None:
        """Send ``listenKeyExpired`` on, and close, the streams of keys not kept alive."""
        now = self._wall()
        for key in sorted(k for k, entry in self._listen_keys.items() if entry.expires <= now):
            entry = self._listen_keys.pop(key)
            text = encode(listen_key_expired(key, self._now_ms()))
            for connection in entry.connections:
                connection.put(text)
                connection.close_soon()

    def disconnect_user_streams(self, *, abrupt: bool = True) -> int:
        """Close every user data stream connection now (``abrupt``: no close frame, as a
        network failure looks); how many. The listenKey stays valid. What the account
        does before the client connects again is lost to it, as on Binance: it must
        catch up over REST."""
        connections = [c for key in self._listen_keys.values() for c in key.connections]
        for connection in connections:
            connection.close_soon(abrupt=abrupt)
        return len(connections)

    def close_all(self) -> None:
        for connection in list(self._all):
            connection.close_soon()

    # --- handlers ---------------------------------------------------------------------

    async def handle_combined(self, request: web.Request) -> web.StreamResponse:
        names = [name for name in request.query.get("streams", "").split("/") if name]
        invalid = [name for name in names if name not in self._valid]
        if invalid:
            return _bad_request(f"Invalid stream name(s): {', '.join(invalid)}")
        return await self._serve(request, names, combined=True, listen_key=None)

    async def handle_raw(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info.get("name", "")
        if not name:
            return await self._serve(request, [], combined=False, listen_key=None)
        if name in self._listen_keys:
            return await self._serve(request, [], combined=False, listen_key=name)
        if name in self._valid:
            return await self._serve(request, [name], combined=False, listen_key=None)
        return _bad_request(f"Invalid stream name or unknown listenKey: {name}")

    async def _serve(
        self, request: web.Request, names: list[str], *, combined: bool, listen_key: str | None
    ) -> web.StreamResponse:
        ws = web.WebSocketResponse(heartbeat=self._ping, autoping=True)
        await ws.prepare(request)
        number = self.connections_made
        self.connections_made += 1
        fault_streams = [USER_STREAM] if listen_key is not None else names or ["market"]
        faults = StreamFaults(self._plan, number, fault_streams)
        connection = _Connection(ws, request, names, combined, faults, self._queue_size)
        self._register(connection, listen_key)
        loop = asyncio.get_running_loop()
        timers = [loop.call_later(self._lifetime, connection.close_soon)]
        if faults.disconnect_after_seconds is not None:
            timers.append(
                loop.call_later(
                    faults.disconnect_after_seconds,
                    lambda: connection.close_soon(abrupt=faults.abrupt),
                )
            )
        writer = asyncio.create_task(connection.write())
        try:
            async for message in ws:
                if message.type == WSMsgType.TEXT and listen_key is None:
                    self._control(connection, message.data)
        finally:
            for timer in timers:
                timer.cancel()
            self._unregister(connection, listen_key)
            connection.close_soon()
            if not writer.done():
                writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer
        return ws

    def _register(self, connection: _Connection, listen_key: str | None) -> None:
        self._all.add(connection)
        if listen_key is not None:
            self._listen_keys[listen_key].connections.append(connection)
        for name in connection.streams:
            self._market.setdefault(name, []).append(connection)

    def _unregister(self, connection: _Connection, listen_key: str | None) -> None:
        self._all.discard(connection)
        if listen_key is not None and listen_key in self._listen_keys:
            entry = self._listen_keys[listen_key]
            entry.connections = [c for c in entry.connections if c is not connection]
        for name in connection.streams:
            self._unsubscribe(connection, name)

    def _unsubscribe(self, connection: _Connection, name: str) -> None:
        listeners = self._market.get(name, [])
        remaining = [c for c in listeners if c is not connection]
        if remaining:
            self._market[name] = remaining
        else:
            self._market.pop(name, None)

    def _control(self, connection: _Connection, text: str) -> None:
        """SUBSCRIBE / UNSUBSCRIBE / LIST_SUBSCRIPTIONS, answered in the stream's order."""
        try:
            request = json.loads(text)
        except json.JSONDecodeError:
            connection.put(encode({"error": {"code": 3, "msg": "Invalid JSON"}, "id": None}))
            return
        ident = request.get("id") if isinstance(request, dict) else None
        method = request.get("method") if isinstance(request, dict) else None
        params = request.get("params", []) if isinstance(request, dict) else None
        if method == "LIST_SUBSCRIPTIONS":
            connection.put(encode({"result": list(connection.streams), "id": ident}))
            return
        if method not in ("SUBSCRIBE", "UNSUBSCRIBE") or not isinstance(params, list):
            error = {"code": 2, "msg": "Invalid request: unknown method or params"}
            connection.put(encode({"error": error, "id": ident}))
            return
        invalid = [name for name in params if name not in self._valid]
        if invalid:
            error = {"code": 2, "msg": f"Invalid request: invalid stream names {invalid}"}
            connection.put(encode({"error": error, "id": ident}))
            return
        for name in params:
            if method == "SUBSCRIBE" and name not in connection.streams:
                connection.streams.append(name)
                self._market.setdefault(name, []).append(connection)
            elif method == "UNSUBSCRIBE" and name in connection.streams:
                connection.streams.remove(name)
                self._unsubscribe(connection, name)
        connection.put(encode({"result": None, "id": ident}))


def _bad_request(message: str) -> web.Response:
    return web.json_response({"code": -1100, "msg": message}, status=400)
