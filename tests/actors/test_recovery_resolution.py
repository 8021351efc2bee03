"""Orders whose outcome a crash hid, resolved after recovery by the reconciler's
``QueryOrder`` and the order manager's reading of the venue's answer.

A session runs the order manager and the reconciler against a scripted venue; the
"crash" is the venue's reports being lost from some point on (the venue acted, we never
heard). The two actors are then rebuilt from their snapshots (through msgpack), the
session publishes ``Recovered``, and the venue answers each query the way the catalog
says: the order's execution reports so far, then an ``OrderStatusReport``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TypeVar

import msgspec
from structlog.testing import capture_logs

from actors.actor import Actor
from actors.bus import Bus
from actors.clock import SimClock
from actors.messages import (
    ALL_MESSAGES,
    Cancel,
    CancelOrder,
    ExecutionReport,
    Fill,
    Message,
    OrderAccepted,
    OrderCanceled,
    OrderIntent,
    OrderRejected,
    OrderRequest,
    OrderStatus,
    OrderStatusReport,
    OrderTicket,
    OrderType,
    QueryOrder,
    Recovered,
    Side,
    SubmitOrder,
)
from actors.order_manager import OrderManager
from actors.reconciler import Reconciler
from actors.scheduler import DeterministicScheduler

START = 1_704_067_200 * 1_000_000_000
VENUE = "backtest"
BTC = "BTCUSDT"
ENCODER = msgspec.msgpack.Encoder(decimal_format="string")
M = TypeVar("M", bound=Message)


class ScriptedVenue(Actor):
    """Accepts every order it receives and fills it with ``fills`` (quantities, in order)
    at once. ``delivered`` is how many of its reports still reach us before the crash
    (None: all); ``receives`` is False while submissions are lost before reaching it.
    ``replays`` is False for a venue that answers a query with the status report only."""

    name = "venue"

    def __init__(self, fills: tuple[str, ...] = ()) -> None:
        super().__init__()
        self.fills = fills
        self.delivered: int | None = None
        self.receives = True
        self.replays = True
        self.submitted: list[str] = []
        self._tickets: dict[str, OrderTicket] = {}
        self._reports: dict[str, list[ExecutionReport]] = {}

    def on_submit_order(self, msg: SubmitOrder) -> None:
        if not self.receives:
            return
        client_id = msg.client_order_id
        self.submitted.append(client_id)
        self._tickets[client_id] = msg.ticket
        self._reports[client_id] = []
        self._emit(client_id, OrderStatus.ACCEPTED)
        filled = Decimal(0)
        for number, quantity in enumerate(self.fills, start=1):
            filled += Decimal(quantity)
            status = (
                OrderStatus.FILLED
                if filled == msg.ticket.quantity
                else OrderStatus.PARTIALLY_FILLED
            )
            self._emit(client_id, status, Decimal(quantity), filled, f"{client_id}-t{number}")

    def on_cancel_order(self, msg: CancelOrder) -> None:
        if self._status(msg.client_order_id) in (
            OrderStatus.ACCEPTED,
            OrderStatus.PARTIALLY_FILLED,
        ):
            self._emit(msg.client_order_id, OrderStatus.CANCELED)

    def on_query_order(self, msg: QueryOrder) -> None:
        client_id = msg.client_order_id
        reports = self._reports.get(client_id)
        if reports is None:
            self.publish(self._status_report(client_id, msg.ts, found=False))
            return
        if self.replays:
            for report in reports:
                self.publish(report)
        self.publish(self._status_report(client_id, msg.ts, found=True))

    def _emit(
        self,
        client_id: str,
        status: OrderStatus,
        quantity: Decimal = Decimal(0),
        filled: Decimal = Decimal(0),
        trade_id: str = "",
    ) -> None:
        ticket = self._tickets[client_id]
        report = ExecutionReport(
            ts=self.clock.now(),
            venue=VENUE,
            client_order_id=client_id,
            venue_order_id="v-" + client_id,
            symbol=ticket.symbol,
            side=ticket.side,
            status=status,
            last_price=Decimal("100") if quantity else Decimal(0),
            last_quantity=quantity,
            cumulative_quantity=filled,
            fee_asset="USDT",
            trade_id=trade_id,
        )
        self._reports[client_id].append(report)
        if self.delivered is None:
            self.publish(report)
        elif self.delivered > 0:
            self.delivered -= 1
            self.publish(report)

    def _status(self, client_id: str) -> OrderStatus | None:
        reports = self._reports.get(client_id)
        return reports[-1].status if reports else None

    def _status_report(self, client_id: str, ts: int, *, found: bool) -> OrderStatusReport:
        ticket = self._tickets.get(client_id)
        filled = sum(
            (report.last_quantity for report in self._reports.get(client_id, ())), Decimal(0)
        )
        return OrderStatusReport(
            ts=ts,
            venue=VENUE,
            client_order_id=client_id,
            venue_order_id="v-" + client_id if found else "",
            symbol=ticket.symbol if ticket else "",
            side=ticket.side if ticket else Side.BUY,
            status=self._status(client_id) or OrderStatus.NEW,
            quantity=ticket.quantity if ticket else Decimal(0),
            filled_quantity=filled,
            found=found,
        )


def _reconciler() -> Reconciler:
    return Reconciler(
        venue=VENUE,
        quote_asset="USDT",
        base_assets={BTC: "BTC"},
        initial_balances={"USDT": Decimal("10000")},
        interval_ns=0,
    )


def _session(
    manager: OrderManager, reconciler: Reconciler, venue: ScriptedVenue, ts: int
) -> tuple[DeterministicScheduler, list[Message]]:
    """The three on one bus, and every message published on it, in order."""
    bus = Bus([manager, reconciler, venue])
    seen: list[Message] = []
    for message_type in ALL_MESSAGES:
        bus.subscribe(message_type, seen.append, "tap")
    scheduler = DeterministicScheduler(bus, SimClock(ts))
    scheduler.start()
    return scheduler, seen


def _request(quantity: str = "1") -> OrderRequest:
    ticket = OrderTicket(
        symbol=BTC,
        side=Side.BUY,
        quantity=Decimal(quantity),
        order_type=OrderType.LIMIT,
        limit_price=Decimal("100"),
    )
    return OrderRequest(ts=START, intent=OrderIntent(ts=START, strategy="s", ticket=ticket))


def _through_msgpack(actor: OrderManager | Reconciler) -> msgspec.Struct:
    assert actor.state_type is not None
    return msgspec.msgpack.Decoder(actor.state_type).decode(ENCODER.encode(actor.snapshot()))


def _recover(
    manager: OrderManager, reconciler: Reconciler, venue: ScriptedVenue
) -> tuple[OrderManager, list[Message]]:
    """Rebuild both actors from their snapshots, publish ``Recovered`` with the venue
    connected again, and return the new order manager and what the bus carried."""
    new_manager, new_reconciler = OrderManager(), _reconciler()
    new_manager.restore(_through_msgpack(manager))
    new_reconciler.restore(_through_msgpack(reconciler))
    venue.delivered = None
    venue.receives = True
    scheduler, seen = _session(new_manager, new_reconciler, venue, START + 1000)
    scheduler.publish(Recovered(ts=START + 1000, session="s1", snapshot_seq=1, last_seq=2))
    assert new_reconciler.unresolved_orders() == []
    return new_manager, seen


def _crashed(
    venue: ScriptedVenue, quantity: str = "1"
) -> tuple[OrderManager, Reconciler, list[Message], str]:
    manager, reconciler = OrderManager(), _reconciler()
    scheduler, seen = _session(manager, reconciler, venue, START)
    scheduler.publish(_request(quantity))
    return manager, reconciler, seen, next(iter(manager.orders))


def _of_type(seen: list[Message], kind: type[M]) -> list[M]:
    return [message for message in seen if isinstance(message, kind)]


def test_submitted_order_the_venue_accepted_is_accepted_after_recovery() -> None:
    venue = ScriptedVenue()
    venue.delivered = 0  # the acknowledgement was lost
    manager, reconciler, _, client_id = _crashed(venue)
    assert manager.orders[client_id].status is OrderStatus.SUBMITTED

    recovered, seen = _recover(manager, reconciler, venue)
    assert [type(m) for m in seen] == [
        Recovered,
        QueryOrder,
        ExecutionReport,
        OrderStatusReport,
        OrderAccepted,
    ]
    order = recovered.orders[client_id]
    assert order.status is OrderStatus.ACCEPTED
    assert order.venue_order_id == "v-" + client_id
    assert _of_type(seen, SubmitOrder) == []


def test_submitted_order_the_venue_filled_gets_its_fills_before_the_status() -> None:
    venue = ScriptedVenue(fills=("0.4", "0.6"))
    venue.delivered = 0
    manager, reconciler, _, client_id = _crashed(venue)

    with capture_logs() as logs:
        recovered, seen = _recover(manager, reconciler, venue)
    fills = _of_type(seen, Fill)
    assert [(f.trade_id, f.quantity) for f in fills] == [
        (client_id + "-t1", Decimal("0.4")),
        (client_id + "-t2", Decimal("0.6")),
    ]
    assert len(_of_type(seen, OrderAccepted)) == 1
    # The order manager held both fills when it read the status report.
    assert [e for e in logs if e["log_level"] not in ("debug", "info")] == []
    order = recovered.orders[client_id]
    assert order.status is OrderStatus.FILLED
    assert order.filled_quantity == Decimal(1)


def test_fills_counted_before_the_crash_are_not_counted_again() -> None:
    venue = ScriptedVenue(fills=("0.4",))
    manager, reconciler, _, client_id = _crashed(venue)
    assert manager.orders[client_id].status is OrderStatus.PARTIALLY_FILLED
    venue.delivered = 0
    scheduler, _ = _session(manager, reconciler, venue, START + 1)
    scheduler.publish(Cancel(ts=START + 1, client_order_id=client_id))

    with capture_logs() as logs:
        recovered, seen = _recover(manager, reconciler, venue)
    # Replayed: the acknowledgement and the fill (both known), then the cancel (news).
    assert [r.status for r in _of_type(seen, ExecutionReport)] == [
        OrderStatus.ACCEPTED,
        OrderStatus.PARTIALLY_FILLED,
        OrderStatus.CANCELED,
    ]
    assert _of_type(seen, Fill) == []
    assert _of_type(seen, OrderAccepted) == []
    assert len(_of_type(seen, OrderCanceled)) == 1
    order = recovered.orders[client_id]
    assert order.status is OrderStatus.CANCELED
    assert order.filled_quantity == Decimal("0.4")
    assert [e for e in logs if e["log_level"] not in ("debug", "info")] == []


def test_order_the_venue_never_received_is_rejected_after_recovery() -> None:
    venue = ScriptedVenue()
    venue.receives = False  # the process died after the journal, before the send
    manager, reconciler, _, client_id = _crashed(venue)

    recovered, seen = _recover(manager, reconciler, venue)
    assert _of_type(seen, OrderRejected) == [
        OrderRejected(
            ts=START + 1000,
            client_order_id=client_id,
            symbol=BTC,
            reason="unknown to the venue after recovery",
        )
    ]
    assert recovered.orders[client_id].status is OrderStatus.REJECTED
    assert venue.submitted == []


def test_pending_cancel_the_venue_carried_out_is_canceled_after_recovery() -> None:
    venue = ScriptedVenue()
    manager, reconciler, _, client_id = _crashed(venue)
    assert manager.orders[client_id].status is OrderStatus.ACCEPTED
    venue.delivered = 0  # the cancel's confirmation is lost
    scheduler, _ = _session(manager, reconciler, venue, START + 1)
    scheduler.publish(Cancel(ts=START + 1, client_order_id=client_id))
    assert manager.orders[client_id].status is OrderStatus.PENDING_CANCEL

    recovered, seen = _recover(manager, reconciler, venue)
    assert [type(m) for m in seen] == [
        Recovered,
        QueryOrder,
        ExecutionReport,  # ACCEPTED again: ignored
        ExecutionReport,  # CANCELED
        OrderStatusReport,  # queued before the order manager's answer to the report above
        OrderCanceled,
    ]
    assert recovered.orders[client_id].status is OrderStatus.CANCELED


def test_pending_cancel_is_canceled_by_the_status_report_alone() -> None:
    venue = ScriptedVenue()
    manager, reconciler, _, client_id = _crashed(venue)
    venue.delivered = 0
    scheduler, _ = _session(manager, reconciler, venue, START + 1)
    scheduler.publish(Cancel(ts=START + 1, client_order_id=client_id))
    venue.replays = False

    recovered, seen = _recover(manager, reconciler, venue)
    assert [type(m) for m in seen] == [Recovered, QueryOrder, OrderStatusReport, OrderCanceled]
    assert recovered.orders[client_id].status is OrderStatus.CANCELED


def test_no_order_is_ever_submitted_twice_across_a_crash() -> None:
    venue = ScriptedVenue(fills=("1",))
    venue.delivered = 0
    manager, reconciler = OrderManager(), _reconciler()
    scheduler, before = _session(manager, reconciler, venue, START)
    for _ in range(3):  # three orders, all decided at the same instant
        scheduler.publish(_request())

    recovered, seen = _recover(manager, reconciler, venue)
    scheduler, after = _session(recovered, _reconciler(), venue, START + 2000)
    scheduler.publish(_request())  # the next decision, at the same instant again

    submitted = [m.client_order_id for m in _of_type(before + seen + after, SubmitOrder)]
    assert len(submitted) == 4
    assert len(set(submitted)) == 4
    assert _of_type(seen, SubmitOrder) == []
    assert sorted(venue.submitted) == sorted(submitted)
    assert [m.client_order_id for m in _of_type(seen, QueryOrder)] == sorted(submitted[:3])
    assert all(order.status is OrderStatus.FILLED for order in recovered.orders.values())
