"""The order manager: client order ids, the order state machine, fills counted once."""

from __future__ import annotations

import itertools
import re
from decimal import Decimal
from typing import TypeVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from structlog.testing import capture_logs

from actors.clock import SimClock
from actors.messages import (
    Alert,
    Cancel,
    CancelAll,
    CancelOrder,
    ExecutionReport,
    Fill,
    Message,
    OrderAccepted,
    OrderCanceled,
    OrderExpired,
    OrderIntent,
    OrderRejected,
    OrderRequest,
    OrderStatus,
    OrderStatusReport,
    OrderTicket,
    OrderType,
    Side,
    SubmitOrder,
    TimeInForce,
)
from actors.order_manager import TRANSITIONS, OrderManager, Transition, client_order_id

S = OrderStatus
M = TypeVar("M", bound=Message)
START = 1_700_000_000_000_000_000
BINANCE_ID = re.compile(r"^[.A-Z:/a-z0-9_\-]{1,36}$")


def _manager() -> tuple[OrderManager, list[Message]]:
    out: list[Message] = []
    manager = OrderManager()
    manager.attach(out.append, SimClock(START))
    return manager, out


def _request(
    manager: OrderManager,
    out: list[Message],
    quantity: str = "1",
    symbol: str = "BTCUSDT",
    strategy: str = "sma_cross",
    ts: int = START,
    time_in_force: TimeInForce = TimeInForce.GTC,
) -> str:
    ticket = OrderTicket(
        symbol=symbol,
        side=Side.BUY,
        quantity=Decimal(quantity),
        order_type=OrderType.LIMIT,
        limit_price=Decimal("100"),
        time_in_force=time_in_force,
    )
    intent = OrderIntent(ts=ts, strategy=strategy, ticket=ticket)
    manager.on_order_request(OrderRequest(ts=ts, intent=intent))
    submit = out[-1]
    assert isinstance(submit, SubmitOrder)
    return submit.client_order_id


def _report(
    client_id: str,
    status: OrderStatus,
    quantity: str = "0",
    price: str = "100",
    trade_id: str = "",
    cumulative: str = "0",
    fee: str = "0",
    reason: str = "",
    ts: int = START + 1,
) -> ExecutionReport:
    return ExecutionReport(
        ts=ts,
        venue="backtest",
        client_order_id=client_id,
        venue_order_id="v-" + client_id,
        symbol="BTCUSDT",
        side=Side.BUY,
        status=status,
        last_price=Decimal(price),
        last_quantity=Decimal(quantity),
        cumulative_quantity=Decimal(cumulative),
        fee=Decimal(fee),
        fee_asset="USDT",
        trade_id=trade_id,
        reason=reason,
    )


def _statuses(manager: OrderManager, client_id: str) -> list[OrderStatus]:
    history = manager.orders[client_id].history
    return [history[0].previous, *(step.status for step in history)]


def _of_type(out: list[Message], kind: type[M]) -> list[M]:
    return [message for message in out if isinstance(message, kind)]


# --- client order ids -------------------------------------------------------------------


def test_client_order_id_is_readable_when_it_fits() -> None:
    assert client_order_id("sma_cross", "BTCUSDT", 35, 2) == "sma_cross.BTCUSDT.z.2"


@given(
    decision_ts=st.integers(min_value=0, max_value=2**63)
    | st.sampled_from([0, 35, 36, 1295, 1296, 36**3 - 1, 36**3]),
    counter=st.integers(min_value=0, max_value=10**9),
)
def test_client_order_id_fields_are_the_decision_time_and_counter_in_base36(
    decision_ts: int, counter: int
) -> None:
    # The readable fields are what an operator decodes on the venue's page: canonical
    # base 36 (no leading zeros) of the decision time and the counter.
    identifier = client_order_id("s", "BTCUSDT", decision_ts, counter)
    strategy, symbol, ts_field, counter_field = identifier.split(".")
    assert (strategy, symbol) == ("s", "BTCUSDT")
    assert (int(ts_field, 36), int(counter_field, 36)) == (decision_ts, counter)
    assert all(field == "0" or not field.startswith("0") for field in (ts_field, counter_field))


