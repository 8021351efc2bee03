"""Tests of actors/accountant.py: FIFO books, marks, daily PnL, round trips."""

from __future__ import annotations

import itertools
from collections import deque
from decimal import Context, Decimal, localcontext
from typing import Any, TypeVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import actors.accountant as accountant_module
from actors.accountant import Accountant, FeeAssetError, InvalidFillError, Lot, RoundTrip
from actors.clock import SimClock
from actors.intervals import UnknownIntervalError
from actors.messages import (
    DailyPnl,
    EndOfData,
    EquityMarked,
    Fill,
    Message,
    PositionChanged,
    Side,
)
from tests.factories import flat_bar, make_fill, position_changed

MINUTE = 60_000_000_000
DAY = 1440 * MINUTE
JAN_1 = 1_704_067_200 * 1_000_000_000  # 2024-01-01T00:00:00Z
BTC = "BTCUSDT"
ETH = "ETHUSDT"
_trade_ids = itertools.count()
M = TypeVar("M", bound=Message)


def make_accountant(
    initial: str = "10000", price_increments: dict[str, Decimal] | None = None
) -> tuple[Accountant, list[Message]]:
    out: list[Message] = []
    accountant = Accountant("USDT", Decimal(initial), price_increments=price_increments)
    accountant.attach(out.append, SimClock(JAN_1))
    return accountant, out


def fill(side: Side, quantity: str | Decimal, price: str | Decimal, **fields: Any) -> Fill:
    """A fill at JAN_1, with a trade id of its own unless the test names one."""
    fields.setdefault("ts", JAN_1)
    if "trade_id" not in fields:
        fields["trade_id"] = f"t{next(_trade_ids)}"
    return make_fill(side, quantity, price, **fields)


def of_type(out: list[Message], kind: type[M]) -> list[M]:
    return [message for message in out if isinstance(message, kind)]


# --- fills and lots -------------------------------------------------------------------


def test_buy_opens_a_long_lot_and_pays_notional_and_fee() -> None:
    accountant, _ = make_accountant()
    accountant.on_fill(fill(Side.BUY, "2", "100", fee="0.2", ts=JAN_1 + 5))
    assert accountant.lots(BTC) == (Lot(Decimal("2"), Decimal("100"), JAN_1 + 5),)
    assert accountant.positions == {BTC: Decimal("2")}
    assert accountant.cash == Decimal("9799.8")
    assert accountant.fees == Decimal("0.2")


def test_sell_closes_long_lots_fifo_and_realizes_gross_of_fees() -> None:
    accountant, _ = make_accountant()
    accountant.on_fill(fill(Side.BUY, "1", "100", fee="0.1"))
    accountant.on_fill(fill(Side.BUY, "1", "200", fee="0.1"))
    accountant.on_fill(fill(Side.SELL, "1.5", "300", fee="0.3"))
    # FIFO: 1 @ 100 and 0.5 @ 200 close; (300-100)*1 + (300-200)*0.5 = 250.
    assert accountant.realized_pnl == Decimal("250")
    assert accountant.lots(BTC) == (Lot(Decimal("0.5"), Decimal("200"), JAN_1),)
    assert accountant.fees == Decimal("0.5")
    assert accountant.cash == Decimal("10000") - 100 - 200 + 450 - Decimal("0.5")


def test_sell_beyond_the_long_flips_into_a_short_lot() -> None:
    accountant, _ = make_accountant()
    accountant.on_fill(fill(Side.BUY, "1", "100"))
    accountant.on_fill(fill(Side.SELL, "3", "110", ts=JAN_1 + 9))
    assert accountant.realized_pnl == Decimal("10")
    assert accountant.lots(BTC) == (Lot(Decimal("-2"), Decimal("110"), JAN_1 + 9),)
    assert accountant.positions == {BTC: Decimal("-2")}


def test_buy_closes_short_lots_fifo_and_profits_when_price_fell() -> None:
    accountant, _ = make_accountant()
    accountant.on_fill(fill(Side.SELL, "1", "100"))
    accountant.on_fill(fill(Side.SELL, "1", "90"))
    accountant.on_fill(fill(Side.BUY, "1.5", "80"))
    # FIFO: short 1 @ 100 closes at 80 (+20), then 0.5 of the short @ 90 (+5).
    assert accountant.realized_pnl == Decimal("25")
    assert accountant.lots(BTC) == (Lot(Decimal("-0.5"), Decimal("90"), JAN_1),)
    assert accountant.cash == Decimal("10000") + 100 + 90 - 120


