"""The Backtests screen's launcher: a form's request run as ``tickdeck backtest`` would run it.

A request is laid over a base config, as the command line's options are: the
settings the session started with, or a run's saved ``config.toml`` when the
screen re-runs it. Everything the request does not name (fees, cash, risk
limits, instruments) comes from that base, so a re-run differs from its run
only in what the form changed. Runs are written under the session's data
directory, where the screen lists them, and are never journaled (a UI run is
not a session to resume).

Whatever makes a request unrunnable (an unknown strategy, a bad parameter or
date, no bars in the lake) is a ``ValueError`` with a message that names it;
it comes back as the outcome's ``error``, for the screen to show.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from app.backtest import run_backtest
from app.settings import Settings, decode_param, load_settings, settings_to_toml
from tui.screens.backtests import BacktestOutcome, BacktestRequest, Progress

__all__ = ["DeskBacktests"]


class DeskBacktests:
    """A ``tui.screens.backtests.BacktestLauncher`` over ``app.backtest.run_backtest``."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def defaults(self) -> BacktestRequest:
        run = self.settings.backtest
        return BacktestRequest(
            strategy=self.settings.strategy.name,
            symbols=tuple(run.symbols),
            interval=run.interval,
            start=run.start.isoformat(),
            end=run.end.isoformat(),
            params=dict(self.settings.strategy.params),
        )

    def settings_for(self, request: BacktestRequest) -> Settings:
        """The settings ``request`` runs with; raises ``ConfigError`` naming a bad value."""
        overrides: dict[str, Any] = {
            "data.dir": str(self.settings.data.dir),
            "backtest.symbols": list(request.symbols),
            "backtest.interval": request.interval,
            "backtest.start": request.start,
            "backtest.end": request.end,
            "backtest.journal": False,
            "strategy.name": request.strategy,
            "strategy.params": {
                key: decode_param(value) if isinstance(value, str) else value
                for key, value in request.params.items()
            },
        }
        if request.base_run:
            return load_settings(Path(request.base_run) / "config.toml", overrides)
        # The session's settings pass through their own TOML, so the request is checked
        # (and its errors worded) exactly as a config file and the command line are.
        with tempfile.TemporaryDirectory(prefix="tickdeck-backtest-") as scratch:
            base = Path(scratch) / "session.toml"
            base.write_text(settings_to_toml(self.settings), encoding="utf-8")
            return load_settings(base, overrides)

    def launch(self, request: BacktestRequest, progress: Progress) -> BacktestOutcome:
        try:
            settings = self.settings_for(request)
            result = run_backtest(settings, progress=progress)
        except ValueError as error:
            return BacktestOutcome(error=" ".join(str(error).split()))
        return BacktestOutcome(run_dir=str(result.run_dir), bars=result.bars, fills=result.fills)
