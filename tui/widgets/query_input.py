"""The SQL console's query line: an ``Input`` that recalls earlier queries with up and down.

Up and down are free in a one-line input, so they walk the history as in a
shell: up goes back, down comes forward and, past the newest, back to what was
being typed before the walk began.
"""

from __future__ import annotations

from typing import ClassVar

from textual.binding import Binding, BindingType
from textual.widgets import Input

__all__ = ["QueryInput"]


class QueryInput(Input):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "history_back", "Previous query", show=False),
        Binding("down", "history_forward", "Next query", show=False),
    ]

    def __init__(self, *, placeholder: str = "", id: str | None = None) -> None:
        super().__init__(placeholder=placeholder, id=id)
        self.history: list[str] = []
        self._position = 0
        self._draft = ""

    def remember(self, query: str) -> None:
        """Add ``query`` as the newest entry (moved there if it was already in)."""
        if query in self.history:
            self.history.remove(query)
        self.history.append(query)
        self._position = len(self.history)
        self._draft = ""

    def action_history_back(self) -> None:
        if self._position == 0:
            return
        if self._position == len(self.history):
            self._draft = self.value
        self._position -= 1
        self._recall(self.history[self._position])

    def action_history_forward(self) -> None:
        if self._position >= len(self.history):
            return
        self._position += 1
        recalled = (
            self._draft if self._position == len(self.history) else self.history[self._position]
        )
        self._recall(recalled)

    def _recall(self, query: str) -> None:
        self.value = query
        self.cursor_position = len(query)