def test_client_order_id_is_deterministic() -> None:
    first = client_order_id("sma_cross", "BTCUSDT", START, 7)
    assert first == client_order_id("sma_cross", "BTCUSDT", START, 7)
    assert BINANCE_ID.match(first)


def test_client_order_id_too_long_is_cut_and_hashed_within_the_limit() -> None:
    long_name = "a_very_long_strategy_name_for_testing"
    first = client_order_id(long_name, "BTCUSDT", START, 1)
    second = client_order_id(long_name, "BTCUSDT", START, 2)
    assert len(first) == 36
    assert first.startswith("a_very_long_strateg")
    assert first != second


def test_client_order_id_with_disallowed_characters_does_not_collide_with_its_cleaned_twin() -> (
    None
):
    dirty = client_order_id("my strategy", "BTC USDT", 1, 1)
    clean = client_order_id("my_strategy", "BTC_USDT", 1, 1)
    assert BINANCE_ID.match(dirty)
    assert dirty != clean


def test_client_order_id_separator_in_names_does_not_collide() -> None:
    assert client_order_id("a.b", "c", 1, 1) != client_order_id("a", "b.c", 1, 1)


def test_client_order_id_refuses_negative_counter() -> None:
    with pytest.raises(ValueError, match="counter"):
        client_order_id("s", "BTCUSDT", 1, -1)


_keys = st.tuples(
    st.text(max_size=40),
    st.text(max_size=20),
    st.integers(min_value=0, max_value=2**63),
    st.integers(min_value=0, max_value=10**9),
)


@given(key=_keys, max_length=st.integers(min_value=14, max_value=64))
def test_client_order_id_stays_in_the_venue_alphabet_and_length(
    key: tuple[str, str, int, int], max_length: int
) -> None:
    identifier = client_order_id(*key, max_length=max_length)
    assert re.fullmatch(r"[.A-Z:/a-z0-9_\-]+", identifier)
    assert len(identifier) <= max_length
    assert identifier == client_order_id(*key, max_length=max_length)


@given(keys=st.lists(_keys, min_size=2, max_size=200, unique=True))
def test_distinct_keys_get_distinct_client_order_ids(keys: list[tuple[str, str, int, int]]) -> None:
    identifiers = {client_order_id(*key) for key in keys}
    assert len(identifiers) == len(keys)


def test_same_message_order_gives_the_same_ids() -> None:
    ids = []
    for _ in range(2):
        manager, out = _manager()
        ids.append([_request(manager, out, ts=START + i) for i in range(3)])
    assert ids[0] == ids[1]
    assert len(set(ids[0])) == 3


# --- legal paths ------------------------------------------------------------------------


def test_request_submits_under_a_client_id_and_moves_to_submitted() -> None:
    manager, out = _manager()
    client_id = _request(manager, out)
    submit = out[0]
    assert isinstance(submit, SubmitOrder)
    assert submit.ts == START
    assert submit.strategy == "sma_cross"
    assert submit.ticket.quantity == Decimal("1")
    assert manager.orders[client_id].status is S.SUBMITTED
    assert manager.orders[client_id].history == [Transition(START, S.NEW, S.SUBMITTED)]


