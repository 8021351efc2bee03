"""A live session against the simulator as Binance charges: a buy pays its commission in
the base asset it receives, a sell in the quote asset. The books must equal the venue's
balances exactly, with no drift and no actor restart, also when a sell leaves a
remainder below one lot. And the user data stream's reconnect path: an order that
filled while the stream was down is resolved from the venue after the reconnect, its
fill booked once, while an order still open stays open."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import anyio
import pytest

from actors.messages import (
    ExecutionReport,
    Fill,
    Message,
    OrderIntent,
    OrderRejected,
    OrderStatus,
    OrderStatusReport,
    OrderTicket,
    OrderType,
    QueryOrder,
    RiskRejected,
    Side,
    SubmitOrder,
)
from app.session import LiveSession, SessionContext, run_live_session
from app.settings import Settings, load_settings
from venues.binance.signing import credentials_from_env
from venues.simulator import Simulator, SimulatorConfig, run_simulator

SPEED = 600.0  # a one-minute bar every 0.1 s
BTC = "BTCUSDT"
LOT = Decimal("0.00001")
LIVE_CONFIG = Path(__file__).parents[2] / "configs" / "live-binance.toml"
TAPPED = (Fill, ExecutionReport, OrderStatusReport, QueryOrder, SubmitOrder, RiskRejected,
          OrderRejected)  # fmt: skip


@pytest.fixture
async def simulator(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Simulator]:
    config = SimulatorConfig(speed=SPEED)
    assert config.commission_asset == "received"  # Binance's default is the default
    async with run_simulator(config) as running:
        monkeypatch.setenv("TICKDECK_BINANCE__API_KEY", running.api_key)
        monkeypatch.setenv("TICKDECK_BINANCE__API_SECRET", running.api_secret)
        yield running


def _settings(tmp_path: Path, url: str, params: dict[str, Any]) -> Settings:
    text = LIVE_CONFIG.read_text(encoding="utf-8")
    assert 'base_url = "https://api.binance.com"' in text
    config = tmp_path / "live.toml"
    config.write_text(text.replace("https://api.binance.com", url), encoding="utf-8")
    return load_settings(
        config,
        {
            "data.dir": str(tmp_path),
            "strategy.params": params,
            "risk.max_order_notional": 10_000,
            "risk.max_position_notional": 100_000,
            "risk.daily_loss_limit": 0,
            "log.level": "WARNING",
        },
    )


class _Watch:
    """An observer of the session: taps the bus from the first message and keeps the
    session's actors and health for the assertions after it ends."""

    def __init__(self) -> None:
        self.seen: list[Message] = []
        self.context: SessionContext | None = None

    @property
    def session(self) -> LiveSession:
        assert self.context is not None
        session = self.context.session
        assert isinstance(session, LiveSession)
        return session

    def attach(self, context: SessionContext) -> None:
        self.context = context
        for message_type in TAPPED:
            context.session.bus.subscribe(message_type, self.seen.append, "test-watch")

    async def run(self) -> None:
        await anyio.sleep_forever()

    def of_type(self, kind: type[Any]) -> list[Any]:
        return [message for message in self.seen if type(message) is kind]

    def restarts(self) -> dict[str, int]:
        assert self.context is not None
        return {name: h.restarts for name, h in self.context.scheduler.health.items() if h.restarts}


def _venue_totals(simulator: Simulator) -> dict[str, Decimal]:
    return {asset: free + locked for asset, free, locked in simulator.engine.balances_view()}


def _assert_books_equal_the_venue(watch: _Watch, simulator: Simulator) -> None:
    accountant = watch.session.accountant
    venue = _venue_totals(simulator)
    assert accountant.cash == venue["USDT"]
    assert accountant.positions.get(BTC, Decimal(0)) == venue["BTC"]


@pytest.mark.parametrize(
    ("quantity", "dust"),
    [("0.01", Decimal(0)), ("0.01234", Decimal("0.00000766"))],
    ids=["whole-lots", "dust"],
)
async def test_a_live_session_paying_fees_in_the_received_asset_books_what_the_venue_holds(
    simulator: Simulator, tmp_path: Path, quantity: str, dust: Decimal
) -> None:
    """0.01 BTC pays 0.00001 BTC (one lot): the sell of the net 0.00999 leaves nothing.
    0.01234 BTC pays 0.00001234 BTC: the strategy sells the net 0.01232766 floored to
    the lot, 0.01232, and 0.00000766 BTC stays on the venue and in the books alike."""
    settings = _settings(tmp_path, simulator.url, {"fast": 2, "slow": 4, "quantity": quantity})
    credentials = credentials_from_env()
    assert credentials is not None
    watch = _Watch()
    with anyio.fail_after(25):
        result = await run_live_session(
            settings, "fees", credentials, duration=3.0, observers=(watch,)
        )
    assert result.reconciliation == "passed", result
    assert (result.drifts, result.halted) == (0, ""), result
    assert watch.restarts() == {}
    fills = watch.of_type(Fill)
    buys = [f for f in fills if f.side is Side.BUY]
    sells = [f for f in fills if f.side is Side.SELL]
    assert buys and sells, fills
    assert {(f.fee_asset, f.fee) for f in buys} == {("BTC", Decimal(quantity) / 1000)}
    assert all(f.fee_asset == "USDT" for f in sells)
    # The strategy sells what the venue holds, on the lot grid: never a refused order.
    assert all(s.ticket.quantity % LOT == 0 for s in watch.of_type(SubmitOrder))
    assert watch.of_type(OrderRejected) == []
    # The first sell is the net of the first buy, floored to the lot; the dust it leaves
    # is flat to the strategy, so the next cross up buys again.
    assert sells[0].quantity == Decimal(quantity) - Decimal(quantity) / 1000 - dust
    _assert_books_equal_the_venue(watch, simulator)
    if len(buys) == len(sells):
        assert Decimal(0) <= watch.session.accountant.positions.get(BTC, Decimal(0)) < LOT
    assert len(buys) >= 2, "dust below one lot must not stop the next entry"
    # Nothing below a lot is ever tried: no refused intent, no order off the grid.
    assert watch.of_type(RiskRejected) == []


