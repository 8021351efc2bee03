"""The orders and fills screen: full tables, filters, an order's timeline, steady under updates."""

from __future__ import annotations

from decimal import Decimal

import msgspec
from textual.app import App
from textual.widgets import DataTable, Input, Select, Static, TabbedContent

import tui.screens.orders as orders_module
from tests.tui.conftest import MINUTE, T0, sample_view
from tui.screens.orders import OrdersScreen
from tui.view import DeskView, OrderEvent, OrderRow
from tui.widgets.order_timeline import OrderTimeline


class OrdersApp(App[None]):
    """The screen alone, shown the given view, as the desk app would."""

    def __init__(self, view: DeskView) -> None:
        super().__init__()
        self.first_view = view

    def on_mount(self) -> None:
        screen = OrdersScreen()
        self.push_screen(screen)
        screen.show(self.first_view)


def table(app: App[None], table_id: str) -> DataTable:
    return app.screen.query_one(f"#{table_id}", DataTable)


def keys(data_table: DataTable) -> list[str]:
    return [str(row.key.value) for row in data_table.ordered_rows]


def column(data_table: DataTable, name: str) -> list[str]:
    key = next(key for key, col in data_table.columns.items() if str(col.label) == name)
    return [str(cell) for cell in data_table.get_column(key)]


def cursor_key(data_table: DataTable) -> str:
    return str(data_table.coordinate_to_cell_key(data_table.cursor_coordinate).row_key.value)


def timeline_title(app: App[None]) -> str:
    return str(app.screen.query_one("#timeline-title", Static).render())


def with_orders(view: DeskView, orders: tuple[OrderRow, ...], version: int) -> DeskView:
    return msgspec.structs.replace(view, orders=orders, version=version)


def many_orders_view(count: int) -> DeskView:
    view = sample_view()
    template = view.orders[0]
    orders = tuple(
        msgspec.structs.replace(template, client_order_id=f"sma_cross-BTCUSDT-{i}")
        for i in range(1, count + 1)
    )
    return with_orders(view, orders, version=1)


async def test_the_tables_hold_every_order_and_fill_of_the_view() -> None:
    view = sample_view()
    app = OrdersApp(view)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        orders, fills = table(app, "orders-table"), table(app, "fills-table")
        assert keys(orders) == [order.client_order_id for order in view.orders]
        assert column(orders, "status") == [order.status for order in view.orders]
        assert column(orders, "limit") == ["", "", "41800.00", ""]
        assert column(orders, "reason")[-1] == "insufficient balance"
        assert column(orders, "submitted")[0] == "00:30:00"
        assert column(fills, "trade id") == [fill.trade_id for fill in view.fills]
        assert column(fills, "fee") == ["0.42123450 USDT", "0.42310000 USDT", "0.04180000 USDT"]
        assert column(fills, "client id") == [fill.client_order_id for fill in view.fills]
        assert "orders 4/4  fills 3/3" in str(app.screen.query_one("#orders-counts").render())


async def test_the_text_filter_narrows_both_tables() -> None:
    app = OrdersApp(sample_view())
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("slash", *"sell")
        await pilot.pause()
        assert keys(table(app, "orders-table")) == ["sma_cross-BTCUSDT-2"]
        assert column(table(app, "fills-table"), "trade id") == ["5002"]
        app.screen.query_one("#orders-filter", Input).value = ""
        await pilot.press(*"buy maker")  # every word must match
        await pilot.pause()
        assert keys(table(app, "fills-table")) == ["sma_cross-BTCUSDT-3/5003"]
        assert "orders 0/4  fills 1/3" in str(app.screen.query_one("#orders-counts").render())
        await pilot.press("escape")
        assert app.focused is table(app, "orders-table")


async def test_the_status_filter_narrows_the_orders_by_key_and_by_mouse() -> None:
    app = OrdersApp(sample_view())
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("s")  # all -> open
        await pilot.pause()
        assert app.screen.query_one("#orders-status", Select).value == "open"
        assert keys(table(app, "orders-table")) == ["sma_cross-BTCUSDT-3"]
        await pilot.click("#orders-status")
        await pilot.pause()
        await pilot.press("down", "down", "down", "enter")  # open -> rejected
        await pilot.pause()
        assert app.screen.query_one("#orders-status", Select).value == "REJECTED"
        assert keys(table(app, "orders-table")) == ["sma_cross-BTCUSDT-4"]
        assert len(keys(table(app, "fills-table"))) == 3  # fills have no status


async def test_selecting_an_order_shows_its_timeline_and_fills() -> None:
    app = OrdersApp(sample_view())
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("down", "down", "enter")
        await pilot.pause()
        assert "sma_cross-BTCUSDT-3" in timeline_title(app)
        assert "PARTIALLY_FILLED" in timeline_title(app)
        events = table(app, "timeline-events")
        assert column(events, "status") == ["SUBMITTED", "ACCEPTED", "PARTIALLY_FILLED"]
        assert column(events, "time") == ["01:40:00"] * 3
        assert column(table(app, "timeline-fills"), "trade id") == ["5003"]
        assert app.screen.query_one(OrderTimeline).order.client_order_id == "sma_cross-BTCUSDT-3"