def test_full_fill_after_acceptance() -> None:
    manager, out = _manager()
    client_id = _request(manager, out)
    manager.on_execution_report(_report(client_id, S.ACCEPTED))
    manager.on_execution_report(
        _report(client_id, S.FILLED, "1", "101.5", trade_id="t1", cumulative="1", fee="0.1")
    )
    accepted = _of_type(out, OrderAccepted)
    assert [a.venue_order_id for a in accepted] == ["v-" + client_id]
    (fill,) = _of_type(out, Fill)
    assert fill.strategy == "sma_cross"
    assert fill.quantity == Decimal("1")
    assert fill.cumulative_quantity == Decimal("1")
    assert fill.price == Decimal("101.5")
    assert fill.fee == Decimal("0.1")
    assert fill.fee_asset == "USDT"
    order = manager.orders[client_id]
    assert order.status is S.FILLED
    assert order.average_fill_price == Decimal("101.5")
    assert _statuses(manager, client_id) == [S.NEW, S.SUBMITTED, S.ACCEPTED, S.FILLED]
    assert manager.open_orders() == []


def test_partial_then_full_fill_carries_cumulative_quantity() -> None:
    manager, out = _manager()
    client_id = _request(manager, out)
    manager.on_execution_report(_report(client_id, S.ACCEPTED))
    manager.on_execution_report(_report(client_id, S.PARTIALLY_FILLED, "0.4", "100", "t1", "0.4"))
    assert manager.orders[client_id].status is S.PARTIALLY_FILLED
    manager.on_execution_report(_report(client_id, S.FILLED, "0.6", "110", "t2", "1"))
    fills = _of_type(out, Fill)
    assert [f.cumulative_quantity for f in fills] == [Decimal("0.4"), Decimal("1.0")]
    order = manager.orders[client_id]
    assert order.status is S.FILLED
    assert order.filled_quantity == Decimal("1")
    assert order.average_fill_price == Decimal("106")


def test_fill_without_acceptance_implies_acceptance() -> None:
    manager, out = _manager()
    client_id = _request(manager, out)
    manager.on_execution_report(_report(client_id, S.FILLED, "1", trade_id="t1", cumulative="1"))
    assert [type(m) for m in out] == [SubmitOrder, OrderAccepted, Fill]
    assert _statuses(manager, client_id) == [S.NEW, S.SUBMITTED, S.ACCEPTED, S.FILLED]


def test_cancel_sends_cancel_order_and_venue_confirms() -> None:
    manager, out = _manager()
    client_id = _request(manager, out)
    manager.on_execution_report(_report(client_id, S.ACCEPTED))
    manager.on_cancel(Cancel(ts=START + 2, client_order_id=client_id))
    (cancel,) = _of_type(out, CancelOrder)
    assert (cancel.client_order_id, cancel.symbol) == (client_id, "BTCUSDT")
    assert manager.orders[client_id].status is S.PENDING_CANCEL
    manager.on_execution_report(_report(client_id, S.CANCELED, reason="user"))
    (canceled,) = _of_type(out, OrderCanceled)
    assert canceled.reason == "user"
    assert _statuses(manager, client_id) == [
        S.NEW, S.SUBMITTED, S.ACCEPTED, S.PENDING_CANCEL, S.CANCELED,
    ]  # fmt: skip


def test_partial_fill_while_pending_cancel_is_counted_and_the_cancel_still_completes() -> None:
    manager, out = _manager()
    client_id = _request(manager, out, quantity="2")
    manager.on_execution_report(_report(client_id, S.ACCEPTED))
    manager.on_cancel(Cancel(ts=START, client_order_id=client_id))
    manager.on_execution_report(_report(client_id, S.PARTIALLY_FILLED, "1", trade_id="t1"))
    assert manager.orders[client_id].status is S.PENDING_CANCEL
    assert manager.orders[client_id].filled_quantity == Decimal("1")
    manager.on_execution_report(_report(client_id, S.CANCELED))
    assert manager.orders[client_id].status is S.CANCELED
    assert len(_of_type(out, Fill)) == 1


def test_full_fill_racing_a_cancel_ends_filled() -> None:
    manager, out = _manager()
    client_id = _request(manager, out)
    manager.on_execution_report(_report(client_id, S.ACCEPTED))
    manager.on_cancel(Cancel(ts=START, client_order_id=client_id))
    manager.on_execution_report(_report(client_id, S.FILLED, "1", trade_id="t1"))
    assert manager.orders[client_id].status is S.FILLED


