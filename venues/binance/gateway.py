"""The Binance venue gateway: the bus's orders sent to Binance spot, its answers published back.

``BinanceGateway`` is the actor named "venue" of a live session. Its handlers only
note what they were asked (``SubmitOrder``, ``CancelOrder``, ``QueryOrder``,
``Reconcile``) and queue it; ``run``, a task the session starts beside the scheduler,
does the requests with ``BinanceRest`` and publishes what Binance said:
``ExecutionReport``s, ``OrderStatusReport``s, ``VenueSnapshot``s, and ``Alert`` plus
``TradingHalted`` when Binance bans the IP (HTTP 418). The work of one client order
id runs in order (a cancel waits for its submit's outcome); different orders, and
reconciliation, run side by side.

Orders are rounded and checked with the symbol's exchangeInfo filters before they
leave (``prepare_order``): a refusal is a REJECTED report naming the filter, and no
request. A limit price is rounded in the owner's favour; a quantity off the lot grid
is refused rather than rounded, because the order manager counts fills against the
quantity it asked for and would never see the smaller order filled. A market order's
notional is checked at the last trade price or bar close the gateway saw on the bus
(it subscribes to ``TradeTick`` and ``Bar`` for that), or, before any, at the last
trade Binance lists.

Unknown outcomes (DESIGN.md §4; Binance errors.md: after a 5xx "the execution status
is UNKNOWN and could have been a success"): a
submit that timed out, lost its connection or got a 5xx is never taken as rejected.
The order stays SUBMITTED while the gateway asks Binance for it by client id, with
backoff: found, its reports are published (ACCEPTED, each trade from myTrades, how it
ended); not found, it is REJECTED ("not placed") only by a query sent once server
time has passed the submit's time plus ``recvWindow`` plus a margin, when no copy of
the request can still be executed (rest-api.md, "Timing security"). The submit is
not sent again. A cancel whose outcome is unknown leaves the order PENDING_CANCEL
until a query says how it stands; one still open gets the cancel again.

``QueryOrder`` (after a recovery) is answered with the order's reports, those this
gateway published before first and in the same form, then an ``OrderStatusReport``
(``found=False`` when Binance has no such order, decided as above with the window
counted from the query). Trade ids are Binance's, so a repeated answer repeats them
and the order manager ignores what it counted already. A ``QueryOrder`` names no
symbol: a client id this gateway has not seen is looked for under the symbol its
readable form names, then under every other symbol it trades.

Reconciliation: ``Reconcile`` is answered with a ``VenueSnapshot`` of the account's
balances, every open order, and our trades of the gateway's symbols after the
requested cursor. Binance numbers trades per symbol, so the gateway's trade sequence
(``VenueSnapshot``) numbers a trade by its execution time in ms: trade "n" is every
trade executed in millisecond n, the listing is of the trades after ``since_trade``
in time order, and ``trade_cursor`` is the newest listed time less
``trade_settle_ms`` (never below ``since_trade``): Binance's trade list lags its
matching engine, so the newest trades are listed once more next time rather than
skipped if one showed late. A repeat confirms what was confirmed; it is never a
drift. ``start_cursor`` (server time when the gateway loaded, less 1 ms) is where a
session's reconciler begins, so trades from before the session are not reported as
missing.

The gateway acts only while ``run`` runs: a journal's replay delivers old
``SubmitOrder``s to it, and nothing may be sent again. What it is told then is only
remembered (the symbol of each client id, for a later query). Its own state is the
venue's, asked for again after a restart, so it keeps no snapshot.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import ClassVar, Final, TypeVar

import anyio
import anyio.abc
import structlog
from anyio.streams.memory import MemoryObjectSendStream

from actors.actor import Actor
from actors.messages import (
    Alert,
    Bar,
    CancelOrder,
    ExecutionReport,
    Instrument,
    Message,
    OrderStatus,
    OrderTicket,
    OrderType,
    QueryOrder,
    Reconcile,
    Side,
    SubmitOrder,
    TradeTick,
    TradingHalted,
    VenueSnapshot,
)
from venues.binance.errors import (
    BadSignature,
    BinanceError,
    CancelRejected,
    FilterFailure,
    IpBanned,
    NoSuchOrder,
    OutcomeUnknown,
    RateLimited,
    Unauthorized,
    UnexpectedResponse,
    VenueUnreachable,
)
from venues.binance.filters import SymbolRules, instrument, prepare_order, symbol_rules
from venues.binance.rest import (
    VENUE,
    AccountTrade,
    BinanceRest,
    OrderInfo,
    balances,
    execution_reports,
    not_found_report,
    order_reports,
    status_report,
)

__all__ = ["BinanceGateway", "Publish", "load_instruments"]

log = structlog.get_logger(__name__)

Publish = Callable[[Message], Awaitable[None]]
Sleep = Callable[[float], Awaitable[None]]

_T = TypeVar("_T")
_ZERO: Final = Decimal(0)
_REJECTED: Final = OrderStatus.REJECTED
_TERMINAL: Final = frozenset(
    {OrderStatus.FILLED, OrderStatus.CANCELED, OrderStatus.REJECTED, OrderStatus.EXPIRED}
)
_OPEN_ON_BINANCE: Final = frozenset({"NEW", "PARTIALLY_FILLED", "PENDING_NEW"})
# Failures after which asking again is right: nothing was decided, or we cannot tell.
_TRANSIENT: Final = (OutcomeUnknown, VenueUnreachable, RateLimited)
_MAX_TRADES: Final = 1000  # myTrades' largest page
_TRADE_LIST_ATTEMPTS: Final = 5
_CANCEL_ATTEMPTS: Final = 4
_RECONCILE_LANE: Final = ""  # no client order id is empty


async def load_instruments(
    rest: BinanceRest, symbols: Sequence[str], venue: str = VENUE
) -> dict[str, Instrument]:
    """The ``Instrument`` of each of ``symbols`` from Binance's exchangeInfo, on ``venue``
    (a paper session passes "paper": the venue's filters, the paper broker's books)."""
    rules, server_ms = await _load_rules(rest, symbols)
    return {symbol: instrument(rule, venue, server_ms) for symbol, rule in rules.items()}


async def _load_rules(
    rest: BinanceRest, symbols: Sequence[str]
) -> tuple[dict[str, SymbolRules], int]:
    if not symbols:
        raise ValueError("a Binance gateway needs at least one symbol")
    info = await rest.exchange_info(symbols)
    listed = {entry.symbol: entry for entry in info.symbols}
    missing = [symbol for symbol in symbols if symbol not in listed]
    if missing:
        raise ValueError(f"exchangeInfo of {rest.base_url} lists no {', '.join(missing)}")
    return {symbol: symbol_rules(listed[symbol]) for symbol in symbols}, info.server_time


# --- work the handlers queue ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Job:
    """One message for the worker. Jobs of one lane (a client order id; "" for
    reconciliation) are done in order; ``reference_price`` is the market price a
    ``SubmitOrder`` found on the bus."""

    message: SubmitOrder | CancelOrder | QueryOrder | Reconcile
    lane: str
    reference_price: float | None = None


@dataclass(slots=True)
class _Order:
    """What the gateway knows of one client order id: what it is, whether its submit left,
    and every report published for it, in order (a query repeats them as they were)."""

    symbol: str
    side: Side | None
    taken: bool = False  # the worker took its SubmitOrder (sent it, or refused it here)
    sent: bool = False  # a request to place it left the process
    sent_ms: int | None = None  # server time (our estimate) once that request had ended
    reports: list[ExecutionReport] = field(default_factory=list)
    trade_ids: set[str] = field(default_factory=set)
    statuses: set[OrderStatus] = field(default_factory=set)

    @property
    def finished(self) -> bool:
        return bool(self.reports) and self.reports[-1].status in _TERMINAL


class BinanceGateway(Actor):
    """Orders on Binance spot for the session's bus; see the module docstring.

    ``symbols`` are the symbols traded (their filters load at start). ``margin_ms`` is
    added to the receive window before a missing order counts as never placed (clock
    sync error, Binance's 1 s tolerance for timestamps ahead of it). ``backoff_seconds``
    is the first and the longest wait between queries of an unresolved order.
    """

    name: ClassVar[str] = "venue"

    def __init__(
        self,
        rest: BinanceRest,
        symbols: Sequence[str],
        *,
        venue: str = VENUE,
        margin_ms: int = 2000,
        trade_settle_ms: int = 1000,
        backoff_seconds: tuple[float, float] = (0.25, 5.0),
        sleep: Sleep = anyio.sleep,
    ) -> None:
        super().__init__()
        first, longest = backoff_seconds
        if not 0 < first <= longest:
            raise ValueError(f"backoff_seconds must be 0 < first <= longest, got {backoff_seconds}")
        if margin_ms < 0 or trade_settle_ms < 0:
            raise ValueError("margin_ms and trade_settle_ms must be >= 0")
        self.venue = venue
        self.symbols = tuple(dict.fromkeys(symbols))
        self._rest = rest
        # The window every signed request of this client carries (BinanceRest does not
        # publish it; the unknown-outcome rule is only safe with the client's own).
        self._window_ms: int = rest._recv_window
        self._margin_ms = margin_ms
        self._settle_ms = trade_settle_ms
        self._backoff = (first, longest)
        self._sleep = sleep
        self._rules: dict[str, SymbolRules] = {}
        self._instruments: dict[str, Instrument] = {}
        self.balances_at_start: dict[str, Decimal] = {}
        self.start_cursor = 0
        self._prices: dict[str, float] = {}
        self._orders: dict[str, _Order] = {}
        self._unresolved: dict[str, str] = {}
        self._jobs: MemoryObjectSendStream[_Job] | None = None
        self._lanes: dict[str, deque[_Job]] = {}
        self._publish_out: Publish | None = None
        self._ban_announced_until = 0.0

    # --- what the session reads -------------------------------------------------------

    @property
    def instruments(self) -> dict[str, Instrument]:
        """The traded symbols as exchangeInfo describes them (after ``load``)."""
        return dict(self._instruments)

    @property
    def running(self) -> bool:
        return self._jobs is not None

    @property
    def unresolved(self) -> dict[str, str]:
        """Client ids whose outcome is being asked for, and what is unknown ("submit",
        "cancel", "query")."""
        return dict(self._unresolved)

    # --- handlers: note and queue, nothing else ---------------------------------------

    def on_trade_tick(self, msg: TradeTick) -> None:
        self._prices[msg.symbol] = msg.price

    def on_bar(self, msg: Bar) -> None:
        self._prices[msg.symbol] = msg.close

    def on_submit_order(self, msg: SubmitOrder) -> None:
        ticket = msg.ticket
        order = self._orders.get(msg.client_order_id)
        if order is None:
            self._orders[msg.client_order_id] = _Order(ticket.symbol, ticket.side)
        elif order.side is None:
            order.side = ticket.side
        self._queue(_Job(msg, msg.client_order_id, self._prices.get(ticket.symbol)))

    def on_cancel_order(self, msg: CancelOrder) -> None:
        if msg.client_order_id not in self._orders:
            self._orders[msg.client_order_id] = _Order(msg.symbol, None)
        self._queue(_Job(msg, msg.client_order_id))

    def on_query_order(self, msg: QueryOrder) -> None:
        if msg.venue == self.venue:
            self._queue(_Job(msg, msg.client_order_id))

    def on_reconcile(self, msg: Reconcile) -> None:
        self._queue(_Job(msg, _RECONCILE_LANE))

    def _queue(self, job: _Job) -> None:
        jobs = self._jobs
        if jobs is None:
            # A journal's replay, or a session that never started the worker: nothing
            # may be sent for it.
            log.info("venue_gateway_not_running", message=type(job.message).__name__)
            return
        try:
            jobs.send_nowait(job)
        except (anyio.ClosedResourceError, anyio.BrokenResourceError):
            log.warning("venue_gateway_stopped", message=type(job.message).__name__)

    # --- the worker ---------------------------------------------------------------------

    async def load(self) -> None:
        """Load what a session is built from: the symbols' filters (``instruments``), the
        account's balances (``balances_at_start``) and the trade cursor to reconcile from
        (``start_cursor``). ``run`` loads them itself when this was not called first."""
        self._rules, server_ms = await _load_rules(self._rest, self.symbols)
        self._instruments = {
            symbol: instrument(rule, self.venue, server_ms) for symbol, rule in self._rules.items()
        }
        # Time before balances, and a millisecond before it: a trade between the two, or
        # in that millisecond, is then listed after the cursor (and reported as missing)
        # rather than hidden in the starting balances.
        self.start_cursor = await self._rest.server_time() - 1
        self.balances_at_start = balances(await self._rest.account())

    async def run(
        self,
        publish: Publish,
        *,
        task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
    ) -> None:
        """``load`` if not loaded yet, signal ``task_status`` (``await
        task_group.start(gateway.run, scheduler.publish)``), then do the queued work until
        cancelled, publishing with ``publish``."""
        if self._jobs is not None:
            raise RuntimeError("the venue gateway is running already")
        if not self._rules:
            await self.load()
        self._publish_out = publish
        send, receive = anyio.create_memory_object_stream[_Job](math.inf)
        try:
            async with anyio.create_task_group() as lanes, receive:
                self._jobs = send
                task_status.started()
                async for job in receive:
                    self._dispatch(lanes, job)
        finally:
            self._jobs = None
            send.close()

    def _dispatch(self, lanes: anyio.abc.TaskGroup, job: _Job) -> None:
        queued = self._lanes.get(job.lane)
        if queued is not None:
            queued.append(job)
            return
        self._lanes[job.lane] = deque((job,))
        lanes.start_soon(self._drain, job.lane)

    async def _drain(self, lane: str) -> None:
        """Do one lane's jobs in order; a job that fails is reported, not fatal."""
        queued = self._lanes[lane]
        try:
            while queued:
                job = queued[0]
                try:
                    await self._perform(job)
                except Exception as error:
                    log.exception("venue_job_failed", job=type(job.message).__name__, lane=lane)
                    await self._alert("error", f"{type(job.message).__name__} {lane}: {error}")
                queued.popleft()
        finally:
            del self._lanes[lane]

    async def _perform(self, job: _Job) -> None:
        message = job.message
        if isinstance(message, SubmitOrder):
            await self._submit(message, job.reference_price)
        elif isinstance(message, CancelOrder):
            await self._cancel(message)
        elif isinstance(message, QueryOrder):
            await self._answer_query(message)
        else:
            await self._reconcile(message)

    # --- submit -------------------------------------------------------------------------

    async def _submit(self, msg: SubmitOrder, reference_price: float | None) -> None:
        client_id = msg.client_order_id
        order = self._orders[client_id]
        if order.taken:
            await self._alert("warning", f"duplicate client order id {client_id}: not sent again")
            return
        order.taken = True
        prepared = await self._prepared(msg.ticket, reference_price)
        if isinstance(prepared, str):
            await self._reject(client_id, order, msg.ticket, prepared)
            return
        try:
            response = await self._rest.new_order(prepared, client_id)
        except OutcomeUnknown as error:
            self._note_sent(order)
            log.warning("submit_outcome_unknown", client_order_id=client_id, error=str(error))
            await self._resolve_submit(client_id, order)
            return
        except IpBanned as error:
            await self._announce_ban(error)
            await self._reject(client_id, order, msg.ticket, f"not placed: {error}")
            return
        except BinanceError as error:
            # Answered with a refusal, or not sent at all: either way not placed.
            if isinstance(error, Unauthorized | BadSignature):
                await self._alert("error", f"Binance refused our credentials: {error}")
            await self._reject(client_id, order, msg.ticket, str(error))
            return
        self._note_sent(order)
        try:
            reports = execution_reports(response, self.venue)
        except UnexpectedResponse as error:
            log.warning("submit_answer_unreadable", client_order_id=client_id, error=str(error))
            await self._resolve_submit(client_id, order)
            return
        await self._publish_new(order, reports)

    def _note_sent(self, order: _Order) -> None:
        order.sent = True
        # Taken when the request has ended: its timestamp was signed before, so the
        # window it opened closes no later than this plus recvWindow.
        order.sent_ms = self._rest.server_now_ms()

    async def _prepared(self, ticket: OrderTicket, reference: float | None) -> OrderTicket | str:
        """``ticket`` as it may leave, or why it may not (a refusal, no request made)."""
        symbol = ticket.symbol
        rules = self._rules.get(symbol)
        if rules is None:
            return f"not sent: {symbol} is not one of this gateway's symbols {list(self.symbols)}"
        price: Decimal | None = None
        if ticket.order_type is OrderType.MARKET:
            if reference is None:
                reference = await self._last_trade_price(symbol)
            price = None if reference is None else Decimal(repr(reference))
        try:
            prepared = prepare_order(ticket, rules, price)
        except FilterFailure as error:
            return error.msg
        if prepared.quantity != ticket.quantity:
            return (
                f"not sent: quantity {ticket.quantity} of {symbol} is not on the LOT_SIZE grid "
                f"(step {rules.step_size}); sent as {prepared.quantity} its fills would never "
                "add up to the order's quantity"
            )
        return prepared

    async def _last_trade_price(self, symbol: str) -> float | None:
        """Binance's last trade of ``symbol``: a market order's reference price before the
        bus has shown one."""
        try:
            trades = await self._rest.trades(symbol, limit=1)
        except IpBanned as error:
            await self._announce_ban(error)
            return None
        except BinanceError as error:
            log.warning("reference_price_unavailable", symbol=symbol, error=str(error))
            return None
        if not trades:
            return None
        self._prices.setdefault(symbol, trades[-1].price)
        return trades[-1].price

    async def _resolve_submit(self, client_id: str, order: _Order) -> None:
        assert order.sent_ms is not None  # set by _note_sent
        self._unresolved[client_id] = "submit"
        try:
            info = await self._find(client_id, (order.symbol,), self._deadline(order.sent_ms))
            if info is None:
                reason = "not placed: unknown to the venue after its receive window"
                await self._reject(client_id, order, None, reason)
            else:
                await self._publish_order_state(order, info)
        finally:
            del self._unresolved[client_id]

    async def _reject(
        self, client_id: str, order: _Order, ticket: OrderTicket | None, reason: str
    ) -> None:
        side = ticket.side if ticket is not None else order.side or Side.BUY
        report = ExecutionReport(
            ts=self.clock.now(), venue=self.venue, client_order_id=client_id, venue_order_id="",
            symbol=order.symbol, side=side, status=_REJECTED, reason=reason,
        )  # fmt: skip
        await self._publish_new(order, (report,))

    # --- cancel -------------------------------------------------------------------------

    async def _cancel(self, msg: CancelOrder) -> None:
        client_id, symbol = msg.client_order_id, msg.symbol
        order = self._orders[client_id]
        if order.finished:
            log.info("cancel_of_finished_order_not_sent", client_order_id=client_id)
            return
        self._unresolved[client_id] = "cancel"
        try:
            await self._cancel_until_known(client_id, symbol, order)
        finally:
            self._unresolved.pop(client_id, None)

    async def _cancel_until_known(self, client_id: str, symbol: str, order: _Order) -> None:
        """Cancel, and when the answer does not say the order ended, ask how it stands:
        an order still open is asked to cancel again (harmless if it already was)."""
        delays = self._delays()
        for attempt in range(1, _CANCEL_ATTEMPTS + 1):
            try:
                info = await self._rest.cancel_order(symbol, client_id)
            except CancelRejected:
                pass  # not open: finished, or never placed; the query says which
            except IpBanned as error:
                await self._announce_ban(error)
                await self._sleep(max(error.retry_after or 0.0, next(delays)))
            except _TRANSIENT as error:
                log.warning("cancel_outcome_unknown", client_order_id=client_id, error=str(error))
                await self._sleep(next(delays))
            else:
                await self._publish_order_state(order, info)
                return
            deadline = self._deadline(order.sent_ms or self._rest.server_now_ms())
            found = await self._find(client_id, (symbol,), deadline)
            if found is None:
                await self._emit(self._not_found(client_id, order))
                return
            if found.status not in _OPEN_ON_BINANCE or attempt == _CANCEL_ATTEMPTS:
                if found.status in _OPEN_ON_BINANCE:
                    await self._alert("warning", f"cancel of {client_id} not confirmed: still open")
                await self._publish_order_state(order, found)
                return

    # --- query --------------------------------------------------------------------------

    async def _answer_query(self, msg: QueryOrder) -> None:
        """The order's reports, then its status (DESIGN.md §4, recovery)."""
        client_id = msg.client_order_id
        order = self._orders.get(client_id)
        if order is not None and order.taken and not order.sent:
            await self._republish(order)  # refused here: Binance never saw it
            await self._emit(self._not_found(client_id, order))
            return
        symbols = (order.symbol,) if order is not None else self._candidate_symbols(client_id)
        known_sent = order.sent_ms if order is not None else None
        # Unknown when it was sent (another process sent it): counted from now, which
        # is later than any send of an earlier process, so the rule stays safe.
        deadline = self._deadline(known_sent or self._rest.server_now_ms())
        self._unresolved[client_id] = "query"
        try:
            info = await self._find(client_id, symbols, deadline)
        finally:
            self._unresolved.pop(client_id, None)
        if info is None:
            if order is None:
                order = _Order("", None)  # not kept: nothing is known of it
            await self._republish(order)
            await self._emit(self._not_found(client_id, order))
            return
        if order is None:
            order = self._orders[client_id] = _Order(info.symbol, Side(info.side))
        await self._republish(order)
        await self._publish_order_state(order, info)
        await self._emit(status_report(info, self.venue, ts=self.clock.now()))

    def _candidate_symbols(self, client_id: str) -> tuple[str, ...]:
        """Our symbols, the one a readable client id names first (order_manager's
        ``strategy.SYMBOL.ts.counter``)."""
        named = [part for part in client_id.split(".") if part in self._rules]
        return tuple(dict.fromkeys([*named, *self.symbols]))

    def _not_found(self, client_id: str, order: _Order) -> Message:
        side = order.side or Side.BUY
        return not_found_report(client_id, order.symbol, side, self.clock.now(), self.venue)

    # --- reconcile ----------------------------------------------------------------------

    async def _reconcile(self, msg: Reconcile) -> None:
        since = max(msg.since_trade, 0)
        try:
            account = await self._rest.account()
            open_orders = await self._rest.open_orders()
            trades = await self._trades_after(since)
        except IpBanned as error:
            await self._announce_ban(error)
            return
        except BinanceError as error:
            await self._alert("warning", f"no venue snapshot: {error}")
            return
        trades.sort(key=lambda trade: (trade.time, trade.symbol, trade.id))
        cursor = max(since, trades[-1].time - self._settle_ms) if trades else since
        now = self.clock.now()
        open_orders.sort(key=lambda info: (info.symbol, info.order_id))
        await self._emit(
            VenueSnapshot(
                ts=now,
                venue=self.venue,
                balances=balances(account),
                open_orders=tuple(status_report(info, self.venue, ts=now) for info in open_orders),
                trade_ids=tuple(str(trade.id) for trade in trades),
                since_trade=since,
                trade_cursor=cursor,
            )
        )

    async def _trades_after(self, since_ms: int) -> list[AccountTrade]:
        """Our trades of every symbol executed after ``since_ms`` (all of them for 0).

        The newest page usually reaches back far enough; only when it does not (more
        than a page of trades since) is the symbol's history paged from the start."""
        found: list[AccountTrade] = []
        for symbol in self.symbols:
            if since_ms > 0:
                recent = await self._rest.my_trades(symbol, limit=_MAX_TRADES)
                if len(recent) < _MAX_TRADES or min(t.time for t in recent) <= since_ms:
                    found.extend(trade for trade in recent if trade.time > since_ms)
                    continue
            found.extend(t for t in await self._all_trades(symbol) if t.time > since_ms)
        return found

    async def _all_trades(self, symbol: str) -> list[AccountTrade]:
        trades: list[AccountTrade] = []
        from_id = 0
        while True:
            page = await self._rest.my_trades(symbol, from_id=from_id, limit=_MAX_TRADES)
            trades.extend(page)
            if len(page) < _MAX_TRADES:
                return trades
            from_id = page[-1].id + 1

    # --- asking Binance about one order -------------------------------------------------

    def _deadline(self, sent_ms: int) -> int:
        return sent_ms + self._window_ms + self._margin_ms

    async def _find(
        self, client_id: str, symbols: Sequence[str], deadline_ms: int
    ) -> OrderInfo | None:
        """The order Binance holds under ``client_id``, or None once a query sent after
        server time passed ``deadline_ms`` still finds none (before that, a request in
        flight could still place it). Transient failures are waited out."""
        delays = self._delays()
        final = False
        while True:
            for symbol in symbols:
                info = await self._ask(lambda symbol=symbol: self._query(symbol, client_id))
                if info is not None:
                    return info
            if final:
                return None
            if await self._ask(self._rest.server_time) > deadline_ms:
                final = True
            else:
                await self._sleep(next(delays))

    async def _query(self, symbol: str, client_id: str) -> OrderInfo | None:
        try:
            return await self._rest.query_order(symbol, client_id)
        except NoSuchOrder:
            return None

    async def _ask(self, request: Callable[[], Awaitable[_T]]) -> _T:
        """``request()``, asked again after transient failures and bans until it answers;
        a refusal (credentials, parameters) is raised."""
        delays = self._delays()
        while True:
            try:
                return await request()
            except IpBanned as error:
                await self._announce_ban(error)
                await self._sleep(max(error.retry_after or 0.0, next(delays)))
            except _TRANSIENT as error:
                log.info("binance_request_asked_again", error=str(error))
                await self._sleep(next(delays))

    async def _publish_order_state(self, order: _Order, info: OrderInfo) -> None:
        """Publish what Binance's view of the order adds to what was published."""
        if order.side is None:
            order.side = Side(info.side)
        trades = await self._order_trades(info)
        await self._publish_new(order, order_reports(info, trades, self.venue))

    async def _order_trades(self, info: OrderInfo) -> list[AccountTrade]:
        """The trades of ``info``'s order; asked again while they add up to less than its
        executed quantity (Binance's trade list lags its order status)."""
        if info.executed_qty <= _ZERO:
            return []
        delays = self._delays()
        trades: list[AccountTrade] = []
        for _ in range(_TRADE_LIST_ATTEMPTS):
            trades = await self._ask(
                lambda: self._rest.my_trades(info.symbol, order_id=info.order_id, limit=_MAX_TRADES)
            )
            if sum((trade.qty for trade in trades), _ZERO) >= info.executed_qty:
                return trades
            await self._sleep(next(delays))
        log.warning(
            "order_trades_incomplete",
            client_order_id=info.order_client_id,
            executed=str(info.executed_qty),
            listed=len(trades),
        )
        return trades

    def _delays(self) -> Iterator[float]:
        delay, longest = self._backoff
        while True:
            yield delay
            delay = min(delay * 2, longest)

    # --- publishing ---------------------------------------------------------------------

    async def _publish_new(self, order: _Order, reports: Iterable[ExecutionReport]) -> None:
        """Publish the reports not published for ``order`` yet: a trade once per trade id,
        any other status once."""
        for report in reports:
            if report.trade_id:
                if report.trade_id in order.trade_ids:
                    continue
                order.trade_ids.add(report.trade_id)
            elif report.status in order.statuses:
                continue
            else:
                order.statuses.add(report.status)
            order.reports.append(report)
            await self._emit(report)

    async def _republish(self, order: _Order) -> None:
        for report in tuple(order.reports):
            await self._emit(report)

    async def _announce_ban(self, error: IpBanned) -> None:
        """Alert and halt once per ban: nothing can be sent, so orders cannot be managed."""
        banned_until = self._rest.budget.statistics().banned_until
        if banned_until <= self._ban_announced_until:
            return
        self._ban_announced_until = banned_until
        seconds = error.retry_after or 0.0
        text = f"Binance banned this IP (HTTP 418) for {seconds:.0f} s: {error}"
        log.error("venue_ip_banned", retry_after=seconds)
        await self._alert("error", text)
        await self._emit(
            TradingHalted(
                ts=self.clock.now(),
                reason=f"venue IP banned for {seconds:.0f} s (HTTP 418)",
                source=self.name,
            )
        )

    async def _alert(self, level: str, text: str) -> None:
        await self._emit(Alert(ts=self.clock.now(), level=level, source=self.name, text=text))

    async def _emit(self, message: Message) -> None:
        publish = self._publish_out
        assert publish is not None  # set by run() before any job
        await publish(message)