def test_position_changed_follows_each_fill_with_average_and_cumulative_realized() -> None:
    accountant, out = make_accountant()
    accountant.on_fill(fill(Side.BUY, "1", "100", ts=JAN_1 + 1))
    accountant.on_fill(fill(Side.BUY, "3", "200", ts=JAN_1 + 2))
    accountant.on_fill(fill(Side.SELL, "2", "250", ts=JAN_1 + 3))
    accountant.on_fill(fill(Side.SELL, "2", "150", ts=JAN_1 + 4))
    assert of_type(out, PositionChanged) == [
        position_changed("1", ts=JAN_1 + 1, average_price="100", realized_pnl="0"),
        position_changed("4", ts=JAN_1 + 2, average_price="175", realized_pnl="0"),
        # Closes 1 @ 100 (+150) and 1 @ 200 (+50); the open lots are 2 @ 200.
        position_changed("2", ts=JAN_1 + 3, average_price="200", realized_pnl="200"),
        position_changed("0", ts=JAN_1 + 4, average_price="0", realized_pnl="100"),
    ]


def test_realized_pnl_is_kept_per_symbol_in_position_changed() -> None:
    accountant, out = make_accountant()
    accountant.on_fill(fill(Side.BUY, "1", "100", symbol=BTC))
    accountant.on_fill(fill(Side.BUY, "1", "10", symbol=ETH))
    accountant.on_fill(fill(Side.SELL, "1", "110", symbol=BTC))
    accountant.on_fill(fill(Side.SELL, "1", "9", symbol=ETH))
    changes = of_type(out, PositionChanged)
    assert [(c.symbol, c.realized_pnl) for c in changes[2:]] == [
        (BTC, Decimal("10")),
        (ETH, Decimal("-1")),
    ]
    assert accountant.realized_pnl == Decimal("9")


def test_fee_in_an_undeclared_asset_is_refused_and_changes_nothing() -> None:
    accountant, out = make_accountant()
    with pytest.raises(FeeAssetError, match="ETH"):
        accountant.on_fill(fill(Side.BUY, "1", "100", fee="0.01", fee_asset="ETH"))
    assert accountant.cash == Decimal("10000")
    assert accountant.positions == {}
    assert out == []


def test_zero_fee_needs_no_fee_asset() -> None:
    accountant, _ = make_accountant()
    accountant.on_fill(fill(Side.BUY, "1", "100", fee="0", fee_asset=""))
    assert accountant.cash == Decimal("9900")


@pytest.mark.parametrize(("quantity", "price"), [("0", "100"), ("-1", "100"), ("1", "0")])
def test_fill_without_positive_quantity_and_price_is_refused(quantity: str, price: str) -> None:
    accountant, _ = make_accountant()
    with pytest.raises(InvalidFillError):
        accountant.on_fill(fill(Side.BUY, quantity, price))
    assert accountant.cash == Decimal("10000")


def test_fill_that_cannot_be_booked_exactly_raises_and_changes_nothing() -> None:
    accountant, out = make_accountant()
    accountant.on_fill(fill(Side.BUY, "1", "100", trade_id="ok"))
    digits = "1." + "1" * 40
    huge = fill(Side.BUY, digits, digits, trade_id="huge")
    with pytest.raises(ArithmeticError):
        accountant.on_fill(huge)
    assert accountant.cash == Decimal("9900")
    assert accountant.lots(BTC) == (Lot(Decimal("1"), Decimal("100"), JAN_1),)
    assert len(out) == 1


def test_duplicate_trade_is_booked_once() -> None:
    accountant, out = make_accountant()
    accountant.on_fill(fill(Side.BUY, "1", "100", trade_id="42"))
    accountant.on_fill(fill(Side.BUY, "1", "100", trade_id="42"))
    accountant.on_fill(fill(Side.BUY, "1", "100", trade_id="42", symbol=ETH))
    assert accountant.positions == {BTC: Decimal("1"), ETH: Decimal("1")}
    assert len(of_type(out, PositionChanged)) == 2


