"""What every desk screen is: a Textual screen that shows ``DeskView``s as they come."""

from __future__ import annotations

from textual.screen import Screen

from tui.view import DeskView

__all__ = ["DeskScreen"]


class DeskScreen(Screen[None]):
    """The app calls ``show`` on the active screen with each new view (at most ten
    times a second) and once when the screen becomes active. A screen updates its
    widgets from the view and nothing else: it never reaches into the session."""

    def show(self, view: DeskView) -> None:
        raise NotImplementedError
