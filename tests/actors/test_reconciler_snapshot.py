"""The reconciler's snapshot: a restored reconciler reports exactly as the original."""

from __future__ import annotations

from decimal import Decimal

import msgspec
import pytest

from actors.actor import Actor
from actors.clock import SimClock
from actors.messages import (
    CancelOrder,
    EndOfData,
    Message,
    OrderAccepted,
    OrderCanceled,
    OrderStatus,
    OrderStatusReport,
    OrderTicket,
    Recovered,
    Side,
    SubmitOrder,
    TimerFired,
    VenueSnapshot,
    encode,
)
from actors.reconciler import OpenOrder, Reconciler, ReconcilerState
from tests.factories import make_fill, position_changed

MINUTE = 60_000_000_000
HOUR = 60 * MINUTE
JAN_1 = 1_704_067_200 * 1_000_000_000  # 2024-01-01T00:00:00Z
VENUE = "backtest"
BTC = "BTCUSDT"
ENCODER = msgspec.msgpack.Encoder(decimal_format="string")
DECODER = msgspec.msgpack.Decoder(ReconcilerState)


def _reconciler() -> tuple[Reconciler, list[Message]]:
    out: list[Message] = []
    reconciler = Reconciler(
        venue=VENUE,
        quote_asset="USDT",
        base_assets={BTC: "BTC"},
        initial_balances={"USDT": Decimal("10000")},
        interval_ns=HOUR,
    )
    reconciler.attach(out.append, SimClock(JAN_1))
    return reconciler, out


def _through_msgpack(state: ReconcilerState) -> ReconcilerState:
    return DECODER.decode(ENCODER.encode(state))


def _deliver(actor: Actor, message: Message) -> None:
    actor.handlers()[type(message)](message)


def _submit(client_id: str, quantity: str, minute: int) -> SubmitOrder:
    return SubmitOrder(
        ts=JAN_1 + minute * MINUTE,
        client_order_id=client_id,
        strategy="s",
        ticket=OrderTicket(symbol=BTC, side=Side.BUY, quantity=Decimal(quantity)),
    )


def _fill(client_id: str, trade_id: str, quantity: str, cumulative: str, minute: int) -> Message:
    return make_fill(
        Side.BUY,
        quantity,
        "100",
        ts=JAN_1 + minute * MINUTE,
        client_order_id=client_id,
        venue_order_id="v-" + client_id,
        trade_id=trade_id,
        cumulative_quantity=cumulative,
        fee="0.1",
    )


def _open(client_id: str, quantity: str, filled: str) -> OrderStatusReport:
    return OrderStatusReport(
        ts=JAN_1,
        venue=VENUE,
        client_order_id=client_id,
        venue_order_id="v-" + client_id,
        symbol=BTC,
        side=Side.BUY,
        status=OrderStatus.PARTIALLY_FILLED,
        quantity=Decimal(quantity),
        filled_quantity=Decimal(filled),
    )


def _session() -> list[Message]:
    """Orders in every state the reconciler tells apart, two snapshots (the first with a
    trade we hold no fill for and a fill it does not list), and two recoveries."""
    return [
        _submit("a", "1", 1),
        _submit("b", "0.5", 1),
        _submit("c", "2", 2),
        _submit("d", "1", 2),
        OrderAccepted(ts=JAN_1 + 3 * MINUTE, client_order_id="a", venue_order_id="v-a", symbol=BTC),
        _fill("a", "t1", "0.4", "0.4", 4),
        position_changed("0.4", ts=JAN_1 + 4 * MINUTE),
        CancelOrder(ts=JAN_1 + 5 * MINUTE, client_order_id="c", symbol=BTC),
        CancelOrder(ts=JAN_1 + 5 * MINUTE, client_order_id="a", symbol=BTC),
        TimerFired(ts=JAN_1 + HOUR, owner="reconciler", name="reconcile"),
        _fill("b", "t2", "0.5", "0.5", 61),  # arrives while the request is out
        position_changed("0.9", ts=JAN_1 + 61 * MINUTE),
        VenueSnapshot(
            ts=JAN_1 + 62 * MINUTE,
            venue=VENUE,
            balances={"USDT": Decimal("9959.9"), "BTC": Decimal("0.4")},
            open_orders=(_open("a", "1", "0.4"),),
            trade_ids=("t9",),
            since_trade=0,
            trade_cursor=1,
        ),
        Recovered(ts=JAN_1 + 63 * MINUTE, session="s1", snapshot_seq=10, last_seq=20),
        OrderCanceled(ts=JAN_1 + 64 * MINUTE, client_order_id="c", symbol=BTC),
        _fill("e", "t9", "0.1", "0.1", 65),
        EndOfData(ts=JAN_1 + 2 * HOUR),
        VenueSnapshot(
            ts=JAN_1 + 2 * HOUR,
            venue=VENUE,
            balances={"USDT": Decimal("9899.8"), "BTC": Decimal("0.9")},
            open_orders=(_open("a", "1", "0.4"),),
            trade_ids=("t1", "t2"),
            since_trade=1,
            trade_cursor=3,
        ),
        Recovered(ts=JAN_1 + 3 * HOUR, session="s1", snapshot_seq=30, last_seq=40),
    ]


