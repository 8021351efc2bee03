"""``tickdeck backfill`` end to end against respx: what it prints, what lands in the lake, and
one-line errors naming the flag, the symbol or the day."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import respx
import structlog

import app.logs
from app import cli_backfill
from app.cli import main
from storage.lake import Lake
from tests.venues.binance.klines_venue import DAY1, DAY1_MS, DAY_MS, PagedVenue, minutes
from venues.binance import backfill as backfill_module

BASE = "http://sim.test"


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Commands read TICKDECK_ settings and configure logging process-wide."""
    for name in list(os.environ):
        if name.upper().startswith("TICKDECK_"):
            monkeypatch.delenv(name)
    root, httpx_logger = logging.getLogger(), logging.getLogger("httpx")
    handlers, level, httpx_level = list(root.handlers), root.level, httpx_logger.level
    monkeypatch.setattr(app.logs, "_handler", app.logs._handler)
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    httpx_logger.setLevel(httpx_level)
    structlog.reset_defaults()


@pytest.fixture
def router() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=BASE, assert_all_called=False) as mock:
        mock.get("/api/v3/time").respond(json={"serverTime": DAY1_MS + 10 * DAY_MS})
        yield mock


def _argv(data_dir: Path, *extra: str) -> list[str]:
    return [
        "backfill", "--venue", "binance", "--symbol", "BTCUSDT", "--interval", "1m",
        "--start", "2024-01-01", "--end", "2024-01-03", "--data-dir", str(data_dir),
        "--base-url", BASE, *extra,
    ]  # fmt: skip


def test_backfill_writes_the_days_and_says_so(
    router: respx.MockRouter, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    router.get("/api/v3/klines").mock(side_effect=PagedVenue(minutes(DAY1_MS, 2880)))
    assert main(_argv(tmp_path)) == 0
    out = capsys.readouterr().out
    assert (
        "backfill binance BTCUSDT 1m 2024-01-01 -> 2024-01-03 (end exclusive): 2 days; "
        "fetched 2 (2,880 bars in 4 requests), already complete 0"
    ) in out
    assert f"bars under {tmp_path / 'lake' / 'bars_1m' / 'symbol=BTCUSDT'}" in out
    table = Lake(tmp_path).read_partition("bars_1m", "BTCUSDT", DAY1)
    assert table is not None and table.num_rows == 1440

    assert main(_argv(tmp_path)) == 0
    assert "fetched 0 (0 bars in 0 requests), already complete 2" in capsys.readouterr().out


def test_gaps_are_listed_and_not_an_error(
    router: respx.MockRouter, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    opens = [t for t in minutes(DAY1_MS, 2880) if t != DAY1_MS + 5 * 60_000]
    router.get("/api/v3/klines").mock(side_effect=PagedVenue(opens))
    assert main(_argv(tmp_path)) == 0
    out = capsys.readouterr().out
    assert "  gap 2024-01-01T00:05:00Z -> 2024-01-01T00:06:00Z: 1 bars Binance does not have" in out


def test_a_lower_case_symbol_is_taken_as_the_venue_spells_it(
    router: respx.MockRouter, tmp_path: Path
) -> None:
    venue = PagedVenue(minutes(DAY1_MS, 2880))
    router.get("/api/v3/klines").mock(side_effect=venue)
    argv = _argv(tmp_path)
    argv[argv.index("BTCUSDT")] = "btcusdt"
    assert main(argv) == 0
    assert Lake(tmp_path).read_partition("bars_1m", "BTCUSDT", DAY1) is not None


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--symbol", "BTC/USDT", "--symbol 'BTC/USDT': expected the venue's symbol"),
        ("--interval", "2m", "--interval: unknown interval '2m'"),
        ("--end", "2024-01-01", "--end 2024-01-01 must be after --start 2024-01-01"),
        ("--base-url", "sim.test", "--base-url must start with http:// or https://"),
        ("--start", "2024-13-01", "argument --start: expected a date YYYY-MM-DD, got '2024-13-01'"),
        ("--venue", "kraken", "argument --venue: invalid choice: 'kraken'"),
    ],
)
def test_bad_input_is_one_line_naming_the_flag(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flag: str, value: str, message: str
) -> None:
    argv = _argv(tmp_path)
    argv[argv.index(flag) + 1] = value
    with respx.mock(base_url=BASE, assert_all_called=False) as mock:
        route = mock.route()
        try:
            status = main(argv)
        except SystemExit as exit_:
            status = int(exit_.code or 0)
    err = capsys.readouterr().err
    assert status == 2
    assert err.startswith("tickdeck: error: ") and message in err
    assert err.count("\n") == 1
    assert route.call_count == 0
    assert not (tmp_path / "lake").exists()


def test_a_venue_refusal_names_the_symbol_and_day(
    router: respx.MockRouter, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    router.get("/api/v3/klines").respond(400, json={"code": -1121, "msg": "Invalid symbol."})
    assert main(_argv(tmp_path)) == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        "tickdeck: error: symbol BTCUSDT, day 2024-01-01: GET /api/v3/klines: "
        "HTTP 400 code -1121 Invalid symbol."
    )


def test_an_unreachable_venue_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(backfill_module, "_RETRY_DELAYS", (0.0,))
    with respx.mock(base_url=BASE, assert_all_called=False) as mock:
        mock.get("/api/v3/time").mock(side_effect=httpx.ConnectError("Connection refused"))
        assert main(_argv(tmp_path)) == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        "tickdeck: error: symbol BTCUSDT, day 2024-01-01: GET /api/v3/time: not sent: "
        "cannot connect to http://sim.test (Connection refused)"
    )


def test_an_interrupt_says_how_to_resume(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    async def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli_backfill, "backfill_klines", interrupted)
    assert main(_argv(tmp_path)) == 130
    assert "run the same command again to resume" in capsys.readouterr().err
