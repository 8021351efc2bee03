"""The risk manager's snapshot: a restored risk manager decides exactly as the original."""

from __future__ import annotations

from decimal import Decimal

import msgspec
import pytest

from actors.actor import Actor
from actors.clock import SimClock
from actors.messages import (
    Bar,
    FlattenAll,
    Halt,
    Message,
    OrderCanceled,
    OrderIntent,
    OrderTicket,
    OrderType,
    Resume,
    RiskState,
    Side,
    SubmitOrder,
    encode,
)
from actors.risk import RiskLimits, RiskManager, RiskManagerState, WorkingOrder, WorkingQuantity
from tests.factories import equity_marked, flat_bar, make_fill, position_changed

DAY = 86_400 * 1_000_000_000
MINUTE = 60_000_000_000
START = 19_675 * DAY
BTC = "BTCUSDT"
ETH = "ETHUSDT"
ENCODER = msgspec.msgpack.Encoder(decimal_format="string")
DECODER = msgspec.msgpack.Decoder(RiskManagerState)
LIMITS = RiskLimits(
    max_order_notional=Decimal("10000"),
    max_position_notional=Decimal("1000"),
    daily_loss_limit=Decimal("500"),
)


def _risk() -> tuple[RiskManager, list[Message]]:
    out: list[Message] = []
    risk = RiskManager(LIMITS)
    risk.attach(out.append, SimClock(START))
    return risk, out


def _through_msgpack(state: RiskManagerState) -> RiskManagerState:
    return DECODER.decode(ENCODER.encode(state))


def _deliver(actor: Actor, message: Message) -> None:
    clock = actor.clock
    assert isinstance(clock, SimClock)
    clock.advance_to(message.ts)
    actor.handlers()[type(message)](message)


def _intent(ts: int, side: Side, quantity: str, symbol: str = BTC) -> OrderIntent:
    ticket = OrderTicket(
        symbol=symbol, side=side, quantity=Decimal(quantity), order_type=OrderType.MARKET
    )
    return OrderIntent(ts=ts, strategy="s", ticket=ticket)


def _submit(client_id: str, intent: OrderIntent) -> SubmitOrder:
    return SubmitOrder(
        ts=intent.ts, client_order_id=client_id, strategy=intent.strategy, ticket=intent.ticket
    )


def _bar(close: float, minute: int, symbol: str = BTC) -> Bar:
    return flat_bar(close, START + minute * MINUTE, symbol)


def _session() -> list[Message]:
    """A day of trading that breaches the daily loss limit, then a halt, a resume, the next
    day and a flatten: every piece of the risk manager's state changes somewhere in it."""
    t = START + MINUTE
    buy_1, buy_2, buy_3 = (_intent(t, Side.BUY, q) for q in ("1", "2", "3"))
    exit_half = _intent(t + 5 * MINUTE, Side.SELL, "0.5")
    next_day = START + DAY + MINUTE
    return [
        _bar(100.0, 1),
        _bar(50.0, 1, ETH),
        equity_marked(10000, ts=t, day_pnl="0"),
        buy_1,  # approved
        buy_2,  # approved, still awaiting its client id
        _intent(t, Side.BUY, "20"),  # refused: position cap with working orders
        _submit("a", buy_1),
        make_fill(Side.BUY, "0.5", "100", ts=t + MINUTE, client_order_id="a", trade_id="t1"),
        position_changed("0.5", ts=t + MINUTE),
        buy_3,  # approved
        _submit("b", buy_2),
        OrderCanceled(ts=t + 2 * MINUTE, client_order_id="b", symbol=BTC),
        _submit("c", buy_3),
        _bar(90.0, 3),
        equity_marked(9400, ts=t + 3 * MINUTE, day_pnl="-600"),  # breach: REDUCING
        _intent(t + 4 * MINUTE, Side.BUY, "1"),  # refused: reducing
        exit_half,  # an exit passes
        _submit("d", exit_half),
        equity_marked(9300, ts=t + 6 * MINUTE, day_pnl="-700"),  # no second breach today
        Halt(ts=t + 7 * MINUTE, reason="operator"),
        Resume(ts=t + 8 * MINUTE, reason="operator"),
        equity_marked(9300, ts=t + 9 * MINUTE, day_pnl="-700"),  # resumed: holds for the day
        _intent(t + 10 * MINUTE, Side.BUY, "1"),
        equity_marked(9300, ts=next_day, day_pnl="0"),  # a new day re-arms the limit
        equity_marked(8000, ts=next_day + MINUTE, day_pnl="-1300"),
        FlattenAll(ts=next_day + 2 * MINUTE, reason="operator"),
        _intent(next_day + 3 * MINUTE, Side.BUY, "1", ETH),
        Resume(ts=next_day + 4 * MINUTE),
        _intent(next_day + 5 * MINUTE, Side.BUY, "1", ETH),
    ]


