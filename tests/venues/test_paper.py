"""The paper broker on live-like market data: the backtest exchange's fills (same bars, same
model, same prices, fees and trade ids) although its orders carry wall-clock times, repeats
from a stream ignored, cancels, queries, venue snapshots, and snapshots of its state."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actors.clock import SimClock
from actors.messages import (
    BAR_OPEN,
    Alert,
    Bar,
    BarUpdate,
    CancelOrder,
    ExecutionReport,
    Liquidity,
    Message,
    OrderStatus,
    OrderStatusReport,
    OrderTicket,
    OrderType,
    QueryOrder,
    Reconcile,
    Side,
    SubmitOrder,
    Subscribe,
    TimeInForce,
    TradeTick,
    VenueSnapshot,
)
from tests.factories import btcusdt
from venues.backtest import BacktestExchange
from venues.fill_model import FillModelConfig, fee, price_to_tick
from venues.paper import PaperBroker, PaperBrokerState

D = Decimal
MINUTE = 60_000_000_000
SYMBOL = "BTCUSDT"
# Market data from 2024 (a replay, or a venue's clock) while the wall clock says 2027.
START = 1_704_067_200 * 1_000_000_000
WALL = 1_800_000_000 * 1_000_000_000
INSTRUMENT = btcusdt(lot_size="0.001", min_quantity="0.001", min_notional=5)
BALANCES = {"USDT": D(100_000), "BTC": D(1)}
MODEL = FillModelConfig(
    taker_fee_bps=D(10), maker_fee_bps=D(2), half_spread_bps=D(3), impact_bps=D(50),
    participation_cap=D("0.3"), slippage_noise_bps=D(20), seed=11,
)  # fmt: skip
ENCODER = msgspec.msgpack.Encoder(decimal_format="string")


def bar(index: int, o: float, h: float, lo: float, c: float, volume: float = 10.0) -> Bar:
    start = START + index * MINUTE
    return Bar(
        ts=start + MINUTE, symbol=SYMBOL, interval="1m", start=start, open=o, high=h, low=lo,
        close=c, volume=volume,
    )  # fmt: skip


def opening(b: Bar) -> BarUpdate:
    """The stream's update when a kline starts: o = h = l = c = open, no volume yet."""
    only_open = msgspec.structs.replace(b, high=b.open, low=b.open, close=b.open, volume=0.0)
    return BarUpdate(ts=b.start, bar=only_open, closed=False)


def closing(b: Bar) -> BarUpdate:
    return BarUpdate(ts=b.ts, bar=b, closed=True)


def submit(client_id: str, ticket: OrderTicket, ts: int) -> SubmitOrder:
    return SubmitOrder(ts=ts, client_order_id=client_id, strategy="s", ticket=ticket)


def market(quantity: str = "0.5", side: Side = Side.BUY) -> OrderTicket:
    return OrderTicket(symbol=SYMBOL, side=side, quantity=D(quantity))


def limit(price: str, quantity: str = "0.5", side: Side = Side.BUY) -> OrderTicket:
    return OrderTicket(
        symbol=SYMBOL, side=side, quantity=D(quantity), order_type=OrderType.LIMIT,
        limit_price=D(price),
    )  # fmt: skip


class Driven:
    """A venue actor fed by hand. ``live``: the clock is the wall clock, which market data
    and orders do not follow (a paper session); else simulated time follows each message
    (a backtest)."""

    def __init__(self, venue: BacktestExchange, *, live: bool) -> None:
        self.venue = venue
        self.live = live
        self.out: list[Message] = []
        self.clock = SimClock(WALL if live else START)
        venue.attach(self.out.append, self.clock)
        self._handlers: dict[type, Callable[[Any], None]] = venue.handlers()

    def feed(self, messages: Sequence[Message]) -> None:
        for message in messages:
            if self.live:
                self.clock.advance_to(self.clock.now() + 1_000_000)
            else:
                self.clock.advance_to(message.ts)
            handler = self._handlers.get(type(message))
            if handler is not None:
                handler(message)

    def reports(self) -> list[ExecutionReport]:
        return [m for m in self.out if isinstance(m, ExecutionReport)]


