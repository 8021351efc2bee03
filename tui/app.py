"""The desk app: the six screens, the controls, and the one loop that feeds them views.

Rendering never waits on the session and the session never waits on rendering:
the app polls ``link.view()`` (non-blocking, the newest conflated view) every
``POLL_SECONDS`` and hands a view to the active screen only when its
``version`` changed, so a screen redraws at most ten times a second however
busy the market is, and not at all while nothing happens.

Controls are catalog commands sent through the link (so the session journals
them). Halt is the kill switch: ``ctrl+k`` works on every screen, even while
typing in a text field (a priority binding), and ``h`` wherever no text field
has the focus; it never asks. Every other control that trades asks first, a
yes/no in paper mode and a typed word in live mode (or while the mode is not
known yet), so a stray key cannot move real money. While a question is open the
other single-key controls wait (Textual's modal screens hold back the app's
bindings); halt does not: ctrl+k is a priority binding and the yes/no questions
bind ``h`` to it themselves.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import ClassVar

import structlog
from textual.app import App
from textual.binding import Binding, BindingType
from textual.screen import Screen

from actors.messages import (
    CancelAll,
    FlattenAll,
    Halt,
    PauseStrategy,
    Resume,
    ResumeStrategy,
)
from tui.link import Command, DeskLink
from tui.screens.backtests import BacktestLauncher, BacktestsScreen
from tui.screens.base import DeskScreen
from tui.screens.journal import JournalScreen
from tui.screens.market import MarketScreen
from tui.screens.orders import OrdersScreen
from tui.screens.overview import OverviewScreen
from tui.screens.sql import SqlScreen
from tui.view import DeskView, StrategyRow
from tui.widgets.confirm import ConfirmScreen
from tui.widgets.desk_bar import DeskBar
from tui.widgets.key_footer import KeyFooter
from tui.widgets.strategy_picker import StrategyPickerScreen
from tui.widgets.typed_confirm import TypedConfirmScreen

__all__ = ["SCREEN_TITLES", "DeskApp", "default_screens"]

log = structlog.get_logger(__name__)

SCREEN_TITLES: dict[str, str] = {
    "overview": "Overview",
    "orders": "Orders",
    "market": "Market",
    "sql": "SQL",
    "backtests": "Backtests",
    "journal": "Journal",
}


def default_screens(backtest_launcher: BacktestLauncher | None = None) -> dict[str, DeskScreen]:
    """The six desk screens in key order (1..6)."""
    return {
        "overview": OverviewScreen(),
        "orders": OrdersScreen(),
        "market": MarketScreen(),
        "sql": SqlScreen(),
        "backtests": BacktestsScreen(backtest_launcher),
        "journal": JournalScreen(),
    }


class DeskApp(App[None]):
    CSS_PATH = "desk.tcss"
    TITLE = "tickdeck"
    ENABLE_COMMAND_PALETTE = False
    POLL_SECONDS: ClassVar[float] = 0.1
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+k", "halt", "Halt", priority=True),
        Binding("h", "halt", "Halt", show=False),
        Binding("f", "flatten_all", "Flatten"),
        Binding("c", "cancel_all", "Cancel all"),
        Binding("r", "resume", "Resume"),
        Binding("p", "pause_strategy", "Pause/resume"),
        *(Binding(str(index), f"switch_index({index})", show=False) for index in range(1, 7)),
        Binding("ctrl+q", "quit", "Quit", priority=True),
    ]

    def __init__(
        self,
        link: DeskLink,
        *,
        screens: Mapping[str, DeskScreen] | None = None,
        backtest_launcher: BacktestLauncher | None = None,
    ) -> None:
        super().__init__()
        self.link = link
        self.desk_screens: dict[str, DeskScreen] = (
            dict(screens) if screens is not None else default_screens(backtest_launcher)
        )
        self.active_name = next(iter(self.desk_screens))
        self.view: DeskView | None = None
        self._shown_version: int | None = None
        self._status = "connecting…"

    @property
    def active_screen(self) -> DeskScreen:
        """The desk screen on show (a question may be open above it)."""
        return self.desk_screens[self.active_name]

    async def on_mount(self) -> None:
        for name, screen in self.desk_screens.items():
            self.install_screen(screen, name)
        await self.push_screen(self.active_name)
        await self._dress(self.active_name)
        self.poll()
        self.set_interval(self.POLL_SECONDS, self.poll)

    async def _dress(self, name: str) -> None:
        """Give screen ``name`` the app's tab bar and key footer (once)."""
        screen = self.desk_screens[name]
        if not screen.query(DeskBar):
            titles = tuple((tab, SCREEN_TITLES.get(tab, tab.title())) for tab in self.desk_screens)
            await screen.mount(DeskBar(titles, active=name))
        if not screen.query(KeyFooter):
            await screen.mount(KeyFooter())

    def poll(self) -> None:
        """Take the link's newest view; redraw the active screen if it is new."""
        if not self.is_running:  # shutting down: the screens are being taken apart
            return
        try:
            view = self.link.view()
        except Exception as error:  # whatever the transport raises: say so, keep polling
            self._set_status(f"session unreachable: {error}")
            return
        if view is None:
            self._set_status("connecting…")
            return
        self.view = view
        if self._status:
            self._status = ""
            self._shown_version = None  # draw over the status, even if the view is not new
        if view.version != self._shown_version:
            self._redraw(view)

    def _set_status(self, status: str) -> None:
        if status != self._status:
            self._show_status(status)

    def _redraw(self, view: DeskView) -> None:
        screen = self.active_screen
        self._shown_version = view.version
        for bar in screen.query(DeskBar):
            bar.show_state(view.session.mode, view.risk.state)
        try:
            screen.show(view)
        except Exception as error:  # a drawing bug must not take the halt key with it
            log.exception("tui.show_failed", screen=self.active_name)
            for bar in screen.query(DeskBar):
                bar.show_status(f"{self.active_name} failed to draw: {error!r}")

    def _show_status(self, status: str) -> None:
        self._status = status
        screen = self.active_screen
        for bar in screen.query(DeskBar):
            bar.show_status(status)
        if isinstance(screen, OverviewScreen):
            screen.show_status(status)

    # --- screens -----------------------------------------------------------------

    async def switch_to(self, name: str) -> None:
        """Make ``name`` the active screen and show it the newest view at once."""
        if name == self.active_name or name not in self.desk_screens:
            return
        await self.switch_screen(name)
        self.active_name = name
        await self._dress(name)
        self._shown_version = None
        if self.view is None or self._status:
            self._show_status(self._status)
        else:
            self._redraw(self.view)

    async def action_switch_index(self, index: int) -> None:
        names = list(self.desk_screens)
        if 1 <= index <= len(names):
            await self.switch_to(names[index - 1])

    async def on_desk_bar_selected(self, message: DeskBar.Selected) -> None:
        await self.switch_to(message.screen_name)

    # --- controls ----------------------------------------------------------------

    async def action_halt(self) -> None:
        await self._send(Halt(ts=0), "halt")

    def action_flatten_all(self) -> None:
        self._ask(
            "Flatten all: close every position at market?", "FLATTEN", FlattenAll(ts=0),
            "flatten all",
        )  # fmt: skip

    def action_cancel_all(self) -> None:
        self._ask("Cancel every open order?", "CANCEL", CancelAll(ts=0), "cancel all")

    def action_resume(self) -> None:
        self._ask("Resume trading: risk back to ACTIVE?", "RESUME", Resume(ts=0), "resume")

    async def action_pause_strategy(self) -> None:
        strategies = self.view.strategies if self.view is not None else ()
        if not strategies:
            self.notify("no strategy to pause or resume", severity="warning")
            return
        if len(strategies) == 1:
            await self._toggle_strategy(strategies[0])
            return

        async def picked(name: str | None) -> None:
            row = next((row for row in strategies if row.name == name), None)
            if row is not None:
                await self._toggle_strategy(row)

        self.push_screen(StrategyPickerScreen(strategies), picked)

    async def _toggle_strategy(self, row: StrategyRow) -> None:
        """Pausing only stops new decisions, so paper mode does it without asking;
        live mode still wants the typed word, as for every control that trades."""
        if row.paused:
            command: Command = ResumeStrategy(ts=0, strategy=row.name)
            verb = "resume"
        else:
            command = PauseStrategy(ts=0, strategy=row.name)
            verb = "pause"
        label = f"{verb} {row.name}"
        if self._live:
            self._ask(f"{verb.title()} strategy {row.name}?", verb.upper(), command, label)
        else:
            await self._send(command, label)

    @property
    def _live(self) -> bool:
        """Live, or not known yet: ask as for live."""
        return self.view is None or self.view.live

    def _ask(self, question: str, word: str, command: Command, label: str) -> None:
        screen: Screen[bool] = (
            TypedConfirmScreen(question, word) if self._live else ConfirmScreen(question)
        )
        self.push_screen(screen, self._on_answer(command, label))

    def _on_answer(self, command: Command, label: str) -> Callable[[bool | None], Awaitable[None]]:
        async def answered(yes: bool | None) -> None:
            if yes:
                await self._send(command, label)
            else:
                self.notify(f"{label}: not confirmed, nothing sent", severity="warning")

        return answered

    async def _send(self, command: Command, label: str) -> None:
        try:
            await self.link.command(command)
        except Exception as error:  # LinkError, or whatever the transport raised
            log.warning("tui.command_failed", command=type(command).__name__, error=str(error))
            self.notify(f"{label} failed: {error}", title="not sent", severity="error")
            return
        self.notify(f"{label} sent", title="command")
        self.poll()
