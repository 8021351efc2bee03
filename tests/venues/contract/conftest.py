"""The venue under test: what the contract tests need of a venue, and its Binance implementation.

Every venue (Binance today; Kraken, Mercado Bitcoin later) gets a ``VenueUnderTest``:
an adapter (REST client, market stream, gateway) pointed at a local stand-in for the
venue whose clock the tests move and whose book they can read. A new venue adds a class
with the same methods and one entry to ``VENUES``; the tests in
``test_venue_contract.py`` then run against it unchanged.

Here: the Binance adapter against the loopback simulator (``run_simulator``), paused,
time moved with ``advance``.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import anyio
import pytest

from actors.bus import Bus
from actors.messages import ALL_MESSAGES, Message, OrderTicket, Side, TradeTick
from actors.order_manager import OrderManager
from actors.supervisor import LiveScheduler
from venues.binance.errors import BinanceError, OrderRejected, UnknownOrder
from venues.binance.filters import SymbolRules, prepare_order, symbol_rules
from venues.binance.gateway import BinanceGateway
from venues.binance.rest import BinanceRest
from venues.binance.signing import Credentials, HmacSigner
from venues.binance.stream import BinanceMarketStream
from venues.binance.weights import WeightBudget
from venues.binance.ws import ReconnectPolicy
from venues.simulator import FaultPlan, FaultRule, Simulator, SimulatorConfig, run_simulator
from venues.simulator import errors as sim_errors

MINUTE_MS = 60_000
NS_PER_MS = 1_000_000


async def no_wait(seconds: float) -> None:
    """Reconnect backoff that only yields: the tests do not wait out real seconds."""
    await asyncio.sleep(0)


async def wait_until(predicate: Callable[[], bool], what: str, timeout: float = 5.0) -> None:
    """Poll ``predicate``; fail naming ``what`` after ``timeout`` seconds (bounded wait)."""
    try:
        async with asyncio.timeout(timeout):
            while not predicate():
                await asyncio.sleep(0.005)
    except TimeoutError:
        raise AssertionError(f"timed out after {timeout} s waiting for {what}") from None


@dataclass(frozen=True)
class VenueOrder:
    """An order as the venue's own book holds it (not as the adapter reports it)."""

    order_id: int
    client_order_id: str
    status: str


@dataclass
class Desk:
    """The adapter's gateway and a real order manager on one bus under the live scheduler."""

    om: OrderManager
    scheduler: LiveScheduler
    messages: list[Message] = field(default_factory=list)

    async def publish(self, message: Message) -> None:
        await self.scheduler.publish(message)