SESSION = _session()


@pytest.mark.parametrize("cut", range(len(SESSION) + 1))
def test_restored_risk_manager_continues_exactly_like_the_original(cut: int) -> None:
    original, original_out = _risk()
    for message in SESSION[:cut]:
        _deliver(original, message)
    state = original.snapshot()
    decoded = _through_msgpack(state)
    assert decoded == state

    restored, restored_out = _risk()
    restored.clock = SimClock(original.clock.now())
    restored.restore(decoded)
    assert restored.snapshot() == state
    del original_out[:]
    for message in SESSION[cut:]:
        _deliver(original, message)
        _deliver(restored, message)

    assert [encode(m) for m in restored_out] == [encode(m) for m in original_out]
    assert ENCODER.encode(restored.snapshot()) == ENCODER.encode(original.snapshot())
    assert restored.usage() == original.usage()


def test_snapshot_holds_working_orders_awaiting_intents_and_the_days_loss_state() -> None:
    risk, _ = _risk()
    for message in SESSION[:16]:
        _deliver(risk, message)
    state = risk.snapshot()
    assert state.state is RiskState.REDUCING
    assert state.reducing_cause == "daily_loss"
    assert not state.loss_armed
    assert state.next_day_ns == START + DAY
    assert state.day_pnl == Decimal("-600")
    assert state.positions == {BTC: Decimal("0.5")}
    assert state.last_close == {BTC: 90.0, ETH: 50.0}
    assert state.working == (WorkingQuantity(symbol=BTC, side=Side.BUY, quantity=Decimal("3.5")),)
    assert state.orders == {
        "a": WorkingOrder(symbol=BTC, side=Side.BUY, remaining=Decimal("0.5")),
        "c": WorkingOrder(symbol=BTC, side=Side.BUY, remaining=Decimal("3")),
    }
    assert state.awaiting_id == ()


def test_restored_risk_manager_matches_an_intent_approved_before_the_snapshot() -> None:
    original, _ = _risk()
    for message in SESSION[:5]:  # buy_1 and buy_2 approved, neither submitted
        _deliver(original, message)
    assert len(original.snapshot().awaiting_id) == 2
    restored, _ = _risk()
    restored.restore(_through_msgpack(original.snapshot()))
    _deliver(restored, SESSION[6])  # SubmitOrder of buy_1
    state = restored.snapshot()
    assert [intent.ticket.quantity for intent in state.awaiting_id] == [Decimal(2)]
    assert "a" in state.orders


def test_mutating_the_restored_risk_manager_leaves_the_original_and_the_snapshot_alone() -> None:
    original, _ = _risk()
    for message in SESSION[:13]:
        _deliver(original, message)
    state = original.snapshot()
    before = ENCODER.encode(state)
    restored, _ = _risk()
    restored.restore(state)  # not through msgpack: nothing may be shared with the original
    for message in SESSION[13:]:
        _deliver(restored, message)
    _deliver(restored, make_fill(Side.BUY, "3", "100", ts=START + DAY, client_order_id="c"))

    assert ENCODER.encode(state) == before
    assert ENCODER.encode(original.snapshot()) == before
    assert original.state is RiskState.ACTIVE
