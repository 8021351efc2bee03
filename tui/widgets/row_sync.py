"""Bring a DataTable to a list of keyed rows, touching only the cells that changed.

Screens redraw up to ten times a second; rebuilding a table each time would
reset its cursor and scroll and cost a full re-layout. When the keys are the
same (the common case: an actor's counters moved) the changed cells are updated
in place; when rows come or go the table is refilled.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.widgets import DataTable

__all__ = ["Cell", "sync_rows"]

Cell = str | Text


def sync_rows(table: DataTable[Cell], rows: Sequence[tuple[str, Sequence[Cell]]]) -> None:
    """``rows``: (key, cells) in display order; cells match the table's columns."""
    keys = [key for key, _ in rows]
    if keys == [row_key.value for row_key in table.rows]:
        columns = list(table.columns)
        for key, cells in rows:
            for column, old, new in zip(columns, table.get_row(key), cells, strict=True):
                if old != new:
                    table.update_cell(key, column, new, update_width=True)
        return
    table.clear()
    for key, cells in rows:
        table.add_row(*cells, key=key)
