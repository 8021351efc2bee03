"""The data.binance.vision downloader: which archive files a request names, and fetching them.

binance.vision publishes every market-data family as one zip per symbol and
UTC day (or month), with a ``.CHECKSUM`` beside it holding the zip's SHA-256
as ``<hex>  <file name>`` (binance/binance-public-data README, "CHECKSUM").
The URL layout, from that repository's ``get_path`` helper::

    https://data.binance.vision/data/{spot|futures/um}/{daily|monthly}/{family}/{SYMBOL}/
        [{interval}/]{SYMBOL}-{interval or family}-{YYYY-MM-DD or YYYY-MM}.zip

Files are saved under the destination directory at that same relative path
(``data/spot/daily/klines/BTCUSDT/1m/BTCUSDT-1m-2024-01-01.zip`` and its
``.CHECKSUM``), which is the tree the binance.vision ingestion recognizes.

A file is fetched at most once: a zip whose local ``.CHECKSUM`` verifies is
skipped without a request; an interrupted transfer stays in ``<zip>.part`` and
continues with an HTTP Range request (a new run included); a zip is renamed
into place only after its SHA-256 matches, so a zip on disk is always whole.
A day binance.vision does not have (404) is reported as missing, not an error.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import os
import re
import sys
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Final, TextIO, TypeVar

import aiohttp
import structlog

__all__ = [
    "BASE_URL",
    "DEFAULT_CONCURRENCY",
    "MARKETS",
    "PERIODS",
    "ArchiveFile",
    "Dataset",
    "DownloadOutcome",
    "FetchError",
    "FetchReport",
    "Progress",
    "Status",
    "download_files",
    "parse_dataset",
    "plan_files",
]

log = structlog.get_logger(__name__)

BASE_URL: Final = "https://data.binance.vision"
DEFAULT_CONCURRENCY: Final = 4
MARKETS: Final = ("spot", "um")
PERIODS: Final = ("daily", "monthly")

_BOTH: Final = PERIODS
_DAILY: Final = ("daily",)
_MONTHLY: Final = ("monthly",)
# binance/binance-public-data python/enums.py: INTERVALS and DAILY_INTERVALS; ``1s``
# exists for spot klines only, and ``1mo`` stands for 1M on case-insensitive disks.
_INTERVALS: Final = (
    "1s", "1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h",
    "1d", "3d", "1w", "1mo",
)  # fmt: skip
_MONTHLY_ONLY_INTERVALS: Final = frozenset({"3d", "1w", "1mo"})
_SYMBOL: Final = re.compile(r"[A-Z0-9_]{2,30}")
_CHECKSUM_LINE: Final = re.compile(rb"\s*([0-9a-fA-F]{64})(?:\s+\*?(\S+))?\s*")
_CHUNK: Final = 1 << 16
_MAX_BACKOFF_SECONDS: Final = 30.0
# The CDN answers 429 when pushed too hard and 5xx when an edge is unwell: both pass.
_RETRY_STATUSES: Final = frozenset({408, 429, 500, 502, 503, 504})

T = TypeVar("T")


class FetchError(ValueError):
    """A fetch request binance.vision cannot serve: unknown dataset, market or period, bad dates."""


class DownloadError(Exception):
    """One file could not be fetched; the message names the file and the reason."""


class Status(StrEnum):
    """How a file ended: missing is binance.vision not having it, failed is everything else."""

    DOWNLOADED = "downloaded"
    SKIPPED = "skipped"
    MISSING = "missing"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class _Family:
    name: str
    markets: tuple[str, ...]
    periods: tuple[str, ...]
    with_interval: bool = False


# Which families each market has and how often each is published, from the
# data.binance.vision listings: bookDepth and metrics come only as daily files,
# fundingRate only as monthly ones; the price klines are USD-M only.
_FAMILIES: Final = {
    family.name.lower(): family
    for family in (
        _Family("klines", ("spot", "um"), _BOTH, with_interval=True),
        _Family("markPriceKlines", ("um",), _BOTH, with_interval=True),
        _Family("indexPriceKlines", ("um",), _BOTH, with_interval=True),
        _Family("premiumIndexKlines", ("um",), _BOTH, with_interval=True),
        _Family("aggTrades", ("spot", "um"), _BOTH),
        _Family("trades", ("spot", "um"), _BOTH),
        _Family("bookTicker", ("um",), _BOTH),
        _Family("bookDepth", ("um",), _DAILY),
        _Family("metrics", ("um",), _DAILY),
        _Family("fundingRate", ("um",), _MONTHLY),
    )
}


@dataclass(frozen=True, slots=True)
class Dataset:
    """A binance.vision family as named on the command line (``klines_1m``, ``aggTrades``)."""

    name: str
    family: str
    interval: str | None
    periods: tuple[str, ...]


def _known(market: str) -> str:
    names = [
        f"{family.name}_<interval>" if family.with_interval else family.name
        for family in _FAMILIES.values()
        if market in family.markets
    ]
    return ", ".join(names)


def parse_dataset(name: str, market: str) -> Dataset:
    """The dataset ``name`` of ``market``, case-insensitive; klines families end ``_<interval>``."""
    if market not in MARKETS:
        raise FetchError(f"unknown market {market!r}; known: {', '.join(MARKETS)}")
    family_name, _, interval = name.strip().partition("_")
    family = _FAMILIES.get(family_name.lower())
    if family is None or market not in family.markets:
        raise FetchError(f"unknown {market} dataset {name!r}; known: {_known(market)}")
    if not family.with_interval:
        if interval:
            raise FetchError(f"dataset {name!r}: {family.name} has no interval")
        return Dataset(family.name, family.name, None, family.periods)
    seconds = market == "spot" and family.name == "klines"
    usable = [known for known in _INTERVALS if seconds or known != "1s"]
    if interval not in usable:
        problem = f"has no interval {interval!r}" if interval else "needs an interval"
        raise FetchError(
            f"dataset {name!r}: {market} {family.name} {problem}; intervals: "
            f"{', '.join(usable)} (e.g. {family.name}_1m)"
        )
    periods = _MONTHLY if interval in _MONTHLY_ONLY_INTERVALS else family.periods
    return Dataset(f"{family.name}_{interval}", family.name, interval, periods)


@dataclass(frozen=True, slots=True)
class ArchiveFile:
    """One zip on data.binance.vision: a symbol's dataset for one day or month."""

    market: str
    period: str
    family: str
    interval: str | None
    symbol: str
    stamp: str
    """``YYYY-MM-DD`` for daily files, ``YYYY-MM`` for monthly ones."""

    @property
    def path(self) -> str:
        """The zip's path below the site root, which is also its path below the destination."""
        market = "spot" if self.market == "spot" else f"futures/{self.market}"
        folder = f"data/{market}/{self.period}/{self.family}/{self.symbol}"
        label = self.family
        if self.interval is not None:
            folder, label = f"{folder}/{self.interval}", self.interval
        return f"{folder}/{self.symbol}-{label}-{self.stamp}.zip"

    @property
    def checksum_path(self) -> str:
        return f"{self.path}.CHECKSUM"

    @property
    def name(self) -> str:
        return self.path.rpartition("/")[2]

    def url(self, base_url: str = BASE_URL) -> str:
        return f"{base_url.rstrip('/')}/{self.path}"


