"""The backtest exchange's snapshot: a restored exchange fills, reports and answers exactly
as the original would have, noise included."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actors.clock import SimClock
from actors.messages import (
    Bar,
    BarUpdate,
    CancelOrder,
    ExecutionReport,
    Instrument,
    Message,
    OrderStatus,
    OrderTicket,
    OrderType,
    QueryOrder,
    Reconcile,
    Side,
    SubmitOrder,
    TimeInForce,
)
from tests.factories import btcusdt
from venues.backtest import BacktestExchange, BacktestExchangeState
from venues.fill_model import FillModelConfig

D = Decimal
MINUTE = 60_000_000_000
START = 1_700_000_000 * 1_000_000_000 // MINUTE * MINUTE
ENCODER = msgspec.msgpack.Encoder(decimal_format="string")
DECODER = msgspec.msgpack.Decoder(BacktestExchangeState)
BTC = btcusdt(lot_size="0.001", min_quantity="0.001", min_notional=5)
ETH = Instrument(
    ts=0, symbol="ETHUSDT", venue="backtest", base="ETH", quote="USDT",
    tick_size=D("0.01"), lot_size=D("0.01"), min_quantity=D("0.01"), min_notional=D(5),
)  # fmt: skip
INSTRUMENTS = {"BTCUSDT": BTC, "ETHUSDT": ETH}
BALANCES = {"USDT": D(20_000), "BTC": D(3), "ETH": D(40)}
# Every cost switched on, noise too: the restored noise source must draw on where it was.
MODEL = FillModelConfig(
    taker_fee_bps=D(10), maker_fee_bps=D(2), half_spread_bps=D(3), impact_bps=D(50),
    participation_cap=D("0.3"), slippage_noise_bps=D(20), seed=7,
)  # fmt: skip


def _exchange(now: int) -> tuple[BacktestExchange, list[Message], SimClock]:
    exchange = BacktestExchange(
        instruments=INSTRUMENTS, initial_balances=BALANCES, fill_model=MODEL
    )
    out: list[Message] = []
    clock = SimClock(now)
    exchange.attach(out.append, clock)
    return exchange, out, clock


def _through_msgpack(state: BacktestExchangeState) -> BacktestExchangeState:
    return DECODER.decode(ENCODER.encode(state))


def _deliver(exchange: BacktestExchange, clock: SimClock, messages: list[Message]) -> None:
    handlers: dict[type, Callable[[Any], None]] = exchange.handlers()
    for message in messages:
        clock.advance_to(message.ts)
        handlers[type(message)](message)


# --- a random session: bars of two symbols, and orders of every kind on them ----------

_bars = st.tuples(
    st.just("bar"),
    st.sampled_from(sorted(INSTRUMENTS)),
    st.integers(-150, 150),  # open, ticks from 100.00
    st.integers(-150, 150),  # close
    st.integers(0, 100),  # high above max(open, close)
    st.integers(0, 100),  # low below min(open, close)
    st.sampled_from([0.0, 0.5, 3.0, 40.0]),  # volume
    st.booleans(),  # whether the open update is sent
)
_orders = st.tuples(
    st.just("submit"),
    st.sampled_from(sorted(INSTRUMENTS)),
    st.sampled_from(Side),
    st.sampled_from(OrderType),
    st.integers(1, 600),  # lots (BTC: below 50 is under the minimum notional)
    st.integers(-100, 100),  # limit, ticks from 100.00
    st.integers(-100, 100),  # stop, ticks from 100.00
    st.sampled_from(TimeInForce),
    st.booleans(),  # post only
)
# An index into the orders submitted so far; 0 names none.
_cancels = st.tuples(st.just("cancel"), st.integers(0, 50))
_queries = st.tuples(st.just("query"), st.integers(0, 50))
_reconciles = st.tuples(st.just("reconcile"), st.integers(-2, 30))
_steps = st.lists(
    st.one_of(_bars, _bars, _bars, _orders, _orders, _cancels, _queries, _reconciles),
    min_size=10,
    max_size=80,
)


def _price(ticks: int) -> float:
    return round(100 + ticks / 100, 2)


def _messages(steps: list[tuple[Any, ...]]) -> list[Message]:
    """The exchange's inputs for ``steps``, timed: each bar a minute after the last."""
    messages: list[Message] = []
    minute = 0
    orders = 0
    for step in steps:
        now = START + minute * MINUTE
        match step:
            case ("bar", symbol, o, c, up, down, volume, with_open):
                start = now
                minute += 1
                bar = Bar(
                    ts=start + MINUTE, symbol=symbol, interval="1m", start=start,
                    open=_price(o), high=_price(max(o, c) + up), low=_price(min(o, c) - down),
                    close=_price(c), volume=volume,
                )  # fmt: skip
                if with_open:
                    opening = msgspec.structs.replace(
                        bar, high=bar.open, low=bar.open, close=bar.open, volume=0.0
                    )
                    messages.append(BarUpdate(ts=start, bar=opening, closed=False))
                messages.append(BarUpdate(ts=bar.ts, bar=bar, closed=True))
            case ("submit", symbol, side, order_type, lots, limit, stop, tif, post_only):
                orders += 1
                instrument = INSTRUMENTS[symbol]
                ticket = OrderTicket(
                    symbol=symbol, side=side, quantity=lots * instrument.lot_size,
                    order_type=order_type,
                    limit_price=None if order_type is OrderType.MARKET else D(str(_price(limit))),
                    stop_price=D(str(_price(stop))) if order_type is OrderType.STOP_LIMIT else None,
                    time_in_force=tif, post_only=post_only,
                )  # fmt: skip
                messages.append(
                    SubmitOrder(ts=now, client_order_id=f"c{orders}", strategy="s", ticket=ticket)
                )
            case ("cancel", index):
                symbol = "ETHUSDT" if index % 4 == 3 else "BTCUSDT"
                client_order_id = f"c{index % (orders + 1)}"
                messages.append(CancelOrder(ts=now, client_order_id=client_order_id, symbol=symbol))
            case ("query", index):
                client_order_id = f"c{index % (orders + 1)}"
                messages.append(
                    QueryOrder(ts=now, venue="backtest", client_order_id=client_order_id)
                )
            case ("reconcile", since):
                messages.append(Reconcile(ts=now, since_trade=since))
    return messages


