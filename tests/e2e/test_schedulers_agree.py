"""The live scheduler (one task per actor, bounded inboxes), paced on a simulated clock, makes
exactly the decisions of the deterministic scheduler on the same backtest (DESIGN.md §2)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any

import anyio

from actors.clock import SimClock
from actors.health import ActorState, RestartPolicy
from actors.messages import (
    ALL_MESSAGES,
    EndOfData,
    Message,
    OrderIntent,
    Reconcile,
    SubmitOrder,
    TimerFired,
)
from actors.order_manager import OrderManager
from actors.supervisor import LiveScheduler
from app.backtest import BacktestSession, build_backtest
from app.settings import Settings
from tests.e2e.conftest import BOTH, backtest_settings, of_type, run_session, tap_everything

DAYS = 2


async def _messages(source: Iterable[Message]) -> AsyncIterator[Message]:
    for message in source:
        yield message


async def _run_live(settings: Settings) -> tuple[BacktestSession, LiveScheduler, list[Message]]:
    session = build_backtest(settings)
    seen = tap_everything(session.bus)
    rt = settings.runtime
    policy = RestartPolicy(
        max_restarts=rt.max_restarts,
        window_seconds=rt.restart_window_seconds,
        initial_backoff_seconds=rt.initial_backoff_seconds,
        max_backoff_seconds=rt.max_backoff_seconds,
    )
    scheduler = LiveScheduler(session.bus, SimClock(), policy, rt.inbox_capacity)
    with anyio.fail_after(30):
        await scheduler.run(_messages(session.feed.messages()), pace=True)
    return session, scheduler, seen


def _order_states(order_manager: OrderManager) -> dict[str, Any]:
    return {
        client_id: (
            order.status,
            order.ticket,
            order.created_ts,
            order.venue_order_id,
            order.filled_quantity,
            order.average_fill_price,
            order.fees,
            order.history,
        )
        for client_id, order in order_manager.orders.items()
    }


async def test_live_and_deterministic_schedulers_make_the_same_decisions(
    two_symbol_data_dir: Path,
) -> None:
    settings = backtest_settings(
        two_symbol_data_dir,
        {
            "exchange.slippage_noise_bps": 5,
            "backtest.seed": 3,
            "reconciler.interval_seconds": 600,
        },
        symbols=BOTH,
        days=DAYS,
    )
    deterministic, det_seen = run_session(settings)
    live, scheduler, live_seen = await _run_live(settings)

    det, liv = deterministic.recorder, live.recorder
    assert len(det.fills) > 50
    assert liv.fills == det.fills
    assert liv.equity == det.equity
    assert liv.positions == det.positions
    assert (liv.rejections, liv.drifts, liv.halts) == (det.rejections, det.drifts, det.halts)
    assert _order_states(live.order_manager) == _order_states(deterministic.order_manager)
    assert live.accountant.round_trips == deterministic.accountant.round_trips

    # Tasks may interleave different message types differently, but every type's own
    # sequence (the decisions, the venue's reports, the books, the timers) is the same.
    for message_type in ALL_MESSAGES:
        assert of_type(live_seen, message_type) == of_type(det_seen, message_type), message_type
    assert of_type(det_seen, OrderIntent) and of_type(det_seen, SubmitOrder)
    assert len(of_type(det_seen, TimerFired)) >= DAYS * 24 * 6 - 1  # from the first close
    assert len(of_type(det_seen, Reconcile)) >= DAYS * 24 * 6
    assert len(of_type(live_seen, EndOfData)) == 1

    assert all(health.restarts == 0 for health in scheduler.health.values())
    assert all(health.state is ActorState.STOPPED for health in scheduler.health.values())
    assert scheduler.stop_reason == deterministic.scheduler.stop_reason == ""