# --- marks ----------------------------------------------------------------------------


def test_equity_is_marked_only_for_the_mark_interval() -> None:
    accountant, out = make_accountant()
    accountant.on_bar(flat_bar(100.0, JAN_1 + 5 * MINUTE, interval="5m"))
    assert out == []
    accountant.on_bar(flat_bar(100.0, JAN_1 + MINUTE))
    assert len(of_type(out, EquityMarked)) == 1


def test_mark_interval_is_configurable() -> None:
    out: list[Message] = []
    accountant = Accountant("USDT", Decimal("10000"), mark_interval="1h")
    accountant.attach(out.append, SimClock(JAN_1))
    accountant.on_bar(flat_bar(100.0, JAN_1 + MINUTE))
    accountant.on_bar(flat_bar(100.0, JAN_1 + 60 * MINUTE, interval="1h"))
    assert [message.ts for message in of_type(out, EquityMarked)] == [JAN_1 + 60 * MINUTE]


def test_unknown_mark_interval_is_refused() -> None:
    with pytest.raises(UnknownIntervalError):
        Accountant("USDT", Decimal("1"), mark_interval="7m")


def test_flat_marks_publish_cash_as_equity_reusing_the_same_objects() -> None:
    accountant, out = make_accountant()
    accountant.on_fill(fill(Side.BUY, "1", "100", fee="1"))
    accountant.on_fill(fill(Side.SELL, "1", "110", fee="1"))
    accountant.on_bar(flat_bar(120.0, JAN_1 + MINUTE))
    accountant.on_bar(flat_bar(130.0, JAN_1 + 2 * MINUTE))
    first, second = of_type(out, EquityMarked)
    assert first.equity == first.cash == Decimal("10008")
    assert first.unrealized_pnl == first.gross_exposure == 0
    assert first.realized_pnl == Decimal("10")
    assert first.fees == Decimal("2")
    assert first.day_pnl == Decimal("8")
    assert second.equity is first.equity is accountant.cash
    assert second.day_pnl is first.day_pnl


def test_mark_values_open_positions_at_the_last_close() -> None:
    accountant, out = make_accountant()
    accountant.on_bar(flat_bar(10.0, JAN_1 + MINUTE, symbol=ETH))
    accountant.on_fill(fill(Side.BUY, "2", "100", fee="1", ts=JAN_1 + MINUTE))
    accountant.on_fill(fill(Side.SELL, "3", "10", symbol=ETH, ts=JAN_1 + MINUTE))
    accountant.on_bar(flat_bar(100.25, JAN_1 + 2 * MINUTE))
    accountant.on_bar(flat_bar(9.5, JAN_1 + 2 * MINUTE, symbol=ETH))
    marked = of_type(out, EquityMarked)[-1]
    assert marked.ts == JAN_1 + 2 * MINUTE
    assert marked.cash == Decimal("10000") - 200 - 1 + 30
    assert marked.equity == marked.cash + Decimal("200.5") - Decimal("28.5")
    assert marked.unrealized_pnl == Decimal("0.5") + Decimal("1.5")
    assert marked.gross_exposure == Decimal("200.5") + Decimal("28.5")
    assert marked.day_pnl == marked.equity - Decimal("10000")
    assert accountant.equity({BTC: Decimal("100.25"), ETH: Decimal("9.5")}) == marked.equity


def test_position_opened_before_any_close_is_valued_at_cost_until_marked() -> None:
    accountant, out = make_accountant()
    accountant.on_fill(fill(Side.BUY, "1", "100"))
    accountant.on_bar(flat_bar(10.0, JAN_1 + MINUTE, symbol=ETH))
    assert of_type(out, EquityMarked)[-1].equity == Decimal("10000")
    accountant.on_bar(flat_bar(104.0, JAN_1 + MINUTE))
    assert of_type(out, EquityMarked)[-1].equity == Decimal("10004")


def test_a_float_close_is_taken_at_its_printed_value() -> None:
    accountant, out = make_accountant()
    accountant.on_fill(fill(Side.BUY, "3", "0.1"))
    accountant.on_bar(flat_bar(0.1 + 0.2, JAN_1 + MINUTE))  # prints as 0.30000000000000004
    marked = of_type(out, EquityMarked)[-1]
    assert marked.unrealized_pnl == Decimal("3") * (Decimal("0.30000000000000004") - Decimal("0.1"))


