"""A session hosted on a thread of this process, for tests: ``LocalDesk``.

``tickdeck`` runs a session in a child process and attaches the UI to it over the
control API (``app.cli_tui``). Tests that want to look at a session's views and
journal in one process host it here instead: the session on its own thread and
event loop, read through its ``DeskMonitor`` (the newest view is an immutable
value, a plain attribute read) and commanded with ``asyncio.run_coroutine_threadsafe``
into its loop, as a ``tui.link.DeskLink``.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator
from types import TracebackType

import anyio
import structlog

from app.desk_monitor import DeskMonitor
from app.logs import LogTail
from app.session import SessionResult, run_live_session, run_paper_session, simulated_venue
from app.settings import Settings
from tui.link import Command, LinkError
from tui.view import DeskView
from venues.binance.signing import Credentials

__all__ = ["LocalDesk"]

_log = structlog.get_logger(__name__)


class LocalDesk:
    """A ``tui.link.DeskLink`` to a paper (or, with ``credentials``, live) session run
    here. ``simulator_speed`` set: against a loopback simulator started in the session's
    loop (the demo: no internet, no keys)."""

    def __init__(
        self,
        settings: Settings,
        name: str,
        *,
        simulator_speed: float | None = None,
        credentials: Credentials | None = None,
        cancel_on_stop: bool = True,
        log_tail: LogTail | None = None,
    ) -> None:
        self.settings = settings
        self.name = name
        self.simulator_speed = simulator_speed
        self.credentials = credentials
        self.cancel_on_stop = cancel_on_stop
        self.monitor = DeskMonitor(log_tail)
        self.result: SessionResult | None = None
        self.error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: anyio.Event | None = None
        self._running = threading.Event()
        self._thread = threading.Thread(target=self._main, name=f"session:{name}")

    # --- the UI's side ---------------------------------------------------------------------

    def view(self) -> DeskView | None:
        if self.error is not None:
            raise LinkError(f"the session failed: {self.error}")
        return self.monitor.latest

    async def command(self, command: Command) -> None:
        loop = self._loop
        if loop is None or not self._thread.is_alive():
            raise LinkError("the session is not running")
        future = asyncio.run_coroutine_threadsafe(self.monitor.command(command), loop)
        await asyncio.wrap_future(future)

    def start(self) -> LocalDesk:
        self._thread.start()
        self._running.wait()
        return self

    def stop(self, timeout: float | None = None) -> SessionResult | None:
        """Ask the session to stop cleanly and wait for it (``timeout``: at most that)."""
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None and self._thread.is_alive():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: it ended
                loop.call_soon_threadsafe(stop.set)
        self.wait(timeout)
        return self.result

    def wait(self, timeout: float | None = None) -> None:
        if self._thread.is_alive():
            self._thread.join(timeout)

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def __enter__(self) -> LocalDesk:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # --- the session's thread --------------------------------------------------------------

    def _main(self) -> None:
        try:
            anyio.run(self._session)
        except BaseException as error:
            self.error = error
            _log.error("desk.session_failed", session=self.name, error=str(error))
        finally:
            self._running.set()  # a session that failed to start releases start() too

    async def _session(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = anyio.Event()
        self._running.set()
        async with self._venue() as settings:
            if self.credentials is not None:
                self.result = await run_live_session(
                    settings, self.name, self.credentials, stop=self._stop,
                    cancel_on_stop=self.cancel_on_stop, observers=[self.monitor],
                )  # fmt: skip
            else:
                self.result = await run_paper_session(
                    settings, self.name, stop=self._stop,
                    cancel_on_stop=self.cancel_on_stop, observers=[self.monitor],
                )  # fmt: skip

    @contextlib.asynccontextmanager
    async def _venue(self) -> AsyncIterator[Settings]:
        if self.simulator_speed is None:
            yield self.settings
            return
        async with simulated_venue(self.settings, self.simulator_speed) as settings:
            yield settings
