"""The deterministic scheduler: FIFO delivery, simulated timers, one-for-one restarts."""

from __future__ import annotations

import pytest

from actors.bus import Bus, DuplicateActorError
from actors.clock import SimClock
from actors.health import ActorState, RestartPolicy
from actors.messages import Bar, EndOfData, Halt, Message, Signal, TimerFired, TradingHalted
from actors.scheduler import DeterministicScheduler
from tests.actors.conftest import MINUTE, Doubler, Echo, make_bar


def _run(
    bars: list[Bar], policy: RestartPolicy | None = None
) -> tuple[DeterministicScheduler, list[Message]]:
    bus = Bus([Doubler(), Echo()])
    seen: list[Message] = []
    for message_type in (Signal, Halt, TimerFired, TradingHalted, EndOfData):
        bus.subscribe(message_type, seen.append, owner="tap")
    scheduler = DeterministicScheduler(bus, SimClock(), policy)
    scheduler.run(bars)
    return scheduler, seen


def test_messages_are_delivered_in_fifo_order_and_run_to_quiescence() -> None:
    _, seen = _run([make_bar(0, 1.0), make_bar(1, 2.0)])
    kinds = [(type(m).__name__, getattr(m, "value", getattr(m, "reason", ""))) for m in seen]
    assert kinds == [
        ("Signal", 2.0), ("Halt", "echo 2.0"), ("Signal", 4.0), ("Halt", "echo 4.0"),
        ("EndOfData", ""),
    ]  # fmt: skip


def test_timers_fire_in_simulated_time_between_source_messages() -> None:
    bars = [make_bar(i) for i in range(12)]
    scheduler, seen = _run(bars)
    echo = scheduler.bus.actors["echo"]
    # time starts at the first bar's close (1m); the 5m timer fires at 6m and 11m
    assert echo.timers == [6 * MINUTE, 11 * MINUTE]
    timer_positions = [i for i, m in enumerate(seen) if isinstance(m, TimerFired)]
    before_first_timer = [m.ts for m in seen[: timer_positions[0]] if isinstance(m, Signal)]
    assert max(before_first_timer) <= 6 * MINUTE


def test_an_actor_that_raises_is_restarted_and_shows_so_in_health() -> None:
    scheduler, seen = _run([make_bar(0, 1.0), make_bar(1, 13.0), make_bar(2, 3.0)])
    health = scheduler.health["doubler"]
    assert health.restarts == 1
    assert health.last_error == "RuntimeError: unlucky bar"
    assert scheduler.bus.actors["doubler"].restarted == ["unlucky bar"]
    assert [m.value for m in seen if isinstance(m, Signal)] == [2.0, 6.0]
    assert not scheduler.stopping


def test_a_crash_loop_halts_trading_and_stops_the_session() -> None:
    bars = [make_bar(i, 13.0) for i in range(10)]
    scheduler, seen = _run(bars, RestartPolicy(max_restarts=2, window_seconds=3600))
    halts = [m for m in seen if isinstance(m, TradingHalted)]
    assert len(halts) == 1 and halts[0].source == "supervisor"
    assert "crash loop in doubler" in halts[0].reason
    assert scheduler.health["doubler"].state is ActorState.FAILED
    assert scheduler.health["doubler"].restarts == 2
    assert scheduler.stopping
    assert scheduler.bus.actors["echo"].halted == halts
    # the session stopped after the third failure and still settled with EndOfData
    assert isinstance(seen[-1], EndOfData) and seen[-1].ts == 3 * MINUTE


def test_restarts_outside_the_window_do_not_count_toward_a_crash_loop() -> None:
    bars = [make_bar(i * 120, 13.0) for i in range(5)]  # one failure every two hours
    scheduler, _ = _run(bars, RestartPolicy(max_restarts=2, window_seconds=3600))
    assert scheduler.health["doubler"].restarts == 5
    assert not scheduler.stopping


def test_processed_counts_per_actor() -> None:
    scheduler, _ = _run([make_bar(i) for i in range(3)])
    assert scheduler.health["doubler"].processed == 3
    assert scheduler.health["echo"].processed == 3  # one Signal per bar; no timer due yet
    assert scheduler.health["echo"].state is ActorState.STOPPED


def test_two_actors_with_one_name_are_refused() -> None:
    with pytest.raises(DuplicateActorError, match="doubler"):
        Bus([Doubler(), Doubler()])
