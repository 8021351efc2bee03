"""``tickdeck sql``: a terminal table, CSV, JSON and Parquet of one read-only statement; a SQL
error or a write is one line on stderr with status 2, never a traceback."""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
import json
import sys
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from app.cli_sql import USER_ERRORS, add_command, render_table
from storage.catalog import CATALOG_FILE
from storage.sample import write_sample

START = dt.date(2024, 1, 1)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    write_sample(tmp_path, "BTCUSDT", START, 2, seed=7)
    write_sample(tmp_path, "ETHUSDT", START, 1, seed=8, start_price=2000.0)
    return tmp_path


def run(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, str, str]:
    """The command as ``tickdeck`` runs it: user errors become one line and status 2;
    anything else would escape and fail the test."""
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


def test_a_table_is_aligned_with_numbers_to_the_right(
    capsys: pytest.CaptureFixture[str], data_dir: Path
) -> None:
    query = (
        "SELECT symbol, count(*) AS bars, min(open_time) AS first, NULL AS nothing "
        "FROM bars_1m GROUP BY symbol ORDER BY symbol"
    )
    status, out, err = run(capsys, ["sql", "--data-dir", str(data_dir), query])

    assert (status, err) == (0, "")
    assert out == (
        "symbol   bars  first                   nothing\n"
        "-------  ----  ----------------------  -------\n"
        "BTCUSDT  2880  2024-01-01 00:00:00+00  NULL\n"
        "ETHUSDT  1440  2024-01-01 00:00:00+00  NULL\n"
        "(2 rows)\n"
    )


def test_a_long_result_shows_its_first_rows_and_says_there_are_more(
    capsys: pytest.CaptureFixture[str], data_dir: Path
) -> None:
    argv = ["sql", "--data-dir", str(data_dir), "--max-rows", "5", "SELECT * FROM bars_1m"]
    status, out, _ = run(capsys, argv)

    lines = out.splitlines()
    assert status == 0
    assert len(lines) == 2 + 5 + 1
    assert lines[-1].startswith("(5 rows shown; there are more: add LIMIT or --max-rows")
    assert "--format csv --out FILE writes every row" in lines[-1]


def test_csv_goes_to_stdout_or_a_file_with_every_row(
    capsys: pytest.CaptureFixture[str], data_dir: Path, tmp_path: Path
) -> None:
    query = "SELECT symbol, open_time, close FROM bars_1m WHERE symbol = 'ETHUSDT' ORDER BY 2"
    status, out, _ = run(capsys, ["sql", "--data-dir", str(data_dir), "--format", "csv", query])
    target = tmp_path / "out.csv"
    argv = ["sql", "--data-dir", str(data_dir), "--format", "csv", "--out", str(target), query]
    assert run(capsys, argv) == (0, "", "")

    records = list(csv.DictReader(io.StringIO(out)))
    assert status == 0
    assert len(records) == 1440
    assert records[0]["symbol"] == "ETHUSDT"
    assert records[0]["open_time"] == "2024-01-01 00:00:00+00"
    assert float(records[0]["close"]) > 0
    assert target.read_text(encoding="utf-8") == out


def test_json_is_one_array_of_objects(capsys: pytest.CaptureFixture[str], data_dir: Path) -> None:
    query = "SELECT symbol, date, trades FROM bars_1m ORDER BY open_time, symbol LIMIT 3"
    status, out, _ = run(capsys, ["sql", "--data-dir", str(data_dir), "--format", "json", query])

    records = json.loads(out)
    assert status == 0
    assert [record["symbol"] for record in records] == ["BTCUSDT", "ETHUSDT", "BTCUSDT"]
    assert records[0]["date"] == "2024-01-01"
    assert isinstance(records[0]["trades"], int)


def test_parquet_needs_a_file_and_holds_the_typed_rows(
    capsys: pytest.CaptureFixture[str], data_dir: Path, tmp_path: Path
) -> None:
    query = "SELECT symbol, open_time, volume FROM bars_1m WHERE symbol = 'BTCUSDT'"
    status, out, err = run(
        capsys, ["sql", "--data-dir", str(data_dir), "--format", "parquet", query]
    )
    assert (status, out) == (2, "")
    assert (
        err
        == "tickdeck: error: --format parquet needs --out FILE (Parquet is not for a terminal)\n"
    )

    target = tmp_path / "out.parquet"
    argv = ["sql", "--data-dir", str(data_dir), "--format", "parquet", "--out", str(target), query]
    assert run(capsys, argv) == (0, "", "")
    table = pq.read_table(target)
    assert table.num_rows == 2880
    assert table.schema.field("open_time").type.tz is not None
    assert table.schema.field("volume").type == pa.float64()


def test_a_sql_error_is_duckdbs_message_on_one_line(
    capsys: pytest.CaptureFixture[str], data_dir: Path
) -> None:
    status, out, err = run(capsys, ["sql", "--data-dir", str(data_dir), "SELECT nope FROM bars_1m"])

    assert (status, out) == (2, "")
    assert err.startswith('tickdeck: error: Binder Error: Referenced column "nope" not found')
    assert err.count("\n") == 1 and "Traceback" not in err


