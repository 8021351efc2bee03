"""The user data stream against the loopback simulator: execution reports exactly as the REST
answers and the order manager read them, balances, the catch-up marker after a lost
connection, listenKey keepalive and renewal, and a planned rotation."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import pytest
from structlog.testing import capture_logs

from actors.clock import SimClock
from actors.messages import (
    Alert,
    ExecutionReport,
    Fill,
    Liquidity,
    Message,
    OrderAccepted,
    OrderIntent,
    OrderRequest,
    OrderStatus,
    OrderTicket,
    OrderType,
    Side,
    SubmitOrder,
    TimeInForce,
)
from actors.order_manager import OrderManager
from tests.venues.binance.stream_helpers import (
    MINUTE,
    POLICY,
    SYMBOL,
    Gate,
    Reader,
    Ticker,
    no_wait,
    paused,
    rest_for,
    sim_now_ns,
    wait_until,
)
from venues.binance.errors import BadParameter, Unauthorized, VenueUnavailable
from venues.binance.rest import BinanceRest, execution_reports, order_reports
from venues.binance.signing import Credentials, HmacSigner
from venues.binance.user_stream import (
    AccountPosition,
    BinanceUserStream,
    ExecutionReportPayload,
    UserEvent,
    UserStreamConnected,
    reports_from_event,
)
from venues.simulator import Simulator, run_simulator
from venues.simulator.faults import FaultPlan, FaultRule

LOT = Decimal("0.01")


def _user_stream(sim: Simulator, rest: BinanceRest, **kwargs: Any) -> BinanceUserStream:
    kwargs.setdefault("sleep", no_wait)
    kwargs.setdefault("policy", POLICY)
    return BinanceUserStream(sim.ws_url, rest, now_ns=sim_now_ns(sim), **kwargs)


async def _started(sim: Simulator, stream: BinanceUserStream) -> Reader[UserEvent]:
    """Read ``stream`` in a task once the simulator has registered its connection."""
    reader: Reader[UserEvent] = Reader(stream)
    await wait_until(lambda: sim.hub.connections_made == 1, "the user stream's connection")
    await wait_until(lambda: bool(reader.items), "the first marker")
    return reader


def _reports(items: Sequence[object], client_order_id: str) -> list[ExecutionReport]:
    return [
        item
        for item in items
        if isinstance(item, ExecutionReport) and item.client_order_id == client_order_id
    ]


def _limit(
    side: Side, price: Decimal, quantity: Decimal = LOT, tif: TimeInForce = TimeInForce.GTC
) -> OrderTicket:
    return OrderTicket(
        symbol=SYMBOL, side=side, quantity=quantity, order_type=OrderType.LIMIT,
        limit_price=price, time_in_force=tif,
    )  # fmt: skip


def _through_price(sim: Simulator, minutes: int) -> Decimal:
    """A buy limit below the bid that the next ``minutes`` bars trade through."""
    data = sim.replay.series[SYMBOL]
    first = data.index_at(sim.now_ms())
    low = min(data.low[first : first + minutes])
    _, bid, _ = sim.engine.book(SYMBOL)
    price = Decimal(repr(low)).quantize(Decimal("0.01")) + Decimal("0.01")
    assert price < bid
    return price


async def test_a_resting_order_is_reported_as_its_query_and_trades_say() -> None:
    async with (
        run_simulator(paused()) as sim,
        rest_for(sim) as rest,
        _user_stream(sim, rest) as stream,
    ):
        reader = await _started(sim, stream)
        # Large enough to fill in parts: each trade lends it a share of its volume.
        await rest.new_order(_limit(Side.BUY, _through_price(sim, 5), Decimal(1)), "rest-1")
        await sim.advance(5 * MINUTE)
        info = await rest.query_order(SYMBOL, "rest-1")
        expected = order_reports(info, await rest.my_trades(SYMBOL, order_id=info.order_id))
        await wait_until(
            lambda: len(_reports(reader.items, "rest-1")) == len(expected), "the reports"
        )
        account = await rest.account()
        await reader.stop()
    reports = _reports(reader.items, "rest-1")
    assert reports == expected
    assert [r.status for r in reports][:2] == [OrderStatus.ACCEPTED, OrderStatus.PARTIALLY_FILLED]
    assert all(r.liquidity is Liquidity.MAKER for r in reports[1:])
    positions = reader.of_type(AccountPosition)
    latest: dict[str, tuple[Decimal, Decimal]] = {}
    for position in positions:
        latest.update((a, (b.free, b.locked)) for a, b in position.balances.items())
    assert latest == {
        row.asset: (row.free, row.locked) for row in account.balances if row.asset in latest
    }
    assert set(latest) == {"BTC", "USDT"}
    assert reader.items[0] == UserStreamConnected(
        ts=reader.items[0].ts, venue="binance", reconnect=False, listen_key_changed=False,
        connections=1,
    )  # fmt: skip


async def test_a_market_order_is_reported_as_its_full_response_says() -> None:
    async with (
        run_simulator(paused()) as sim,
        rest_for(sim) as rest,
        _user_stream(sim, rest) as stream,
    ):
        reader = await _started(sim, stream)
        ticket = OrderTicket(symbol=SYMBOL, side=Side.BUY, quantity=Decimal("0.5"))
        response = await rest.new_order(ticket, "mkt-1")
        expected = execution_reports(response)
        await wait_until(lambda: len(_reports(reader.items, "mkt-1")) == 2, "the reports")
        await reader.stop()
    assert _reports(reader.items, "mkt-1") == expected
    assert [r.trade_id for r in expected] == ["", str(response.fills[0].trade_id)]


async def test_a_cancel_names_the_order_by_its_own_id_and_an_ioc_expires() -> None:
    async with (
        run_simulator(paused()) as sim,
        rest_for(sim) as rest,
        _user_stream(sim, rest) as stream,
    ):
        reader = await _started(sim, stream)
        _, bid, _ = sim.engine.book(SYMBOL)
        await rest.new_order(_limit(Side.BUY, bid - 500), "gtc-1")
        canceled = await rest.cancel_order(SYMBOL, "gtc-1")
        await rest.new_order(_limit(Side.BUY, bid - 500, tif=TimeInForce.IOC), "ioc-1")
        await wait_until(lambda: len(_reports(reader.items, "ioc-1")) == 2, "the IOC's end")
        queried = {cid: await rest.query_order(SYMBOL, cid) for cid in ("gtc-1", "ioc-1")}
        await reader.stop()
    assert canceled.client_order_id != "gtc-1"  # the cancel's own id, Binance's ``c``
    for client_id, info in queried.items():
        assert _reports(reader.items, client_id) == order_reports(info, [])
    gtc, ioc = _reports(reader.items, "gtc-1"), _reports(reader.items, "ioc-1")
    assert [(r.status, r.reason) for r in gtc] == [
        (OrderStatus.ACCEPTED, ""), (OrderStatus.CANCELED, "LIMIT GTC CANCELED")
    ]  # fmt: skip
    assert [(r.status, r.reason) for r in ioc] == [
        (OrderStatus.ACCEPTED, ""), (OrderStatus.EXPIRED, "LIMIT IOC EXPIRED")
    ]  # fmt: skip


async def test_the_order_manager_takes_the_stream_with_the_full_response_without_a_doubt() -> None:
    """A gateway hands the order manager the FULL answer's reports and then the stream's:
    every trade counted once, every transition legal, nothing to alert about."""
    out: list[Message] = []
    manager = OrderManager()
    async with (
        run_simulator(paused()) as sim,
        rest_for(sim) as rest,
        _user_stream(sim, rest) as stream,
    ):
        manager.attach(out.append, SimClock(sim.now_ms() * 1_000_000))
        reader = await _started(sim, stream)
        ticket = _limit(Side.BUY, _through_price(sim, 5), Decimal(1))
        intent = OrderIntent(ts=sim.now_ms() * 1_000_000, strategy="sma_cross", ticket=ticket)
        manager.on_order_request(OrderRequest(ts=intent.ts, intent=intent))
        submit = out[-1]
        assert isinstance(submit, SubmitOrder)
        response = await rest.new_order(submit.ticket, submit.client_order_id)
        await sim.advance(5 * MINUTE)
        info = await rest.query_order(SYMBOL, submit.client_order_id)
        trades = await rest.my_trades(SYMBOL, order_id=info.order_id)
        expected = len(order_reports(info, trades))
        await wait_until(
            lambda: len(_reports(reader.items, submit.client_order_id)) == expected, "reports"
        )
        await reader.stop()
    with capture_logs() as logs:
        for report in [*execution_reports(response), *_reports(reader.items, info.client_order_id)]:
            manager.on_execution_report(report)
    fills = [m for m in out if isinstance(m, Fill)]
    assert [f.trade_id for f in fills] == [str(t.id) for t in trades]
    assert fills[-1].cumulative_quantity == info.executed_qty
    assert sum(f.fee for f in fills) == sum(t.commission for t in trades)
    assert len([m for m in out if isinstance(m, OrderAccepted)]) == 1
    assert not [m for m in out if isinstance(m, Alert)]
    assert not [e for e in logs if e["log_level"] in ("warning", "error")]
    order = manager.orders[submit.client_order_id]
    expected_status = (
        OrderStatus.FILLED if info.executed_qty == ticket.quantity else OrderStatus.PARTIALLY_FILLED
    )
    assert order.status is expected_status


async def test_after_a_lost_connection_the_marker_comes_first_and_rest_has_the_rest() -> None:
    # Cut the user stream after two events: an order's NEW and TRADE (its balances are lost).
    cut = FaultRule(kind="ws_disconnect", every_messages=2, streams=("user",))
    plan = FaultPlan(seed=1, rules=(cut,))
    gate = Gate()
    async with (
        run_simulator(paused(faults=plan)) as sim,
        rest_for(sim) as rest,
        _user_stream(sim, rest, sleep=gate) as stream,
    ):
        reader = await _started(sim, stream)
        market = OrderTicket(symbol=SYMBOL, side=Side.BUY, quantity=LOT)
        await rest.new_order(market, "seen-1")
        await wait_until(lambda: gate.waiting == 1, "the reconnect's backoff")
        missed = await rest.new_order(market, "missed-1")  # nobody is listening now
        gate.open()
        await wait_until(lambda: len(reader.of_type(UserStreamConnected)) == 2, "the marker")
        # What a gateway does on the marker: ask for trades after the last one it has.
        last_seen = max(int(r.trade_id) for r in reader.of_type(ExecutionReport) if r.trade_id)
        caught_up = await rest.my_trades(SYMBOL, from_id=last_seen + 1)
        await reader.stop()
    assert [type(item).__name__ for item in reader.items] == [
        "UserStreamConnected", "ExecutionReport", "ExecutionReport", "UserStreamConnected"
    ]  # fmt: skip
    marker = reader.items[-1]
    assert isinstance(marker, UserStreamConnected)
    assert (marker.reconnect, marker.listen_key_changed, marker.connections) == (True, False, 2)
    assert not _reports(reader.items, "missed-1")
    assert [t.id for t in caught_up] == [fill.trade_id for fill in missed.fills]
    assert stream.statistics().reconnects == 1


class _SpyRest(BinanceRest):
    """Records keepalives; fails the next ones with the errors queued in ``failures``."""

    def __init__(self, sim: Simulator) -> None:
        credentials = Credentials(sim.api_key, HmacSigner(sim.api_secret))
        super().__init__(sim.url, credentials=credentials)
        self.keepalives: list[str] = []
        self.failures: list[Exception] = []

    async def keepalive_user_stream(self, listen_key: str) -> None:
        self.keepalives.append(listen_key)
        if self.failures:
            raise self.failures.pop(0)
        await super().keepalive_user_stream(listen_key)


async def test_the_listen_key_is_kept_alive_and_retried_sooner_after_a_failure() -> None:
    ticker = Ticker()
    async with run_simulator(paused()) as sim, _SpyRest(sim) as rest:
        async with _user_stream(sim, rest, keepalive_sleep=ticker) as stream:
            reader = await _started(sim, stream)
            key = stream.listen_key
            ticker.tick()
            await wait_until(lambda: stream.statistics().keepalives == 1, "a keepalive")
            rest.failures.append(VenueUnavailable("PUT /api/v3/userDataStream", "busy"))
            ticker.tick()
            await wait_until(lambda: len(ticker.calls) == 3, "the retry's wait")
            ticker.tick()
            await wait_until(lambda: stream.statistics().keepalives == 2, "the retry")
            await reader.stop()
        assert sim.hub.active_listen_key() is None  # closed on the way out
    assert rest.keepalives == [key, key, key]
    assert ticker.calls[:4] == [1800.0, 1800.0, 60.0, 1800.0]
    stats = stream.statistics()
    assert (stats.keepalive_failures, stats.reconnects) == (1, 0)


async def test_a_listen_key_binance_no_longer_has_is_replaced_through_a_reconnect() -> None:
    ticker = Ticker()
    async with (
        run_simulator(paused()) as sim,
        _SpyRest(sim) as rest,
        _user_stream(sim, rest, keepalive_sleep=ticker) as stream,
    ):
        reader = await _started(sim, stream)
        rest.failures.append(BadParameter("PUT", "This listenKey does not exist.", code=-1125))
        ticker.tick()
        await wait_until(lambda: len(reader.of_type(UserStreamConnected)) == 2, "the marker")
        await reader.stop()
    marker = reader.of_type(UserStreamConnected)[-1]
    assert marker.reconnect and marker.connections == 2
    assert stream.statistics().keepalive_failures == 1


async def test_an_expired_listen_key_is_replaced_by_a_new_one() -> None:
    async with (
        run_simulator(paused(listen_key_ttl_seconds=0.3)) as sim,
        rest_for(sim) as rest,
        _user_stream(sim, rest) as stream,
    ):
        reader = await _started(sim, stream)
        first_key = stream.listen_key
        await wait_until(lambda: len(reader.of_type(UserStreamConnected)) >= 2, "the new key")
        await reader.stop()
    marker = reader.of_type(UserStreamConnected)[1]
    assert (marker.reconnect, marker.listen_key_changed) == (True, True)
    stats = stream.statistics()
    assert stats.listen_key_expired >= 1 and stats.listen_keys >= 2
    assert first_key is not None and stats.ignored == 0


async def test_a_planned_rotation_neither_loses_nor_repeats_an_event() -> None:
    async with (
        run_simulator(paused()) as sim,
        rest_for(sim) as rest,
        _user_stream(sim, rest) as stream,
    ):
        reader = await _started(sim, stream)
        stream.rotate()
        await wait_until(lambda: sim.hub.connections_made == 2, "the rotation's connection")
        ticket = OrderTicket(symbol=SYMBOL, side=Side.BUY, quantity=LOT)
        response = await rest.new_order(ticket, "rot-1")
        await rest.new_order(ticket, "rot-2")
        await wait_until(lambda: len(_reports(reader.items, "rot-2")) == 2, "the reports")
        await wait_until(lambda: stream.statistics().planned_reconnects == 1, "the switch")
        await reader.stop()
    assert _reports(reader.items, "rot-1") == execution_reports(response)
    assert len(reader.of_type(AccountPosition)) == 2
    assert len(reader.of_type(UserStreamConnected)) == 1
    assert stream.statistics().reconnects == 0


# --- executionReport events the simulator does not produce -------------------------------


def _event(**changes: Any) -> ExecutionReportPayload:
    fields: dict[str, Any] = {
        "event_time": 2, "symbol": SYMBOL, "client_order_id": "c-1", "side": "SELL",
        "order_type": "LIMIT", "time_in_force": "IOC", "quantity": Decimal(2),
        "price": Decimal(100), "execution_type": "TRADE", "order_status": "EXPIRED",
        "order_id": 7, "last_quantity": Decimal(1), "cumulative_quantity": Decimal(1),
        "last_price": Decimal(100), "commission": Decimal("0.1"), "commission_asset": "USDT",
        "transaction_time": 1, "trade_id": 99, "is_maker": False,
    }  # fmt: skip
    fields.update(changes)
    return ExecutionReportPayload(**fields)


def test_a_trade_that_ends_the_order_is_its_fill_then_its_ending() -> None:
    fill, ending = reports_from_event(_event())
    assert (fill.status, fill.trade_id, fill.last_quantity) == (
        OrderStatus.PARTIALLY_FILLED, "99", Decimal(1)
    )  # fmt: skip
    assert (ending.status, ending.reason, ending.cumulative_quantity) == (
        OrderStatus.EXPIRED, "LIMIT IOC EXPIRED", Decimal(1)
    )  # fmt: skip
    assert fill.ts == ending.ts == 1_000_000


_S = OrderStatus


@pytest.mark.parametrize(
    ("execution_type", "status", "reason", "expected"),
    [
        ("REJECTED", "REJECTED", "INSUFFICIENT_BALANCE", [(_S.REJECTED, "INSUFFICIENT_BALANCE")]),
        ("TRADE_PREVENTION", "EXPIRED_IN_MATCH", "", [(_S.EXPIRED, "LIMIT IOC EXPIRED_IN_MATCH")]),
        ("REPLACED", "PARTIALLY_FILLED", "NONE", []),
        ("CANCELED", "CANCELED", "NONE", [(_S.CANCELED, "LIMIT IOC CANCELED")]),
    ],
)  # fmt: skip
def test_events_without_a_trade_map_to_how_the_order_ended(
    execution_type: str, status: str, reason: str, expected: list[tuple[OrderStatus, str]]
) -> None:
    event = _event(
        execution_type=execution_type, order_status=status, reject_reason=reason,
        last_quantity=Decimal(0), trade_id=-1, original_client_order_id="orig-1",
    )  # fmt: skip
    reports = reports_from_event(event)
    assert [(r.status, r.reason) for r in reports] == expected
    assert all(r.client_order_id == "orig-1" and r.trade_id == "" for r in reports)


async def test_a_stream_without_an_api_key_fails_at_once() -> None:
    async with run_simulator(paused()) as sim, BinanceRest(sim.url) as rest:
        stream = _user_stream(sim, rest, close_listen_key=False)
        with pytest.raises(Unauthorized):
            async for _ in stream:
                pass
        await stream.aclose()
