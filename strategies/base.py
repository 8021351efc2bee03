"""The base class of strategy plug-ins: typed parameters and do-nothing defaults.

A plug-in declares its parameters as a msgspec Struct (``Params``), so a bad
``--param`` is refused before the run with the parameter's name and the reason,
and the resolved parameters can be written into the run's config.
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
