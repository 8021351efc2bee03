"""The order manager's snapshot: a restored order manager decides exactly as the original."""

from __future__ import annotations

from decimal import Decimal

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from actors.clock import SimClock
from actors.messages import (
    Cancel,
    CancelAll,
    ExecutionReport,
    Message,
    OrderIntent,
    OrderRequest,
    OrderStatus,
    OrderStatusReport,
    OrderTicket,
    OrderType,
    Side,
    SubmitOrder,
    encode,
)
from actors.order_manager import OrderManager, OrderManagerState

START = 1_700_000_000_000_000_000
SYMBOLS = ("BTCUSDT", "ETHUSDT")
ENCODER = msgspec.msgpack.Encoder(decimal_format="string")
DECODER = msgspec.msgpack.Decoder(OrderManagerState)

Action = tuple[object, ...]


def _manager(now: int = START) -> tuple[OrderManager, list[Message]]:
    out: list[Message] = []
    manager = OrderManager()
    manager.attach(out.append, SimClock(now))
    return manager, out


def _through_msgpack(state: OrderManagerState) -> OrderManagerState:
    return DECODER.decode(ENCODER.encode(state))


def _request(ts: int, strategy: str, symbol: str, quantity: int) -> OrderRequest:
    ticket = OrderTicket(
        symbol=symbol,
        side=Side.BUY,
        quantity=Decimal(quantity),
        order_type=OrderType.LIMIT,
        limit_price=Decimal("100"),
    )
    return OrderRequest(ts=ts, intent=OrderIntent(ts=ts, strategy=strategy, ticket=ticket))


def _report(
    ts: int, client_id: str, status: OrderStatus, quantity: str, trade_id: str
) -> ExecutionReport:
    return ExecutionReport(
        ts=ts,
        venue="backtest",
        client_order_id=client_id,
        venue_order_id="v-" + client_id,
        symbol="BTCUSDT",
        side=Side.BUY,
        status=status,
        last_price=Decimal("100.5"),
        last_quantity=Decimal(quantity),
        cumulative_quantity=Decimal(0),
        fee=Decimal("0.01"),
        fee_asset="USDT",
        trade_id=trade_id,
    )


def _status_report(
    ts: int, client_id: str, status: OrderStatus, filled: str, found: bool
) -> OrderStatusReport:
    return OrderStatusReport(
        ts=ts,
        venue="backtest",
        client_order_id=client_id,
        venue_order_id="v-" + client_id,
        symbol="BTCUSDT",
        side=Side.BUY,
        status=status,
        quantity=Decimal(3),
        filled_quantity=Decimal(filled),
        found=found,
    )


def _apply(manager: OrderManager, step: int, action: Action) -> None:
    """Apply one generated action at time START + step. Orders are named by their index
    in creation order (modulo how many exist), so both managers address the same ones."""
    ts = START + step
    clock = manager.clock
    assert isinstance(clock, SimClock)
    clock.advance_to(ts)
    ids = list(manager.orders)
    kind = action[0]
    if kind == "request":
        _, strategy, symbol, quantity, same_ts = action
        manager.on_order_request(_request(START if same_ts else ts, strategy, symbol, quantity))
        return
    if kind == "cancel_all":
        manager.on_cancel_all(CancelAll(ts=ts, symbol=str(action[1])))
        return
    index = action[1]
    assert isinstance(index, int)
    client_id = ids[index % len(ids)] if ids else "unknown"
    if kind == "report":
        _, _, status, quantity, trade_id = action
        manager.on_execution_report(_report(ts, client_id, status, quantity, trade_id))
    elif kind == "cancel":
        manager.on_cancel(Cancel(ts=ts, client_order_id=client_id))
    else:
        _, _, status, filled, found = action
        manager.on_order_status_report(_status_report(ts, client_id, status, filled, found))


_indices = st.integers(min_value=0, max_value=7)
_actions = st.lists(
    st.one_of(
        st.tuples(
            st.just("request"),
            st.sampled_from(["sma_cross", "breakout"]),
            st.sampled_from(SYMBOLS),
            st.integers(min_value=1, max_value=3),
            st.booleans(),
        ),
        st.tuples(
            st.just("report"),
            _indices,
            st.sampled_from(list(OrderStatus)),
            st.sampled_from(["0", "0.5", "1", "2"]),
            st.sampled_from(["", "t1", "t2", "t3", "t4", "t5"]),
        ),
        st.tuples(st.just("cancel"), _indices),
        st.tuples(st.just("cancel_all"), st.sampled_from(["", *SYMBOLS])),
        st.tuples(
            st.just("status"),
            _indices,
            st.sampled_from(list(OrderStatus)),
            st.sampled_from(["0", "1"]),
            st.booleans(),
        ),
    ),
    max_size=50,
)


