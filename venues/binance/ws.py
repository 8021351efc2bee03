"""The reconnecting WebSocket under Binance's streams: pings answered, dead sockets found,
reconnects paced, and the 24-hour cut crossed without a gap.

``ReconnectingWebSocket.frames()`` yields the text frames of one logical stream, in the
order Binance sent them, across as many connections as it takes, and a ``Connected``
marker whenever a new connection becomes the source. What the marker promises:

- ``after_loss=False``: nothing was missed since the previous connection (the first
  connection, or a planned switch whose handover was matched frame for frame);
- ``after_loss=True``: frames may have been missed; the consumer catches up (REST
  backfill, an order query) and drops what it already has (the frames of the new
  connection may repeat the tail of the old one).

How a connection is kept (Binance web-socket-streams.md, "WebSocket Limits"):

- Binance pings every 20 s and disconnects a client that has not answered with a pong
  within a minute: pings are answered here by the reader, which never waits on the
  consumer for that, except when the inbox is full (a consumer that far behind has to
  reconnect anyway).
- A connection on which no frame at all (data or ping) arrives for
  ``idle_timeout_seconds`` is taken for dead: a half-open TCP connection gives no error,
  only silence.
- A lost connection is replaced after a backoff with full jitter (a uniform draw in
  ``[0, min(max, initial * 2**attempt)]``, from a seeded ``random.Random``: determinism
  is the house rule, and a caller running several clients gives each its own seed). A
  connection that lived ``stable_seconds`` resets the attempts, so a flapping server is
  met with growing waits and a rare drop with an immediate retry.
- Binance cuts every connection at 24 hours. Before that (``rotate_after_seconds``) a
  second connection is opened while the first still delivers. Frames of the new one are
  held back until its first frame is found among those the old one delivered since:
  everything published before that frame came from the old connection, and from it on
  both carry the same frames in the same order (the server writes each connection in
  publication order). The old one is closed, the new one's repeats of what the old one
  already delivered are skipped (checked frame by frame), and its frames follow. If the
  old one dies or lags by ``overlap_timeout_seconds`` first, or the two disagree, the
  switch is reported ``after_loss=True``.

Frames are matched by their text: Binance serialises one event once for every
subscriber, so the same event is the same bytes on both connections. Should two different
events have identical bytes (same payload, same millisecond), the frames after a wrong
match disagree, and the switch is reported ``after_loss=True``: a catch-up, never a loss.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final, Self

import aiohttp
import structlog

from venues.binance.errors import BinanceError, Unauthorized

__all__ = [
    "Connected",
    "ExponentialBackoff",
    "ReconnectPolicy",
    "ReconnectingWebSocket",
    "Sleep",
    "StreamClient",
]

log = structlog.get_logger(__name__)

Sleep = Callable[[float], Awaitable[None]]
UrlSource = str | Callable[[], Awaitable[str]]

_MAX_MESSAGE_BYTES: Final = 16 * 1024 * 1024
_CLOSE_SECONDS: Final = 1.0
_CONNECT_ERRORS: Final = (aiohttp.ClientError, TimeoutError, OSError, BinanceError)


@dataclass(frozen=True, slots=True)
class ReconnectPolicy:
    """How a stream keeps its connection; the defaults fit Binance spot."""

    initial_backoff_seconds: float = 0.5
    max_backoff_seconds: float = 30.0
    stable_seconds: float = 30.0
    """A connection that lived this long resets the backoff."""
    idle_timeout_seconds: float = 60.0
    """No frame (data or ping) this long: the connection is dead. Binance pings every 20 s."""
    connect_timeout_seconds: float = 10.0
    rotate_after_seconds: float | None = 23 * 3600.0
    """A planned reconnect this long after a connection opened (Binance cuts at 24 h)."""
    overlap_timeout_seconds: float = 10.0
    """How long the old connection may lag the new one's first frame during a rotation."""
    inbox_size: int = 10_000
    """Frames read ahead of the consumer; a full inbox stops reading (TCP backpressure)."""

    def __post_init__(self) -> None:
        if not 0 < self.initial_backoff_seconds <= self.max_backoff_seconds:
            raise ValueError("backoff: need 0 < initial_backoff_seconds <= max_backoff_seconds")
        if min(self.idle_timeout_seconds, self.connect_timeout_seconds) <= 0:
            raise ValueError("idle_timeout_seconds and connect_timeout_seconds must be positive")
        if self.rotate_after_seconds is not None and self.rotate_after_seconds <= 0:
            raise ValueError("rotate_after_seconds must be positive (or None: never)")
        if self.overlap_timeout_seconds <= 0 or self.inbox_size < 1:
            raise ValueError("overlap_timeout_seconds and inbox_size must be positive")