async def test_an_order_filled_while_the_user_stream_was_down_is_resolved_after_the_reconnect(
    simulator: Simulator, tmp_path: Path
) -> None:
    # Averages this long never cross in the run: only the two limit orders below trade.
    settings = _settings(tmp_path, simulator.url, {"fast": 500, "slow": 1000, "quantity": "0.01"})
    credentials = credentials_from_env()
    assert credentials is not None
    stop = anyio.Event()
    checks: dict[str, Any] = {}

    class _Operator(_Watch):
        async def run(self) -> None:
            assert self.context is not None
            await self.context.started.wait()
            scheduler = self.context.scheduler
            orders = self.session.order_manager
            last = simulator.engine.book(BTC)[0]
            to_fill = (last * Decimal("0.95")).quantize(Decimal("0.01"))
            to_stay = (last * Decimal("0.5")).quantize(Decimal("0.01"))
            for price in (to_fill, to_stay):
                ticket = OrderTicket(
                    symbol=BTC, side=Side.BUY, quantity=Decimal("0.01"),
                    order_type=OrderType.LIMIT, limit_price=price,
                )  # fmt: skip
                intent = OrderIntent(ts=scheduler.clock.now(), strategy="operator", ticket=ticket)
                await scheduler.publish(intent)

            def by_price(price: Decimal) -> Any:
                return next(o for o in orders.orders.values() if o.ticket.limit_price == price)

            def accepted() -> bool:
                working = [o for o in orders.open_orders() if o.status is OrderStatus.ACCEPTED]
                return len(working) == 2

            await _until(accepted)
            filled, staying = by_price(to_fill), by_price(to_stay)
            # The stream drops; the order fills before the client can reconnect, so its
            # reports are lost to it: only the query after the reconnect can tell.
            assert simulator.disconnect_user_streams() == 1
            simulator.engine.on_trade(BTC, last * Decimal("0.9"), Decimal(1), simulator.now_ms())
            assert simulator.engine.order(BTC, None, filled.client_order_id).status == "FILLED"
            await _until(lambda: filled.status is OrderStatus.FILLED)
            # The order manager's Fill is published after its handler returns: wait for it.
            await _until(lambda: bool(self.of_type(Fill)))
            checks["queried"] = [q.client_order_id for q in self.of_type(QueryOrder)]
            checks["fills_after_reconnect"] = len(self.of_type(Fill))
            # The venue's reports of the filled order again, as a second query gets them.
            await scheduler.publish(
                QueryOrder(
                    ts=scheduler.clock.now(), venue="binance",
                    client_order_id=filled.client_order_id,
                )
            )  # fmt: skip

            def answered_twice() -> bool:
                answers = [
                    r for r in self.of_type(OrderStatusReport)
                    if r.client_order_id == filled.client_order_id
                ]  # fmt: skip
                return len(answers) >= 2

            await _until(answered_twice)
            await anyio.sleep(0.3)  # let the repeated fill reach every actor
            checks["filled"], checks["staying"] = filled, staying
            stop.set()

    watch = _Operator()
    with anyio.fail_after(40):
        result = await run_live_session(
            settings, "user-stream", credentials, duration=35.0, stop=stop,
            cancel_on_stop=False, observers=(watch,),
        )  # fmt: skip
    filled, staying = checks["filled"], checks["staying"]
    assert result.reconciliation == "passed", result
    assert (result.drifts, result.halted) == (0, ""), result
    assert watch.restarts() == {}
    # After the reconnect the session asked for every open order, both of them.
    assert {filled.client_order_id, staying.client_order_id} <= set(checks["queried"])
    # The fill, lost on the stream, came from the query; booked once, though its report
    # came again (the trade id repeated in the second answer).
    fills = watch.of_type(Fill)
    assert [f.client_order_id for f in fills] == [filled.client_order_id]
    assert checks["fills_after_reconnect"] == 1
    (fill,) = fills
    trade_reports = [
        r for r in watch.of_type(ExecutionReport)
        if r.client_order_id == filled.client_order_id and r.trade_id == fill.trade_id
    ]  # fmt: skip
    assert len(trade_reports) >= 2
    assert (fill.fee, fill.fee_asset) == (Decimal("0.00001"), "BTC")
    assert watch.session.accountant.positions == {BTC: Decimal("0.00999")}
    # The other order is still open, in our books and on the venue.
    assert staying.status is OrderStatus.ACCEPTED
    assert result.open_orders == 1
    venue_open = simulator.engine.open_orders(BTC)
    assert [o.client_order_id for o in venue_open] == [staying.client_order_id]
    _assert_books_equal_the_venue(watch, simulator)


async def _until(condition: Any, timeout: float = 15.0) -> None:
    with anyio.fail_after(timeout):
        while not condition():
            await anyio.sleep(0.02)
