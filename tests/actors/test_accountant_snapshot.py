"""The accountant's snapshot: a restored accountant books and marks exactly as the original."""

from __future__ import annotations

from decimal import Decimal

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from actors.accountant import Accountant, AccountantState, Lot
from actors.clock import SimClock
from actors.messages import EndOfData, EquityMarked, Message, Side, encode
from tests.factories import flat_bar, make_fill

MINUTE = 60_000_000_000
DAY = 1440 * MINUTE
JAN_1 = 1_704_067_200 * 1_000_000_000  # 2024-01-01T00:00:00Z
BTC = "BTCUSDT"
ETH = "ETHUSDT"
ENCODER = msgspec.msgpack.Encoder(decimal_format="string")
DECODER = msgspec.msgpack.Decoder(AccountantState)

Action = tuple[object, ...]


def _accountant() -> tuple[Accountant, list[Message]]:
    """BTC has a price grid (closes read without printing), ETH has none."""
    out: list[Message] = []
    accountant = Accountant("USDT", Decimal("100000"), price_increments={BTC: Decimal("0.01")})
    accountant.attach(out.append, SimClock(JAN_1))
    return accountant, out


def _through_msgpack(state: AccountantState) -> AccountantState:
    return DECODER.decode(ENCODER.encode(state))


def _apply(accountant: Accountant, ts: int, action: Action) -> None:
    kind = action[0]
    if kind == "fill":
        _, symbol, side, units, cents, fee, trade, fee_asset = action
        assert isinstance(units, int) and isinstance(cents, int) and isinstance(fee, int)
        # A fee in the base asset (in 1e-9: below the smallest quantity) or in BNB.
        base = fee_asset == "BASE"
        accountant.on_fill(
            make_fill(
                side,  # type: ignore[arg-type]
                Decimal(units).scaleb(-3),
                Decimal(cents).scaleb(-2),
                ts=ts,
                symbol=str(symbol),
                fee=Decimal(fee).scaleb(-9 if base else -6),
                fee_asset=str(symbol).removesuffix("USDT") if base else str(fee_asset),
                trade_id=f"t{trade}",
            )
        )
    elif kind == "bar":
        _, symbol, close, interval = action
        assert isinstance(close, float)
        accountant.on_bar(flat_bar(close, ts, str(symbol), str(interval)))
    else:
        accountant.on_end_of_data(EndOfData(ts=ts))


_closes = st.one_of(
    st.integers(min_value=1, max_value=10**7).map(lambda cents: cents / 100),  # on the grid
    st.floats(min_value=0.001, max_value=1e6, allow_nan=False, allow_infinity=False),
)
_steps = st.lists(
    st.tuples(
        # Minutes since the previous action: most in the same day, some across midnight.
        st.one_of(
            st.integers(min_value=0, max_value=3), st.integers(min_value=500, max_value=3000)
        ),
        st.one_of(
            st.tuples(
                st.just("fill"),
                st.sampled_from((BTC, ETH)),
                st.sampled_from((Side.BUY, Side.SELL)),
                st.integers(min_value=1, max_value=40),  # quantity in 0.001
                st.integers(min_value=1, max_value=10**7),  # price in cents
                st.integers(min_value=0, max_value=10**5),  # fee in 1e-6
                st.integers(min_value=0, max_value=40),  # trade id: repeats are duplicates
                st.sampled_from(("USDT", "BASE", "BNB")),  # the fee's asset
            ),
            st.tuples(
                st.just("bar"), st.sampled_from((BTC, ETH)), _closes, st.sampled_from(("1m", "5m"))
            ),
            st.tuples(st.just("end")),
        ),
    ),
    max_size=60,
)


@settings(max_examples=300, deadline=None)
@given(steps=_steps, cut=st.integers(min_value=0, max_value=60))
def test_restored_accountant_continues_exactly_like_the_original(
    steps: list[tuple[int, Action]], cut: int
) -> None:
    cut = min(cut, len(steps))
    times = [
        JAN_1 + MINUTE * sum(minutes for minutes, _ in steps[: i + 1]) for i in range(len(steps))
    ]
    original, original_out = _accountant()
    for ts, (_, action) in zip(times[:cut], steps[:cut], strict=True):
        _apply(original, ts, action)
    state = original.snapshot()
    decoded = _through_msgpack(state)
    assert decoded == state
    assert ENCODER.encode(decoded) == ENCODER.encode(state)

    restored, restored_out = _accountant()
    restored.restore(decoded)
    assert restored.snapshot() == state
    del original_out[:]
    for ts, (_, action) in zip(times[cut:], steps[cut:], strict=True):
        _apply(original, ts, action)
        _apply(restored, ts, action)

    # Bytes, not just ==: Decimal("1.0") == Decimal("1.00"), but a journal tells them apart.
    assert [encode(m) for m in restored_out] == [encode(m) for m in original_out]
    assert ENCODER.encode(restored.snapshot()) == ENCODER.encode(original.snapshot())
    assert restored.round_trips == original.round_trips
    assert restored.positions == original.positions


