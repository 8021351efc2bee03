"""Tests of actors/reconciler.py: our view against the venue's snapshot, and the triggers."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from actors.accountant import Accountant
from actors.actor import Actor
from actors.bus import Bus
from actors.clock import SimClock
from actors.messages import (
    Bar,
    CancelOrder,
    Drift,
    DriftDetected,
    EndOfData,
    EquityMarked,
    Fill,
    Heartbeat,
    Message,
    OrderAccepted,
    OrderCanceled,
    OrderExpired,
    OrderRejected,
    OrderStatus,
    OrderStatusReport,
    OrderTicket,
    PositionChanged,
    QueryOrder,
    Reconcile,
    Recovered,
    Side,
    SubmitOrder,
    TimerFired,
    VenueSnapshot,
)
from actors.reconciler import Reconciler
from actors.scheduler import DeterministicScheduler
from tests.factories import make_fill, position_changed

MINUTE = 60_000_000_000
HOUR = 60 * MINUTE
JAN_1 = 1_704_067_200 * 1_000_000_000  # 2024-01-01T00:00:00Z
VENUE = "backtest"
BTC = "BTCUSDT"


def make_reconciler(interval_ns: int = 0) -> tuple[Reconciler, list[Message]]:
    out: list[Message] = []
    reconciler = Reconciler(
        venue=VENUE,
        quote_asset="USDT",
        base_assets={BTC: "BTC", "ETHUSDT": "ETH"},
        initial_balances={"USDT": Decimal("10000"), "BNB": Decimal("1")},
        interval_ns=interval_ns,
    )
    reconciler.attach(out.append, SimClock(JAN_1))
    return reconciler, out


def submit(client_id: str, quantity: str, side: Side = Side.BUY, ts: int = JAN_1) -> SubmitOrder:
    return SubmitOrder(
        ts=ts,
        client_order_id=client_id,
        strategy="s",
        ticket=OrderTicket(symbol=BTC, side=side, quantity=Decimal(quantity)),
    )


def fill(client_id: str, trade_id: str, quantity: str, cumulative: str, **fields: Any) -> Fill:
    """A fill of order ``client_id`` at JAN_1, paying 0.1 USDT unless the test says."""
    fields.setdefault("ts", JAN_1)
    fields.setdefault("fee", "0.1")
    return make_fill(
        client_order_id=client_id,
        venue_order_id="v-" + client_id,
        trade_id=trade_id,
        quantity=quantity,
        cumulative_quantity=cumulative,
        **fields,
    )


def report(
    client_id: str, quantity: str, filled: str, status: OrderStatus = OrderStatus.PARTIALLY_FILLED
) -> OrderStatusReport:
    return OrderStatusReport(
        ts=JAN_1,
        venue=VENUE,
        client_order_id=client_id,
        venue_order_id="v-" + client_id,
        symbol=BTC,
        side=Side.BUY,
        status=status,
        quantity=Decimal(quantity),
        filled_quantity=Decimal(filled),
    )


def feed_session(reconciler: Reconciler) -> None:
    """Order a: 0.4 of 1 filled (open); order b: 0.5 filled in full (closed)."""
    reconciler.on_submit_order(submit("a", "1"))
    reconciler.on_order_accepted(
        OrderAccepted(ts=JAN_1, client_order_id="a", venue_order_id="v-a", symbol=BTC)
    )
    reconciler.on_fill(fill("a", "t1", "0.4", "0.4", fee="0.04"))
    reconciler.on_position_changed(position("0.4"))
    reconciler.on_submit_order(submit("b", "0.5"))
    reconciler.on_order_accepted(
        OrderAccepted(ts=JAN_1, client_order_id="b", venue_order_id="v-b", symbol=BTC)
    )
    reconciler.on_fill(fill("b", "t2", "0.5", "0.5", fee="0.05"))
    reconciler.on_position_changed(position("0.9"))


def position(quantity: str, symbol: str = BTC) -> PositionChanged:
    return position_changed(quantity, ts=JAN_1, symbol=symbol)


def matching_snapshot(**changes: object) -> VenueSnapshot:
    fields: dict[str, object] = {
        "ts": JAN_1 + HOUR,
        "venue": VENUE,
        # 10000 - 40 - 0.04 - 50 - 0.05; trailing zeros must not count as a difference.
        "balances": {"USDT": Decimal("9909.9100"), "BTC": Decimal("0.9"), "BNB": Decimal("1")},
        "open_orders": (report("a", "1", "0.4"),),
        "trade_ids": ("t2", "t1"),
    }
    fields.update(changes)
    return VenueSnapshot(**fields)  # type: ignore[arg-type]


def drifts(out: list[Message]) -> list[Drift]:
    detected = [message for message in out if isinstance(message, DriftDetected)]
    assert len(detected) == 1
    return list(detected[0].diffs)


def ask(reconciler: Reconciler, out: list[Message], ts: int = JAN_1 + HOUR) -> Reconcile:
    """Our request, as the timer sends it, taken off ``out`` so that ``out`` then holds
    only what the answer causes."""
    reconciler.on_timer_fired(TimerFired(ts=ts, owner="reconciler", name="reconcile"))
    request = out.pop()
    assert isinstance(request, Reconcile)
    return request


def answer(reconciler: Reconciler, out: list[Message], snapshot: VenueSnapshot) -> None:
    """Our request, then the venue's answer: the order in which a session runs them."""
    ask(reconciler, out, snapshot.ts)
    reconciler.on_venue_snapshot(snapshot)


