"""``tickdeck fetch binance-vision`` against the loopback binance.vision server: what arrives on
disk, what the summary says, which exit status, and requests refused with one line."""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

import app.logs
from app.cli_fetch import USER_ERRORS, add_command
from storage.download import plan_files
from tests.storage.vision_server import VisionServer, archive


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No TICKDECK_ variable or proxy from the developer's shell; logging put back as it was,
    since the command configures it process-wide."""
    for name in list(os.environ):
        if name.upper().startswith("TICKDECK_") or name.lower().endswith("_proxy"):
            monkeypatch.delenv(name)
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    monkeypatch.setattr(app.logs, "_handler", app.logs._handler)
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    structlog.reset_defaults()


@pytest.fixture
def server() -> Iterator[VisionServer]:
    with VisionServer() as running:
        yield running


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="tickdeck")
    add_command(parser.add_subparsers(dest="command"))
    return parser.parse_args(argv)


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    args = parse(argv)
    status = args.handler(args)
    out, err = capsys.readouterr()
    return status, out, err


def vision_args(server: VisionServer, dest: Path, *extra: str) -> list[str]:
    return [
        "fetch", "binance-vision", "--market", "spot", "--symbols", "BTCUSDT,ETHUSDT",
        "--datasets", "klines_1m,aggTrades", "--start", "2024-01-01", "--end", "2024-01-03",
        "--base-url", server.base_url, "--dest", str(dest), *extra,
    ]  # fmt: skip


def publish_plan(server: VisionServer, start: str = "2024-01-01", end: str = "2024-01-03") -> dict:
    files = plan_files(
        "spot",
        ["BTCUSDT", "ETHUSDT"],
        ["klines_1m", "aggTrades"],
        dt.date.fromisoformat(start),
        dt.date.fromisoformat(end),
    )
    bodies = {}
    for seed, file in enumerate(files):
        bodies[file.path] = archive(seed, size=5_000)
        server.publish(file, bodies[file.path])
    return bodies


def test_fetch_downloads_the_tree_and_summarizes(
    server: VisionServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bodies = publish_plan(server)
    dest = tmp_path / "vision"
    status, out, err = run(vision_args(server, dest, "--concurrency", "2"), capsys)
    assert status == 0
    assert len(bodies) == 8
    for path, body in bodies.items():
        assert (dest / path).read_bytes() == body
        assert (dest / f"{path}.CHECKSUM").read_text().startswith(hashlib.sha256(body).hexdigest())
    assert (dest / "data/spot/daily/klines/BTCUSDT/1m/BTCUSDT-1m-2024-01-01.zip").is_file()
    assert "8 files; downloaded 8" in out
    assert "already complete 0, missing 0, failed 0" in out
    assert f"tickdeck ingest binance-vision {dest}" in out
    assert "\r" not in err  # stderr is not a terminal here: no progress line
    assert server.max_in_flight <= 2


def test_second_run_skips_everything_without_requests(
    server: VisionServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    publish_plan(server)
    run(vision_args(server, tmp_path), capsys)
    server.requests.clear()
    status, out, _ = run(vision_args(server, tmp_path, "--quiet"), capsys)
    assert status == 0
    assert "downloaded 0 (0.0 MiB), already complete 8" in out
    assert server.requests == []


def test_missing_days_are_listed_as_ranges_and_are_not_an_error(
    server: VisionServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    publish_plan(server, "2024-01-01", "2024-01-02")
    argv = vision_args(server, tmp_path)
    argv[argv.index("--end") + 1] = "2024-01-05"
    status, out, _ = run(argv, capsys)
    assert status == 0
    assert "missing 12" in out
    assert "BTCUSDT klines_1m (daily): 2024-01-02..2024-01-04" in out
    assert "ETHUSDT aggTrades (daily): 2024-01-02..2024-01-04" in out


def test_failed_file_is_named_on_stderr_and_the_status_is_one(
    server: VisionServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bodies = publish_plan(server)
    bad = "data/spot/daily/aggTrades/ETHUSDT/ETHUSDT-aggTrades-2024-01-02.zip"
    server.files[f"/{bad}.CHECKSUM"] = f"{'0' * 64}  {bad.rpartition('/')[2]}\n".encode()
    status, out, err = run(vision_args(server, tmp_path), capsys)
    assert status == 1
    assert "downloaded 7" in out and "failed 1" in out
    assert f"tickdeck: error: {bad}: checksum mismatch" in err
    assert not (tmp_path / bad).exists()
    assert len(bodies) == 8


def test_nothing_found_at_all_is_an_error(
    server: VisionServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, _, err = run(vision_args(server, tmp_path), capsys)
    assert status == 1
    assert "binance.vision has none of the 8 files asked for" in err


def test_default_destination_is_under_the_data_dir(
    server: VisionServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    publish_plan(server)
    monkeypatch.setenv("TICKDECK_DATA__DIR", str(tmp_path / "data"))
    argv = vision_args(server, tmp_path)
    del argv[argv.index("--dest") : argv.index("--dest") + 2]
    status, _, _ = run(argv, capsys)
    assert status == 0
    tree = tmp_path / "data" / "binance.vision" / "data" / "spot" / "daily"
    assert (tree / "aggTrades/ETHUSDT/ETHUSDT-aggTrades-2024-01-02.zip").is_file()


def test_monthly_period_fetches_monthly_files(
    server: VisionServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (file,) = plan_files(
        "um", ["BTCUSDT"], ["fundingRate"], dt.date(2024, 1, 1), dt.date(2024, 2, 1), "monthly"
    )
    server.publish(file, archive(1, size=1_000))
    argv = [
        "fetch", "binance-vision", "--market", "um", "--symbols", "btcusdt",
        "--datasets", "fundingRate", "--start", "2024-01-01", "--end", "2024-02-01",
        "--period", "monthly", "--base-url", server.base_url, "--dest", str(tmp_path),
    ]  # fmt: skip
    status, out, _ = run(argv, capsys)
    assert status == 0 and "downloaded 1" in out
    assert (
        tmp_path / "data/futures/um/monthly/fundingRate/BTCUSDT/BTCUSDT-fundingRate-2024-01.zip"
    ).is_file()


@pytest.mark.parametrize(
    ("change", "says"),
    [
        (("--datasets", "klines_7m"), "dataset 'klines_7m': spot klines has no interval '7m'"),
        (("--datasets", "bookDepth"), "unknown spot dataset 'bookDepth'"),
        (("--end", "2023-12-31"), "end 2023-12-31 must be after start 2024-01-01"),
        (("--symbols", "BTC/USDT"), "bad symbol 'BTC/USDT'"),
        (("--concurrency", "0"), "--concurrency must be at least 1, got 0"),
        (("--base-url", "data.binance.vision"), "--base-url must start with http"),
    ],
)
def test_requests_that_cannot_be_served_raise_a_user_error_naming_the_part(
    tmp_path: Path, change: tuple[str, str], says: str
) -> None:
    argv = [
        "fetch", "binance-vision", "--market", "spot", "--symbols", "BTCUSDT",
        "--datasets", "aggTrades", "--start", "2024-01-01", "--end", "2024-01-02",
        "--base-url", "http://127.0.0.1:9", "--dest", str(tmp_path), "--concurrency", "1",
    ]  # fmt: skip
    argv[argv.index(change[0]) + 1] = change[1]
    args = parse(argv)
    with pytest.raises(USER_ERRORS) as raised:
        args.handler(args)
    assert says in str(raised.value)
    assert isinstance(raised.value, ValueError)


def test_metrics_asked_monthly_is_refused(tmp_path: Path) -> None:
    args = parse(
        ["fetch", "binance-vision", "--market", "um", "--symbols", "BTCUSDT",
         "--datasets", "metrics", "--start", "2024-01-01", "--end", "2024-02-01",
         "--period", "monthly", "--dest", str(tmp_path)]
    )  # fmt: skip
    with pytest.raises(USER_ERRORS, match="metrics is published only as daily files"):
        args.handler(args)
