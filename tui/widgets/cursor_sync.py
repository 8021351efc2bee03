"""Bring a DataTable to new keyed rows while its cursor stays on the same row.

``row_sync.sync_rows`` updates cells in place when the keys are unchanged and
refills the table otherwise, which sends the cursor and the scroll back to the
top. The orders and fills tables change keys all the time (an order arrives,
the oldest leaves the view's bounded history) while the operator is reading
them, so here rows that left are removed and rows that arrived at the end are
appended in place, and after a refill (rows reordered) the cursor is put back
on the row it was on, by key, and the scroll where it was.
"""

from __future__ import annotations

from collections.abc import Sequence

from textual.widgets import DataTable

from tui.widgets.row_sync import Cell, as_text, sync_rows

__all__ = ["sync_keeping_cursor"]

_MOST_REMOVED = 16


def sync_keeping_cursor(table: DataTable[Cell], rows: Sequence[tuple[str, Sequence[Cell]]]) -> None:
    """``rows``: (key, cells) in display order; cells match the table's columns."""
    old_keys = [row_key.value for row_key in table.rows]
    new_keys = [key for key, _ in rows]
    if new_keys == old_keys:
        sync_rows(table, rows)
        return
    cursor_key = old_keys[table.cursor_row] if 0 <= table.cursor_row < len(old_keys) else None
    scroll_y = table.scroll_y
    arrived = set(new_keys)
    staying = [key for key in old_keys if key in arrived]
    # Removing a row costs the table a pass over all of them: past a few departures (a
    # screen shown again after a busy while) refilling it whole is cheaper.
    departed = len(old_keys) - len(staying)
    if departed <= _MOST_REMOVED and new_keys[: len(staying)] == staying:
        scroll_y -= sum(
            1 for index, key in enumerate(old_keys) if key not in arrived and index < scroll_y
        )
        for key in old_keys:
            if key not in arrived:
                table.remove_row(key)
        sync_rows(table, rows[: len(staying)])
        for key, cells in rows[len(staying) :]:
            table.add_row(*map(as_text, cells), key=key)
    else:
        sync_rows(table, rows)
    if cursor_key in arrived:
        table.move_cursor(row=new_keys.index(cursor_key), scroll=False)
    table.call_after_refresh(table.scroll_to, y=max(scroll_y, 0), animate=False)
