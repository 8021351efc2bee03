"""No lookahead over whole backtests: a decision sees only bars that had closed, and its
market order fills at the open of a bar that starts at or after the decision, priced from
that open alone (and from the volume of the bar before it)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any, NamedTuple

import hypothesis
import msgspec
import pytest
from hypothesis import HealthCheck, given
from hypothesis import strategies as st

from actors.messages import (
    Bar,
    BarUpdate,
    Fill,
    Message,
    OrderIntent,
    OrderType,
    SubmitOrder,
)
from app.backtest import build_backtest
from app.settings import Settings
from tests.e2e.conftest import (
    BOTH,
    MINUTE,
    backtest_settings,
    of_type,
    run_session,
    tap_everything,
    write_lake,
)
from venues.fill_model import FillModel, FillModelConfig


def test_every_fill_is_priced_from_the_open_of_a_bar_starting_at_or_after_its_decision(
    two_symbol_data_dir: Path,
) -> None:
    settings = backtest_settings(two_symbol_data_dir, symbols=BOTH)
    session, seen = run_session(settings)
    closed = {
        (update.bar.symbol, update.bar.start): update.bar
        for update in of_type(seen, BarUpdate)
        if update.closed
    }
    submits = {submit.client_order_id: submit for submit in of_type(seen, SubmitOrder)}
    decision_times = {intent.ts for intent in of_type(seen, OrderIntent)}
    exchange = settings.exchange
    model = FillModel(
        FillModelConfig(
            taker_fee_bps=exchange.taker_fee_bps,
            maker_fee_bps=exchange.maker_fee_bps,
            half_spread_bps=exchange.half_spread_bps,
            impact_bps=exchange.impact_bps,
            participation_cap=exchange.participation_cap,
        )
    )
    fills: list[Fill] = session.recorder.fills
    assert {fill.symbol for fill in fills} == set(BOTH)

    for fill in fills:
        order = session.order_manager.orders[fill.client_order_id]
        assert order.ticket.order_type is OrderType.MARKET
        decided = order.created_ts
        assert submits[fill.client_order_id].ts == decided
        assert decided in decision_times
        # The decision is taken at a bar's close: that bar is the last one it saw.
        decision_bar = closed[(fill.symbol, decided - MINUTE)]
        assert decision_bar.ts == decided
        # The fill is at the open of a bar starting at or after the decision: the next one.
        fill_bar = closed[(fill.symbol, fill.ts)]
        assert fill_bar.start >= decided
        assert fill_bar.start == decision_bar.ts
        instrument = settings.instrument(fill.symbol)
        expected = model.market_price(
            fill.side,
            Decimal(repr(fill_bar.open)),
            fill.quantity,
            Decimal(repr(decision_bar.volume)),
            instrument.tick_size,
        )
        assert fill.price == expected, fill


# --- changing the future changes nothing before it --------------------------------------


class Scenario(NamedTuple):
    settings: Settings
    updates: list[BarUpdate]
    intents: list[OrderIntent]
    fills: list[Fill]
    orders: list[tuple[str, Any, int]]


class Outcome(NamedTuple):
    intents: list[OrderIntent]
    fills: list[Fill]
    orders: list[tuple[str, Any, int]]


def _run(settings: Settings, updates: Sequence[BarUpdate]) -> Outcome:
    session = build_backtest(settings)
    seen: list[Message] = tap_everything(session.bus)
    session.scheduler.run(updates)
    orders = [
        (order.client_order_id, order.ticket, order.created_ts)
        for order in session.order_manager.orders.values()
    ]
    return Outcome(of_type(seen, OrderIntent), session.recorder.fills, orders)


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    data_dir = write_lake(tmp_path_factory.mktemp("lake"), days=2)
    settings = backtest_settings(data_dir, days=2)
    updates = list(build_backtest(settings).feed.messages())
    assert all(isinstance(update, BarUpdate) for update in updates)
    base = _run(settings, updates)
    assert len(base.orders) > 20
    return Scenario(settings, updates, base.intents, base.fills, base.orders)


def _scale_bar(bar: Bar, price: float, volume: float, keep_open: bool) -> Bar:
    open_ = bar.open if keep_open else bar.open * price
    close = bar.close * price
    return msgspec.structs.replace(
        bar,
        open=open_,
        high=max(bar.high * price, open_, close),
        low=min(bar.low * price, open_, close),
        close=close,
        volume=bar.volume * volume,
        vwap=min(max(bar.vwap * price, min(open_, close)), max(open_, close)),
    )


def _change_from(
    updates: list[BarUpdate], start: int, change: Callable[[Bar], Bar]
) -> list[BarUpdate]:
    """``updates`` with every bar starting at or after ``start`` changed."""
    return [
        msgspec.structs.replace(update, bar=change(update.bar))
        if update.bar.start >= start
        else update
        for update in updates
    ]


def _decided_until(outcome: Outcome | Scenario, until: int) -> tuple[list[Any], list[Any]]:
    return (
        [order for order in outcome.orders if order[2] <= until],
        [intent for intent in outcome.intents if intent.ts <= until],
    )


def _fills_until(fills: list[Fill], until: int, *, inclusive: bool) -> list[Fill]:
    return [fill for fill in fills if fill.ts < until or (inclusive and fill.ts == until)]


def _rerun_scaled_from_a_decision(
    scenario: Scenario, pick: int, price: float, volume: float, *, keep_open: bool
) -> tuple[int, Outcome]:
    """The ts at which the ``pick``-th order was decided, and the outcome of the scenario
    run again with every bar from then on scaled by ``price`` and ``volume``."""
    decided = scenario.orders[pick % len(scenario.orders)][2]
    changed = _change_from(
        scenario.updates, decided, lambda bar: _scale_bar(bar, price, volume, keep_open=keep_open)
    )
    return decided, _run(scenario.settings, changed)


prices = st.floats(min_value=0.5, max_value=2.0).filter(lambda f: abs(f - 1) > 1e-3)
volumes = st.floats(min_value=0.01, max_value=100.0)
decisions = st.integers(min_value=0, max_value=10**6)


@hypothesis.settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pick=decisions, price=prices, volume=volumes)
def test_changing_every_bar_from_a_decision_on_changes_no_earlier_decision_or_fill(
    scenario: Scenario, pick: int, price: float, volume: float
) -> None:
    decided, outcome = _rerun_scaled_from_a_decision(scenario, pick, price, volume, keep_open=False)

    assert _decided_until(outcome, decided) == _decided_until(scenario, decided)
    assert _fills_until(outcome.fills, decided, inclusive=False) == _fills_until(
        scenario.fills, decided, inclusive=False
    )


@hypothesis.settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pick=decisions, price=prices, volume=volumes)
def test_a_fill_depends_on_nothing_of_its_bar_but_the_open(
    scenario: Scenario, pick: int, price: float, volume: float
) -> None:
    """Its bar's high, low, close and volume, and every later bar, happen after the fill."""
    decided, outcome = _rerun_scaled_from_a_decision(scenario, pick, price, volume, keep_open=True)

    assert _decided_until(outcome, decided) == _decided_until(scenario, decided)
    filled_by_then = _fills_until(scenario.fills, decided, inclusive=True)
    assert filled_by_then[-1].ts == decided  # the order decided then filled then
    assert _fills_until(outcome.fills, decided, inclusive=True) == filled_by_then


def test_the_open_after_a_decision_is_what_its_fill_is_priced_from(scenario: Scenario) -> None:
    """The control for the two properties above: they hold because the fill reads the
    next open, so moving that open must move the fill."""
    decided = scenario.orders[len(scenario.orders) // 2][2]

    def move_the_open(bar: Bar) -> Bar:
        if bar.start != decided:
            return bar
        open_ = bar.open * 1.01
        return msgspec.structs.replace(bar, open=open_, high=max(bar.high, open_))

    outcome = _run(scenario.settings, _change_from(scenario.updates, decided, move_the_open))

    before = [fill for fill in scenario.fills if fill.ts == decided]
    after = [fill for fill in outcome.fills if fill.ts == decided]
    assert len(before) == len(after) == 1
    assert after[0].price != before[0].price
    assert _fills_until(outcome.fills, decided, inclusive=False) == _fills_until(
        scenario.fills, decided, inclusive=False
    )
