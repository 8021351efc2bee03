"""The strategy host's snapshot: positions, working orders, intents in flight and every
plug-in's own state carry over, so a restored host decides exactly as the original."""

from __future__ import annotations

import copy
from collections import deque
from decimal import Decimal
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actors.clock import SimClock
from actors.messages import (
    Bar,
    Fill,
    Message,
    OrderCanceled,
    OrderExpired,
    OrderIntent,
    OrderRejected,
    OrderTicket,
    PositionChanged,
    RiskRejected,
    Side,
    Signal,
    SubmitOrder,
)
from actors.ports import Decisions, StrategyContext
from actors.strategy import HostedOrder, StrategyHost, StrategyHostState
from strategies.base import Strategy
from strategies.sma_cross import SmaCross, SmaCrossState
from tests.factories import btcusdt, flat_bar

D = Decimal
MINUTE = 60_000_000_000
START = 1_000 * MINUTE
ENCODER = msgspec.msgpack.Encoder(decimal_format="string")
DECODER = msgspec.msgpack.Decoder(StrategyHostState)
BTC = btcusdt()
ETH = msgspec.structs.replace(BTC, symbol="ETHUSDT", base="ETH")
INSTRUMENTS = {"BTCUSDT": BTC, "ETHUSDT": ETH}


class Counter(Strategy):
    """Keeps nothing between calls: it signals the bar count the context gives it."""

    kind = "counter"

    class Params(msgspec.Struct):
        pass

    def on_bar(self, bar: Bar, ctx: StrategyContext) -> Decisions:
        ctx.signal(bar.symbol, "working", float(ctx.working(bar.symbol)))
        return None


def _plugins() -> list[Strategy]:
    return [
        SmaCross({"fast": 2, "slow": 4, "quantity": "1"}, ["BTCUSDT"], "1m", name="quick"),
        SmaCross({"fast": 3, "slow": 5, "quantity": "0.5"}, ["BTCUSDT", "ETHUSDT"], "1m"),
        Counter({}, ["ETHUSDT"], "1m"),
    ]


def _host(now: int) -> tuple[StrategyHost, list[Message], SimClock]:
    host = StrategyHost(_plugins(), INSTRUMENTS)
    out: list[Message] = []
    clock = SimClock(now)
    host.attach(out.append, clock)
    return host, out, clock


def _through_msgpack(state: StrategyHostState) -> StrategyHostState:
    return DECODER.decode(ENCODER.encode(state))


class Desk:
    """Risk, the order manager, the venue and the books in one: answers the host's
    intents, fills and closes its orders, and keeps the positions, as the steps say."""

    def __init__(self) -> None:
        self.minute = 0
        self.unanswered: deque[OrderIntent] = deque()
        self.orders: dict[str, tuple[SubmitOrder, Decimal]] = {}
        self.positions: dict[str, Decimal] = {}
        self.count = 0

    def step(self, host: StrategyHost, out: list[Message], clock: SimClock, step: Any) -> None:
        before = len(out)
        now = START + self.minute * MINUTE
        clock.advance_to(now)
        match step:
            case ("bar", symbol, cents):
                self.minute += 1
                host.on_bar(flat_bar(100 + cents / 100, START + self.minute * MINUTE, symbol))
            case ("answer", approve):
                if self.unanswered:
                    intent = self.unanswered.popleft()
                    if approve:
                        self._submit(host, now, intent.strategy, intent.ticket)
                    else:
                        host.on_risk_rejected(RiskRejected(ts=now, intent=intent, reason="no"))
            case ("foreign", symbol, side):
                ticket = OrderTicket(symbol=symbol, side=side, quantity=D("0.3"))
                self._submit(host, now, "manual", ticket)
            case ("fill", index, whole):
                if self.orders:
                    self._fill(host, now, sorted(self.orders)[index % len(self.orders)], whole)
            case ("close", index, kind):
                if self.orders:
                    client_order_id = sorted(self.orders)[index % len(self.orders)]
                    symbol = self.orders.pop(client_order_id)[0].ticket.symbol
                    event = (OrderCanceled, OrderRejected, OrderExpired)[kind]
                    extra = {"reason": "gone"} if event is OrderRejected else {}
                    host.handlers()[event](
                        event(ts=now, client_order_id=client_order_id, symbol=symbol, **extra)
                    )
        self.unanswered.extend(m for m in out[before:] if isinstance(m, OrderIntent))

    def _submit(self, host: StrategyHost, now: int, strategy: str, ticket: OrderTicket) -> None:
        self.count += 1
        submit = SubmitOrder(
            ts=now, client_order_id=f"c{self.count}", strategy=strategy, ticket=ticket
        )
        self.orders[submit.client_order_id] = (submit, ticket.quantity)
        host.on_submit_order(submit)

    def _fill(self, host: StrategyHost, now: int, client_order_id: str, whole: bool) -> None:
        submit, remaining = self.orders[client_order_id]
        ticket = submit.ticket
        quantity = remaining if whole or remaining <= D("0.1") else D("0.1")
        if quantity == remaining:
            del self.orders[client_order_id]
        else:
            self.orders[client_order_id] = (submit, remaining - quantity)
        host.on_fill(
            Fill(
                ts=now, client_order_id=client_order_id, venue_order_id="v", trade_id=f"t{now}",
                strategy=submit.strategy, symbol=ticket.symbol, side=ticket.side, price=D(100),
                quantity=quantity, cumulative_quantity=ticket.quantity - remaining + quantity,
                fee=D(0), fee_asset="USDT",
            )
        )  # fmt: skip
        signed = quantity if ticket.side is Side.BUY else -quantity
        position = self.positions[ticket.symbol] = self.positions.get(ticket.symbol, D(0)) + signed
        host.on_position_changed(
            PositionChanged(
                ts=now, symbol=ticket.symbol, quantity=position, average_price=D(100),
                realized_pnl=D(0),
            )
        )  # fmt: skip