def test_acknowledgement_racing_a_cancel_is_recorded_without_leaving_pending_cancel() -> None:
    manager, out = _manager()
    client_id = _request(manager, out)
    manager.on_cancel(Cancel(ts=START, client_order_id=client_id))
    manager.on_execution_report(_report(client_id, S.ACCEPTED))
    order = manager.orders[client_id]
    assert order.status is S.PENDING_CANCEL
    assert order.venue_order_id == "v-" + client_id
    assert len(_of_type(out, OrderAccepted)) == 1


def test_rejected_order() -> None:
    manager, out = _manager()
    client_id = _request(manager, out)
    manager.on_execution_report(_report(client_id, S.REJECTED, reason="insufficient balance"))
    (rejected,) = _of_type(out, OrderRejected)
    assert rejected.reason == "insufficient balance"
    assert manager.orders[client_id].status is S.REJECTED


def test_expired_order() -> None:
    manager, out = _manager()
    client_id = _request(manager, out)
    manager.on_execution_report(_report(client_id, S.ACCEPTED))
    manager.on_execution_report(_report(client_id, S.EXPIRED))
    assert len(_of_type(out, OrderExpired)) == 1
    assert manager.orders[client_id].status is S.EXPIRED


def test_ioc_remainder_expires_after_a_partial_fill() -> None:
    manager, out = _manager()
    client_id = _request(manager, out, quantity="3", time_in_force=TimeInForce.IOC)
    manager.on_execution_report(_report(client_id, S.PARTIALLY_FILLED, "1", trade_id="t1"))
    manager.on_execution_report(_report(client_id, S.EXPIRED))
    order = manager.orders[client_id]
    assert order.status is S.EXPIRED
    assert order.filled_quantity == Decimal("1")
    assert [type(m) for m in out] == [SubmitOrder, OrderAccepted, Fill, OrderExpired]


def test_open_orders_filters_by_symbol_in_creation_order() -> None:
    manager, out = _manager()
    btc = _request(manager, out, symbol="BTCUSDT")
    eth = _request(manager, out, symbol="ETHUSDT")
    btc2 = _request(manager, out, symbol="BTCUSDT")
    manager.on_execution_report(_report(btc2, S.REJECTED))
    assert [o.client_order_id for o in manager.open_orders()] == [btc, eth]
    assert [o.client_order_id for o in manager.open_orders("ETHUSDT")] == [eth]


# --- refusals ---------------------------------------------------------------------------


def test_fill_after_cancel_is_refused_and_logged() -> None:
    manager, out = _manager()
    client_id = _request(manager, out)
    manager.on_execution_report(_report(client_id, S.ACCEPTED))
    manager.on_execution_report(_report(client_id, S.CANCELED))
    with capture_logs() as logs:
        manager.on_execution_report(_report(client_id, S.FILLED, "1", trade_id="t1"))
    order = manager.orders[client_id]
    assert order.status is S.CANCELED
    assert order.filled_quantity == 0
    assert _of_type(out, Fill) == []
    assert {
        "event": "illegal_transition",
        "client_order_id": client_id,
        "from": "CANCELED",
        "to": "FILLED",
        "log_level": "warning",
    } in logs


def test_reject_after_acceptance_is_refused() -> None:
    manager, out = _manager()
    client_id = _request(manager, out)
    manager.on_execution_report(_report(client_id, S.ACCEPTED))
    with capture_logs() as logs:
        manager.on_execution_report(_report(client_id, S.REJECTED))
    assert manager.orders[client_id].status is S.ACCEPTED
    assert _of_type(out, OrderRejected) == []
    assert [(e["from"], e["to"]) for e in logs if e["event"] == "illegal_transition"] == [
        ("ACCEPTED", "REJECTED")
    ]


