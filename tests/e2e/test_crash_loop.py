"""Supervision in a whole backtest: a failing actor is restarted; one that keeps failing
spends its restart budget, trading halts, and the session still ends cleanly."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from pathlib import Path

import anyio
import pytest

import strategies
from actors.clock import SimClock
from actors.health import ActorState, RestartPolicy
from actors.messages import (
    Bar,
    BarUpdate,
    EndOfData,
    Message,
    RiskState,
    SubmitOrder,
    TradingHalted,
)
from actors.ports import Decisions, StrategyContext
from actors.supervisor import LiveScheduler
from app.backtest import build_backtest, run_backtest
from storage.lake import DAY_NS
from strategies.sma_cross import SmaCross
from tests.e2e.conftest import (
    DAYS,
    MINUTE,
    START_NS,
    backtest_settings,
    of_type,
    run_session,
    tap_everything,
)

BLOW_UP_NS = START_NS + DAY_NS + 9 * 60 * MINUTE  # day two, 09:00 UTC
MAX_RESTARTS = 3
BUDGET = {"runtime.max_restarts": MAX_RESTARTS, "runtime.restart_window_seconds": 3600}


class BlowsUp(SmaCross):
    """The SMA crossover until ``BLOW_UP_NS``; from then on it raises on every bar."""

    kind = "blows_up"

    def on_bar(self, bar: Bar, ctx: StrategyContext) -> Decisions:
        if bar.start >= BLOW_UP_NS:
            raise RuntimeError("plug-in blew up")
        return super().on_bar(bar, ctx)


class Hiccups(SmaCross):
    """The SMA crossover, raising once, on the bar that starts at ``BLOW_UP_NS``."""

    kind = "hiccups"

    def on_bar(self, bar: Bar, ctx: StrategyContext) -> Decisions:
        if bar.start == BLOW_UP_NS:
            raise RuntimeError("one hiccup")
        return super().on_bar(bar, ctx)


@pytest.fixture(autouse=True)
def _plugins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(strategies.REGISTRY, BlowsUp.kind, BlowsUp)
    monkeypatch.setitem(strategies.REGISTRY, Hiccups.kind, Hiccups)


def _assert_trading_stopped_at_the_halt(seen: list[Message]) -> TradingHalted:
    halt_at = next(i for i, message in enumerate(seen) if isinstance(message, TradingHalted))
    halt: TradingHalted = seen[halt_at]  # type: ignore[assignment]
    assert halt.source == "supervisor"
    assert halt.reason == "crash loop in strategy: RuntimeError: plug-in blew up"
    before, after = seen[:halt_at], seen[halt_at:]
    assert of_type(before, SubmitOrder), "the strategy traded before it blew up"
    assert of_type(after, SubmitOrder) == []
    assert of_type(after, BarUpdate) == []  # the source stopped too
    assert of_type(before, EndOfData) == [] and len(of_type(after, EndOfData)) == 1
    return halt


def test_a_crash_looping_strategy_halts_trading_and_the_run_ends_cleanly(data_dir: Path) -> None:
    settings = backtest_settings(data_dir, {"strategy.name": BlowsUp.kind, **BUDGET})

    session, seen = run_session(settings)

    halt = _assert_trading_stopped_at_the_halt(seen)
    # Restarted on the first MAX_RESTARTS failing bars; the next failure is the loop.
    assert halt.ts == BLOW_UP_NS + (MAX_RESTARTS + 1) * MINUTE
    health = session.scheduler.health
    assert health["strategy"].restarts == MAX_RESTARTS
    assert health["strategy"].last_error == "RuntimeError: plug-in blew up"
    assert health["strategy"].state is ActorState.FAILED
    others = [h for name, h in health.items() if name != "strategy"]
    assert all(h.restarts == 0 and h.state is ActorState.STOPPED for h in others)
    assert session.recorder.halts[0] == halt
    assert session.bus.actors["risk"].state is RiskState.HALTED  # type: ignore[attr-defined]
    assert session.scheduler.stop_reason == halt.reason
    assert session.recorder.drifts == []


def test_a_crash_looping_run_reports_the_halt_and_still_writes_its_artifacts(
    data_dir: Path,
) -> None:
    settings = backtest_settings(data_dir, {"strategy.name": BlowsUp.kind, **BUDGET})

    result = run_backtest(settings)

    assert result.halted == "crash loop in strategy: RuntimeError: plug-in blew up"
    strategy = next(health for health in result.health if health.name == "strategy")
    assert (strategy.restarts, strategy.state) == (MAX_RESTARTS, ActorState.FAILED)
    assert result.fills > 0
    assert result.run_dir is not None and (result.run_dir / "fills.parquet").is_file()


def test_one_raise_restarts_the_strategy_and_the_run_completes(data_dir: Path) -> None:
    baseline, _ = run_session(backtest_settings(data_dir))
    session, seen = run_session(
        backtest_settings(data_dir, {"strategy.name": Hiccups.kind, **BUDGET})
    )

    strategy = session.scheduler.health["strategy"]
    assert strategy.restarts == 1
    assert strategy.last_error == "RuntimeError: one hiccup"
    assert strategy.state is ActorState.STOPPED
    assert session.recorder.halts == [] and session.scheduler.stop_reason == ""
    assert of_type(seen, Bar)[-1].ts == START_NS + DAYS * DAY_NS  # every bar was run
    assert len(of_type(seen, EndOfData)) == 1
    fills = session.recorder.fills
    assert any(fill.ts > BLOW_UP_NS for fill in fills), "it kept trading after the restart"
    # Up to the raise it is the same strategy, deciding the same (under its own name).
    early = [(f.ts, f.side, f.price, f.quantity) for f in fills if f.ts <= BLOW_UP_NS]
    expected = [
        (f.ts, f.side, f.price, f.quantity) for f in baseline.recorder.fills if f.ts <= BLOW_UP_NS
    ]
    assert early == expected and early


async def _messages(source: Iterable[Message]) -> AsyncIterator[Message]:
    for message in source:
        yield message


async def test_a_crash_loop_under_the_live_scheduler_halts_trading_and_ends_cleanly(
    data_dir: Path,
) -> None:
    session = build_backtest(backtest_settings(data_dir, {"strategy.name": BlowsUp.kind}, days=2))
    seen = tap_everything(session.bus)
    policy = RestartPolicy(
        max_restarts=MAX_RESTARTS,
        window_seconds=3600,
        initial_backoff_seconds=0.001,
        max_backoff_seconds=0.001,
    )
    scheduler = LiveScheduler(session.bus, SimClock(), policy)

    with anyio.fail_after(20):
        await scheduler.run(_messages(session.feed.messages()), pace=True)

    _assert_trading_stopped_at_the_halt(seen)
    strategy = scheduler.health["strategy"]
    assert (strategy.restarts, strategy.state) == (MAX_RESTARTS, ActorState.FAILED)
    assert strategy.last_error == "RuntimeError: plug-in blew up"
    assert session.recorder.halts[0].source == "supervisor"
