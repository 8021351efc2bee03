"""The Binance venue gateway against the loopback simulator, under the live scheduler with the
real order manager: orders placed, rounded or refused before they leave, unknown outcomes
resolved by query and never sent twice, a ban that halts trading, recovery queries, and
venue snapshots the reconciler agrees with."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

import anyio
import httpx
import msgspec
import pytest

from actors.accountant import Accountant
from actors.actor import Actor
from actors.bus import Bus
from actors.messages import (
    ALL_MESSAGES,
    Alert,
    Cancel,
    DriftDetected,
    ExecutionReport,
    Fill,
    Message,
    OrderIntent,
    OrderRequest,
    OrderStatus,
    OrderStatusReport,
    OrderTicket,
    OrderType,
    QueryOrder,
    Reconcile,
    Side,
    SubmitOrder,
    TimerFired,
    TradeTick,
    TradingHalted,
    VenueSnapshot,
)
from actors.order_manager import OrderManager
from actors.reconciler import Reconciler
from actors.supervisor import LiveScheduler
from venues.binance.gateway import BinanceGateway, load_instruments
from venues.binance.rest import BinanceRest
from venues.binance.signing import Credentials, HmacSigner
from venues.binance.weights import WeightBudget
from venues.simulator import FaultPlan, FaultRule, Simulator, SimulatorConfig, run_simulator

D = Decimal
SYMBOL = "BTCUSDT"
SUBMIT = "POST /api/v3/order"
CANCEL = "DELETE /api/v3/order"
QUERY = "GET /api/v3/order"
# Paused at 01:00 on 2024-01-01 with an hour of history; BTCUSDT near 42,000, tick 0.01,
# step 0.00001, minimum notional 5.
PAUSED = SimulatorConfig(start_paused=True, sample_days=1, history_minutes=60)
_ticks = itertools.count(1)


def paused(*rules: FaultRule, **changes: Any) -> SimulatorConfig:
    return replace(PAUSED, faults=FaultPlan(seed=3, rules=rules), **changes)


class RecordingTransport(httpx.AsyncBaseTransport):
    """The real HTTP transport, with every request's method and path written down."""

    def __init__(self) -> None:
        self._inner = httpx.AsyncHTTPTransport()
        self.requests: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(f"{request.method} {request.url.path}")
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()

    def count(self, endpoint: str) -> int:
        return self.requests.count(endpoint)


class Gate:
    """A sleep that holds the gateway at its first wait until the test opens it."""

    def __init__(self) -> None:
        self.waiting = 0
        self._open = anyio.Event()

    async def sleep(self, seconds: float) -> None:
        if not self._open.is_set():
            self.waiting += 1
            await self._open.wait()
        await anyio.sleep(min(seconds, 0.02))

    def open(self) -> None:
        self._open.set()


@dataclass
class Desk:
    sim: Simulator
    http: RecordingTransport
    rest: BinanceRest
    gateway: BinanceGateway
    om: OrderManager
    scheduler: LiveScheduler
    messages: list[Message]

    async def publish(self, message: Message) -> None:
        await self.scheduler.publish(message)

    async def request(self, ticket: OrderTicket) -> str:
        """An approved order through the order manager; its client order id."""
        known = len(self.om.orders)
        intent = OrderIntent(ts=next(_ticks), strategy="test", ticket=ticket)
        await self.publish(OrderRequest(ts=intent.ts, intent=intent))
        await until(lambda: len(self.om.orders) > known)
        return list(self.om.orders)[-1]

    async def trade_at_last_price(self) -> None:
        """A trade print on the bus: the gateway's reference price for market orders."""
        last, _, _ = self.sim.engine.book(SYMBOL)
        tick = TradeTick(ts=0, symbol=SYMBOL, price=float(last), size=1.0, aggressor=Side.BUY)
        await self.publish(tick)

    def status(self, client_id: str) -> OrderStatus:
        return self.om.orders[client_id].status

    def of(self, kind: type[Any], client_id: str | None = None) -> list[Any]:
        return [
            m
            for m in self.messages
            if type(m) is kind
            and (client_id is None or getattr(m, "client_order_id", None) == client_id)
        ]

    def reports(self, client_id: str) -> list[tuple[OrderStatus, str]]:
        return [(r.status, r.trade_id) for r in self.of(ExecutionReport, client_id)]


