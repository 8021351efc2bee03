"""``tickdeck ingest binance-vision|freqtrade|file PATH...``: market-data files into the lake.

``binance-vision`` takes data.binance.vision files; ``freqtrade`` takes freqtrade
candle and trade files (``.feather`` or ``.csv``, recognized by name);
``file --format nautilus-trades|nautilus-quotes|binance-tdepth --symbol S``
takes files whose names say nothing, so the format and symbol are given
(see ``storage.other_formats`` for what each becomes).

One line per file (dataset, symbol, rows read, written, duplicates, dropped,
checksum) and a line of warnings by kind when there are any; a file that
failed is one ``FAIL`` line naming its path, line and reason, and the others
are still ingested. The exit status is 1 if any file failed, so a script
notices; a path that does not exist stops the command before anything is
ingested (a user error, status 2).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from app.cli_args import load_command_settings
from storage.binance_vision import VisionPathError
from storage.datasets import MARKETS
from storage.ingest import FileReport, IngestReport, ingest
from storage.other_formats import (
    FILE_FORMATS,
    FormatPathError,
    ingest_format_files,
    ingest_freqtrade,
)

__all__ = [
    "USER_ERRORS",
    "IngestUsageError",
    "add_command",
    "render_report",
    "run_ingest",
    "run_ingest_file",
    "run_ingest_freqtrade",
]


class IngestUsageError(ValueError):
    """Paths that hold nothing to ingest."""


USER_ERRORS: tuple[type[Exception], ...] = (IngestUsageError, VisionPathError, FormatPathError)


def add_command(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    ingest_parser = commands.add_parser(
        "ingest",
        help="ingest market-data files into the lake",
        description="Ingest downloaded market-data files into the lake, idempotently.",
    )
    sources = ingest_parser.add_subparsers(dest="source", metavar="SOURCE", required=True)
    vision = sources.add_parser(
        "binance-vision",
        help="files from data.binance.vision (CSV or .zip, daily or monthly)",
        description="Ingest data.binance.vision files: spot klines, aggTrades, trades; USD-M "
        "futures klines, mark/index/premium-index klines, aggTrades, trades, bookTicker, "
        "bookDepth, metrics, fundingRate. Folders are searched for .csv and .zip files; a "
        ".CHECKSUM beside a file is verified. Ingesting the same files again changes nothing.",
    )
    vision.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="files or folders")
    vision.add_argument(
        "--market", choices=MARKETS,
        help="market of files whose folders name none (spot, or um for USD-M futures)",
    )  # fmt: skip
    vision.add_argument("--data-dir", type=Path, help="data directory (default: settings)")
    vision.set_defaults(handler=run_ingest)
    freqtrade = sources.add_parser(
        "freqtrade",
        help="freqtrade candles and trades (.feather or .csv)",
        description="Ingest freqtrade data files, recognized by name: "
        "<BASE>_<QUOTE>[_<SETTLE>]-<interval>[-futures|-mark|-index|-premiumIndex|-funding_rate] "
        "candles and <BASE>_<QUOTE>[_<SETTLE>]-trades, as .feather or as .csv "
        "(open_time_ms,open,high,low,close,volume / timestamp_ms,id,side,price,amount,cost). "
        "Symbol = BASE+QUOTE; a settle currency means USD-M futures. Folders are searched "
        "for .feather and .csv files. Ingesting the same files again changes nothing.",
    )
    freqtrade.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="files or folders")
    freqtrade.add_argument("--data-dir", type=Path, help="data directory (default: settings)")
    freqtrade.set_defaults(handler=run_ingest_freqtrade)
    other = sources.add_parser(
        "file",
        help="files of a given format and symbol (NautilusTrader parquet, Binance T_DEPTH)",
        description="Ingest files whose names do not say what they hold: nautilus-trades "
        "(parquet timestamp,trade_id,price,quantity,buyer_maker -> trades), nautilus-quotes "
        "(parquet timestamp,symbol,ask_size,ask,bid_size,bid -> quotes), binance-tdepth "
        "(CSV symbol,timestamp,first_update_id,last_update_id,side,update_type,price,qty,pu "
        "-> um_depth_updates). Folders are searched for .parquet (nautilus) or .csv files.",
    )
    other.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="files or folders")
    other.add_argument("--format", required=True, choices=FILE_FORMATS, dest="file_format")
    other.add_argument("--symbol", required=True, help="the files' symbol, e.g. BTCUSDT")
    other.add_argument("--data-dir", type=Path, help="data directory (default: settings)")
    other.set_defaults(handler=run_ingest_file)


def run_ingest(args: argparse.Namespace) -> int:
    data_dir = Path(load_command_settings(args.data_dir).data.dir)
    report = ingest(args.paths, data_dir, market=args.market)
    return _summarize(report, args.paths, data_dir, ".csv or .zip")


def run_ingest_freqtrade(args: argparse.Namespace) -> int:
    data_dir = Path(load_command_settings(args.data_dir).data.dir)
    report = ingest_freqtrade(args.paths, data_dir)
    return _summarize(report, args.paths, data_dir, ".feather or .csv")


def run_ingest_file(args: argparse.Namespace) -> int:
    data_dir = Path(load_command_settings(args.data_dir).data.dir)
    report = ingest_format_files(
        args.paths, data_dir, file_format=args.file_format, symbol=args.symbol
    )
    suffix = ".csv" if args.file_format == "binance-tdepth" else ".parquet"
    return _summarize(report, args.paths, data_dir, suffix)


def _summarize(report: IngestReport, paths: list[Path], data_dir: Path, kinds: str) -> int:
    if not report.files:
        shown = ", ".join(str(path) for path in paths)
        raise IngestUsageError(f"no {kinds} files in {shown}")
    print("\n".join(render_report(report, data_dir / "lake")))
    if report.failed:
        print(
            f"tickdeck: error: {len(report.failed)} of {len(report.files)} files failed",
            file=sys.stderr,
        )
        return 1
    return 0


def render_report(report: IngestReport, lake: Path) -> list[str]:
    """The summary lines: one per file (plus its warnings), then the totals."""
    lines: list[str] = []
    for file in report.files:
        lines.extend(_file_lines(file))
    failed = f", {len(report.failed)} failed" if report.failed else ""
    lines.append(
        f"{len(report.files)} files{failed}: read {report.rows_read:,}, "
        f"written {report.rows_written:,}, duplicates {report.duplicates:,}, "
        f"dropped {report.dropped:,} -> {lake}"
    )
    return lines


def _file_lines(file: FileReport) -> list[str]:
    if file.error is not None:
        return [f"FAIL  {file.error}"]
    checksum = "verified" if file.checksum_verified else "none"
    lines = [
        f"ok    {file.where}  {file.dataset} {file.symbol}: read {file.rows_read:,}, "
        f"written {file.rows_written:,}, duplicates {file.duplicates:,}, "
        f"dropped {file.dropped:,}, checksum {checksum}"
    ]
    if file.warnings:
        kinds = ", ".join(
            f"{kind} {count:,} (first line {file.first_lines[kind]})"
            for kind, count in sorted(file.warnings.items())
        )
        lines.append(f"      warnings: {kinds}")
    return lines