class BinanceSimulatorVenue:
    """The Binance spot adapter against the loopback simulator (paused clock)."""

    name = "binance-simulator"
    symbol = "BTCUSDT"
    base = "BTC"
    # A code the venue gives an unknown order's cancel (Binance: -2011, "Unknown order sent.").
    unknown_order_code = -2011
    unknown_order_error: type[Exception] = UnknownOrder
    duplicate_order_error: type[Exception] = OrderRejected
    # Small, valid order sizes for this symbol (BTCUSDT near 42,000, step 0.00001, min 5 USDT).
    small_quantity = Decimal("0.001")

    def __init__(self) -> None:
        self.sim: Simulator
        self.rest: BinanceRest
        self.history_minutes = 24 * 60

    # --- life ----------------------------------------------------------------------

    @asynccontextmanager
    async def running(
        self, *, disconnect_every_messages: int | None = None, lose_submit_answer: bool = False
    ) -> AsyncIterator[BinanceSimulatorVenue]:
        rules: list[FaultRule] = []
        if disconnect_every_messages is not None:
            rules.append(FaultRule(kind="ws_disconnect", every_messages=disconnect_every_messages))
        if lose_submit_answer:
            rules.append(
                FaultRule(
                    kind="lost_response", mode="drop", limit=1, endpoints=("POST /api/v3/order",)
                )
            )
        config = SimulatorConfig(
            start_paused=True,
            sample_days=2,
            history_minutes=self.history_minutes,
            faults=FaultPlan(seed=11, rules=tuple(rules)),
        )
        async with run_simulator(config) as sim:
            self.sim = sim
            credentials = Credentials(sim.api_key, HmacSigner(sim.api_secret))
            async with BinanceRest(
                sim.url, credentials=credentials, budget=WeightBudget(), timeout_seconds=2.0
            ) as rest:
                self.rest = rest
                yield self

    # --- clock and history -----------------------------------------------------------

    def now_ms(self) -> int:
        return self.sim.now_ms()

    async def advance(self, milliseconds: int) -> None:
        await self.sim.advance(milliseconds)

    def history_start_ms(self) -> int:
        """The first minute of the history the venue is known to have."""
        return self.now_ms() // MINUTE_MS * MINUTE_MS - self.history_minutes * MINUTE_MS

    async def kline_open_times(self, start_ms: int, end_ms: int, limit: int) -> list[int]:
        """One page of 1m klines of ``[start_ms, end_ms]``: their open times, as sent."""
        rows = await self.rest.klines(
            self.symbol, "1m", start_ms=start_ms, end_ms=end_ms, limit=limit
        )
        return [row.open_time for row in rows]

    # --- streams -----------------------------------------------------------------------

    def market_stream(self) -> BinanceMarketStream:
        return BinanceMarketStream(
            self.sim.ws_url,
            self.rest,
            [self.symbol],
            sleep=no_wait,
            rng=random.Random(5),
            policy=ReconnectPolicy(rotate_after_seconds=None, idle_timeout_seconds=30.0),
            now_ns=lambda: self.sim.now_ms() * NS_PER_MS,
        )

    def stream_listening(self) -> bool:
        return self.sim.hub.listening(f"{self.symbol.lower()}@kline_1m")

    def stream_reconnects(self, stream: BinanceMarketStream) -> int:
        return stream.statistics().reconnects

    # --- orders: the adapter's REST calls ----------------------------------------------

    async def rules(self) -> SymbolRules:
        info = await self.rest.exchange_info([self.symbol])
        (symbol,) = info.symbols
        return symbol_rules(symbol)

    async def bid_ask(self) -> tuple[Decimal, Decimal, Decimal]:
        """Last trade, best bid and best ask at the venue."""
        return self.sim.engine.book(self.symbol)

    async def place(self, ticket: OrderTicket, client_order_id: str) -> Any:
        prepared = prepare_order(ticket, await self.rules(), (await self.bid_ask())[0])
        return await self.rest.new_order(prepared, client_order_id)

    async def cancel(self, client_order_id: str) -> Any:
        return await self.rest.cancel_order(self.symbol, client_order_id)

    async def open_order_ids(self) -> list[str]:
        return [info.order_client_id for info in await self.rest.open_orders(self.symbol)]

    async def free_balance(self, asset: str) -> Decimal:
        account = await self.rest.account()
        return next((b.free for b in account.balances if b.asset == asset), Decimal(0))

    @staticmethod
    def error_code(error: BaseException) -> int | None:
        return error.code if isinstance(error, BinanceError) else None

    # --- the venue's own book -----------------------------------------------------------

    def venue_orders(self) -> list[VenueOrder]:
        """Every order the venue holds, in the order it numbered them."""
        found: list[VenueOrder] = []
        for order_id in range(1, 1_000_000):
            try:
                order = self.sim.engine.order(self.symbol, order_id, None)
            except sim_errors.BinanceError:
                return found
            found.append(VenueOrder(order.order_id, order.client_order_id, order.status))
        return found

    # --- the gateway with a real order manager ---------------------------------------

    @asynccontextmanager
    async def desk(self) -> AsyncIterator[Desk]:
        gateway = BinanceGateway(self.rest, [self.symbol], backoff_seconds=(0.02, 0.1))
        om = OrderManager()
        bus = Bus([om, gateway])
        desk = Desk(om, LiveScheduler(bus))
        for kind in ALL_MESSAGES:
            bus.subscribe(kind, desk.messages.append, "contract-test")
        _, idle = anyio.create_memory_object_stream[Message]()
        async with anyio.create_task_group() as tasks:
            await tasks.start(gateway.run, desk.scheduler.publish)
            tasks.start_soon(desk.scheduler.run, idle)
            last, _, _ = self.sim.engine.book(self.symbol)
            # The gateway's reference price for market orders' notional check.
            await desk.publish(
                TradeTick(ts=0, symbol=self.symbol, price=float(last), size=1.0, aggressor=Side.BUY)
            )
            try:
                yield desk
            finally:
                tasks.cancel_scope.cancel()


VENUES: dict[str, Callable[[], Any]] = {
    BinanceSimulatorVenue.name: BinanceSimulatorVenue,
}


@pytest.fixture(params=list(VENUES))
def venue_kind(request: pytest.FixtureRequest) -> Any:
    """A fresh, not yet running venue under test; ``async with venue.running(...)``."""
    return VENUES[request.param]()