def _symbols(symbols: Iterable[str]) -> list[str]:
    chosen: dict[str, None] = {}
    for text in symbols:
        symbol = text.strip().upper()
        if not _SYMBOL.fullmatch(symbol):
            raise FetchError(f"bad symbol {text!r}: expected letters and digits like BTCUSDT")
        chosen[symbol] = None
    if not chosen:
        raise FetchError("no symbols given")
    return list(chosen)


def _days(start: dt.date, end: dt.date) -> list[str]:
    return [(start + dt.timedelta(days=n)).isoformat() for n in range((end - start).days)]


def _months(start: dt.date, end: dt.date) -> list[str]:
    """Every month that overlaps ``[start, end)``."""
    last = end - dt.timedelta(days=1)
    year, month, stamps = start.year, start.month, []
    while (year, month) <= (last.year, last.month):
        stamps.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return stamps


def _period_for(dataset: Dataset, period: str | None) -> str:
    if period is None:
        return "daily" if "daily" in dataset.periods else dataset.periods[0]
    if period not in PERIODS:
        raise FetchError(f"unknown period {period!r}; known: {', '.join(PERIODS)}")
    if period not in dataset.periods:
        raise FetchError(
            f"{dataset.name} is published only as {dataset.periods[0]} files on "
            f"binance.vision, not {period}; leave out the period to get {dataset.periods[0]} files"
        )
    return period