_symbols = st.sampled_from(["BTCUSDT", "ETHUSDT"])
_steps = st.lists(
    st.one_of(
        st.tuples(st.just("bar"), _symbols, st.integers(-40, 40)),
        st.tuples(st.just("bar"), _symbols, st.integers(-40, 40)),
        st.tuples(st.just("answer"), st.booleans()),
        st.tuples(st.just("foreign"), _symbols, st.sampled_from(Side)),
        st.tuples(st.just("fill"), st.integers(0, 9), st.booleans()),
        st.tuples(st.just("close"), st.integers(0, 9), st.integers(0, 2)),
    ),
    min_size=10,
    max_size=120,
)


@settings(max_examples=150, deadline=None)
@given(steps=_steps, data=st.data())
def test_a_restored_host_decides_exactly_as_the_original(
    steps: list[Any], data: st.DataObject
) -> None:
    cut = data.draw(st.integers(0, len(steps)), label="cut")
    original, out, clock = _host(START)
    desk = Desk()
    for step in steps[:cut]:
        desk.step(original, out, clock, step)
    saved = _through_msgpack(original.snapshot())

    restored, restored_out, restored_clock = _host(clock.now())
    restored.restore(saved)
    # Decoded, a plug-in's state is plain data until restored: compare the restored host.
    assert restored.snapshot() == original.snapshot()
    assert ENCODER.encode(restored.snapshot()) == ENCODER.encode(saved)
    restored_desk = copy.deepcopy(desk)
    out.clear()
    for step in steps[cut:]:
        desk.step(original, out, clock, step)
        restored_desk.step(restored, restored_out, restored_clock, step)

    assert restored_out == out
    assert restored.snapshot() == original.snapshot()
    assert restored.working == original.working
    assert restored.positions == original.positions


def test_the_snapshot_holds_the_books_and_each_plugins_state_by_name() -> None:
    host, out, clock = _host(START)
    desk = Desk()
    # Up: "quick" buys 1 (filled 0.1); a manual sell; down: both sma crosses sell 0.1.
    steps: list[Any] = [("bar", "BTCUSDT", cents) for cents in (0, 0, 0, 0, 9)]
    steps += [("answer", True), ("fill", 0, False), ("foreign", "ETHUSDT", Side.SELL)]
    steps += [("bar", "BTCUSDT", -50)]
    for step in steps:
        desk.step(host, out, clock, step)
    state = host.snapshot()
    assert state.positions == {"BTCUSDT": D("0.1")}
    assert state.orders == {
        "c1": HostedOrder(strategy="quick", symbol="BTCUSDT", remaining=D("0.9")),
        "c2": HostedOrder(strategy="manual", symbol="ETHUSDT", remaining=D("-0.3")),
    }
    assert state.working == {
        "quick": {"BTCUSDT": D("0.8")},
        "manual": {"ETHUSDT": D("-0.3")},
        "sma_cross": {"BTCUSDT": D("-0.1")},
    }
    assert state.in_flight == {
        "quick": {"BTCUSDT": (D("-0.1"),)},
        "sma_cross": {"BTCUSDT": (D("-0.1"),)},
    }
    assert sorted(state.plugins) == ["counter", "quick", "sma_cross"]
    assert state.plugins["counter"] is None
    quick = state.plugins["quick"]
    assert isinstance(quick, SmaCrossState)
    assert quick.averages["BTCUSDT"].prices == (10_000, 10_000, 10_009, 9_950)


def test_changing_a_restored_host_leaves_the_original_and_its_snapshot_alone() -> None:
    original, out, clock = _host(START)
    desk = Desk()
    for step in [("bar", "BTCUSDT", c) for c in (0, 0, 0, 0, 9)] + [("answer", True)]:
        desk.step(original, out, clock, step)
    saved = original.snapshot()
    before = ENCODER.encode(saved)

    restored, restored_out, restored_clock = _host(clock.now())
    restored.restore(saved)  # in process: nothing may be shared
    restored_desk = copy.deepcopy(desk)
    for step in [("fill", 0, False), ("answer", True), ("bar", "BTCUSDT", -50)]:
        restored_desk.step(restored, restored_out, restored_clock, step)

    assert restored.snapshot() != saved
    assert ENCODER.encode(saved) == before
    assert original.snapshot() == saved


def test_a_snapshot_of_other_strategies_is_refused() -> None:
    host, _, _ = _host(START)
    state = host.snapshot()
    alone = StrategyHost(_plugins()[:1], INSTRUMENTS)
    with pytest.raises(ValueError, match=r"holds strategies \['counter', 'quick', 'sma_cross'\]"):
        alone.restore(state)


def test_a_plugin_without_state_refuses_one() -> None:
    host, _, _ = _host(START)
    state = msgspec.structs.replace(
        host.snapshot(), plugins={**host.snapshot().plugins, "counter": {"x": 1}}
    )
    with pytest.raises(TypeError, match="'counter' keeps no state"):
        _host(START)[0].restore(state)


def test_signals_are_not_state() -> None:
    host, out, clock = _host(START)
    Desk().step(host, out, clock, ("bar", "ETHUSDT", 0))
    assert [type(message) for message in out] == [Signal]
