"""The orders and fills screen: every order and fill of the view, filtered, and one order's story.

Two tabs hold the full tables (orders, fills; oldest first, as in the view). One
text filter narrows both (every word must appear somewhere in a row) and a
status filter narrows the orders. Under the orders table, the order under the
cursor shows its timeline of state transitions and its fills.

Views arrive up to ten times a second while the operator reads: a table is
touched only when its source tuple (or the filter) changed, rows are updated in
place and the cursor stays on the row it was on (``cursor_sync``).
"""

from __future__ import annotations

from typing import ClassVar, NamedTuple

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.widgets import DataTable, Input, Select, Static, TabbedContent, TabPane

from tui.screens.base import DeskScreen
from tui.view import DeskView, FillRow, OrderRow
from tui.widgets.cursor_sync import sync_keeping_cursor
from tui.widgets.order_timeline import STATUS_STYLES, OrderTimeline
from tui.widgets.row_sync import Cell
from tui.widgets.utc_time import data_day, format_utc

__all__ = ["FILL_COLUMNS", "ORDER_COLUMNS", "STATUS_FILTERS", "OrdersScreen", "status_matches"]

ORDER_COLUMNS = (
    "client id", "symbol", "side", "type", "qty", "limit", "filled", "status", "submitted",
    "updated", "venue id", "reason",
)  # fmt: skip
FILL_COLUMNS = (
    "time", "symbol", "side", "price", "qty", "fee", "liq", "trade id", "client id",
)  # fmt: skip
# (label, value) of the status filter; "open" is every status still working at the venue.
STATUS_FILTERS: tuple[tuple[str, str], ...] = (
    ("all", "all"),
    ("open", "open"),
    ("filled", "FILLED"),
    ("canceled", "CANCELED"),
    ("rejected", "REJECTED"),
    ("expired", "EXPIRED"),
)
_SIDE_STYLES = {"BUY": "green", "SELL": "red"}


def status_matches(order: OrderRow, status_filter: str) -> bool:
    if status_filter == "all":
        return True
    if status_filter == "open":
        return order.is_open
    return order.status == status_filter


class _Row(NamedTuple):
    key: str
    cells: tuple[Cell, ...]
    text: str  # the cells' text, lower case, for the text filter


def _row(key: str, cells: tuple[Cell, ...]) -> _Row:
    text = " ".join(cell.plain if isinstance(cell, Text) else cell for cell in cells)
    return _Row(key, cells, text.lower())


def _side(side: str) -> Text:
    return Text(side, style=_SIDE_STYLES.get(side, ""))


def _number(value: object) -> Text:
    return Text("" if value is None else str(value), justify="right")


def _order_row(order: OrderRow, day: int) -> _Row:
    return _row(
        order.client_order_id,
        (
            order.client_order_id,
            order.symbol,
            _side(order.side),
            order.order_type,
            _number(order.quantity),
            _number(order.limit_price),
            _number(order.filled),
            Text(order.status, style=STATUS_STYLES.get(order.status, "")),
            format_utc(order.submitted_ts, day),
            format_utc(order.updated_ts, day),
            order.venue_order_id,
            order.reason,
        ),
    )


def _fill_row(key: str, fill: FillRow, day: int) -> _Row:
    return _row(
        key,
        (
            format_utc(fill.ts, day),
            fill.symbol,
            _side(fill.side),
            _number(fill.price),
            _number(fill.quantity),
            f"{fill.fee} {fill.fee_asset}",
            fill.liquidity,
            fill.trade_id,
            fill.client_order_id,
        ),
    )


def _fill_keys(fills: tuple[FillRow, ...]) -> list[str]:
    """A key per fill: its order and trade id (numbered on the off chance of a repeat)."""
    keys: list[str] = []
    seen: dict[str, int] = {}
    for fill in fills:
        key = f"{fill.client_order_id}/{fill.trade_id}"
        seen[key] = seen.get(key, 0) + 1
        keys.append(key if seen[key] == 1 else f"{key}#{seen[key]}")
    return keys


def _table(table_id: str, columns: tuple[str, ...]) -> DataTable[Cell]:
    table: DataTable[Cell] = DataTable(id=table_id, cursor_type="row", zebra_stripes=True)
    table.add_columns(*columns)
    return table