# --- comparison -----------------------------------------------------------------------


def test_matching_snapshot_publishes_no_drift() -> None:
    reconciler, out = make_reconciler()
    feed_session(reconciler)
    answer(reconciler, out, matching_snapshot())
    assert out == []
    assert reconciler.reports == 1
    assert not reconciler.drifting
    assert reconciler.last_drift is None


def test_quote_balance_difference_is_a_balance_drift() -> None:
    reconciler, out = make_reconciler()
    feed_session(reconciler)
    balances = {"USDT": Decimal("9909.90"), "BTC": Decimal("0.9"), "BNB": Decimal("1")}
    answer(reconciler, out, matching_snapshot(balances=balances))
    assert drifts(out) == [Drift(kind="balance", key="USDT", ours="9909.91", venue="9909.90")]
    assert reconciler.drifting
    assert reconciler.last_drift is not None
    assert reconciler.last_drift.ts == JAN_1 + HOUR


def test_base_balance_is_checked_against_the_position() -> None:
    reconciler, out = make_reconciler()
    feed_session(reconciler)
    balances = {"USDT": Decimal("9909.91"), "BTC": Decimal("0.8"), "BNB": Decimal("1")}
    answer(reconciler, out, matching_snapshot(balances=balances))
    assert drifts(out) == [Drift(kind="balance", key="BTC", ours="0.9", venue="0.8")]


def test_an_asset_only_the_venue_holds_is_a_balance_drift() -> None:
    reconciler, out = make_reconciler()
    feed_session(reconciler)
    balances = {"USDT": Decimal("9909.91"), "BTC": Decimal("0.9"), "BNB": Decimal("1")}
    answer(reconciler, out, matching_snapshot(balances={**balances, "ETH": Decimal("2")}))
    assert drifts(out) == [Drift(kind="balance", key="ETH", ours="0", venue="2")]


def test_an_asset_the_venue_omits_counts_as_zero_there() -> None:
    reconciler, out = make_reconciler()
    feed_session(reconciler)
    balances = {"USDT": Decimal("9909.91"), "BTC": Decimal("0.9")}
    answer(reconciler, out, matching_snapshot(balances=balances))
    assert drifts(out) == [Drift(kind="balance", key="BNB", ours="1", venue="0")]


def test_fee_in_another_asset_is_taken_from_that_asset() -> None:
    reconciler, out = make_reconciler()
    reconciler.on_fill(fill("x", "t1", "1", "1", fee="0.01", fee_asset="BNB"))
    reconciler.on_position_changed(position("1"))
    balances = {"USDT": Decimal("9900"), "BTC": Decimal("1"), "BNB": Decimal("0.99")}
    answer(reconciler, out, matching_snapshot(balances=balances, open_orders=(), trade_ids=("t1",)))
    assert out == []


def test_a_fee_in_the_base_asset_is_in_the_position_not_taken_again() -> None:
    """The accountant's position is net of a base fee; subtracting the fee once more
    would report a drift after every buy on Binance."""
    reconciler, out = make_reconciler()
    reconciler.on_fill(
        fill("x", "t1", "0.01", "0.01", price="40000", fee="0.00001", fee_asset="BTC")
    )
    reconciler.on_position_changed(position("0.00999"))
    assert reconciler.expected_balances() == {
        "USDT": Decimal(9600),
        "BTC": Decimal("0.00999"),
        "BNB": Decimal(1),
    }
    balances = {"USDT": Decimal("9600"), "BTC": Decimal("0.00999"), "BNB": Decimal("1")}
    answer(reconciler, out, matching_snapshot(balances=balances, open_orders=(), trade_ids=("t1",)))
    assert out == []


class BinanceLikeVenue(Actor):
    """Books fills as Binance moves balances: the notional in the quote asset, the
    quantity in the base asset, the commission in whatever asset it was charged in."""

    name = "exchange"

    def __init__(self, balances: dict[str, Decimal]) -> None:
        super().__init__()
        self.balances = dict(balances)
        self.trade_ids: list[str] = []

    def on_fill(self, message: Fill) -> None:
        sign = 1 if message.side is Side.BUY else -1
        base = message.symbol.removesuffix("USDT")
        self.balances["USDT"] -= sign * message.quantity * message.price
        self.balances[base] = self.balances.get(base, Decimal(0)) + sign * message.quantity
        self.balances[message.fee_asset] -= message.fee
        self.trade_ids.append(message.trade_id)

    def on_reconcile(self, message: Reconcile) -> None:
        self.publish(
            VenueSnapshot(
                ts=message.ts,
                venue=VENUE,
                balances=dict(self.balances),
                trade_ids=tuple(self.trade_ids[message.since_trade :]),
                since_trade=message.since_trade,
                trade_cursor=len(self.trade_ids),
            )
        )