@settings(max_examples=150, deadline=None)
@given(steps=_steps, data=st.data())
def test_a_restored_exchange_goes_on_exactly_as_the_original(
    steps: list[tuple[Any, ...]], data: st.DataObject
) -> None:
    messages = _messages(steps)
    cut = data.draw(st.integers(0, len(messages)), label="cut")
    original, out, clock = _exchange(START)
    _deliver(original, clock, messages[:cut])
    saved = _through_msgpack(original.snapshot())

    restored, restored_out, restored_clock = _exchange(clock.now())
    restored.restore(saved)
    assert restored.snapshot() == saved
    out.clear()
    _deliver(original, clock, messages[cut:])
    _deliver(restored, restored_clock, messages[cut:])

    assert restored_out == out
    assert restored.snapshot() == original.snapshot()
    assert ENCODER.encode(restored.snapshot()) == ENCODER.encode(original.snapshot())
    assert restored.balances == original.balances
    assert restored.working_orders == original.working_orders


def test_the_snapshot_holds_balances_orders_in_progress_and_the_trade_sequence() -> None:
    exchange, _, clock = _exchange(START)
    bar = Bar(
        ts=START + MINUTE, symbol="BTCUSDT", interval="1m", start=START, open=100.0,
        high=101.0, low=99.0, close=100.0, volume=1.0,
    )  # fmt: skip
    _deliver(exchange, clock, [BarUpdate(ts=bar.ts, bar=bar)])
    ticket = OrderTicket(
        symbol="BTCUSDT", side=Side.BUY, quantity=D("0.5"), order_type=OrderType.LIMIT,
        limit_price=D("99.50"),
    )  # fmt: skip
    later = msgspec.structs.replace(bar, ts=bar.ts + MINUTE, start=bar.ts, low=99.0)
    _deliver(
        exchange,
        clock,
        [
            SubmitOrder(ts=bar.ts, client_order_id="c1", strategy="s", ticket=ticket),
            BarUpdate(ts=later.ts, bar=later),
        ],
    )
    state = exchange.snapshot()
    # 30% of a volume of 1 fills per bar: a partial fill, the rest still reserved.
    (order,) = state.orders
    assert order.client_order_id == "c1" and order.filled == D("0.3")
    assert order.reserved == D("0.2") * D("99.50") * (1 + D(10) / 10_000)
    assert state.trade_count == 1 and state.order_count == 1
    assert state.balances["BTC"] == D("3.3")
    assert state.last_closed == {"BTCUSDT": later}
    assert [report.status for report in state.history[0].reports] == [
        OrderStatus.ACCEPTED, OrderStatus.PARTIALLY_FILLED,
    ]  # fmt: skip


