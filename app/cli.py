"""The ``tickdeck`` command line: parse, load settings, run, print; bad input is one line.

Every error a user can cause (a bad config key, an unknown strategy, a bad
parameter, no data for the range) ends as ``tickdeck: error: <what and where>``
on stderr with exit status 2, never as a traceback.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

import strategies
from actors.feed import NoDataError
from actors.intervals import UnknownIntervalError, interval_ns
from actors.strategy import UnknownInstrumentError
from app import (
    cli_backfill,
    cli_fetch,
    cli_ingest,
    cli_journal,
    cli_qa,
    cli_replay,
    cli_resample,
    cli_run,
    cli_simulator,
    cli_sql,
    cli_tui,
)
from app.backtest import BacktestResult, run_backtest, utc_ns
from app.cli_args import date_arg, param_arg
from app.journaled import UnknownSessionError, resume_settings
from app.logs import configure_logging
from app.settings import ConfigError, Settings, load_settings
from journal.errors import JournalError
from storage.sample import write_sample

__all__ = ["main"]

# Commands that live in their own modules: each adds its subparser and names its errors.
COMMANDS = (
    cli_fetch,
    cli_ingest,
    cli_sql,
    cli_qa,
    cli_resample,
    cli_replay,
    cli_journal,
    cli_backfill,
    cli_simulator,
    cli_run,
    cli_tui,
)

USER_ERRORS: tuple[type[Exception], ...] = (
    *(error for command in COMMANDS for error in command.USER_ERRORS),
    ConfigError,
    JournalError,
    NoDataError,
    UnknownSessionError,
    UnknownIntervalError,
    UnknownInstrumentError,
    strategies.StrategyParameterError,
    strategies.UnknownStrategyError,
)

DEMO_SEED = 7


class UsageError(ValueError):
    """A command-line argument that parses but makes no sense."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad argument is one line like every other user error."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"tickdeck: error: {message}\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="tickdeck",
        description="A crypto trading desk for one person. With no command: the demo, a "
        "paper session under the terminal UI.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    backtest = commands.add_parser("backtest", help="run a backtest over the lake's bars")
    backtest.add_argument("--config", type=Path, help="a TOML config (see configs/)")
    backtest.add_argument("--strategy", help="strategy plug-in name (e.g. sma_cross)")
    backtest.add_argument("--symbol", help="symbol, or several separated by commas")
    backtest.add_argument("--interval", help="bar interval (1m, 5m, 15m, 1h, 4h, 1d)")
    backtest.add_argument("--start", type=date_arg, help="first UTC day, YYYY-MM-DD")
    backtest.add_argument("--end", type=date_arg, help="end UTC day (exclusive), YYYY-MM-DD")
    backtest.add_argument(
        "--param", type=param_arg, action="append", default=[], metavar="NAME=VALUE",
        help="strategy parameter, repeatable",
    )  # fmt: skip
    backtest.add_argument("--data-dir", type=Path, help="data directory (lake and runs)")
    backtest.add_argument("--seed", type=int, help="seed for every random choice")
    backtest.add_argument(
        "--journal", action="store_true", help="journal the run (a session that can be resumed)"
    )
    backtest.add_argument("--session", help="name of the journaled session (default: a new one)")
    backtest.add_argument(
        "--resume", metavar="SESSION", help="resume a journaled backtest that was interrupted"
    )
    backtest.set_defaults(handler=_backtest)

    sample = commands.add_parser("sample-data", help="generate seeded sample bars into the lake")
    sample.add_argument("--symbol", default="BTCUSDT")
    sample.add_argument("--start", type=date_arg, default=dt.date(2024, 1, 1))
    sample.add_argument("--days", type=int, default=30)
    sample.add_argument("--seed", type=int, default=DEMO_SEED)
    sample.add_argument("--data-dir", type=Path, help="data directory (default: settings)")
    sample.set_defaults(handler=_sample_data)
    for command in COMMANDS:
        command.add_command(commands)
    return parser


def _overrides(args: argparse.Namespace, base: Settings) -> dict[str, Any]:
    overrides: dict[str, Any] = {}
    if args.data_dir is not None:
        overrides["data.dir"] = str(args.data_dir)
    if args.symbol:
        overrides["backtest.symbols"] = [s.strip() for s in args.symbol.split(",") if s.strip()]
    for key in ("interval", "start", "end", "seed"):
        value = getattr(args, key)
        if value is not None:
            overrides[f"backtest.{key}"] = value
    if args.journal:
        overrides["backtest.journal"] = True
    switched = args.strategy is not None and args.strategy != base.strategy.name
    if args.strategy is not None:
        overrides["strategy.name"] = args.strategy
    if args.param or switched:
        params = {} if switched else dict(base.strategy.params)
        params.update(dict(args.param))
        overrides["strategy.params"] = params
    return overrides