def test_a_close_on_the_price_grid_is_read_without_printing_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    printed: list[float] = []

    def printing(value: float) -> str:
        printed.append(value)
        return repr(value)

    monkeypatch.setattr(accountant_module, "repr", printing, raising=False)
    accountant, out = make_accountant(price_increments={BTC: Decimal("0.01")})
    accountant.on_fill(fill(Side.BUY, "0.5", "42000"))
    accountant.on_bar(flat_bar(42123.45, JAN_1 + MINUTE))
    assert printed == []
    assert of_type(out, EquityMarked)[-1].gross_exposure == Decimal("21061.725")
    accountant.on_bar(flat_bar(42123.455, JAN_1 + 2 * MINUTE))  # finer than the grid: printed
    assert printed == [42123.455]
    assert of_type(out, EquityMarked)[-1].gross_exposure == Decimal("21061.7275")


def test_a_close_off_the_price_grid_is_taken_at_its_printed_value() -> None:
    accountant, out = make_accountant(price_increments={BTC: Decimal("0.01")})
    accountant.on_fill(fill(Side.BUY, "3", "0.1"))
    accountant.on_bar(flat_bar(0.1 + 0.2, JAN_1 + MINUTE))  # prints as 0.30000000000000004
    marked = of_type(out, EquityMarked)[-1]
    assert marked.unrealized_pnl == Decimal("3") * (Decimal("0.30000000000000004") - Decimal("0.1"))


@pytest.mark.parametrize("increment", ["0", "-0.01", "NaN", "Infinity"])
def test_price_increment_must_be_a_positive_number(increment: str) -> None:
    with pytest.raises(ValueError, match="price increment"):
        Accountant("USDT", Decimal("1"), price_increments={BTC: Decimal(increment)})


def test_a_mark_of_another_symbol_values_a_new_position_at_its_last_close() -> None:
    accountant, out = make_accountant()
    accountant.on_bar(flat_bar(100.0, JAN_1 + MINUTE))
    accountant.on_fill(fill(Side.BUY, "1", "90", ts=JAN_1 + MINUTE))
    accountant.on_bar(flat_bar(10.0, JAN_1 + MINUTE, symbol=ETH))
    marked = of_type(out, EquityMarked)[-1]
    assert (marked.equity, marked.unrealized_pnl, marked.gross_exposure) == (
        Decimal("10010"),
        Decimal("10"),
        Decimal("100"),
    )


def test_end_of_data_right_after_a_fill_values_the_position_at_its_last_close() -> None:
    accountant, out = make_accountant()
    accountant.on_bar(flat_bar(100.0, JAN_1 + MINUTE))
    accountant.on_fill(fill(Side.SELL, "2", "110", fee="1", ts=JAN_1 + MINUTE))
    accountant.on_end_of_data(EndOfData(ts=JAN_1 + 2 * MINUTE))
    (daily,) = of_type(out, DailyPnl)
    assert (daily.pnl, daily.equity) == (Decimal("19"), Decimal("10019"))


def test_equity_requires_a_mark_for_every_open_position() -> None:
    accountant, _ = make_accountant()
    accountant.on_fill(fill(Side.BUY, "1", "100"))
    with pytest.raises(KeyError, match=BTC):
        accountant.equity({ETH: Decimal("1")})


# --- days -----------------------------------------------------------------------------


def test_first_mark_of_a_new_day_publishes_the_closed_day_once_before_the_mark() -> None:
    accountant, out = make_accountant()
    accountant.on_fill(fill(Side.BUY, "1", "100", fee="1", ts=JAN_1))
    accountant.on_bar(flat_bar(110.0, JAN_1 + MINUTE))
    # The bar closing at midnight is the last of 2024-01-01.
    accountant.on_bar(flat_bar(120.0, JAN_1 + DAY))
    assert of_type(out, DailyPnl) == []
    accountant.on_bar(flat_bar(125.0, JAN_1 + DAY + MINUTE))
    accountant.on_bar(flat_bar(130.0, JAN_1 + DAY + 2 * MINUTE))
    assert of_type(out, DailyPnl) == [
        DailyPnl(
            ts=JAN_1 + DAY + MINUTE, date="2024-01-01", pnl=Decimal("19"), equity=Decimal("10019")
        )
    ]
    position = out.index(of_type(out, DailyPnl)[0])
    assert isinstance(out[position + 1], EquityMarked)
    assert out[position + 1].ts == JAN_1 + DAY + MINUTE
    assert out[position + 1].day_pnl == Decimal("5")
    assert of_type(out, EquityMarked)[-1].day_pnl == Decimal("10")


