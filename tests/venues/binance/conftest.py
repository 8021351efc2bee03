"""Fixtures of the Binance adapter's tests."""

from __future__ import annotations

import pytest

from tests.venues.binance.fake_clock import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    """2023-11-14T22:13:20Z: 20 s into a minute, so a wait for the next one is 40 s."""
    return FakeClock()
