"""The typed confirmation asked before a live-mode control that trades.

In live mode a stray key must never move real money, so the operator types the
word the dialog names (e.g. FLATTEN) and presses enter or the button; any other
text is refused and the dialog closes with False. Typing happens in an Input,
so the desk's single-key controls cannot fire meanwhile; ctrl+k (halt) still can.
"""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static

from tui.widgets.key_footer import KeyFooter

__all__ = ["TypedConfirmScreen"]


class TypedConfirmScreen(ModalScreen[bool]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]
    AUTO_FOCUS = "#typed-word"

    def __init__(self, question: str, word: str) -> None:
        super().__init__(classes="confirm")
        self.question = question
        self.word = word

    def compose(self) -> ComposeResult:
        with Vertical(id="typed-dialog", classes="dialog -live"):
            yield Static("LIVE — REAL MONEY", id="typed-banner")
            yield Static(self.question, id="typed-question", markup=False)
            yield Static(
                f"Type {self.word} and press enter to confirm (ctrl+k halts at any time).",
                markup=False,
            )
            yield Input(placeholder=self.word, id="typed-word")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Confirm", id="typed-confirm", variant="error")
                yield Button("Cancel (esc)", id="typed-cancel", variant="primary")
        yield KeyFooter()

    def _answer(self) -> None:
        self.dismiss(self.query_one("#typed-word", Input).value.strip() == self.word)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._answer()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "typed-confirm":
            self._answer()
        else:
            self.dismiss(False)

    def action_cancel(self) -> None:
        self.dismiss(False)
