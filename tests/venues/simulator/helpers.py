"""Test helpers: the paused test config and a signed client whose HMAC is computed here,
not by the adapter, so a shared mistake cannot pass both sides."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import replace
from typing import Any
from urllib.parse import urlencode

import aiohttp
import httpx

from venues.simulator import Simulator, SimulatorConfig

# Paused at 01:00 on 2024-01-01 with an hour of history: tests move time with advance().
PAUSED = SimulatorConfig(start_paused=True, sample_days=1, history_minutes=60)


def sign(secret: str, query: str) -> str:
    return hmac.new(secret.encode(), query.encode(), hashlib.sha256).hexdigest()


class Api:
    """Requests as a Binance client sends them: params in the query string, signed last."""

    def __init__(self, sim: Simulator, client: httpx.AsyncClient) -> None:
        self.sim = sim
        self.client = client

    def signed_query(self, params: Mapping[str, Any], *, secret: str | None = None) -> str:
        values = dict(params)
        values.setdefault("timestamp", self.sim.now_ms())
        query = urlencode(values)
        return f"{query}&signature={sign(secret or self.sim.api_secret, query)}"

    async def signed(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None = None,
        *,
        api_key: str | None = None,
        secret: str | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        query = self.signed_query(params or {}, secret=secret)
        headers = {"X-MBX-APIKEY": api_key or self.sim.api_key}
        return await self.client.request(method, f"{path}?{query}", headers=headers, **kwargs)

    async def public(self, path: str, params: Mapping[str, Any] | None = None) -> httpx.Response:
        return await self.client.get(path, params=dict(params or {}))

    async def order(self, *, request_timeout: float = 5.0, **params: Any) -> httpx.Response:
        values = {"symbol": "BTCUSDT", **params}
        return await self.signed("POST", "/api/v3/order", values, timeout=request_timeout)

    async def listen_key(self) -> str:
        response = await self.client.post(
            "/api/v3/userDataStream", headers={"X-MBX-APIKEY": self.sim.api_key}
        )
        return str(response.json()["listenKey"])


def paused(**changes: Any) -> SimulatorConfig:
    """The paused test config with ``changes``."""
    return replace(PAUSED, **changes)


async def receive_json(ws: aiohttp.ClientWebSocketResponse, timeout: float = 2.0) -> Any:
    message = await ws.receive(timeout=timeout)
    assert message.type == aiohttp.WSMsgType.TEXT, message
    return json.loads(message.data)
