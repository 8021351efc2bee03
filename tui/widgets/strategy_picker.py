"""Which strategy to pause or resume, when the session runs more than one.

An OptionList answers to arrows + enter and to a click; each option says what
choosing it does (pause a running strategy, resume a paused one).
"""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from tui.view import StrategyRow
from tui.widgets.key_footer import KeyFooter

__all__ = ["StrategyPickerScreen"]


class StrategyPickerScreen(ModalScreen[str | None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel"),
        Binding("h", "app.halt", "Halt", show=False),  # a question never blocks the kill switch
    ]
    AUTO_FOCUS = "#strategy-options"

    def __init__(self, strategies: tuple[StrategyRow, ...]) -> None:
        super().__init__(classes="confirm")
        self.strategies = strategies

    def compose(self) -> ComposeResult:
        with Vertical(id="strategy-dialog", classes="dialog"):
            yield Static("Pause or resume which strategy?")
            yield OptionList(
                *(
                    Option(
                        f"resume {row.name} (paused)" if row.paused else f"pause {row.name}",
                        id=row.name,
                    )
                    for row in self.strategies
                ),
                id="strategy-options",
            )
        yield KeyFooter()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)
