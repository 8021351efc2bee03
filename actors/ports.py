"""Ports: the only shapes through which actors use strategies and venues.

Actors depend on these Protocols, never on concrete classes in ``strategies/``
or ``venues/``, so a plug-in or an exchange adapter can be swapped without an
actor changing, and the dependency arrows of DESIGN.md §1 point one way.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from decimal import Decimal
from typing import Any, Protocol, runtime_checkable

import msgspec

from actors.messages import (
    Bar,
    Fill,
    Instrument,
    Message,
    OrderIntent,
    OrderStatusReport,
    PositionChanged,
    Side,
    SubmitOrder,
    TradeTick,
)

__all__ = ["Execution", "MarketData", "StrategyContext", "StrategyPlugin"]


class StrategyContext(Protocol):
    """What a strategy plug-in may know and do: its positions, its working orders,
    the instruments it trades, and the clock. Nothing else of the system."""

    def now(self) -> int: ...

    def instrument(self, symbol: str) -> Instrument: ...

    def position(self, symbol: str) -> Decimal: ...

    def working(self, symbol: str) -> Decimal:
        """Signed quantity of this strategy's orders on ``symbol`` not yet filled."""
        ...

    def market(self, symbol: str, side: Side, quantity: Decimal, tag: str = "") -> OrderIntent:
        """A market-order intent, quantity floored to the lot."""
        ...

    def quantity_for_notional(self, symbol: str, notional: Decimal, price: float) -> Decimal:
        """How much ``notional`` buys at ``price``, floored to the lot."""
        ...

    def signal(self, symbol: str, name: str, value: float) -> None:
        """Record a named observation (published as a ``Signal``)."""
        ...


Decisions = Sequence[OrderIntent] | None


@runtime_checkable
class StrategyPlugin(Protocol):
    """A strategy: sees bars (and ticks when ``wants_ticks``), its fills and positions,
    and returns ``OrderIntent``s. It never sends an order itself: risk decides.

    What it remembers between calls (indicator windows, counters) is its state: a
    ``state_type`` Struct that ``snapshot`` returns and ``restore`` takes back on a fresh
    instance built with the same parameters, before any message, so that after a
    recovery it decides exactly as it would have (None for a plug-in without state).
    The host carries it in its own snapshot, keyed by the plug-in's ``name``.
    """

    name: str
    symbols: Sequence[str]
    interval: str
    wants_ticks: bool
    state_type: type[msgspec.Struct] | None

    def snapshot(self) -> msgspec.Struct | None: ...

    def restore(self, state: Any) -> None: ...

    def on_bar(self, bar: Bar, ctx: StrategyContext) -> Decisions: ...

    def on_trade_tick(self, tick: TradeTick, ctx: StrategyContext) -> Decisions: ...

    def on_fill(self, fill: Fill, ctx: StrategyContext) -> Decisions: ...

    def on_position(self, position: PositionChanged, ctx: StrategyContext) -> Decisions: ...

    def indicators(self, symbol: str) -> Mapping[str, float]:
        """The plug-in's indicator values for ``symbol`` now (empty when it has none or
        they are not ready): what a chart draws beside the bars."""
        ...


class MarketData(Protocol):
    """History and live streams of one venue (DESIGN.md §7)."""

    async def history(self, symbol: str, start: int, end: int, interval: str) -> Any: ...

    def stream(self, symbols: Sequence[str]) -> AsyncIterator[Message]: ...


class Execution(Protocol):
    """Order entry and account state of one venue (DESIGN.md §7)."""

    async def submit(self, order: SubmitOrder) -> None: ...

    async def cancel(self, client_order_id: str, symbol: str) -> None: ...

    async def order(self, client_order_id: str, symbol: str) -> OrderStatusReport: ...

    async def open_orders(self) -> Sequence[OrderStatusReport]: ...

    async def trades(self, since: int) -> Sequence[Fill]: ...

    async def balances(self) -> dict[str, Decimal]: ...
