from decimal import Decimal
from typing import Any

import msgspec
import pytest

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
    Unsubscribe,
    VenueSnapshot,
)
from tests.factories import btcusdt
from venues.backtest import BacktestExchange
from venues.fill_model import FillModelConfig

D = Decimal
MINUTE = 60_000_000_000
SYMBOL = "BTCUSDT"
INSTRUMENT = btcusdt(lot_size="0.001", min_quantity="0.001", min_notional=5)
BALANCES = {"USDT": D(100_000), "BTC": D(1)}


class Venue:
    """An exchange driven by hand: bars in, reports out, on a simulated clock."""

    def __init__(self, balances: dict[str, Decimal] | None = None, **model: Any) -> None:
        self.exchange = BacktestExchange(
            instruments={SYMBOL: INSTRUMENT},
            initial_balances=BALANCES if balances is None else balances,
            fill_model=FillModelConfig(**model),
        )
        self.out: list[Message] = []
        self.clock = SimClock(0)
        self.exchange.attach(self.out.append, self.clock)
        self._orders = 0

    def bar(
        self,
        index: int,
        open: float,
        high: float,
        low: float,
        close: float,
        volume: float = 10.0,
        *,
        open_update: bool = True,
    ) -> Bar:
        """Deliver bar ``index`` the way the feed does: open-only update, then closed."""
        start = index * MINUTE
        bar = Bar(
            ts=start + MINUTE,
            symbol=SYMBOL,
            interval="1m",
            start=start,
            open=open,
            high=high,
            low=low,
            close=close,
            volume=volume,
        )
        if open_update:
            self.clock.advance_to(start)
            opening = msgspec.structs.replace(bar, high=open, low=open, close=open, volume=0.0)
            self.exchange.on_bar_update(BarUpdate(ts=start, bar=opening, closed=False))
        self.clock.advance_to(bar.ts)
        self.exchange.on_bar_update(BarUpdate(ts=bar.ts, bar=bar, closed=True))
        return bar

    def submit(
        self,
        side: Side,
        quantity: str,
        *,
        ts: int | None = None,
        client_order_id: str = "",
        **terms: Any,
    ) -> str:
        self._orders += 1
        client_order_id = client_order_id or f"c{self._orders}"
        ticket = OrderTicket(
            symbol=terms.pop("symbol", SYMBOL), side=side, quantity=D(quantity), **terms
        )
        self.exchange.on_submit_order(
            SubmitOrder(
                ts=self.clock.now() if ts is None else ts,
                client_order_id=client_order_id,
                strategy="s",
                ticket=ticket,
            )
        )
        return client_order_id

    def reports(self, *statuses: OrderStatus) -> list[ExecutionReport]:
        return [
            message
            for message in self.out
            if isinstance(message, ExecutionReport) and (not statuses or message.status in statuses)
        ]

    def fills(self) -> list[ExecutionReport]:
        return self.reports(OrderStatus.PARTIALLY_FILLED, OrderStatus.FILLED)

    def alerts(self) -> list[Alert]:
        return [message for message in self.out if isinstance(message, Alert)]


def limit(price: str, **terms: Any) -> dict[str, Any]:
    return {"order_type": OrderType.LIMIT, "limit_price": D(price), **terms}


def stop_limit(stop: str, price: str) -> dict[str, Any]:
    return {"order_type": OrderType.STOP_LIMIT, "stop_price": D(stop), "limit_price": D(price)}


# --- acceptance and validation -----------------------------------------------------------


def test_exchange_subscribes_to_orders_cancels_bar_updates_reconcile_and_queries() -> None:
    handlers = Venue().exchange.handlers()
    assert set(handlers) == {SubmitOrder, CancelOrder, BarUpdate, Reconcile, QueryOrder}
    assert BacktestExchange.name == "exchange"


def test_opens_are_subscribed_while_orders_work_and_dropped_when_none_do() -> None:
    venue = Venue()
    venue.bar(0, 100, 101, 99, 100)
    first = venue.submit(Side.BUY, "0.1", **limit("90"))
    venue.submit(Side.BUY, "0.1", **limit("91"))
    subscriptions = [m for m in venue.out if isinstance(m, (Subscribe, Unsubscribe))]
    assert subscriptions == [
        Subscribe(ts=MINUTE, subscriber="exchange", symbol=SYMBOL, stream=BAR_OPEN)
    ]  # one per symbol, not per order
    venue.exchange.on_cancel_order(CancelOrder(ts=MINUTE, client_order_id=first, symbol=SYMBOL))
    assert not any(isinstance(m, Unsubscribe) for m in venue.out)  # one still works
    venue.submit(Side.BUY, "0.1")  # a market order: fills at the next open
    venue.exchange.on_cancel_order(CancelOrder(ts=MINUTE, client_order_id="c2", symbol=SYMBOL))
    venue.bar(1, 100, 101, 99, 100)
    assert [type(m) for m in venue.out if isinstance(m, (Subscribe, Unsubscribe))] == [
        Subscribe,
        Unsubscribe,
    ]
    assert venue.exchange.working_orders == ()


