"""``tickdeck fetch binance-vision``: download binance.vision archives, then say what arrived.

The files land in binance.vision's own tree under ``--dest`` (default
``<data dir>/binance.vision``), ready for ``tickdeck ingest binance-vision``.
A day binance.vision does not publish is listed as missing and is not an error;
a file that failed (checksum mismatch, server errors beyond the retries) is
named on stderr and makes the exit status 1. Running the same command again
skips every verified file and resumes interrupted ones.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import sys
from collections import defaultdict
from pathlib import Path
from typing import Final

from app.cli_args import date_arg, start_command
from storage.download import (
    BASE_URL,
    DEFAULT_CONCURRENCY,
    MARKETS,
    PERIODS,
    ArchiveFile,
    FetchError,
    FetchReport,
    Progress,
    Status,
    download_files,
    plan_files,
)

__all__ = ["USER_ERRORS", "add_command", "fetch_binance_vision"]

USER_ERRORS: Final[tuple[type[Exception], ...]] = (FetchError,)

DEST_FOLDER: Final = "binance.vision"


def _names(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


def add_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``fetch`` (with its one source, ``binance-vision``) to the ``tickdeck`` commands."""
    fetch = commands.add_parser("fetch", help="download historical market data archives")
    sources = fetch.add_subparsers(dest="source", metavar="SOURCE", required=True)
    vision = sources.add_parser(
        "binance-vision",
        help="daily or monthly zips from data.binance.vision, checksum-verified",
        description=(
            "Download data.binance.vision archives into their own folder tree, verifying "
            "each zip against its .CHECKSUM. Runs again skip what is complete and resume "
            "what was interrupted."
        ),
    )
    vision.add_argument("--market", required=True, choices=MARKETS, help="spot or um (USD-M)")
    vision.add_argument(
        "--symbols", required=True, type=_names, help="comma-separated, e.g. BTCUSDT,ETHUSDT"
    )
    vision.add_argument(
        "--datasets", required=True, type=_names,
        help="comma-separated: klines_<interval>, aggTrades, trades; for um also bookTicker, "
        "bookDepth, metrics, fundingRate, markPriceKlines_<interval>, "
        "indexPriceKlines_<interval>, premiumIndexKlines_<interval>",
    )  # fmt: skip
    vision.add_argument("--start", required=True, type=date_arg, help="first UTC day, YYYY-MM-DD")
    vision.add_argument(
        "--end", required=True, type=date_arg, help="end UTC day (exclusive, as in backtest)"
    )
    vision.add_argument(
        "--period", choices=PERIODS,
        help="daily or monthly files (default: daily, or monthly where only those exist)",
    )  # fmt: skip
    vision.add_argument(
        "--dest", type=Path, help=f"where the tree goes (default: <data dir>/{DEST_FOLDER})"
    )
    vision.add_argument("--base-url", default=BASE_URL, help=f"mirror to use (default {BASE_URL})")
    vision.add_argument(
        "--concurrency", type=int, default=DEFAULT_CONCURRENCY,
        help=f"files downloaded at once (default {DEFAULT_CONCURRENCY})",
    )  # fmt: skip
    vision.add_argument("--quiet", action="store_true", help="no progress line")
    vision.set_defaults(handler=fetch_binance_vision)


def fetch_binance_vision(args: argparse.Namespace) -> int:
    """Plan, download, report. 0 when nothing failed and something was there to fetch."""
    if args.concurrency < 1:
        raise FetchError(f"--concurrency must be at least 1, got {args.concurrency}")
    if not args.base_url.startswith(("http://", "https://")):
        raise FetchError(f"--base-url must start with http:// or https://, got {args.base_url!r}")
    settings = start_command()
    files = plan_files(args.market, args.symbols, args.datasets, args.start, args.end, args.period)
    dest = (args.dest or Path(settings.data.dir) / DEST_FOLDER).resolve()
    progress = Progress(len(files), sys.stderr, enabled=False if args.quiet else None)
    report = asyncio.run(
        download_files(
            files, dest, base_url=args.base_url, concurrency=args.concurrency, progress=progress
        )
    )
    return _print_report(args, files, report, dest)


def _print_report(
    args: argparse.Namespace, files: list[ArchiveFile], report: FetchReport, dest: Path
) -> int:
    downloaded = report.with_status(Status.DOWNLOADED)
    skipped = report.with_status(Status.SKIPPED)
    missing = report.with_status(Status.MISSING)
    failed = report.with_status(Status.FAILED)
    print(
        f"binance.vision {args.market} {args.start} -> {args.end} (end exclusive): "
        f"{len(files)} files; downloaded {len(downloaded)} "
        f"({report.bytes_downloaded / 2**20:,.1f} MiB), already complete {len(skipped)}, "
        f"missing {len(missing)}, failed {len(failed)}"
    )
    if missing:
        print("not published on binance.vision:")
        for line in _missing_lines([outcome.file for outcome in missing]):
            print(f"  {line}")
    for outcome in failed:
        print(f"tickdeck: error: {outcome.error}", file=sys.stderr)
    if downloaded or skipped:
        print(f"files under {dest}; ingest with: tickdeck ingest binance-vision {dest}")
    elif missing and not failed:
        print(
            f"tickdeck: error: binance.vision has none of the {len(files)} files asked for; "
            "check the symbols, the market and the dates",
            file=sys.stderr,
        )
    return 1 if failed or not (downloaded or skipped) else 0


def _missing_lines(files: list[ArchiveFile]) -> list[str]:
    """One line per symbol and dataset, consecutive days or months folded into ranges."""
    stamps: dict[tuple[str, str, str], list[str]] = defaultdict(list)
    for file in files:
        dataset = file.family if file.interval is None else f"{file.family}_{file.interval}"
        stamps[(file.symbol, dataset, file.period)].append(file.stamp)
    return [
        f"{symbol} {dataset} ({period}): {', '.join(_spans(sorted(found)))}"
        for (symbol, dataset, period), found in stamps.items()
    ]


def _spans(stamps: list[str]) -> list[str]:
    """``2024-01-01..2024-01-03`` for runs of consecutive days (or months)."""
    spans: list[list[str]] = []
    for stamp in stamps:
        if spans and _next(spans[-1][-1]) == stamp:
            spans[-1].append(stamp)
        else:
            spans.append([stamp])
    return [run[0] if len(run) == 1 else f"{run[0]}..{run[-1]}" for run in spans]


def _next(stamp: str) -> str:
    if len(stamp) == len("YYYY-MM-DD"):
        return (dt.date.fromisoformat(stamp) + dt.timedelta(days=1)).isoformat()
    year, month = int(stamp[:4]), int(stamp[5:7])
    return f"{year + month // 12:04d}-{month % 12 + 1:02d}"