def test_duplicate_trade_id_is_counted_once() -> None:
    manager, out = _manager()
    client_id = _request(manager, out, quantity="2")
    manager.on_execution_report(_report(client_id, S.PARTIALLY_FILLED, "1", trade_id="t1"))
    manager.on_execution_report(_report(client_id, S.PARTIALLY_FILLED, "1", trade_id="t1"))
    assert manager.orders[client_id].filled_quantity == Decimal("1")
    assert manager.orders[client_id].status is S.PARTIALLY_FILLED
    assert len(_of_type(out, Fill)) == 1


def test_overfill_is_refused_logged_and_alerted() -> None:
    manager, out = _manager()
    client_id = _request(manager, out, quantity="1")
    manager.on_execution_report(_report(client_id, S.PARTIALLY_FILLED, "0.5", trade_id="t1"))
    with capture_logs() as logs:
        manager.on_execution_report(_report(client_id, S.FILLED, "0.6", trade_id="t2"))
    order = manager.orders[client_id]
    assert order.filled_quantity == Decimal("0.5")
    assert order.status is S.PARTIALLY_FILLED
    assert len(_of_type(out, Fill)) == 1
    assert [e["event"] for e in logs] == ["overfill_refused"]
    assert _of_type(out, Alert)[0].level == "error"


def test_fill_without_trade_id_is_refused() -> None:
    manager, out = _manager()
    client_id = _request(manager, out)
    with capture_logs() as logs:
        manager.on_execution_report(_report(client_id, S.FILLED, "1", trade_id=""))
    assert manager.orders[client_id].filled_quantity == 0
    assert _of_type(out, Fill) == []
    assert [e["event"] for e in logs] == ["fill_without_trade_id"]


def test_report_for_unknown_client_id_alerts_and_changes_nothing() -> None:
    manager, out = _manager()
    client_id = _request(manager, out)
    with capture_logs() as logs:
        manager.on_execution_report(_report("nobody", S.FILLED, "1", trade_id="t1"))
    assert manager.orders[client_id].status is S.SUBMITTED
    assert [type(m) for m in out] == [SubmitOrder, Alert]
    assert logs[0]["event"] == "unknown_order_report"
    assert logs[0]["client_order_id"] == "nobody"


def test_cancel_of_unknown_or_closed_order_alerts_and_sends_nothing() -> None:
    manager, out = _manager()
    client_id = _request(manager, out)
    manager.on_execution_report(_report(client_id, S.FILLED, "1", trade_id="t1"))
    manager.on_cancel(Cancel(ts=START, client_order_id=client_id))
    manager.on_cancel(Cancel(ts=START, client_order_id="nobody"))
    assert _of_type(out, CancelOrder) == []
    assert len(_of_type(out, Alert)) == 2
    assert manager.orders[client_id].status is S.FILLED


def test_cancel_all_cancels_every_open_order_or_those_of_one_symbol() -> None:
    manager, out = _manager()
    btc = _request(manager, out, symbol="BTCUSDT")
    eth = _request(manager, out, symbol="ETHUSDT")
    done = _request(manager, out, symbol="BTCUSDT")
    manager.on_execution_report(_report(done, S.FILLED, "1", trade_id="t1"))
    manager.on_cancel_all(CancelAll(ts=START, symbol="ETHUSDT"))
    assert [c.client_order_id for c in _of_type(out, CancelOrder)] == [eth]
    manager.on_cancel_all(CancelAll(ts=START))
    assert [c.client_order_id for c in _of_type(out, CancelOrder)] == [eth, btc, eth]
    assert manager.orders[eth].history.count(Transition(START, S.SUBMITTED, S.PENDING_CANCEL)) == 1
    assert manager.orders[done].status is S.FILLED


# --- repeated reports: a venue re-sending what it said before ---------------------------


