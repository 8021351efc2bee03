"""The accountant's fees in the base asset and in a third asset (Binance charges a trade's
commission in the asset it brings in, or in BNB): the books hold what the venue holds."""

from __future__ import annotations

from collections import deque
from decimal import Decimal, localcontext
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actors.accountant import (
    Accountant,
    AccountantState,
    FeeAssetError,
    InvalidFillError,
    Lot,
)
from actors.clock import SimClock
from actors.messages import EquityMarked, Fill, Message, PositionChanged, Side
from tests.factories import flat_bar, make_fill

MINUTE = 60_000_000_000
JAN_1 = 1_704_067_200 * 1_000_000_000  # 2024-01-01T00:00:00Z
BTC = "BTCUSDT"
ETH = "ETHUSDT"
BNB = "BNBUSDT"
SYMBOLS = (BTC, ETH)
BASES = {BTC: "BTC", ETH: "ETH", BNB: "BNB"}
D = Decimal
ENCODER = msgspec.msgpack.Encoder(decimal_format="string")
DECODER = msgspec.msgpack.Decoder(AccountantState)


def _accountant(initial: str = "100000", **options: Any) -> tuple[Accountant, list[Message]]:
    out: list[Message] = []
    accountant = Accountant("USDT", D(initial), **options)
    accountant.attach(out.append, SimClock(JAN_1))
    return accountant, out


def _fill(side: Side, quantity: str | Decimal, price: str | Decimal, **fields: Any) -> Fill:
    fields.setdefault("ts", JAN_1)
    return make_fill(side, quantity, price, **fields)


# --- the base asset -------------------------------------------------------------------


def test_a_buy_paying_its_fee_in_the_base_asset_holds_the_net_quantity() -> None:
    accountant, out = _accountant()
    accountant.on_fill(_fill(Side.BUY, "0.01", "42000.10", fee="0.00001", fee_asset="BTC"))
    # What the venue holds: 0.01 BTC bought, 0.00001 BTC of it paid as commission.
    assert accountant.positions == {BTC: D("0.00999")}
    assert accountant.lots(BTC) == (Lot(D("0.00999"), D("42000.10"), JAN_1),)
    # The whole notional left the quote balance; nothing more.
    assert accountant.cash == D(100000) - D("420.001")
    # The fee is valued at the fill's price.
    assert accountant.fees == D("0.4200010")
    (changed,) = [m for m in out if isinstance(m, PositionChanged)]
    assert (changed.quantity, changed.average_price) == (D("0.00999"), D("42000.10"))
    accountant.on_bar(flat_bar(42000.10, JAN_1 + MINUTE, BTC))
    marked = [m for m in out if isinstance(m, EquityMarked)][-1]
    # Equity lost exactly the fee's value: cash + net quantity x price.
    assert marked.equity == D(100000) - D("0.4200010")
    assert marked.realized_pnl + marked.unrealized_pnl - marked.fees == marked.equity - 100000


def test_selling_the_net_quantity_closes_the_trip_with_both_fees() -> None:
    accountant, _ = _accountant()
    accountant.on_fill(
        _fill(Side.BUY, "0.01", "40000", fee="0.00001", fee_asset="BTC", trade_id="1")
    )
    accountant.on_fill(
        _fill(Side.SELL, "0.00999", "41000", fee="0.409590", fee_asset="USDT", trade_id="2")
    )
    assert accountant.positions == {}
    assert accountant.realized_pnl == D("9.99")  # 0.00999 x (41000 - 40000)
    (trip,) = accountant.round_trips
    assert trip.quantity == D("0.00999")
    assert trip.fees == D("0.4") + D("0.409590")
    assert trip.pnl == D("9.99") - trip.fees
    assert accountant.cash == D(100000) - D(400) + D("409.59") - D("0.409590")


def test_a_sell_paying_its_fee_in_the_base_asset_gives_up_quantity_and_fee() -> None:
    """BNB fees on a BNB sell: the venue takes the fee from the BNB left."""
    accountant, _ = _accountant()
    accountant.on_fill(_fill(Side.BUY, "2", "600", symbol=BNB, trade_id="1"))
    accountant.on_fill(
        _fill(Side.SELL, "1", "610", symbol=BNB, fee="0.00075", fee_asset="BNB", trade_id="2")
    )
    assert accountant.positions == {BNB: D("0.99925")}
    assert accountant.cash == D(100000) - D(1200) + D(610)
    assert accountant.fees == D("0.4575")  # 0.00075 BNB at 610
    assert accountant.realized_pnl == D("1.00075") * 10  # FIFO: 1.00075 closed at +10
    assert accountant.lots(BNB) == (Lot(D("0.99925"), D(600), JAN_1),)


