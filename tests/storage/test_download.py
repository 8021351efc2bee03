"""The binance.vision downloader against a real loopback HTTP server in binance.vision's layout:
bounded concurrency, resume by Range, skip of whole files, checksums, 404s and retries."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import io
from collections.abc import Iterator
from pathlib import Path

import pytest

from storage.download import (
    ArchiveFile,
    FetchError,
    FetchReport,
    Progress,
    Status,
    download_files,
    parse_dataset,
    plan_files,
)
from tests.storage.vision_server import VisionServer, archive

JAN1 = dt.date(2024, 1, 1)


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Loopback requests must never be routed to a proxy from the environment."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def server() -> Iterator[VisionServer]:
    with VisionServer() as running:
        yield running


def publish_all(server: VisionServer, files: list[ArchiveFile]) -> dict[str, bytes]:
    bodies = {}
    for seed, file in enumerate(files):
        bodies[file.path] = archive(seed)
        server.publish(file, bodies[file.path])
    return bodies


def fetch(
    server: VisionServer, files: list[ArchiveFile], dest: Path, **options: object
) -> FetchReport:
    settings: dict[str, object] = {"retries": 3, "backoff_seconds": 0.01, "concurrency": 2}
    settings.update(options)
    return asyncio.run(
        download_files(files, dest, base_url=server.base_url, **settings)  # type: ignore[arg-type]
    )


def statuses(report: FetchReport) -> dict[str, Status]:
    return {outcome.file.path: outcome.status for outcome in report.outcomes}


def btc(stamp: str = "2024-01-01", dataset: str = "klines_1m", market: str = "spot") -> ArchiveFile:
    parsed = parse_dataset(dataset, market)
    period = "daily" if len(stamp) == 10 else "monthly"
    return ArchiveFile(market, period, parsed.family, parsed.interval, "BTCUSDT", stamp)


# --- the URL layout --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("market", "dataset", "stamp", "path"),
    [
        (
            "spot",
            "klines_1m",
            "2024-01-01",
            "data/spot/daily/klines/BTCUSDT/1m/BTCUSDT-1m-2024-01-01.zip",
        ),
        (
            "spot",
            "klines_1s",
            "2024-01",
            "data/spot/monthly/klines/BTCUSDT/1s/BTCUSDT-1s-2024-01.zip",
        ),
        (
            "spot",
            "aggTrades",
            "2024-01-01",
            "data/spot/daily/aggTrades/BTCUSDT/BTCUSDT-aggTrades-2024-01-01.zip",
        ),
        (
            "spot",
            "trades",
            "2024-01",
            "data/spot/monthly/trades/BTCUSDT/BTCUSDT-trades-2024-01.zip",
        ),
        (
            "um",
            "klines_1h",
            "2024-01-01",
            "data/futures/um/daily/klines/BTCUSDT/1h/BTCUSDT-1h-2024-01-01.zip",
        ),
        (
            "um",
            "aggTrades",
            "2024-01-01",
            "data/futures/um/daily/aggTrades/BTCUSDT/BTCUSDT-aggTrades-2024-01-01.zip",
        ),
        (
            "um",
            "trades",
            "2024-01-01",
            "data/futures/um/daily/trades/BTCUSDT/BTCUSDT-trades-2024-01-01.zip",
        ),
        (
            "um",
            "bookTicker",
            "2024-01",
            "data/futures/um/monthly/bookTicker/BTCUSDT/BTCUSDT-bookTicker-2024-01.zip",
        ),
        (
            "um",
            "bookDepth",
            "2024-01-01",
            "data/futures/um/daily/bookDepth/BTCUSDT/BTCUSDT-bookDepth-2024-01-01.zip",
        ),
        (
            "um",
            "metrics",
            "2024-01-01",
            "data/futures/um/daily/metrics/BTCUSDT/BTCUSDT-metrics-2024-01-01.zip",
        ),
        (
            "um",
            "fundingRate",
            "2024-01",
            "data/futures/um/monthly/fundingRate/BTCUSDT/BTCUSDT-fundingRate-2024-01.zip",
        ),
        (
            "um",
            "markPriceKlines_1m",
            "2024-01-01",
            "data/futures/um/daily/markPriceKlines/BTCUSDT/1m/BTCUSDT-1m-2024-01-01.zip",
        ),
        (
            "um",
            "indexPriceKlines_1h",
            "2024-01",
            "data/futures/um/monthly/indexPriceKlines/BTCUSDT/1h/BTCUSDT-1h-2024-01.zip",
        ),
        (
            "um",
            "premiumIndexKlines_5m",
            "2024-01-01",
            "data/futures/um/daily/premiumIndexKlines/BTCUSDT/5m/BTCUSDT-5m-2024-01-01.zip",
        ),
    ],
)
def test_archive_paths_follow_binance_vision_layout(
    market: str, dataset: str, stamp: str, path: str
) -> None:
    file = btc(stamp, dataset, market)
    assert file.path == path
    assert file.url() == f"https://data.binance.vision/{path}"
    assert file.url("http://127.0.0.1:9/") == f"http://127.0.0.1:9/{path}"
    assert file.checksum_path == f"{path}.CHECKSUM"


def test_dataset_names_are_case_insensitive_and_canonical() -> None:
    assert parse_dataset("AGGTRADES", "spot").name == "aggTrades"
    assert parse_dataset("markpriceklines_1m", "um").name == "markPriceKlines_1m"
    assert parse_dataset("klines_1w", "spot").periods == ("monthly",)


def test_plan_covers_days_up_to_the_exclusive_end_for_each_symbol_and_dataset() -> None:
    files = plan_files(
        "spot", ["btcusdt", "ETHUSDT"], ["klines_1m", "aggTrades"], JAN1, dt.date(2024, 1, 4)
    )
    assert [f.path.rpartition("/")[2] for f in files] == [
        "BTCUSDT-1m-2024-01-01.zip",
        "BTCUSDT-1m-2024-01-02.zip",
        "BTCUSDT-1m-2024-01-03.zip",
        "BTCUSDT-aggTrades-2024-01-01.zip",
        "BTCUSDT-aggTrades-2024-01-02.zip",
        "BTCUSDT-aggTrades-2024-01-03.zip",
        "ETHUSDT-1m-2024-01-01.zip",
        "ETHUSDT-1m-2024-01-02.zip",
        "ETHUSDT-1m-2024-01-03.zip",
        "ETHUSDT-aggTrades-2024-01-01.zip",
        "ETHUSDT-aggTrades-2024-01-02.zip",
        "ETHUSDT-aggTrades-2024-01-03.zip",
    ]


def test_monthly_plan_takes_every_month_the_range_touches() -> None:
    files = plan_files(
        "um", ["BTCUSDT"], ["klines_1m"], dt.date(2023, 12, 15), dt.date(2024, 2, 2), "monthly"
    )
    assert [f.stamp for f in files] == ["2023-12", "2024-01", "2024-02"]
    assert (
        plan_files("um", ["BTCUSDT"], ["aggTrades"], JAN1, dt.date(2024, 2, 1), "monthly")[0].stamp
        == "2024-01"
    )
    assert (
        len(plan_files("um", ["BTCUSDT"], ["aggTrades"], JAN1, dt.date(2024, 2, 1), "monthly")) == 1
    )


def test_each_dataset_defaults_to_the_period_binance_vision_publishes() -> None:
    files = plan_files("um", ["BTCUSDT"], ["fundingRate", "metrics"], JAN1, dt.date(2024, 1, 3))
    assert [(f.family, f.period, f.stamp) for f in files] == [
        ("fundingRate", "monthly", "2024-01"),
        ("metrics", "daily", "2024-01-01"),
        ("metrics", "daily", "2024-01-02"),
    ]


@pytest.mark.parametrize(
    ("market", "datasets", "period", "end", "symbols", "says"),
    [
        ("spot", ["klines_7m"], None, "2024-01-02", ["BTCUSDT"], "klines has no interval '7m'"),
        ("spot", ["klines"], None, "2024-01-02", ["BTCUSDT"], "needs an interval"),
        (
            "spot",
            ["bookTicker"],
            None,
            "2024-01-02",
            ["BTCUSDT"],
            "unknown spot dataset 'bookTicker'",
        ),
        ("spot", ["fundingRate"], None, "2024-01-02", ["BTCUSDT"], "fundingRate"),
        ("um", ["klines_1s"], None, "2024-01-02", ["BTCUSDT"], "um klines has no interval '1s'"),
        (
            "um",
            ["metrics"],
            "monthly",
            "2024-01-02",
            ["BTCUSDT"],
            "metrics is published only as daily",
        ),
        (
            "um",
            ["fundingRate"],
            "daily",
            "2024-01-02",
            ["BTCUSDT"],
            "fundingRate is published only as monthly",
        ),
        ("spot", ["klines_1w"], "daily", "2024-01-02", ["BTCUSDT"], "klines_1w"),
        ("spot", ["aggTrades_1m"], None, "2024-01-02", ["BTCUSDT"], "has no interval"),
        (
            "spot",
            ["aggTrades"],
            None,
            "2024-01-01",
            ["BTCUSDT"],
            "end 2024-01-01 must be after start",
        ),
        ("spot", ["aggTrades"], None, "2024-01-02", ["../etc"], "bad symbol '../etc'"),
        ("spot", ["aggTrades"], None, "2024-01-02", [" "], "bad symbol"),
        ("coinm", ["aggTrades"], None, "2024-01-02", ["BTCUSDT"], "unknown market 'coinm'"),
    ],
)
def test_requests_binance_vision_cannot_serve_are_refused_naming_the_part(
    market: str, datasets: list[str], period: str | None, end: str, symbols: list[str], says: str
) -> None:
    with pytest.raises(FetchError, match=None) as raised:
        plan_files(market, symbols, datasets, JAN1, dt.date.fromisoformat(end), period)
    assert says in str(raised.value)


# --- fetching against the loopback server ---------------------------------------------------


@pytest.mark.parametrize("concurrency", [1, 3])
def test_full_fetch_saves_every_file_verified_with_bounded_concurrency(
    tmp_path: Path, concurrency: int
) -> None:
    files = plan_files(
        "spot", ["BTCUSDT", "ETHUSDT"], ["klines_1m", "aggTrades"], JAN1, dt.date(2024, 1, 4)
    )
    with VisionServer(delay_seconds=0.02) as server:
        bodies = publish_all(server, files)
        report = fetch(server, files, tmp_path, concurrency=concurrency)
    assert set(statuses(report).values()) == {Status.DOWNLOADED}
    assert len(report.outcomes) == 12
    for file in files:
        assert (tmp_path / file.path).read_bytes() == bodies[file.path]
        expected = f"{hashlib.sha256(bodies[file.path]).hexdigest()}  {file.name}\n"
        assert (tmp_path / file.checksum_path).read_text() == expected
    assert report.bytes_downloaded == sum(len(body) for body in bodies.values())
    assert server.max_in_flight == concurrency
    assert len(server.requests) == 24
    assert not list(tmp_path.rglob("*.part")) and not list(tmp_path.rglob("*.tmp"))


def test_transfer_dropped_mid_body_resumes_with_a_range_request(
    server: VisionServer, tmp_path: Path
) -> None:
    file = btc()
    body = archive(1)
    server.publish(file, body)
    server.drop_once.add(f"/{file.path}")
    report = fetch(server, [file], tmp_path)
    assert statuses(report) == {file.path: Status.DOWNLOADED}
    assert (tmp_path / file.path).read_bytes() == body
    assert server.requested(file.path) == [None, f"bytes={len(body) // 2}-"]
    assert report.bytes_downloaded == len(body)
    assert not (tmp_path / f"{file.path}.part").exists()


def test_part_left_by_an_earlier_run_is_continued_not_restarted(
    server: VisionServer, tmp_path: Path
) -> None:
    file = btc()
    body = archive(2)
    server.publish(file, body)
    part = tmp_path / f"{file.path}.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(body[:1000])
    report = fetch(server, [file], tmp_path)
    assert statuses(report) == {file.path: Status.DOWNLOADED}
    assert (tmp_path / file.path).read_bytes() == body
    assert server.requested(file.path) == ["bytes=1000-"]
    assert report.bytes_downloaded == len(body) - 1000


def test_server_ignoring_range_restarts_the_file_from_zero(
    server: VisionServer, tmp_path: Path
) -> None:
    file = btc()
    body = archive(3)
    server.publish(file, body)
    server.ignore_range = True
    part = tmp_path / f"{file.path}.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(body[:1000])
    report = fetch(server, [file], tmp_path)
    assert statuses(report) == {file.path: Status.DOWNLOADED}
    assert (tmp_path / file.path).read_bytes() == body


def test_whole_part_left_before_its_rename_is_kept_when_the_server_has_nothing_more(
    server: VisionServer, tmp_path: Path
) -> None:
    file = btc()
    body = archive(16)
    server.publish(file, body)
    part = tmp_path / f"{file.path}.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(body)
    report = fetch(server, [file], tmp_path)
    assert statuses(report) == {file.path: Status.DOWNLOADED}
    assert (tmp_path / file.path).read_bytes() == body
    assert server.requested(file.path) == [f"bytes={len(body)}-"]
    assert not part.exists()


def test_part_longer_than_the_file_is_discarded_and_the_file_fetched_whole(
    server: VisionServer, tmp_path: Path
) -> None:
    file = btc()
    body = archive(17)
    server.publish(file, body)
    part = tmp_path / f"{file.path}.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(body + b"junk")
    report = fetch(server, [file], tmp_path)
    assert statuses(report) == {file.path: Status.DOWNLOADED}
    assert (tmp_path / file.path).read_bytes() == body
    assert server.requested(file.path) == [f"bytes={len(body) + 4}-", None]


def test_part_of_an_older_version_fails_its_checksum_and_is_fetched_again_whole(
    server: VisionServer, tmp_path: Path
) -> None:
    file = btc()
    body = archive(4)
    server.publish(file, body)
    part = tmp_path / f"{file.path}.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(archive(99)[:1000])
    report = fetch(server, [file], tmp_path)
    assert statuses(report) == {file.path: Status.DOWNLOADED}
    assert (tmp_path / file.path).read_bytes() == body
    assert server.requested(file.path) == ["bytes=1000-", None]


def test_complete_verified_files_are_skipped_without_a_request(
    server: VisionServer, tmp_path: Path
) -> None:
    files = plan_files("um", ["BTCUSDT"], ["aggTrades", "metrics"], JAN1, dt.date(2024, 1, 3))
    publish_all(server, files)
    fetch(server, files, tmp_path)
    server.requests.clear()
    report = fetch(server, files, tmp_path)
    assert set(statuses(report).values()) == {Status.SKIPPED}
    assert server.requests == []
    assert report.bytes_downloaded == 0


def test_zip_without_its_checksum_costs_only_the_checksum_request(
    server: VisionServer, tmp_path: Path
) -> None:
    file = btc()
    body = archive(5)
    server.publish(file, body)
    (tmp_path / file.path).parent.mkdir(parents=True)
    (tmp_path / file.path).write_bytes(body)
    report = fetch(server, [file], tmp_path)
    assert statuses(report) == {file.path: Status.SKIPPED}
    assert [path for path, _ in server.requests] == [f"/{file.checksum_path}"]
    assert (tmp_path / file.checksum_path).is_file()


def test_local_zip_that_fails_its_checksum_is_downloaded_again(
    server: VisionServer, tmp_path: Path
) -> None:
    file = btc()
    body = archive(6)
    server.publish(file, body)
    fetch(server, [file], tmp_path)
    (tmp_path / file.path).write_bytes(body[:-10])
    report = fetch(server, [file], tmp_path)
    assert statuses(report) == {file.path: Status.DOWNLOADED}
    assert (tmp_path / file.path).read_bytes() == body


def test_checksum_mismatch_is_reported_naming_the_file_and_nothing_is_kept(
    server: VisionServer, tmp_path: Path
) -> None:
    bad, good = btc("2024-01-01"), btc("2024-01-02")
    server.publish(bad, archive(7), checksum="ab" * 32)
    server.publish(good, archive(8))
    report = fetch(server, [bad, good], tmp_path)
    assert statuses(report) == {bad.path: Status.FAILED, good.path: Status.DOWNLOADED}
    (failed,) = report.with_status(Status.FAILED)
    assert failed.error.startswith(f"{bad.path}: checksum mismatch")
    assert "ab" * 32 in failed.error
    assert not (tmp_path / bad.path).exists()
    assert not (tmp_path / f"{bad.path}.part").exists()
    assert not (tmp_path / bad.checksum_path).exists()
    assert len(server.requested(bad.path)) == 1


def test_malformed_checksum_file_fails_that_file(server: VisionServer, tmp_path: Path) -> None:
    file = btc()
    server.publish(file, archive(9))
    server.files[f"/{file.checksum_path}"] = b"<html>not found</html>"
    (outcome,) = fetch(server, [file], tmp_path).outcomes
    assert outcome.status is Status.FAILED
    assert file.path in outcome.error and "CHECKSUM" in outcome.error


def test_day_binance_vision_does_not_have_is_reported_missing(
    server: VisionServer, tmp_path: Path
) -> None:
    present, absent = btc("2024-01-01"), btc("2024-01-02")
    server.publish(present, archive(10))
    report = fetch(server, [present, absent], tmp_path)
    assert statuses(report) == {present.path: Status.DOWNLOADED, absent.path: Status.MISSING}
    assert not (tmp_path / absent.path).exists()
    assert server.requested(absent.path) == []


def test_zip_404_after_its_checksum_is_reported_missing(
    server: VisionServer, tmp_path: Path
) -> None:
    file = btc()
    server.publish(file, archive(11))
    del server.files[f"/{file.path}"]
    assert statuses(fetch(server, [file], tmp_path)) == {file.path: Status.MISSING}


def test_server_errors_are_retried_until_the_file_arrives(
    server: VisionServer, tmp_path: Path
) -> None:
    file = btc()
    body = archive(12)
    server.publish(file, body)
    server.failures[f"/{file.checksum_path}"] = 1
    server.failures[f"/{file.path}"] = 2
    report = fetch(server, [file], tmp_path)
    assert statuses(report) == {file.path: Status.DOWNLOADED}
    assert (tmp_path / file.path).read_bytes() == body
    assert len(server.requested(file.checksum_path)) == 2
    assert len(server.requested(file.path)) == 3


def test_server_errors_beyond_the_retries_fail_the_file_and_say_why(
    server: VisionServer, tmp_path: Path
) -> None:
    file = btc()
    server.publish(file, archive(13))
    server.failures[f"/{file.path}"] = 100
    (outcome,) = fetch(server, [file], tmp_path, retries=2).outcomes
    assert outcome.status is Status.FAILED
    assert outcome.error.startswith(f"{file.path}: gave up on the zip after 3 attempts")
    assert "HTTP 503" in outcome.error
    assert len(server.requested(file.path)) == 3


def test_client_errors_other_than_404_are_not_retried(server: VisionServer, tmp_path: Path) -> None:
    file = btc()
    server.publish(file, archive(14))
    server.failures[f"/{file.path}"] = 100
    server.failure_status = 403
    (outcome,) = fetch(server, [file], tmp_path).outcomes
    assert outcome.status is Status.FAILED
    assert "HTTP 403" in outcome.error
    assert len(server.requested(file.path)) == 1


def test_stalled_response_times_out_and_is_retried(server: VisionServer, tmp_path: Path) -> None:
    file = btc()
    body = archive(15)
    server.publish(file, body)
    server.stall_once.add(f"/{file.path}")
    report = fetch(server, [file], tmp_path, timeout_seconds=0.3)
    assert statuses(report) == {file.path: Status.DOWNLOADED}
    assert (tmp_path / file.path).read_bytes() == body
    assert len(server.requested(file.path)) == 2


# --- the progress line ------------------------------------------------------------------------


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_line_counts_files_and_bytes_on_a_terminal(
    server: VisionServer, tmp_path: Path
) -> None:
    files = [btc("2024-01-01"), btc("2024-01-02"), btc("2024-01-03")]
    publish_all(server, files[:2])
    terminal = _Terminal()
    fetch(server, files, tmp_path, progress=Progress(len(files), terminal))
    shown = terminal.getvalue()
    assert shown.startswith("\rfetch [")
    assert "3/3 files" in shown and "missing 1" in shown and "failed 0" in shown
    assert shown.endswith("\n")


def test_progress_is_silent_when_not_a_terminal() -> None:
    pipe = io.StringIO()
    progress = Progress(2, pipe)
    progress.add_bytes(10)
    progress.file_done(Status.DOWNLOADED)
    progress.file_done(Status.MISSING)
    progress.close()
    assert pipe.getvalue() == ""
    assert not Progress(2, _Terminal(), enabled=False).enabled


def test_concurrency_below_one_is_refused(tmp_path: Path) -> None:
    with pytest.raises(FetchError, match="concurrency must be at least 1"):
        asyncio.run(download_files([btc()], tmp_path, concurrency=0))
