"""The Backtests screen's launcher: a request runs as ``tickdeck backtest`` would, over the
session's settings or a run's saved config, reports its progress, and turns whatever makes
it unrunnable into an error message instead of an exception."""

from __future__ import annotations

import datetime as dt
import json
import tomllib
from pathlib import Path

import msgspec
import pytest

import app.backtest
from app.backtest import run_backtest
from app.desk_backtests import DeskBacktests
from app.settings import Settings, load_settings
from storage.sample import write_sample
from tui.screens.backtests import BacktestRequest

START = dt.date(2024, 1, 1)


def settings_for(data_dir: Path, days: int = 2, **overrides: object) -> Settings:
    return load_settings(
        None,
        {
            "data.dir": str(data_dir),
            "backtest.start": START.isoformat(),
            "backtest.end": (START + dt.timedelta(days=days)).isoformat(),
            "strategy.params": {"fast": 5, "slow": 20, "quantity": "0.01"},
            **overrides,
        },
    )


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    write_sample(tmp_path, "BTCUSDT", START, 2, seed=7)
    return tmp_path


def test_defaults_are_the_sessions_strategy_symbols_and_range(data_dir: Path) -> None:
    launcher = DeskBacktests(settings_for(data_dir))

    assert launcher.defaults() == BacktestRequest(
        strategy="sma_cross",
        symbols=("BTCUSDT",),
        interval="1m",
        start="2024-01-01",
        end="2024-01-03",
        params={"fast": 5, "slow": 20, "quantity": "0.01"},
    )


def test_a_launch_writes_the_run_the_command_line_would(data_dir: Path) -> None:
    settings = settings_for(data_dir)
    launcher = DeskBacktests(settings)
    calls: list[tuple[int, int]] = []

    outcome = launcher.launch(launcher.defaults(), lambda done, total: calls.append((done, total)))

    assert outcome.error == ""
    run_dir = Path(outcome.run_dir)
    assert run_dir.parent == data_dir / "runs"
    assert (outcome.bars, calls[0], calls[-1]) == (2880, (0, 2880), (2880, 2880))
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert outcome.fills == metrics["fills"] > 0
    direct = run_backtest(settings, write=False)
    assert metrics["fingerprint"] == direct.fingerprint
    config = tomllib.loads((run_dir / "config.toml").read_text())
    assert config["backtest"]["journal"] is False


def test_form_values_are_typed_as_on_the_command_line(data_dir: Path) -> None:
    launcher = DeskBacktests(settings_for(data_dir))
    request = msgspec.structs.replace(
        launcher.defaults(),
        params={"fast": "3", "slow": "12", "quantity": "0.02"},
        end="2024-01-02",
    )

    settings = launcher.settings_for(request)

    assert settings.strategy.params == {"fast": 3, "slow": 12, "quantity": "0.02"}
    assert settings.backtest.end == dt.date(2024, 1, 2)
    assert settings.data.dir == data_dir


def test_progress_is_reported_while_the_bars_stream(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_sample(tmp_path, "BTCUSDT", START, 12, seed=7)
    monkeypatch.setattr(app.backtest, "_PROGRESS_PERIOD_SECONDS", 0.0)
    calls: list[tuple[int, int]] = []

    result = run_backtest(
        settings_for(tmp_path, days=12),
        write=False,
        progress=lambda done, total: calls.append((done, total)),
    )

    total = 12 * 1440
    assert calls[0] == (0, total) and calls[-1] == (total, total) == (result.bars, result.bars)
    between = [done for done, _ in calls[1:-1]]
    assert between and all(0 < done < total for done in between)
    assert between == sorted(between)


def test_progress_changes_nothing_in_the_run(data_dir: Path) -> None:
    settings = settings_for(data_dir)
    quiet = run_backtest(settings, write=False)
    told = run_backtest(settings, write=False, progress=lambda done, total: None)
    assert (told.fingerprint, told.metrics) == (quiet.fingerprint, quiet.metrics)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"strategy": "no_such"}, "unknown strategy 'no_such'"),
        ({"params": {"fast": "30", "slow": "5", "quantity": "0.01"}}, "fast"),
        ({"symbols": ("ETHUSDT",)}, "no 1m bars for ETHUSDT"),
        ({"start": "2024-13-01"}, "backtest.start"),
        ({"end": "2023-12-01"}, "backtest.end"),
        ({"interval": "7q"}, "backtest.interval"),
    ],
)
def test_an_unrunnable_request_is_an_error_message(
    data_dir: Path, change: dict[str, object], message: str
) -> None:
    launcher = DeskBacktests(settings_for(data_dir))

    outcome = launcher.launch(msgspec.structs.replace(launcher.defaults(), **change), print)

    assert message in outcome.error
    assert outcome.run_dir == ""
    assert "\n" not in outcome.error


def test_a_rerun_starts_from_the_runs_own_config(data_dir: Path) -> None:
    first = run_backtest(settings_for(data_dir, **{"exchange.taker_fee_bps": "25"}))
    assert first.run_dir is not None
    launcher = DeskBacktests(settings_for(data_dir))
    request = msgspec.structs.replace(
        launcher.defaults(),
        params={"fast": "7", "slow": "25", "quantity": "0.01"},
        base_run=str(first.run_dir),
    )

    outcome = launcher.launch(request, lambda done, total: None)

    config = tomllib.loads((Path(outcome.run_dir) / "config.toml").read_text())
    assert config["exchange"]["taker_fee_bps"] == "25"
    assert config["strategy"]["params"] == {"fast": 7, "slow": 25, "quantity": "0.01"}
