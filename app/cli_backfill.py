"""``tickdeck backfill``: a venue's klines into the lake over REST, resumable, gaps reported.

Runs against the loopback simulator unless ``--base-url`` says otherwise
(``https://api.binance.com`` for Binance itself). Days the lake already holds
complete are skipped, so running the same command again after an interruption
fetches only what is still missing. Exit status 0 when the range was brought in
(gaps Binance really has are listed, not errors); a stop names the symbol, the
day and the cause on one line, and the days written before it stay.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import re
import sys
from pathlib import Path
from typing import Final

from actors.intervals import INTERVALS, UnknownIntervalError, interval_ns
from app.cli_args import add_data_dir, date_arg, start_command
from storage.lake import Lake, bars_dataset
from venues.binance.backfill import BackfillError, BackfillReport, backfill_klines
from venues.binance.rest import SIMULATOR_URL, BinanceRest

__all__ = ["USER_ERRORS", "add_command", "backfill"]

USER_ERRORS: Final[tuple[type[Exception], ...]] = (BackfillError,)

VENUES: Final = ("binance",)
# Binance spot symbols: upper-case letters and digits (exchangeInfo), e.g. BTCUSDT.
_SYMBOL: Final = re.compile(r"[A-Z0-9]{2,20}")
_MAX_LISTED: Final = 20


def add_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``backfill`` to the ``tickdeck`` commands."""
    parser = commands.add_parser(
        "backfill",
        help="fetch a venue's klines into the lake (resumable)",
        description=(
            "Fetch klines of one symbol over the venue's REST API into the lake, one "
            "partition per UTC day. Days already complete in the lake are skipped; gaps the "
            "venue really has are reported, never filled in."
        ),
    )
    parser.add_argument("--venue", required=True, choices=VENUES, help="the venue to ask")
    parser.add_argument("--symbol", required=True, help="the venue's symbol, e.g. BTCUSDT")
    parser.add_argument(
        "--interval", default="1m", help=f"bar interval ({', '.join(INTERVALS)}); default 1m"
    )
    parser.add_argument("--start", required=True, type=date_arg, help="first UTC day, YYYY-MM-DD")
    parser.add_argument(
        "--end", required=True, type=date_arg, help="end UTC day (exclusive), YYYY-MM-DD"
    )
    add_data_dir(parser)
    parser.add_argument(
        "--base-url", default=SIMULATOR_URL,
        help=f"REST endpoint (default: the simulator, {SIMULATOR_URL}; "
        "Binance: https://api.binance.com)",
    )  # fmt: skip
    parser.add_argument(
        "--force", action="store_true", help="fetch every day, even those complete in the lake"
    )
    parser.set_defaults(handler=backfill)


def _check(args: argparse.Namespace) -> tuple[str, str]:
    """The symbol and interval, or a ``BackfillError`` naming the flag and the value."""
    symbol = args.symbol.strip().upper()
    if not _SYMBOL.fullmatch(symbol):
        raise BackfillError(
            f"--symbol {args.symbol!r}: expected the venue's symbol, letters and digits "
            "like BTCUSDT"
        )
    try:
        interval_ns(args.interval)
    except UnknownIntervalError as error:
        raise BackfillError(f"--interval: {error}") from None
    if args.end <= args.start:
        raise BackfillError(
            f"--end {args.end} must be after --start {args.start} (the end day is exclusive)"
        )
    if not args.base_url.startswith(("http://", "https://")):
        raise BackfillError(
            f"--base-url must start with http:// or https://, got {args.base_url!r}"
        )
    return symbol, args.interval


def backfill(args: argparse.Namespace) -> int:
    symbol, interval = _check(args)
    settings = start_command(args.data_dir)
    # httpx logs every request at INFO: thousands of pages would bury the summary.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    lake = Lake(Path(settings.data.dir))
    try:
        report = asyncio.run(_run(args, lake, symbol, interval))
    except KeyboardInterrupt:
        print(
            "tickdeck: backfill interrupted; the days it finished are in the lake, "
            "run the same command again to resume",
            file=sys.stderr,
        )
        return 130
    _print_report(args, lake, report)
    return 0


async def _run(args: argparse.Namespace, lake: Lake, symbol: str, interval: str) -> BackfillReport:
    async with BinanceRest(args.base_url) as rest:
        return await backfill_klines(
            rest, lake, symbol, interval, args.start, args.end, force=args.force
        )


def _print_report(args: argparse.Namespace, lake: Lake, report: BackfillReport) -> None:
    print(
        f"backfill {args.venue} {report.symbol} {report.interval} {args.start} -> {args.end} "
        f"(end exclusive): {len(report.days)} days; fetched {len(report.written)} "
        f"({report.bars_written:,} bars in {report.requests:,} requests), "
        f"already complete {len(report.complete_before)}"
    )
    for gap in report.gaps[:_MAX_LISTED]:
        print(f"  gap {gap.describe()}")
    if len(report.gaps) > _MAX_LISTED:
        print(f"  ... and {len(report.gaps) - _MAX_LISTED} more gaps")
    if report.partial:
        days = ", ".join(day.isoformat() for day in report.partial)
        print(f"  not over yet: {days} (written as far as closed; run again later for the rest)")
    if report.not_closed:
        print(
            f"  not begun yet: {report.not_closed[0]}..{report.not_closed[-1]} "
            f"({len(report.not_closed)} days, nothing to fetch)"
        )
    folder = lake.dataset_dir(bars_dataset(report.interval)) / f"symbol={report.symbol}"
    print(f"bars under {folder}")