async def until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    with anyio.fail_after(timeout):
        while not condition():
            await anyio.sleep(0.005)


@asynccontextmanager
async def desk(
    config: SimulatorConfig = PAUSED, *actors: Actor, **gateway_options: Any
) -> AsyncIterator[Desk]:
    options: dict[str, Any] = {"backoff_seconds": (0.02, 0.1), **gateway_options}
    async with run_simulator(config) as sim:
        http = RecordingTransport()
        credentials = Credentials(sim.api_key, HmacSigner(sim.api_secret))
        async with BinanceRest(
            sim.url, credentials=credentials, budget=WeightBudget(), transport=http,
            timeout_seconds=2.0,
        ) as rest:  # fmt: skip
            gateway = BinanceGateway(rest, [SYMBOL], **options)
            om = OrderManager()
            bus = Bus([om, gateway, *actors])
            messages: list[Message] = []
            for kind in ALL_MESSAGES:
                bus.subscribe(kind, messages.append, "test")
            scheduler = LiveScheduler(bus)
            _, idle = anyio.create_memory_object_stream[Message]()
            async with anyio.create_task_group() as tasks:
                await tasks.start(gateway.run, scheduler.publish)
                tasks.start_soon(scheduler.run, idle)
                yield Desk(sim, http, rest, gateway, om, scheduler, messages)
                tasks.cancel_scope.cancel()


def market(quantity: str = "0.001", side: Side = Side.BUY) -> OrderTicket:
    return OrderTicket(symbol=SYMBOL, side=side, quantity=D(quantity))


def limit(price: Decimal, quantity: str = "0.001", side: Side = Side.BUY) -> OrderTicket:
    return OrderTicket(
        symbol=SYMBOL, side=side, quantity=D(quantity), order_type=OrderType.LIMIT,
        limit_price=price,
    )  # fmt: skip


def below_market(sim: Simulator, distance: int = 1000) -> Decimal:
    _, bid, _ = sim.engine.book(SYMBOL)
    return bid - distance


# --- start ------------------------------------------------------------------------------


async def test_start_loads_filters_balances_and_the_trade_cursor() -> None:
    async with desk() as d:
        item = d.gateway.instruments[SYMBOL]
        assert (item.venue, item.tick_size, item.lot_size, item.min_notional) == (
            "binance", D("0.01"), D("0.00001"), D(5),
        )  # fmt: skip
        assert d.gateway.balances_at_start == {"USDT": D(100_000)}
        assert d.gateway.start_cursor == d.sim.now_ms() - 1
        paper = await load_instruments(d.rest, [SYMBOL], venue="paper")
        assert paper[SYMBOL] == msgspec.structs.replace(item, venue="paper")


async def test_a_session_can_load_before_its_bus_exists_and_run_later() -> None:
    async with run_simulator(PAUSED) as sim:
        credentials = Credentials(sim.api_key, HmacSigner(sim.api_secret))
        async with BinanceRest(sim.url, credentials=credentials, budget=WeightBudget()) as rest:
            gateway = BinanceGateway(rest, [SYMBOL])
            await gateway.load()
            assert SYMBOL in gateway.instruments and gateway.balances_at_start
            assert not gateway.running
            published: list[Message] = []

            async def collect(message: Message) -> None:
                published.append(message)

            async with anyio.create_task_group() as tasks:
                await tasks.start(gateway.run, collect)
                assert gateway.running
                gateway.on_reconcile(Reconcile(ts=0))
                await until(lambda: bool(published))
                tasks.cancel_scope.cancel()
            assert isinstance(published[0], VenueSnapshot)


