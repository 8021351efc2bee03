"""``tickdeck ingest binance-vision PATH...``: binance.vision files into the lake, with a summary.

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

__all__ = ["USER_ERRORS", "IngestUsageError", "add_command", "render_report", "run_ingest"]


class IngestUsageError(ValueError):
    """Paths that hold nothing to ingest."""


USER_ERRORS: tuple[type[Exception], ...] = (IngestUsageError, VisionPathError)


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


def run_ingest(args: argparse.Namespace) -> int:
    data_dir = Path(load_command_settings(args.data_dir).data.dir)
    report = ingest(args.paths, data_dir, market=args.market)
    if not report.files:
        shown = ", ".join(str(path) for path in args.paths)
        raise IngestUsageError(f"no .csv or .zip files in {shown}")
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
