"""The UI's one way to a session: read its newest ``DeskView``, send it commands.

A ``DeskLink`` hides where the session runs: ``RemoteDesk`` (``tui.remote``) talks
to a session served by ``tickdeck serve`` (``tickdeck`` itself starts one in a
child process and attaches to it), and tests host one on a thread. The UI polls
``view()`` on its own timer (at most ten redraws a second) instead of being
pushed every change: a busy market costs the UI nothing extra.

Commands are catalog messages (``COMMANDS``); the UI sends them with ``ts=0`` and
the session stamps them with its clock, publishes them on its bus, and so
journals them like anything else.
"""

from __future__ import annotations

from typing import Protocol

from actors.messages import (
    Cancel,
    CancelAll,
    FlattenAll,
    Halt,
    PauseStrategy,
    Reconcile,
    Resume,
    ResumeStrategy,
    SaveSnapshot,
)
from tui.view import DeskView

__all__ = ["COMMANDS", "Command", "DeskLink", "LinkError"]

Command = (
    Halt | Resume | FlattenAll | CancelAll | Cancel | PauseStrategy | ResumeStrategy
    | SaveSnapshot | Reconcile
)  # fmt: skip
COMMANDS: tuple[type[Command], ...] = (
    Halt, Resume, FlattenAll, CancelAll, Cancel, PauseStrategy, ResumeStrategy,
    SaveSnapshot, Reconcile,
)  # fmt: skip


class LinkError(RuntimeError):
    """The session cannot be reached (stopped, or the control API refused us)."""


class DeskLink(Protocol):
    def view(self) -> DeskView | None:
        """The newest view of the session (None until its first)."""
        ...

    async def command(self, command: Command) -> None:
        """Publish ``command`` on the session's bus; raises ``LinkError`` if it cannot."""
        ...
