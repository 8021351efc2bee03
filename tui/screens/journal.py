"""The journal screen: how far the journal got, what is on disk, how the last start went.

"durable" trails "last" by the frames written but not yet fsynced; a gap that
keeps growing means the disk cannot keep up. The recovery report is the one
the session wrote when it last resumed from its journal, shown as it is.
"""

from __future__ import annotations

import json

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import DataTable, Label, Static

from tui.screens.base import DeskScreen
from tui.view import DeskView, JournalView, SegmentRow
from tui.widgets.row_sync import Cell, sync_rows

__all__ = ["JournalScreen", "format_bytes", "format_recovery"]

NO_RECOVERY = "no recovery: the session started fresh"


def format_bytes(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:,.0f} {unit}" if unit == "B" else f"{value:,.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def format_recovery(report: str) -> str:
    """The recovery report, indented; as it came if it is not JSON."""
    if not report.strip():
        return NO_RECOVERY
    try:
        return json.dumps(json.loads(report), indent=2)
    except ValueError:
        return report


def _segment_cells(segment: SegmentRow) -> list[Cell]:
    return [segment.name, Text(format_bytes(segment.bytes), justify="right"), f"{segment.bytes:,}"]


class JournalScreen(DeskScreen):
    AUTO_FOCUS = "#journal-body"

    def __init__(self) -> None:
        super().__init__(id="journal")
        self._drawn: JournalView | None = None

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="journal-body"):
            yield Label("Journal", classes="section-title")
            yield Static("waiting for the session…", id="journal-sequence", markup=False)
            yield Static("", id="journal-snapshot", markup=False)
            yield Label("Segments", classes="section-title")
            segments: DataTable[Cell] = DataTable(
                id="journal-segments", cursor_type="row", zebra_stripes=True
            )
            segments.add_columns("segment", "size", "bytes")
            yield segments
            yield Label("Last recovery", classes="section-title")
            yield Static("", id="journal-recovery", markup=False)

    def show(self, view: DeskView) -> None:
        journal = view.journal
        if journal == self._drawn:
            return
        self._drawn = journal
        pending = journal.last_seq - journal.durable_seq
        sequence = Text(no_wrap=True, overflow="ellipsis")
        sequence.append("last seq ")
        sequence.append(f"{journal.last_seq:,}", style="bold")
        sequence.append("   durable seq ")
        sequence.append(f"{journal.durable_seq:,}", style="bold")
        sequence.append(f"   ({pending:,} not yet synced)", style="yellow" if pending else "dim")
        self.query_one("#journal-sequence", Static).update(sequence)
        snapshot = Text(overflow="fold")
        if journal.snapshot_seq or journal.snapshot_path:
            snapshot.append("last snapshot at seq ")
            snapshot.append(f"{journal.snapshot_seq:,}", style="bold")
            snapshot.append(f"   {journal.snapshots_written} written this session\n")
            snapshot.append(journal.snapshot_path, style="dim")
        else:
            snapshot.append(f"no snapshot yet ({journal.snapshots_written} written)", style="dim")
        self.query_one("#journal-snapshot", Static).update(snapshot)
        sync_rows(
            self.query_one("#journal-segments", DataTable),
            [(segment.name, _segment_cells(segment)) for segment in journal.segments],
        )
        self.query_one("#journal-recovery", Static).update(format_recovery(journal.recovery))