def test_books_with_fees_in_every_asset_and_dust_left_reconcile_with_the_venue() -> None:
    """Base fees (a buy pays in BTC), quote fees (a sell pays in USDT), BNB fees, and a
    remainder below one lot (0.00001 BTC) that no sell could take: no drift, and the
    accountant's position is the venue's balance exactly."""
    initial = {"USDT": Decimal(10000), "BTC": Decimal(0), "BNB": Decimal(1)}
    accountant = Accountant("USDT", initial["USDT"], base_assets={BTC: "BTC"})
    reconciler = Reconciler(
        venue=VENUE, quote_asset="USDT", base_assets={BTC: "BTC"}, initial_balances=initial,
        interval_ns=0,
    )  # fmt: skip
    venue = BinanceLikeVenue(initial)
    scheduler = DeterministicScheduler(Bus([accountant, reconciler, venue]), SimClock(JAN_1))
    scheduler.start()
    detected: list[DriftDetected] = []
    scheduler.bus.subscribe(DriftDetected, detected.append, "tap")
    trades = [
        # 10 bps of 0.01234 BTC, rounded up to 8 decimals, as the simulator charges
        (Side.BUY, "0.01234", "40000.00", "0.00001234", "BTC"),
        # the strategy sells what it holds, 0.01232766, floored to the lot: 0.01232
        (Side.SELL, "0.01232", "40100.00", "0.49403200", "USDT"),
        (Side.BUY, "0.005", "39990.00", "0.00033325", "BNB"),
        (Side.SELL, "0.005", "40010.00", "0.00033342", "BNB"),
    ]
    for index, (side, quantity, price, fee, asset) in enumerate(trades):
        scheduler.publish(
            fill(
                f"o{index}",
                f"t{index}",
                quantity,
                quantity,
                side=side,
                price=price,
                fee=fee,
                fee_asset=asset,
                ts=JAN_1 + index,
            )
        )
        scheduler.publish(Reconcile(ts=JAN_1 + index, since_trade=reconciler.trade_cursor))
    scheduler.finish()
    assert detected == []
    assert reconciler.reports == len(trades) + 1
    dust = Decimal("0.00000766")
    assert accountant.positions == {BTC: dust} == {BTC: venue.balances["BTC"]}
    assert accountant.cash == venue.balances["USDT"]
    assert accountant.fee_balances == {"BNB": venue.balances["BNB"] - 1}


def test_a_sell_adds_its_notional_to_quote_cash() -> None:
    reconciler, _ = make_reconciler()
    reconciler.on_fill(fill("x", "t1", "2", "2", price="50", fee="0.1", side=Side.SELL))
    reconciler.on_position_changed(position("-2"))
    assert reconciler.expected_balances()["USDT"] == Decimal("10099.9")
    assert reconciler.expected_balances()["BTC"] == Decimal("-2")


def test_position_in_a_symbol_without_a_base_asset_is_reported() -> None:
    reconciler, out = make_reconciler()
    feed_session(reconciler)
    reconciler.on_position_changed(position("3", symbol="SOLUSDT"))
    answer(reconciler, out, matching_snapshot())
    assert drifts(out) == [Drift(kind="unmapped_symbol", key="SOLUSDT", ours="3", venue="")]


def test_our_open_order_unknown_to_the_venue_is_an_unknown_order() -> None:
    reconciler, out = make_reconciler()
    feed_session(reconciler)
    answer(reconciler, out, matching_snapshot(open_orders=()))
    assert drifts(out) == [Drift(kind="unknown_order", key="a", ours="PARTIALLY_FILLED", venue="")]


def test_venue_open_order_not_in_our_view_is_a_missing_order() -> None:
    reconciler, out = make_reconciler()
    feed_session(reconciler)
    orders = (report("a", "1", "0.4"), report("z", "2", "0", OrderStatus.ACCEPTED))
    answer(reconciler, out, matching_snapshot(open_orders=orders))
    assert drifts(out) == [Drift(kind="missing_order", key="z", ours="", venue="ACCEPTED")]


def test_order_status_filled_and_quantity_are_compared() -> None:
    reconciler, out = make_reconciler()
    feed_session(reconciler)
    orders = (report("a", "2", "0.5", OrderStatus.ACCEPTED),)
    answer(reconciler, out, matching_snapshot(open_orders=orders))
    assert drifts(out) == [
        Drift(kind="order_filled", key="a", ours="0.4", venue="0.5"),
        Drift(kind="order_quantity", key="a", ours="1", venue="2"),
        Drift(kind="order_status", key="a", ours="PARTIALLY_FILLED", venue="ACCEPTED"),
    ]


