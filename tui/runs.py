"""Run directories as the Backtests screen shows them: a summary per run, its curve, its fills.

A run directory (``<data>/runs/<run_id>/``, written by ``app.backtest``) holds
``manifest.json``, ``metrics.json``, the resolved ``config.toml`` and orders,
fills, positions and equity as Parquet. The screen reads those files and
nothing else, so it lists runs made by ``tickdeck backtest`` and by itself
alike, and a run that is half written or damaged is listed with what could be
read (``problem`` says what could not) instead of hiding the others.
"""

from __future__ import annotations

import json
import tomllib
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

import msgspec
import pyarrow as pa
import pyarrow.parquet as pq

__all__ = [
    "RUNS_DIRECTORY",
    "FillLine",
    "RunConfig",
    "RunSummary",
    "list_runs",
    "read_config",
    "read_equity",
    "read_fills",
]

RUNS_DIRECTORY: Final = "runs"
_FILL_COLUMNS: Final = ("ts", "side", "symbol", "price", "quantity", "fee", "liquidity")


class RunSummary(msgspec.Struct, frozen=True, kw_only=True):
    """One run's line in the list: what it ran and how it did (metrics.json's figures)."""

    run_id: str
    path: str
    strategy: str = ""
    symbols: tuple[str, ...] = ()
    interval: str = ""
    start: str = ""
    end: str = ""
    started_at: str = ""
    bars: int = 0
    total_return: float = 0.0
    max_drawdown: float = 0.0
    sharpe: float = 0.0
    trades: int = 0
    fills: int = 0
    final_equity: float = 0.0
    fingerprint: str = ""
    problem: str = ""


class FillLine(msgspec.Struct, frozen=True, kw_only=True):
    ts: int
    side: str
    symbol: str
    price: Decimal
    quantity: Decimal
    fee: Decimal
    liquidity: str


class RunConfig(msgspec.Struct, frozen=True, kw_only=True):
    """The part of a run's config.toml a re-run's form starts from."""

    strategy: str
    params: dict[str, str | int | float | bool]
    symbols: tuple[str, ...]
    interval: str
    start: str
    end: str


def list_runs(data_dir: Path) -> list[RunSummary]:
    """Every run under ``data_dir``, newest first (by start time, then run id)."""
    runs_root = Path(data_dir) / RUNS_DIRECTORY
    if not runs_root.is_dir():
        return []
    runs = [_summary(path) for path in runs_root.iterdir() if path.is_dir()]
    runs.sort(key=lambda run: (run.started_at, run.run_id), reverse=True)
    return runs


def read_equity(run_dir: Path) -> list[float]:
    """The run's equity marks, in time order, as floats for a chart."""
    table = pq.read_table(Path(run_dir) / "equity.parquet", columns=["equity"])
    # Cast in Arrow: a long run has a mark per bar, and Decimals one by one are slow.
    values = table.column("equity").cast(pa.float64()).drop_null()
    return values.to_pylist()


def read_fills(run_dir: Path) -> list[FillLine]:
    """The run's fills, in the order they happened."""
    table = pq.read_table(Path(run_dir) / "fills.parquet", columns=list(_FILL_COLUMNS))
    # Timestamps as int ns: to_pylist would make datetimes and drop the nanoseconds.
    columns = [
        (table.column(name).cast(pa.int64()) if name == "ts" else table.column(name)).to_pylist()
        for name in _FILL_COLUMNS
    ]
    return [
        FillLine(
            ts=ts,
            side=side,
            symbol=symbol,
            price=price,
            quantity=quantity,
            fee=fee,
            liquidity=liquidity,
        )
        for ts, side, symbol, price, quantity, fee, liquidity in zip(*columns, strict=True)
    ]


def read_config(run_dir: Path) -> RunConfig:
    """What a run ran, from its saved config; raises ``ValueError`` naming the file."""
    path = Path(run_dir) / "config.toml"
    try:
        with path.open("rb") as source:
            config = tomllib.load(source)
        backtest, strategy = config["backtest"], config["strategy"]
        return RunConfig(
            strategy=str(strategy["name"]),
            params=dict(strategy.get("params", {})),
            symbols=tuple(backtest["symbols"]),
            interval=str(backtest["interval"]),
            start=str(backtest["start"]),
            end=str(backtest["end"]),
        )
    except (OSError, tomllib.TOMLDecodeError, KeyError, TypeError) as error:
        raise ValueError(f"{path}: cannot read the run's config: {error}") from None


def _summary(path: Path) -> RunSummary:
    try:
        manifest = _json(path / "manifest.json")
        metrics = _json(path / "metrics.json")
    except (OSError, ValueError) as error:
        return RunSummary(run_id=path.name, path=str(path), problem=str(error))
    return RunSummary(
        run_id=path.name,
        path=str(path),
        strategy=str(manifest.get("strategy", "")),
        symbols=tuple(manifest.get("symbols", ())),
        interval=str(manifest.get("interval", "")),
        start=str(manifest.get("start", "")),
        end=str(manifest.get("end", "")),
        started_at=str(manifest.get("started_at", "")),
        bars=int(manifest.get("bars", 0)),
        total_return=float(metrics.get("total_return", 0.0)),
        max_drawdown=float(metrics.get("max_drawdown", 0.0)),
        sharpe=float(metrics.get("sharpe", 0.0)),
        trades=int(metrics.get("trades", 0)),
        fills=int(metrics.get("fills", 0)),
        final_equity=float(metrics.get("final_equity", 0.0)),
        fingerprint=str(metrics.get("fingerprint", manifest.get("fingerprint", ""))),
    )


def _json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ValueError(f"{path.name}: not JSON ({error})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path.name}: not a JSON object")
    return data
