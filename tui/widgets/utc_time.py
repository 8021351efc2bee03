"""Event times as the desk's tables show them: UTC, with the date only off the data's day.

"Today" is the UTC day of the newest event in the view, never the wall clock: the
same view always reads the same, and a replayed session from last year reads as
it did then.
"""

from __future__ import annotations

from datetime import UTC, datetime

from tui.view import DeskView

__all__ = ["data_day", "format_utc"]

_DAY_NS = 86_400_000_000_000
_SECOND_NS = 1_000_000_000


def data_day(view: DeskView) -> int:
    """The UTC day (days since the epoch) of the newest order, event, fill or bar."""
    newest = max((order.updated_ts for order in view.orders), default=0)
    if view.order_events:
        newest = max(newest, view.order_events[-1].ts)
    if view.fills:
        newest = max(newest, view.fills[-1].ts)
    for bars in view.bars.values():
        if bars:
            newest = max(newest, bars[-1].ts)
    return newest // _DAY_NS


def format_utc(ts: int, day: int) -> str:
    """``HH:MM:SS`` on ``day``, ``YYYY-MM-DD HH:MM:SS`` otherwise; "" for no time (0)."""
    if ts <= 0:
        return ""
    moment = datetime.fromtimestamp(ts // _SECOND_NS, tz=UTC)
    return moment.strftime("%H:%M:%S" if ts // _DAY_NS == day else "%Y-%m-%d %H:%M:%S")