def _is_demo(args: argparse.Namespace) -> bool:
    """The built-in demo: no config and no data selection on the command line."""
    chosen = (args.config, args.symbol, args.interval, args.start, args.end, args.strategy)
    return all(value is None for value in chosen) and not args.param


def _ensure_demo_data(settings: Settings) -> None:
    run = settings.backtest
    days = (run.end - run.start).days
    for symbol in run.symbols:
        written = write_sample(
            Path(settings.data.dir), symbol, run.start, days, DEMO_SEED, only_missing=True
        )
        if written:
            print(
                f"First run: generated {days} days of sample {symbol} {run.interval} bars "
                f"(seed {DEMO_SEED}) into {Path(settings.data.dir) / 'lake'}"
            )


def _backtest(args: argparse.Namespace) -> int:
    base = load_settings(args.config)
    if args.resume is not None:
        return _resume(args, base)
    settings = load_settings(args.config, _overrides(args, base))
    configure_logging(settings.log.level, json=settings.log.json)
    if _is_demo(args):
        _ensure_demo_data(settings)
    result = run_backtest(settings, session_name=args.session)
    _print_result(settings, result)
    return 0


def _resume(args: argparse.Namespace, base: Settings) -> int:
    """``--resume SESSION``: the session's own saved config, nothing else but the data dir."""
    chosen = (args.symbol, args.interval, args.start, args.end, args.strategy, args.seed)
    if any(value is not None for value in chosen) or args.param or args.session:
        raise UsageError("--resume runs a session with its saved config: give only --data-dir")
    data_dir = args.data_dir if args.data_dir is not None else Path(base.data.dir)
    settings = resume_settings(data_dir, args.resume)
    configure_logging(settings.log.level, json=settings.log.json)
    result = run_backtest(settings, session_name=args.resume, resume=True)
    _print_result(settings, result)
    return 0


def _sample_data(args: argparse.Namespace) -> int:
    settings = load_settings(None, {"data.dir": str(args.data_dir)} if args.data_dir else None)
    if args.days < 1:
        raise UsageError(f"--days must be at least 1, got {args.days}")
    paths = write_sample(Path(settings.data.dir), args.symbol, args.start, args.days, args.seed)
    print(f"wrote {len(paths)} daily files of {args.symbol} 1m bars under {paths[0].parents[2]}")
    return 0


def _format(name: str, value: Any) -> str:
    percent = {"total_return", "cagr", "max_drawdown", "win_rate", "exposure_time"}
    if isinstance(value, float):
        return f"{value:.2%}" if name in percent else f"{value:,.4f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _print_result(settings: Settings, result: BacktestResult) -> None:
    run = settings.backtest
    rate = result.bars / result.wall_seconds if result.wall_seconds else 0.0
    print(
        f"backtest {settings.strategy.name} {','.join(run.symbols)} {run.interval} "
        f"{run.start} -> {run.end}: {result.bars:,} bars, {result.fills:,} fills, "
        f"{result.wall_seconds:.2f} s ({rate:,.0f} bars/s)"
    )
    expected = len(run.symbols) * (utc_ns(run.end) - utc_ns(run.start)) // interval_ns(run.interval)
    if result.bars < expected:
        print(
            f"  note: the lake held {result.bars:,} of the {expected:,} bars in the range "
            f"({result.bars / expected:.1%}); the rest are missing"
        )
    width = max(len(name) for name in result.metrics)
    for name, value in result.metrics.items():
        print(f"  {name:<{width}}  {_format(name, value):>16}")
    if result.rejections:
        print(f"  risk rejected {result.rejections} intents")
    if result.drifts:
        print(f"  reconciliation found drift {result.drifts} times")
    if result.halted:
        print(f"  HALTED: {result.halted}")
    recovery = result.recovery
    if recovery is not None:
        print(
            f"  resumed from snapshot at seq {recovery.snapshot_seq:,}, replayed "
            f"{recovery.replayed_frames:,} frames to seq {recovery.last_seq:,} "
            f"({recovery.seconds:.2f} s)"
            + (f"; cut a torn tail at seq {recovery.torn_tail.seq}" if recovery.torn_tail else "")
        )
    print(f"fingerprint {result.fingerprint}")
    if result.journal_session:
        print(f"journal     {result.journal_session}")
    print(f"run dir     {result.run_dir}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        if not (sys.stdin.isatty() and sys.stdout.isatty()):
            print("no terminal to draw the UI on: running the demo backtest instead")
            args = parser.parse_args(["backtest"])
        else:
            return _guarded(lambda: cli_tui.run_demo(_ensure_demo_data))
    return _guarded(lambda: args.handler(args))


def _guarded(command: Callable[[], int]) -> int:
    try:
        return int(command())
    except (*USER_ERRORS, UsageError) as error:
        print(f"tickdeck: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
