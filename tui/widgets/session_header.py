"""The session's header: which session, where, since when; and the LIVE banner.

In live mode a full-width red banner sits above everything else on the
overview: a real-money session must never be mistaken for a paper one,
whatever the terminal's colours.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

from tui.view import SessionInfo

__all__ = ["SessionHeader", "format_uptime"]

LIVE_BANNER = "▲ LIVE — REAL MONEY — ORDERS GO TO THE VENUE ▲"


def format_uptime(seconds: float) -> str:
    whole = int(seconds)
    days, rest = divmod(whole, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, secs = divmod(rest, 60)
    clock = f"{hours:d}h{minutes:02d}m{secs:02d}s"
    return f"{days}d{clock}" if days else clock


class SessionHeader(Vertical):
    """Shows a ``SessionInfo``, or a status line ("connecting…", "unreachable…")."""

    def compose(self) -> ComposeResult:
        yield Static(LIVE_BANNER, id="live-banner")
        yield Static("connecting…", id="session-line", markup=False)
        yield Static("", id="session-detail", markup=False)

    def show(self, session: SessionInfo) -> None:
        self.set_class(session.mode == "live", "-live")
        line = Text(no_wrap=True, overflow="ellipsis")
        line.append(f" {session.mode.upper()} ", style="bold reverse")
        line.append(f" {session.name}  ")
        line.append(session.state, style="bold")
        if session.stop_reason:
            line.append(f" ({session.stop_reason})")
        line.append(f"  up {format_uptime(session.uptime_seconds)}")
        detail = Text(no_wrap=True, overflow="ellipsis")
        detail.append(f"{' '.join(session.symbols)} {session.interval} · {session.venue}")
        detail.append(f" · reconciliation {session.reconciliation}")
        self.query_one("#session-line", Static).update(line)
        self.query_one("#session-detail", Static).update(detail)

    def show_status(self, status: str) -> None:
        """Before the first view, or when the session cannot be reached."""
        self.query_one("#session-line", Static).update(Text(status, style="bold yellow"))