def test_day_pnl_of_the_first_day_is_against_initial_cash() -> None:
    accountant, out = make_accountant()
    accountant.on_fill(fill(Side.BUY, "1", "100", fee="1"))
    accountant.on_bar(flat_bar(90.0, JAN_1 + MINUTE))
    assert of_type(out, EquityMarked)[-1].day_pnl == Decimal("-11")


def test_days_without_marks_publish_only_the_last_marked_day() -> None:
    accountant, out = make_accountant()
    accountant.on_bar(flat_bar(1.0, JAN_1 + MINUTE))
    accountant.on_bar(flat_bar(1.0, JAN_1 + 3 * DAY + MINUTE))
    assert [daily.date for daily in of_type(out, DailyPnl)] == ["2024-01-01"]
    accountant.on_bar(flat_bar(1.0, JAN_1 + 4 * DAY + MINUTE))
    assert [daily.date for daily in of_type(out, DailyPnl)] == ["2024-01-01", "2024-01-04"]


def test_fills_after_the_last_mark_of_a_day_count_in_the_next_day() -> None:
    accountant, out = make_accountant()
    accountant.on_bar(flat_bar(100.0, JAN_1 + DAY))
    accountant.on_fill(fill(Side.BUY, "1", "100", fee="2", ts=JAN_1 + DAY))
    accountant.on_bar(flat_bar(100.0, JAN_1 + DAY + MINUTE))
    (daily,) = of_type(out, DailyPnl)
    assert (daily.date, daily.pnl, daily.equity) == ("2024-01-01", Decimal("0"), Decimal("10000"))
    assert of_type(out, EquityMarked)[-1].day_pnl == Decimal("-2")


def test_end_of_data_publishes_the_last_partial_day_with_every_fill() -> None:
    accountant, out = make_accountant()
    accountant.on_bar(flat_bar(100.0, JAN_1 + DAY + MINUTE))
    accountant.on_fill(fill(Side.BUY, "1", "100", fee="1", ts=JAN_1 + DAY + MINUTE))
    accountant.on_end_of_data(EndOfData(ts=JAN_1 + DAY + 2 * MINUTE))
    assert of_type(out, DailyPnl) == [
        DailyPnl(
            ts=JAN_1 + DAY + 2 * MINUTE,
            date="2024-01-02",
            pnl=Decimal("-1"),
            equity=Decimal("9999"),
        )
    ]


# --- round trips ----------------------------------------------------------------------


def test_round_trip_with_partial_exits_has_weighted_prices_and_net_pnl() -> None:
    accountant, _ = make_accountant()
    accountant.on_fill(fill(Side.BUY, "2", "100", fee="0.2", ts=JAN_1 + 1))
    accountant.on_fill(fill(Side.BUY, "1", "130", fee="0.1", ts=JAN_1 + 2))
    accountant.on_fill(fill(Side.SELL, "1", "120", fee="0.1", ts=JAN_1 + 3))
    assert accountant.round_trips == []
    accountant.on_fill(fill(Side.SELL, "2", "150", fee="0.3", ts=JAN_1 + 4))
    # FIFO realized: (120-100)*1 + (150-100)*1 + (150-130)*1 = 90; fees 0.7.
    assert accountant.round_trips == [
        RoundTrip(
            symbol=BTC,
            entry_ts=JAN_1 + 1,
            exit_ts=JAN_1 + 4,
            quantity=Decimal("3"),
            entry_price=Decimal("110"),
            exit_price=Decimal("140"),
            pnl=Decimal("89.3"),
            fees=Decimal("0.7"),
        )
    ]


