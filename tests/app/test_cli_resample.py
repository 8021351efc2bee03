"""``tickdeck resample``: writes the bars dataset, says what it wrote, and is idempotent."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pytest

from app.cli_resample import USER_ERRORS, add_command
from tests.storage.lake_tables import (
    DAY0_NS,
    MINUTE,
    agg_trades_table,
    file_digests,
    lake_bars,
    random_ticks,
    reference_bars,
    write_partitions,
)

DAY = 1440 * MINUTE


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    write_partitions(
        tmp_path,
        "um_agg_trades",
        "BTCUSDT",
        agg_trades_table(random_ticks(31, 4000, DAY0_NS, 2 * DAY)),
    )
    return tmp_path


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


def test_resample_writes_the_bars_and_says_so(
    capsys: pytest.CaptureFixture[str], data_dir: Path
) -> None:
    argv = ["resample", "--data-dir", str(data_dir), "--source", "um_agg_trades"]
    status, out, err = run(capsys, [*argv, "--interval", "1h", "--symbol", "BTCUSDT"])

    assert (status, err) == (0, "")
    assert out.startswith("wrote 48 um_bars_1h bars of BTCUSDT from um_agg_trades (2 UTC days, ")
    assert out.endswith(f"under {data_dir / 'lake' / 'um_bars_1h'}\n")
    assert len(lake_bars(data_dir, "um_bars_1h", "BTCUSDT")) == 48


def test_running_it_again_changes_nothing(
    capsys: pytest.CaptureFixture[str], data_dir: Path
) -> None:
    argv = ["resample", "--data-dir", str(data_dir), "--source", "um_agg_trades"]
    argv += ["--interval", "1m", "--symbol", "BTCUSDT"]
    run(capsys, argv)
    before = file_digests(data_dir / "lake" / "um_bars_1m")
    assert run(capsys, argv)[0] == 0
    assert file_digests(data_dir / "lake" / "um_bars_1m") == before


def test_start_and_end_pick_the_days(capsys: pytest.CaptureFixture[str], data_dir: Path) -> None:
    argv = ["resample", "--data-dir", str(data_dir), "--source", "um_agg_trades", "--interval"]
    argv += ["5m", "--symbol", "BTCUSDT", "--start", "2024-03-02", "--end", "2024-03-03"]
    status, out, _ = run(capsys, argv)

    assert status == 0 and "(1 UTC day, " in out
    bars = lake_bars(data_dir, "um_bars_5m", "BTCUSDT")
    ticks = [t for t in random_ticks(31, 4000, DAY0_NS, 2 * DAY) if t.ts >= DAY0_NS + DAY]
    assert [bar[0] for bar in bars] == [bar[0] for bar in reference_bars(ticks, 5 * MINUTE)]


@pytest.mark.parametrize(
    ("source", "interval", "message"),
    [
        ("um_agg_trades", "2m", "unknown interval '2m'"),
        ("um_bars_5m", "1m", "cannot resample um_bars_5m to 1m"),
        ("agg_trades", "1m", "no agg_trades in the lake under"),
        ("um_quotes", "1m", "cannot resample 'um_quotes'"),
    ],
)
def test_user_errors_are_one_line(
    capsys: pytest.CaptureFixture[str], data_dir: Path, source: str, interval: str, message: str
) -> None:
    argv = ["resample", "--data-dir", str(data_dir), "--source", source, "--interval", interval]
    status, out, err = run(capsys, [*argv, "--symbol", "BTCUSDT"])
    assert (status, out) == (2, "")
    assert err.startswith("tickdeck: error: ") and message in err and err.count("\n") == 1


def test_a_bad_date_is_an_argument_error(
    capsys: pytest.CaptureFixture[str], data_dir: Path
) -> None:
    argv = ["resample", "--source", "trades", "--interval", "1m", "--symbol", "X"]
    with pytest.raises(SystemExit):
        run(capsys, [*argv, "--start", "March"])
    assert "expected a date YYYY-MM-DD, got 'March'" in capsys.readouterr().err