def test_valid_order_is_accepted_at_once_with_counted_venue_order_ids() -> None:
    venue = Venue()
    venue.bar(0, 100, 101, 99, 100)
    venue.submit(Side.BUY, "0.1", **limit("99"))
    venue.submit(Side.SELL, "0.1", **limit("101"))
    accepted = venue.reports()
    assert [r.status for r in accepted] == [OrderStatus.ACCEPTED, OrderStatus.ACCEPTED]
    assert [r.venue_order_id for r in accepted] == ["1", "2"]
    assert [r.client_order_id for r in accepted] == ["c1", "c2"]
    assert all(r.ts == MINUTE and r.venue == "backtest" for r in accepted)


@pytest.mark.parametrize(
    ("quantity", "terms", "reason"),
    [
        ("0.1", {"symbol": "ETHUSDT"}, "unknown symbol ETHUSDT"),
        ("0", {}, "quantity must be positive"),
        ("0.0015", {}, "not a multiple of the lot size"),
        ("0.001", limit("100"), "below the minimum 5"),
        ("0.1", {"order_type": OrderType.LIMIT}, "needs a positive limit price"),
        ("0.1", limit("100.005"), "not on the tick"),
        ("0.1", {**limit("105"), "order_type": OrderType.STOP_LIMIT}, "positive stop price"),
        ("0.1", {"post_only": True}, "post-only applies to limit orders only"),
    ],
)
def test_invalid_order_is_rejected_with_a_reason(
    quantity: str, terms: dict[str, Any], reason: str
) -> None:
    venue = Venue()
    venue.bar(0, 100, 101, 99, 100)
    venue.submit(Side.BUY, quantity, **terms)
    [report] = venue.reports()
    assert report.status is OrderStatus.REJECTED
    assert reason in report.reason
    assert venue.exchange.working_orders == ()


def test_post_only_stop_limit_is_refused_before_its_prices_are_checked() -> None:
    venue = Venue()
    venue.bar(0, 100, 101, 99, 100)
    venue.submit(Side.BUY, "0.1", **stop_limit("105.001", "105.005"), post_only=True)
    [report] = venue.reports()
    assert report.reason == "post-only applies to limit orders only"


def test_market_order_before_any_price_is_rejected() -> None:
    venue = Venue()
    venue.submit(Side.BUY, "0.1")
    [report] = venue.reports()
    assert report.status is OrderStatus.REJECTED
    assert report.reason == "no market price for BTCUSDT yet"


def test_buy_beyond_the_quote_balance_is_rejected() -> None:
    venue = Venue()
    venue.bar(0, 100, 101, 99, 100)
    venue.submit(Side.BUY, "1000", **limit("100"))  # 100000 + 100 fee > 100000
    [report] = venue.reports()
    assert report.status is OrderStatus.REJECTED
    assert report.reason.startswith("insufficient USDT")


def test_market_buy_is_reserved_at_the_latest_close() -> None:
    # 1 x 100 + 0.1 fee fits in 101; after a close at 110 the same order no longer does.
    venue = Venue(balances={"USDT": D(101)})
    venue.bar(0, 100, 101, 99, 100)
    first = venue.submit(Side.BUY, "1")
    venue.exchange.on_cancel_order(CancelOrder(ts=MINUTE, client_order_id=first, symbol=SYMBOL))
    venue.bar(1, 110, 111, 109, 110)
    venue.submit(Side.BUY, "1")
    accepted, _, rejected = venue.reports()
    assert (accepted.status, rejected.status) == (OrderStatus.ACCEPTED, OrderStatus.REJECTED)
    assert rejected.reason == "insufficient USDT: need 110.11000000, available 101"


def test_sell_beyond_the_base_balance_is_rejected_no_shorting_on_spot() -> None:
    venue = Venue()
    venue.bar(0, 100, 101, 99, 100)
    venue.submit(Side.SELL, "1.001")
    [report] = venue.reports()
    assert report.status is OrderStatus.REJECTED
    assert report.reason.startswith("insufficient BTC")