def test_accepted_order_without_fills_matches_an_accepted_venue_order() -> None:
    reconciler, out = make_reconciler()
    reconciler.on_submit_order(submit("c", "1"))
    reconciler.on_order_accepted(
        OrderAccepted(ts=JAN_1, client_order_id="c", venue_order_id="v-c", symbol=BTC)
    )
    snapshot = matching_snapshot(
        balances={"USDT": Decimal("10000"), "BNB": Decimal("1")},
        open_orders=(report("c", "1", "0", OrderStatus.ACCEPTED),),
        trade_ids=(),
    )
    answer(reconciler, out, snapshot)
    assert out == []


def test_a_submitted_order_the_venue_never_acknowledged_shows_as_submitted() -> None:
    reconciler, out = make_reconciler()
    reconciler.on_submit_order(submit("c", "1"))
    snapshot = matching_snapshot(
        balances={"USDT": Decimal("10000"), "BNB": Decimal("1")}, open_orders=(), trade_ids=()
    )
    answer(reconciler, out, snapshot)
    assert drifts(out) == [Drift(kind="unknown_order", key="c", ours="SUBMITTED", venue="")]


def test_resubmitting_a_client_id_keeps_what_we_know_of_the_order() -> None:
    reconciler, out = make_reconciler()
    feed_session(reconciler)
    reconciler.on_submit_order(submit("a", "1"))
    answer(reconciler, out, matching_snapshot())
    assert out == []


@pytest.mark.parametrize(
    "closing",
    [
        OrderCanceled(ts=JAN_1, client_order_id="a", symbol=BTC),
        OrderRejected(ts=JAN_1, client_order_id="a", symbol=BTC, reason="no"),
        OrderExpired(ts=JAN_1, client_order_id="a", symbol=BTC),
    ],
    ids=["canceled", "rejected", "expired"],
)
def test_a_closed_order_leaves_our_open_orders(closing: Message) -> None:
    reconciler, out = make_reconciler()
    feed_session(reconciler)
    handler = reconciler.handlers()[type(closing)]
    handler(closing)
    answer(reconciler, out, matching_snapshot(open_orders=()))
    assert out == []


def test_a_fill_reaching_the_order_quantity_closes_the_order() -> None:
    reconciler, out = make_reconciler()
    feed_session(reconciler)
    reconciler.on_fill(fill("a", "t3", "0.6", "1", fee="0.06"))
    reconciler.on_position_changed(position("1.5"))
    snapshot = matching_snapshot(
        balances={"USDT": Decimal("9849.85"), "BTC": Decimal("1.5"), "BNB": Decimal("1")},
        open_orders=(),
        trade_ids=("t1", "t2", "t3"),
    )
    answer(reconciler, out, snapshot)
    assert out == []


def test_venue_trade_we_never_saw_is_a_missing_fill() -> None:
    reconciler, out = make_reconciler()
    feed_session(reconciler)
    answer(reconciler, out, matching_snapshot(trade_ids=("t1", "t2", "t9")))
    assert drifts(out) == [Drift(kind="missing_fill", key="t9", ours="", venue="t9")]


def test_our_fill_the_venue_does_not_know_is_an_unknown_fill() -> None:
    reconciler, out = make_reconciler()
    feed_session(reconciler)
    answer(reconciler, out, matching_snapshot(trade_ids=("t1",)))
    assert drifts(out) == [Drift(kind="unknown_fill", key="t2", ours="t2", venue="")]


def test_a_duplicated_fill_is_counted_once() -> None:
    reconciler, out = make_reconciler()
    feed_session(reconciler)
    reconciler.on_fill(fill("b", "t2", "0.5", "0.5", fee="0.05"))
    answer(reconciler, out, matching_snapshot())
    assert out == []


def test_drifts_are_sorted_by_kind_then_key() -> None:
    reconciler, out = make_reconciler()
    feed_session(reconciler)
    snapshot = matching_snapshot(
        balances={"USDT": Decimal("1"), "BTC": Decimal("0"), "BNB": Decimal("1")},
        open_orders=(report("z", "1", "0"), report("y", "1", "0")),
        trade_ids=("t9", "t1", "t8"),
    )
    answer(reconciler, out, snapshot)
    assert [(drift.kind, drift.key) for drift in drifts(out)] == [
        ("balance", "BTC"),
        ("balance", "USDT"),
        ("missing_fill", "t8"),
        ("missing_fill", "t9"),
        ("missing_order", "y"),
        ("missing_order", "z"),
        ("unknown_fill", "t2"),
        ("unknown_order", "a"),
    ]


def test_snapshot_of_another_venue_is_ignored() -> None:
    reconciler, out = make_reconciler()
    feed_session(reconciler)
    answer(reconciler, out, matching_snapshot(venue="kraken", balances={}))
    assert out == []
    assert reconciler.reports == 0


def test_last_drift_is_kept_after_a_clean_report() -> None:
    reconciler, out = make_reconciler()
    feed_session(reconciler)
    answer(reconciler, out, matching_snapshot(trade_ids=("t1",)))
    answer(reconciler, out, matching_snapshot())
    assert len(drifts(out)) == 1
    assert reconciler.reports == 2
    assert not reconciler.drifting
    assert reconciler.last_drift is not None
    assert reconciler.last_drift.ts == JAN_1 + HOUR


# --- incremental trade reconciliation --------------------------------------------------


