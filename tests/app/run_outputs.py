"""What a backtest run must produce, as the app and whole-system tests expect it: the files
of its run directory and the figures of its metrics, in the order they are reported."""

from __future__ import annotations

RUN_FILES = (
    "config.toml",
    "equity.parquet",
    "fills.parquet",
    "manifest.json",
    "metrics.json",
    "orders.parquet",
    "positions.parquet",
)
"""Every file of a run directory, sorted by name."""

METRIC_NAMES = (
    "total_return",
    "cagr",
    "max_drawdown",
    "max_drawdown_duration_days",
    "sharpe",
    "sortino",
    "calmar",
    "win_rate",
    "profit_factor",
    "expectancy",
    "payoff_ratio",
    "turnover",
    "exposure_time",
    "fees_paid",
    "trades",
    "fills",
    "final_equity",
    "start_equity",
)
"""Every figure ``compute_metrics`` reports, in its order."""