SESSION = _session()


@pytest.mark.parametrize("cut", range(len(SESSION) + 1))
def test_restored_reconciler_continues_exactly_like_the_original(cut: int) -> None:
    original, original_out = _reconciler()
    for message in SESSION[:cut]:
        _deliver(original, message)
    state = original.snapshot()
    decoded = _through_msgpack(state)
    assert decoded == state

    restored, restored_out = _reconciler()
    restored.restore(decoded)
    assert restored.snapshot() == state
    del original_out[:]
    for message in SESSION[cut:]:
        _deliver(original, message)
        _deliver(restored, message)

    assert [encode(m) for m in restored_out] == [encode(m) for m in original_out]
    assert ENCODER.encode(restored.snapshot()) == ENCODER.encode(original.snapshot())
    assert restored.expected_balances() == original.expected_balances()


def test_the_session_reports_drift_and_queries_the_unresolved_orders() -> None:
    """The scenario above is only worth cutting if it exercises what the state holds."""
    reconciler, out = _reconciler()
    for message in SESSION:
        _deliver(reconciler, message)
    kinds = [type(message).__name__ for message in out]
    assert kinds.count("DriftDetected") == 2
    queried = [m.client_order_id for m in out if type(m).__name__ == "QueryOrder"]
    assert queried == ["a", "c", "d", "a", "d"]
    assert reconciler.trade_cursor == 3


def test_snapshot_holds_the_view_the_cursor_and_the_unconfirmed_fills() -> None:
    reconciler, _ = _reconciler()
    for message in SESSION[:13]:
        _deliver(reconciler, message)
    state = reconciler.snapshot()
    assert state.orders == {
        "a": OpenOrder(
            quantity=Decimal(1),
            filled=Decimal("0.4"),
            status=OrderStatus.PARTIALLY_FILLED,
            cancel_requested=True,
        ),
        "c": OpenOrder(
            quantity=Decimal(2), filled=Decimal(0), status=OrderStatus.SUBMITTED,
            cancel_requested=True,
        ),
        "d": OpenOrder(
            quantity=Decimal(1), filled=Decimal(0), status=OrderStatus.SUBMITTED,
            cancel_requested=False,
        ),
    }  # fmt: skip
    assert state.trade_keys == ((BTC, "t1"), (BTC, "t2"))
    assert state.unconfirmed == (("t1", 1), ("t2", 2))
    assert state.missing == ("t9",)
    assert (state.arrivals, state.due_through, state.trade_cursor) == (2, 1, 1)
    assert state.reports == 1
    assert state.drifting
    assert state.last_drift is not None


def test_mutating_the_restored_reconciler_leaves_the_original_and_the_snapshot_alone() -> None:
    original, _ = _reconciler()
    for message in SESSION[:9]:
        _deliver(original, message)
    state = original.snapshot()
    before = ENCODER.encode(state)
    restored, _ = _reconciler()
    restored.restore(state)  # not through msgpack: nothing may be shared with the original
    for message in SESSION[9:]:
        _deliver(restored, message)
    _deliver(restored, _fill("a", "t7", "0.6", "1", 200))

    assert ENCODER.encode(state) == before
    assert ENCODER.encode(original.snapshot()) == before
    assert original.unresolved_orders() == ["a", "b", "c", "d"]
