"""The base class of strategy plug-ins: typed parameters, state snapshots, do-nothing defaults.

A plug-in declares its parameters as a msgspec Struct (``Params``), so a bad
``--param`` is refused before the run with the parameter's name and the reason,
and the resolved parameters can be written into the run's config.

State. A session snapshots every actor now and then, and after a crash restores
the newest snapshot into fresh actors and replays what came after it. A plug-in
that remembers anything between calls (an indicator's window, the last signal,
a counter) must hand that over, or a recovered session decides differently from
one that never stopped. Do it in three steps:

1. Declare the state as a frozen msgspec Struct and name it in ``state_type``.
   Fields are what the plug-in decides with, not its parameters (those come from
   the config again): Decimal, int, float, str, bool, enums, tuples, dicts keyed
   by str (or int), nested Structs, catalog messages. It travels as msgpack, so
   it must come back equal: no sets (use sorted tuples), no objects of your own.
2. ``snapshot()`` returns it, copying mutable containers (``dict(...)``,
   ``tuple(...)``): the snapshot must not change when the plug-in goes on.
3. ``restore(state)`` takes it back, again as copies. It runs on a fresh
   instance (``setup`` has run) before any message, without a context.

The README's breakout example, with its state::

    class BreakoutState(msgspec.Struct, frozen=True, kw_only=True):
        highs: dict[str, tuple[float, ...]]  # per symbol, the last highs, oldest first

    class Breakout(Strategy):
        kind = "breakout"
        Params = BreakoutParams
        state_type = BreakoutState

        def setup(self) -> None:
            self.highs: dict[str, list[float]] = {symbol: [] for symbol in self.symbols}

        def snapshot(self) -> BreakoutState:
            return BreakoutState(highs={s: tuple(h) for s, h in self.highs.items()})

        def restore(self, state: BreakoutState) -> None:
            self.highs = {s: list(h) for s, h in state.highs.items()}

        def on_bar(self, bar: Bar, ctx: StrategyContext) -> Decisions: ...  # unchanged

The indicators of ``strategies.indicators`` have ``snapshot``/``restore`` of their
own (``MovingAverageCross`` -> ``MovingAverageCrossState``): keep theirs in yours,
as ``strategies.sma_cross`` does.

A plug-in without state keeps the defaults (``state_type = None``). Test the
round trip the way the host's tests do: run a plug-in, snapshot it, encode and
decode the state (``msgspec.msgpack``, ``decimal_format="string"``), restore it
into a fresh plug-in, feed both the same bars: same decisions, same snapshots.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import msgspec

from actors.messages import Bar, Fill, PositionChanged, TradeTick
from actors.ports import Decisions, StrategyContext

__all__ = ["Strategy", "StrategyParameterError"]


class StrategyParameterError(ValueError):
    """A strategy parameter is unknown or has a bad value; the message names it."""


class Strategy:
    """Subclass, set ``kind`` and ``Params``, override the handlers you need."""

    kind: ClassVar[str] = ""
    Params: ClassVar[type[msgspec.Struct]]
    # The Struct ``snapshot`` returns and ``restore`` takes; None for a plug-in that
    # remembers nothing between calls.
    state_type: ClassVar[type[msgspec.Struct] | None] = None

    def __init__(
        self,
        params: Mapping[str, Any],
        symbols: Sequence[str],
        interval: str,
        name: str | None = None,
    ) -> None:
        self.params = self.parse_params(params)
        self.symbols = tuple(symbols)
        self.interval = interval
        self.name = name or self.kind
        self.wants_ticks = False
        self.setup()

    def setup(self) -> None:
        """Build indicators and per-symbol state; ``params`` and ``symbols`` are set."""

    def snapshot(self) -> msgspec.Struct | None:
        """This plug-in's state as a ``state_type`` Struct (None when it keeps none)."""
        return None

    def restore(self, state: Any) -> None:
        """Take over ``state`` (what another instance's ``snapshot`` returned), on a fresh
        instance before any message."""
        if state is not None:
            raise TypeError(f"strategy {self.name!r} keeps no state to restore")

    @classmethod
    def parse_params(cls, params: Mapping[str, Any]) -> Any:
        try:
            return msgspec.convert(dict(params), cls.Params, strict=False)
        except msgspec.ValidationError as error:
            raise StrategyParameterError(f"strategy {cls.kind}: {error}") from None

    def on_bar(self, bar: Bar, ctx: StrategyContext) -> Decisions:
        return None

    def on_trade_tick(self, tick: TradeTick, ctx: StrategyContext) -> Decisions:
        return None

    def on_fill(self, fill: Fill, ctx: StrategyContext) -> Decisions:
        return None

    def on_position(self, position: PositionChanged, ctx: StrategyContext) -> Decisions:
        return None

    def indicators(self, symbol: str) -> Mapping[str, float]:
        """Indicator values to chart beside the bars (a session's market screen)."""
        return {}
