"""The overview: is the session healthy, what does it hold, how close is it to a limit.

At 80x24 the first screenful answers the urgent questions (risk state, equity,
today's loss against its limit, each limit's usage, the equity curve); the
rest (actor health, positions, open orders, fills, alerts, the log) scrolls
below. From 120 columns the sections sit in two columns, so more shows at once.

Each section keeps the tuple it last drew and skips the work when the view
brings the same one back (the session shares unchanged tuples between views),
so a view at 10 Hz costs only what actually changed.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import DataTable, Input, Label, Select, Static

from tui.screens.base import DeskScreen
from tui.view import (
    ActorRow,
    AlertRow,
    DeskView,
    FillRow,
    LogLine,
    OrderRow,
    PositionRow,
)
from tui.widgets.desk_bar import RISK_STYLES
from tui.widgets.equity_chart import EquityChart
from tui.widgets.limit_bars import LimitBars
from tui.widgets.row_sync import Cell, sync_rows
from tui.widgets.session_header import SessionHeader

__all__ = ["LOG_LEVELS", "OverviewScreen", "log_matches"]

LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
_FILLS_SHOWN = 10
_ALERTS_SHOWN = 10
_LOGS_SHOWN = 50
_LEVEL_STYLES = {"warning": "yellow", "error": "bold red", "critical": "bold white on red"}
_STALE_HEARTBEAT_SECONDS = 5.0


def log_matches(line: LogLine, minimum_level: str, text: str) -> bool:
    """Whether the log filter keeps ``line``: at least ``minimum_level`` ("" = any) and
    containing ``text`` (case-insensitive) in its level, event or details."""
    if minimum_level and _level_rank(line.level) < _level_rank(minimum_level):
        return False
    needle = text.strip().lower()
    return not needle or needle in f"{line.level} {line.event} {line.text}".lower()


def _level_rank(level: str) -> int:
    lowered = level.lower()
    return LOG_LEVELS.index(lowered) if lowered in LOG_LEVELS else 0


def _clock(ts_ns: int) -> str:
    return datetime.fromtimestamp(ts_ns / 1e9, UTC).strftime("%H:%M:%S")


def _wall_clock(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%H:%M:%S")


def _money(value: Decimal) -> str:
    return f"{value:,.2f}"


def _signed(value: Decimal) -> Text:
    style = "green" if value > 0 else "red" if value < 0 else ""
    return Text(f"{value:+,.2f}", style=style)


def _side(side: str) -> Text:
    return Text(side, style="green" if side == "BUY" else "red")


def _health_cells(row: ActorRow) -> list[Cell]:
    running = row.state == "running"
    stale = row.heartbeat_age_seconds > _STALE_HEARTBEAT_SECONDS
    return [
        row.name,
        Text(row.state, style="" if running else "bold red"),
        Text(str(row.restarts), style="yellow" if row.restarts else ""),
        f"{row.depth}/{row.capacity}",
        str(row.peak),
        f"{row.messages_per_second:,.1f}",
        Text(f"{row.heartbeat_age_seconds:.1f}s", style="yellow" if stale else ""),
        Text(row.last_error, style="red"),
    ]


def _position_cells(row: PositionRow) -> list[Cell]:
    # Display only: the accountant's Decimal figures are the ones that count.
    unrealized = float(row.quantity) * (row.last_price - float(row.average_price))
    return [
        row.symbol,
        str(row.quantity),
        _money(row.average_price),
        f"{row.last_price:,.2f}",
        Text(f"{unrealized:+,.2f}", style="green" if unrealized >= 0 else "red"),
        _signed(row.realized_pnl),
    ]


def _order_cells(row: OrderRow) -> list[Cell]:
    return [
        _clock(row.submitted_ts),
        row.client_order_id,
        _side(row.side),
        row.order_type,
        str(row.quantity),
        str(row.filled),
        "" if row.limit_price is None else _money(row.limit_price),
        row.status,
    ]


def _fill_cells(row: FillRow) -> list[Cell]:
    return [
        _clock(row.ts),
        row.symbol,
        _side(row.side),
        str(row.quantity),
        _money(row.price),
        f"{row.fee} {row.fee_asset}",
        row.liquidity,
    ]


def _alert_cells(row: AlertRow) -> list[Cell]:
    return [
        _clock(row.ts),
        Text(row.level, style=_LEVEL_STYLES.get(row.level, "")),
        row.source,
        row.text,
    ]


def _log_cells(line: LogLine) -> list[Cell]:
    return [
        _wall_clock(line.wall),
        Text(line.level, style=_LEVEL_STYLES.get(line.level.lower(), "")),
        line.event,
        line.text,
    ]


def _table(table_id: str, *columns: str) -> DataTable[Cell]:
    table: DataTable[Cell] = DataTable(
        id=table_id, classes="overview-table", cursor_type="row", zebra_stripes=True
    )
    table.add_columns(*columns)
    return table


class OverviewScreen(DeskScreen):
    HORIZONTAL_BREAKPOINTS: ClassVar[list[tuple[int, str]] | None] = [
        (0, "-narrow"),
        (120, "-wide"),
    ]
    AUTO_FOCUS = "#overview-body"

    def __init__(self) -> None:
        super().__init__(id="overview")
        self._drawn: dict[str, Any] = {}
        self._view: DeskView | None = None

    def compose(self) -> ComposeResult:
        yield SessionHeader(id="session-header")
        with VerticalScroll(id="overview-body"), Horizontal(id="overview-columns"):
            with Vertical(id="overview-left", classes="overview-column"):
                yield Static("risk —", id="risk-state", markup=False)
                yield Static("", id="account-summary", markup=False)
                yield LimitBars(id="limit-bars")
                yield Label("Equity and drawdown", classes="section-title")
                yield EquityChart(id="equity-chart")
                yield Label("Positions", classes="section-title")
                yield _table("positions", "symbol", "qty", "avg", "last", "uPnL", "rPnL")
                yield Label("Open orders", classes="section-title")
                yield _table(
                    "open-orders", "time", "id", "side", "type", "qty", "filled", "limit",
                    "status",
                )  # fmt: skip
                yield Label("Latest fills", classes="section-title")
                yield _table("fills", "time", "symbol", "side", "qty", "price", "fee", "liq")
            with Vertical(id="overview-right", classes="overview-column"):
                yield Label("Actors", classes="section-title")
                yield _table(
                    "health", "actor", "state", "rst", "inbox", "peak", "msg/s", "beat",
                    "last error",
                )  # fmt: skip
                yield Label("Alerts (newest first)", classes="section-title")
                yield _table("alerts", "time", "level", "source", "text")
                yield Label("Log (newest first)", classes="section-title")
                with Horizontal(id="log-filter"):
                    yield Select(
                        [(f"{level}+", level) for level in LOG_LEVELS[1:4]],
                        prompt="any level",
                        id="log-level",
                        compact=True,
                    )
                    yield Input(placeholder="filter the log…", id="log-text", compact=True)
                yield _table("logs", "time", "level", "event", "details")

    def show(self, view: DeskView) -> None:
        self._view = view
        self.query_one(SessionHeader).show(view.session)
        self._show_risk(view)
        self._once("health", view.health, self._show_health)
        self._once("positions", view.positions, self._show_positions)
        self._once("orders", view.orders, self._show_orders)
        self._once("fills", view.fills, self._show_fills)
        self._once("alerts", view.alerts, self._show_alerts)
        self._once("logs", view.logs, self._show_logs)
        self.query_one(EquityChart).points = view.equity

    def show_status(self, status: str) -> None:
        """What the app says while there is no view to show (connecting, unreachable)."""
        self.query_one(SessionHeader).show_status(status)

    def _once(self, section: str, rows: tuple[Any, ...], draw: Callable[[Any], None]) -> None:
        if self._drawn.get(section) is rows:
            return
        self._drawn[section] = rows
        draw(rows)

    def _show_risk(self, view: DeskView) -> None:
        risk, account = view.risk, view.account
        if self._drawn.get("risk") == (risk, account):
            return
        self._drawn["risk"] = (risk, account)
        state = Text(no_wrap=True, overflow="ellipsis")
        state.append("risk ")
        state.append(f" {risk.state} ", style=RISK_STYLES.get(risk.state, "bold"))
        if risk.reason:
            state.append(f" {risk.reason}")
        state.append("   equity ")
        state.append(f"{_money(account.equity)} {view.session.quote_asset}", style="bold")
        state.append("   today ")
        state.append_text(_signed(account.day_pnl))
        self.query_one("#risk-state", Static).update(state)
        summary = Text(no_wrap=True, overflow="ellipsis", style="dim")
        summary.append(
            f"cash {_money(account.cash)} · realized {account.realized_pnl:+,.2f}"
            f" · unrealized {account.unrealized_pnl:+,.2f} · fees {_money(account.fees)}"
            f" · exposure {_money(account.gross_exposure)}"
        )
        self.query_one("#account-summary", Static).update(summary)
        self.query_one(LimitBars).show(risk.limits, account)

    def _table(self, table_id: str) -> DataTable[Cell]:
        return self.query_one(f"#{table_id}", DataTable)

    def _show_health(self, rows: tuple[ActorRow, ...]) -> None:
        sync_rows(self._table("health"), [(row.name, _health_cells(row)) for row in rows])

    def _show_positions(self, rows: tuple[PositionRow, ...]) -> None:
        sync_rows(self._table("positions"), [(row.symbol, _position_cells(row)) for row in rows])

    def _show_orders(self, rows: tuple[OrderRow, ...]) -> None:
        open_orders = [row for row in rows if row.is_open]
        sync_rows(
            self._table("open-orders"),
            [(row.client_order_id, _order_cells(row)) for row in open_orders],
        )

    def _show_fills(self, rows: tuple[FillRow, ...]) -> None:
        latest = rows[-_FILLS_SHOWN:][::-1]
        sync_rows(
            self._table("fills"),
            [(f"{row.client_order_id}/{row.trade_id}", _fill_cells(row)) for row in latest],
        )

    def _show_alerts(self, rows: tuple[AlertRow, ...]) -> None:
        latest = rows[-_ALERTS_SHOWN:][::-1]
        sync_rows(
            self._table("alerts"),
            [(str(place), _alert_cells(row)) for place, row in enumerate(latest)],
        )

    def _show_logs(self, rows: tuple[LogLine, ...]) -> None:
        level = self.query_one("#log-level", Select).value
        minimum = level if isinstance(level, str) else ""
        text = self.query_one("#log-text", Input).value
        kept = [line for line in rows if log_matches(line, minimum, text)]
        latest = kept[-_LOGS_SHOWN:][::-1]
        sync_rows(
            self._table("logs"),
            [(str(place), _log_cells(line)) for place, line in enumerate(latest)],
        )

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "log-text" and self._view is not None:
            self._show_logs(self._view.logs)

    def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id == "log-level" and self._view is not None:
            self._show_logs(self._view.logs)
