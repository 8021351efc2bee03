"""data.binance.vision on loopback, for the downloader's and ``tickdeck fetch``'s tests:
published zips and checksums at binance.vision's paths, with faults injected per path."""

from __future__ import annotations

import asyncio
import hashlib
import io
import random
import threading
import zipfile

from aiohttp import web

from storage.download import ArchiveFile


class VisionServer:
    """data.binance.vision on 127.0.0.1 (random port), in its own thread and event loop.

    Serves published zips and their ``.CHECKSUM`` files at binance.vision's paths,
    honors ``Range: bytes=N-`` (206 + Content-Range), and injects faults per path:
    a connection dropped halfway through the body once, N answers of 503 first, a
    stall longer than the client's timeout once, or ``ignore_range`` for a server
    that always sends the whole file. Records every request and the most requests
    it ever had in flight at once.
    """

    def __init__(self, delay_seconds: float = 0.0) -> None:
        self.files: dict[str, bytes] = {}
        self.requests: list[tuple[str, str | None]] = []
        self.drop_once: set[str] = set()
        self.stall_once: set[str] = set()
        self.failures: dict[str, int] = {}
        self.failure_status = 503
        self.ignore_range = False
        self.delay_seconds = delay_seconds
        self.in_flight = 0
        self.max_in_flight = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._started = threading.Event()
        self._port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    def publish(self, file: ArchiveFile, body: bytes, checksum: str | None = None) -> None:
        digest = checksum or hashlib.sha256(body).hexdigest()
        self.files[f"/{file.path}"] = body
        self.files[f"/{file.checksum_path}"] = f"{digest}  {file.name}\n".encode()

    def requested(self, path: str) -> list[str | None]:
        """The Range header of every request for ``path`` (None: no Range), in order."""
        return [range_ for seen, range_ in self.requests if seen == f"/{path}"]

    def __enter__(self) -> VisionServer:
        self._thread.start()
        if not self._started.wait(10):
            raise RuntimeError("loopback server did not start")
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        app = web.Application()
        app.router.add_get("/{tail:.*}", self._handle)
        runner = web.AppRunner(app, shutdown_timeout=0.1, access_log=None)
        self._loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", 0)
        self._loop.run_until_complete(site.start())
        self._port = runner.addresses[0][1]
        self._started.set()
        self._loop.run_forever()
        self._loop.run_until_complete(runner.cleanup())
        self._loop.close()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        self.requests.append((path, request.headers.get("Range")))
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.delay_seconds:
                await asyncio.sleep(self.delay_seconds)
            if path in self.stall_once:
                self.stall_once.discard(path)
                await asyncio.sleep(2)
            if self.failures.get(path, 0) > 0:
                self.failures[path] -= 1
                return web.Response(status=self.failure_status, text="try later")
            body = self.files.get(path)
            if body is None:
                return web.Response(status=404, text="NoSuchKey")
            return await self._send(request, path, body)
        finally:
            self.in_flight -= 1

    async def _send(self, request: web.Request, path: str, body: bytes) -> web.StreamResponse:
        start, status, headers = 0, 200, {"Accept-Ranges": "bytes"}
        wanted = request.headers.get("Range")
        if wanted and not self.ignore_range:
            start = int(wanted.removeprefix("bytes=").removesuffix("-"))
            if start >= len(body):
                return web.Response(status=416)
            status = 206
            headers["Content-Range"] = f"bytes {start}-{len(body) - 1}/{len(body)}"
        payload = body[start:]
        response = web.StreamResponse(status=status, headers=headers)
        response.content_length = len(payload)
        await response.prepare(request)
        if path in self.drop_once:
            self.drop_once.discard(path)
            await response.write(payload[: len(payload) // 2])
            assert request.transport is not None
            request.transport.close()
            return response
        await response.write(payload)
        await response.write_eof()
        return response


def archive(seed: int, size: int = 150_000) -> bytes:
    """A real zip holding one CSV member and ``size`` bytes of incompressible filler."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as bundle:
        bundle.writestr("data.csv", random.Random(seed).randbytes(size))
    return buffer.getvalue()