def paper() -> Driven:
    return Driven(
        PaperBroker(instruments={SYMBOL: INSTRUMENT}, initial_balances=BALANCES, fill_model=MODEL),
        live=True,
    )


def backtest() -> Driven:
    exchange = BacktestExchange(
        instruments={SYMBOL: INSTRUMENT}, initial_balances=BALANCES, fill_model=MODEL
    )
    return Driven(exchange, live=False)


def terms(report: ExecutionReport) -> ExecutionReport:
    """A report without what only says who and when it was stamped: the venue's name, and
    the clock time of acknowledgements and cancels (fills and expiries carry bar times)."""
    stamped_by_clock = report.status in (OrderStatus.ACCEPTED, OrderStatus.CANCELED)
    return msgspec.structs.replace(report, venue="", ts=0 if stamped_by_clock else report.ts)


# --- the same fills as the backtest exchange ------------------------------------------------

B0 = bar(0, 100.0, 101.0, 99.0, 100.5, volume=12.0)
B1 = bar(1, 100.8, 102.0, 99.5, 101.0, volume=8.0)
B2 = bar(2, 101.2, 101.9, 97.9, 98.5, volume=20.0)


def test_a_market_order_fills_at_the_next_open_exactly_as_in_a_backtest() -> None:
    live, replay = paper(), backtest()
    live.feed([opening(B0), closing(B0)])
    replay.feed([opening(B0), closing(B0)])
    # Decided on B0's close: the backtest stamps it with market time, the session the wall.
    live.feed([submit("c1", market(), WALL + 5)])
    replay.feed([submit("c1", market(), B0.ts)])
    later = [TradeTick(ts=B1.start + 1, symbol=SYMBOL, price=100.9, size=1.0, aggressor=Side.BUY)]
    live.feed([opening(B1), *later, closing(B1)])
    replay.feed([opening(B1), closing(B1)])

    assert [terms(r) for r in live.reports()] == [terms(r) for r in replay.reports()]
    accepted, filled = live.reports()
    assert (accepted.status, accepted.venue, filled.status) == (
        OrderStatus.ACCEPTED, "paper", OrderStatus.FILLED,
    )  # fmt: skip
    # At B1's open plus half the spread, the impact of 0.5 against B0's 12, and the noise
    # the seed draws, on the tick; the taker fee on that notional.
    cost_bps = MODEL.half_spread_bps + MODEL.impact_bps * D("0.5") / D(12)
    assert price_to_tick(D("100.8") * (1 + cost_bps / 10_000), D("0.01"), Side.BUY) <= (
        filled.last_price
    )
    assert filled.last_price <= price_to_tick(
        D("100.8") * (1 + (cost_bps + MODEL.slippage_noise_bps) / 10_000), D("0.01"), Side.BUY
    )
    assert filled.fee == fee(filled.last_price * D("0.5"), MODEL.taker_fee_bps)
    assert (filled.ts, filled.trade_id, filled.liquidity) == (B1.start, "1", Liquidity.TAKER)
    assert live.venue.balances == replay.venue.balances


def test_an_order_that_arrives_after_the_next_bar_opened_still_fills_at_that_open() -> None:
    """Decided on B0's close, but B1's opening update (and B1's trades) reached the broker
    first: a fast replay, or a kline stream lagging the trade stream. The backtest fills it
    at B1's open; so does the paper broker, when B1 closes."""
    live, replay = paper(), backtest()
    tick = TradeTick(ts=B1.start + 900_000_000, symbol=SYMBOL, price=101.5, size=1.0,
                     aggressor=Side.SELL)  # fmt: skip
    live.feed([opening(B0), closing(B0), opening(B1), tick, submit("c1", market(), WALL)])
    assert [r.status for r in live.reports()] == [OrderStatus.ACCEPTED]
    live.feed([closing(B1)])
    replay.feed([opening(B0), closing(B0), submit("c1", market(), B0.ts), opening(B1)])
    replay.feed([closing(B1)])
    assert [terms(r) for r in live.reports()] == [terms(r) for r in replay.reports()]
    assert live.reports()[-1].ts == B1.start