def test_a_base_fee_is_told_by_the_given_base_assets_or_by_the_quote_suffix() -> None:
    unusual = "XBTPERP"  # not "<base>USDT": only the mapping tells its base
    accountant, _ = _accountant(base_assets={unusual: "XBT"})
    accountant.on_fill(_fill(Side.BUY, "1", "100", symbol=unusual, fee="0.001", fee_asset="XBT"))
    assert accountant.positions == {unusual: D("0.999")}
    plain, out = _accountant()
    with pytest.raises(FeeAssetError, match="XBT"):
        plain.on_fill(_fill(Side.BUY, "1", "100", symbol=unusual, fee="0.001", fee_asset="XBT"))
    assert plain.positions == {} and plain.cash == D(100000) and out == []


def test_a_base_fee_that_leaves_nothing_is_refused_and_changes_nothing() -> None:
    accountant, out = _accountant()
    with pytest.raises(InvalidFillError, match="leaves nothing"):
        accountant.on_fill(_fill(Side.BUY, "0.001", "100", fee="0.001", fee_asset="BTC"))
    assert (accountant.positions, accountant.cash, accountant.fees, out) == ({}, D(100000), 0, [])


def test_a_duplicate_base_fee_fill_is_booked_once() -> None:
    accountant, _ = _accountant()
    buy = _fill(Side.BUY, "0.01", "40000", fee="0.00001", fee_asset="BTC", trade_id="7")
    accountant.on_fill(buy)
    accountant.on_fill(buy)
    assert accountant.positions == {BTC: D("0.00999")}
    assert accountant.cash == D(100000) - D(400)


# --- a third asset ----------------------------------------------------------------------


def test_a_fee_in_bnb_is_kept_as_a_bnb_balance_and_counted_nowhere_else() -> None:
    accountant, out = _accountant()
    accountant.on_fill(_fill(Side.BUY, "0.01", "40000", fee="0.0005", fee_asset="BNB"))
    accountant.on_fill(
        _fill(Side.SELL, "0.01", "40100", fee="0.00025", fee_asset="BNB", trade_id="t2")
    )
    assert accountant.fee_balances == {"BNB": D("-0.00075")}
    assert accountant.fees == 0
    assert accountant.cash == D(100000) + D(1)
    assert accountant.realized_pnl == D(1)
    (trip,) = accountant.round_trips
    assert (trip.fees, trip.pnl) == (0, D(1))
    accountant.on_bar(flat_bar(40100.0, JAN_1 + MINUTE, BTC))
    assert [m for m in out if isinstance(m, EquityMarked)][-1].equity == D(100001)


def test_fee_assets_are_configurable() -> None:
    accountant, _ = _accountant(fee_assets=())
    with pytest.raises(FeeAssetError, match="BNB"):
        accountant.on_fill(_fill(Side.BUY, "1", "100", fee="0.01", fee_asset="BNB"))
    other, _ = _accountant(fee_assets=("KCS",))
    other.on_fill(_fill(Side.BUY, "1", "100", fee="0.01", fee_asset="KCS"))
    assert other.fee_balances == {"KCS": D("-0.01")}


def test_a_zero_fee_in_any_asset_is_no_fee() -> None:
    accountant, _ = _accountant()
    accountant.on_fill(_fill(Side.BUY, "1", "100", fee="0", fee_asset="DOGE"))
    assert accountant.positions == {BTC: D(1)} and accountant.fee_balances == {}


# --- snapshot -----------------------------------------------------------------------------


def test_fee_balances_survive_a_snapshot_and_an_older_snapshot_decodes_without_them() -> None:
    accountant, _ = _accountant()
    accountant.on_fill(_fill(Side.BUY, "0.01", "40000", fee="0.0005", fee_asset="BNB"))
    accountant.on_fill(
        _fill(Side.BUY, "0.01", "40000", fee="0.00001", fee_asset="BTC", trade_id="t2")
    )
    state = DECODER.decode(ENCODER.encode(accountant.snapshot()))
    restored, _ = _accountant()
    restored.restore(state)
    assert restored.snapshot() == accountant.snapshot()
    assert restored.fee_balances == {"BNB": D("-0.0005")}
    restored.on_fill(_fill(Side.BUY, "1", "1", fee="1", fee_asset="BNB", trade_id="t3"))
    assert accountant.fee_balances == {"BNB": D("-0.0005")}  # no aliasing
    older = msgspec.msgpack.decode(ENCODER.encode(accountant.snapshot()))
    del older["fee_balances"]
    assert DECODER.decode(msgspec.msgpack.encode(older)).fee_balances == {}


# --- properties -----------------------------------------------------------------------------

LOT = D("0.001")
FEE_KINDS = ("quote", "base", "bnb")

fills_strategy = st.lists(
    st.tuples(
        st.sampled_from(SYMBOLS),
        st.sampled_from((Side.BUY, Side.SELL)),
        st.integers(min_value=1, max_value=40),  # quantity in lots
        st.integers(min_value=1, max_value=10**7),  # price in cents
        st.sampled_from(FEE_KINDS),
        st.integers(min_value=0, max_value=99),  # fee in hundredths of the first lot
    ),
    min_size=1,
    max_size=30,
)


