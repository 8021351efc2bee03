"""``tickdeck ingest binance-vision|freqtrade|file``: the per-file summary, the exit status,
user errors."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from app.cli_ingest import USER_ERRORS, IngestUsageError, add_command
from storage.binance_vision import VisionPathError
from storage.other_formats import FormatPathError
from tests.storage.test_binance_vision import DAY0_MS, agg_trade, shared_fixtures, write_vision_file

TREE = "data/spot/daily/aggTrades/BTCUSDT/BTCUSDT-aggTrades-2024-01-0{}.csv"


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="tickdeck")
    add_command(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return int(args.handler(args))


def write_days(root: Path, bad_day: int | None = None) -> list[Path]:
    paths = []
    for day in (1, 2, 3):
        start = DAY0_MS + (day - 1) * 86_400_000
        rows = [agg_trade(day * 100 + i, 100.0, 1.0, start + i) for i in range(4)]
        if day == bad_day:
            rows[1] = rows[1].replace("100.0,", "1O0.0,", 1)
        paths.append(write_vision_file(root, TREE.format(day), rows))
    return paths


def test_ingest_prints_one_line_per_file_and_the_totals(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    paths = write_days(tmp_path / "in")
    assert run(["ingest", "binance-vision", str(tmp_path / "in"), "--data-dir", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == (
        f"ok    {paths[0]}  agg_trades BTCUSDT: read 4, written 4, duplicates 0, dropped 0, "
        "checksum none"
    )
    assert len(lines) == 4
    assert lines[-1] == (
        f"3 files: read 12, written 12, duplicates 0, dropped 0 -> {tmp_path / 'lake'}"
    )


def test_a_second_ingest_reports_everything_as_duplicates(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_days(tmp_path / "in")
    argv = ["ingest", "binance-vision", str(tmp_path / "in"), "--data-dir", str(tmp_path)]
    run(argv)
    capsys.readouterr()
    assert run(argv) == 0
    assert (
        capsys.readouterr()
        .out.splitlines()[-1]
        .startswith("3 files: read 12, written 0, duplicates 12, dropped 0")
    )


def test_warnings_are_listed_by_kind_with_their_first_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [
        agg_trade(2, 100.0, 1.0, DAY0_MS + 5),
        agg_trade(1, -1.0, 1.0, DAY0_MS),
        agg_trade(3, 100.0, -1.0, DAY0_MS + 6),
        agg_trade(0, 100.0, 1.0, DAY0_MS + 1),
    ]
    path = write_vision_file(tmp_path, TREE.format(1), rows)
    assert run(["ingest", "binance-vision", str(path), "--data-dir", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1] == (
        "      warnings: negative_size 1 (first line 3), non_positive_price 1 (first line 2), "
        "out_of_order 1 (first line 4)"
    )


def test_a_failing_file_is_named_with_its_line_and_the_exit_status_is_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    paths = write_days(tmp_path / "in", bad_day=2)
    status = run(["ingest", "binance-vision", str(tmp_path / "in"), "--data-dir", str(tmp_path)])
    out, err = capsys.readouterr()
    assert status == 1
    lines = out.splitlines()
    assert lines[1].startswith(f"FAIL  {paths[1]}: line 2: column 'price': ")
    assert '"1O0.0"' in lines[1]
    assert lines[0].startswith("ok") and lines[2].startswith("ok")
    assert lines[-1].startswith("3 files, 1 failed: read 8, written 8")
    assert err == "tickdeck: error: 1 of 3 files failed\n"


def test_a_missing_path_is_a_user_error_before_anything_is_ingested(tmp_path: Path) -> None:
    (good,) = write_days(tmp_path / "in")[:1]
    with pytest.raises(VisionPathError, match="no such file or folder") as raised:
        run(["ingest", "binance-vision", str(good), str(tmp_path / "missing.zip"),
             "--data-dir", str(tmp_path)])  # fmt: skip
    assert isinstance(raised.value, USER_ERRORS)
    assert not (tmp_path / "lake").exists()


def test_a_folder_with_nothing_to_ingest_is_a_user_error(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(IngestUsageError, match=r"no \.csv or \.zip files in"):
        run(["ingest", "binance-vision", str(tmp_path / "empty"), "--data-dir", str(tmp_path)])
    assert IngestUsageError in USER_ERRORS


def test_the_market_option_places_files_outside_a_market_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_vision_file(tmp_path, "downloads/BTCUSDT-aggTrades-2024-01-01.csv",
                             [agg_trade(1, 100.0, 1.0, DAY0_MS, spot=False)])  # fmt: skip
    argv = ["ingest", "binance-vision", str(path), "--data-dir", str(tmp_path)]
    assert run(argv) == 1
    assert "--market spot|um" in capsys.readouterr().out
    assert run([*argv, "--market", "um"]) == 0
    assert "um_agg_trades BTCUSDT: read 1, written 1" in capsys.readouterr().out


def test_a_source_is_required() -> None:
    with pytest.raises(SystemExit):
        run(["ingest"])


def test_the_real_fixtures_ingest_through_the_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = shared_fixtures() / "binance_vision"
    assert run(["ingest", "binance-vision", str(root), "--data-dir", str(tmp_path)]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == (
        f"6 files: read 12,911, written 12,911, duplicates 0, dropped 0 -> {tmp_path / 'lake'}"
    )


def test_freqtrade_files_ingest_through_the_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "in/BTC_USDT-1m.csv"
    path.parent.mkdir()
    path.write_text("open_time_ms,open,high,low,close,volume\n1704067200000,1.0,2.0,0.5,1.5,3.0\n")
    assert run(["ingest", "freqtrade", str(tmp_path / "in"), "--data-dir", str(tmp_path)]) == 0
    assert capsys.readouterr().out.splitlines()[0] == (
        f"ok    {path}  bars_1m BTCUSDT: read 1, written 1, duplicates 0, dropped 0, checksum none"
    )


def test_a_freqtrade_folder_with_nothing_to_ingest_and_a_missing_path_are_user_errors(
    tmp_path: Path,
) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(IngestUsageError, match=r"no \.feather or \.csv files in"):
        run(["ingest", "freqtrade", str(tmp_path / "empty"), "--data-dir", str(tmp_path)])
    with pytest.raises(FormatPathError, match="no such file or folder") as raised:
        run(["ingest", "file", "--format", "binance-tdepth", "--symbol", "BTCUSDT",
             str(tmp_path / "missing.csv"), "--data-dir", str(tmp_path)])  # fmt: skip
    assert isinstance(raised.value, USER_ERRORS)


def test_file_needs_a_known_format_and_a_symbol() -> None:
    with pytest.raises(SystemExit):
        run(["ingest", "file", "--format", "csv", "--symbol", "BTCUSDT", "x.csv"])
    with pytest.raises(SystemExit):
        run(["ingest", "file", "--format", "binance-tdepth", "x.csv"])


def test_the_real_misc_and_candle_files_ingest_through_the_commands(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    misc = shared_fixtures() / "binance_misc"
    argv = ["--data-dir", str(tmp_path), "--symbol", "BTCUSDT"]
    formats = [
        ("nautilus-trades", "spot_btcusdt_trades_2021-01-08.parquet"),
        ("nautilus-quotes", "spot_btcusdt_quotes_2021-01-08.parquet"),
        ("binance-tdepth", "futures_btcusdt_depth_update.csv"),
    ]
    for file_format, name in formats:
        assert run(["ingest", "file", "--format", file_format, str(misc / name), *argv]) == 0
    out = capsys.readouterr().out
    assert "trades BTCUSDT: read 2,001, written 2,001" in out
    assert "quotes BTCUSDT: read 451, written 451" in out
    assert "um_depth_updates BTCUSDT: read 100, written 63, duplicates 37" in out
    candles = shared_fixtures() / "candles/freqtrade/XRP_ETH-5m.feather"
    assert run(["ingest", "freqtrade", str(candles), "--data-dir", str(tmp_path)]) == 0
    assert "bars_5m XRPETH: read 706, written 706" in capsys.readouterr().out
