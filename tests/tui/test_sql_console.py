"""The console's query runner: capped rows with a full count, DuckDB's text for values, and a
running query interrupted by the next one or by ``cancel``."""

from __future__ import annotations

import datetime as dt
import threading
import time
from pathlib import Path

import pytest

from storage.catalog import QueryError, WriteRefusedError
from storage.sample import write_sample
from tui.sql_console import QueryCancelled, SqlConsole

SLOW = "SELECT sum(i * i) FROM range(20000000000) t(i)"


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    write_sample(tmp_path, "BTCUSDT", dt.date(2024, 1, 1), 1, seed=7)
    return tmp_path


def test_rows_past_the_limit_are_counted_not_kept(data_dir: Path) -> None:
    result = SqlConsole(row_limit=10).run(data_dir, "SELECT open_time, close FROM bars_1m")

    assert (result.columns, result.numeric, len(result.rows), result.total) == (
        ("open_time", "close"),
        (False, True),
        10,
        1440,
    )
    assert result.rows[0][0] == "2024-01-01 00:00:00+00"


def test_values_are_duckdbs_text_on_one_line(data_dir: Path) -> None:
    result = SqlConsole().run(
        data_dir, "SELECT NULL AS nothing, 'a' || chr(10) || 'b' AS lines, 1.50::DECIMAL(4,2) AS d"
    )
    assert result.rows == (("NULL", "a\\nb", "1.50"),)


def test_errors_and_writes_are_the_catalogs(data_dir: Path) -> None:
    console = SqlConsole()
    with pytest.raises(QueryError, match="syntax error"):
        console.run(data_dir, "SELEC 1")
    with pytest.raises(WriteRefusedError):
        console.run(data_dir, "CREATE TABLE t AS SELECT 1")


def test_cancel_interrupts_the_running_query(data_dir: Path) -> None:
    console = SqlConsole()
    raised: list[BaseException] = []

    def slow() -> None:
        try:
            console.run(data_dir, SLOW)
        except BaseException as error:  # the test's assertion reads it
            raised.append(error)

    thread = threading.Thread(target=slow)
    started = time.monotonic()
    thread.start()
    time.sleep(0.3)
    console.cancel()
    thread.join(10)
    assert not thread.is_alive() and time.monotonic() - started < 10
    assert len(raised) == 1 and isinstance(raised[0], QueryCancelled)
