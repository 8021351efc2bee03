"""Redelivering a journal through the deterministic scheduler: the same messages regenerated,
timers at the same places, and a cascade cut by a crash finished on resume."""

from __future__ import annotations

from typing import Any, ClassVar

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actors.actor import Actor
from actors.bus import Bus
from actors.clock import SimClock
from actors.messages import ALL_MESSAGES, Alert, Heartbeat, Message, TimerFired
from actors.scheduler import DeterministicScheduler, ReplayMismatchError

MINUTE = 60 * 10**9


class CounterState(msgspec.Struct, frozen=True):
    count: int


class Counter(Actor):
    """Counts heartbeats; every odd count and every timer tick it says so."""

    name = "counter"
    state_type: ClassVar[Any] = CounterState

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def on_start(self) -> None:
        self.set_timer("tick", 5 * MINUTE)
        self.set_timer("tock", 5 * MINUTE)  # due with "tick": order of arming decides

    def on_heartbeat(self, message: Heartbeat) -> None:
        self.count += 1
        if self.count % 2:
            self.publish(Alert(ts=message.ts, level="info", source=self.name, text=f"{self.count}"))

    def on_timer_fired(self, message: TimerFired) -> None:
        if message.owner == self.name:
            text = f"{message.name} at {self.count}"
            self.publish(Alert(ts=message.ts, level="info", source=self.name, text=text))

    def snapshot(self) -> CounterState:
        return CounterState(self.count)

    def restore(self, state: CounterState) -> None:
        self.count = state.count


class Echo(Actor):
    """Answers each tick alert with a heartbeat of its own: a cascade two deep."""

    name = "echo"

    def on_alert(self, message: Alert) -> None:
        if message.text.startswith("tick"):
            self.publish(Heartbeat(ts=message.ts, actor=self.name))


def _session() -> tuple[DeterministicScheduler, Counter, list[Message]]:
    counter = Counter()
    bus = Bus([counter, Echo()])
    delivered: list[Message] = []
    scheduler = DeterministicScheduler(bus, SimClock())
    return scheduler, counter, delivered


def _record(scheduler: DeterministicScheduler, delivered: list[Message]) -> None:
    for message_type in ALL_MESSAGES:
        scheduler.bus.subscribe(message_type, delivered.append, "journal")


def _sources(count: int) -> list[Heartbeat]:
    return [Heartbeat(ts=i * MINUTE, actor="feed") for i in range(1, count + 1)]


def _original(count: int) -> tuple[list[Message], int]:
    scheduler, counter, delivered = _session()
    _record(scheduler, delivered)
    scheduler.start()
    scheduler.run_messages(_sources(count))
    return delivered, counter.count


def test_redelivering_the_whole_journal_regenerates_every_non_source_message() -> None:
    journal, final_count = _original(30)
    assert any(isinstance(m, TimerFired) for m in journal)
    scheduler, counter, _ = _session()
    scheduler.start()
    regenerated = [scheduler.redeliver(message) for message in journal]
    sources = [m for m, again in zip(journal, regenerated, strict=True) if again is None]
    assert all(isinstance(m, Heartbeat | TimerFired) for m in sources)
    assert [m for m in sources if isinstance(m, Heartbeat)] == _sources(30)
    assert [again for again in regenerated if again is not None] == [
        m for m, again in zip(journal, regenerated, strict=True) if again is not None
    ]
    assert counter.count == final_count
    assert scheduler.in_flight == 0


@settings(max_examples=60, deadline=None)
@given(cut=st.integers(min_value=0, max_value=10_000))
def test_a_journal_cut_anywhere_resumes_into_the_uninterrupted_run(cut: int) -> None:
    journal, final_count = _original(30)
    cut %= len(journal) + 1
    scheduler, counter, delivered = _session()
    scheduler.start()
    last_source = 0
    for message in journal[:cut]:
        source = scheduler.redeliver(message) is None
        if source and isinstance(message, Heartbeat) and message.actor == "feed":
            last_source = message.ts // MINUTE
    delivered.extend(journal[:cut])
    _record(scheduler, delivered)
    scheduler.resume()
    scheduler.run_messages(_sources(30)[last_source:])
    assert delivered == journal
    assert counter.count == final_count


def test_a_timer_missing_from_the_journal_is_a_mismatch() -> None:
    journal, _ = _original(12)
    without_timers = [m for m in journal if not isinstance(m, TimerFired)]
    scheduler, _, _ = _session()
    scheduler.start()
    with pytest.raises(ReplayMismatchError, match="counter/tick was due"):
        for message in without_timers:
            scheduler.redeliver(message)


def test_a_timer_out_of_its_order_is_a_mismatch() -> None:
    journal, _ = _original(6)
    ticks = [i for i, m in enumerate(journal) if isinstance(m, TimerFired)]
    swapped = list(journal)
    swapped[ticks[0]], swapped[ticks[1]] = swapped[ticks[1]], swapped[ticks[0]]
    scheduler, _, _ = _session()
    scheduler.start()
    with pytest.raises(ReplayMismatchError, match="not the clock's next due timer"):
        for message in swapped[: ticks[1] + 1]:
            scheduler.redeliver(message)