def _loud(logs: list[dict[str, object]]) -> list[object]:
    """Events above info: what an operator would be alarmed by."""
    return [e["event"] for e in logs if e["log_level"] not in ("debug", "info")]


@pytest.mark.parametrize(
    "before",
    [
        [(S.ACCEPTED, "0", "")],
        [(S.ACCEPTED, "0", ""), (S.PARTIALLY_FILLED, "1", "t1")],
        [(S.PARTIALLY_FILLED, "1", "t1")],  # acceptance implied by the fill
        [(S.ACCEPTED, "0", ""), (S.FILLED, "2", "t1")],
    ],
)
def test_repeated_acceptance_is_ignored_quietly(before: list[tuple[S, str, str]]) -> None:
    manager, out = _manager()
    client_id = _request(manager, out, quantity="2")
    for status, quantity, trade_id in before:
        manager.on_execution_report(_report(client_id, status, quantity, trade_id=trade_id))
    order = manager.orders[client_id]
    status, history, emitted = order.status, list(order.history), len(out)
    with capture_logs() as logs:
        manager.on_execution_report(_report(client_id, S.ACCEPTED))
    assert (order.status, order.history, len(out)) == (status, history, emitted)
    assert _loud(logs) == []


def test_repeated_acceptance_of_an_order_pending_cancel_is_ignored_quietly() -> None:
    manager, out = _manager()
    client_id = _request(manager, out)
    manager.on_execution_report(_report(client_id, S.ACCEPTED))
    manager.on_cancel(Cancel(ts=START, client_order_id=client_id))
    emitted = len(out)
    with capture_logs() as logs:
        manager.on_execution_report(_report(client_id, S.ACCEPTED))
    assert manager.orders[client_id].status is S.PENDING_CANCEL
    assert len(out) == emitted
    assert _loud(logs) == []


@pytest.mark.parametrize("status", [S.CANCELED, S.REJECTED, S.EXPIRED])
def test_repeated_end_is_ignored_quietly(status: S) -> None:
    manager, out = _manager()
    client_id = _request(manager, out)
    manager.on_execution_report(_report(client_id, status))
    emitted, steps = len(out), len(manager.orders[client_id].history)
    with capture_logs() as logs:
        manager.on_execution_report(_report(client_id, status))
    assert len(out) == emitted
    assert len(manager.orders[client_id].history) == steps
    assert _loud(logs) == []


def test_replayed_reports_of_a_filled_order_change_nothing_and_alarm_nobody() -> None:
    manager, out = _manager()
    client_id = _request(manager, out, quantity="2")
    reports = [
        _report(client_id, S.ACCEPTED),
        _report(client_id, S.PARTIALLY_FILLED, "1", trade_id="t1", cumulative="1"),
        _report(client_id, S.FILLED, "1", trade_id="t2", cumulative="2"),
    ]
    for report in reports:
        manager.on_execution_report(report)
    emitted = list(out)
    order = manager.orders[client_id]
    history = list(order.history)
    with capture_logs() as logs:
        for report in reports:
            manager.on_execution_report(report)
    assert out == emitted
    assert order.history == history
    assert order.filled_quantity == Decimal(2)
    assert _loud(logs) == []


# --- status reports: resolving orders whose outcome was unknown -------------------------


def _status_report(
    client_id: str, status: OrderStatus, filled: str = "0", found: bool = True
) -> OrderStatusReport:
    return OrderStatusReport(
        ts=START + 5,
        venue="backtest",
        client_order_id=client_id,
        venue_order_id="v-" + client_id,
        symbol="BTCUSDT",
        side=Side.BUY,
        status=status,
        quantity=Decimal(1),
        filled_quantity=Decimal(filled),
        found=found,
    )


