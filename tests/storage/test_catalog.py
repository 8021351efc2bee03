"""The DuckDB catalog: views over every lake dataset and the runs' outputs, kept in step with
the disk, read-only queries, DuckDB errors as one line."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from storage.catalog import (
    CATALOG_FILE,
    MissingViewError,
    QueryError,
    WriteRefusedError,
    dataset_scan,
    lake_datasets,
    one_line,
    open_catalog,
    view_definitions,
)
from storage.sample import write_sample
from tests.storage.lake_tables import DAY0_NS, Tick, trades_table, write_partitions

START = dt.date(2024, 1, 1)


@pytest.fixture
def lake(tmp_path: Path) -> Path:
    """Two days of BTCUSDT and one of ETHUSDT 1m bars, and three BTCUSDT trades."""
    write_sample(tmp_path, "BTCUSDT", START, 2, seed=1)
    write_sample(tmp_path, "ETHUSDT", START, 1, seed=2, start_price=2000.0)
    ticks = [Tick(1, DAY0_NS, 100.0, 1.0), Tick(2, DAY0_NS + 1, 101.0, 2.0)]
    ticks.append(Tick(3, DAY0_NS + 2, 99.0, 1.0))
    write_partitions(tmp_path, "trades", "BTCUSDT", trades_table(ticks))
    return tmp_path


def rows(catalog_query: pa.RecordBatchReader) -> list[dict[str, object]]:
    return catalog_query.read_all().to_pylist()


def write_run(data_dir: Path, run_id: str, fills: int, sharpe: float | None = 1.5) -> None:
    """A run directory as app.artifacts writes it, reduced to what the views read."""
    run = data_dir / "runs" / run_id
    run.mkdir(parents=True)
    ts = pa.array([DAY0_NS + i for i in range(fills)], pa.int64()).cast(
        pa.timestamp("ns", tz="UTC")
    )
    prices = [100.0 + i for i in range(fills)]
    pq.write_table(pa.table({"ts": ts, "price": prices}), run / "fills.parquet")
    for name in ("orders", "positions", "equity"):
        pq.write_table(pa.table({"ts": ts}), run / f"{name}.parquet")
    manifest = {"run_id": run_id, "strategy": "sma_cross", "fills": fills}
    manifest["fingerprint"] = "f" + run_id
    (run / "manifest.json").write_text(json.dumps(manifest))
    metrics = {"fills": fills, "fingerprint": "f" + run_id, "sharpe": sharpe, "trades": fills // 2}
    (run / "metrics.json").write_text(json.dumps(metrics))


def test_every_dataset_with_files_is_a_view_with_symbol_and_date_first(lake: Path) -> None:
    (lake / "lake" / "agg_trades" / "symbol=BTCUSDT").mkdir(parents=True)  # no files yet

    with open_catalog(lake) as catalog:
        assert catalog.views == ("bars_1m", "trades")
        assert catalog.path == lake / CATALOG_FILE
        columns = catalog.describe()
        counts = rows(
            catalog.query("SELECT symbol, count(*) AS n FROM bars_1m GROUP BY symbol ORDER BY 1")
        )
        trades = rows(catalog.query("SELECT symbol, date, trade_id FROM trades ORDER BY trade_id"))
    assert [name for name, _ in columns["bars_1m"][:3]] == ["symbol", "date", "open_time"]
    assert dict(columns["bars_1m"])["date"] == "DATE"
    assert counts == [{"symbol": "BTCUSDT", "n": 2880}, {"symbol": "ETHUSDT", "n": 1440}]
    assert [row["trade_id"] for row in trades] == [1, 2, 3]
    assert trades[0]["date"] == dt.date(2024, 3, 1)


def test_a_numeric_looking_symbol_stays_text(tmp_path: Path) -> None:
    write_sample(tmp_path, "1000", START, 1, seed=1)
    with open_catalog(tmp_path) as catalog:
        [row] = rows(catalog.query("SELECT symbol, typeof(symbol) AS kind FROM bars_1m LIMIT 1"))
    assert row == {"symbol": "1000", "kind": "VARCHAR"}


def test_new_and_vanished_datasets_change_the_views_on_the_next_open(lake: Path) -> None:
    with open_catalog(lake) as catalog:
        assert "agg_trades" not in catalog.views
    write_sample(lake, "BTCUSDT", START, 1, seed=1, interval="5m")
    for path in (lake / "lake" / "trades").rglob("*.parquet"):
        path.unlink()

    with open_catalog(lake) as catalog:
        assert catalog.views == ("bars_1m", "bars_5m")
        count = catalog.query("SELECT count(*) AS n FROM bars_5m").read_all()["n"][0].as_py()
    assert count == 288
    with duckdb.connect(str(lake / CATALOG_FILE), read_only=True) as raw:
        stored = raw.sql("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()
    assert sorted(name for (name,) in stored) == ["bars_1m", "bars_5m"]


def test_new_partitions_show_without_reopening(lake: Path) -> None:
    with open_catalog(lake) as catalog:
        before = catalog.query("SELECT count(*) AS n FROM bars_1m").read_all()["n"][0].as_py()
        write_sample(lake, "BTCUSDT", START + dt.timedelta(days=5), 1, seed=9)
        after = catalog.query("SELECT count(*) AS n FROM bars_1m").read_all()["n"][0].as_py()
    assert after == before + 1440


def test_an_unchanged_lake_does_not_rewrite_the_catalog_file(lake: Path) -> None:
    open_catalog(lake).close()
    path = lake / CATALOG_FILE
    stamp = (path.stat().st_mtime_ns, path.stat().st_size)

    with open_catalog(lake) as catalog:
        assert catalog.views == ("bars_1m", "trades")

    assert (path.stat().st_mtime_ns, path.stat().st_size) == stamp


def test_views_someone_else_added_to_the_file_are_kept(lake: Path) -> None:
    open_catalog(lake).close()
    with duckdb.connect(str(lake / CATALOG_FILE)) as raw:
        raw.execute("CREATE VIEW my_view AS SELECT 42 AS answer")
    write_sample(lake, "BTCUSDT", START, 1, seed=1, interval="1h")  # forces a rewrite

    with open_catalog(lake) as catalog:
        answer = catalog.query("SELECT answer FROM my_view").read_all()["answer"][0].as_py()
        assert "bars_1h" in catalog.views
    assert answer == 42


def test_run_outputs_are_views_with_the_run_id(tmp_path: Path) -> None:
    write_run(tmp_path, "20240101T000000Z-a", fills=2)
    write_run(tmp_path, "20240102T000000Z-b", fills=3, sharpe=None)

    with open_catalog(tmp_path) as catalog:
        assert catalog.views == ("equity", "fills", "orders", "positions", "runs")
        fills = rows(
            catalog.query("SELECT run_id, count(*) AS n FROM fills GROUP BY run_id ORDER BY 1")
        )
        runs = rows(catalog.query("SELECT * FROM runs"))
    assert fills == [
        {"run_id": "20240101T000000Z-a", "n": 2},
        {"run_id": "20240102T000000Z-b", "n": 3},
    ]
    assert [run["run_id"] for run in runs] == ["20240101T000000Z-a", "20240102T000000Z-b"]
    assert runs[0]["sharpe"] == 1.5 and runs[1]["sharpe"] is None
    assert runs[1]["trades"] == 1 and runs[1]["strategy"] == "sma_cross"
    # fills and fingerprint are in both files: one column each, no fills_1
    assert sorted(runs[0]) == ["fills", "fingerprint", "run_id", "sharpe", "strategy", "trades"]


def test_a_run_without_metrics_still_lists(tmp_path: Path) -> None:
    write_run(tmp_path, "r1", fills=1)
    (tmp_path / "runs" / "r1" / "metrics.json").unlink()
    with open_catalog(tmp_path) as catalog:
        [run] = rows(catalog.query("SELECT run_id, fills FROM runs"))
    assert run == {"run_id": "r1", "fills": 1}


def test_a_real_backtest_run_is_queryable(tmp_path: Path) -> None:
    from app.backtest import run_backtest
    from app.settings import load_settings

    write_sample(tmp_path, "BTCUSDT", START, 2, seed=7)
    settings = load_settings(
        None, {"data.dir": str(tmp_path), "backtest.end": START + dt.timedelta(days=2)}
    )
    result = run_backtest(settings)
    assert result.run_dir is not None

    with open_catalog(tmp_path) as catalog:
        [run] = rows(catalog.query("SELECT run_id, bars, fills, total_return FROM runs"))
        [equity] = rows(catalog.query("SELECT run_id, count(*) AS n FROM equity GROUP BY ALL"))
        fills = rows(catalog.query("SELECT run_id FROM fills"))
    assert run["run_id"] == result.run_dir.name
    assert run["bars"] == 2880 and run["fills"] == result.fills
    assert run["total_return"] == result.metrics["total_return"]
    assert equity["run_id"] == result.run_dir.name and equity["n"] > 0
    assert len(fills) == result.fills


def test_an_empty_lake_has_no_views_and_says_how_to_get_some(tmp_path: Path) -> None:
    with open_catalog(tmp_path / "absent") as catalog:
        assert catalog.views == ()
        assert catalog.path is None
        with pytest.raises(QueryError) as raised:
            catalog.query("SELECT * FROM bars_1m")
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith("Catalog Error: Table with name bars_1m does not exist!")
    assert "the catalog has no views: no datasets under" in message
    assert "tickdeck sample-data" in message
    assert not (tmp_path / "absent").exists()


def test_sql_errors_are_duckdbs_message_on_one_line(lake: Path) -> None:
    with open_catalog(lake) as catalog:
        with pytest.raises(QueryError) as parse:
            catalog.query("SELECT * FORM bars_1m")
        with pytest.raises(QueryError) as unknown:
            catalog.query("SELECT * FROM bars_2m")
        with pytest.raises(QueryError) as binder:
            catalog.query("SELECT nope FROM bars_1m")
    assert str(parse.value).startswith('Parser Error: syntax error at or near "bars_1m"')
    assert "views: bars_1m, trades" in str(unknown.value)
    assert "pg_" not in str(unknown.value)
    assert str(binder.value).startswith('Binder Error: Referenced column "nope" not found')
    for error in (parse, unknown, binder):
        assert "\n" not in str(error.value) and "^" not in str(error.value)


@pytest.mark.parametrize(
    "statement",
    [
        "DROP VIEW bars_1m",
        "CREATE TABLE t AS SELECT 1",
        "INSERT INTO bars_1m SELECT * FROM bars_1m",
        "COPY (SELECT 1) TO 'out.csv'",
        "EXPLAIN ANALYZE COPY (SELECT 1) TO 'out.csv'",
        "EXPORT DATABASE 'dump'",
        "ATTACH 'other.duckdb'",
        "PRAGMA enable_profiling",
        "SET threads = 1",
        "SELECT 1; DROP VIEW bars_1m",
    ],
)
def test_anything_but_a_read_is_refused_before_it_runs(
    lake: Path, statement: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(lake)
    open_catalog(lake).close()
    before = (lake / CATALOG_FILE).read_bytes()
    with open_catalog(lake) as catalog, pytest.raises((WriteRefusedError, QueryError)) as raised:
        catalog.query(statement)
    assert "read-only" in str(raised.value) or "one SQL statement" in str(raised.value)
    assert (lake / CATALOG_FILE).read_bytes() == before
    assert not (lake / "out.csv").exists() and not (lake / "dump").exists()
    with open_catalog(lake) as catalog:
        assert catalog.views == ("bars_1m", "trades")


def test_select_and_explain_run(lake: Path) -> None:
    with open_catalog(lake) as catalog:
        assert catalog.query("EXPLAIN SELECT * FROM trades").read_all().num_rows >= 1
        assert catalog.query("explain analyze SELECT 1").read_all().num_rows >= 1
        assert catalog.query("DESCRIBE trades").read_all().num_rows == 9
        assert catalog.query("FROM trades").read_all().num_rows == 3


def test_queries_run_on_a_read_only_connection(lake: Path) -> None:
    with open_catalog(lake) as catalog, pytest.raises(duckdb.Error, match="read-only"):
        catalog.connection.execute("CREATE TABLE t (a INT)")


def test_a_locked_catalog_file_falls_back_to_views_in_memory(lake: Path) -> None:
    open_catalog(lake).close()
    write_sample(lake, "BTCUSDT", START, 1, seed=1, interval="1h")  # the file is now stale
    holder = duckdb.connect(str(lake / CATALOG_FILE), read_only=True)
    with holder, open_catalog(lake) as catalog:
        assert catalog.path is None
        assert "bars_1h" in catalog.views
        n = catalog.query("SELECT count(*) AS n FROM bars_1h").read_all()["n"][0].as_py()
    assert n == 24


def test_a_damaged_dataset_loses_its_view_and_says_why(lake: Path) -> None:
    broken = lake / "lake" / "agg_trades" / "symbol=BTCUSDT" / "date=2024-01-01"
    broken.mkdir(parents=True)
    (broken / "part-0.parquet").write_bytes(b"not parquet")

    with open_catalog(lake) as catalog:
        assert catalog.views == ("bars_1m", "trades")
        assert "agg_trades" in catalog.problems
        with pytest.raises(MissingViewError, match="no view 'agg_trades': "):
            catalog.view("agg_trades")
        with pytest.raises(QueryError, match="view agg_trades is unavailable"):
            catalog.query("SELECT * FROM agg_trades")


def test_view_names_a_missing_dataset_and_its_directory(lake: Path) -> None:
    with open_catalog(lake) as catalog:
        assert catalog.view("bars_1m") == '"bars_1m"'
        with pytest.raises(MissingViewError, match=r"no view 'bars_4h' \(no Parquet files under"):
            catalog.view("bars_4h")


def test_a_lent_connection_gets_temporary_views_and_stays_open(lake: Path) -> None:
    """What the backtest feed does: its own connection, the catalog's views."""
    connection = duckdb.connect()
    catalog = open_catalog(lake, connection=connection)
    catalog.close()
    count = connection.sql(
        f"SELECT count(*) FROM {catalog.view('bars_1m')} "
        "WHERE symbol = 'BTCUSDT' AND date BETWEEN DATE '2024-01-02' AND DATE '2024-01-02'"
    ).fetchall()
    assert count == [(1440,)]
    assert not (lake / CATALOG_FILE).exists()


def test_definitions_cover_datasets_and_runs(lake: Path) -> None:
    write_run(lake, "r1", fills=1)
    definitions = view_definitions(lake)
    assert list(definitions) == [
        "bars_1m", "equity", "fills", "orders", "positions", "runs", "trades",
    ]  # fmt: skip
    assert definitions["bars_1m"] == dataset_scan(lake, "bars_1m")
    assert "hive_types = {'symbol': VARCHAR, 'date': DATE}" in definitions["trades"]
    assert lake_datasets(lake) == ["bars_1m", "trades"]
    with pytest.raises(ValueError, match="cannot name a lake dataset"):
        dataset_scan(lake, "bars_1m; DROP")


def test_one_line_drops_carets_and_line_breaks() -> None:
    message = 'Parser Error: syntax error at or near "x"\n\nLINE 1: SELECT x y z\n              ^'
    assert one_line(message) == 'Parser Error: syntax error at or near "x" LINE 1: SELECT x y z'