def trade(number: int) -> Fill:
    """Our fill of venue trade ``t<number>``, of an order the reconciler does not track."""
    return fill(f"o{number}", f"t{number}", "0.1", "0.1")


def venue_trades(reconciler: Reconciler, since: int, cursor: int, *numbers: int) -> VenueSnapshot:
    """A snapshot listing trades ``numbers`` as those after ``since`` up to ``cursor``.
    Its balances are ours and it has no open orders, so only the trade check can drift."""
    return VenueSnapshot(
        ts=JAN_1 + HOUR,
        venue=VENUE,
        balances=reconciler.expected_balances(),
        trade_ids=tuple(f"t{number}" for number in numbers),
        since_trade=since,
        trade_cursor=cursor,
    )


def trade_drift_reports(out: list[Message]) -> list[list[tuple[str, str]]]:
    """(kind, key) of each ``DriftDetected`` published so far, one list per report; clears
    ``out`` for the next step."""
    reports = [
        [(drift.kind, drift.key) for drift in message.diffs]
        for message in out
        if isinstance(message, DriftDetected)
    ]
    out.clear()
    return reports


def test_each_request_asks_for_the_trades_after_the_last_snapshot() -> None:
    reconciler, out = make_reconciler()
    assert ask(reconciler, out).since_trade == 0
    reconciler.on_fill(trade(1))
    reconciler.on_fill(trade(2))
    reconciler.on_venue_snapshot(venue_trades(reconciler, 0, 2, 1, 2))
    assert reconciler.trade_cursor == 2
    assert ask(reconciler, out).since_trade == 2
    reconciler.on_end_of_data(EndOfData(ts=JAN_1 + 2 * HOUR))
    assert out == [Reconcile(ts=JAN_1 + 2 * HOUR, since_trade=2)]


def test_incremental_snapshots_confirm_each_new_fill() -> None:
    reconciler, out = make_reconciler()
    reconciler.on_fill(trade(1))
    reconciler.on_fill(trade(2))
    answer(reconciler, out, venue_trades(reconciler, 0, 2, 1, 2))
    reconciler.on_fill(trade(3))
    assert reconciler.unconfirmed_fills == ("t3",)
    answer(reconciler, out, venue_trades(reconciler, 2, 3, 3))
    answer(reconciler, out, venue_trades(reconciler, 3, 3))
    assert out == []
    assert reconciler.unconfirmed_fills == ()
    assert reconciler.trade_cursor == 3
    assert reconciler.reports == 3


def test_a_new_venue_trade_we_never_saw_is_a_missing_fill_until_its_fill_arrives() -> None:
    reconciler, out = make_reconciler()
    reconciler.on_fill(trade(1))
    answer(reconciler, out, venue_trades(reconciler, 0, 1, 1))
    answer(reconciler, out, venue_trades(reconciler, 1, 2, 2))
    answer(reconciler, out, venue_trades(reconciler, 2, 2))
    assert trade_drift_reports(out) == [[("missing_fill", "t2")], [("missing_fill", "t2")]]
    reconciler.on_fill(trade(2))
    answer(reconciler, out, venue_trades(reconciler, 2, 2))
    assert out == []
    assert reconciler.unconfirmed_fills == ()


def test_our_fill_a_new_snapshot_does_not_list_is_an_unknown_fill_until_listed() -> None:
    reconciler, out = make_reconciler()
    reconciler.on_fill(trade(1))
    answer(reconciler, out, venue_trades(reconciler, 0, 1, 1))
    reconciler.on_fill(trade(2))
    reconciler.on_fill(trade(3))
    answer(reconciler, out, venue_trades(reconciler, 1, 2, 3))
    answer(reconciler, out, venue_trades(reconciler, 2, 2))
    assert trade_drift_reports(out) == [[("unknown_fill", "t2")], [("unknown_fill", "t2")]]
    answer(reconciler, out, venue_trades(reconciler, 2, 3, 2))
    assert out == []
    assert reconciler.unconfirmed_fills == ()


@pytest.mark.parametrize("listed", [(1,), (1, 2)], ids=["answered-before-it", "answered-after"])
def test_a_fill_that_arrives_while_our_request_is_out_is_not_due_at_its_answer(
    listed: tuple[int, ...],
) -> None:
    reconciler, out = make_reconciler()
    reconciler.on_fill(trade(1))
    ask(reconciler, out)
    reconciler.on_fill(trade(2))  # live, the venue may have answered before or after it
    reconciler.on_venue_snapshot(venue_trades(reconciler, 0, len(listed), *listed))
    assert out == []
    assert reconciler.unconfirmed_fills == ("t2",)[: 2 - len(listed)]
    answer(reconciler, out, venue_trades(reconciler, len(listed), len(listed)))
    assert trade_drift_reports(out) == ([[("unknown_fill", "t2")]] if listed == (1,) else [])


def test_an_unasked_snapshot_judges_the_fills_we_held_at_our_last_request() -> None:
    reconciler, out = make_reconciler()
    reconciler.on_fill(trade(1))
    ask(reconciler, out)
    reconciler.on_fill(trade(2))
    reconciler.on_venue_snapshot(venue_trades(reconciler, 0, 0))  # the operator's Reconcile()
    assert trade_drift_reports(out) == [[("unknown_fill", "t1")]]


