"""The Binance user data stream: our orders' execution reports and our balances, with the
listenKey kept alive, across reconnects.

``BinanceUserStream`` takes a listenKey from ``POST /api/v3/userDataStream``, connects to
``/ws/<listenKey>`` (user-data-stream.md) over the reconnecting socket of
``venues.binance.ws`` and yields:

- ``ExecutionReport``s (the catalog's) from ``executionReport`` events, as the order manager
  reads them: NEW is ACCEPTED; a TRADE is PARTIALLY_FILLED or FILLED with the trade
  (``l``, ``L``, ``t``, fee ``n``/``N``, maker ``m``) and the cumulative quantity ``z``;
  CANCELED, REJECTED (reason ``r``), EXPIRED (and EXPIRED_IN_MATCH) end the order. A
  cancel's report names the order by its original client id (``C``; ``c`` is then the
  cancel request's own id). Times are the transaction time ``T``. Money is Decimal from
  Binance's strings, never through float;
- ``AccountPosition`` from ``outboundAccountPosition`` (the changed assets' free and
  locked) and ``BalanceDelta`` from ``balanceUpdate`` (deposits, withdrawals, transfers);
- ``UserStreamConnected`` whenever a connection becomes the source.

The catch-up contract: a ``UserStreamConnected`` with ``reconnect=True`` says events may
have been missed between the previous connection and this one. It is yielded after the
new connection is open, before any of its events, so a query made on receiving it (open
orders, ``myTrades`` from the last trade id seen, the account) sees everything the stream
missed, and whatever happens after that arrives on the stream. The reports a query gives
(``rest.order_reports``) and the stream's may overlap; the order manager ignores a trade
id it has counted and a status the order already has. ``reconnect=False`` comes with the
first connection (reconcile at startup as usual) and never after a planned switch that
lost nothing.

The listenKey lives 60 minutes unless kept alive: it is kept alive every
``keepalive_seconds`` (30 minutes, as Binance recommends), retried after a minute when a
keepalive fails, and replaced when Binance says it no longer exists (-1125) or the
stream says ``listenKeyExpired``: the connection is given up and the next one asks for a
key again (Binance answers with the live key, or a new one when it expired).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

import aiohttp
import msgspec
import structlog

from actors.messages import ExecutionReport, Liquidity, OrderStatus, Side
from venues.binance.errors import BinanceError, UnexpectedResponse
from venues.binance.rest import VENUE, BinanceRest, order_status
from venues.binance.ws import Connected, ReconnectPolicy, Sleep, StreamClient

__all__ = [
    "DEFAULT_KEEPALIVE_SECONDS",
    "AccountPosition",
    "AccountPositionPayload",
    "AssetBalance",
    "BalanceDelta",
    "BalanceUpdatePayload",
    "BinanceUserStream",
    "ExecutionReportPayload",
    "ListenKeyExpiredPayload",
    "UserEvent",
    "UserStreamConnected",
    "UserStreamStatistics",
    "account_position",
    "balance_delta",
    "decode_user_event",
    "reports_from_event",
]

log = structlog.get_logger(__name__)

DEFAULT_KEEPALIVE_SECONDS: Final = 30 * 60.0
_KEEPALIVE_RETRY_SECONDS: Final = 60.0
_LISTEN_KEY_UNKNOWN: Final = -1125
_MS: Final = 1_000_000
_ZERO: Final = Decimal(0)
_ENDINGS: Final = frozenset({OrderStatus.CANCELED, OrderStatus.REJECTED, OrderStatus.EXPIRED})
_FILLING: Final = frozenset({OrderStatus.PARTIALLY_FILLED, OrderStatus.FILLED})


# --- payloads (field names as Binance documents them) ---------------------------------


class ExecutionReportPayload(msgspec.Struct, frozen=True, kw_only=True):
    """``executionReport``: one change of one of our orders."""

    event_time: int = msgspec.field(name="E")
    symbol: str = msgspec.field(name="s")
    client_order_id: str = msgspec.field(name="c")
    side: str = msgspec.field(name="S")
    order_type: str = msgspec.field(name="o")
    time_in_force: str = msgspec.field(name="f")
    quantity: Decimal = msgspec.field(name="q")
    price: Decimal = msgspec.field(name="p")
    original_client_order_id: str | None = msgspec.field(default=None, name="C")
    execution_type: str = msgspec.field(name="x")
    order_status: str = msgspec.field(name="X")
    reject_reason: str = msgspec.field(default="NONE", name="r")
    order_id: int = msgspec.field(name="i")
    last_quantity: Decimal = msgspec.field(name="l")
    cumulative_quantity: Decimal = msgspec.field(name="z")
    last_price: Decimal = msgspec.field(name="L")
    commission: Decimal = msgspec.field(default=_ZERO, name="n")
    commission_asset: str | None = msgspec.field(default=None, name="N")
    transaction_time: int = msgspec.field(name="T")
    trade_id: int = msgspec.field(default=-1, name="t")
    is_maker: bool = msgspec.field(default=False, name="m")


class _BalanceRow(msgspec.Struct, frozen=True):
    asset: str = msgspec.field(name="a")
    free: Decimal = msgspec.field(name="f")
    locked: Decimal = msgspec.field(name="l")


class AccountPositionPayload(msgspec.Struct, frozen=True, kw_only=True):
    """``outboundAccountPosition``: the assets that changed, as they now are."""

    event_time: int = msgspec.field(name="E")
    update_time: int = msgspec.field(name="u")
    balances: tuple[_BalanceRow, ...] = msgspec.field(name="B")


class BalanceUpdatePayload(msgspec.Struct, frozen=True, kw_only=True):
    """``balanceUpdate``: a deposit, withdrawal or transfer of ``asset``."""

    event_time: int = msgspec.field(name="E")
    asset: str = msgspec.field(name="a")
    delta: Decimal = msgspec.field(name="d")
    clear_time: int = msgspec.field(name="T")


class ListenKeyExpiredPayload(msgspec.Struct, frozen=True, kw_only=True):
    event_time: int = msgspec.field(name="E")
    listen_key: str = msgspec.field(default="", name="listenKey")


class _Head(msgspec.Struct, frozen=True):
    """The event type, and the event itself when it comes wrapped (the WebSocket API's
    ``{"subscriptionId": 0, "event": {...}}``)."""

    e: str = ""
    event: msgspec.Raw = msgspec.Raw(b"")


UserPayload = (
    ExecutionReportPayload | AccountPositionPayload | BalanceUpdatePayload | ListenKeyExpiredPayload
)
_HEAD: Final = msgspec.json.Decoder(_Head)
_DECODERS: Final[dict[str, msgspec.json.Decoder[UserPayload]]] = {
    "executionReport": msgspec.json.Decoder(ExecutionReportPayload),
    "outboundAccountPosition": msgspec.json.Decoder(AccountPositionPayload),
    "balanceUpdate": msgspec.json.Decoder(BalanceUpdatePayload),
    "listenKeyExpired": msgspec.json.Decoder(ListenKeyExpiredPayload),
}


def decode_user_event(frame: bytes | str) -> UserPayload | None:
    """The event of a user data stream frame (bare or wrapped); ``None`` for an event
    type this adapter does not use; ``msgspec.DecodeError`` for a malformed one."""
    head = _HEAD.decode(frame)
    if head.event:
        frame = head.event
        head = _HEAD.decode(frame)
    decoder = _DECODERS.get(head.e)
    return None if decoder is None else decoder.decode(frame)


# --- into our messages ------------------------------------------------------------------


class AssetBalance(msgspec.Struct, frozen=True, kw_only=True):
    free: Decimal
    locked: Decimal

    @property
    def total(self) -> Decimal:
        return self.free + self.locked


class AccountPosition(msgspec.Struct, frozen=True, kw_only=True):
    """The balances of the assets that changed (by asset name, sorted), at ``ts`` (ns)."""

    ts: int
    venue: str
    balances: dict[str, AssetBalance]


class BalanceDelta(msgspec.Struct, frozen=True, kw_only=True):
    """``asset`` changed by ``delta`` outside trading (deposit, withdrawal, transfer)."""

    ts: int
    venue: str
    asset: str
    delta: Decimal


class UserStreamConnected(msgspec.Struct, frozen=True, kw_only=True):
    """A connection became the source; ``reconnect``: events may have been missed, query
    open orders and trades now (see the module docstring)."""

    ts: int
    venue: str
    reconnect: bool
    listen_key_changed: bool
    connections: int


UserEvent = ExecutionReport | AccountPosition | BalanceDelta | UserStreamConnected


def _side(value: str) -> Side:
    try:
        return Side(value)
    except ValueError:
        raise UnexpectedResponse("executionReport", f"unknown order side {value!r}") from None


def reports_from_event(event: ExecutionReportPayload, venue: str = VENUE) -> list[ExecutionReport]:
    """The catalog reports of one ``executionReport``: none for an event without anything
    the order manager acts on (a filling status without a trade); two for a trade that
    also ends the order (its fill, then the ending)."""
    status = order_status(event.order_status)
    kind = event.execution_type
    if kind == "NEW":
        return [_report(event, venue, OrderStatus.ACCEPTED)]
    if kind == "TRADE":
        filled = OrderStatus.FILLED if event.order_status == "FILLED" else None
        reports = [
            _report(
                event, venue, filled or OrderStatus.PARTIALLY_FILLED,
                last_price=event.last_price, last_quantity=event.last_quantity,
                cumulative_quantity=event.cumulative_quantity, fee=event.commission,
                fee_asset=event.commission_asset or "", trade_id=str(event.trade_id),
                liquidity=Liquidity.MAKER if event.is_maker else Liquidity.TAKER,
            )
        ]  # fmt: skip
        if status in _ENDINGS:
            reports.append(_ending(event, venue, status))
        return reports
    if status in _FILLING:
        return []
    return [_ending(event, venue, status)]


def _report(
    event: ExecutionReportPayload, venue: str, status: OrderStatus, **fields: Any
) -> ExecutionReport:
    return ExecutionReport(
        ts=event.transaction_time * _MS,
        venue=venue,
        client_order_id=event.original_client_order_id or event.client_order_id,
        venue_order_id=str(event.order_id),
        symbol=event.symbol,
        side=_side(event.side),
        status=status,
        **fields,
    )


def _ending(event: ExecutionReportPayload, venue: str, status: OrderStatus) -> ExecutionReport:
    """How the order ended: Binance's reject reason, else type, time in force and status
    (the reason ``rest.execution_reports`` gives)."""
    if status is OrderStatus.REJECTED and event.reject_reason not in ("", "NONE"):
        reason = event.reject_reason
    else:
        reason = f"{event.order_type} {event.time_in_force} {event.order_status}".strip()
    return _report(
        event, venue, status, cumulative_quantity=event.cumulative_quantity, reason=reason
    )


def account_position(event: AccountPositionPayload, venue: str = VENUE) -> AccountPosition:
    rows = {row.asset: AssetBalance(free=row.free, locked=row.locked) for row in event.balances}
    return AccountPosition(
        ts=event.event_time * _MS,
        venue=venue,
        balances={asset: rows[asset] for asset in sorted(rows)},
    )


def balance_delta(event: BalanceUpdatePayload, venue: str = VENUE) -> BalanceDelta:
    return BalanceDelta(
        ts=event.clear_time * _MS, venue=venue, asset=event.asset, delta=event.delta
    )


# --- the stream -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class UserStreamStatistics:
    """``listen_keys``: distinct keys used; ``keepalives``: successful keepalives;
    ``ignored``: frames not used (unknown event types, malformed frames)."""

    connections: int
    reconnects: int
    planned_reconnects: int
    failed_connects: int
    messages: int
    reports: int
    keepalives: int
    keepalive_failures: int
    listen_keys: int
    listen_key_expired: int
    ignored: int
    last_message_age: float | None


class BinanceUserStream(StreamClient):
    """Our account's events from Binance's user data stream; see the module docstring.

    ``rng`` and ``sleep`` pace reconnects; ``keepalive_sleep`` waits between keepalives
    (both injectable, so tests neither wait nor race). ``close_listen_key``: close the key
    (``DELETE``) on ``aclose``. Use ``async with stream: async for event in stream: ...``.
    """

    def __init__(
        self,
        ws_url: str,
        rest: BinanceRest,
        *,
        venue: str = VENUE,
        session: aiohttp.ClientSession | None = None,
        policy: ReconnectPolicy | None = None,
        rng: random.Random | None = None,
        sleep: Sleep = asyncio.sleep,
        keepalive_seconds: float = DEFAULT_KEEPALIVE_SECONDS,
        keepalive_sleep: Sleep = asyncio.sleep,
        now_ns: Callable[[], int] | None = None,
        close_listen_key: bool = True,
    ) -> None:
        if keepalive_seconds <= 0:
            raise ValueError(f"keepalive_seconds must be positive, got {keepalive_seconds}")
        super().__init__(session=session, policy=policy, rng=rng, sleep=sleep)
        self._ws_url = ws_url.rstrip("/")
        self._rest = rest
        self.venue = venue
        self._keepalive_seconds = keepalive_seconds
        self._keepalive_sleep = keepalive_sleep
        self._now_ns = now_ns or (lambda: rest.server_now_ms() * _MS)
        self._close_key = close_listen_key
        self._keepalive: asyncio.Task[None] | None = None
        self._listen_key: str | None = None
        self._announced_key: str | None = None
        self._keys: list[str] = []
        self._reports = 0
        self._keepalives = 0
        self._keepalive_failures = 0
        self._expired = 0
        self._ignored = 0

    @property
    def listen_key(self) -> str | None:
        """The key of the latest connection (a bearer secret for reading our events: it
        is kept out of logs)."""
        return self._listen_key

    async def aclose(self) -> None:
        if self._keepalive is not None:
            self._keepalive.cancel()
            await asyncio.gather(self._keepalive, return_exceptions=True)
            self._keepalive = None
        await self._close_socket()
        key, self._listen_key = self._listen_key, None
        if self._close_key and key is not None:
            try:
                await self._rest.close_user_stream(key)
            except BinanceError as error:
                log.warning("binance_listen_key_close_failed", error=str(error))
        await self._close_session()

    def statistics(self) -> UserStreamStatistics:
        return UserStreamStatistics(
            **self._socket_statistics(),
            reports=self._reports,
            keepalives=self._keepalives,
            keepalive_failures=self._keepalive_failures,
            listen_keys=len(self._keys),
            listen_key_expired=self._expired,
            ignored=self._ignored,
        )

    def __aiter__(self) -> AsyncIterator[UserEvent]:
        return self.events()

    async def events(self) -> AsyncIterator[UserEvent]:
        """Our account's events, in order, until the stream is closed."""
        socket = self._open_socket(self._url, name="binance-user", what="user stream")
        self._keepalive = asyncio.create_task(self._keep_alive(), name="binance-listen-key")
        self._keepalive.add_done_callback(_report_crash)
        async for item in socket.frames():
            if isinstance(item, Connected):
                if item.planned and not item.after_loss:
                    continue
                yield self._connected(item)
                continue
            for event in self._on_frame(item):
                yield event

    async def _url(self) -> str:
        key = await self._rest.start_user_stream()
        if key not in self._keys:
            self._keys.append(key)
        self._listen_key = key
        return f"{self._ws_url}/ws/{key}"

    def _connected(self, item: Connected) -> UserStreamConnected:
        key = self._listen_key
        changed = self._announced_key is not None and key != self._announced_key
        self._announced_key = key
        if item.after_loss:
            log.warning("binance_user_stream_reconnected", connection=item.number, new_key=changed)
        return UserStreamConnected(
            ts=self._now_ns(),
            venue=self.venue,
            reconnect=item.after_loss,
            listen_key_changed=changed,
            connections=item.number,
        )

    def _on_frame(self, frame: str) -> list[UserEvent]:
        try:
            payload = decode_user_event(frame)
            if payload is None:
                self._ignored += 1
                return []
            if isinstance(payload, ExecutionReportPayload):
                reports = reports_from_event(payload, self.venue)
                self._reports += len(reports)
                return list(reports)
        except (msgspec.DecodeError, UnexpectedResponse) as error:
            # Not logged whole: a frame may be a listenKeyExpired naming the key.
            self._ignored += 1
            log.error("binance_user_event_unreadable", error=str(error))
            return []
        if isinstance(payload, AccountPositionPayload):
            return [account_position(payload, self.venue)]
        if isinstance(payload, BalanceUpdatePayload):
            return [balance_delta(payload, self.venue)]
        self._expired += 1
        log.warning("binance_listen_key_expired")
        if self._socket is not None:
            self._socket.drop("listenKeyExpired")
        return []

    async def _keep_alive(self) -> None:
        wait = self._keepalive_seconds
        while True:
            await self._keepalive_sleep(wait)
            key = self._listen_key
            if key is None:
                continue
            try:
                await self._rest.keepalive_user_stream(key)
            except BinanceError as error:
                self._keepalive_failures += 1
                if error.code == _LISTEN_KEY_UNKNOWN:
                    log.warning("binance_listen_key_gone", error=str(error))
                    if self._socket is not None:
                        self._socket.drop("listenKey no longer exists")
                    wait = self._keepalive_seconds
                else:
                    log.warning("binance_listen_key_keepalive_failed", error=str(error))
                    wait = min(self._keepalive_seconds, _KEEPALIVE_RETRY_SECONDS)
                continue
            self._keepalives += 1
            wait = self._keepalive_seconds


def _report_crash(task: asyncio.Task[None]) -> None:
    """A keepalive that died would let the key expire in an hour: say so now."""
    if not task.cancelled() and task.exception() is not None:
        log.error("binance_keepalive_task_failed", error=repr(task.exception()))
