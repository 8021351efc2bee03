"""Strategy plug-ins and the indicators they use, found by name through a registry.

A plug-in subclasses ``strategies.base.Strategy`` and is listed in ``REGISTRY``;
the strategy actor hosts it through the ``StrategyPlugin`` port and never
imports it by name, so adding a strategy touches only this package.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from strategies.base import Strategy, StrategyParameterError
from strategies.sma_cross import SmaCross

__all__ = ["REGISTRY", "Strategy", "StrategyParameterError", "UnknownStrategyError", "create"]

REGISTRY: dict[str, type[Strategy]] = {SmaCross.kind: SmaCross}


class UnknownStrategyError(ValueError):
    def __init__(self, name: str) -> None:
        super().__init__(f"unknown strategy {name!r}; available: {', '.join(sorted(REGISTRY))}")


def create(kind: str, params: Mapping[str, Any], symbols: Sequence[str], interval: str) -> Strategy:
    """Instantiate the plug-in registered as ``kind``; errors name the bad part."""
    try:
        cls = REGISTRY[kind]
    except KeyError:
        raise UnknownStrategyError(kind) from None
    return cls(params, symbols, interval)
