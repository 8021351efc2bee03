"""The simulator as a running server: wiring, start and stop, and the controls tests use.

``run_simulator(config)`` is the way in::

    async with run_simulator(SimulatorConfig(speed=600)) as sim:
        sim.url        # http://127.0.0.1:<port>   (REST base)
        sim.ws_url     # ws://127.0.0.1:<port>     (/stream?streams=..., /ws/<listenKey>)
        sim.api_key, sim.api_secret

Controls: ``pause()``, ``resume()``, ``await advance(ms)`` / ``await
advance_to(ms)`` (paused: replay exactly up to a simulated time, as fast as the
machine goes), ``now_ms()``, ``disconnect_user_streams()`` (the user data stream
drops), and read access to the engine (``sim.engine``) for assertions. Nothing here
reaches the internet; the server binds to loopback unless told otherwise.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Final

import structlog
from aiohttp import web

from venues.fill_model import FillModel
from venues.simulator import wire
from venues.simulator.auth import Credentials
from venues.simulator.clock import ReplayClock
from venues.simulator.config import SimulatorConfig, SymbolSpec, default_symbol_spec
from venues.simulator.engine import AccountEvent, ExecutionEvent, MatchingEngine
from venues.simulator.faults import RestFaults
from venues.simulator.limits import WeightLimiter
from venues.simulator.market import (
    MINUTE_MS,
    BarSeries,
    SimulatorDataError,
    load_lake_bars,
    load_sample_bars,
)
from venues.simulator.replay import MarketReplay
from venues.simulator.rest import RestApi
from venues.simulator.streams import StreamHub

__all__ = ["Simulator", "load_series", "run_simulator", "start_time"]

log = structlog.get_logger(__name__)

_HOUSEKEEPING_SECONDS: Final = 1.0
_SHUTDOWN_SECONDS: Final = 0.25
_DEFAULT_SAMPLE_PRICE: Final = 100.0


def load_series(config: SimulatorConfig) -> dict[str, BarSeries]:
    """The bars of every symbol, from the lake or the sample generator."""
    series: dict[str, BarSeries] = {}
    for symbol in config.symbols:
        if config.data_dir is not None:
            series[symbol] = load_lake_bars(
                config.data_dir, symbol, config.data_start, config.data_end
            )
        else:
            price = config.sample_prices.get(symbol, _DEFAULT_SAMPLE_PRICE)
            series[symbol] = load_sample_bars(
                symbol, config.sample_start, config.sample_days, config.sample_seed, price
            )
    return series


def start_time(config: SimulatorConfig, series: Mapping[str, BarSeries]) -> int:
    """Where the replay starts: ``start_ms``, else ``history_minutes`` after the first
    bar (never past the last one), on the minute."""
    if config.start_ms is not None:
        return config.start_ms // MINUTE_MS * MINUTE_MS
    first = min(data.open_ms[0] for data in series.values())
    last = max(data.open_ms[-1] for data in series.values())
    return min(first + config.history_minutes * MINUTE_MS, last)


class Simulator:
    """A Binance spot look-alike on loopback; see the module docstring."""

    def __init__(self, config: SimulatorConfig) -> None:
        self.config = config
        self.engine: MatchingEngine
        self.replay: MarketReplay
        self.hub: StreamHub
        self.clock: ReplayClock
        self.specs: dict[str, SymbolSpec] = {}
        self.port = 0
        self._runner: web.AppRunner | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._listen_keys = 0

    @property
    def url(self) -> str:
        return f"http://{self.config.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.config.host}:{self.port}"

    @property
    def api_key(self) -> str:
        return self.config.api_key

    @property
    def api_secret(self) -> str:
        return self.config.api_secret

    def now_ms(self) -> int:
        return self.clock.now_ms()

    async def start(self) -> None:
        config = self.config
        series = await asyncio.to_thread(load_series, config)
        self.specs = _specs(config, series)
        start_ms = start_time(config, series)
        self.clock = ReplayClock(start_ms, config.speed, paused=config.start_paused)
        self.hub = StreamHub(
            config.symbols,
            config.faults,
            ping_interval=config.ping_interval_seconds,
            max_connection_seconds=config.max_connection_seconds,
            queue_size=config.ws_queue_size,
            listen_key_ttl=config.listen_key_ttl_seconds,
            now_ms=self.clock.now_ms,
        )
        self.engine = MatchingEngine(
            specs=self.specs,
            model=FillModel(config.fill),
            balances=config.balances,
            publish=self._publish_account_event,
            client_id_scope=config.client_id_scope,
            commission_asset=config.commission_asset,
            bnb_prices=config.bnb_prices,
        )
        self.replay = MarketReplay(
            series, self.specs, self.engine, self.hub, self.clock,
            trades_per_bar=config.trades_per_bar,
            half_spread_bps=config.fill.half_spread_bps,
            participation_cap=config.fill.participation_cap,
            start_ms=start_ms,
        )  # fmt: skip
        rest = RestApi(
            specs=self.specs,
            engine=self.engine,
            replay=self.replay,
            hub=self.hub,
            clock=self.clock,
            credentials=Credentials.build(
                config.api_key,
                config.api_secret,
                config.ed25519_api_key,
                config.ed25519_public_key_pem,
            ),
            limiter=WeightLimiter(
                config.weight_limit,
                config.weight_window_seconds,
                config.bans_after_429s,
                config.ban_seconds,
            ),
            faults=RestFaults(config.faults),
            fees=config.fill,
            weight_limit=config.weight_limit,
            listen_key=self._listen_key,
        )
        app = web.Application()
        app.add_routes(rest.routes())
        app.router.add_get("/stream", self.hub.handle_combined)
        app.router.add_get("/ws", self.hub.handle_raw)
        app.router.add_get("/ws/{name}", self.hub.handle_raw)
        # No access log: it would print every signed URL, signature included.
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=_SHUTDOWN_SECONDS)
        await self._runner.setup()
        try:
            await web.TCPSite(self._runner, config.host, config.port).start()
        except BaseException:
            await self._runner.cleanup()
            self._runner = None
            raise
        self.port = self._runner.addresses[0][1]
        self._tasks = [
            asyncio.create_task(self.replay.run(), name="simulator-replay"),
            asyncio.create_task(self._housekeeping(), name="simulator-housekeeping"),
        ]
        for task in self._tasks:
            task.add_done_callback(_report_crash)
        log.info("simulator_started", url=self.url, start_ms=start_ms, speed=config.speed)

    async def stop(self) -> None:
        if self._runner is None:
            return
        self.hub.close_all()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._runner.cleanup()
        self._runner = None

    def pause(self) -> None:
        self.clock.pause()
        self.replay.wake()

    def resume(self) -> None:
        self.clock.resume()
        self.replay.wake()

    async def advance_to(self, time_ms: int) -> None:
        """Paused: replay everything up to simulated ``time_ms`` now, then stand there."""
        self.clock.advance_to(time_ms)
        self.replay.wake()
        await self.replay.caught_up(time_ms)

    async def advance(self, milliseconds: int) -> None:
        await self.advance_to(self.clock.now_ms() + milliseconds)

    def disconnect_user_streams(self) -> int:
        """Drop every user data stream connection now, abruptly; how many were dropped.
        The reports of what happens before the client reconnects are lost to it. (A
        fault plan does the same on a schedule: ``ws_disconnect`` with ``streams =
        ["user"]``.)"""
        return self.hub.disconnect_user_streams()

    def _listen_key(self) -> str:
        """One key per account, as Binance: asking again returns the live one."""
        active = self.hub.active_listen_key()
        if active is not None:
            return active
        self._listen_keys += 1
        seed = f"tickdeck-simulator:{self.config.seed}:{self._listen_keys}"
        return hashlib.sha256(seed.encode()).hexdigest()[:60]

    def _publish_account_event(self, event: ExecutionEvent | AccountEvent) -> None:
        if isinstance(event, ExecutionEvent):
            payload = wire.execution_report(event, self.hub.next_user_sequence())
        else:
            payload = wire.account_position(event)
        self.hub.publish_user(payload)

    async def _housekeeping(self) -> None:
        period = min(_HOUSEKEEPING_SECONDS, self.config.listen_key_ttl_seconds / 2)
        while True:
            await asyncio.sleep(period)
            self.hub.expire_listen_keys()


def _report_crash(task: asyncio.Task[None]) -> None:
    """A replay that dies would freeze server time silently: say so."""
    if not task.cancelled() and task.exception() is not None:
        log.error("simulator_task_failed", task=task.get_name(), error=repr(task.exception()))


def _specs(config: SimulatorConfig, series: Mapping[str, BarSeries]) -> dict[str, SymbolSpec]:
    given = {spec.symbol: spec for spec in config.instruments}
    specs: dict[str, SymbolSpec] = {}
    for symbol in config.symbols:
        data = series[symbol]
        if len(data) == 0:
            raise SimulatorDataError(f"no bars of {symbol}")
        specs[symbol] = given.get(symbol) or default_symbol_spec(symbol, data.close[0])
    return specs


@asynccontextmanager
async def run_simulator(config: SimulatorConfig | None = None) -> AsyncIterator[Simulator]:
    """A started simulator for the block's duration; stopped (sockets closed) after."""
    simulator = Simulator(config or SimulatorConfig())
    await simulator.start()
    try:
        yield simulator
    finally:
        await simulator.stop()