def test_changing_a_restored_exchange_leaves_the_original_and_its_snapshot_alone() -> None:
    original, _, clock = _exchange(START)
    steps = [
        ("bar", "BTCUSDT", 0, 0, 10, 10, 40.0, True),
        ("submit", "BTCUSDT", Side.BUY, OrderType.LIMIT, 200, -5, 0, TimeInForce.GTC, False),
    ]
    _deliver(original, clock, _messages(steps))
    saved = original.snapshot()
    before = ENCODER.encode(saved)

    restored, _, restored_clock = _exchange(clock.now())
    restored.restore(saved)  # in process, not through msgpack: nothing may be shared
    fill = ("bar", "BTCUSDT", 0, 0, 10, 50, 40.0, True)
    more = _messages([*steps, fill])[len(_messages(steps)) :]
    _deliver(restored, restored_clock, more)

    assert restored.snapshot() != saved
    assert ENCODER.encode(saved) == before
    assert original.snapshot() == saved
    assert original.available("USDT") < original.balances["USDT"]  # still reserved


def test_a_restored_exchange_refuses_a_resubmitted_client_id_it_accepted_before() -> None:
    original, _, clock = _exchange(START)
    steps = [
        ("bar", "BTCUSDT", 0, 0, 10, 10, 40.0, True),
        ("submit", "BTCUSDT", Side.BUY, OrderType.MARKET, 100, 0, 0, TimeInForce.GTC, False),
    ]
    messages = _messages(steps)
    _deliver(original, clock, messages)
    restored, out, restored_clock = _exchange(clock.now())
    restored.restore(_through_msgpack(original.snapshot()))
    _deliver(restored, restored_clock, [messages[-1]])
    assert [type(message).__name__ for message in out] == ["Alert"]


def test_a_snapshot_with_an_order_on_an_unknown_symbol_is_refused() -> None:
    original, _, clock = _exchange(START)
    _deliver(
        original,
        clock,
        _messages(
            [
                ("bar", "ETHUSDT", 0, 0, 10, 10, 40.0, True),
                ("submit", "ETHUSDT", Side.SELL, OrderType.LIMIT, 5, 50, 0, TimeInForce.GTC, False),
            ]
        ),
    )
    only_btc = BacktestExchange(instruments={"BTCUSDT": BTC}, initial_balances=BALANCES)
    with pytest.raises(ValueError, match="ETHUSDT"):
        only_btc.restore(original.snapshot())


def test_reports_kept_for_queries_are_the_ones_sent() -> None:
    exchange, out, clock = _exchange(START)
    steps = [
        ("bar", "BTCUSDT", 0, 0, 10, 10, 40.0, True),
        ("submit", "BTCUSDT", Side.BUY, OrderType.MARKET, 100, 0, 0, TimeInForce.GTC, False),
        ("bar", "BTCUSDT", 0, 0, 10, 10, 40.0, True),
    ]
    _deliver(exchange, clock, _messages(steps))
    sent = [message for message in out if isinstance(message, ExecutionReport)]
    (history,) = exchange.snapshot().history
    assert list(history.reports) == sent
    assert history.quantity == D("0.1")
    assert [report.status for report in sent] == [OrderStatus.ACCEPTED, OrderStatus.FILLED]