def test_short_round_trip_has_negative_quantity() -> None:
    accountant, _ = make_accountant()
    accountant.on_fill(fill(Side.SELL, "1", "100", ts=JAN_1 + 1))
    accountant.on_fill(fill(Side.BUY, "1", "90", ts=JAN_1 + 2))
    (trip,) = accountant.round_trips
    assert (trip.quantity, trip.entry_price, trip.exit_price, trip.pnl) == (
        Decimal("-1"),
        Decimal("100"),
        Decimal("90"),
        Decimal("10"),
    )


def test_flip_closes_one_round_trip_and_opens_the_next_with_the_fee_split() -> None:
    accountant, _ = make_accountant()
    accountant.on_fill(fill(Side.BUY, "1", "100", fee="1", ts=JAN_1 + 1))
    accountant.on_fill(fill(Side.SELL, "3", "110", fee="3", ts=JAN_1 + 2))
    accountant.on_fill(fill(Side.BUY, "2", "105", fee="2", ts=JAN_1 + 3))
    assert accountant.round_trips == [
        RoundTrip(
            symbol=BTC,
            entry_ts=JAN_1 + 1,
            exit_ts=JAN_1 + 2,
            quantity=Decimal("1"),
            entry_price=Decimal("100"),
            exit_price=Decimal("110"),
            pnl=Decimal("8"),
            fees=Decimal("2"),
        ),
        RoundTrip(
            symbol=BTC,
            entry_ts=JAN_1 + 2,
            exit_ts=JAN_1 + 3,
            quantity=Decimal("-2"),
            entry_price=Decimal("110"),
            exit_price=Decimal("105"),
            pnl=Decimal("6"),
            fees=Decimal("4"),
        ),
    ]


def test_round_trips_are_per_symbol() -> None:
    accountant, _ = make_accountant()
    accountant.on_fill(fill(Side.BUY, "1", "100", symbol=BTC))
    accountant.on_fill(fill(Side.BUY, "1", "10", symbol=ETH))
    accountant.on_fill(fill(Side.SELL, "1", "12", symbol=ETH))
    assert [trip.symbol for trip in accountant.round_trips] == [ETH]


# --- properties -----------------------------------------------------------------------

LOT_STEP = Decimal("0.001")
SYMBOLS = (BTC, ETH)

fills_strategy = st.lists(
    st.tuples(
        st.sampled_from(SYMBOLS),
        st.sampled_from((Side.BUY, Side.SELL)),
        st.integers(min_value=1, max_value=40),  # quantity in lot steps
        st.integers(min_value=1, max_value=10**7),  # price in cents
        st.integers(min_value=0, max_value=10**5),  # fee in 1e-6
    ),
    min_size=1,
    max_size=30,
)
marks_strategy = st.tuples(
    st.integers(min_value=1, max_value=10**7), st.integers(min_value=1, max_value=10**7)
)


def to_fills(specs: list[tuple[str, Side, int, int, int]]) -> list[Fill]:
    return [
        fill(
            side,
            units * LOT_STEP,
            Decimal(cents).scaleb(-2),
            fee=Decimal(fee).scaleb(-6),
            symbol=symbol,
            ts=JAN_1 + index,
        )
        for index, (symbol, side, units, cents, fee) in enumerate(specs)
    ]


@settings(max_examples=300, deadline=None)
@given(fills_strategy, marks_strategy, st.booleans())
def test_books_reconcile_exactly_with_fills_and_marks(
    specs: list[tuple[str, Side, int, int, int]], mark_cents: tuple[int, int], on_grid: bool
) -> None:
    increments = {symbol: Decimal("0.01") for symbol in SYMBOLS} if on_grid else None
    accountant, out = make_accountant("100000", price_increments=increments)
    fills = to_fills(specs)
    for each in fills:
        accountant.on_fill(each)
    marks = {
        symbol: Decimal(cents).scaleb(-2) for symbol, cents in zip(SYMBOLS, mark_cents, strict=True)
    }
    for symbol, mark in marks.items():
        accountant.on_bar(flat_bar(float(mark), JAN_1 + MINUTE, symbol=symbol))

    with localcontext(prec=64):  # the references must not round either
        signed = {symbol: Decimal(0) for symbol in SYMBOLS}
        expected_cash = Decimal("100000")
        for each in fills:
            sign = 1 if each.side is Side.BUY else -1
            signed[each.symbol] += sign * each.quantity
            expected_cash += -sign * each.quantity * each.price - each.fee
        total_fees = sum((each.fee for each in fills), Decimal(0))
        position_value = sum((signed[s] * marks[s] for s in SYMBOLS), Decimal(0))
        exposure = sum((abs(signed[s] * marks[s]) for s in SYMBOLS), Decimal(0))

    assert accountant.cash == expected_cash
    assert accountant.fees == total_fees
    assert accountant.positions == {s: q for s, q in signed.items() if q}
    for symbol in SYMBOLS:
        assert sum((lot.quantity for lot in accountant.lots(symbol)), Decimal(0)) == signed[symbol]

    marked = of_type(out, EquityMarked)[-1]
    assert marked.cash == expected_cash
    assert marked.equity == expected_cash + position_value == accountant.equity(marks)
    assert marked.realized_pnl + marked.unrealized_pnl - marked.fees == marked.equity - Decimal(
        "100000"
    )
    assert marked.gross_exposure == exposure


