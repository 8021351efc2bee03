"""The risk manager: limits on entries, exits always out, halts, daily loss, flatten."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import TypeVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actors.bus import Bus
from actors.clock import SimClock
from actors.messages import (
    CancelAll,
    ExecutionReport,
    FlattenAll,
    Halt,
    Message,
    OrderCanceled,
    OrderIntent,
    OrderRequest,
    OrderStatus,
    OrderTicket,
    OrderType,
    Resume,
    RiskBreach,
    RiskRejected,
    RiskState,
    RiskStateChanged,
    Side,
    SubmitOrder,
    TradingHalted,
    TradingResumed,
)
from actors.order_manager import OrderManager
from actors.risk import RiskLimits, RiskManager
from actors.scheduler import DeterministicScheduler
from tests.factories import equity_marked, flat_bar, make_fill, position_changed

DAY = 86_400 * 1_000_000_000
MINUTE = 60_000_000_000
START = 19_675 * DAY
M = TypeVar("M", bound=Message)

NO_LIMITS = RiskLimits(
    max_order_notional=Decimal(0), max_position_notional=Decimal(0), daily_loss_limit=Decimal(0)
)


def _risk(
    max_order: str = "0",
    max_position: str = "0",
    daily_loss: str = "0",
    overrides: dict[str, Decimal] | None = None,
) -> tuple[RiskManager, list[Message]]:
    limits = RiskLimits(
        max_order_notional=Decimal(max_order),
        max_position_notional=Decimal(max_position),
        daily_loss_limit=Decimal(daily_loss),
        position_notional_overrides=overrides or {},
    )
    out: list[Message] = []
    risk = RiskManager(limits)
    risk.attach(out.append, SimClock(START))
    return risk, out


def _intent(
    side: Side,
    quantity: str,
    symbol: str = "BTCUSDT",
    limit_price: str | None = None,
    strategy: str = "s",
) -> OrderIntent:
    ticket = OrderTicket(
        symbol=symbol,
        side=side,
        quantity=Decimal(quantity),
        order_type=OrderType.MARKET if limit_price is None else OrderType.LIMIT,
        limit_price=None if limit_price is None else Decimal(limit_price),
    )
    return OrderIntent(ts=START, strategy=strategy, ticket=ticket)


def _position(risk: RiskManager, quantity: str, symbol: str = "BTCUSDT") -> None:
    risk.on_position_changed(position_changed(quantity, ts=START, symbol=symbol))


def _mark(risk: RiskManager, day_pnl: str, ts: int) -> None:
    risk.on_equity_marked(equity_marked(1000, ts=ts, day_pnl=day_pnl))


def _of_type(out: list[Message], kind: type[M]) -> list[M]:
    return [message for message in out if isinstance(message, kind)]


def _decide(risk: RiskManager, out: list[Message], intent: OrderIntent) -> Message:
    risk.on_order_intent(intent)
    decision = out[-1]
    assert isinstance(decision, OrderRequest | RiskRejected)
    return decision


def _submit(risk: RiskManager, client_id: str, intent: OrderIntent) -> None:
    risk.on_submit_order(
        SubmitOrder(
            ts=START, client_order_id=client_id, strategy=intent.strategy, ticket=intent.ticket
        )
    )


def _fill(risk: RiskManager, client_id: str, side: Side, quantity: str) -> None:
    risk.on_fill(
        make_fill(
            side,
            quantity,
            ts=START,
            client_order_id=client_id,
            venue_order_id="v",
            trade_id="t-" + client_id + quantity,
        )
    )


# --- limits on entries ------------------------------------------------------------------


def test_order_notional_cap_refuses_a_market_entry_priced_at_the_last_close() -> None:
    risk, out = _risk(max_order="1000")
    risk.on_bar(flat_bar(100.0, START))
    assert isinstance(_decide(risk, out, _intent(Side.BUY, "10")), OrderRequest)
    rejected = _decide(risk, out, _intent(Side.BUY, "11"))
    assert isinstance(rejected, RiskRejected)
    assert rejected.reason.startswith("max_order_notional")
    assert "1100" in rejected.reason
    assert "1000" in rejected.reason
    assert rejected.intent.ticket.quantity == Decimal("11")


def test_order_notional_cap_prices_a_limit_order_at_its_limit_price() -> None:
    risk, out = _risk(max_order="1000")
    risk.on_bar(flat_bar(100.0, START))
    assert isinstance(_decide(risk, out, _intent(Side.BUY, "5", limit_price="300")), RiskRejected)
    assert isinstance(_decide(risk, out, _intent(Side.BUY, "3", limit_price="300")), OrderRequest)


def test_market_entry_without_a_price_is_refused_when_a_notional_limit_applies() -> None:
    risk, out = _risk(max_order="1000")
    rejected = _decide(risk, out, _intent(Side.BUY, "1"))
    assert isinstance(rejected, RiskRejected)
    assert "no price for BTCUSDT" in rejected.reason


def test_zero_limits_mean_no_limit() -> None:
    risk, out = _risk()
    assert isinstance(_decide(risk, out, _intent(Side.BUY, "1000000")), OrderRequest)


def test_position_cap_counts_the_position() -> None:
    risk, out = _risk(max_position="1000")
    risk.on_bar(flat_bar(100.0, START))
    _position(risk, "5")
    rejected = _decide(risk, out, _intent(Side.BUY, "6"))
    assert isinstance(rejected, RiskRejected)
    assert rejected.reason.startswith("max_position_notional")
    assert "1100" in rejected.reason
    assert isinstance(_decide(risk, out, _intent(Side.BUY, "5")), OrderRequest)


def test_position_cap_override_replaces_the_default_for_its_symbol() -> None:
    risk, out = _risk(max_position="1000", overrides={"ETHUSDT": Decimal(5000)})
    risk.on_bar(flat_bar(100.0, START, "ETHUSDT"))
    risk.on_bar(flat_bar(100.0, START, "BTCUSDT"))
    assert isinstance(_decide(risk, out, _intent(Side.BUY, "40", "ETHUSDT")), OrderRequest)
    assert isinstance(_decide(risk, out, _intent(Side.BUY, "40", "BTCUSDT")), RiskRejected)


def test_working_orders_count_toward_the_position_cap_until_terminal() -> None:
    risk, out = _risk(max_position="1000")
    risk.on_bar(flat_bar(100.0, START))
    first = _intent(Side.BUY, "6")
    assert isinstance(_decide(risk, out, first), OrderRequest)
    # approved but not yet submitted: already counted
    assert isinstance(_decide(risk, out, _intent(Side.BUY, "5")), RiskRejected)
    _submit(risk, "c1", first)
    assert isinstance(_decide(risk, out, _intent(Side.BUY, "5")), RiskRejected)
    risk.on_order_canceled(OrderCanceled(ts=START, client_order_id="c1", symbol="BTCUSDT"))
    assert isinstance(_decide(risk, out, _intent(Side.BUY, "5")), OrderRequest)


def test_client_ids_are_learned_from_the_order_managers_submissions() -> None:
    limits = RiskLimits(
        max_order_notional=Decimal(0),
        max_position_notional=Decimal(1000),
        daily_loss_limit=Decimal(0),
    )
    risk, manager = RiskManager(limits), OrderManager()
    bus = Bus([risk, manager])
    seen: list[Message] = []
    for kind in (OrderRequest, RiskRejected, SubmitOrder):
        bus.subscribe(kind, seen.append, owner="tap")
    scheduler = DeterministicScheduler(bus, SimClock(START))
    scheduler.publish(flat_bar(100.0, START))
    scheduler.publish(_intent(Side.BUY, "6"))
    scheduler.publish(_intent(Side.BUY, "6"))
    (submit,) = _of_type(seen, SubmitOrder)
    assert len(_of_type(seen, RiskRejected)) == 1
    scheduler.publish(
        ExecutionReport(
            ts=START, venue="backtest", client_order_id=submit.client_order_id,
            venue_order_id="1", symbol="BTCUSDT", side=Side.BUY, status=OrderStatus.CANCELED,
        )
    )  # fmt: skip
    scheduler.publish(_intent(Side.BUY, "6"))
    assert len(_of_type(seen, SubmitOrder)) == 2


def test_a_fill_moves_quantity_from_working_to_the_position() -> None:
    risk, out = _risk(max_position="1000")
    risk.on_bar(flat_bar(100.0, START))
    first = _intent(Side.BUY, "6")
    _decide(risk, out, first)
    _submit(risk, "c1", first)
    _fill(risk, "c1", Side.BUY, "6")
    # before the accountant's PositionChanged, the filled 6 still counts
    assert isinstance(_decide(risk, out, _intent(Side.BUY, "5")), RiskRejected)
    _position(risk, "6")
    assert isinstance(_decide(risk, out, _intent(Side.BUY, "5")), RiskRejected)
    assert isinstance(_decide(risk, out, _intent(Side.BUY, "4")), OrderRequest)


def test_entries_on_the_short_side_are_capped_too() -> None:
    risk, out = _risk(max_position="1000")
    risk.on_bar(flat_bar(100.0, START))
    _position(risk, "2")
    # sells 2 to flat (an exit) and 11 more short: an entry past the cap
    rejected = _decide(risk, out, _intent(Side.SELL, "13"))
    assert isinstance(rejected, RiskRejected)
    assert "-11" in rejected.reason


# --- exits and states -------------------------------------------------------------------


def test_exits_ignore_limits_and_state_but_may_not_flip_counting_working_exits() -> None:
    risk, out = _risk(max_order="1", max_position="1")
    risk.on_bar(flat_bar(100.0, START))
    _position(risk, "3")
    risk.on_halt(Halt(ts=START))
    assert isinstance(_decide(risk, out, _intent(Side.SELL, "2")), OrderRequest)
    assert isinstance(_decide(risk, out, _intent(Side.SELL, "1")), OrderRequest)
    flip = _decide(risk, out, _intent(Side.SELL, "1"))
    assert isinstance(flip, RiskRejected)
    assert "HALTED" in flip.reason


def test_exit_passes_while_reducing() -> None:
    risk, out = _risk(daily_loss="100")
    _position(risk, "-3")
    _mark(risk, "-150", START)
    assert risk.state is RiskState.REDUCING
    assert isinstance(_decide(risk, out, _intent(Side.BUY, "3")), OrderRequest)
    assert isinstance(_decide(risk, out, _intent(Side.SELL, "1")), RiskRejected)


def test_halt_blocks_the_very_next_entry() -> None:
    risk = RiskManager(NO_LIMITS)
    bus = Bus([risk])
    seen: list[Message] = []
    for kind in (OrderRequest, RiskRejected, RiskStateChanged, TradingHalted):
        bus.subscribe(kind, seen.append, owner="tap")
    scheduler = DeterministicScheduler(bus, SimClock(START))
    scheduler.publish(_intent(Side.BUY, "1"))
    scheduler.publish(Halt(ts=START + 1, reason="operator"))
    scheduler.publish(_intent(Side.BUY, "1"))
    assert [type(m) for m in seen] == [OrderRequest, RiskStateChanged, TradingHalted, RiskRejected]
    halted = _of_type(seen, TradingHalted)[0]
    assert halted.source == "risk"
    assert risk.state is RiskState.HALTED


def test_trading_halted_from_elsewhere_halts_but_our_own_is_ignored() -> None:
    risk, out = _risk()
    risk.on_trading_halted(TradingHalted(ts=START, reason="echo", source="risk"))
    assert risk.state is RiskState.ACTIVE
    assert out == []
    risk.on_trading_halted(TradingHalted(ts=START, reason="crash loop", source="supervisor"))
    assert risk.state is RiskState.HALTED
    assert [type(m) for m in out] == [RiskStateChanged, TradingHalted]


def test_resume_leaves_halted_and_announces_it() -> None:
    risk, out = _risk()
    risk.on_halt(Halt(ts=START))
    risk.on_resume(Resume(ts=START))
    assert risk.state is RiskState.ACTIVE
    assert isinstance(out[-1], TradingResumed)
    changes = [(c.previous, c.state) for c in _of_type(out, RiskStateChanged)]
    assert changes == [
        (RiskState.ACTIVE, RiskState.HALTED),
        (RiskState.HALTED, RiskState.ACTIVE),
    ]
    assert isinstance(_decide(risk, out, _intent(Side.BUY, "1")), OrderRequest)


# --- daily loss -------------------------------------------------------------------------


def test_daily_loss_breach_reduces_until_the_next_utc_day() -> None:
    risk, out = _risk(daily_loss="100")
    _mark(risk, "-99.99", START + MINUTE)
    assert risk.state is RiskState.ACTIVE
    _mark(risk, "-100", START + 2 * MINUTE)
    assert risk.state is RiskState.REDUCING
    (breach,) = _of_type(out, RiskBreach)
    assert (breach.limit, breach.value, breach.threshold) == (
        "daily_loss", Decimal("-100"), Decimal("100"),
    )  # fmt: skip
    _mark(risk, "-120", START + 3 * MINUTE)
    assert len(_of_type(out, RiskBreach)) == 1
    assert isinstance(_decide(risk, out, _intent(Side.BUY, "1")), RiskRejected)
    _mark(risk, "0", START + DAY)
    assert risk.state is RiskState.ACTIVE
    assert isinstance(_decide(risk, out, _intent(Side.BUY, "1")), OrderRequest)


def test_a_new_day_does_not_lift_a_halt() -> None:
    risk, _ = _risk(daily_loss="100")
    _mark(risk, "-200", START)
    risk.on_halt(Halt(ts=START))
    _mark(risk, "0", START + DAY)
    assert risk.state is RiskState.HALTED


def test_a_new_day_does_not_lift_a_flatten() -> None:
    risk, _ = _risk(daily_loss="100")
    _mark(risk, "-200", START)
    risk.on_flatten_all(FlattenAll(ts=START))
    _mark(risk, "0", START + DAY)
    assert risk.state is RiskState.REDUCING


# --- flatten ----------------------------------------------------------------------------


def test_flatten_all_cancels_everything_closes_every_position_and_reduces() -> None:
    risk, out = _risk()
    _position(risk, "2", "BTCUSDT")
    _position(risk, "-3", "ETHUSDT")
    _position(risk, "0", "SOLUSDT")
    risk.on_flatten_all(FlattenAll(ts=START))
    assert isinstance(out[0], CancelAll)
    assert out[0].symbol == ""
    requests = _of_type(out, OrderRequest)
    closing = [
        (r.intent.strategy, r.intent.ticket.symbol, r.intent.ticket.side, r.intent.ticket.quantity)
        for r in requests
    ]
    assert closing == [
        ("risk", "BTCUSDT", Side.SELL, Decimal("2")),
        ("risk", "ETHUSDT", Side.BUY, Decimal("3")),
    ]
    assert all(r.intent.ticket.order_type is OrderType.MARKET for r in requests)
    assert all(r.intent.ticket.reduce_only for r in requests)
    assert risk.state is RiskState.REDUCING
    risk.on_resume(Resume(ts=START))
    assert risk.state is RiskState.ACTIVE


def test_flatten_all_floors_to_the_lot_and_leaves_dust_alone() -> None:
    risk, out = _risk()
    risk = RiskManager(
        risk._limits, lot_sizes={"BTCUSDT": Decimal("0.0001"), "ETHUSDT": Decimal("0.001")}
    )
    risk.attach(out.append, SimClock(START))
    _position(risk, "0.0001998", "BTCUSDT")  # a buy of 0.0002 less a fee paid in BTC
    _position(risk, "0.0004", "ETHUSDT")  # dust only: less than one lot
    risk.on_flatten_all(FlattenAll(ts=START))
    closing = [
        (r.intent.ticket.symbol, r.intent.ticket.quantity) for r in _of_type(out, OrderRequest)
    ]
    assert closing == [("BTCUSDT", Decimal("0.0001"))]


# --- read API ---------------------------------------------------------------------------


def test_usage_reports_daily_loss_and_worst_case_position_notional() -> None:
    risk, out = _risk(max_position="1000", daily_loss="100")
    risk.on_bar(flat_bar(100.0, START))
    _position(risk, "2")
    _decide(risk, out, _intent(Side.BUY, "3"))
    _mark(risk, "-40", START)
    assert risk.usage() == {
        "daily_loss": (Decimal("40"), Decimal("100")),
        "position_notional:BTCUSDT": (Decimal("500"), Decimal("1000")),
    }


def test_negative_limit_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="daily_loss_limit"):
        RiskLimits(
            max_order_notional=Decimal(0),
            max_position_notional=Decimal(0),
            daily_loss_limit=Decimal(-1),
        )


# --- the property -----------------------------------------------------------------------


@dataclass
class _VenueOrder:
    client_id: str
    side: Side
    remaining: Decimal


_intents = st.tuples(st.just("intent"), st.sampled_from(list(Side)), st.integers(1, 4))
_fills = st.tuples(st.just("fill"), st.integers(0, 50), st.integers(1, 4))
_cancels = st.tuples(st.just("cancel"), st.integers(0, 50), st.just(0))


@settings(max_examples=300)
@given(start=st.integers(-5, 5), steps=st.lists(st.one_of(_intents, _fills, _cancels), max_size=40))
def test_while_halted_no_approved_order_can_grow_the_position(
    start: int, steps: list[tuple[str, Side | int, int]]
) -> None:
    risk, out = _risk()
    _position(risk, str(start))
    risk.on_halt(Halt(ts=START))
    position = Decimal(start)
    working: list[_VenueOrder] = []
    for number, (action, what, quantity) in enumerate(steps):
        if action == "intent":
            assert isinstance(what, Side)
            intent = _intent(what, str(quantity))
            if isinstance(_decide(risk, out, intent), OrderRequest):
                _submit(risk, f"c{number}", intent)
                working.append(_VenueOrder(f"c{number}", what, Decimal(quantity)))
        elif working and action == "fill":
            order = working[int(what) % len(working)]
            filled = min(Decimal(quantity), order.remaining)
            position += filled if order.side is Side.BUY else -filled
            _fill(risk, order.client_id, order.side, str(filled))
            _position(risk, str(position))
            order.remaining -= filled
            if not order.remaining:
                working.remove(order)
        elif working and action == "cancel":
            order = working.pop(int(what) % len(working))
            risk.on_order_canceled(
                OrderCanceled(ts=START, client_order_id=order.client_id, symbol="BTCUSDT")
            )
        # even if every working order filled now, the position would neither grow nor flip
        worst = position + sum(
            (o.remaining if o.side is Side.BUY else -o.remaining for o in working), Decimal(0)
        )
        assert abs(position) <= abs(start)
        assert position * start >= 0
        assert abs(worst) <= abs(position)
        assert worst * start >= 0
    assert risk.state is RiskState.HALTED