@settings(max_examples=300, deadline=None)
@given(actions=_actions, cut=st.integers(min_value=0, max_value=50))
def test_restored_manager_continues_exactly_like_the_original(
    actions: list[Action], cut: int
) -> None:
    cut = min(cut, len(actions))
    original, original_out = _manager()
    for step, action in enumerate(actions[:cut]):
        _apply(original, step, action)
    state = original.snapshot()
    decoded = _through_msgpack(state)
    assert decoded == state

    restored, restored_out = _manager(original.clock.now())
    restored.restore(decoded)
    assert restored.snapshot() == state
    del original_out[:]
    for step, action in enumerate(actions[cut:], start=cut):
        _apply(original, step, action)
        _apply(restored, step, action)

    assert [encode(m) for m in restored_out] == [encode(m) for m in original_out]
    assert ENCODER.encode(restored.snapshot()) == ENCODER.encode(original.snapshot())
    assert restored.orders.keys() == original.orders.keys()
    for client_id, order in original.orders.items():
        assert restored.orders[client_id] == order


def _busy_manager() -> OrderManager:
    """Three orders: one filled, one partially filled, one pending cancel."""
    manager, _ = _manager()
    for _ in range(3):
        manager.on_order_request(_request(START, "s", "BTCUSDT", 2))
    done, partial, canceling = manager.orders
    manager.on_execution_report(_report(START, done, OrderStatus.FILLED, "2", "t1"))
    manager.on_execution_report(_report(START, partial, OrderStatus.PARTIALLY_FILLED, "1", "t2"))
    manager.on_execution_report(_report(START, canceling, OrderStatus.ACCEPTED, "0", ""))
    manager.on_cancel(Cancel(ts=START, client_order_id=canceling))
    return manager


def test_snapshot_holds_every_field_of_every_order() -> None:
    manager = _busy_manager()
    state = manager.snapshot()
    assert state.counter == 3
    assert [record.status for record in state.orders] == [
        OrderStatus.FILLED,
        OrderStatus.PARTIALLY_FILLED,
        OrderStatus.PENDING_CANCEL,
    ]
    partial = state.orders[1]
    order = manager.orders[partial.client_order_id]
    assert partial.trade_ids == ("t2",)
    assert partial.history == tuple(order.history)
    assert (partial.filled_quantity, partial.filled_notional, partial.fees) == (
        Decimal(1),
        Decimal("100.5"),
        Decimal("0.01"),
    )
    assert partial.venue_order_id == order.venue_order_id
    assert partial.accepted


def test_restored_counter_gives_the_next_order_a_new_client_id() -> None:
    original = _busy_manager()
    restored, out = _manager()
    restored.restore(_through_msgpack(original.snapshot()))
    restored.on_order_request(_request(START, "s", "BTCUSDT", 1))
    submit = out[-1]
    assert isinstance(submit, SubmitOrder)
    assert submit.client_order_id not in original.orders
    assert len(restored.orders) == 4


def test_restored_manager_refuses_a_trade_it_counted_before_the_snapshot() -> None:
    original = _busy_manager()
    restored, out = _manager()
    restored.restore(_through_msgpack(original.snapshot()))
    partial = list(restored.orders)[1]
    restored.on_execution_report(_report(START, partial, OrderStatus.PARTIALLY_FILLED, "1", "t2"))
    assert out == []
    assert restored.orders[partial].filled_quantity == Decimal(1)


def test_mutating_the_restored_manager_leaves_the_original_and_the_snapshot_alone() -> None:
    original = _busy_manager()
    state = original.snapshot()
    before = ENCODER.encode(state)
    restored, _ = _manager()
    restored.restore(state)  # not through msgpack: nothing may be shared with the original
    _, partial, canceling = restored.orders
    restored.on_execution_report(_report(START, partial, OrderStatus.FILLED, "1", "t9"))
    restored.on_execution_report(_report(START, canceling, OrderStatus.CANCELED, "0", ""))
    restored.on_order_request(_request(START, "s", "ETHUSDT", 1))

    assert ENCODER.encode(state) == before
    assert ENCODER.encode(original.snapshot()) == before
    assert original.orders[partial].trade_ids == {"t2"}
    assert original.orders[partial].status is OrderStatus.PARTIALLY_FILLED
    assert len(original.orders[canceling].history) == 3


def test_mutating_the_original_after_a_snapshot_leaves_the_snapshot_alone() -> None:
    manager = _busy_manager()
    state = manager.snapshot()
    before = ENCODER.encode(state)
    _, partial, _ = manager.orders
    manager.on_execution_report(_report(START, partial, OrderStatus.FILLED, "1", "t9"))
    assert ENCODER.encode(state) == before
    assert manager.snapshot() != state


def test_a_finished_order_is_recorded_once_and_reused_by_later_snapshots() -> None:
    manager = _busy_manager()
    done = next(iter(manager.orders))
    first = manager.snapshot()
    second = manager.snapshot()
    assert second.orders[0] is first.orders[0]
    assert first.orders[0].client_order_id == done
    assert second.orders[1] is not first.orders[1]  # open: rebuilt, it may have moved
