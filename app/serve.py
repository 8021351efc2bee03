"""The control API of a served session (``tickdeck serve``): what ``tickdeck attach`` talks to.

An aiohttp server in the session's own event loop, on loopback TCP or a unix
socket, that every request must show the token to (``Authorization: Bearer``,
compared in constant time). Three routes:

- ``GET /v1/view``: the newest ``DeskView``, msgpack;
- ``GET /v1/stream``: a WebSocket that sends each new view (binary msgpack) as
  the monitor builds it, at most ten a second, and nothing when nothing changed;
- ``POST /v1/command``: a msgpack command (``tui.link.COMMANDS``), published on
  the session's bus and so journaled; 202 once it is, 400 for anything else.

Clients come and go; none of them can stop the session (there is no such
command), so closing a UI never stops a served session. The token is never
logged (it is registered with the log redactor) and is written only to
``control.json`` in the session's journal directory, readable by its owner only;
the file is removed when the session ends.
"""

from __future__ import annotations

import hmac
import json
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Final

import aiohttp
import anyio
import msgspec
import structlog
from aiohttp import web

from actors.messages import decode
from app.desk_monitor import VIEWS_PER_SECOND, DeskMonitor
from app.logs import register_secret
from app.session import SessionContext
from app.settings import ControlSettings
from tui.link import COMMANDS, LinkError
from tui.view import encode_view

__all__ = ["CONTROL_FILE", "ControlServer", "read_control_file"]

_log = structlog.get_logger(__name__)

CONTROL_FILE: Final = "control.json"
_MSGPACK: Final = "application/msgpack"


class ControlServer:
    """A ``SessionObserver`` serving ``monitor``'s views and taking commands."""

    def __init__(
        self,
        monitor: DeskMonitor,
        settings: ControlSettings,
        announce: Callable[[str], None] | None = None,
    ) -> None:
        """``announce`` is called with the address once the API serves (not before: a
        session that fails to start never says it is being served)."""
        self.monitor = monitor
        self.settings = settings
        self.announce = announce
        token = settings.token.get_secret_value() if settings.token is not None else ""
        self.token = token or secrets.token_urlsafe(32)
        register_secret(self.token)
        self.address = ""  # "http://host:port" or "unix:<path>", once serving
        self._directory: Path | None = None

    def attach(self, context: SessionContext) -> None:
        self._directory = context.directory

    async def run(self) -> None:
        application = web.Application(middlewares=[self._authorize])
        application.router.add_get("/v1/view", self._view)
        application.router.add_get("/v1/stream", self._stream)
        application.router.add_post("/v1/command", self._command)
        runner = web.AppRunner(application, handle_signals=False, access_log=None)
        await runner.setup()
        try:
            await self._start(runner)
            self._write_control_file()
            _log.info("control.serving", address=self.address)
            if self.announce is not None:
                self.announce(self.address)
            await anyio.sleep_forever()
        finally:
            with anyio.CancelScope(shield=True):
                self._remove_control_file()
                await runner.cleanup()

    async def _start(self, runner: web.AppRunner) -> None:
        settings = self.settings
        if settings.unix_socket is not None:
            await web.UnixSite(runner, str(settings.unix_socket)).start()
            self.address = f"unix:{settings.unix_socket}"
            return
        await web.TCPSite(runner, settings.host, settings.port).start()
        port = runner.addresses[0][1]  # the port bound, when 0 asked for any
        self.address = f"http://{settings.host}:{port}"

    def _write_control_file(self) -> None:
        if self._directory is None:
            return
        body = {"address": self.address, "token": self.token, "pid": os.getpid()}
        path = self._directory / CONTROL_FILE
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as file:
            json.dump(body, file)

    def _remove_control_file(self) -> None:
        if self._directory is not None:
            (self._directory / CONTROL_FILE).unlink(missing_ok=True)

    @web.middleware
    async def _authorize(self, request: web.Request, handler: web.Handler) -> web.StreamResponse:
        given = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if not hmac.compare_digest(given.encode(), self.token.encode()):
            _log.warning("control.unauthorized", path=request.path)
            raise web.HTTPUnauthorized(text="a valid control token is required")
        return await handler(request)

    async def _view(self, request: web.Request) -> web.Response:
        view = self.monitor.latest
        if view is None:
            raise web.HTTPServiceUnavailable(text="the session has no view yet")
        return web.Response(body=encode_view(view), content_type=_MSGPACK)

    async def _stream(self, request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse(heartbeat=10.0)
        await socket.prepare(request)
        sent = None
        while not socket.closed:
            view = self.monitor.latest
            if view is not None and view is not sent:
                try:
                    await socket.send_bytes(encode_view(view))
                except (ConnectionResetError, aiohttp.ClientConnectionResetError):
                    break
                sent = view
            await anyio.sleep(1 / VIEWS_PER_SECOND)
        return socket

    async def _command(self, request: web.Request) -> web.Response:
        body = await request.read()
        try:
            command = decode(body)
        except (msgspec.DecodeError, msgspec.ValidationError) as error:
            raise web.HTTPBadRequest(text=f"not a message: {error}") from None
        if type(command) not in COMMANDS:
            raise web.HTTPBadRequest(text=f"{type(command).__name__} is not a command")
        try:
            await self.monitor.command(command)  # type: ignore[arg-type]
        except LinkError as error:
            raise web.HTTPConflict(text=str(error)) from None
        _log.info("control.command", command=type(command).__name__)
        return web.Response(status=202)


def read_control_file(directory: Path) -> dict[str, str]:
    """``control.json`` of a served session: its ``address``, ``token`` and server ``pid``."""
    path = directory / CONTROL_FILE
    try:
        body = json.loads(path.read_text())
    except FileNotFoundError:
        raise LinkError(f"{path}: not found: is the session served (`tickdeck serve`)?") from None
    except (OSError, ValueError) as error:
        raise LinkError(f"{path}: cannot read it: {error}") from None
    if not isinstance(body, dict) or not {"address", "token", "pid"} <= body.keys():
        raise LinkError(f"{path}: no address, token and pid in it")
    return {"address": str(body["address"]), "token": str(body["token"]), "pid": str(body["pid"])}