def test_working_orders_reserve_funds_until_canceled() -> None:
    venue = Venue()
    venue.bar(0, 100, 101, 99, 100)
    first = venue.submit(Side.BUY, "600", **limit("90"))  # reserves 54000 + 54 fee
    assert venue.exchange.available("USDT") == D("45946")
    venue.submit(Side.BUY, "500", **limit("90"))  # reserves 45045: 901 left
    venue.submit(Side.BUY, "10", **limit("90"))  # reserves 900.9: 0.1 left
    venue.submit(Side.BUY, "1", **limit("90"))  # needs 90.09
    statuses = [r.status for r in venue.reports()]
    assert statuses == [OrderStatus.ACCEPTED] * 3 + [OrderStatus.REJECTED]
    venue.exchange.on_cancel_order(CancelOrder(ts=MINUTE, client_order_id=first, symbol=SYMBOL))
    venue.submit(Side.BUY, "1", **limit("90"))
    assert venue.reports()[-1].status is OrderStatus.ACCEPTED
    assert venue.exchange.balances == BALANCES


def test_post_only_limit_that_would_take_is_rejected() -> None:
    venue = Venue()
    venue.bar(0, 100, 101, 99, 100)
    venue.submit(Side.BUY, "0.1", **limit("100", post_only=True))
    venue.submit(Side.SELL, "0.1", **limit("99.99", post_only=True))
    reports = venue.reports()
    assert [r.status for r in reports] == [OrderStatus.REJECTED, OrderStatus.REJECTED]
    assert all("would take liquidity" in r.reason for r in reports)


def test_resubmitting_a_known_client_order_id_alerts_and_changes_nothing() -> None:
    venue = Venue()
    venue.bar(0, 100, 101, 99, 100)
    venue.submit(Side.BUY, "0.1", client_order_id="x", **limit("99"))
    venue.submit(Side.BUY, "0.1", client_order_id="x", **limit("99"))
    assert len(venue.reports()) == 1
    assert len(venue.exchange.working_orders) == 1
    [alert] = venue.alerts()
    assert "duplicate client order id x" in alert.text


# --- market orders -----------------------------------------------------------------------


def test_market_buy_fills_at_next_open_plus_half_spread_and_impact_with_taker_fee() -> None:
    venue = Venue(half_spread_bps=D(5), impact_bps=D(10), taker_fee_bps=D(10))
    venue.bar(0, 100, 101, 99, 100, volume=10)
    venue.submit(Side.BUY, "1")  # decision at the close of bar 0
    assert venue.fills() == []
    venue.bar(1, 100, 103, 98, 102)
    [fill] = venue.fills()
    # impact 10 bps * 1/10 = 1 bp; 5 + 1 = 6 bps over the open 100
    assert fill.status is OrderStatus.FILLED
    assert fill.ts == MINUTE  # the bar's open time
    assert fill.last_price == D("100.06")
    assert fill.last_quantity == D(1)
    assert fill.cumulative_quantity == D(1)
    assert fill.fee == D("0.10006")
    assert fill.fee_asset == "USDT"
    assert fill.trade_id == "1"
    assert fill.liquidity is Liquidity.TAKER
    assert venue.exchange.balances == {"BTC": D(2), "USDT": D("99899.83994")}
    assert venue.exchange.working_orders == ()


def test_market_sell_fills_at_next_open_minus_costs_rounded_down() -> None:
    venue = Venue(half_spread_bps=D(5), impact_bps=D(10), taker_fee_bps=D(10))
    venue.bar(0, 100, 101, 99, 100, volume=10)
    venue.submit(Side.SELL, "0.5")
    venue.bar(1, 100, 103, 98, 102)
    [fill] = venue.fills()
    # 5 + 10 * 0.5/10 = 5.5 bps: 99.945, rounded down to 99.94
    assert fill.last_price == D("99.94")
    assert fill.fee == D("0.04997")
    assert venue.exchange.balances == {"BTC": D("0.5"), "USDT": D("100049.92003")}


def test_no_fill_uses_a_bar_that_started_before_the_decision() -> None:
    venue = Venue()
    venue.bar(0, 100, 101, 99, 100)
    venue.bar(1, 100, 101, 99, 100)
    decision = 2 * MINUTE
    venue.submit(Side.BUY, "0.1", ts=decision)
    venue.submit(Side.BUY, "0.1", ts=decision, **limit("99"))
    # bar 1 delivered again, late: it started before the decision, so it cannot fill
    # either order, however attractive its prices.
    venue.bar(1, 50, 51, 40, 45, volume=1000)
    assert venue.fills() == []
    venue.bar(2, 120, 121, 98, 100)
    market, resting = venue.fills()
    assert (market.last_price, market.ts) == (D(120), decision)
    assert (resting.last_price, resting.ts) == (D(99), 3 * MINUTE)


