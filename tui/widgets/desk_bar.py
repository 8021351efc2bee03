"""The bar on top of every desk screen: clickable tabs, the mode and the risk state.

The app mounts one into each screen it shows, so the screens themselves stay
about their own content; the risk state (and LIVE) are visible whatever screen
the operator is on, which matters most right after pressing halt.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.message import Message
from textual.widgets import Static

__all__ = ["RISK_STYLES", "DeskBar", "DeskTab"]


# How a risk state reads at a glance, wherever it is shown.
RISK_STYLES = {
    "ACTIVE": "bold black on green",
    "REDUCING": "bold black on yellow",
    "HALTED": "bold white on red",
}


class DeskTab(Static):
    """One tab: its key and title; a click selects its screen."""

    def __init__(self, screen_name: str, key: str, title: str) -> None:
        super().__init__(f"{key} {title}", id=f"tab-{screen_name}", classes="desk-tab")
        self.screen_name = screen_name

    def on_click(self, event: events.Click) -> None:
        event.stop()
        self.post_message(DeskBar.Selected(self.screen_name))


class DeskBar(Horizontal):
    @dataclass
    class Selected(Message):
        """A tab was clicked: the app switches to ``screen_name``."""

        screen_name: str

    def __init__(self, tabs: tuple[tuple[str, str], ...], active: str) -> None:
        """``tabs``: (screen name, title) in key order (1, 2, ...)."""
        super().__init__(classes="desk-bar")
        self._tabs = tabs
        self._active = active
        self._shown: tuple[str, str] | None = None

    def compose(self) -> ComposeResult:
        for index, (name, title) in enumerate(self._tabs, start=1):
            tab = DeskTab(name, str(index), title)
            tab.set_class(name == self._active, "-active")
            yield tab
        yield Static("connecting…", id="desk-status", markup=False)

    def show_state(self, mode: str, risk_state: str) -> None:
        if self._shown == (mode, risk_state):
            return
        self._shown = (mode, risk_state)
        status = self.query_one("#desk-status", Static)
        text = Text(no_wrap=True, overflow="ellipsis", justify="right")
        text.append(f" {mode.upper()} ", style="bold white on red" if mode == "live" else "bold")
        text.append(" ")
        text.append(f" {risk_state} ", style=RISK_STYLES.get(risk_state, "bold"))
        status.update(text)

    def show_status(self, status: str) -> None:
        """Connecting, or why the session cannot be reached."""
        self._shown = None
        self.query_one("#desk-status", Static).update(
            Text(status, style="bold yellow", no_wrap=True, overflow="ellipsis", justify="right")
        )
