"""``tickdeck journal``: the sessions' journals read by a person (ls, tail, inspect) and
exported to the lake for SQL (export).

Each action only reads the journal: a torn tail is said, never cut (recovery
cuts it), and corruption stops a tail or an export at the exact file, byte
offset and seq, as one ``tickdeck: error:`` line. Times are UTC; amounts are
the messages' exact Decimals.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import enum
import functools
import json
import sys
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

import msgspec

from app.cli_args import add_data_dir, start_command
from journal.errors import JournalCorruptError, JournalVersionError
from journal.export import DATASET, export_session
from journal.frames import JournalRecord
from journal.reader import TornTail
from journal.sessions import (
    JournalFollower,
    SessionInspection,
    SessionSummary,
    UnknownSessionError,
    inspect_session,
    recent_records,
    session_directory,
    session_names,
    summarize_session,
    writer_holds,
)

__all__ = [
    "USER_ERRORS",
    "add_command",
    "follow",
    "format_inspection",
    "format_record",
    "format_summaries",
    "run_journal",
]

USER_ERRORS: tuple[type[Exception], ...] = (
    UnknownSessionError,
    JournalCorruptError,
    JournalVersionError,
)

JOURNAL_DIRECTORY: Final = "journal"
DEFAULT_LINES: Final = 20
DEFAULT_POLL_SECONDS: Final = 0.2
# Fields shown first on a tail line, in this order; the rest follow in the message's order.
_FIRST: Final = (
    "symbol",
    "side",
    "quantity",
    "price",
    "limit_price",
    "last_quantity",
    "last_price",
    "client_order_id",
    "strategy",
    "status",
    "state",
    "reason",
)
_RANK: Final = {name: rank for rank, name in enumerate(_FIRST)}
_TIME_FIELDS: Final = frozenset(("start", "end"))
_SHOWN_ITEMS: Final = 5
_sleep: Callable[[float], None] = time.sleep


def add_command(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    journal = commands.add_parser(
        "journal",
        help="the sessions' journals: ls, tail, inspect, export",
        description="Read the sessions' journals (<data>/journal/<session>/): list them, "
        "show their last records, inspect one, or export one to the lake (the `journal` "
        "view of `tickdeck sql`). Nothing here modifies a journal.",
    )
    actions = journal.add_subparsers(dest="action", metavar="ACTION", required=True)

    ls = actions.add_parser("ls", help="one line per session: seqs, times, size, state")
    tail = actions.add_parser("tail", help="the last records of a session; -f follows it")
    tail.add_argument("session")
    tail.add_argument(
        "-n", "--lines", type=_count, default=DEFAULT_LINES, metavar="N",
        help=f"how many records (default {DEFAULT_LINES})",
    )  # fmt: skip
    tail.add_argument(
        "-f", "--follow", action="store_true", help="keep printing records as they are appended"
    )
    tail.add_argument(
        "--poll", type=_seconds, default=DEFAULT_POLL_SECONDS, metavar="SECONDS",
        help=f"how often -f looks for new records (default {DEFAULT_POLL_SECONDS})",
    )  # fmt: skip
    inspect = actions.add_parser(
        "inspect", help="segments, seq and time range, catalog, snapshots, last recovery"
    )
    inspect.add_argument("session")
    export = actions.add_parser(
        "export", help=f"every record to Parquet in <data>/lake/{DATASET}/session=<SESSION>/"
    )
    export.add_argument("session")
    for action in (ls, tail, inspect, export):
        add_data_dir(action)
    journal.set_defaults(handler=run_journal)


def run_journal(args: argparse.Namespace) -> int:
    root = Path(start_command(args.data_dir).data.dir) / JOURNAL_DIRECTORY
    if args.action == "ls":
        return _ls(root)
    directory = session_directory(root, args.session)
    if args.action == "tail":
        return _tail(directory, args.lines, follow_on=args.follow, poll_seconds=args.poll)
    if args.action == "inspect":
        sys.stdout.write(format_inspection(inspect_session(directory)))
        return 0
    return _export(directory, root.parent / "lake")


def _ls(root: Path) -> int:
    names = session_names(root)
    if not names:
        print(f"no journal sessions under {root}")
        return 0
    sys.stdout.write(format_summaries([summarize_session(root / name) for name in names]))
    return 0


def _tail(directory: Path, lines: int, *, follow_on: bool, poll_seconds: float) -> int:
    recent = recent_records(directory, lines)
    for record in recent.records:
        print(format_record(record))
    if recent.error is not None:
        sys.stdout.flush()
        raise recent.error
    if recent.torn_tail is not None and not writer_holds(directory):
        print(_torn_note(recent.torn_tail, "shown"), file=sys.stderr)
    if not follow_on:
        return 0
    sys.stdout.flush()
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how a follow ends
        for record in follow(directory, recent.last_seq, poll_seconds):
            print(format_record(record), flush=True)
    return 0


def follow(
    directory: Path,
    after_seq: int,
    poll_seconds: float = DEFAULT_POLL_SECONDS,
    should_stop: Callable[[], bool] = lambda: False,
) -> Iterator[JournalRecord]:
    """The records appended after ``after_seq``, as they land, until ``should_stop()``
    (checked whenever nothing new has come) or the caller stops iterating."""
    follower = JournalFollower(directory, after_seq)
    while True:
        records = follower.poll()
        yield from records
        if not records:
            if should_stop():
                return
            _sleep(poll_seconds)


def _export(directory: Path, lake: Path) -> int:
    held = writer_holds(directory)
    result = export_session(directory, lake)
    rate = result.records / result.seconds if result.seconds > 0 else 0.0
    print(
        f"exported {result.records:,} records in {result.seconds:.2f} s "
        f"({rate:,.0f} records/s) to {result.path}"
    )
    if result.torn_tail is not None and not held:
        print(f"  {_torn_note(result.torn_tail, 'exported')}")
    if held:
        print("  a writer holds the session: what it appends from now on is not in the export")
    session = result.session.replace("'", "''")
    print(
        f'  query it: tickdeck sql "SELECT type, count(*) FROM {DATASET} '
        f"WHERE session = '{session}' GROUP BY 1\""
    )
    return 0


def _torn_note(torn: TornTail, verb: str) -> str:
    return (
        f"note: a torn tail follows seq {torn.seq - 1}: {torn.file} from byte {torn.offset} "
        f"({torn.bytes_cut} bytes, a crash cut the frame of seq {torn.seq}) is not {verb}; "
        "the journal is left as it is (recovery cuts it)"
    )


# --- text ------------------------------------------------------------------------------


def format_record(record: JournalRecord) -> str:
    """One record on one line: seq, clock time, type, then the message's fields as
    ``name=value`` (key fields first; nested tickets, intents and bars flattened;
    fields at their default left out; the event time only when it differs)."""
    message = record.message
    fields = sorted(_fields(message), key=lambda item: _RANK.get(item[0], len(_RANK)))
    if message.ts != record.ts:
        fields.append(("event", iso_ns(message.ts)))
    text = " ".join(f"{name}={value}" for name, value in fields)
    return f"{record.seq:>10}  {iso_ns(record.ts)}  {type(message).__name__}  {text}".rstrip()


def format_summaries(summaries: list[SessionSummary]) -> str:
    """``tickdeck journal ls``: an aligned table, one session per line."""
    header = ("session", "segments", "frames", "first (UTC)", "last (UTC)", "size", "snapshot")
    rows = [
        (
            summary.session,
            f"{summary.segments:,}",
            "-" if summary.last_seq is None else f"{summary.last_seq:,}",
            _iso_seconds(summary.first_ts),
            _iso_seconds(summary.last_ts),
            _size(summary.bytes),
            "-" if summary.snapshot_seq is None else f"{summary.snapshot_seq:,}",
        )
        for summary in summaries
    ]
    widths = [max(len(cells[i]) for cells in [header, *rows]) for i in range(len(header))]
    right = (False, True, True, False, False, True, True)

    def line(cells: tuple[str, ...], state: str) -> str:
        aligned = (
            cell.rjust(width) if align_right else cell.ljust(width)
            for cell, width, align_right in zip(cells, widths, right, strict=True)
        )
        return "  ".join((*aligned, state))

    lines = [line(header, "state")]
    lines.extend(line(cells, summary.state) for cells, summary in zip(rows, summaries, strict=True))
    return "\n".join(lines) + "\n"


def format_inspection(inspection: SessionInspection) -> str:
    """``tickdeck journal inspect``: the session's state, then segments, snapshots and the
    last recovery, each a small aligned block."""
    lines = [
        f"session    {inspection.session}",
        f"directory  {inspection.directory}",
        f"state      {_state(inspection)}",
        f"records    {_seq_range(inspection)}",
        f"time       {_time_range(inspection)}",
        f"catalog    {inspection.catalog}",
        f"config     {inspection.config or 'none'}",
    ]
    if inspection.torn_tail is not None:
        torn = inspection.torn_tail
        lines.append(
            f"torn tail  {Path(torn.file).name} from byte {torn.offset:,}: {torn.bytes_cut:,} "
            f"bytes from seq {torn.seq} on (recovery cuts them)"
        )
    lines.extend(_segment_lines(inspection))
    lines.extend(_snapshot_lines(inspection))
    lines.extend(_recovery_lines(inspection))
    return "\n".join(lines) + "\n"


def _state(inspection: SessionInspection) -> str:
    if inspection.problem is not None:
        return inspection.problem
    if inspection.open:
        return "open (a writer holds it and is appending)"
    if inspection.torn_tail is not None:
        return f"torn tail at seq {inspection.torn_tail.seq} (a crash cut it; recovery cuts it)"
    return "ok" if inspection.segments else "empty (no segments)"


def _seq_range(inspection: SessionInspection) -> str:
    if inspection.records == 0:
        return "none"
    suffix = " read before the problem" if inspection.problem else ""
    return f"seq 1..{inspection.records} ({inspection.records:,} records{suffix})"


def _time_range(inspection: SessionInspection) -> str:
    if inspection.first_ts is None or inspection.last_ts is None:
        return "none"
    return f"{iso_ns(inspection.first_ts)} .. {iso_ns(inspection.last_ts)}"


def _segment_lines(inspection: SessionInspection) -> list[str]:
    if not inspection.segments:
        return ["segments   none"]
    rows = [("file", "first seq", "last seq", "frames", "bytes", "")]
    for segment in inspection.segments:
        rows.append(
            (
                segment.file,
                f"{segment.first_seq:,}",
                "-" if segment.last_seq is None else f"{segment.last_seq:,}",
                "-" if segment.frames is None else f"{segment.frames:,}",
                f"{segment.bytes:,}",
                segment.problem or "",
            )
        )
    return [
        f"segments   ({len(inspection.segments)})",
        *_table(rows, (False, True, True, True, True, False)),
    ]


def _snapshot_lines(inspection: SessionInspection) -> list[str]:
    if not inspection.snapshots:
        return ["snapshots  none"]
    rows = [("file", "seq", "time", "bytes", "actors")]
    for snapshot in inspection.snapshots:
        beyond = snapshot.seq > inspection.records and inspection.problem is None
        actors = (
            f"refused: {snapshot.problem}"
            if snapshot.problem
            else ", ".join(snapshot.actors)
            + ("  (beyond the journal's last seq)" if beyond else "")
        )
        rows.append(
            (
                snapshot.file,
                f"{snapshot.seq:,}",
                "-" if snapshot.ts is None else iso_ns(snapshot.ts),
                f"{snapshot.bytes:,}",
                actors,
            )
        )
    return [
        f"snapshots  ({len(inspection.snapshots)})",
        *_table(rows, (False, True, False, True, False)),
    ]


def _recovery_lines(inspection: SessionInspection) -> list[str]:
    if inspection.recovery_problem is not None:
        return [f"recovery   unreadable: {inspection.recovery_problem}"]
    report = inspection.recovery
    if report is None:
        return ["recovery   none recorded"]
    lines = ["recovery   (the last one)"]
    width = max(len(key) for key in report) if report else 0
    for key, value in report.items():
        lines.append(f"  {key:<{width}}  {_report_value(value)}")
    return lines


def _report_value(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, list):
        return ", ".join(str(item) for item in value) if value else "none"
    if isinstance(value, dict):
        return " ".join(f"{key}={item}" for key, item in value.items())
    return str(value)


def _table(rows: list[tuple[str, ...]], right: tuple[bool, ...]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(right))]
    return [
        "  "
        + "  ".join(
            cell.rjust(width) if align_right else cell.ljust(width)
            for cell, width, align_right in zip(row, widths, right, strict=True)
        ).rstrip()
        for row in rows
    ]


def _fields(value: msgspec.Struct) -> Iterator[tuple[str, str]]:
    """A struct's fields as (name, text), nested structs flattened, defaults and ``ts``
    left out."""
    for name, default in _shown_fields(type(value)):
        item = getattr(value, name)
        if default is not msgspec.NODEFAULT and item == default:
            continue
        if isinstance(item, msgspec.Struct):
            yield from _fields(item)
        else:
            yield name, _value(name, item)


@functools.cache
def _shown_fields(cls: type[msgspec.Struct]) -> tuple[tuple[str, Any], ...]:
    """The fields of ``cls`` a tail line may show, with their defaults: looked up once
    per type (msgspec resolves the annotations on every call)."""
    return tuple(
        (field.name, field.default) for field in msgspec.structs.fields(cls) if field.name != "ts"
    )


def _value(name: str, value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, int) and name in _TIME_FIELDS:
        return iso_ns(value)
    if isinstance(value, str):
        return (
            value
            if value and not any(c.isspace() or c in '="' for c in value)
            else json.dumps(value, ensure_ascii=False)
        )
    if isinstance(value, dict):
        pairs = (f"{_value('', key)}:{_value('', item)}" for key, item in value.items())
        return "{" + ",".join(pairs) + "}"
    if isinstance(value, tuple | list):
        shown = [_item(item) for item in value[:_SHOWN_ITEMS]]
        more = f",…+{len(value) - _SHOWN_ITEMS}" if len(value) > _SHOWN_ITEMS else ""
        return "[" + ",".join(shown) + more + "]"
    return repr(value) if isinstance(value, float) else str(value)


def _item(item: Any) -> str:
    if isinstance(item, msgspec.Struct):
        return "(" + " ".join(f"{name}={text}" for name, text in _fields(item)) + ")"
    return _value("", item)


def iso_ns(ns: int) -> str:
    """An int ns UTC time as ISO 8601 with all nine fractional digits."""
    seconds, nanos = divmod(ns, 1_000_000_000)
    try:
        moment = dt.datetime.fromtimestamp(seconds, dt.UTC)
    except (OverflowError, OSError, ValueError):
        return f"{ns}ns"
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{nanos:09d}Z"


def _iso_seconds(ns: int | None) -> str:
    return "-" if ns is None else iso_ns(ns)[:19] + "Z"


def _size(size: int) -> str:
    if size < 1024:
        return f"{size} B"
    value = size / 1024
    for unit in ("KiB", "MiB"):
        if value < 1024:
            return f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected more than 0 seconds, got {text}")
    return value


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected 0 or more, got {value}")
    return value