def test_impact_uses_the_last_bar_closed_before_the_fill_not_the_fill_bar() -> None:
    venue = Venue(impact_bps=D(100))
    venue.bar(0, 100, 101, 99, 100, volume=10)
    venue.submit(Side.BUY, "1")
    # a feed without open updates: the closed bar 1 (volume 1000) fills the order at its
    # open, with impact measured against bar 0's volume 10: 100 bps * 1/10 = 10 bps
    venue.bar(1, 100, 101, 99, 100, volume=1000, open_update=False)
    venue.submit(Side.BUY, "1")
    venue.bar(2, 100, 101, 99, 100)  # 100 bps * 1/1000 = 0.1 bp -> 100.001 -> up to 100.01
    first, second = venue.fills()
    assert (first.last_price, first.ts) == (D("100.10"), MINUTE)
    assert (second.last_price, second.ts) == (D("100.01"), 2 * MINUTE)


def test_market_buy_the_account_cannot_pay_at_the_open_expires_and_books_nothing() -> None:
    venue = Venue(balances={"USDT": D(101)})
    venue.bar(0, 100, 101, 99, 100)
    venue.submit(Side.BUY, "1")  # reserves 100 + 0.1 fee at the last close
    venue.bar(1, 110, 111, 109, 110)  # gaps up: 110 + 0.11 > 101
    assert venue.fills() == []
    [expired] = venue.reports(OrderStatus.EXPIRED)
    assert expired.ts == MINUTE
    assert "insufficient balance" in expired.reason
    assert venue.exchange.balances == {"USDT": D(101)}


def test_same_seed_gives_the_same_fills_and_another_seed_different_ones() -> None:
    def fill_prices(seed: int) -> list[Decimal]:
        venue = Venue(slippage_noise_bps=D(20), seed=seed)
        venue.bar(0, 100, 101, 99, 100)
        for index in range(1, 11):
            venue.submit(Side.BUY, "0.1")
            venue.bar(index, 100, 101, 99, 100)
        return [fill.last_price for fill in venue.fills()]

    first = fill_prices(1)
    assert len(first) == 10
    assert first == fill_prices(1)
    assert first != fill_prices(2)
    assert all(D(100) <= price <= D("100.20") for price in first)


# --- limit orders ------------------------------------------------------------------------


def test_limit_touched_but_not_traded_through_does_not_fill() -> None:
    venue = Venue()
    venue.bar(0, 100, 101, 99.5, 100)
    venue.submit(Side.BUY, "0.1", **limit("99"))
    venue.submit(Side.SELL, "0.1", **limit("101"))
    venue.bar(1, 100, 101, 99, 100)
    assert venue.fills() == []
    assert len(venue.exchange.working_orders) == 2


def test_limit_traded_through_fills_at_the_limit_as_maker_at_the_bar_close() -> None:
    venue = Venue(maker_fee_bps=D(2))
    venue.bar(0, 100, 101, 99.5, 100)
    venue.submit(Side.BUY, "0.1", **limit("99"))
    venue.submit(Side.SELL, "0.1", **limit("101"))
    venue.bar(1, 100, 101.01, 98.99, 100)
    buy, sell = venue.fills()
    assert (buy.last_price, buy.last_quantity, buy.status) == (D(99), D("0.1"), OrderStatus.FILLED)
    assert buy.ts == 2 * MINUTE
    assert buy.liquidity is Liquidity.MAKER
    assert buy.fee == D("0.00198")
    assert (sell.last_price, sell.fee, sell.trade_id) == (D(101), D("0.00202"), "2")
    # -9.9 - 0.00198 + 10.1 - 0.00202
    assert venue.exchange.balances == {"BTC": D(1), "USDT": D("100000.19600")}


