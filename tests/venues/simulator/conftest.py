"""Fixtures: a paused simulator per test, a signed client for it, a WebSocket session."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import httpx
import pytest

from tests.venues.simulator.helpers import PAUSED, Api
from venues.simulator import Simulator, run_simulator


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    async with run_simulator(PAUSED) as simulator:
        yield simulator


@pytest.fixture
async def api(sim: Simulator) -> AsyncIterator[Api]:
    async with httpx.AsyncClient(base_url=sim.url, timeout=5.0) as client:
        yield Api(sim, client)


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client
