"""Each risk limit's usage as a bar, and today's PnL against the daily loss limit.

A limit is read at a glance by colour (green under half, yellow under 80 %, red
from there) and exactly by its numbers; eighth blocks give the bar a resolution
of 1/80 of the limit in ten cells.
"""

from __future__ import annotations

from decimal import Decimal

from rich.text import Text
from textual.widgets import Static

from tui.view import AccountView, LimitUsage

__all__ = ["LimitBars", "limit_style", "usage_bar"]

_EIGHTHS = " ▏▎▍▌▋▊▉"
_BAR_CELLS = 10
_NAME_WIDTH = 22


def usage_bar(fraction: float, cells: int = _BAR_CELLS) -> str:
    """``cells`` characters filled in proportion to ``fraction`` (clamped to [0, 1])."""
    eighths = round(min(max(fraction, 0.0), 1.0) * cells * 8)
    full, partial = divmod(eighths, 8)
    bar = "█" * full
    if partial:
        bar += _EIGHTHS[partial]
    return bar.ljust(cells, "·")


def limit_style(fraction: float) -> str:
    if fraction >= 0.8:
        return "bold red"
    if fraction >= 0.5:
        return "yellow"
    return "green"


def _number(value: Decimal) -> str:
    return f"{value:,.2f}" if value != value.to_integral_value() else f"{value:,.0f}"


def _line(name: str, fraction: float, used: Decimal, limit: Decimal) -> Text:
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append(name[:_NAME_WIDTH].ljust(_NAME_WIDTH) + " ")
    if limit <= 0:
        text.append("off", style="dim")
        return text
    style = limit_style(fraction)
    text.append(usage_bar(fraction), style=style)
    text.append(f" {fraction:4.0%} ", style=style)
    text.append(f"{_number(used)} / {_number(limit)}", style="dim")
    return text


class LimitBars(Static):
    """One line per limit of the risk view, then the day's loss against its limit."""

    def show(self, limits: tuple[LimitUsage, ...], account: AccountView) -> None:
        lines = [_line(limit.name, limit.fraction, limit.used, limit.limit) for limit in limits]
        loss = max(-account.day_pnl, Decimal(0))
        limit = account.daily_loss_limit
        fraction = float(loss / limit) if limit > 0 else 0.0
        lines.append(_line("loss today", fraction, loss, limit))
        self.update(Text("\n").join(lines))