closes_strategy = st.one_of(
    st.floats(min_value=1e-9, max_value=1e12, allow_nan=False, allow_infinity=False),
    st.builds(
        lambda ticks, places: ticks / 10**places,
        st.integers(min_value=1, max_value=10**15),
        st.integers(min_value=0, max_value=22),
    ),
)
increments_strategy = st.sampled_from(
    [None, Decimal("5"), Decimal("0.5"), Decimal("0.01"), Decimal("1E-8"), Decimal("1E-18")]
)


@settings(max_examples=300, deadline=None)
@given(
    increments_strategy,
    st.tuples(closes_strategy, closes_strategy, closes_strategy),
    st.tuples(st.integers(-40, 40).filter(bool), st.integers(-40, 40).filter(bool)),
)
def test_marks_value_positions_at_the_decimal_their_close_prints_as(
    increment: Decimal | None,
    closes: tuple[float, float, float],
    units: tuple[int, int],
) -> None:
    increments = None if increment is None else {BTC: increment, ETH: increment}
    accountant, out = make_accountant("100000", price_increments=increments)
    quantities = {symbol: count * LOT_STEP for symbol, count in zip(SYMBOLS, units, strict=True)}
    marks: dict[str, Decimal] = {}

    def check() -> None:
        with localcontext(prec=64):  # the references must not round either
            values = [quantities[symbol] * mark for symbol, mark in marks.items()]
            value = sum(values, Decimal(0))
            equity = accountant.cash + value
            unrealized = value - sum((quantities[symbol] * 100 for symbol in marks), Decimal(0))
            exposure = sum((abs(each) for each in values), Decimal(0))
        marked = of_type(out, EquityMarked)[-1]
        assert (marked.equity, marked.unrealized_pnl, marked.gross_exposure) == (
            equity,
            unrealized,
            exposure,
        )

    # BTC alone (one open position), then BTC and ETH together (the general revaluation).
    for ts, (symbol, close) in enumerate(zip((BTC, ETH, BTC), closes, strict=True), start=1):
        if symbol not in marks:
            quantity = quantities[symbol]
            side = Side.BUY if quantity > 0 else Side.SELL
            accountant.on_fill(fill(side, abs(quantity), "100", symbol=symbol, ts=JAN_1 + ts))
        accountant.on_bar(flat_bar(close, JAN_1 + ts * MINUTE, symbol=symbol))
        marks[symbol] = Decimal(repr(close))
        check()


def brute_force_fifo_realized(fills: list[Fill], symbol: str) -> Decimal:
    """Every fill as unit lots of ``LOT_STEP``, matched one unit at a time, oldest first."""
    units: deque[tuple[int, Decimal]] = deque()  # (direction, price) of open units
    realized = Decimal(0)
    with localcontext(prec=64):
        for each in fills:
            if each.symbol != symbol:
                continue
            direction = 1 if each.side is Side.BUY else -1
            for _ in range(int(each.quantity / LOT_STEP)):
                if units and units[0][0] != direction:
                    open_direction, open_price = units.popleft()
                    realized += (each.price - open_price) * LOT_STEP * open_direction
                else:
                    units.append((direction, each.price))
    return realized