def test_an_order_decided_after_a_bar_closed_never_fills_at_that_bars_open() -> None:
    live = paper()
    live.feed([opening(B0), closing(B0), opening(B1), closing(B1), submit("c1", market(), WALL)])
    live.feed([closing(B1), opening(B1)])  # repeats: the order's bar is B2
    assert [r.status for r in live.reports()] == [OrderStatus.ACCEPTED]
    live.feed([opening(B2)])
    (_, filled) = live.reports()
    assert (filled.status, filled.ts) == (OrderStatus.FILLED, B2.start)


def test_a_resting_limit_fills_as_maker_when_a_bar_trades_through_as_in_a_backtest() -> None:
    live, replay = paper(), backtest()
    for venue, ts in ((live, WALL), (replay, B0.ts)):
        venue.feed([opening(B0), closing(B0), submit("c1", limit("99.00", "3"), ts)])
        venue.feed([opening(B1), closing(B1), opening(B2), closing(B2)])
    assert [terms(r) for r in live.reports()] == [terms(r) for r in replay.reports()]
    statuses = [(r.status, r.last_quantity, r.liquidity) for r in live.reports()]
    # B1 only touches 99.5; B2 trades through 99.00 and fills 30% of its 20 (6 >= 3).
    assert statuses == [
        (OrderStatus.ACCEPTED, D(0), Liquidity.TAKER),
        (OrderStatus.FILLED, D(3), Liquidity.MAKER),
    ]
    assert live.reports()[-1].last_price == D("99.00")


def test_updates_a_stream_repeats_or_delivers_late_are_not_matched_twice() -> None:
    thin = bar(1, 100.0, 100.0, 98.0, 99.0, volume=2.0)  # 30% of 2: 0.6 per bar
    live, replay = paper(), backtest()
    for venue, ts in ((live, WALL), (replay, B0.ts)):
        venue.feed([opening(B0), closing(B0), submit("c1", limit("99.00", "1.5"), ts)])
    live.feed([opening(thin), opening(thin), closing(thin), closing(thin), opening(thin)])
    live.feed([closing(B0), opening(B0)])  # late: already matched
    replay.feed([opening(thin), closing(thin)])
    assert [terms(r) for r in live.reports()] == [terms(r) for r in replay.reports()]
    assert [r.last_quantity for r in live.reports()] == [D(0), D("0.6")]


def test_a_stream_of_closed_bars_only_gives_the_same_fill_at_the_close() -> None:
    with_opens, closed_only = paper(), paper()
    for venue in (with_opens, closed_only):
        venue.feed([closing(B0), submit("c1", market(), WALL)])
    with_opens.feed([opening(B1), closing(B1)])
    closed_only.feed([closing(B1)])
    assert [terms(r) for r in with_opens.reports()] == [terms(r) for r in closed_only.reports()]
    assert closed_only.reports()[-1].ts == B1.start


def test_it_subscribes_to_bar_opens_while_orders_work_as_the_venue_actor() -> None:
    live = paper()
    live.feed([opening(B0), closing(B0), submit("c1", market(), WALL)])
    (subscribe,) = [m for m in live.out if isinstance(m, Subscribe)]
    assert (subscribe.subscriber, subscribe.symbol, subscribe.stream) == ("venue", SYMBOL, BAR_OPEN)
    assert PaperBroker.name == "venue"


