"""The yes/no question asked before a paper-mode control that trades.

Keyboard (y, n, escape) and mouse (the two buttons) both answer; the screen's
result is True only for an explicit yes, so anything else (escape, a click
outside the question) leaves the session alone.
"""

from __future__ import annotations

from typing import ClassVar

from textual import events
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from tui.widgets.key_footer import KeyFooter

__all__ = ["ConfirmScreen"]


class ConfirmScreen(ModalScreen[bool]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "Yes"),
        Binding("n", "answer(False)", "No"),
        Binding("escape", "answer(False)", "Cancel"),
        Binding("h", "app.halt", "Halt"),  # a question never blocks the kill switch
    ]

    def __init__(self, question: str) -> None:
        super().__init__(classes="confirm")
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-dialog", classes="dialog"):
            yield Static(self.question, id="confirm-question", markup=False)
            with Horizontal(classes="dialog-buttons"):
                yield Button("Yes (y)", id="confirm-yes", variant="error")
                yield Button("No (n)", id="confirm-no", variant="primary")
        yield KeyFooter()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "confirm-yes")

    def on_click(self, event: events.Click) -> None:
        """A click outside the dialog declines, as escape does."""
        if event.widget is self:
            self.dismiss(False)

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)
