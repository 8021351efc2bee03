"""Whole-system fixtures: a few days of seeded sample bars in a temporary lake, settings
over it, and taps that record every message a session's bus delivers."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from actors.bus import Bus
from actors.messages import ALL_MESSAGES, Message
from app.backtest import BacktestSession, build_backtest
from app.settings import Settings, load_settings
from storage.lake import DAY_NS
from storage.sample import write_sample

START = dt.date(2024, 1, 1)
DAYS = 3
END = START + dt.timedelta(days=DAYS)
START_NS = (START - dt.date(1970, 1, 1)).days * DAY_NS
SAMPLE_SEED = 7
MINUTE = 60_000_000_000
# Short averages trade often (about a hundred fills a day), so a few days exercise
# every path from decision to books many times over.
PARAMS: Mapping[str, Any] = {"fast": 5, "slow": 20, "quantity": "0.01"}
START_PRICES = {"BTCUSDT": 42000.0, "ETHUSDT": 2300.0}
BOTH = ("BTCUSDT", "ETHUSDT")


@pytest.fixture(autouse=True)
def _no_tickdeck_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's TICKDECK_ variables must not change what these runs decide."""
    for name in list(os.environ):
        if name.upper().startswith("TICKDECK_"):
            monkeypatch.delenv(name)


def write_lake(data_dir: Path, symbols: tuple[str, ...] = ("BTCUSDT",), days: int = DAYS) -> Path:
    for symbol in symbols:
        write_sample(data_dir, symbol, START, days, SAMPLE_SEED, start_price=START_PRICES[symbol])
    return data_dir


def backtest_settings(
    data_dir: Path,
    overrides: Mapping[str, Any] | None = None,
    *,
    symbols: tuple[str, ...] = ("BTCUSDT",),
    days: int = DAYS,
) -> Settings:
    """Settings for a backtest of ``days`` from ``START`` over the lake in ``data_dir``."""
    resolved: dict[str, Any] = {
        "data.dir": str(data_dir),
        "backtest.symbols": list(symbols),
        "backtest.start": START,
        "backtest.end": START + dt.timedelta(days=days),
        "strategy.params": dict(PARAMS),
    }
    resolved.update(overrides or {})
    return load_settings(None, resolved)


def tap_everything(bus: Bus) -> list[Message]:
    """Every message the bus delivers, in delivery order."""
    seen: list[Message] = []
    for message_type in ALL_MESSAGES:
        bus.subscribe(message_type, seen.append, "test-tap")
    return seen


def of_type(messages: list[Message], message_type: type[Message]) -> list[Any]:
    return [message for message in messages if type(message) is message_type]


def run_session(settings: Settings) -> tuple[BacktestSession, list[Message]]:
    """A backtest run to the end under the deterministic scheduler, with its message log."""
    session = build_backtest(settings)
    seen = tap_everything(session.bus)
    session.scheduler.run(session.feed.messages())
    return session, seen


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A lake with ``DAYS`` days of BTCUSDT one-minute sample bars."""
    return write_lake(tmp_path)


@pytest.fixture
def two_symbol_data_dir(tmp_path: Path) -> Path:
    """A lake with ``DAYS`` days of BTCUSDT and ETHUSDT one-minute sample bars."""
    return write_lake(tmp_path, BOTH)