def test_status_report_accepts_a_submitted_order_the_venue_holds() -> None:
    manager, out = _manager()
    client_id = _request(manager, out)
    manager.on_order_status_report(_status_report(client_id, S.ACCEPTED))
    order = manager.orders[client_id]
    assert order.status is S.ACCEPTED
    assert order.accepted
    assert order.venue_order_id == "v-" + client_id
    assert out[1:] == [
        OrderAccepted(
            ts=START + 5, client_order_id=client_id, venue_order_id="v-" + client_id,
            symbol="BTCUSDT",
        )
    ]  # fmt: skip


def test_status_report_of_a_filled_order_whose_fills_came_first_adds_nothing() -> None:
    manager, out = _manager()
    client_id = _request(manager, out)
    manager.on_execution_report(_report(client_id, S.FILLED, "1", trade_id="t1"))
    emitted = list(out)
    with capture_logs() as logs:
        manager.on_order_status_report(_status_report(client_id, S.FILLED, filled="1"))
    assert out == emitted
    assert manager.orders[client_id].status is S.FILLED
    assert _loud(logs) == []


def test_status_report_of_fills_that_never_came_accepts_but_invents_no_fill() -> None:
    manager, out = _manager()
    client_id = _request(manager, out)
    with capture_logs() as logs:
        manager.on_order_status_report(_status_report(client_id, S.FILLED, filled="1"))
    assert manager.orders[client_id].status is S.ACCEPTED
    assert manager.orders[client_id].filled_quantity == 0
    assert [type(m) for m in out] == [SubmitOrder, OrderAccepted]
    assert _loud(logs) == ["status_report_filled_mismatch"]


def test_status_report_not_found_rejects_a_submitted_order() -> None:
    manager, out = _manager()
    client_id = _request(manager, out)
    manager.on_order_status_report(_status_report(client_id, S.NEW, found=False))
    assert manager.orders[client_id].status is S.REJECTED
    assert out[1:] == [
        OrderRejected(
            ts=START + 5, client_order_id=client_id, symbol="BTCUSDT",
            reason="unknown to the venue after recovery",
        )
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("status", "event"),
    [(S.CANCELED, OrderCanceled), (S.REJECTED, OrderRejected), (S.EXPIRED, OrderExpired)],
)
def test_status_report_of_an_end_ends_a_submitted_order(status: S, event: type[Message]) -> None:
    manager, out = _manager()
    client_id = _request(manager, out)
    manager.on_order_status_report(_status_report(client_id, status))
    assert manager.orders[client_id].status is status
    assert [type(m) for m in out] == [SubmitOrder, event]


def test_status_report_new_leaves_a_submitted_order_waiting() -> None:
    manager, out = _manager()
    client_id = _request(manager, out)
    manager.on_order_status_report(_status_report(client_id, S.NEW))
    assert manager.orders[client_id].status is S.SUBMITTED
    assert len(out) == 1


def test_status_report_canceled_ends_an_order_pending_cancel() -> None:
    manager, out = _manager()
    client_id = _request(manager, out)
    manager.on_execution_report(_report(client_id, S.ACCEPTED))
    manager.on_cancel(Cancel(ts=START, client_order_id=client_id))
    manager.on_order_status_report(_status_report(client_id, S.CANCELED))
    assert manager.orders[client_id].status is S.CANCELED
    canceled = _of_type(out, OrderCanceled)
    assert [c.client_order_id for c in canceled] == [client_id]


def test_status_report_still_open_leaves_an_order_pending_cancel() -> None:
    manager, out = _manager()
    client_id = _request(manager, out)
    manager.on_execution_report(_report(client_id, S.ACCEPTED))
    manager.on_cancel(Cancel(ts=START, client_order_id=client_id))
    emitted = len(out)
    manager.on_order_status_report(_status_report(client_id, S.ACCEPTED))
    assert manager.orders[client_id].status is S.PENDING_CANCEL
    assert len(out) == emitted