def test_limit_fills_partially_by_participation_cap_over_several_bars() -> None:
    venue = Venue(participation_cap=D("0.1"))
    venue.bar(0, 100, 101, 99.5, 100)
    client_order_id = venue.submit(Side.BUY, "1", **limit("99"))
    venue.bar(1, 100, 101, 98, 100, volume=4)
    [working] = venue.exchange.working_orders
    assert (working.status, working.filled_quantity) == (OrderStatus.PARTIALLY_FILLED, D("0.4"))
    # the rest still reserves 99 * 0.6 + 10 bps: 59.4594
    assert venue.exchange.available("USDT") == D("100000") - D("39.6") - D("0.00792") - D("59.4594")
    venue.bar(2, 100, 101, 98, 100, volume=3)
    venue.bar(3, 100, 101, 98, 100, volume=10)
    fills = venue.fills()
    assert [f.last_quantity for f in fills] == [D("0.4"), D("0.3"), D("0.3")]
    assert [f.cumulative_quantity for f in fills] == [D("0.4"), D("0.7"), D(1)]
    assert [f.status for f in fills] == [OrderStatus.PARTIALLY_FILLED] * 2 + [OrderStatus.FILLED]
    assert [f.ts for f in fills] == [2 * MINUTE, 3 * MINUTE, 4 * MINUTE]
    assert all(f.client_order_id == client_order_id for f in fills)
    assert venue.exchange.working_orders == ()
    assert venue.exchange.balances["BTC"] == D(2)


def test_orders_share_the_participation_cap_of_a_bar() -> None:
    venue = Venue(participation_cap=D("0.1"))
    venue.bar(0, 100, 101, 99.5, 100)
    venue.submit(Side.BUY, "0.7", **limit("99"))
    venue.submit(Side.BUY, "0.7", **limit("99"))
    venue.bar(1, 100, 101, 98, 100, volume=10)
    assert [f.last_quantity for f in venue.fills()] == [D("0.7"), D("0.3")]


def test_marketable_limit_fills_at_the_open_as_taker_never_worse_than_its_limit() -> None:
    venue = Venue(half_spread_bps=D(10))
    venue.bar(0, 100, 101, 99, 99)
    venue.submit(Side.BUY, "0.1", **limit("100.05"))
    venue.submit(Side.BUY, "0.1", **limit("101"))
    venue.bar(1, 100, 101, 99.5, 100)
    capped, free = venue.fills()
    assert (capped.last_price, capped.ts, capped.liquidity) == (
        D("100.05"),
        MINUTE,
        Liquidity.TAKER,
    )
    assert capped.fee == D("0.010005")
    assert free.last_price == D("100.10")


def test_post_only_limit_never_takes_at_the_open_and_fills_as_maker() -> None:
    venue = Venue()
    venue.bar(0, 100, 101, 99, 100)
    venue.submit(Side.BUY, "0.1", **limit("99.5", post_only=True))
    venue.bar(1, 99, 99.6, 98.5, 99)  # opens below the limit: a taker order would fill
    [fill] = venue.fills()
    assert (fill.last_price, fill.ts, fill.liquidity) == (D("99.5"), 2 * MINUTE, Liquidity.MAKER)


def test_ioc_fills_what_its_first_bar_allows_and_expires_the_rest() -> None:
    venue = Venue(participation_cap=D("0.1"))
    venue.bar(0, 100, 101, 99.5, 100)
    venue.submit(Side.BUY, "1", **limit("99", time_in_force=TimeInForce.IOC))
    venue.bar(1, 100, 101, 98, 100, volume=4)
    venue.bar(2, 100, 101, 98, 100, volume=40)
    [fill] = venue.fills()
    assert (fill.last_quantity, fill.status) == (D("0.4"), OrderStatus.PARTIALLY_FILLED)
    assert fill.liquidity is Liquidity.TAKER
    [expired] = venue.reports(OrderStatus.EXPIRED)
    assert (expired.ts, expired.cumulative_quantity) == (2 * MINUTE, D("0.4"))
    assert venue.exchange.working_orders == ()


def test_ioc_that_does_not_trade_expires_on_its_first_bar() -> None:
    venue = Venue()
    venue.bar(0, 100, 101, 99.5, 100)
    venue.submit(Side.BUY, "1", **limit("99", time_in_force=TimeInForce.IOC))
    venue.bar(1, 100, 101, 99, 100)
    assert venue.fills() == []
    [expired] = venue.reports(OrderStatus.EXPIRED)
    assert expired.cumulative_quantity == 0


def test_fok_expires_unfilled_when_its_first_bar_cannot_fill_it_whole() -> None:
    venue = Venue(participation_cap=D("0.1"))
    venue.bar(0, 100, 101, 99.5, 100)
    venue.submit(Side.BUY, "1", **limit("99", time_in_force=TimeInForce.FOK))
    venue.bar(1, 100, 101, 98, 100, volume=4)
    assert venue.fills() == []
    [expired] = venue.reports(OrderStatus.EXPIRED)
    assert expired.cumulative_quantity == 0
    assert venue.exchange.balances == BALANCES