def test_a_full_snapshot_after_incremental_ones_repeats_confirmed_trades_without_drift() -> None:
    reconciler, out = make_reconciler()
    reconciler.on_fill(trade(1))
    answer(reconciler, out, venue_trades(reconciler, 0, 1, 1))
    reconciler.on_fill(trade(2))
    answer(reconciler, out, venue_trades(reconciler, 1, 2, 2))
    reconciler.on_venue_snapshot(venue_trades(reconciler, 0, 2, 1, 2))  # the operator's
    assert out == []
    assert reconciler.trade_cursor == 2


@pytest.mark.parametrize(
    ("since", "cursor", "listed", "expected"),
    [
        (3, 4, (4,), [[("missing_fill", "t4")]]),  # trade 3 falls in the gap
        (0, 1, (1,), []),  # a stale answer
    ],
    ids=["starts-after-our-cursor", "ends-before-our-cursor"],
)
def test_a_snapshot_that_does_not_cover_our_cursor_cannot_show_a_fill_is_absent(
    since: int, cursor: int, listed: tuple[int, ...], expected: list[list[tuple[str, str]]]
) -> None:
    reconciler, out = make_reconciler()
    reconciler.on_fill(trade(1))
    reconciler.on_fill(trade(2))
    answer(reconciler, out, venue_trades(reconciler, 0, 2, 1, 2))
    reconciler.on_fill(trade(3))
    answer(reconciler, out, venue_trades(reconciler, since, cursor, *listed))
    assert trade_drift_reports(out) == expected
    assert reconciler.trade_cursor == 2
    assert reconciler.unconfirmed_fills == ("t3",)
    answer(reconciler, out, venue_trades(reconciler, 2, 3, 3))
    assert reconciler.trade_cursor == 3
    assert reconciler.unconfirmed_fills == ()


_STEPS = st.lists(st.sampled_from(["both", "venue_only", "ours_only", "late", "reconcile"]))


@given(steps=_STEPS)
def test_incremental_trade_drifts_equal_a_comparison_of_the_whole_histories(
    steps: list[str],
) -> None:
    """In a FIFO session (no fill in flight at a request), each incremental snapshot reports
    exactly the fills the two whole histories disagree on: what the reconciler reported
    when every snapshot carried every trade."""
    reconciler, out = make_reconciler()
    venue: list[str] = []
    ours: list[str] = []
    late: list[str] = []  # venue trades whose Fill has not reached us yet
    for number, step in enumerate([*steps, "reconcile"]):
        trade_id = f"t{number}"
        if step in ("both", "venue_only"):
            venue.append(trade_id)
        if step in ("both", "ours_only"):
            ours.append(trade_id)
            reconciler.on_fill(fill("o", trade_id, "0.1", "0.1"))
        if step == "venue_only":
            late.append(trade_id)
        if step == "late" and late:
            ours.append(late[0])
            reconciler.on_fill(fill("o", late.pop(0), "0.1", "0.1"))
        if step != "reconcile":
            continue
        request = ask(reconciler, out)
        reconciler.on_venue_snapshot(
            VenueSnapshot(
                ts=JAN_1 + HOUR,
                venue=VENUE,
                balances=reconciler.expected_balances(),
                trade_ids=tuple(venue[request.since_trade :]),
                since_trade=request.since_trade,
                trade_cursor=len(venue),
            )
        )
        whole = sorted(
            [("missing_fill", tid) for tid in set(venue) - set(ours)]
            + [("unknown_fill", tid) for tid in set(ours) - set(venue)]
        )
        assert trade_drift_reports(out) == ([whole] if whole else [])


def test_snapshots_of_a_long_session_carry_only_the_new_trades_and_stay_clean() -> None:
    scheduler, reconciler, venue = make_session(HOUR)
    detected: list[DriftDetected] = []
    scheduler.bus.subscribe(DriftDetected, detected.append, "tap")
    held = Decimal(0)
    fills = 0
    for minute in range(1, 48 * 60 + 1):
        ts = JAN_1 + minute * MINUTE
        scheduler.publish(Heartbeat(ts=ts, actor="feed"))
        if minute % 7 == 0:
            fills += 1
            side = Side.BUY if fills % 3 else Side.SELL
            held += Decimal("0.1") if side is Side.BUY else Decimal("-0.1")
            scheduler.publish(fill(f"o{fills}", f"t{fills}", "0.1", "0.1", side=side, ts=ts))
            scheduler.publish(position(str(held)))
    scheduler.finish()
    assert detected == []
    assert reconciler.reports == len(venue.snapshots) == 49
    # Each request starts where the previous snapshot ended, so every trade is listed once
    # and no snapshot carries more than one interval's trades (60 / 7 -> at most 9).
    assert [request.since_trade for request in venue.requests] == [
        0,
        *(snapshot.trade_cursor for snapshot in venue.snapshots[:-1]),
    ]
    sizes = [len(snapshot.trade_ids) for snapshot in venue.snapshots]
    assert sum(sizes) == fills
    assert max(sizes) <= 9
    assert reconciler.unconfirmed_fills == ()
    assert reconciler.trade_cursor == fills