def test_status_report_not_found_rejects_an_unacknowledged_order_pending_cancel() -> None:
    manager, out = _manager()
    client_id = _request(manager, out)
    manager.on_cancel(Cancel(ts=START, client_order_id=client_id))
    manager.on_order_status_report(_status_report(client_id, S.NEW, found=False))
    assert manager.orders[client_id].status is S.REJECTED
    assert _of_type(out, OrderRejected)[0].reason == "unknown to the venue after recovery"


def test_status_report_not_found_leaves_an_acknowledged_order_pending_cancel() -> None:
    manager, out = _manager()
    client_id = _request(manager, out)
    manager.on_execution_report(_report(client_id, S.ACCEPTED))
    manager.on_cancel(Cancel(ts=START, client_order_id=client_id))
    emitted = len(out)
    manager.on_order_status_report(_status_report(client_id, S.NEW, found=False))
    assert manager.orders[client_id].status is S.PENDING_CANCEL
    assert len(out) == emitted


@pytest.mark.parametrize("reported", [S.CANCELED, S.FILLED, S.EXPIRED])
def test_status_report_changes_nothing_for_an_accepted_order(reported: S) -> None:
    manager, out = _manager()
    client_id = _request(manager, out)
    manager.on_execution_report(_report(client_id, S.ACCEPTED))
    emitted = len(out)
    manager.on_order_status_report(_status_report(client_id, reported))
    assert manager.orders[client_id].status is S.ACCEPTED
    assert len(out) == emitted


def test_status_report_for_an_unknown_client_id_is_logged_and_changes_nothing() -> None:
    manager, out = _manager()
    client_id = _request(manager, out)
    with capture_logs() as logs:
        manager.on_order_status_report(_status_report("nobody", S.FILLED, found=False))
    assert manager.orders[client_id].status is S.SUBMITTED
    assert len(out) == 1
    assert _loud(logs) == ["unknown_order_status_report"]


# --- the property -----------------------------------------------------------------------

_CLIENT_IDS = ("a", "b", "unknown")

_actions = st.lists(
    st.one_of(
        st.tuples(
            st.just("report"),
            st.sampled_from(_CLIENT_IDS),
            st.sampled_from(list(OrderStatus)),
            st.sampled_from(["0", "1", "2", "3", "4"]),
            st.sampled_from(["", "t1", "t2", "t3", "t4"]),
        ),
        st.tuples(st.just("cancel"), st.sampled_from(_CLIENT_IDS)),
        st.tuples(st.just("cancel_all")),
    ),
    max_size=40,
)


@settings(max_examples=300)
@given(actions=_actions)
def test_any_report_sequence_keeps_orders_on_legal_edges_and_counts_trades_once(
    actions: list[tuple[str, ...]],
) -> None:
    manager, out = _manager()
    ids = {"a": _request(manager, out, quantity="3"), "b": _request(manager, out, quantity="4")}
    ids["unknown"] = "unknown"
    for action in actions:
        if action[0] == "report":
            _, who, status, quantity, trade_id = action
            manager.on_execution_report(
                _report(ids[who], OrderStatus(status), quantity, trade_id=trade_id)
            )
        elif action[0] == "cancel":
            manager.on_cancel(Cancel(ts=START, client_order_id=ids[action[1]]))
        else:
            manager.on_cancel_all(CancelAll(ts=START))
    fills = _of_type(out, Fill)
    trade_keys = [(f.client_order_id, f.trade_id) for f in fills]
    assert len(trade_keys) == len(set(trade_keys))
    for order in manager.orders.values():
        steps = order.history
        assert steps[0].previous is S.NEW
        for before, after in itertools.pairwise(steps):
            assert before.status is after.previous
        assert all(step.status in TRANSITIONS[step.previous] for step in steps)
        assert order.status is steps[-1].status
        assert order.filled_quantity <= order.quantity
        own_fills = [f.quantity for f in fills if f.client_order_id == order.client_order_id]
        assert sum(own_fills, Decimal(0)) == order.filled_quantity
        assert (order.filled_quantity == order.quantity) == (order.status is S.FILLED)