def test_a_market_order_before_any_close_is_rejected() -> None:
    live = paper()
    live.feed([opening(B0), submit("c1", market(), WALL)])
    (report,) = live.reports()
    assert report.status is OrderStatus.REJECTED and "no market price" in report.reason


# --- cancels, queries and snapshots of the venue -------------------------------------------


def test_a_cancel_ends_the_order_and_releases_what_it_reserved() -> None:
    live = paper()
    live.feed([opening(B0), closing(B0), submit("c1", limit("90.00", "2"), WALL)])
    assert live.venue.available("USDT") < BALANCES["USDT"]
    live.feed([CancelOrder(ts=WALL, client_order_id="c1", symbol=SYMBOL)])
    assert [r.status for r in live.reports()] == [OrderStatus.ACCEPTED, OrderStatus.CANCELED]
    assert live.venue.available("USDT") == BALANCES["USDT"]
    live.feed([opening(B1), closing(B1), opening(B2), closing(B2)])
    assert len(live.reports()) == 2
    live.feed([CancelOrder(ts=WALL, client_order_id="c1", symbol=SYMBOL)])
    assert isinstance(live.out[-1], Alert)


def test_a_query_answers_the_reports_as_sent_then_the_status_for_its_venue_only() -> None:
    live = paper()
    live.feed([opening(B0), closing(B0), submit("c1", market(), WALL), opening(B1)])
    sent = live.reports()
    live.out.clear()
    live.feed([QueryOrder(ts=WALL, venue="binance", client_order_id="c1")])
    assert live.out == []
    live.feed([QueryOrder(ts=WALL, venue="paper", client_order_id="c1")])
    *again, status = live.out
    assert again == sent
    assert isinstance(status, OrderStatusReport)
    assert (status.venue, status.status, status.filled_quantity, status.found) == (
        "paper", OrderStatus.FILLED, D("0.5"), True,
    )  # fmt: skip
    live.feed([QueryOrder(ts=WALL, venue="paper", client_order_id="nobody")])
    assert isinstance(live.out[-1], OrderStatusReport) and not live.out[-1].found


def test_reconcile_answers_the_local_balances_open_orders_and_trades() -> None:
    live = paper()
    live.feed([opening(B0), closing(B0), submit("c1", market(), WALL)])
    live.feed([submit("c2", limit("90.00", "1"), WALL), opening(B1), closing(B1)])
    live.feed([Reconcile(ts=WALL, since_trade=0)])
    snapshot = live.out[-1]
    assert isinstance(snapshot, VenueSnapshot)
    (filled,) = [r for r in live.reports() if r.trade_id]
    cost = filled.last_price * D("0.5") + filled.fee
    assert snapshot.venue == "paper"
    assert snapshot.balances == {"BTC": D("1.5"), "USDT": BALANCES["USDT"] - cost}
    assert [o.client_order_id for o in snapshot.open_orders] == ["c2"]
    assert (snapshot.trade_ids, snapshot.since_trade, snapshot.trade_cursor) == (("1",), 0, 1)


# --- its state through a snapshot -----------------------------------------------------------

_step = st.one_of(
    st.tuples(st.just("bar"), st.integers(-100, 100), st.integers(-100, 100),
              st.integers(0, 80), st.integers(0, 80), st.sampled_from([0.0, 1.0, 6.0, 30.0]),
              st.sampled_from(["both", "closed", "repeat", "late"])),
    st.tuples(st.just("tick"), st.integers(0, 59)),
    st.tuples(st.just("submit"), st.sampled_from(Side), st.sampled_from([OrderType.MARKET,
              OrderType.LIMIT]), st.integers(1, 900), st.integers(-100, 100),
              st.sampled_from(TimeInForce)),
    st.tuples(st.just("cancel"), st.integers(0, 30)),
    st.tuples(st.just("query"), st.integers(0, 30)),
    st.tuples(st.just("reconcile"), st.integers(0, 20)),
)  # fmt: skip


def _price(ticks: int) -> float:
    return round(100 + ticks / 100, 2)