def test_an_error_while_rows_stream_is_one_line_too(
    capsys: pytest.CaptureFixture[str], data_dir: Path
) -> None:
    query = "SELECT CAST(CASE WHEN trades > 0 THEN 'x' ELSE '1' END AS INTEGER) FROM bars_1m"
    for extra in ([], ["--format", "csv"]):
        status, _, err = run(capsys, ["sql", "--data-dir", str(data_dir), *extra, query])
        assert status == 2
        assert err.startswith("tickdeck: error: Conversion Error:")
        assert err.count("\n") == 1


def test_a_write_is_refused_and_changes_nothing(
    capsys: pytest.CaptureFixture[str], data_dir: Path
) -> None:
    run(capsys, ["sql", "--data-dir", str(data_dir), "SELECT 1"])
    before = (data_dir / CATALOG_FILE).read_bytes()

    status, out, err = run(capsys, ["sql", "--data-dir", str(data_dir), "DROP VIEW bars_1m"])

    assert (status, out) == (2, "")
    assert err == (
        "tickdeck: error: the catalog is read-only: a DROP statement is refused (only SELECT, "
        "and EXPLAIN of one, run; to export rows use `tickdeck sql --format ... --out FILE`)\n"
    )
    assert (data_dir / CATALOG_FILE).read_bytes() == before
    assert run(capsys, ["sql", "--data-dir", str(data_dir), "SELECT count(*) FROM bars_1m"])[0] == 0


def test_without_a_statement_the_views_are_listed(
    capsys: pytest.CaptureFixture[str], data_dir: Path
) -> None:
    status, out, _ = run(capsys, ["sql", "--data-dir", str(data_dir)])

    assert status == 0
    assert out.startswith("bars_1m  symbol VARCHAR, date DATE, open_time TIMESTAMPTZ_NS, open")


def test_an_empty_lake_says_so(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    status, out, _ = run(capsys, ["sql", "--data-dir", str(tmp_path)])
    assert status == 0
    assert out.startswith("the catalog has no views: no datasets under")

    status, out, err = run(capsys, ["sql", "--data-dir", str(tmp_path), "SELECT * FROM trades"])
    assert (status, out) == (2, "")
    assert "the catalog has no views" in err and err.count("\n") == 1


def test_times_are_utc_whatever_the_machines_zone(
    capsys: pytest.CaptureFixture[str], data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TZ", "America/Sao_Paulo")
    query = "SELECT min(open_time) AS first FROM bars_1m"
    _, table, _ = run(capsys, ["sql", "--data-dir", str(data_dir), query])
    _, text, _ = run(capsys, ["sql", "--data-dir", str(data_dir), "--format", "csv", query])
    assert "2024-01-01 00:00:00+00" in table
    assert text == "first\n2024-01-01 00:00:00+00\n"


def test_a_table_can_go_to_a_file(
    capsys: pytest.CaptureFixture[str], data_dir: Path, tmp_path: Path
) -> None:
    target = tmp_path / "table.txt"
    argv = ["sql", "--data-dir", str(data_dir), "--out", str(target), "SELECT 1 AS one"]
    assert run(capsys, argv) == (0, "", "")
    assert target.read_text(encoding="utf-8") == "one\n---\n  1\n(1 row)\n"


def test_a_narrow_terminal_cuts_cells_and_then_leaves_columns_out() -> None:
    table = pa.table(
        {
            "label": ["a" * 50, "short"],
            "amount": pa.array([1.5, 22.25]),
            "note": ["x" * 30, None],
            "tail": ["last column", "z"],
        }
    )
    assert render_table(table, more=False).splitlines()[2].startswith("a" * 39 + "…  ")

    narrow = render_table(table, more=False, width=45).splitlines()
    assert all(len(line) <= 45 for line in narrow[:-1])
    assert narrow[0].split() == ["label", "amount", "note"]
    assert narrow[2].startswith("a" * 11 + "…")
    assert narrow[3].split() == ["short", "22.25", "NULL"]
    assert narrow[-1] == "(2 rows; 3 of 4 columns shown: select fewer, or use --format csv)"


def test_max_rows_must_be_positive(capsys: pytest.CaptureFixture[str], data_dir: Path) -> None:
    status, _, err = run(
        capsys, ["sql", "--data-dir", str(data_dir), "--max-rows", "0", "SELECT 1"]
    )
    assert status == 2
    assert err == "tickdeck: error: --max-rows must be at least 1, got 0\n"


def test_a_warning_goes_to_stderr_not_into_the_output(
    capfd: pytest.CaptureFixture[str], data_dir: Path
) -> None:
    run(capfd, ["sql", "--data-dir", str(data_dir), "SELECT 1"])
    write_sample(data_dir, "BTCUSDT", START, 1, seed=1, interval="1h")  # the file is now stale
    query = "SELECT count(*) AS n FROM bars_1h"
    with duckdb.connect(str(data_dir / CATALOG_FILE), read_only=True):  # and held open
        status, out, err = run(
            capfd, ["sql", "--data-dir", str(data_dir), "--format", "csv", query]
        )

    assert (status, out) == (0, "n\n24\n")
    assert "catalog_file_unusable" in err
