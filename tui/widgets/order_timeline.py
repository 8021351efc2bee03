"""One order in detail: what it is, each state it went through (when, why), its fills.

The orders screen shows it under the orders table for the order under the
cursor, so reading down the table reads each order's story.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Static

from tui.view import FillRow, OrderEvent, OrderRow
from tui.widgets.row_sync import Cell, sync_rows
from tui.widgets.utc_time import format_utc

__all__ = ["STATUS_STYLES", "OrderTimeline"]

# How an order's status reads at a glance (the orders table uses the same).
STATUS_STYLES = {
    "FILLED": "green",
    "PARTIALLY_FILLED": "cyan",
    "CANCELED": "dim",
    "EXPIRED": "dim",
    "REJECTED": "bold red",
    "PENDING_CANCEL": "yellow",
}
_NOTHING = "Move to an order (arrows, Enter or a click) to see its timeline."


class OrderTimeline(Vertical):
    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.order: OrderRow | None = None
        self._shown: tuple[object, ...] | None = None

    def compose(self) -> ComposeResult:
        yield Static(_NOTHING, id="timeline-title", markup=False)
        with Horizontal(id="timeline-tables"):
            events: DataTable[Cell] = DataTable(
                id="timeline-events", cursor_type="none", zebra_stripes=True
            )
            events.add_columns("time", "status", "detail")
            yield events
            fills: DataTable[Cell] = DataTable(
                id="timeline-fills", cursor_type="none", zebra_stripes=True
            )
            fills.add_columns("time", "price", "qty", "fee", "liq", "trade id")
            yield fills

    def show_order(
        self,
        order: OrderRow | None,
        events: Sequence[OrderEvent],
        fills: Sequence[FillRow],
        day: int,
    ) -> None:
        """``events`` and ``fills`` are the order's, oldest first; times read against ``day``."""
        shown = (order, tuple(events), tuple(fills), day)
        if shown == self._shown:
            return
        self._shown = shown
        self.order = order
        self.query_one("#timeline-title", Static).update(_title(order))
        sync_rows(
            self.query_one("#timeline-events", DataTable),
            [
                (str(index), (format_utc(event.ts, day), _status(event.status), event.detail))
                for index, event in enumerate(events)
            ],
        )
        sync_rows(
            self.query_one("#timeline-fills", DataTable),
            [
                (
                    str(index),
                    (
                        format_utc(fill.ts, day),
                        Text(str(fill.price), justify="right"),
                        Text(str(fill.quantity), justify="right"),
                        f"{fill.fee} {fill.fee_asset}",
                        fill.liquidity,
                        fill.trade_id,
                    ),
                )
                for index, fill in enumerate(fills)
            ],
        )


def _status(status: str) -> Text:
    return Text(status, style=STATUS_STYLES.get(status, ""))


def _title(order: OrderRow | None) -> Text:
    if order is None:
        return Text(_NOTHING)
    price = f" @ {order.limit_price}" if order.limit_price is not None else ""
    title = Text.assemble(
        (order.client_order_id, "bold"),
        f"  {order.side} {order.order_type} {order.quantity} {order.symbol}{price}",
        f"  filled {order.filled}  ",
        _status(order.status),
    )
    if order.reason:
        title.append(f"  {order.reason}", style="italic")
    return title