class ExponentialBackoff:
    """Waits between attempts: exponential ceiling, full jitter, seeded draws."""

    def __init__(self, initial: float, maximum: float, rng: random.Random) -> None:
        self.initial = initial
        self.maximum = maximum
        self.rng = rng
        self.attempt = 0

    def next_delay(self) -> float:
        ceiling = min(self.maximum, self.initial * 2.0 ** min(self.attempt, 62))
        self.attempt += 1
        return self.rng.uniform(0.0, ceiling)

    def reset(self) -> None:
        self.attempt = 0


@dataclass(frozen=True, slots=True)
class Connected:
    """A new connection is now the source of frames. ``number`` counts connections opened
    (1 is the first); ``after_loss``: frames may have been missed, catch up; ``planned``:
    the switch was a rotation before the 24-hour cut."""

    number: int
    after_loss: bool
    planned: bool = False


@dataclass(frozen=True, slots=True)
class _Lost:
    reason: str


_WAKE: Final = object()


class _Link:
    """One connection and the task reading it into the inbox."""

    def __init__(self, number: int, ws: aiohttp.ClientWebSocketResponse, opened_at: float) -> None:
        self.number = number
        self.ws = ws
        self.opened_at = opened_at
        self.reader: asyncio.Task[None] | None = None


class ReconnectingWebSocket:
    """One logical Binance stream over successive connections; see the module docstring.

    ``url`` is the stream's URL, or an async callable giving it for each connection (the
    user data stream asks for its listenKey there); an ``Unauthorized`` from it is raised
    out of ``frames()``, since a key Binance refuses is refused again. Use ``frames()``
    once; ``aclose()`` (or leaving ``frames()``) closes everything.
    """

    def __init__(
        self,
        url: UrlSource,
        *,
        session: aiohttp.ClientSession,
        policy: ReconnectPolicy | None = None,
        rng: random.Random | None = None,
        sleep: Sleep = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
        name: str = "binance",
    ) -> None:
        self._url = url
        self._session = session
        self.policy = policy or ReconnectPolicy()
        self._backoff = ExponentialBackoff(
            self.policy.initial_backoff_seconds,
            self.policy.max_backoff_seconds,
            rng if rng is not None else random.Random(0),
        )
        self._sleep = sleep
        self._clock = clock
        self.name = name
        self._inbox: asyncio.Queue[tuple[_Link | None, object]] = asyncio.Queue(
            self.policy.inbox_size
        )
        self._active: _Link | None = None
        self._candidate: _Link | None = None
        # A rotation: the new connection's frames held back, the old one's frames since
        # the new one opened, and (once aligned) those the new one has yet to repeat.
        self._held: list[str] = []
        self._held_since: float | None = None
        self._old_frames: list[str] = []
        self._repeats: deque[str] | None = None
        self._rotate_at: float | None = None
        self._rotate_now = False
        self._dropped: str | None = None
        self._pending: deque[str | Connected] = deque()
        self._closers: set[asyncio.Task[None]] = set()
        self._closed = False
        # Counters, read by the streams' statistics.
        self.connections = 0
        self.reconnects = 0
        self.planned_reconnects = 0
        self.failed_connects = 0
        self.frames_received = 0
        self.pings = 0
        self.last_frame_at: float | None = None
        self.backoff_delays: list[float] = []

    # --- control ------------------------------------------------------------------------

    def rotate(self) -> None:
        """Switch to a fresh connection now, the way the 24-hour rotation does."""
        if self._candidate is None:
            self._rotate_now = True
            self._wake()

    def drop(self, reason: str) -> None:
        """Give up the current connection (the consumer cannot go on with it, e.g. its
        backfill failed): frames still queued from it are discarded, and the next
        connection is reported ``after_loss``."""
        self._dropped = reason
        self._wake()

    def last_frame_age(self) -> float | None:
        """Seconds since the last data frame (``None`` before the first)."""
        return None if self.last_frame_at is None else self._clock() - self.last_frame_at

    async def aclose(self) -> None:
        self._closed = True
        for link in (self._active, self._candidate):
            if link is not None:
                self._retire(link)
        self._active = self._candidate = None
        if self._closers:
            await asyncio.gather(*self._closers, return_exceptions=True)

    # --- the frames -----------------------------------------------------------------------

    async def frames(self) -> AsyncIterator[str | Connected]:
        try:
            while not self._closed:
                if self._dropped is not None:
                    self._give_up_active(self._dropped)
                elif self._pending:
                    yield self._pending.popleft()
                elif self._active is None:
                    await self._reconnect()
                elif self._candidate is None and self._rotation_due():
                    await self._start_rotation()
                else:
                    await self._receive()
        finally:
            await self.aclose()

    async def _receive(self) -> None:
        """Take one item from the inbox (or a timeout) and act on it."""
        try:
            async with asyncio.timeout(self._wait_seconds()):
                link, item = await self._inbox.get()
        except TimeoutError:
            if self._candidate is not None and self._overlap_expired():
                self._switch(reason="the old connection lagged")
            return
        if item is _WAKE or link is None:
            return
        if link is self._active:
            if isinstance(item, _Lost):
                self._lose_active(item)
            else:
                assert isinstance(item, str)
                self._on_active_frame(item)
        elif link is self._candidate:
            if isinstance(item, _Lost):
                log.warning("binance_ws_rotation_failed", stream=self.name, reason=item.reason)
                self._candidate = None
                self._reset_rotation()
                self._schedule_rotation_retry()
            else:
                assert isinstance(item, str)
                self._on_candidate_frame(item)
        # Anything else comes from a retired connection: already replaced, discarded.

    def _wait_seconds(self) -> float | None:
        now = self._clock()
        waits: list[float] = []
        if self._candidate is None and self._rotate_at is not None:
            waits.append(self._rotate_at - now)
        if self._candidate is not None and self._held_since is not None:
            waits.append(self._held_since + self.policy.overlap_timeout_seconds - now)
        return max(0.0, min(waits)) if waits else None

    def _count_frame(self) -> None:
        self.frames_received += 1
        self.last_frame_at = self._clock()

    # --- connections ----------------------------------------------------------------------

    async def _open(self) -> _Link:
        url = self._url if isinstance(self._url, str) else await self._url()
        async with asyncio.timeout(self.policy.connect_timeout_seconds):
            ws = await self._session.ws_connect(
                url,
                autoping=False,  # pings are answered (and seen) by the reader
                compress=0,
                max_msg_size=_MAX_MESSAGE_BYTES,
                timeout=aiohttp.ClientWSTimeout(ws_receive=None, ws_close=_CLOSE_SECONDS),
            )
        self.connections += 1
        link = _Link(self.connections, ws, self._clock())
        link.reader = asyncio.create_task(self._read(link), name=f"{self.name}-ws-reader")
        log.info("binance_ws_connected", stream=self.name, connection=link.number)
        return link

    async def _reconnect(self) -> None:
        """Replace a lost connection (or open the first), waiting as the backoff says."""
        first = self.connections == 0
        if not first:
            await self._wait_backoff()
        while True:
            try:
                link = await self._open()
                break
            except Unauthorized:
                raise  # a key Binance refuses is refused again: not a reason to wait
            except _CONNECT_ERRORS as error:
                self.failed_connects += 1
                log.warning("binance_ws_connect_failed", stream=self.name, error=_describe(error))
                await self._wait_backoff()
        if not first:
            self.reconnects += 1
        self._activate(link)
        self._pending.append(Connected(link.number, after_loss=not first))

    async def _wait_backoff(self) -> None:
        delay = self._backoff.next_delay()
        self.backoff_delays.append(delay)
        await self._sleep(delay)

    def _activate(self, link: _Link) -> None:
        self._active = link
        after = self.policy.rotate_after_seconds
        self._rotate_at = None if after is None else link.opened_at + after

    def _lose_active(self, lost: _Lost) -> None:
        link = self._active
        assert link is not None
        lived = self._clock() - link.opened_at
        log.warning(
            "binance_ws_lost",
            stream=self.name,
            connection=link.number,
            reason=lost.reason,
            lived_seconds=round(lived, 3),
        )
        if lived >= self.policy.stable_seconds:
            self._backoff.reset()
        self._retire(link)
        self._active = None
        self._repeats = None
        if self._candidate is not None:
            self._align()  # what the old one delivered before dying may still line up
        if self._candidate is not None:
            self._switch(reason=f"the old connection was lost: {lost.reason}")

    def _give_up_active(self, reason: str) -> None:
        """The consumer dropped the connection: what it still had queued goes with it."""
        self._dropped = None
        self._pending.clear()
        if self._active is not None:
            self._lose_active(_Lost(f"dropped: {reason}"))

    def _retire(self, link: _Link) -> None:
        if link.reader is not None:
            link.reader.cancel()
        closer = asyncio.create_task(_close(link.ws))
        self._closers.add(closer)
        closer.add_done_callback(self._closers.discard)

    # --- rotation -------------------------------------------------------------------------

    def _rotation_due(self) -> bool:
        if self._rotate_now:
            return True
        return self._rotate_at is not None and self._clock() >= self._rotate_at

    async def _start_rotation(self) -> None:
        self._rotate_now = False
        try:
            self._candidate = await self._open()
        except _CONNECT_ERRORS as error:
            self.failed_connects += 1
            log.warning("binance_ws_rotation_failed", stream=self.name, error=_describe(error))
            self._schedule_rotation_retry()
            return
        self._reset_rotation()

    def _schedule_rotation_retry(self) -> None:
        delay = self._backoff.next_delay()
        self.backoff_delays.append(delay)
        self._rotate_at = self._clock() + delay

    def _overlap_expired(self) -> bool:
        since = self._held_since
        return since is not None and self._clock() - since >= self.policy.overlap_timeout_seconds

    def _on_active_frame(self, frame: str) -> None:
        if self._repeats is not None:
            self._catch_up(frame)
            return
        self._count_frame()
        self._pending.append(frame)
        if self._candidate is not None:
            if len(self._old_frames) < self.policy.inbox_size:
                self._old_frames.append(frame)
            self._align()

    def _on_candidate_frame(self, frame: str) -> None:
        if not self._held:
            self._held_since = self._clock()
        self._held.append(frame)
        if len(self._held) >= self.policy.inbox_size:
            self._switch(reason="the old connection lagged too far")
        else:
            self._align()

    def _align(self) -> None:
        """Once the new connection's first frame is among the old one's, the old one has
        delivered everything before it: switch. The old one's frames from that one on were
        yielded already, so the new one's repeats of them are skipped (``_catch_up``)."""
        if not self._held:
            return
        try:
            index = self._old_frames.index(self._held[0])
        except ValueError:
            return
        repeats = deque(self._old_frames[index:])
        held = self._take_over()
        self._repeats = repeats
        for frame in held:
            self._on_active_frame(frame)

    def _catch_up(self, frame: str) -> None:
        """A frame of the new connection while it repeats what the old one delivered."""
        repeats = self._repeats
        assert repeats is not None and self._active is not None
        if frame == repeats[0]:
            repeats.popleft()
            if not repeats:
                self._repeats = None
                self._announce_switch(matched=True, reason="handover matched")
            return
        # The two connections disagree (a frame lost on one of them): a possible gap.
        self._repeats = None
        self._announce_switch(matched=False, reason="the connections disagreed")
        self._on_active_frame(frame)

    def _switch(self, *, reason: str) -> None:
        """Make the new connection the source without a handover: a possible gap."""
        held = self._take_over()
        self._announce_switch(matched=False, reason=reason)
        for frame in held:
            self._on_active_frame(frame)

    def _take_over(self) -> list[str]:
        """Retire the old connection, activate the new one; its held frames."""
        candidate = self._candidate
        assert candidate is not None
        if self._active is not None:
            self._retire(self._active)
        self._candidate = None
        self._activate(candidate)
        self.planned_reconnects += 1
        held = self._held
        self._reset_rotation()
        return held

    def _reset_rotation(self) -> None:
        self._held = []
        self._held_since = None
        self._old_frames = []

    def _announce_switch(self, *, matched: bool, reason: str) -> None:
        link = self._active
        assert link is not None
        self._pending.append(Connected(link.number, after_loss=not matched, planned=True))
        log.info(
            "binance_ws_rotated", stream=self.name, connection=link.number, matched=matched,
            reason=reason,
        )  # fmt: skip

    # --- reading ----------------------------------------------------------------------------

    async def _read(self, link: _Link) -> None:
        """Read one connection into the inbox until it ends; answer its pings."""
        ws = link.ws
        idle = self.policy.idle_timeout_seconds
        reason = "closed"
        try:
            while True:
                message = await ws.receive(timeout=idle)
                kind = message.type
                if kind is aiohttp.WSMsgType.TEXT:
                    await self._inbox.put((link, message.data))
                elif kind is aiohttp.WSMsgType.PING:
                    self.pings += 1
                    await ws.pong(message.data)
                elif kind is aiohttp.WSMsgType.BINARY:
                    await self._inbox.put((link, message.data.decode("utf-8", "replace")))
                elif kind is aiohttp.WSMsgType.PONG:
                    continue
                else:
                    reason = _close_reason(ws, message)
                    break
        except TimeoutError:
            reason = f"no frame for {idle:g} s"
        except (aiohttp.ClientError, ConnectionError) as error:
            reason = _describe(error)
        await self._inbox.put((link, _Lost(reason)))

    def _wake(self) -> None:
        with contextlib.suppress(asyncio.QueueFull):
            self._inbox.put_nowait((None, _WAKE))