async def test_a_gateway_that_is_not_running_sends_nothing() -> None:
    """A journal's replay delivers old SubmitOrders: they must not leave again."""
    async with run_simulator(PAUSED) as sim:
        http = RecordingTransport()
        credentials = Credentials(sim.api_key, HmacSigner(sim.api_secret))
        async with BinanceRest(sim.url, credentials=credentials, transport=http) as rest:
            gateway = BinanceGateway(rest, [SYMBOL])
            gateway.on_submit_order(
                SubmitOrder(ts=1, client_order_id="old-1", strategy="s", ticket=market())
            )
            assert not gateway.running and http.requests == []


# --- the happy path -----------------------------------------------------------------------


async def test_market_limit_and_cancel_reach_their_states_with_reports_in_order() -> None:
    async with desk() as d:
        bought = await d.request(market())
        await until(lambda: d.status(bought) is OrderStatus.FILLED)
        trade = d.sim.engine.trades(SYMBOL)[0]
        assert d.reports(bought) == [
            (OrderStatus.ACCEPTED, ""),
            (OrderStatus.FILLED, str(trade.trade_id)),
        ]
        (fill,) = d.of(Fill, bought)
        assert (fill.price, fill.quantity, fill.fee) == (trade.price, D("0.001"), trade.commission)

        resting = await d.request(limit(below_market(d.sim)))
        await until(lambda: d.status(resting) is OrderStatus.ACCEPTED)
        await d.publish(Cancel(ts=0, client_order_id=resting))
        await until(lambda: d.status(resting) is OrderStatus.CANCELED)
        assert d.reports(resting) == [(OrderStatus.ACCEPTED, ""), (OrderStatus.CANCELED, "")]
        assert [t.status for t in d.om.orders[resting].history] == [
            OrderStatus.SUBMITTED, OrderStatus.ACCEPTED, OrderStatus.PENDING_CANCEL,
            OrderStatus.CANCELED,
        ]  # fmt: skip
        assert d.sim.engine.order(SYMBOL, None, resting).status == "CANCELED"
        assert d.http.count(SUBMIT) == 2 and d.http.count(QUERY) == 0


async def test_a_limit_price_is_rounded_to_the_tick_in_the_owners_favour() -> None:
    async with desk() as d:
        price = below_market(d.sim) + D("0.009")
        resting = await d.request(limit(price))
        await until(lambda: d.status(resting) is OrderStatus.ACCEPTED)
        assert d.sim.engine.order(SYMBOL, None, resting).price == price - D("0.009")


async def test_a_repeated_submit_is_not_sent_twice() -> None:
    async with desk() as d:
        submit = SubmitOrder(ts=1, client_order_id="twice-1", strategy="s", ticket=market())
        await d.publish(submit)
        await d.publish(submit)
        await until(lambda: any(alert.source == "venue" for alert in d.of(Alert)))
        (alert,) = [alert for alert in d.of(Alert) if alert.source == "venue"]
        assert "duplicate client order id twice-1" in alert.text
        assert d.http.count(SUBMIT) == 1


# --- refused before any request ---------------------------------------------------------


@pytest.mark.parametrize(
    ("ticket", "words"),
    [
        (market("0.0001"), "Filter failure: NOTIONAL"),  # 4.20 USDT at 42,000
        (market("0.0010005"), "not on the LOT_SIZE grid"),
        (market("9999"), "Filter failure: LOT_SIZE"),
        (msgspec.structs.replace(market(), order_type=OrderType.STOP_LIMIT, limit_price=D(40000),
                                  stop_price=D(40000)),
         "stop-limit orders are not supported"),
    ],
)  # fmt: skip
async def test_an_order_the_filters_refuse_is_rejected_without_a_request(
    ticket: OrderTicket, words: str
) -> None:
    async with desk() as d:
        await d.trade_at_last_price()
        refused = await d.request(ticket)
        await until(lambda: d.status(refused) is OrderStatus.REJECTED)
        (report,) = d.of(ExecutionReport, refused)
        assert words in report.reason
        assert d.http.count(SUBMIT) == 0
        assert "GET /api/v3/trades" not in d.http.requests  # the tick was the reference


