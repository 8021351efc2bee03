"""The one-line key footer: the keys that work here, each one clickable.

Textual's own ``Footer`` rebuilds one widget per key whenever the bindings
change (every screen switch and focus move), and with six screens' styles
loaded that cost about a hundred milliseconds per switch. This footer is one
``Static``: it redraws its line only when the text changes, and a click on a
key presses that key.
"""

from __future__ import annotations

from textual.content import Content
from textual.screen import Screen
from textual.widgets import Static

__all__ = ["KeyFooter"]


class KeyFooter(Static):
    def __init__(self) -> None:
        super().__init__("", classes="key-footer")
        self._shown: Content | None = None

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self._bindings_changed)
        self._bindings_changed(self.screen)

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)

    def _bindings_changed(self, screen: Screen[object]) -> None:
        if screen is not self.screen:
            return
        parts: list[Content] = []
        for key, active in screen.active_bindings.items():
            binding = active.binding
            if not binding.show:
                continue
            style = "" if active.enabled else "dim"
            parts.append(
                Content.assemble(
                    (
                        f" {self.app.get_key_display(binding)} ",
                        f"bold $footer-key-foreground on $footer-key-background {style}",
                    ),
                    (f"{binding.description} ", style),
                ).stylize(f"@click=press({key!r})")
            )
        line = Content(" ").join(parts)
        if line != self._shown:
            self._shown = line
            self.update(line)

    def action_press(self, key: str) -> None:
        self.app.simulate_key(key)
