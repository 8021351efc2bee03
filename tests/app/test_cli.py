"""The ``tickdeck`` command line: bad input is one line naming the bad part, with a non-zero
status and no traceback; the happy paths print results and leave a complete run directory."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from app.cli import main
from storage.sample import write_sample
from tests.app.run_outputs import METRIC_NAMES, RUN_FILES

START = dt.date(2024, 1, 1)
TICKDECK_SCRIPT = Path(sys.executable).with_name("tickdeck")


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """Two days of sample bars, 2024-01-01 and 2024-01-02."""
    data = tmp_path / "data"
    write_sample(data, "BTCUSDT", START, 2, seed=7)
    return data


def _run(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, str, str]:
    try:
        status = main(argv)
    except SystemExit as exit_:
        status = exit_.code if isinstance(exit_.code, int) else 1
    out, err = capsys.readouterr()
    return status, out, err


def _assert_one_error_line(status: int, out: str, err: str, *named: str) -> None:
    assert status != 0
    assert "Traceback" not in out + err
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("tickdeck: error: ")
    for name in named:
        assert name in lines[0]


# --- bad input ----------------------------------------------------------------------------


BAD_BACKTEST_INPUT = [
    pytest.param(
        ["--start", "2023-06-01", "--end", "2023-06-03"],
        ["no 1m bars", "BTCUSDT", "2023-06-01"],
        id="no-data-for-the-range",
    ),
    pytest.param(["--symbol", "ETHUSDT"], ["no 1m bars", "ETHUSDT"], id="no-data-for-a-symbol"),
    pytest.param(["--strategy", "sma_crosss"], ["unknown strategy", "sma_crosss"], id="strategy"),
    pytest.param(["--param", "fast=abc"], ["fast", "int"], id="parameter-value"),
    pytest.param(["--param", "nonsense=1"], ["nonsense"], id="parameter-name"),
    pytest.param(["--param", "fast=40"], ["fast", "slow"], id="parameters-disagree"),
    pytest.param(["--interval", "7m"], ["backtest.interval", "7m"], id="interval"),
    pytest.param(["--symbol", "DOGEUSDT"], ["DOGEUSDT", "instruments"], id="symbol"),
    pytest.param(["--start", "2024-01-02", "--end", "2024-01-01"], ["backtest.end"], id="end"),
    pytest.param(["--config", "missing.toml"], ["missing.toml", "not found"], id="no-config"),
    pytest.param(
        ["--param", "fast"], ["--param", "NAME=VALUE", "'fast'"], id="param-without-value",
    ),
    pytest.param(
        ["--param", "=5"], ["--param", "'=5'"], id="param-without-name"
    ),
    pytest.param(
        ["--start", "2024-13-01"], ["--start", "2024-13-01"], id="date"
    ),
    pytest.param(["--seed", "lucky"], ["--seed", "lucky"], id="seed"),
]  # fmt: skip


@pytest.mark.parametrize(("arguments", "named"), BAD_BACKTEST_INPUT)
def test_bad_backtest_input_is_one_error_line_naming_it(
    capsys: pytest.CaptureFixture[str], data_dir: Path, arguments: list[str], named: list[str]
) -> None:
    status, out, err = _run(capsys, ["backtest", "--data-dir", str(data_dir), *arguments])

    _assert_one_error_line(status, out, err, *named)
    assert not (data_dir / "runs").exists()


@pytest.mark.parametrize(
    ("toml", "named"),
    [
        pytest.param(
            '[backtest]\nsymbls = ["BTCUSDT"]\n',
            ["backtest.symbls", "did you mean 'backtest.symbols'"],
            id="misspelt-key",
        ),
        pytest.param('[backtest]\ninterval = "7m"\n', ["backtest.interval", "7m"], id="interval"),
        pytest.param("[risk]\nmax_order_notional = -1\n", ["risk.max_order_notional"], id="value"),
        pytest.param("[backtest\nseed = 1\n", ["invalid TOML"], id="not-toml"),
    ],
)
def test_a_bad_config_file_is_one_error_line_naming_the_file_and_key(
    capsys: pytest.CaptureFixture[str], data_dir: Path, tmp_path: Path, toml: str, named: list[str]
) -> None:
    config = tmp_path / "mine.toml"
    config.write_text(toml, encoding="utf-8")

    status, out, err = _run(
        capsys, ["backtest", "--config", str(config), "--data-dir", str(data_dir)]
    )

    _assert_one_error_line(status, out, err, str(config), *named)


def test_sample_data_refuses_zero_days_in_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    status, out, err = _run(capsys, ["sample-data", "--data-dir", str(tmp_path), "--days", "0"])

    _assert_one_error_line(status, out, err, "--days")


def test_an_unknown_command_is_one_error_line(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = _run(capsys, ["bakctest"])

    _assert_one_error_line(status, out, err, "bakctest")


def _tickdeck(*arguments: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.upper().startswith("TICKDECK_")}
    return subprocess.run(
        [str(TICKDECK_SCRIPT), *arguments],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_installed_command_reports_bad_input_in_one_line(
    data_dir: Path, tmp_path: Path
) -> None:
    config = tmp_path / "typo.toml"
    config.write_text("[exchange]\ntaker_fee_bsp = 10\n", encoding="utf-8")

    done = _tickdeck("backtest", "--data-dir", str(data_dir), "--config", str(config), cwd=tmp_path)

    assert done.returncode == 2
    _assert_one_error_line(
        done.returncode, done.stdout, done.stderr, "typo.toml", "exchange.taker_fee_bsp"
    )


def test_the_module_entry_point_reports_no_data_in_one_line(data_dir: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", "backtest", "--data-dir", str(data_dir),
         "--start", "2025-01-01", "--end", "2025-01-02"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip

    _assert_one_error_line(done.returncode, done.stdout, done.stderr, "no 1m bars", "2025-01-01")


# --- happy paths --------------------------------------------------------------------------


def _printed_run(out: str) -> tuple[str, Path]:
    fingerprint = re.search(r"^fingerprint ([0-9a-f]{64})$", out, re.MULTILINE)
    run_dir = re.search(r"^run dir +(.+)$", out, re.MULTILINE)
    assert fingerprint and run_dir, out
    return fingerprint.group(1), Path(run_dir.group(1))


def _assert_metrics_table(out: str) -> None:
    for name in METRIC_NAMES:
        assert re.search(rf"^  {name} +\S+$", out, re.MULTILINE), name


def test_sample_data_then_backtest_prints_metrics_and_writes_a_run_directory(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    data = tmp_path / "data"
    status, out, err = _run(capsys, ["sample-data", "--data-dir", str(data), "--days", "2"])
    assert (status, err) == (0, "")
    assert "wrote 2 daily files of BTCUSDT 1m bars" in out
    days = sorted(p.name for p in (data / "lake" / "bars_1m" / "symbol=BTCUSDT").iterdir())
    assert days == ["date=2024-01-01", "date=2024-01-02"]

    status, out, err = _run(
        capsys,
        ["backtest", "--data-dir", str(data), "--start", "2024-01-01", "--end", "2024-01-03",
         "--param", "fast=5", "--param", "slow=20"],
    )  # fmt: skip

    assert status == 0, err
    assert "Traceback" not in err
    assert out.startswith("backtest sma_cross BTCUSDT 1m 2024-01-01 -> 2024-01-03: 2,880 bars")
    _assert_metrics_table(out)
    fingerprint, run_dir = _printed_run(out)
    assert run_dir.parent == data / "runs"
    assert {path.name for path in run_dir.iterdir()} == set(RUN_FILES)
    metrics = json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["fingerprint"] == fingerprint
    assert metrics["fills"] > 0
    config = (run_dir / "config.toml").read_text(encoding="utf-8")
    assert re.search(r"^fast = 5$", config, re.MULTILINE)  # typed, as a config file has it
    assert re.search(r"^slow = 20$", config, re.MULTILINE)
    assert "note:" not in out  # the lake covers the whole range


def test_a_range_the_lake_only_partly_covers_says_how_much_is_missing(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    data = tmp_path / "data"
    _run(capsys, ["sample-data", "--data-dir", str(data), "--days", "2"])
    status, out, _ = _run(
        capsys,
        ["backtest", "--data-dir", str(data), "--start", "2024-01-01", "--end", "2024-01-05"],
    )
    assert status == 0
    assert "note: the lake held 2,880 of the 5,760 bars in the range (50.0%)" in out


def test_the_installed_command_runs_sample_data_then_a_backtest(tmp_path: Path) -> None:
    sample = _tickdeck("sample-data", "--data-dir", "D", "--days", "2", cwd=tmp_path)
    assert sample.returncode == 0, sample.stderr

    done = _tickdeck(
        "backtest", "--data-dir", "D", "--start", "2024-01-01", "--end", "2024-01-03",
        "--param", "fast=5", "--param", "slow=20", cwd=tmp_path,
    )  # fmt: skip

    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    _assert_metrics_table(done.stdout)
    _, run_dir = _printed_run(done.stdout)
    assert {path.name for path in (tmp_path / run_dir).iterdir()} == set(RUN_FILES)


def test_bare_tickdeck_without_a_terminal_runs_the_demo_backtest_on_generated_data(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # pytest captures stdout: no terminal to draw the UI on

    status, out, err = _run(capsys, [])

    assert status == 0, err
    said, first_line, *_ = out.splitlines()
    assert said == "no terminal to draw the UI on: running the demo backtest instead"
    assert first_line.startswith("First run: generated 30 days of sample BTCUSDT 1m bars")
    assert (tmp_path / "data" / "lake" / "bars_1m" / "symbol=BTCUSDT").is_dir()
    _assert_metrics_table(out)
    fingerprint, run_dir = _printed_run(out)
    assert {path.name for path in (tmp_path / run_dir).iterdir()} == set(RUN_FILES)

    status, again, err = _run(capsys, [])

    assert status == 0, err
    assert "First run" not in again
    assert _printed_run(again)[0] == fingerprint