async def test_a_market_order_before_any_tick_is_checked_at_binances_last_trade() -> None:
    async with desk() as d:
        refused = await d.request(market("0.0001"))
        await until(lambda: d.status(refused) is OrderStatus.REJECTED)
        assert "NOTIONAL" in d.of(ExecutionReport, refused)[0].reason
        assert d.http.requests.count("GET /api/v3/trades") == 1
        bought = await d.request(market("0.001"))
        await until(lambda: d.status(bought) is OrderStatus.FILLED)
        assert d.http.requests.count("GET /api/v3/trades") == 1  # remembered


# --- unknown outcomes ---------------------------------------------------------------------


async def test_a_submit_whose_answer_is_lost_is_found_by_query_and_never_sent_twice() -> None:
    lost = FaultRule(kind="lost_response", mode="drop", limit=1, endpoints=(SUBMIT,))
    async with desk(paused(lost)) as d:
        bought = await d.request(market())
        await until(lambda: d.status(bought) is OrderStatus.FILLED)
        trade = d.sim.engine.trades(SYMBOL)[0]
        assert d.reports(bought) == [
            (OrderStatus.ACCEPTED, ""),
            (OrderStatus.FILLED, str(trade.trade_id)),
        ]
        assert d.http.count(SUBMIT) == 1 and d.http.count(QUERY) >= 1
        # One order at the venue for the client id: the engine numbers orders from 1.
        assert d.sim.engine.order(SYMBOL, 1, bought).status == "FILLED"
        with pytest.raises(Exception, match="Order does not exist"):
            d.sim.engine.order(SYMBOL, 2, None)
        assert d.gateway.unresolved == {}


async def test_a_5xx_after_the_order_was_placed_ends_as_the_venue_says() -> None:
    failed = FaultRule(kind="server_error", status=500, executed=True, limit=1, endpoints=(SUBMIT,))
    async with desk(paused(failed)) as d:
        resting = await d.request(limit(below_market(d.sim)))
        await until(lambda: d.status(resting) is OrderStatus.ACCEPTED)
        assert d.reports(resting) == [(OrderStatus.ACCEPTED, "")]
        assert d.http.count(SUBMIT) == 1


async def test_a_5xx_before_execution_is_rejected_only_after_the_receive_window() -> None:
    failed = FaultRule(kind="server_error", status=503, limit=1, endpoints=(SUBMIT,))
    async with desk(paused(failed)) as d:
        lost = await d.request(market())
        await until(lambda: d.gateway.unresolved == {lost: "submit"} and d.http.count(QUERY) >= 2)
        # Server time stands still inside the window: not found is not yet "not placed".
        assert d.status(lost) is OrderStatus.SUBMITTED
        assert d.of(ExecutionReport, lost) == []
        await d.sim.advance(60_000)
        await until(lambda: d.status(lost) is OrderStatus.REJECTED)
        (report,) = d.of(ExecutionReport, lost)
        assert report.reason == "not placed: unknown to the venue after its receive window"
        assert d.http.count(SUBMIT) == 1  # never sent again
        assert d.sim.engine.open_orders(None) == [] and d.sim.engine.trades(SYMBOL) == []


async def test_a_cancel_whose_answer_is_lost_stays_pending_until_a_query_says_canceled() -> None:
    gate = Gate()
    lost = FaultRule(kind="lost_response", mode="drop", limit=1, endpoints=(CANCEL,))
    async with desk(paused(lost), sleep=gate.sleep) as d:
        resting = await d.request(limit(below_market(d.sim)))
        await until(lambda: d.status(resting) is OrderStatus.ACCEPTED)
        await d.publish(Cancel(ts=0, client_order_id=resting))
        await until(lambda: gate.waiting == 1)
        assert d.status(resting) is OrderStatus.PENDING_CANCEL
        assert d.gateway.unresolved == {resting: "cancel"}
        assert d.reports(resting) == [(OrderStatus.ACCEPTED, "")]
        gate.open()
        await until(lambda: d.status(resting) is OrderStatus.CANCELED)
        assert d.reports(resting) == [(OrderStatus.ACCEPTED, ""), (OrderStatus.CANCELED, "")]
        assert d.http.count(CANCEL) == 1 and d.http.count(QUERY) == 1