def _fills(specs: list[tuple[str, Side, int, int, str, int]], fine: bool) -> list[Fill]:
    """Fills whose fees are in the quote asset, the base asset or BNB. ``fine``: a base
    fee in 1e-8 of the base (as Binance charges); else in whole lots, so the net
    quantities stay on the lot grid the unit brute force counts in."""
    fills = []
    for index, (symbol, side, units, cents, kind, fee) in enumerate(specs):
        price = D(cents).scaleb(-2)
        if kind == "base":
            amount = D(fee).scaleb(-8) if fine else LOT * (fee % units)
            asset = BASES[symbol]
        else:
            amount = D(fee).scaleb(-2 if kind == "quote" else -5)
            asset = "USDT" if kind == "quote" else "BNB"
        fills.append(
            _fill(
                side,
                units * LOT,
                price,
                symbol=symbol,
                fee=amount,
                fee_asset=asset,
                ts=JAN_1 + index,
                trade_id=f"t{index}",
            )
        )
    return fills


def _net(fill: Fill) -> tuple[int, Decimal]:
    """(direction, quantity) the fill moves the venue's base balance by."""
    base = fill.fee if fill.fee_asset == BASES[fill.symbol] else D(0)
    if fill.side is Side.BUY:
        return 1, fill.quantity - base
    return -1, fill.quantity + base


@settings(max_examples=300, deadline=None)
@given(fills_strategy, st.tuples(st.integers(1, 10**7), st.integers(1, 10**7)))
def test_the_books_equal_the_venues_balances_whatever_asset_fees_are_paid_in(
    specs: list[tuple[str, Side, int, int, str, int]], mark_cents: tuple[int, int]
) -> None:
    accountant, out = _accountant(price_increments={BTC: D("0.01")})
    fills = _fills(specs, fine=True)
    for each in fills:
        accountant.on_fill(each)
    marks = {s: D(c).scaleb(-2) for s, c in zip(SYMBOLS, mark_cents, strict=True)}
    for symbol, mark in marks.items():
        accountant.on_bar(flat_bar(float(mark), JAN_1 + MINUTE, symbol=symbol))

    with localcontext(prec=80):  # the venue's balances, moved as Binance moves them
        quote, bnb, fee_value = D(100000), D(0), D(0)
        base = {symbol: D(0) for symbol in SYMBOLS}
        for each in fills:
            direction, quantity = _net(each)
            base[each.symbol] += direction * quantity
            quote -= direction * each.quantity * each.price
            if each.fee_asset == "USDT":
                quote -= each.fee
                fee_value += each.fee
            elif each.fee_asset == "BNB":
                bnb -= each.fee
            else:
                fee_value += each.fee * each.price
        equity = quote + sum((base[s] * marks[s] for s in SYMBOLS), D(0))

    assert accountant.cash == quote
    assert accountant.positions == {s: q for s, q in base.items() if q}
    for symbol in SYMBOLS:
        assert sum((lot.quantity for lot in accountant.lots(symbol)), D(0)) == base[symbol]
    assert accountant.fees == fee_value
    paid_bnb = any(each.fee_asset == "BNB" and each.fee for each in fills)
    assert accountant.fee_balances == ({"BNB": bnb} if paid_bnb else {})
    marked = [m for m in out if isinstance(m, EquityMarked)][-1]
    assert marked.equity == equity == accountant.equity(marks)
    assert marked.realized_pnl + marked.unrealized_pnl - marked.fees == equity - D(100000)


def _brute_force_fifo_realized(fills: list[Fill], symbol: str) -> Decimal:
    """The venue's base movements as unit lots of ``LOT``, matched one at a time, oldest
    first."""
    units: deque[tuple[int, Decimal]] = deque()
    realized = D(0)
    with localcontext(prec=80):
        for each in fills:
            if each.symbol != symbol:
                continue
            direction, quantity = _net(each)
            for _ in range(int(quantity / LOT)):
                if units and units[0][0] != direction:
                    open_direction, open_price = units.popleft()
                    realized += (each.price - open_price) * LOT * open_direction
                else:
                    units.append((direction, each.price))
    return realized


@settings(max_examples=300, deadline=None)
@given(fills_strategy)
def test_fifo_realized_pnl_with_base_fees_matches_a_unit_lot_brute_force(
    specs: list[tuple[str, Side, int, int, str, int]],
) -> None:
    accountant, out = _accountant()
    fills = _fills(specs, fine=False)
    for each in fills:
        accountant.on_fill(each)
    per_symbol = {m.symbol: m.realized_pnl for m in out if isinstance(m, PositionChanged)}
    for symbol, realized in per_symbol.items():
        assert realized == _brute_force_fifo_realized(fills, symbol)
    with localcontext(prec=80):
        expected = sum((_brute_force_fifo_realized(fills, s) for s in SYMBOLS), D(0))
        trips_fees = sum((trip.fees for trip in accountant.round_trips), D(0))
        open_fees = accountant.snapshot().positions
        assert trips_fees + sum((held.fees for held in open_fees), D(0)) == accountant.fees
    assert accountant.realized_pnl == expected