def _busy_accountant() -> Accountant:
    """Long BTC in two lots, marked; short ETH opened after the last ETH close; one BTC
    round trip done."""
    accountant, _ = _accountant()
    accountant.on_fill(make_fill(Side.BUY, "1", "100", ts=JAN_1, trade_id="a"))
    accountant.on_fill(make_fill(Side.SELL, "1", "110", ts=JAN_1, trade_id="b", fee="0.1"))
    accountant.on_fill(make_fill(Side.BUY, "1", "100", ts=JAN_1, trade_id="c"))
    accountant.on_fill(make_fill(Side.BUY, "2", "101", ts=JAN_1, trade_id="d"))
    accountant.on_bar(flat_bar(102.5, JAN_1 + MINUTE, BTC))
    accountant.on_bar(flat_bar(20.25, JAN_1 + MINUTE, ETH))
    accountant.on_fill(make_fill(Side.SELL, "3", "20", ts=JAN_1 + MINUTE, symbol=ETH, trade_id="e"))
    return accountant


def test_snapshot_holds_lots_books_marks_and_round_trips() -> None:
    state = _busy_accountant().snapshot()
    assert [position.symbol for position in state.positions] == [BTC, ETH]
    btc = state.positions[0]
    assert btc.lots == (
        Lot(Decimal("1"), Decimal("100"), JAN_1),
        Lot(Decimal("2"), Decimal("101"), JAN_1),
    )
    assert btc.close == 102.5
    assert btc.market_value == Decimal("307.5")
    assert state.positions[1].market_value is None  # booked after its last close
    assert state.trade_keys == (*((BTC, trade) for trade in "abcd"), (ETH, "e"))
    assert state.closes == {BTC: 102.5, ETH: 20.25}
    assert state.mark is None  # the fill invalidated it
    assert len(state.round_trips) == 1
    assert state.cash == Decimal("100000") - 100 + 110 - Decimal("0.1") - 100 - 202 + 60
    assert state.realized_by_symbol == {BTC: Decimal("10"), ETH: Decimal("0")}


def test_restored_accountant_refuses_a_fill_booked_before_the_snapshot() -> None:
    original = _busy_accountant()
    restored, out = _accountant()
    restored.restore(_through_msgpack(original.snapshot()))
    restored.on_fill(make_fill(Side.BUY, "2", "101", ts=JAN_1, trade_id="d"))
    assert out == []
    assert restored.positions == original.positions


def test_restored_accountant_closes_the_day_it_was_in() -> None:
    original, original_out = _accountant()
    original.on_fill(make_fill(Side.BUY, "1", "100", ts=JAN_1, trade_id="a"))
    original.on_bar(flat_bar(105.0, JAN_1 + MINUTE, BTC))
    restored, restored_out = _accountant()
    restored.restore(_through_msgpack(original.snapshot()))
    del original_out[:]
    for accountant in (original, restored):
        accountant.on_bar(flat_bar(104.0, JAN_1 + DAY + MINUTE, BTC))
    assert restored_out == original_out
    assert [type(m).__name__ for m in restored_out] == ["DailyPnl", "EquityMarked"]


def test_restored_flat_mark_is_the_same_decimals_as_the_original() -> None:
    original, original_out = _accountant()
    original.on_fill(make_fill(Side.BUY, "1", "100.10", ts=JAN_1, trade_id="a"))
    original.on_fill(make_fill(Side.SELL, "1", "100.20", ts=JAN_1, trade_id="b"))
    original.on_bar(flat_bar(1.0, JAN_1 + MINUTE, ETH))
    restored, restored_out = _accountant()
    restored.restore(_through_msgpack(original.snapshot()))
    for accountant in (original, restored):
        accountant.on_bar(flat_bar(1.0, JAN_1 + 2 * MINUTE, ETH))
    original_mark, restored_mark = original_out[-1], restored_out[-1]
    assert isinstance(original_mark, EquityMarked)
    assert encode(restored_mark) == encode(original_mark)


def test_mutating_the_restored_accountant_leaves_the_original_and_the_snapshot_alone() -> None:
    original = _busy_accountant()
    state = original.snapshot()
    before = ENCODER.encode(state)
    restored, _ = _accountant()
    restored.restore(state)  # not through msgpack: nothing may be shared with the original
    restored.on_fill(make_fill(Side.SELL, "1.5", "103", ts=JAN_1 + MINUTE, trade_id="f"))
    restored.on_fill(make_fill(Side.BUY, "3", "19", ts=JAN_1 + MINUTE, symbol=ETH, trade_id="g"))
    restored.on_bar(flat_bar(99.0, JAN_1 + 2 * MINUTE, BTC))
    restored.on_bar(flat_bar(9.0, JAN_1 + DAY, ETH))

    assert ENCODER.encode(state) == before
    assert ENCODER.encode(original.snapshot()) == before
    assert original.lots(BTC) == state.positions[0].lots
    assert len(original.round_trips) == 1


def test_mutating_the_original_after_a_snapshot_leaves_the_snapshot_alone() -> None:
    accountant = _busy_accountant()
    state = accountant.snapshot()
    before = ENCODER.encode(state)
    accountant.on_bar(flat_bar(99.0, JAN_1 + 2 * MINUTE, BTC))  # marks in place
    accountant.on_fill(make_fill(Side.SELL, "3", "99", ts=JAN_1 + 2 * MINUTE, trade_id="f"))
    assert ENCODER.encode(state) == before
