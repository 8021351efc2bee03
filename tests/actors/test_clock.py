"""Clocks: simulated timers fire in simulated time, in due order."""

from __future__ import annotations

import pytest

from actors.clock import LiveClock, SimClock

MINUTE = 60_000_000_000


def test_sim_clock_fires_timers_in_simulated_time_only_when_advanced() -> None:
    clock = SimClock(start_ns=0)
    clock.set_timer("reconciler", "reconcile", 15 * MINUTE)
    assert clock.next_due(14 * MINUTE) is None
    due = clock.next_due(31 * MINUTE)
    assert due is not None and due.due == 15 * MINUTE and clock.now() == 15 * MINUTE
    due = clock.next_due(31 * MINUTE)
    assert due is not None and due.due == 30 * MINUTE
    assert clock.next_due(31 * MINUTE) is None


def test_sim_clock_timers_set_before_start_count_from_the_first_event() -> None:
    clock = SimClock()
    clock.set_timer("a", "t", MINUTE)
    clock.advance_to(1_000 * MINUTE)
    assert clock.now() == 1_000 * MINUTE
    assert clock.next_due(1_000 * MINUTE) is None
    due = clock.next_due(1_001 * MINUTE)
    assert due is not None and due.due == 1_001 * MINUTE


def test_sim_clock_orders_ties_by_the_order_timers_were_set() -> None:
    clock = SimClock(start_ns=0)
    clock.set_timer("b", "second", MINUTE)
    clock.set_timer("a", "first", MINUTE)
    owners = [clock.next_due(MINUTE).timer.owner, clock.next_due(MINUTE).timer.owner]  # type: ignore[union-attr]
    assert owners == ["b", "a"]


def test_sim_clock_never_moves_backwards() -> None:
    clock = SimClock(start_ns=10)
    clock.advance_to(5)
    assert clock.now() == 10


@pytest.mark.parametrize("clock", [SimClock(start_ns=0), LiveClock()])
def test_a_timer_needs_a_positive_interval(clock: SimClock | LiveClock) -> None:
    with pytest.raises(ValueError, match="reconciler/r"):
        clock.set_timer("reconciler", "r", 0)