def test_fok_fills_whole_when_its_first_bar_can() -> None:
    venue = Venue(participation_cap=D("0.1"))
    venue.bar(0, 100, 101, 99.5, 100)
    venue.submit(Side.BUY, "1", **limit("99", time_in_force=TimeInForce.FOK))
    venue.bar(1, 100, 101, 98, 100, volume=20)
    [fill] = venue.fills()
    assert (fill.last_quantity, fill.status, fill.liquidity) == (
        D(1),
        OrderStatus.FILLED,
        Liquidity.TAKER,
    )


# --- stop-limit orders -------------------------------------------------------------------


def test_stop_limit_triggered_inside_a_bar_works_as_a_limit_from_the_next_bar() -> None:
    venue = Venue()
    venue.bar(0, 100, 101, 99, 100)
    venue.submit(Side.BUY, "0.1", **stop_limit("105", "106"))
    venue.bar(1, 100, 104.99, 99, 104)  # stop not reached
    venue.bar(2, 101, 105, 100, 104)  # reaches the stop; below the limit all bar, no fill
    assert venue.fills() == []
    venue.bar(3, 105.5, 106, 105, 105.5)
    [fill] = venue.fills()
    assert (fill.last_price, fill.ts, fill.liquidity) == (D("105.5"), 3 * MINUTE, Liquidity.TAKER)


def test_stop_limit_triggered_at_the_open_rests_and_fills_when_traded_through() -> None:
    venue = Venue()
    venue.bar(0, 100, 101, 99, 100)
    venue.submit(Side.BUY, "0.1", **stop_limit("105", "106"))
    venue.bar(1, 107, 108, 105.9, 107)  # opens past the stop and above the limit
    [fill] = venue.fills()
    assert (fill.last_price, fill.ts, fill.liquidity) == (D(106), 2 * MINUTE, Liquidity.MAKER)


def test_sell_stop_limit_triggers_at_the_stop_and_fills_at_its_limit() -> None:
    venue = Venue()
    venue.bar(0, 100, 101, 99, 100)
    venue.submit(Side.SELL, "0.1", **stop_limit("95", "94.5"))
    venue.bar(1, 100, 100, 95, 96)
    assert venue.fills() == []
    [working] = venue.exchange.working_orders
    assert working.status is OrderStatus.ACCEPTED
    venue.bar(2, 94, 95, 93, 94)  # opens below the limit: rests, then traded through
    [fill] = venue.fills()
    assert (fill.last_price, fill.ts, fill.liquidity) == (D("94.5"), 3 * MINUTE, Liquidity.MAKER)


# --- cancels and reconciliation ----------------------------------------------------------


def test_cancel_of_a_working_order_reports_canceled_and_releases_its_funds() -> None:
    venue = Venue()
    venue.bar(0, 100, 101, 99.5, 100)
    client_order_id = venue.submit(Side.BUY, "1", **limit("99"))
    venue.bar(1, 100, 101, 98, 100, volume=4)
    venue.exchange.on_cancel_order(
        CancelOrder(ts=2 * MINUTE, client_order_id=client_order_id, symbol=SYMBOL)
    )
    canceled = venue.reports()[-1]
    assert canceled.status is OrderStatus.CANCELED
    assert (canceled.cumulative_quantity, canceled.venue_order_id) == (D("0.4"), "1")
    assert venue.exchange.working_orders == ()
    assert venue.exchange.available("USDT") == venue.exchange.balances["USDT"]
    venue.bar(2, 100, 101, 98, 100, volume=4)
    assert len(venue.fills()) == 1


def test_cancel_of_an_unknown_or_filled_order_alerts_and_changes_nothing() -> None:
    venue = Venue()
    venue.bar(0, 100, 101, 99, 100)
    client_order_id = venue.submit(Side.BUY, "0.1")
    venue.bar(1, 100, 101, 99, 100)
    balances = venue.exchange.balances
    reports = len(venue.reports())
    venue.exchange.on_cancel_order(
        CancelOrder(ts=2 * MINUTE, client_order_id=client_order_id, symbol=SYMBOL)
    )
    venue.exchange.on_cancel_order(
        CancelOrder(ts=2 * MINUTE, client_order_id="nope", symbol=SYMBOL)
    )
    assert len(venue.reports()) == reports
    assert [alert.level for alert in venue.alerts()] == ["warning", "warning"]
    assert client_order_id in venue.alerts()[0].text
    assert venue.exchange.balances == balances