def plan_files(
    market: str,
    symbols: Iterable[str],
    datasets: Iterable[str],
    start: dt.date,
    end: dt.date,
    period: str | None = None,
) -> list[ArchiveFile]:
    """The archive files covering UTC days ``[start, end)`` (end exclusive, as in ``backtest``).

    ``period`` None takes each dataset's own: daily, or monthly for the monthly-only
    ones. Monthly files are those of every month the range touches.
    """
    if end <= start:
        raise FetchError(f"end {end} must be after start {start} (the end day is exclusive)")
    chosen_symbols = _symbols(symbols)
    chosen = [parse_dataset(name, market) for name in dict.fromkeys(datasets) if name.strip()]
    if not chosen:
        raise FetchError(f"no datasets given; known for {market}: {_known(market)}")
    periods = [_period_for(dataset, period) for dataset in chosen]
    stamps = {"daily": _days(start, end), "monthly": _months(start, end)}
    files: list[ArchiveFile] = []
    for symbol in chosen_symbols:
        for dataset, chosen_period in zip(chosen, periods, strict=True):
            files.extend(
                ArchiveFile(market, chosen_period, dataset.family, dataset.interval, symbol, stamp)
                for stamp in stamps[chosen_period]
            )
    return files


@dataclass(frozen=True, slots=True)
class DownloadOutcome:
    file: ArchiveFile
    status: Status
    local_path: Path
    bytes_downloaded: int = 0
    error: str = ""
    """For a failed file: one line naming the file and the reason."""


@dataclass(frozen=True, slots=True)
class FetchReport:
    outcomes: tuple[DownloadOutcome, ...]

    def with_status(self, status: Status) -> list[DownloadOutcome]:
        return [outcome for outcome in self.outcomes if outcome.status is status]

    @property
    def bytes_downloaded(self) -> int:
        return sum(outcome.bytes_downloaded for outcome in self.outcomes)


class Progress:
    """One self-overwriting status line (files done, bytes, rate) for a person at a terminal.

    Silent unless enabled; by default enabled only when ``stream`` is a TTY, so logs,
    pipes and CI output never fill with carriage returns.
    """

    def __init__(
        self,
        total_files: int,
        stream: TextIO | None = None,
        *,
        enabled: bool | None = None,
        min_interval_seconds: float = 0.1,
    ) -> None:
        self._stream = sys.stderr if stream is None else stream
        self.enabled = self._stream.isatty() if enabled is None else enabled
        self._total = total_files
        self._min_interval = min_interval_seconds
        self._done = 0
        self._bytes = 0
        self._counts = {status: 0 for status in Status}
        self._started = time.monotonic()
        self._shown_at = 0.0
        self._shown = False

    def add_bytes(self, count: int) -> None:
        self._bytes += count
        self._render(force=False)

    def file_done(self, status: Status) -> None:
        self._done += 1
        self._counts[status] += 1
        self._render(force=self._done == self._total)

    def close(self) -> None:
        if self.enabled and self._shown:
            self._stream.write("\n")
            self._stream.flush()

    def _render(self, *, force: bool) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self._shown_at < self._min_interval:
            return
        self._shown_at, self._shown = now, True
        width = 24
        filled = width * self._done // self._total if self._total else width
        rate = self._bytes / max(now - self._started, 1e-9)
        line = (
            f"\rfetch [{'#' * filled}{'.' * (width - filled)}] {self._done}/{self._total} files"
            f"  {_size(self._bytes)}  {_size(rate)}/s"
            f"  missing {self._counts[Status.MISSING]}  failed {self._counts[Status.FAILED]}"
        )
        self._stream.write(line)
        self._stream.flush()


