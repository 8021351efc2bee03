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

__all__ = ["Cell", "as_text", "sync_rows"]

Cell = str | Text


def sync_rows(table: DataTable[Cell], rows: Sequence[tuple[str, Sequence[Cell]]]) -> None:
    """``rows``: (key, cells) in display order; cells match the table's columns.

    A column widens for a wider cell and never narrows: asking the table to fit a
    narrower one makes it measure every cell of the column again (a 500-row table
    redrawn ten times a second spent its time there), and columns that jump in width
    under the reader's eyes are worse than a blank or two.
    """
    keys = [key for key, _ in rows]
    if keys == [row_key.value for row_key in table.rows]:
        columns = table.columns
        for key, cells in rows:
            for (column_key, column), old, cell in zip(
                columns.items(), table.get_row(key), cells, strict=True
            ):
                new = as_text(cell)
                if old != new:
                    wider = new.cell_len > column.content_width
                    table.update_cell(key, column_key, new, update_width=wider)
        return
    table.clear()
    for key, cells in rows:
        table.add_row(*map(as_text, cells), key=key)


def as_text(cell: Cell) -> Text:
    """A cell as plain ``Text``: a string is never read as markup (an order's reason or a
    query's result may hold brackets), and ``Text`` measures without parsing, which is
    what a table spends its time on when many rows arrive at once."""
    return cell if isinstance(cell, Text) else Text(cell)
