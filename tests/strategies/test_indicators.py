"""MovingAverageCross: exact crossover decisions from one ring buffer of ticks."""

from __future__ import annotations

import math
import random
from decimal import Decimal
from itertools import accumulate

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from strategies.indicators import MovingAverageCross

CENT = Decimal("0.01")


def _exact_above(cents: list[int], i: int, fast: int, slow: int) -> bool:
    """Fast mean above slow mean at index ``i``, in integer arithmetic."""
    fast_sum = sum(cents[i - fast + 1 : i + 1])
    slow_sum = sum(cents[i - slow + 1 : i + 1])
    return slow * fast_sum > fast * slow_sum


def _walk_with_flats_and_ties(n: int, seed: int) -> list[int]:
    """Cents of a random walk that often stands still, so the averages often tie."""
    rng = random.Random(seed)
    cents, price = [], 3_000_000
    while len(cents) < n:
        if rng.random() < 0.05:
            cents.extend([price] * rng.randint(5, 60))  # a market that does not trade
        else:
            price = max(1, price + rng.choice([-300, -7, -1, 0, 1, 7, 300]))
            cents.append(price)
    return cents[:n]


def test_decisions_and_averages_match_an_exact_computation_over_many_updates() -> None:
    fast, slow = 10, 30
    cents = _walk_with_flats_and_ties(200_000, seed=7)
    prices = [c / 100 for c in cents]
    prefix = [0, *accumulate(cents)]
    averages = MovingAverageCross(fast, slow, CENT)
    side: bool | None = None
    float_means_wrong = 0
    for i, price in enumerate(prices):
        crossed = averages.update(price)
        if i < slow - 1:
            assert (crossed, averages.above, averages.slow) == (False, None, None)
            continue
        fast_cents = prefix[i + 1] - prefix[i + 1 - fast]
        slow_cents = prefix[i + 1] - prefix[i + 1 - slow]
        exact = slow * fast_cents > fast * slow_cents
        assert averages.above is exact
        assert crossed is (side is not None and exact is not side)
        assert averages.fast == fast_cents / (fast * 100)
        assert averages.slow == slow_cents / (slow * 100)
        side = exact
        naive = sum(prices[i - fast + 1 : i + 1]) / fast > sum(prices[i - slow + 1 : i + 1]) / slow
        float_means_wrong += naive is not exact
    assert float_means_wrong > 0  # the data has ties that means of floats get wrong


def test_a_flat_market_never_crosses_whatever_the_price() -> None:
    for cents in range(1_000, 100_000, 97):
        averages = MovingAverageCross(10, 30, CENT)
        for price in (cents / 100 + 5, cents / 100 + 2):  # falling into the flat
            averages.update(price)
        crosses = sum(averages.update(cents / 100) for _ in range(200))
        assert crosses == 0 and averages.above is False, cents
        assert averages.spread == 0.0


def test_filling_the_slow_window_sets_the_side_without_a_cross() -> None:
    averages = MovingAverageCross(1, 3, CENT)
    assert [averages.update(p) for p in (1.0, 2.0, 3.0)] == [False, False, False]
    assert averages.above is True
    assert (averages.fast, averages.slow, averages.spread) == (3.0, 2.0, 1.0)


def test_crosses_up_and_down_are_reported_once_each() -> None:
    averages = MovingAverageCross(2, 3, CENT)
    crossed = [averages.update(p) for p in (10.0, 10.0, 10.0, 9.0, 12.0, 13.0, 5.0, 5.0)]
    assert crossed == [False, False, False, False, True, False, True, False]
    assert averages.above is False


def test_equal_averages_count_as_not_above() -> None:
    averages = MovingAverageCross(1, 2, CENT)
    averages.update(1.0)
    assert averages.update(2.0) is False and averages.above is True  # 2 > 1.5
    assert averages.update(2.0) is True and averages.above is False  # 2 == 2
    assert averages.spread == 0.0


def test_averages_are_none_until_the_slow_window_is_full() -> None:
    averages = MovingAverageCross(2, 4, CENT)
    for price in (1.0, 2.0, 3.0):
        averages.update(price)
        assert (averages.fast, averages.slow, averages.spread, averages.above) == (None,) * 4
    averages.update(4.0)
    assert (averages.fast, averages.slow) == (3.5, 2.5)


def test_a_price_off_the_grid_is_rounded_to_the_increment() -> None:
    averages = MovingAverageCross(1, 2, Decimal("0.5"))
    averages.update(10.2)
    averages.update(10.3)
    assert (averages.fast, averages.slow) == (10.5, 10.25)


@pytest.mark.parametrize("price", [math.nan, math.inf, -math.inf, 1e12, -1e12])
def test_a_price_that_cannot_be_averaged_exactly_is_refused(price: float) -> None:
    averages = MovingAverageCross(10, 30, CENT)
    with pytest.raises(ValueError, match="cannot be averaged exactly"):
        averages.update(price)


@pytest.mark.parametrize(
    ("fast", "slow", "increment", "message"),
    [
        (0, 3, CENT, "fast_period must be at least 1"),
        (3, 3, CENT, "slow_period (3) must be greater than fast_period (3)"),
        (2, 3, Decimal(0), "increment must be positive"),
    ],
)
def test_bad_periods_and_increments_are_refused(
    fast: int, slow: int, increment: Decimal, message: str
) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        MovingAverageCross(fast, slow, increment)


@settings(max_examples=300, deadline=None)
@given(
    periods=st.tuples(st.integers(1, 8), st.integers(1, 8)).map(lambda p: (p[0], p[0] + p[1])),
    ticks=st.lists(st.integers(1, 6), min_size=1, max_size=120),
    increment=st.sampled_from([Decimal("0.01"), Decimal("0.5"), Decimal(1), Decimal("1e-8")]),
)
def test_every_update_decides_like_integer_arithmetic(
    periods: tuple[int, int], ticks: list[int], increment: Decimal
) -> None:
    """Few distinct prices, so ties are everywhere."""
    fast, slow = periods
    averages = MovingAverageCross(fast, slow, increment)
    side: bool | None = None
    for i, tick in enumerate(ticks):
        crossed = averages.update(float(tick * increment))
        if i < slow - 1:
            assert averages.above is None and not crossed
            continue
        exact = _exact_above(ticks, i, fast, slow)
        assert averages.above is exact
        assert crossed is (side is not None and exact is not side)
        side = exact