def _session(steps: list[tuple[Any, ...]]) -> list[Message]:
    """A paper session's inputs: bars as a stream delivers them (sometimes without the
    opening update, sometimes repeated, sometimes with an old one again), trade ticks
    inside bars, and orders stamped with the wall clock."""
    messages: list[Message] = []
    minute = orders = 0
    for step in steps:
        match step:
            case ("bar", o, c, up, down, volume, delivery):
                b = bar(minute, _price(o), _price(max(o, c) + up), _price(min(o, c) - down),
                        _price(c), volume)  # fmt: skip
                minute += 1
                updates = [closing(b)] if delivery == "closed" else [opening(b), closing(b)]
                if delivery == "repeat":
                    updates += updates
                if delivery == "late" and minute > 1:
                    updates.append(closing(bar(minute - 2, 100.0, 100.0, 100.0, 100.0)))
                messages += updates
            case ("tick", second):
                ts = START + minute * MINUTE + second * 1_000_000_000
                messages.append(TradeTick(ts=ts, symbol=SYMBOL, price=100.0, size=0.1,
                                          aggressor=Side.BUY))  # fmt: skip
            case ("submit", side, order_type, lots, ticks, tif):
                orders += 1
                price = None if order_type is OrderType.MARKET else D(str(_price(ticks)))
                ticket = OrderTicket(symbol=SYMBOL, side=side, quantity=lots * D("0.001"),
                                     order_type=order_type, limit_price=price,
                                     time_in_force=tif)  # fmt: skip
                messages.append(submit(f"c{orders}", ticket, WALL + orders))
            case ("cancel", index):
                messages.append(CancelOrder(ts=WALL, client_order_id=f"c{index % (orders + 1)}",
                                            symbol=SYMBOL))  # fmt: skip
            case ("query", index):
                messages.append(QueryOrder(ts=WALL, venue="paper",
                                           client_order_id=f"c{index % (orders + 1)}"))  # fmt: skip
            case ("reconcile", since):
                messages.append(Reconcile(ts=WALL, since_trade=since))
    return messages


@settings(max_examples=120, deadline=None)
@given(steps=st.lists(_step, min_size=8, max_size=60), data=st.data())
def test_a_restored_paper_broker_goes_on_exactly_as_the_original(
    steps: list[tuple[Any, ...]], data: st.DataObject
) -> None:
    messages = _session(steps)
    cut = data.draw(st.integers(0, len(messages)), label="cut")
    original = paper()
    original.feed(messages[:cut])
    saved = msgspec.msgpack.Decoder(PaperBrokerState).decode(
        ENCODER.encode(original.venue.snapshot())
    )

    restored = paper()
    restored.clock.advance_to(original.clock.now())
    restored.venue.restore(saved)
    assert restored.venue.snapshot() == saved
    original.out.clear()
    original.feed(messages[cut:])
    restored.feed(messages[cut:])

    assert restored.out == original.out
    assert restored.venue.snapshot() == original.venue.snapshot()
    assert ENCODER.encode(restored.venue.snapshot()) == ENCODER.encode(original.venue.snapshot())


def test_the_snapshot_holds_market_time_and_what_the_stream_delivered() -> None:
    live = paper()
    tick = TradeTick(ts=B1.start + 5, symbol=SYMBOL, price=100.0, size=1.0, aggressor=Side.BUY)
    live.feed([opening(B0), closing(B0), opening(B1), tick])
    state = live.venue.snapshot()
    assert (state.market_time, state.opened, state.closed) == (
        {SYMBOL: B1.start}, {SYMBOL: B1.start}, {SYMBOL: B0.start},
    )  # fmt: skip
    assert state.last_closed == {SYMBOL: B0}


def test_a_backtest_exchange_state_is_not_a_paper_brokers() -> None:
    with pytest.raises(TypeError, match="PaperBrokerState"):
        paper().venue.restore(backtest().venue.snapshot())