async def test_a_cancel_that_failed_before_execution_is_sent_again() -> None:
    failed = FaultRule(kind="server_error", status=502, limit=1, endpoints=(CANCEL,))
    async with desk(paused(failed)) as d:
        resting = await d.request(limit(below_market(d.sim)))
        await until(lambda: d.status(resting) is OrderStatus.ACCEPTED)
        await d.publish(Cancel(ts=0, client_order_id=resting))
        await until(lambda: d.status(resting) is OrderStatus.CANCELED)
        assert d.http.count(CANCEL) == 2
        assert d.sim.engine.order(SYMBOL, None, resting).status == "CANCELED"


# --- a ban ----------------------------------------------------------------------------------


async def test_an_ip_ban_alerts_and_halts_trading_once_and_places_nothing() -> None:
    async with desk(paused(weight_limit=200, bans_after_429s=2)) as d:
        await d.trade_at_last_price()
        # Another client on the same IP ignores 429s until the IP is banned.
        async with httpx.AsyncClient(base_url=d.sim.url) as other:
            for _ in range(40):
                if (await other.get("/api/v3/exchangeInfo")).status_code == 418:
                    break
        first = await d.request(market())
        await until(lambda: d.status(first) is OrderStatus.REJECTED)
        second = await d.request(market())
        await until(lambda: d.status(second) is OrderStatus.REJECTED)
        (halted,) = d.of(TradingHalted)
        assert halted.source == "venue" and "418" in halted.reason
        (alert,) = [a for a in d.of(Alert) if a.source == "venue"]
        assert alert.level == "error" and "banned" in alert.text
        assert "not placed" in d.of(ExecutionReport, first)[0].reason
        assert d.http.count(SUBMIT) == 1  # the second was never sent
        assert d.sim.engine.open_orders(None) == [] and d.sim.engine.trades(SYMBOL) == []


# --- queries after a recovery -------------------------------------------------------------


async def test_a_repeated_query_republishes_the_same_reports_then_the_status() -> None:
    async with desk() as d:
        bought = await d.request(market())
        await until(lambda: d.status(bought) is OrderStatus.FILLED)
        first = d.of(ExecutionReport, bought)
        await d.publish(QueryOrder(ts=0, venue="binance", client_order_id=bought))
        await until(lambda: bool(d.of(OrderStatusReport, bought)))
        assert d.of(ExecutionReport, bought) == first + first  # as published, trade ids too
        (status,) = d.of(OrderStatusReport, bought)
        assert (status.found, status.status, status.filled_quantity) == (
            True, OrderStatus.FILLED, D("0.001"),
        )  # fmt: skip
        await until(lambda: d.scheduler.health["order_manager"].last_active_ns > status.ts)
        assert len(d.of(Fill, bought)) == 1 and d.status(bought) is OrderStatus.FILLED


async def test_a_query_from_another_process_is_answered_from_binance() -> None:
    async with desk() as d:
        bought = await d.request(market())
        await until(lambda: d.status(bought) is OrderStatus.FILLED)
        trade = d.sim.engine.trades(SYMBOL)[0]
        fresh = BinanceGateway(d.rest, [SYMBOL], backoff_seconds=(0.02, 0.1))
        answers: list[Message] = []

        async def collect(message: Message) -> None:
            answers.append(message)

        async with anyio.create_task_group() as tasks:
            await tasks.start(fresh.run, collect)
            fresh.on_query_order(QueryOrder(ts=0, venue="binance", client_order_id=bought))
            await until(lambda: any(isinstance(m, OrderStatusReport) for m in answers))
            tasks.cancel_scope.cancel()
        assert [(type(m).__name__, m.status, getattr(m, "trade_id", "")) for m in answers] == [
            ("ExecutionReport", OrderStatus.ACCEPTED, ""),
            ("ExecutionReport", OrderStatus.FILLED, str(trade.trade_id)),
            ("OrderStatusReport", OrderStatus.FILLED, ""),
        ]


