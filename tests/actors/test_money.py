"""Tests of actors/money.py: the exact context rounds nothing, silently or otherwise."""

from __future__ import annotations

from decimal import Decimal, Inexact, localcontext

import pytest

from actors.money import EXACT


def test_a_result_that_would_round_raises_instead() -> None:
    with localcontext(EXACT), pytest.raises(Inexact):
        Decimal(1) / Decimal(3)


def test_sums_and_products_of_real_amounts_are_exact() -> None:
    price, quantity = Decimal("123456789.12345678"), Decimal("98765.43210987")
    with localcontext(EXACT):
        notional = price * quantity
        total = notional + Decimal("0.00000001")
    assert notional == Decimal(f"{12345678912345678 * 9876543210987}E-16")
    assert total - notional == Decimal("0.00000001")


def test_the_accountant_and_the_reconciler_book_in_the_same_context() -> None:
    import actors.accountant
    import actors.reconciler

    assert actors.accountant.EXACT is actors.reconciler.EXACT is EXACT