def _size(count: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if count < 1024 or unit == "GiB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    raise AssertionError("unreachable")


class _Retryable(Exception):
    """A failure worth another attempt (server error, throttling, a range to restart)."""

    def __init__(self, reason: str, retry_after: float = 0.0) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


def _retry_after(response: aiohttp.ClientResponse) -> float:
    try:
        return max(0.0, float(response.headers.get("Retry-After", "0")))
    except ValueError:
        return 0.0


def _sha256(path: Path) -> hashlib._Hash:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while block := stream.read(1 << 20):
            digest.update(block)
    return digest


def _expected_sha256(text: bytes, file: ArchiveFile) -> str:
    """The hex digest a ``.CHECKSUM`` gives for ``file``; the name, if written, must match."""
    first = text.strip().splitlines()[0] if text.strip() else b""
    match = _CHECKSUM_LINE.fullmatch(first)
    if match is None:
        raise DownloadError(f"its CHECKSUM is not '<sha256>  <file name>': {first[:80]!r}")
    named = match.group(2)
    if named is not None and named.decode(errors="replace").rpartition("/")[2] != file.name:
        raise DownloadError(f"its CHECKSUM names {named.decode(errors='replace')!r} instead")
    return match.group(1).decode().lower()


def _write_atomic(path: Path, data: bytes) -> None:
    temporary = path.with_name(f"{path.name}.tmp")
    temporary.write_bytes(data)
    os.replace(temporary, path)


def _raise_if_retryable(response: aiohttp.ClientResponse, url: str) -> None:
    if response.status in _RETRY_STATUSES:
        raise _Retryable(f"HTTP {response.status} from {url}", _retry_after(response))


def _content_range_start(response: aiohttp.ClientResponse) -> int | None:
    match = re.fullmatch(r"bytes (\d+)-\d+/(?:\d+|\*)", response.headers.get("Content-Range", ""))
    return int(match.group(1)) if match else None


class _Downloader:
    """Fetches files with at most ``concurrency`` requests in flight (one per file at a time)."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        dest: Path,
        *,
        base_url: str,
        concurrency: int,
        retries: int,
        backoff_seconds: float,
        progress: Progress,
    ) -> None:
        self._session = session
        self._dest = dest
        self._base_url = base_url
        self._slots = asyncio.Semaphore(concurrency)
        self._attempts = retries + 1
        self._backoff = backoff_seconds
        self._progress = progress

    async def fetch(self, file: ArchiveFile) -> DownloadOutcome:
        target = self._dest / file.path
        async with self._slots:
            try:
                outcome = await self._fetch(file, target)
            except (DownloadError, OSError) as error:
                log.error("download_failed", file=file.path, error=str(error))
                message = f"{file.path}: {error}"
                outcome = DownloadOutcome(file, Status.FAILED, target, error=message)
        self._progress.file_done(outcome.status)
        return outcome

    async def _fetch(self, file: ArchiveFile, target: Path) -> DownloadOutcome:
        local_checksum = self._dest / file.checksum_path
        if target.is_file() and local_checksum.is_file():
            try:
                expected = _expected_sha256(local_checksum.read_bytes(), file)
            except DownloadError:
                expected = None
            if expected and (await asyncio.to_thread(_sha256, target)).hexdigest() == expected:
                return DownloadOutcome(file, Status.SKIPPED, target)
        checksum = await self._retrying(file, "its CHECKSUM", lambda: self._get_checksum(file))
        if checksum is None:
            log.debug("download_missing", file=file.path)
            return DownloadOutcome(file, Status.MISSING, target)
        expected = _expected_sha256(checksum, file)
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.is_file() and (await asyncio.to_thread(_sha256, target)).hexdigest() == expected:
            _write_atomic(local_checksum, checksum)
            return DownloadOutcome(file, Status.SKIPPED, target)
        received = [0]
        found = await self._retrying(
            file, "the zip", lambda: self._get_zip(file, target, expected, received)
        )
        if not found:
            log.debug("download_missing", file=file.path)
            return DownloadOutcome(file, Status.MISSING, target)
        _write_atomic(local_checksum, checksum)
        return DownloadOutcome(file, Status.DOWNLOADED, target, bytes_downloaded=received[0])

    async def _retrying(
        self, file: ArchiveFile, what: str, attempt: Callable[[], Awaitable[T]]
    ) -> T:
        for number in range(1, self._attempts + 1):
            try:
                return await attempt()
            except _Retryable as error:
                reason, wait = str(error), error.retry_after
            except (aiohttp.ClientError, TimeoutError) as error:
                reason, wait = f"{type(error).__name__}: {error}".rstrip(": "), 0.0
            if number == self._attempts:
                raise DownloadError(f"gave up on {what} after {number} attempts; last: {reason}")
            delay = min(max(self._backoff * 2 ** (number - 1), wait), _MAX_BACKOFF_SECONDS)
            log.warning(
                "download_retry", file=file.path, attempt=number, reason=reason, delay=delay
            )
            await asyncio.sleep(delay)
        raise AssertionError("unreachable")

    async def _get_checksum(self, file: ArchiveFile) -> bytes | None:
        url = f"{file.url(self._base_url)}.CHECKSUM"
        async with self._session.get(url) as response:
            if response.status == 404:
                return None
            _raise_if_retryable(response, url)
            if response.status != 200:
                raise DownloadError(f"HTTP {response.status} from {url}")
            return await response.read()

    async def _get_zip(
        self, file: ArchiveFile, target: Path, expected: str, received: list[int]
    ) -> bool:
        """One attempt: continue ``<zip>.part`` from where it stops, verify, rename into place.

        False when the zip is not there (404). ``received`` is a one-item counter of the
        bytes received over all attempts, partial ones included.
        """
        url = file.url(self._base_url)
        part = target.with_name(f"{target.name}.part")
        offset = part.stat().st_size if part.is_file() else 0
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        async with self._session.get(url, headers=headers) as response:
            if response.status == 404:
                return False
            if response.status == 416:
                # Nothing past the part's end: a run stopped between its last byte and
                # the rename left it whole, or it is longer than the file and useless.
                if (await asyncio.to_thread(_sha256, part)).hexdigest() == expected:
                    os.replace(part, target)
                    return True
                part.unlink(missing_ok=True)
                raise _Retryable(f"HTTP 416 for bytes {offset}- of {url}; restarting from zero")
            _raise_if_retryable(response, url)
            if response.status == 206 and offset and _content_range_start(response) == offset:
                digest = await asyncio.to_thread(_sha256, part)
                mode = "ab"
            elif response.status == 200:
                # The server ignored the Range header and sent the whole file.
                digest, mode, offset = hashlib.sha256(), "wb", 0
            elif response.status == 206:
                part.unlink(missing_ok=True)
                raise _Retryable(f"{url} answered another range than bytes {offset}-")
            else:
                raise DownloadError(f"HTTP {response.status} from {url}")
            with part.open(mode) as out:
                async for chunk in response.content.iter_chunked(_CHUNK):
                    out.write(chunk)
                    digest.update(chunk)
                    received[0] += len(chunk)
                    self._progress.add_bytes(len(chunk))
        actual = digest.hexdigest()
        if actual == expected:
            os.replace(part, target)
            return True
        part.unlink(missing_ok=True)
        if offset:
            # The part may be a prefix of an older version of the file (binance.vision
            # replaces archives now and then, README "Updates"): start over from zero.
            raise _Retryable(f"checksum mismatch after resuming at byte {offset}; restarting")
        raise DownloadError(
            f"checksum mismatch: the downloaded file has sha256 {actual} but "
            f"{file.name}.CHECKSUM says {expected}; the file was removed"
        )


async def download_files(
    files: Sequence[ArchiveFile],
    dest: Path,
    *,
    base_url: str = BASE_URL,
    concurrency: int = DEFAULT_CONCURRENCY,
    retries: int = 5,
    backoff_seconds: float = 0.5,
    timeout_seconds: float = 30.0,
    progress: Progress | None = None,
    trust_env: bool = True,
) -> FetchReport:
    """Fetch ``files`` into ``dest`` (binance.vision's own tree), each verified by its checksum.

    Never raises for one file: each ends downloaded, skipped (already whole), missing
    (404) or failed (the reason in ``error``). Server errors, throttling, timeouts and
    dropped connections are retried ``retries`` times with exponential backoff, a
    dropped transfer continuing from its last byte. ``trust_env`` honors HTTPS_PROXY.
    """
    if concurrency < 1:
        raise FetchError(f"concurrency must be at least 1, got {concurrency}")
    shown = progress or Progress(len(files), enabled=False)
    timeout = aiohttp.ClientTimeout(
        total=None, sock_connect=timeout_seconds, sock_read=timeout_seconds
    )
    connector = aiohttp.TCPConnector(limit=concurrency)
    # identity: the zip's bytes as stored, so ranges and checksums refer to the same bytes.
    headers = {"Accept-Encoding": "identity", "User-Agent": "tickdeck"}
    async with aiohttp.ClientSession(
        connector=connector,
        timeout=timeout,
        headers=headers,
        auto_decompress=False,
        trust_env=trust_env,
    ) as session:
        downloader = _Downloader(
            session,
            dest,
            base_url=base_url,
            concurrency=concurrency,
            retries=retries,
            backoff_seconds=backoff_seconds,
            progress=shown,
        )
        outcomes = await asyncio.gather(*(downloader.fetch(file) for file in files))
    shown.close()
    return FetchReport(tuple(outcomes))