async def test_clicking_an_order_shows_its_timeline() -> None:
    app = OrdersApp(sample_view())
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        orders = table(app, "orders-table")
        await pilot.click(orders, offset=(3, 4))  # header, then the 4th order
        await pilot.pause()
        assert cursor_key(orders) == "sma_cross-BTCUSDT-4"
        assert "insufficient balance" in timeline_title(app)
        assert column(table(app, "timeline-fills"), "trade id") == []


async def test_enter_on_a_fill_goes_to_its_order() -> None:
    app = OrdersApp(sample_view())
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("l")
        await pilot.pause()
        assert app.screen.query_one(TabbedContent).active == "fills-pane"
        await pilot.press("down", "enter")
        await pilot.pause()
        assert app.screen.query_one(TabbedContent).active == "orders-pane"
        assert cursor_key(table(app, "orders-table")) == "sma_cross-BTCUSDT-2"
        assert "sma_cross-BTCUSDT-2" in timeline_title(app)


async def test_an_update_keeps_the_cursor_on_its_order_and_refreshes_the_row() -> None:
    view = sample_view()
    app = OrdersApp(view)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("down", "down")
        await pilot.pause()
        orders = table(app, "orders-table")
        assert cursor_key(orders) == "sma_cross-BTCUSDT-3"
        filled = msgspec.structs.replace(
            view.orders[2], status="FILLED", filled=Decimal("0.02"), updated_ts=T0 + 106 * MINUTE
        )
        new = msgspec.structs.replace(
            view.orders[0], client_order_id="sma_cross-BTCUSDT-5", submitted_ts=T0 + 118 * MINUTE
        )
        events = (
            *view.order_events,
            OrderEvent(client_order_id=filled.client_order_id, ts=filled.updated_ts,
                       status="FILLED", detail="filled 0.015 @ 41800.00"),
        )  # fmt: skip
        updated = msgspec.structs.replace(
            view,
            version=2,
            orders=(*view.orders[:2], filled, view.orders[3], new),
            order_events=events,
        )
        app.screen.show(updated)
        await pilot.pause()
        assert orders.cursor_row == 2
        assert cursor_key(orders) == "sma_cross-BTCUSDT-3"
        assert column(orders, "status")[2] == "FILLED"
        assert keys(orders)[-1] == "sma_cross-BTCUSDT-5"
        timeline = column(table(app, "timeline-events"), "detail")
        assert timeline[-1] == "filled 0.015 @ 41800.00"


async def test_an_update_keeps_cursor_and_scroll_while_old_orders_leave_the_history() -> None:
    view = many_orders_view(60)
    app = OrdersApp(view)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        orders = table(app, "orders-table")
        orders.focus()
        await pilot.press(*["down"] * 40)
        await pilot.pause()
        assert cursor_key(orders) == "sma_cross-BTCUSDT-41"
        scroll_before = orders.scroll_y
        assert scroll_before > 0
        appended = many_orders_view(61)
        app.screen.show(msgspec.structs.replace(appended, version=2))
        await pilot.pause()
        assert cursor_key(orders) == "sma_cross-BTCUSDT-41"
        assert orders.scroll_y == scroll_before
        # the view's bounded history drops the oldest order as a new one arrives
        shifted = with_orders(appended, many_orders_view(62).orders[2:], version=3)
        app.screen.show(shifted)
        await pilot.pause()
        assert cursor_key(orders) == "sma_cross-BTCUSDT-41"
        assert orders.cursor_row == 38
        assert orders.scroll_y == scroll_before - 2


async def test_a_view_with_the_same_tuples_does_not_touch_the_tables(monkeypatch) -> None:
    view = sample_view()
    app = OrdersApp(view)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        calls: list[str] = []
        monkeypatch.setattr(
            orders_module, "sync_keeping_cursor", lambda table, rows: calls.append(table.id)
        )
        app.screen.show(msgspec.structs.replace(view, version=2))
        await pilot.pause()
        assert calls == []
        app.screen.show(msgspec.structs.replace(view, version=3, fills=view.fills[:2]))
        assert calls == ["fills-table"]


async def test_times_off_the_data_day_show_their_date() -> None:
    view = sample_view()
    early = msgspec.structs.replace(view.orders[0], submitted_ts=T0 - MINUTE)
    app = OrdersApp(with_orders(view, (early, *view.orders[1:]), version=1))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        submitted = column(table(app, "orders-table"), "submitted")
        assert submitted[:2] == ["2023-12-31 23:59:00", "01:00:00"]


def test_orders_screen_snapshot(snap_compare) -> None:
    async def choose_third_order(pilot) -> None:
        await pilot.pause()
        await pilot.press("down", "down")
        await pilot.pause()

    assert snap_compare(
        OrdersApp(sample_view()), terminal_size=(100, 30), run_before=choose_third_order
    )


def test_orders_screen_fills_tab_snapshot(snap_compare) -> None:
    assert snap_compare(OrdersApp(sample_view()), terminal_size=(100, 30), press=["l"])