@settings(max_examples=300, deadline=None)
@given(fills_strategy)
def test_fifo_realized_pnl_matches_a_unit_lot_brute_force(
    specs: list[tuple[str, Side, int, int, int]],
) -> None:
    accountant, out = make_accountant()
    fills = to_fills(specs)
    for each in fills:
        accountant.on_fill(each)
    per_symbol = {change.symbol: change.realized_pnl for change in of_type(out, PositionChanged)}
    for symbol in per_symbol:
        assert per_symbol[symbol] == brute_force_fifo_realized(fills, symbol)
    assert accountant.realized_pnl == sum(
        (brute_force_fifo_realized(fills, symbol) for symbol in SYMBOLS), Decimal(0)
    )


@settings(max_examples=200, deadline=None)
@given(fills_strategy)
def test_round_trips_account_for_all_realized_pnl_and_fees_once_flat(
    specs: list[tuple[str, Side, int, int, int]],
) -> None:
    accountant, _ = make_accountant()
    fills = to_fills(specs)
    for each in fills:
        accountant.on_fill(each)
    for symbol, quantity in accountant.positions.items():
        side = Side.SELL if quantity > 0 else Side.BUY
        accountant.on_fill(
            fill(side, abs(quantity), "100", fee="0.01", symbol=symbol, ts=JAN_1 + len(fills))
        )
    assert accountant.positions == {}
    trips = accountant.round_trips
    with localcontext(prec=64):
        assert sum((trip.fees for trip in trips), Decimal(0)) == accountant.fees
        total_pnl = sum((trip.pnl for trip in trips), Decimal(0))
        assert total_pnl == accountant.realized_pnl - accountant.fees
    for trip in trips:
        assert trip.entry_ts <= trip.exit_ts
        assert trip.quantity != 0


def test_flip_fee_share_is_rounded_to_eight_places_and_the_rest_goes_to_the_new_trip() -> None:
    accountant, _ = make_accountant()
    accountant.on_fill(fill(Side.BUY, "1", "100"))
    accountant.on_fill(fill(Side.SELL, "3", "100", fee="0.01"))
    accountant.on_fill(fill(Side.BUY, "2", "100"))
    closing, opening = accountant.round_trips
    assert closing.fees == Decimal("0.00333333")
    assert opening.fees == Decimal("0.00666667")


def reference_round_trips(fills: list[Fill], symbol: str) -> list[tuple[Decimal, ...]]:
    """(signed quantity, entry price, exit price) of each trip, from running sums."""
    average = Context(prec=28).divide
    trips = []
    position = entry_quantity = entry_notional = exit_quantity = exit_notional = Decimal(0)
    with localcontext(prec=64):
        for each in fills:
            if each.symbol != symbol:
                continue
            signed = each.quantity if each.side is Side.BUY else -each.quantity
            if not position or (position > 0) == (signed > 0):
                entry_quantity += each.quantity
                entry_notional += each.quantity * each.price
                position += signed
                continue
            closed = min(each.quantity, abs(position))
            exit_quantity += closed
            exit_notional += closed * each.price
            direction = 1 if position > 0 else -1
            position += signed
            if not position or (position > 0) != (direction > 0):
                trips.append(
                    (
                        direction * entry_quantity,
                        average(entry_notional, entry_quantity),
                        average(exit_notional, exit_quantity),
                    )
                )
                entry_quantity = abs(position)
                entry_notional = entry_quantity * each.price
                exit_quantity = exit_notional = Decimal(0)
    return trips


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(SYMBOLS),
            st.sampled_from((Side.BUY, Side.SELL)),
            st.integers(min_value=1, max_value=40),
            st.sampled_from((10_000, 10_050, 10_100)),  # few prices: trips at one price, too
            st.just(0),
        ),
        min_size=1,
        max_size=30,
    )
)
def test_round_trip_prices_are_the_quantity_weighted_averages_of_their_fills(
    specs: list[tuple[str, Side, int, int, int]],
) -> None:
    accountant, _ = make_accountant()
    fills = to_fills(specs)
    for each in fills:
        accountant.on_fill(each)
    for symbol in SYMBOLS:
        ours = [
            (trip.quantity, trip.entry_price, trip.exit_price)
            for trip in accountant.round_trips
            if trip.symbol == symbol
        ]
        assert ours == reference_round_trips(fills, symbol)
