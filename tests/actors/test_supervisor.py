"""The live scheduler and supervisor: tasks per actor, bounded inboxes, restarts, halts."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable

import anyio
import pytest

from actors.bus import Bus, Inbox
from actors.clock import LiveClock, SimClock
from actors.health import ActorState, RestartPolicy
from actors.messages import EndOfData, Halt, Message, Signal, TimerFired, TradingHalted
from actors.scheduler import DeterministicScheduler
from actors.supervisor import LiveScheduler
from tests.actors.conftest import Doubler, Echo, make_bar

FAST = RestartPolicy(max_restarts=3, window_seconds=60, initial_backoff_seconds=0.001)
TAPPED = (Signal, Halt, TimerFired, TradingHalted, EndOfData)


async def _source(messages: Iterable[Message]) -> AsyncIterator[Message]:
    for message in messages:
        yield message


def _bus(seen: list[Message]) -> Bus:
    bus = Bus([Doubler(), Echo()])
    for message_type in TAPPED:
        bus.subscribe(message_type, seen.append, owner="tap")
    return bus


async def test_live_scheduler_paced_on_a_sim_clock_matches_the_deterministic_one() -> None:
    bars = [make_bar(i, float(i % 7)) for i in range(40)]
    live_seen: list[Message] = []
    live = LiveScheduler(_bus(live_seen), SimClock(), FAST)
    await live.run(_source(bars), pace=True)
    det_seen: list[Message] = []
    DeterministicScheduler(_bus(det_seen), SimClock(), FAST).run(bars)
    assert live_seen == det_seen
    assert any(isinstance(m, TimerFired) for m in live_seen)


async def test_a_raising_actor_is_restarted_after_backoff_and_health_shows_it() -> None:
    seen: list[Message] = []
    scheduler = LiveScheduler(_bus(seen), SimClock(), FAST)
    await scheduler.run(_source([make_bar(0, 1.0), make_bar(1, 13.0), make_bar(2, 3.0)]), pace=True)
    health = {h.name: h for h in scheduler.snapshot()}
    assert health["doubler"].restarts == 1
    assert health["doubler"].last_error == "RuntimeError: unlucky bar"
    assert health["doubler"].processed == 3
    assert health["doubler"].state is ActorState.STOPPED
    assert [m.value for m in seen if isinstance(m, Signal)] == [2.0, 6.0]


async def test_a_crash_loop_publishes_trading_halted_and_stops_the_session_cleanly() -> None:
    seen: list[Message] = []
    scheduler = LiveScheduler(_bus(seen), LiveClock(), FAST)
    bars = [make_bar(i, 13.0) for i in range(50)]
    with anyio.fail_after(5):
        await scheduler.run(_source(bars), pace=True)
    halts = [m for m in seen if isinstance(m, TradingHalted)]
    assert len(halts) == 1 and "crash loop in doubler" in halts[0].reason
    assert scheduler.health["doubler"].state is ActorState.FAILED
    assert scheduler.bus.actors["echo"].halted == halts
    assert isinstance(seen[-1], EndOfData)
    assert scheduler.inboxes["doubler"].statistics().processed < len(bars)


async def test_inbox_statistics_show_depth_peak_and_waiting_senders() -> None:
    inbox = Inbox(2)
    await inbox.send(Halt(ts=1))
    await inbox.send(Halt(ts=2))
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(inbox.send, Halt(ts=3))
        await anyio.wait_all_tasks_blocked()
        stats = inbox.statistics()
        assert (stats.depth, stats.peak, stats.waiting_senders) == (2, 2, 1)
        assert (await inbox.receive()).ts == 1
    stats = inbox.statistics()
    assert (stats.depth, stats.processed, stats.waiting_senders) == (2, 1, 0)


async def test_a_full_inbox_makes_the_publisher_wait_instead_of_dropping() -> None:
    seen: list[Message] = []
    scheduler = LiveScheduler(_bus(seen), LiveClock(), FAST, inbox_capacity=2)
    bars = [make_bar(i, 1.0) for i in range(200)]
    with anyio.fail_after(5):
        await scheduler.run(_source(bars))
    assert len([m for m in seen if isinstance(m, Signal)]) == 200
    assert scheduler.snapshot()[0].peak == 2


def test_an_inbox_needs_room_for_one_message() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        Inbox(0)


class _Journal:
    """A journal port that keeps what it is given, durable at once."""

    def __init__(self) -> None:
        self.appended: list[Message] = []

    def append(self, message: Message, ts: int) -> int:
        self.appended.append(message)
        return len(self.appended)

    async def durable(self, seq: int) -> None:
        return None


async def test_a_message_after_the_actors_stopped_is_journaled_not_delivered_and_never_waits() -> (
    None
):
    """A venue may still answer after the session's actors stopped (an order's response,
    the user stream's echo of a fill): publishing it must not wait for actors that will
    never run again (the session's last snapshot waited forever), and it must stay in the
    journal for a resumed session to replay."""
    seen: list[Message] = []
    journal = _Journal()
    scheduler = LiveScheduler(_bus(seen), LiveClock(), FAST, journal=journal)
    with anyio.fail_after(5):
        await scheduler.run(_source([make_bar(0, 1.0)]))
    late = make_bar(1, 2.0)
    delivered_before = scheduler.inboxes["doubler"].statistics().processed

    with anyio.fail_after(1):
        await scheduler.publish(late)
        await scheduler.wait_idle()

    assert scheduler.actors_stopped and scheduler.after_stop == 1
    assert journal.appended[-1] is late
    assert scheduler.inboxes["doubler"].statistics().depth == 0
    assert scheduler.inboxes["doubler"].statistics().processed == delivered_before
