"""``RemoteDesk``: the UI's link to a session served by ``tickdeck serve`` (``app.serve``).

It keeps one WebSocket open to the control API and holds the newest view it was
sent; the UI polls that like any link's. When the connection drops it says so
(``view`` raises ``LinkError`` with the reason, which the UI shows in place) and
reconnects every second: the served session runs on regardless. Commands are
one POST each, msgpack-encoded catalog messages.
"""

from __future__ import annotations

from types import TracebackType
from typing import Final

import aiohttp
import anyio
import anyio.abc

from actors.messages import encode
from tui.link import Command, LinkError
from tui.view import DeskView, decode_view

__all__ = ["RemoteDesk"]

_RECONNECT_SECONDS: Final = 1.0
_TIMEOUT: Final = aiohttp.ClientTimeout(total=10.0)


class RemoteDesk:
    """``address`` is ``control.json``'s: ``http://host:port`` or ``unix:<path>``."""

    def __init__(self, address: str, token: str) -> None:
        self.address = address
        self._headers = {"Authorization": f"Bearer {token}"}
        self._latest: DeskView | None = None
        self._problem = "connecting"
        self._http: aiohttp.ClientSession | None = None
        self._tasks: anyio.abc.TaskGroup | None = None

    def view(self) -> DeskView | None:
        if self._problem and self._problem != "connecting":
            raise LinkError(f"session unreachable at {self.address}: {self._problem}")
        return self._latest

    async def command(self, command: Command) -> None:
        http = self._require()
        try:
            async with http.post(
                f"{self._base}/v1/command", data=encode(command), headers=self._headers
            ) as response:
                if response.status != 202:
                    raise LinkError(f"{response.status}: {await response.text()}")
        except aiohttp.ClientError as error:
            raise LinkError(f"session unreachable at {self.address}: {error}") from None

    @property
    def _base(self) -> str:
        return "http://localhost" if self.address.startswith("unix:") else self.address

    def _require(self) -> aiohttp.ClientSession:
        if self._http is None:
            raise LinkError("the link is not open (use `async with RemoteDesk(...)`)")
        return self._http

    async def __aenter__(self) -> RemoteDesk:
        connector = (
            aiohttp.UnixConnector(path=self.address.removeprefix("unix:"))
            if self.address.startswith("unix:")
            else None
        )
        self._http = aiohttp.ClientSession(connector=connector, timeout=_TIMEOUT)
        self._tasks = anyio.create_task_group()
        await self._tasks.__aenter__()
        self._tasks.start_soon(self._follow)
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._tasks is not None:
            self._tasks.cancel_scope.cancel()
            await self._tasks.__aexit__(kind, error, traceback)
        if self._http is not None:
            await self._http.close()

    async def _follow(self) -> None:
        """Receive views for as long as the link is open, reconnecting when it drops."""
        http = self._require()
        while True:
            try:
                async with http.ws_connect(
                    f"{self._base}/v1/stream", headers=self._headers, heartbeat=10.0
                ) as socket:
                    async for frame in socket:
                        if frame.type is aiohttp.WSMsgType.BINARY:
                            self._latest = decode_view(frame.data)
                            self._problem = ""
                    self._problem = "the session closed the connection"
            except aiohttp.WSServerHandshakeError as error:
                self._problem = f"{error.status}: {error.message}"
            except aiohttp.ClientError as error:
                self._problem = str(error) or type(error).__name__
            await anyio.sleep(_RECONNECT_SECONDS)