def test_reconcile_answers_balances_open_orders_and_trade_ids() -> None:
    venue = Venue(participation_cap=D("0.1"))
    venue.bar(0, 100, 101, 99.5, 100)
    venue.submit(Side.BUY, "0.1")
    resting = venue.submit(Side.BUY, "1", **limit("99"))
    venue.bar(1, 100, 101, 98, 100, volume=4)
    venue.exchange.on_reconcile(Reconcile(ts=2 * MINUTE))
    snapshot = venue.out[-1]
    assert isinstance(snapshot, VenueSnapshot)
    assert snapshot.ts == 2 * MINUTE
    assert snapshot.venue == "backtest"
    assert list(snapshot.balances) == ["BTC", "USDT"]
    # market 0.1 at 100 + 0.01 fee; limit 0.4 at 99 + 0.00792 fee
    assert snapshot.balances == {"BTC": D("1.5"), "USDT": D("99950.38208")}
    assert snapshot.open_orders == (
        OrderStatusReport(
            ts=2 * MINUTE,
            venue="backtest",
            client_order_id=resting,
            venue_order_id="2",
            symbol=SYMBOL,
            side=Side.BUY,
            status=OrderStatus.PARTIALLY_FILLED,
            quantity=D(1),
            filled_quantity=D("0.4"),
        ),
    )
    assert snapshot.trade_ids == ("1", "2")
    assert (snapshot.since_trade, snapshot.trade_cursor) == (0, 2)


def snapshot_since(venue: Venue, since_trade: int) -> VenueSnapshot:
    venue.exchange.on_reconcile(Reconcile(ts=venue.clock.now(), since_trade=since_trade))
    snapshot = venue.out[-1]
    assert isinstance(snapshot, VenueSnapshot)
    return snapshot


def test_reconcile_since_a_cursor_lists_only_the_newer_trades() -> None:
    venue = Venue()
    venue.bar(0, 100, 101, 99, 100)
    venue.submit(Side.BUY, "0.1")
    venue.submit(Side.BUY, "0.2")
    venue.bar(1, 100, 101, 99, 100)
    first = snapshot_since(venue, 0)
    venue.submit(Side.SELL, "0.3")
    venue.bar(2, 100, 101, 99, 100)
    second = snapshot_since(venue, first.trade_cursor)
    third = snapshot_since(venue, second.trade_cursor)
    assert [(s.since_trade, s.trade_cursor, s.trade_ids) for s in (first, second, third)] == [
        (0, 2, ("1", "2")),
        (2, 3, ("3",)),
        (3, 3, ()),
    ]
    assert [report.trade_id for report in venue.fills()] == ["1", "2", "3"]


@pytest.mark.parametrize(("requested", "since"), [(-5, 0), (9, 2)], ids=["negative", "future"])
def test_reconcile_outside_the_trade_sequence_is_clamped_and_echoed(
    requested: int, since: int
) -> None:
    venue = Venue()
    venue.bar(0, 100, 101, 99, 100)
    venue.submit(Side.BUY, "0.1")
    venue.submit(Side.BUY, "0.2")
    venue.bar(1, 100, 101, 99, 100)
    snapshot = snapshot_since(venue, requested)
    assert (snapshot.since_trade, snapshot.trade_cursor) == (since, 2)
    assert snapshot.trade_ids == ("1", "2")[since:]


def test_snapshots_that_follow_the_cursor_list_each_trade_once() -> None:
    venue = Venue()
    venue.bar(0, 100, 101, 99, 100)
    cursor = 0
    listed: list[str] = []
    for index in range(1, 601):
        venue.submit(Side.BUY if index % 2 else Side.SELL, "0.1")
        venue.bar(index, 100, 101, 99, 100)
        if index % 60 == 0:
            snapshot = snapshot_since(venue, cursor)
            assert snapshot.since_trade == cursor
            assert len(snapshot.trade_ids) == snapshot.trade_cursor - cursor == 60
            listed.extend(snapshot.trade_ids)
            cursor = snapshot.trade_cursor
    assert listed == [report.trade_id for report in venue.fills()]
    assert len(listed) == 600


def test_bar_updates_without_working_orders_publish_nothing() -> None:
    venue = Venue()
    for index in range(5):
        venue.bar(index, 100, 101, 99, 100)
    assert venue.out == []


# --- queries by client order id ----------------------------------------------------------


def query(venue: Venue, client_order_id: str, venue_name: str = "backtest") -> list[Message]:
    """What the exchange answers to a ``QueryOrder`` (and only that)."""
    sent = len(venue.out)
    venue.exchange.on_query_order(
        QueryOrder(ts=venue.clock.now(), venue=venue_name, client_order_id=client_order_id)
    )
    return venue.out[sent:]


