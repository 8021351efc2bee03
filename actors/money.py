"""Exact money arithmetic: the one Decimal context that the books of money run in.

Money and quantities are Decimal, and cash, positions and PnL must reconcile exactly
with the fills (DESIGN.md §10.4): sums and products of them must not round. ``EXACT``
keeps 64 significant digits, far more than any sum or product of real prices and
quantities needs, and traps ``Inexact`` (and invalid operations, division by zero,
overflow): a computation in it is either exact or raises, never rounds silently. The
accountant books in it and the reconciler builds its view of the venue in it, so the
two agree to the last digit or one of them fails loudly.

Divisions (averages) are not money arithmetic in this sense: they round by nature, and
whoever computes one rounds it on purpose in a context of its own.
"""

from __future__ import annotations

from decimal import Context, DivisionByZero, Inexact, InvalidOperation, Overflow
from typing import Final

__all__ = ["EXACT"]

EXACT: Final = Context(prec=64, traps=[InvalidOperation, DivisionByZero, Overflow, Inexact])
