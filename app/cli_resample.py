"""``tickdeck resample``: bars of an interval from trades, aggTrades or 1m bars, in the lake."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from actors.intervals import UnknownIntervalError
from app.cli_args import date_arg, start_command
from storage.resample import ResampleError, resample

__all__ = ["USER_ERRORS", "add_command", "run_resample"]

USER_ERRORS: tuple[type[Exception], ...] = (ResampleError, UnknownIntervalError)


def add_command(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    command = commands.add_parser(
        "resample",
        help="build bars of an interval from trades, aggTrades or 1m bars, in SQL",
        description="Build bars of --interval from lake dataset --source and write them to "
        "the lake as bars_<interval> (um_bars_<interval> for um_ sources), replacing the "
        "UTC days they cover.",
    )
    command.add_argument(
        "--source", required=True,
        help="agg_trades, trades or bars_1m (um_ prefixed for USD-M futures)",
    )  # fmt: skip
    command.add_argument("--interval", required=True, help="bar interval: 1m, 5m, 1h, 1d...")
    command.add_argument("--symbol", required=True)
    command.add_argument("--start", type=date_arg, help="first UTC day, YYYY-MM-DD")
    command.add_argument("--end", type=date_arg, help="end UTC day (exclusive), YYYY-MM-DD")
    command.add_argument("--data-dir", type=Path, help="data directory (default: settings)")
    command.set_defaults(handler=run_resample)


def run_resample(args: argparse.Namespace) -> int:
    data_dir = Path(start_command(args.data_dir).data.dir)
    began = time.perf_counter()
    result = resample(data_dir, args.source, args.interval, args.symbol, args.start, args.end)
    seconds = time.perf_counter() - began
    days = len(result.files)
    print(
        f"wrote {result.bars:,} {result.dataset} bars of {result.symbol} from {args.source} "
        f"({days} UTC day{'' if days == 1 else 's'}, {seconds:.2f} s) under "
        f"{data_dir / 'lake' / result.dataset}"
    )
    return 0