def test_a_query_answers_the_orders_reports_as_sent_then_its_status() -> None:
    venue = Venue(participation_cap=D("0.1"))
    venue.bar(0, 100, 101, 99.5, 100)
    resting = venue.submit(Side.BUY, "1", **limit("99"))
    venue.bar(1, 100, 101, 98, 100, volume=4)
    venue.bar(2, 100, 101, 98, 100, volume=3)
    sent = [report for report in venue.reports() if report.client_order_id == resting]
    assert [report.status for report in sent] == [
        OrderStatus.ACCEPTED, OrderStatus.PARTIALLY_FILLED, OrderStatus.PARTIALLY_FILLED,
    ]  # fmt: skip

    answer = query(venue, resting)
    assert answer[:-1] == sent
    assert [report.trade_id for report in answer[:-1]] == ["", "1", "2"]
    assert answer[-1] == OrderStatusReport(
        ts=3 * MINUTE,
        venue="backtest",
        client_order_id=resting,
        venue_order_id="1",
        symbol=SYMBOL,
        side=Side.BUY,
        status=OrderStatus.PARTIALLY_FILLED,
        quantity=D(1),
        filled_quantity=D("0.7"),
        found=True,
    )


def test_a_query_for_a_finished_order_answers_its_fill_and_the_final_status() -> None:
    venue = Venue()
    venue.bar(0, 100, 101, 99, 100)
    filled = venue.submit(Side.SELL, "0.2")
    canceled = venue.submit(Side.BUY, "0.1", **limit("90"))
    venue.exchange.on_cancel_order(CancelOrder(ts=0, client_order_id=canceled, symbol=SYMBOL))
    venue.bar(1, 100, 101, 99, 100)

    answer = query(venue, filled)
    reports = [m for m in answer if isinstance(m, ExecutionReport)]
    assert [(report.status, report.trade_id) for report in reports] == [
        (OrderStatus.ACCEPTED, ""), (OrderStatus.FILLED, "1"),
    ]  # fmt: skip
    status = answer[-1]
    assert isinstance(status, OrderStatusReport) and status.found
    assert (status.status, status.quantity, status.filled_quantity) == (
        OrderStatus.FILLED, D("0.2"), D("0.2"),
    )  # fmt: skip
    sent = [report for report in venue.reports() if report.client_order_id == canceled]
    assert [report.status for report in sent] == [OrderStatus.ACCEPTED, OrderStatus.CANCELED]
    *canceled_reports, canceled_status = query(venue, canceled)
    assert canceled_reports == sent
    assert isinstance(canceled_status, OrderStatusReport)
    assert canceled_status.status is OrderStatus.CANCELED
    assert canceled_status.filled_quantity == 0


def test_a_query_for_a_client_id_the_venue_never_saw_is_not_found() -> None:
    venue = Venue()
    venue.bar(0, 100, 101, 99, 100)
    venue.submit(Side.BUY, "0.1")
    assert query(venue, "never-sent") == [
        OrderStatusReport(
            ts=MINUTE,
            venue="backtest",
            client_order_id="never-sent",
            venue_order_id="",
            symbol="",
            side=Side.BUY,
            status=OrderStatus.REJECTED,
            quantity=D(0),
            filled_quantity=D(0),
            found=False,
        )
    ]


def test_a_query_for_a_rejected_order_answers_the_rejection() -> None:
    venue = Venue()
    rejected = venue.submit(Side.BUY, "0.1")  # no price yet
    answer = query(venue, rejected)
    assert answer[0] == venue.reports(OrderStatus.REJECTED)[0]
    status = answer[1]
    assert isinstance(status, OrderStatusReport)
    assert (status.found, status.status, status.quantity) == (True, OrderStatus.REJECTED, D("0.1"))


def test_a_query_to_another_venue_is_not_answered() -> None:
    venue = Venue()
    venue.bar(0, 100, 101, 99, 100)
    submitted = venue.submit(Side.BUY, "0.1")
    assert query(venue, submitted, venue_name="binance") == []


def test_a_query_changes_nothing_the_exchange_decides_with() -> None:
    venue = Venue()
    venue.bar(0, 100, 101, 99, 100)
    resting = venue.submit(Side.BUY, "0.1", **limit("95"))
    before = venue.exchange.snapshot()
    query(venue, resting)
    query(venue, "unknown")
    assert venue.exchange.snapshot() == before
