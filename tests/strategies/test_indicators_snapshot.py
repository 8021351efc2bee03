"""MovingAverageCross's snapshot: the window in whole increments, and what follows from it."""

from __future__ import annotations

from decimal import Decimal

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from strategies.indicators import MovingAverageCross, MovingAverageCrossState

CENT = Decimal("0.01")
ENCODER = msgspec.msgpack.Encoder(decimal_format="string")
DECODER = msgspec.msgpack.Decoder(MovingAverageCrossState)


def _observed(cross: MovingAverageCross) -> tuple[object, ...]:
    return (cross.above, cross.fast, cross.slow, cross.spread)


@settings(max_examples=300, deadline=None)
@given(
    periods=st.tuples(st.integers(1, 6), st.integers(1, 6)),
    cents=st.lists(st.integers(-2_000, 2_000) | st.just(1_000), max_size=40),
    data=st.data(),
)
def test_a_restored_average_cross_decides_exactly_as_the_original(
    periods: tuple[int, int], cents: list[int], data: st.DataObject
) -> None:
    fast, slow = periods[0], periods[0] + periods[1]
    cut = data.draw(st.integers(0, len(cents)), label="cut")
    original = MovingAverageCross(fast, slow, CENT)
    for price in cents[:cut]:
        original.update(price / 100)
    restored = MovingAverageCross(fast, slow, CENT)
    saved = DECODER.decode(ENCODER.encode(original.snapshot()))
    restored.restore(saved)
    assert restored.snapshot() == saved
    assert _observed(restored) == _observed(original)
    for price in cents[cut:]:
        assert restored.update(price / 100) == original.update(price / 100)
        assert _observed(restored) == _observed(original)
    assert restored.snapshot() == original.snapshot()


def test_the_window_is_kept_in_whole_increments_oldest_first() -> None:
    cross = MovingAverageCross(2, 3, CENT)
    for price in (100.01, 100.02):
        cross.update(price)
    assert cross.snapshot() == MovingAverageCrossState(prices=(10_001, 10_002), above=None)
    for price in (100.03, 99.5):
        cross.update(price)
    assert cross.snapshot() == MovingAverageCrossState(prices=(10_002, 10_003, 9_950), above=False)


def test_changing_a_restored_average_leaves_the_snapshot_alone() -> None:
    original = MovingAverageCross(2, 3, CENT)
    for price in (1.0, 2.0, 3.0):
        original.update(price)
    saved = original.snapshot()
    restored = MovingAverageCross(2, 3, CENT)
    restored.restore(saved)
    restored.update(0.5)
    assert (
        original.snapshot() == saved == MovingAverageCrossState(prices=(100, 200, 300), above=True)
    )


@pytest.mark.parametrize(
    ("state", "error"),
    [
        (MovingAverageCrossState(prices=(1, 2, 3, 4), above=True), "do not fit"),
        (MovingAverageCrossState(prices=(1, 2), above=True), "above=True with 2 of 3"),
        (MovingAverageCrossState(prices=(1, 2, 3), above=None), "above=None with 3 of 3"),
        (MovingAverageCrossState(prices=(2**52,), above=None), "out of this indicator's range"),
    ],
)
def test_a_window_this_indicator_cannot_have_is_refused(
    state: MovingAverageCrossState, error: str
) -> None:
    with pytest.raises(ValueError, match=error):
        MovingAverageCross(2, 3, CENT).restore(state)
