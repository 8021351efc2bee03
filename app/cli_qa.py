"""``tickdeck qa``: the data-quality report of one symbol of one lake dataset, as text or JSON."""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path
from typing import Final

from actors.intervals import UnknownIntervalError
from app.cli_args import date_arg, start_command
from storage.quality import DEFAULT_TOLERANCE, QualityError, QualityReport, check_quality

__all__ = ["USER_ERRORS", "add_command", "format_report", "run_qa"]

USER_ERRORS: tuple[type[Exception], ...] = (QualityError, UnknownIntervalError)

_SHOWN_GAPS: Final = 20


def add_command(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    command = commands.add_parser(
        "qa",
        help="data-quality report: gaps, duplicates, coverage, trades vs klines",
        description="Check one symbol of one lake dataset over whole UTC days: gaps, "
        "duplicates by the dataset's key, coverage per day and, for 1m bars with trades "
        "beside them, a minute-by-minute cross-check.",
    )
    command.add_argument("--symbol", required=True)
    command.add_argument("--dataset", required=True, help="e.g. bars_1m, trades, um_agg_trades")
    command.add_argument("--start", type=date_arg, help="first UTC day (default: the first held)")
    command.add_argument(
        "--end", type=date_arg, help="end UTC day, exclusive (default: after the last)"
    )
    command.add_argument("--json", action="store_true", help="the whole report as JSON")
    command.add_argument(
        "--max-gap", type=float, metavar="SECONDS",
        help="longest empty stretch that is not a gap (not for bars; default per dataset)",
    )  # fmt: skip
    command.add_argument(
        "--tolerance", type=float, default=DEFAULT_TOLERANCE,
        help=f"relative difference the cross-check allows (default {DEFAULT_TOLERANCE:g})",
    )  # fmt: skip
    command.add_argument("--data-dir", type=Path, help="data directory (default: settings)")
    command.set_defaults(handler=run_qa)


def run_qa(args: argparse.Namespace) -> int:
    data_dir = Path(start_command(args.data_dir).data.dir)
    report = check_quality(
        data_dir,
        args.dataset,
        args.symbol,
        args.start,
        args.end,
        max_gap_seconds=args.max_gap,
        tolerance=args.tolerance,
    )
    if args.json:
        print(json.dumps(dataclasses.asdict(report), indent=2, sort_keys=True))
    else:
        print(format_report(report), end="")
    return 0


def format_report(report: QualityReport) -> str:
    """The report as text: a summary, then the gaps (the first few), the coverage per
    day and the cross-check's first disagreements."""
    days = len(report.coverage)
    lines = [
        f"qa {report.dataset} {report.symbol} {report.start} -> {report.end} "
        f"({days} UTC day{'' if days == 1 else 's'})",
        f"  issues       {_count(report.issue_units)} of {report.units:,} "
        f"{_unit_label(report)} ({report.issue_share:.3%})",
    ]
    if report.expected_rows is not None:
        lines.append(f"  rows         {report.rows:,} of {report.expected_rows:,} expected")
        lines.append(
            f"  gaps         {len(report.gaps):,} runs, {report.missing:,} missing bars"
            + (f"; {report.off_grid:,} bars off the UTC grid" if report.off_grid else "")
        )
    else:
        lines.append(f"  rows         {report.rows:,}")
        lines.append(
            f"  gaps         {len(report.gaps):,} empty stretches over "
            f"{report.gap_threshold_seconds:g} s, {report.gap_seconds:,.1f} s in all"
        )
    dup = report.duplicates
    lines.append(
        f"  duplicates   {dup.keys:,} keys, {dup.extra_rows:,} extra rows, "
        f"{dup.conflicting:,} conflicting"
    )
    cross = report.cross_check
    if cross is None:
        lines.append("  cross-check  none (needs 1m bars and trades or aggTrades of the symbol)")
    else:
        fields = ", ".join(f"{name} {count:,}" for name, count in cross.by_field.items())
        lines.append(
            f"  cross-check  {cross.bars} vs {cross.ticks}: {cross.minutes_compared:,} minutes "
            f"compared, {cross.differing:,} differ ({fields}); {cross.bars_only:,} with bar "
            f"volume and no ticks, {cross.ticks_only:,} with ticks and no bar"
        )
    lines.extend(_gap_lines(report))
    lines.append("coverage per UTC day")
    expected = report.expected_rows is not None
    lines.append(
        f"  {'date':<10}  {'rows':>12}" + (f"  {'expected':>8}" if expected else "") + "  present"
    )
    for day in report.coverage:
        extra = f"  {day.expected:>8,}" if day.expected is not None else ""
        lines.append(f"  {day.date:<10}  {day.rows:>12,}{extra}  {day.present:>7.2%}")
    if cross is not None and cross.examples:
        lines.append("cross-check disagreements (first few; bar / ticks)")
        for example in cross.examples:
            values = "  ".join(
                f"{name} {_value(example[f'bar_{name}'])}/{_value(example[f'ticks_{name}'])}"
                for name in ("open", "high", "low", "close", "volume")
            )
            lines.append(f"  {example['minute']}  {values}")
    return "\n".join(lines) + "\n"


def _gap_lines(report: QualityReport) -> list[str]:
    if not report.gaps:
        return []
    shown = report.gaps[:_SHOWN_GAPS]
    title = "gaps" if len(shown) == len(report.gaps) else f"gaps (first {len(shown)})"
    lines = [title]
    for gap in shown:
        size = f"{gap.missing:,} missing" if gap.missing is not None else f"{gap.seconds:,.3f} s"
        lines.append(f"  {gap.start}  ->  {gap.end}  {size}")
    if len(shown) < len(report.gaps):
        lines.append(f"  ... {len(report.gaps) - len(shown):,} more (--json lists all)")
    return lines


def _unit_label(report: QualityReport) -> str:
    return "minutes" if report.expected_rows is None else f"{report.unit} bars"


def _count(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def _value(value: object) -> str:
    return "-" if value is None else repr(value)
