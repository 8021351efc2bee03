"""``tickdeck qa``: the quality report as text and as JSON; user errors are one line."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import pyarrow as pa
import pytest

from app.cli_qa import USER_ERRORS, add_command
from storage.lake import Lake
from storage.quality import check_quality
from tests.storage.lake_tables import (
    DAY0_NS,
    MINUTE,
    TIME,
    Tick,
    agg_trades_table,
    random_ticks,
    reference_bars,
    trades_table,
    write_partitions,
)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """One day of BTCUSDT trades and the 1m klines built from them, minus three minutes."""
    ticks = random_ticks(21, 20_000, DAY0_NS, 24 * 60 * MINUTE)
    write_partitions(tmp_path, "trades", "BTCUSDT", trades_table(ticks))
    bars = [row for row in reference_bars(ticks, MINUTE) if row[0] not in _LOST]
    names = ("open_time", "open", "high", "low", "close", "volume", "quote_volume", "trades")
    table = pa.table(dict(zip(names, zip(*bars, strict=True), strict=True)))
    table = table.set_column(0, "open_time", pa.array(table["open_time"], pa.int64()).cast(TIME))
    Lake(tmp_path).write_bars("BTCUSDT", "1m", table)
    return tmp_path


_LOST = {DAY0_NS + 600 * MINUTE, DAY0_NS + 601 * MINUTE, DAY0_NS + 900 * MINUTE}


def run(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, str, str]:
    """The command as ``tickdeck`` runs it: user errors become one line and status 2."""
    parser = argparse.ArgumentParser(prog="tickdeck")
    add_command(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    try:
        status = args.handler(args)
    except USER_ERRORS as error:
        print(f"tickdeck: error: {error}", file=sys.stderr)
        status = 2
    out, err = capsys.readouterr()
    return status, out, err


def test_the_text_report_summarises_then_lists(
    capsys: pytest.CaptureFixture[str], data_dir: Path
) -> None:
    argv = ["qa", "--data-dir", str(data_dir), "--symbol", "BTCUSDT", "--dataset", "bars_1m"]
    status, out, err = run(capsys, argv)

    assert (status, err) == (0, "")
    lines = out.splitlines()
    assert lines[0] == "qa bars_1m BTCUSDT 2024-03-01 -> 2024-03-02 (1 UTC day)"
    assert lines[1] == "  issues       3 of 1,440 1m bars (0.208%)"
    assert lines[2] == "  rows         1,437 of 1,440 expected"
    assert lines[3] == "  gaps         2 runs, 3 missing bars"
    assert lines[4] == "  duplicates   0 keys, 0 extra rows, 0 conflicting"
    assert lines[5].startswith("  cross-check  bars_1m vs trades: 1,437 minutes compared")
    assert ", 0 differ (open 0, high 0, low 0, close 0, volume 0); 0 with bar" in lines[5]
    assert lines[5].endswith("3 with ticks and no bar")
    assert lines[6:9] == [
        "gaps",
        "  2024-03-01T10:00:00Z  ->  2024-03-01T10:02:00Z  2 missing",
        "  2024-03-01T15:00:00Z  ->  2024-03-01T15:01:00Z  1 missing",
    ]
    assert lines[9:12] == [
        "coverage per UTC day",
        "  date                rows  expected  present",
        "  2024-03-01         1,437     1,440   99.79%",
    ]
    assert lines[12] == "cross-check disagreements (first few; bar / ticks)"
    assert [line[:24] for line in lines[13:]] == [
        "  2024-03-01T10:00:00Z  ",
        "  2024-03-01T10:01:00Z  ",
        "  2024-03-01T15:00:00Z  ",
    ]
    assert lines[13][24:].startswith("open -/42004.46484375  high -/")


def test_json_is_the_whole_report(capsys: pytest.CaptureFixture[str], data_dir: Path) -> None:
    argv = ["qa", "--data-dir", str(data_dir), "--symbol", "BTCUSDT", "--dataset", "trades"]
    status, out, _ = run(capsys, [*argv, "--json", "--max-gap", "30"])

    report = json.loads(out)
    assert status == 0
    expected = check_quality(data_dir, "trades", "BTCUSDT", max_gap_seconds=30)
    assert report == json.loads(json.dumps(dataclasses.asdict(expected)))
    assert report["gap_threshold_seconds"] == 30.0
    assert report["cross_check"]["ticks_only"] == 3
    assert set(report) >= {"gaps", "duplicates", "coverage", "cross_check", "issue_share"}


def test_ticks_report_their_empty_stretches(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    ticks = [Tick(i, DAY0_NS + i * 10 * 1_000_000_000, 1.0, 1.0) for i in range(8640) if i != 50]
    write_partitions(tmp_path, "agg_trades", "ETHUSDT", agg_trades_table(ticks))
    argv = ["qa", "--data-dir", str(tmp_path), "--symbol", "ETHUSDT", "--dataset", "agg_trades"]
    status, out, _ = run(capsys, [*argv, "--max-gap", "15"])

    assert status == 0
    assert "  gaps         1 empty stretches over 15 s, 20.0 s in all" in out
    assert "  2024-03-01T00:08:10Z  ->  2024-03-01T00:08:30Z  20.000 s" in out
    assert "cross-check  none" in out


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--dataset", "bars_1m", "--symbol", "ETHUSDT"], "no bars_1m for ETHUSDT under"),
        (["--dataset", "fills", "--symbol", "BTCUSDT"], "does not know the key of dataset 'fills'"),
        (["--dataset", "bars_7m", "--symbol", "BTCUSDT"], "unknown interval '7m'"),
        (
            [
                "--dataset",
                "bars_1m",
                "--symbol",
                "BTCUSDT",
                "--start",
                "2024-03-02",
                "--end",
                "2024-03-01",
            ],
            "empty range",
        ),
    ],
)
def test_user_errors_are_one_line(
    capsys: pytest.CaptureFixture[str], data_dir: Path, extra: list[str], message: str
) -> None:
    status, out, err = run(capsys, ["qa", "--data-dir", str(data_dir), *extra])
    assert (status, out) == (2, "")
    assert err.startswith("tickdeck: error: ") and message in err and err.count("\n") == 1