async def test_a_query_for_an_order_binance_never_saw_is_not_found_after_the_window() -> None:
    async with desk() as d:
        client_id = "gone.BTCUSDT.x.1"
        await d.publish(QueryOrder(ts=0, venue="binance", client_order_id=client_id))
        await until(lambda: d.gateway.unresolved == {client_id: "query"})
        await until(lambda: d.http.count(QUERY) >= 2)
        assert d.of(OrderStatusReport) == []
        await d.sim.advance(60_000)
        await until(lambda: bool(d.of(OrderStatusReport)))
        (report,) = d.of(OrderStatusReport)
        assert (report.client_order_id, report.found, report.symbol) == (client_id, False, "")
        assert d.of(ExecutionReport) == []


async def test_a_query_of_an_order_refused_here_asks_nobody() -> None:
    async with desk() as d:
        refused = await d.request(market("0.0001"))
        await until(lambda: d.status(refused) is OrderStatus.REJECTED)
        await d.publish(QueryOrder(ts=0, venue="binance", client_order_id=refused))
        await until(lambda: bool(d.of(OrderStatusReport)))
        assert not d.of(OrderStatusReport)[0].found
        assert d.http.count(QUERY) == 0


# --- reconciliation -------------------------------------------------------------------------


async def test_a_venue_snapshot_lists_balances_open_orders_and_trades_after_the_cursor() -> None:
    async with desk(trade_settle_ms=1000) as d:
        bought = await d.request(market())
        await until(lambda: d.status(bought) is OrderStatus.FILLED)
        resting = await d.request(limit(below_market(d.sim)))
        await until(lambda: d.status(resting) is OrderStatus.ACCEPTED)
        trade = d.sim.engine.trades(SYMBOL)[0]

        await d.publish(Reconcile(ts=0, since_trade=0))
        await until(lambda: len(d.of(VenueSnapshot)) == 1)
        (snapshot,) = d.of(VenueSnapshot)
        totals = {asset: free + locked for asset, free, locked in d.sim.engine.balances_view()}
        assert snapshot.balances == {asset: v for asset, v in totals.items() if v}
        assert [(o.client_order_id, o.status) for o in snapshot.open_orders] == [
            (resting, OrderStatus.ACCEPTED)
        ]
        assert snapshot.trade_ids == (str(trade.trade_id),)
        assert (snapshot.since_trade, snapshot.trade_cursor) == (0, trade.time_ms - 1000)

        # The newest trades are listed once more (Binance's list lags), then no more.
        await d.publish(Reconcile(ts=0, since_trade=snapshot.trade_cursor))
        await d.publish(Reconcile(ts=0, since_trade=trade.time_ms))
        await until(lambda: len(d.of(VenueSnapshot)) == 3)
        again, after = d.of(VenueSnapshot)[1:]
        assert again.trade_ids == snapshot.trade_ids
        assert again.trade_cursor == snapshot.trade_cursor
        assert (after.trade_ids, after.trade_cursor) == ((), trade.time_ms)


async def test_the_reconciler_finds_no_drift_between_the_books_and_the_venue() -> None:
    reconciler = Reconciler(
        venue="binance", quote_asset="USDT", base_assets={SYMBOL: "BTC"},
        initial_balances={"USDT": D(100_000)}, interval_ns=0,
    )  # fmt: skip
    accountant = Accountant("USDT", D(100_000))
    async with desk(PAUSED, reconciler, accountant) as d:
        reconciler.trade_cursor = d.gateway.start_cursor
        assert d.gateway.balances_at_start == reconciler.expected_balances()
        bought = await d.request(market("0.002"))
        await until(lambda: d.status(bought) is OrderStatus.FILLED)
        sold = await d.request(market("0.001", Side.SELL))
        await until(lambda: d.status(sold) is OrderStatus.FILLED)
        resting = await d.request(limit(below_market(d.sim)))
        await until(lambda: d.status(resting) is OrderStatus.ACCEPTED)
        await until(lambda: len(reconciler.unconfirmed_fills) == 2)

        await d.publish(TimerFired(ts=0, owner="reconciler", name="reconcile"))
        await until(lambda: reconciler.reports == 1)
        assert d.of(DriftDetected) == []
        assert reconciler.unconfirmed_fills == ()
        assert len(d.of(VenueSnapshot)[0].trade_ids) == 2