async def _close(ws: aiohttp.ClientWebSocketResponse) -> None:
    with contextlib.suppress(Exception):
        await ws.close()


class StreamClient:
    """What the market and user streams share: the session (closed on ``aclose`` when it
    was made here), the one ``ReconnectingWebSocket`` they read, its rotation and its
    counters. Use ``async with``."""

    def __init__(
        self,
        *,
        session: aiohttp.ClientSession | None,
        policy: ReconnectPolicy | None,
        rng: random.Random | None,
        sleep: Sleep,
    ) -> None:
        self._session = session
        self._owns_session = session is None
        self._policy = policy
        self._rng = rng
        self._sleep = sleep
        self._socket: ReconnectingWebSocket | None = None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._close_socket()
        await self._close_session()

    async def _close_socket(self) -> None:
        if self._socket is not None:
            await self._socket.aclose()

    async def _close_session(self) -> None:
        if self._owns_session and self._session is not None:
            await self._session.close()
            self._session = None

    def rotate(self) -> None:
        """Switch to a fresh connection now, as the planned 24-hour rotation does."""
        if self._socket is not None:
            self._socket.rotate()

    def _socket_statistics(self) -> dict[str, Any]:
        """The connection counters of ``statistics()`` (zeros before the first read)."""
        socket = self._socket
        return {
            "connections": socket.connections if socket else 0,
            "reconnects": socket.reconnects if socket else 0,
            "planned_reconnects": socket.planned_reconnects if socket else 0,
            "failed_connects": socket.failed_connects if socket else 0,
            "messages": socket.frames_received if socket else 0,
            "last_message_age": socket.last_frame_age() if socket else None,
        }

    def _open_socket(self, url: UrlSource, *, name: str, what: str) -> ReconnectingWebSocket:
        """The socket to read, made once (a second read raises ``RuntimeError``)."""
        if self._socket is not None:
            raise RuntimeError(f"a {what} is read once")
        if self._session is None:
            self._session = aiohttp.ClientSession()
        self._socket = ReconnectingWebSocket(
            url, session=self._session, policy=self._policy, rng=self._rng,
            sleep=self._sleep, name=name,
        )  # fmt: skip
        return self._socket


def _close_reason(ws: aiohttp.ClientWebSocketResponse, message: aiohttp.WSMessage) -> str:
    if message.type is aiohttp.WSMsgType.ERROR:
        return f"error: {message.data!r}"
    code = ws.close_code if ws.close_code is not None else message.data
    return f"{message.type.name.lower()} (code {code})"


def _describe(error: BaseException) -> str:
    """The error without its URL: a user data stream's URL holds the listenKey."""
    if isinstance(error, aiohttp.ClientResponseError):
        return f"{type(error).__name__}: HTTP {error.status} {error.message}"
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