# --- triggers -------------------------------------------------------------------------


class MirrorVenue(Actor):
    """A venue that books fills like the reconciler should and answers ``Reconcile`` with
    the trades after the requested cursor (trade n is ``trade_ids[n - 1]``)."""

    name = "exchange"

    def __init__(self) -> None:
        super().__init__()
        self.balances = {"USDT": Decimal("10000"), "BNB": Decimal("1")}
        self.trade_ids: list[str] = []
        self.requests: list[Reconcile] = []
        self.snapshots: list[VenueSnapshot] = []

    def on_fill(self, message: Fill) -> None:
        sign = 1 if message.side is Side.BUY else -1
        self.balances["USDT"] -= sign * message.quantity * message.price + message.fee
        self.balances["BTC"] = self.balances.get("BTC", Decimal(0)) + sign * message.quantity
        self.trade_ids.append(message.trade_id)

    def on_reconcile(self, message: Reconcile) -> None:
        self.requests.append(message)
        snapshot = VenueSnapshot(
            ts=message.ts,
            venue=VENUE,
            balances=dict(self.balances),
            trade_ids=tuple(self.trade_ids[message.since_trade :]),
            since_trade=message.since_trade,
            trade_cursor=len(self.trade_ids),
        )
        self.snapshots.append(snapshot)
        self.publish(snapshot)


def make_session(
    interval_ns: int, *actors: Actor
) -> tuple[DeterministicScheduler, Reconciler, MirrorVenue]:
    reconciler = Reconciler(
        venue=VENUE,
        quote_asset="USDT",
        base_assets={BTC: "BTC"},
        initial_balances={"USDT": Decimal("10000"), "BNB": Decimal("1")},
        interval_ns=interval_ns,
    )
    venue = MirrorVenue()
    scheduler = DeterministicScheduler(Bus([*actors, reconciler, venue]), SimClock(JAN_1))
    scheduler.start()
    return scheduler, reconciler, venue


def test_timer_triggers_reconcile_every_interval_in_simulated_time() -> None:
    scheduler, reconciler, venue = make_session(HOUR)
    detected: list[DriftDetected] = []
    scheduler.bus.subscribe(DriftDetected, detected.append, "tap")
    held = Decimal(0)
    for minute in range(1, 3 * 60 + 30):
        ts = JAN_1 + minute * MINUTE
        scheduler.publish(Heartbeat(ts=ts, actor="feed"))
        if minute % 20 == 0:
            side = Side.BUY if minute % 40 else Side.SELL
            held += Decimal("0.1") if side is Side.BUY else Decimal("-0.1")
            scheduler.publish(fill(f"o{minute}", f"t{minute}", "0.1", "0.1", side=side, ts=ts))
            scheduler.publish(position(str(held)))
        if minute == 150:
            venue.balances["USDT"] -= 1  # the venue loses a unit: the 3h report must see it
    assert [request.ts for request in venue.requests] == [
        JAN_1 + HOUR,
        JAN_1 + 2 * HOUR,
        JAN_1 + 3 * HOUR,
    ]
    assert reconciler.reports == 3
    assert [message.ts for message in detected] == [JAN_1 + 3 * HOUR]
    (drift,) = detected[0].diffs
    assert drift.kind == "balance"
    assert drift.key == "USDT"
    assert Decimal(drift.ours) - Decimal(drift.venue) == 1


def test_end_of_data_triggers_a_final_reconcile() -> None:
    scheduler, reconciler, venue = make_session(0)
    scheduler.publish(Heartbeat(ts=JAN_1 + 5 * HOUR, actor="feed"))
    assert venue.requests == []
    scheduler.finish()
    assert [request.ts for request in venue.requests] == [JAN_1 + 5 * HOUR]
    assert reconciler.reports == 1


def test_another_actors_timer_does_not_trigger_reconcile() -> None:
    reconciler, out = make_reconciler(HOUR)
    reconciler.on_timer_fired(TimerFired(ts=JAN_1, owner="risk", name="reconcile"))
    reconciler.on_timer_fired(TimerFired(ts=JAN_1, owner="reconciler", name="other"))
    assert out == []
    reconciler.on_timer_fired(TimerFired(ts=JAN_1 + HOUR, owner="reconciler", name="reconcile"))
    assert out == [Reconcile(ts=JAN_1 + HOUR)]


def test_reconciler_stays_off_the_per_bar_path_and_never_hears_its_own_reconcile() -> None:
    reconciler, _ = make_reconciler()
    consumed = reconciler.handlers()
    assert Reconcile not in consumed
    assert EquityMarked not in consumed
    assert Bar not in consumed


def test_negative_interval_is_refused() -> None:
    with pytest.raises(ValueError, match="interval"):
        make_reconciler(-1)


