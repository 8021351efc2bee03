"""The new-backtest form: what to run, prefilled, answered with a ``BacktestRequest`` or nothing.

The form checks only the shape of what is typed (a symbol, ``key=value``
parameters); whether the strategy, its parameters and the dates make a
backtest is the launcher's to say, with the settings' own messages, which the
Backtests screen shows where the run would appear.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

import msgspec
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid, Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

if TYPE_CHECKING:
    from tui.screens.backtests import BacktestRequest

__all__ = ["BacktestFormScreen", "format_params", "parse_params"]

_FIELDS = (
    ("strategy", "strategy"),
    ("symbols", "symbols"),
    ("interval", "interval"),
    ("start", "start"),
    ("end", "end (excl.)"),
    ("params", "params"),
)


def format_params(params: dict[str, str | int | float | bool]) -> str:
    """Parameters as the form shows them: ``key=value`` separated by spaces, sorted."""
    return " ".join(f"{key}={_text(params[key])}" for key in sorted(params))


def parse_params(text: str) -> dict[str, str]:
    """``fast=5 slow=20`` (spaces or commas between) as raw strings, typed by the launcher;
    raises ``ValueError`` naming a piece that is not ``key=value``."""
    params: dict[str, str] = {}
    for piece in text.replace(",", " ").split():
        key, equals, value = piece.partition("=")
        if not equals or not key or not value:
            raise ValueError(f"parameter {piece!r} is not key=value")
        params[key] = value
    return params


def _text(value: str | int | float | bool) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


class BacktestFormScreen(ModalScreen["BacktestRequest | None"]):
    """Dismissed with the request to run, or None when cancelled (escape)."""

    CSS_PATH = "backtest_form.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, request: BacktestRequest, title: str = "New backtest") -> None:
        super().__init__()
        self.request = request
        self.title_text = title

    def compose(self) -> ComposeResult:
        values = {
            "strategy": self.request.strategy,
            "symbols": ",".join(self.request.symbols),
            "interval": self.request.interval,
            "start": self.request.start,
            "end": self.request.end,
            "params": format_params(self.request.params),
        }
        with Vertical(id="form-box"):
            yield Static(self.title_text, id="form-title")
            with Grid(id="form-grid"):
                for name, label in _FIELDS:
                    yield Label(label)
                    yield Input(values[name], id=f"form-{name}", compact=True)
            yield Static("", id="form-error")
            with Horizontal(id="form-buttons"):
                yield Button("Run", variant="primary", id="form-run", compact=True)
                yield Button("Cancel", id="form-cancel", compact=True)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._submit()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "form-run":
            self._submit()
        else:
            self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)

    def _value(self, name: str) -> str:
        return self.query_one(f"#form-{name}", Input).value.strip()

    def _submit(self) -> None:
        symbols = tuple(s.strip().upper() for s in self._value("symbols").split(",") if s.strip())
        try:
            params = parse_params(self._value("params"))
            if not symbols:
                raise ValueError("give at least one symbol")
            if not self._value("strategy"):
                raise ValueError("give a strategy")
        except ValueError as error:
            self.query_one("#form-error", Static).update(str(error))
            return
        self.dismiss(
            msgspec.structs.replace(
                self.request,
                strategy=self._value("strategy"),
                symbols=symbols,
                interval=self._value("interval"),
                start=self._value("start"),
                end=self._value("end"),
                params=params,
            )
        )