class OrdersScreen(DeskScreen):
    CSS_PATH = "orders.tcss"
    AUTO_FOCUS = "#orders-table"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "focus_filter", "Filter"),
        Binding("s", "next_status", "Status"),
        Binding("o", "show_tab('orders-pane')", "Orders"),
        Binding("l", "show_tab('fills-pane')", "Fills"),
        Binding("escape", "leave_filter", "Table", show=False),
    ]

    def __init__(self) -> None:
        super().__init__(id="orders")
        self._view: DeskView | None = None
        self._mounted = False
        self._terms: tuple[str, ...] = ()
        self._status = "all"
        self._orders_source: tuple[object, ...] = ()
        self._fills_source: tuple[object, ...] = ()
        self._order_rows: list[_Row] = []
        self._fill_rows: list[_Row] = []
        self._orders_by_key: dict[str, OrderRow] = {}
        self._orders_drawn: tuple[object, ...] = ()
        self._fills_drawn: tuple[object, ...] = ()
        self._timeline_source: tuple[object, ...] = ()
        self._day = 0

    def compose(self) -> ComposeResult:
        with Horizontal(id="orders-filters"):
            yield Input(
                placeholder="filter: words in any column (/)", id="orders-filter", compact=True
            )
            yield Select(
                STATUS_FILTERS, value="all", allow_blank=False, id="orders-status", compact=True
            )
            yield Static("", id="orders-counts", markup=False)
        with TabbedContent(id="orders-tabs", initial="orders-pane"):
            with TabPane("Orders", id="orders-pane"):
                yield _table("orders-table", ORDER_COLUMNS)
                yield OrderTimeline(id="order-timeline")
            with TabPane("Fills", id="fills-pane"):
                yield _table("fills-table", FILL_COLUMNS)

    def on_mount(self) -> None:
        self._mounted = True
        if self._view is not None:
            self._draw(self._view)

    def show(self, view: DeskView) -> None:
        self._view = view
        if self._mounted:
            self._draw(view)

    # --- drawing -------------------------------------------------------------------

    def _draw(self, view: DeskView) -> None:
        day = data_day(view)
        self._day = day
        if self._orders_source != (view.orders, day):
            self._orders_source = (view.orders, day)
            self._order_rows = [_order_row(order, day) for order in view.orders]
            self._orders_by_key = {order.client_order_id: order for order in view.orders}
        if self._fills_source != (view.fills, day):
            self._fills_source = (view.fills, day)
            self._fill_rows = [
                _fill_row(key, fill, day)
                for key, fill in zip(_fill_keys(view.fills), view.fills, strict=True)
            ]
        self._draw_tables()
        self._draw_timeline()

    def _draw_tables(self) -> None:
        orders_wanted = (self._orders_source, self._terms, self._status)
        if orders_wanted != self._orders_drawn:
            self._orders_drawn = orders_wanted
            shown = [
                row
                for row in self._order_rows
                if status_matches(self._orders_by_key[row.key], self._status)
                and self._text_matches(row)
            ]
            sync_keeping_cursor(self._orders_table, [(row.key, row.cells) for row in shown])
        fills_wanted = (self._fills_source, self._terms)
        if fills_wanted != self._fills_drawn:
            self._fills_drawn = fills_wanted
            shown = [row for row in self._fill_rows if self._text_matches(row)]
            sync_keeping_cursor(self._fills_table, [(row.key, row.cells) for row in shown])
        self.query_one("#orders-counts", Static).update(
            f"orders {self._orders_table.row_count}/{len(self._order_rows)}"
            f"  fills {self._fills_table.row_count}/{len(self._fill_rows)}"
        )

    def _text_matches(self, row: _Row) -> bool:
        return all(term in row.text for term in self._terms)

    def _draw_timeline(self) -> None:
        """The order under the orders table's cursor, with its events and fills."""
        view, table = self._view, self._orders_table
        timeline = self.query_one(OrderTimeline)
        if view is None or not table.row_count:
            self._timeline_source = ()
            timeline.show_order(None, (), (), self._day)
            return
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        order = self._orders_by_key.get(key or "")
        if order is None:
            self._timeline_source = ()
            timeline.show_order(None, (), (), self._day)
            return
        source = (order, view.order_events, view.fills, self._day)
        if source == self._timeline_source:
            return
        self._timeline_source = source
        key = order.client_order_id
        timeline.show_order(
            order,
            [event for event in view.order_events if event.client_order_id == key],
            [fill for fill in view.fills if fill.client_order_id == key],
            self._day,
        )

    @property
    def _orders_table(self) -> DataTable[Cell]:
        return self.query_one("#orders-table", DataTable)

    @property
    def _fills_table(self) -> DataTable[Cell]:
        return self.query_one("#fills-table", DataTable)

    # --- the operator ----------------------------------------------------------------

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id != "orders-filter":
            return
        self._terms = tuple(event.value.lower().split())
        self._draw_tables()
        self._draw_timeline()

    def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id != "orders-status" or not isinstance(event.value, str):
            return
        self._status = event.value
        self._draw_tables()
        self._draw_timeline()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.data_table.id == "orders-table":
            self._draw_timeline()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        """Enter or a click on an order shows its timeline; on a fill, its order's."""
        if event.data_table.id == "orders-table":
            self._draw_timeline()
        elif event.data_table.id == "fills-table":
            fill_key = event.row_key.value or ""
            self._go_to_order(fill_key.rsplit("/", 1)[0])

    def _go_to_order(self, client_order_id: str) -> None:
        table = self._orders_table
        if client_order_id not in table.rows:
            self.notify(f"{client_order_id} is hidden by the filters", severity="warning")
            return
        self.query_one(TabbedContent).active = "orders-pane"
        table.move_cursor(row=table.get_row_index(client_order_id))
        table.focus()
        self._draw_timeline()

    def action_focus_filter(self) -> None:
        self.query_one("#orders-filter", Input).focus()

    def action_leave_filter(self) -> None:
        self.action_show_tab(self.query_one(TabbedContent).active)

    def action_next_status(self) -> None:
        select = self.query_one("#orders-status", Select)
        values = [value for _, value in STATUS_FILTERS]
        index = values.index(select.value) if select.value in values else -1
        select.value = values[(index + 1) % len(values)]

    def action_show_tab(self, pane: str) -> None:
        self.query_one(TabbedContent).active = pane
        table_id = "#orders-table" if pane == "orders-pane" else "#fills-table"
        self.query_one(table_id, DataTable).focus()