def test_accountant_positions_reconcile_with_a_venue_that_booked_the_same_fills() -> None:
    accountant = Accountant("USDT", Decimal("10000"))
    scheduler, reconciler, _ = make_session(HOUR, accountant)
    detected: list[DriftDetected] = []
    scheduler.bus.subscribe(DriftDetected, detected.append, "tap")
    scheduler.publish(fill("a", "t1", "0.3", "0.3", price="100.5", fee="0.03", ts=JAN_1 + MINUTE))
    scheduler.publish(
        fill(
            "b", "t2", "0.1", "0.1", price="110", fee="0.01", side=Side.SELL, ts=JAN_1 + 2 * MINUTE
        )
    )
    scheduler.publish(Heartbeat(ts=JAN_1 + 2 * HOUR, actor="feed"))
    scheduler.finish()
    assert reconciler.reports == 3
    assert detected == []
    assert reconciler.expected_balances()["BTC"] == accountant.positions[BTC] == Decimal("0.2")


# --- recovery: asking the venue about orders whose outcome we do not know ---------------


def recovered(ts: int = JAN_1 + HOUR) -> Recovered:
    return Recovered(ts=ts, session="s1", snapshot_seq=5, last_seq=9)


def accepted(client_id: str) -> OrderAccepted:
    return OrderAccepted(ts=JAN_1, client_order_id=client_id, venue_order_id="v-", symbol=BTC)


def cancel_order(client_id: str) -> CancelOrder:
    return CancelOrder(ts=JAN_1, client_order_id=client_id, symbol=BTC)


def queried(out: list[Message]) -> list[str]:
    queries = [message for message in out if isinstance(message, QueryOrder)]
    assert all(query.venue == VENUE and query.ts == JAN_1 + HOUR for query in queries)
    return [query.client_order_id for query in queries]


def test_recovered_queries_every_submitted_unacknowledged_order_in_client_id_order() -> None:
    reconciler, out = make_reconciler()
    for client_id in ("c", "a", "b"):
        reconciler.on_submit_order(submit(client_id, "1"))
    reconciler.on_recovered(recovered())
    assert queried(out) == ["a", "b", "c"]
    assert out == [QueryOrder(ts=JAN_1 + HOUR, venue=VENUE, client_order_id=c) for c in "abc"]


def test_recovered_does_not_query_orders_acknowledged_or_finished() -> None:
    reconciler, out = make_reconciler()
    for client_id in ("accepted", "filling", "filled", "canceled", "rejected", "expired"):
        reconciler.on_submit_order(submit(client_id, "1"))
    reconciler.on_order_accepted(accepted("accepted"))
    reconciler.on_fill(fill("filling", "t1", "0.5", "0.5"))  # a fill implies acknowledgement
    reconciler.on_fill(fill("filled", "t2", "1", "1"))
    reconciler.on_order_canceled(OrderCanceled(ts=JAN_1, client_order_id="canceled", symbol=BTC))
    reconciler.on_order_rejected(
        OrderRejected(ts=JAN_1, client_order_id="rejected", symbol=BTC, reason="x")
    )
    reconciler.on_order_expired(OrderExpired(ts=JAN_1, client_order_id="expired", symbol=BTC))
    reconciler.on_recovered(recovered())
    assert queried(out) == []


def test_recovered_queries_orders_pending_cancel_acknowledged_or_not() -> None:
    reconciler, out = make_reconciler()
    for client_id in ("acked", "filling", "unacked", "left_alone"):
        reconciler.on_submit_order(submit(client_id, "1"))
    reconciler.on_order_accepted(accepted("acked"))
    reconciler.on_order_accepted(accepted("left_alone"))
    reconciler.on_fill(fill("filling", "t1", "0.5", "0.5"))
    for client_id in ("acked", "filling", "unacked"):
        reconciler.on_cancel_order(cancel_order(client_id))
    reconciler.on_recovered(recovered())
    assert queried(out) == ["acked", "filling", "unacked"]


def test_a_pending_cancel_that_ended_is_not_queried() -> None:
    reconciler, out = make_reconciler()
    reconciler.on_submit_order(submit("a", "1"))
    reconciler.on_submit_order(submit("b", "1"))
    reconciler.on_order_accepted(accepted("a"))
    reconciler.on_order_accepted(accepted("b"))
    reconciler.on_cancel_order(cancel_order("a"))
    reconciler.on_cancel_order(cancel_order("b"))
    reconciler.on_order_canceled(OrderCanceled(ts=JAN_1, client_order_id="a", symbol=BTC))
    reconciler.on_fill(fill("b", "t1", "1", "1"))  # the fill won the race with the cancel
    reconciler.on_recovered(recovered())
    assert queried(out) == []


def test_a_cancel_request_does_not_change_the_status_compared_with_the_venue() -> None:
    reconciler, out = make_reconciler()
    feed_session(reconciler)
    reconciler.on_cancel_order(cancel_order("a"))
    reconciler.on_cancel_order(cancel_order("nobody"))
    reconciler.on_venue_snapshot(matching_snapshot())
    assert out == []
    assert reconciler.unresolved_orders() == ["a"]
