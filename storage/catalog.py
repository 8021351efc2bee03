"""The DuckDB catalog: one database file of views over the lake's datasets and the runs' outputs.

``<data>/catalog.duckdb`` holds only views, no data:

- one view per lake dataset directory that holds at least one Parquet file
  (``bars_1m``, ``trades``, ``um_agg_trades``...), named after the directory,
  reading ``<data>/lake/<dataset>/symbol=*/date=*/*.parquet`` with hive
  partitioning, so ``symbol`` and ``date`` are columns (the first two) and a
  filter on them skips whole directories;
- ``journal`` over every exported session journal,
  ``<data>/lake/journal/session=*/*.parquet`` (``tickdeck journal export``), with
  ``session`` a column (first) and a filter on it skipping the other sessions;
- ``orders``, ``fills``, ``positions`` and ``equity`` over every run's Parquet
  files under ``<data>/runs/<run_id>/``, with a ``run_id`` column taken from the
  path, and ``runs``: one row per run from its ``manifest.json`` and
  ``metrics.json``.

Views read their files when queried, so new partitions and new runs show up by
themselves; only a new (or vanished) dataset changes the set of views. Opening
the catalog therefore compares the views it wants with the ones in the file
(each view carries a hash of its SQL as its comment) and rewrites the file only
when they differ, then queries through a read-only connection. If the file
cannot be written (another process has it open) or read (a DuckDB version
change), the same views are built in memory instead: a query never fails
because of the catalog file. Views someone else added to the file (no tickdeck
comment) are left alone.

``tickdeck sql``, the TUI's SQL console and the backtest feed all read through
``open_catalog``, so there is one definition of what a dataset is in SQL.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Final

import duckdb
import pyarrow as pa
import structlog

__all__ = [
    "CATALOG_FILE",
    "JOURNAL_VIEW",
    "RUN_TABLES",
    "Catalog",
    "CatalogError",
    "MissingViewError",
    "QueryError",
    "WriteRefusedError",
    "dataset_scan",
    "lake_datasets",
    "one_line",
    "open_catalog",
    "view_definitions",
]

log = structlog.get_logger(__name__)

CATALOG_FILE: Final = "catalog.duckdb"
RUN_TABLES: Final = ("orders", "fills", "positions", "equity")
"""Parquet files every run directory holds, each a view of the same name."""
_RUNS_VIEW: Final = "runs"
JOURNAL_VIEW: Final = "journal"
"""The lake directory of exported journals (partitioned by session, not symbol and
date) and the view over it."""
_RESERVED: Final = frozenset((*RUN_TABLES, _RUNS_VIEW))
_DATASET_NAME: Final = re.compile(r"[a-z][a-z0-9_]*")
_MARK: Final = "tickdeck:"
_EXPLAIN: Final = re.compile(r"\s*EXPLAIN\s*(\([^)]*\))?\s*(ANALY[SZ]E\b)?", re.IGNORECASE)
# Keys metrics.json shares with manifest.json (same values): the runs view keeps one copy.
_SHARED_RUN_KEYS: Final = ("fingerprint", "fills")
_HINT_VIEWS: Final = 12
_SYSTEM_SUGGESTION: Final = re.compile(r' Did you mean "pg_\w+"\?')


class CatalogError(ValueError):
    """A query or view the catalog cannot serve; the message is one line a user can act on."""


class QueryError(CatalogError):
    """DuckDB refused or failed a query; the message is DuckDB's, on one line."""


class WriteRefusedError(CatalogError):
    """A statement that would change a database or write files, on a read-only catalog."""


class MissingViewError(CatalogError):
    """The catalog has no view for a dataset (the lake has no files of it)."""


@dataclass
class Catalog:
    """An open catalog: a connection whose views are the lake's datasets and the runs' outputs.

    ``problems`` maps a view that could not be built to why (a damaged first file,
    say); the other views still work.
    """

    connection: duckdb.DuckDBPyConnection
    data_dir: Path
    views: tuple[str, ...]
    path: Path | None
    """The database file queried, or None when the views live in memory."""
    problems: dict[str, str] = field(default_factory=dict)
    _owned: bool = True

    def __enter__(self) -> Catalog:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection, unless the caller lent it to ``open_catalog``."""
        if self._owned:
            self.connection.close()

    def view(self, dataset: str) -> str:
        """The quoted view name of ``dataset``, for a query's FROM clause."""
        if dataset not in self.views:
            reason = self.problems.get(dataset)
            where = Path(self.data_dir) / "lake" / dataset
            detail = f": {reason}" if reason else f" (no Parquet files under {where})"
            raise MissingViewError(f"the catalog has no view {dataset!r}{detail}")
        return _identifier(dataset)

    def query(self, sql: str, batch_size: int = 65536) -> pa.RecordBatchReader:
        """Stream the rows of one read-only statement (SELECT, or EXPLAIN of one).

        Anything else is refused before it runs, read-only connection or not: in
        DuckDB even a read-only connection may COPY or EXPORT to files.
        """
        statement = self._single_statement(sql)
        try:
            return self.connection.sql(statement).to_arrow_reader(batch_size)
        except duckdb.Error as error:
            raise self.query_error(error) from None

    def describe(self) -> dict[str, list[tuple[str, str]]]:
        """Each view's columns as (name, SQL type), by view name."""
        rows = self.connection.sql(
            "SELECT table_name, column_name, data_type FROM duckdb_columns() "
            "WHERE NOT internal AND list_contains($views, table_name) "
            "ORDER BY table_name, column_index",
            params={"views": list(self.views)},
        ).fetchall()
        columns: dict[str, list[tuple[str, str]]] = {view: [] for view in self.views}
        for table, column, kind in rows:
            columns[table].append((column, kind))
        return columns

    def query_error(self, error: BaseException) -> QueryError:
        """``error`` as one line, with what the catalog holds when a name was not found."""
        message = one_line(str(error))
        if isinstance(error, duckdb.CatalogException):
            # DuckDB suggests its Postgres-compatibility tables for any unknown name.
            message = _SYSTEM_SUGGESTION.sub("", message)
            message = f"{message}; {self.empty_hint() if not self.views else self._views_hint()}"
        return QueryError(message)

    def empty_hint(self) -> str:
        """Why the catalog has no views, and how to get some."""
        return (
            f"the catalog has no views: no datasets under {self.data_dir / 'lake'} and no runs "
            f"under {self.data_dir / 'runs'} (write some with `tickdeck sample-data`, "
            f"`tickdeck ingest` or `tickdeck backtest`)"
        )

    def _views_hint(self) -> str:
        shown = ", ".join(self.views[:_HINT_VIEWS])
        more = f" and {len(self.views) - _HINT_VIEWS} more" if len(self.views) > _HINT_VIEWS else ""
        broken = "".join(
            f"; view {name} is unavailable: {why}" for name, why in self.problems.items()
        )
        return f"views: {shown}{more}{broken}"

    def _single_statement(self, sql: str) -> duckdb.Statement:
        try:
            statements = self.connection.extract_statements(sql)
        except duckdb.Error as error:
            raise self.query_error(error) from None
        if len(statements) != 1:
            raise QueryError(f"expected one SQL statement, got {len(statements)}")
        statement = statements[0]
        kind = statement.type.name
        if kind == "EXPLAIN":
            kind = self._explained_kind(statement.query)
        if kind != "SELECT":
            raise WriteRefusedError(
                f"the catalog is read-only: a {kind} statement is refused (only SELECT, and "
                f"EXPLAIN of one, run; to export rows use `tickdeck sql --format ... --out FILE`)"
            )
        return statement

    def _explained_kind(self, sql: str) -> str:
        """The kind of statement an EXPLAIN wraps: EXPLAIN ANALYZE runs it, so an explained
        COPY writes its file. What cannot be unwrapped counts as EXPLAIN and is refused."""
        wrapper = _EXPLAIN.match(sql)
        if wrapper is None:
            return "EXPLAIN"
        try:
            inner = self.connection.extract_statements(sql[wrapper.end() :])
        except duckdb.Error:
            return "EXPLAIN"
        return inner[0].type.name if len(inner) == 1 else "EXPLAIN"


def open_catalog(data_dir: Path, *, connection: duckdb.DuckDBPyConnection | None = None) -> Catalog:
    """The catalog of ``data_dir``, its views in step with the lake and the runs.

    With ``connection``, the views are created on it as temporary views (the file
    is not touched) and closing the catalog leaves the connection open: for a
    caller that tunes its own connection, such as the feed.
    """
    data_dir = Path(data_dir)
    definitions = view_definitions(data_dir)
    if connection is not None:
        views, problems = _create_views(connection, definitions, temporary=True)
        return Catalog(connection, data_dir, views, None, problems, _owned=False)
    path = data_dir / CATALOG_FILE
    if data_dir.is_dir():
        try:
            return _open_file(path, data_dir, definitions)
        except duckdb.Error as error:
            log.warning("catalog_file_unusable", path=str(path), error=one_line(str(error)))
    memory = _connect(":memory:")
    views, problems = _create_views(memory, definitions, temporary=False)
    return Catalog(memory, data_dir, views, None, problems)


def lake_datasets(data_dir: Path) -> list[str]:
    """Names of the lake's datasets that hold at least one partition file, sorted."""
    lake = Path(data_dir) / "lake"
    if not lake.is_dir():
        return []
    found = []
    for directory in sorted(lake.iterdir()):
        name = directory.name
        if not directory.is_dir() or not _DATASET_NAME.fullmatch(name):
            continue
        if name in _RESERVED:
            log.warning("catalog_dataset_shadowed", dataset=name, by="run outputs")
            continue
        if name == JOURNAL_VIEW:
            continue
        if next(directory.glob("symbol=*/date=*/*.parquet"), None) is not None:
            found.append(name)
    return found


def dataset_scan(data_dir: Path, dataset: str) -> str:
    """SQL of every row of lake ``dataset``, ``symbol`` and ``date`` first: the view's body.

    The partition columns are typed explicitly: left to DuckDB, a symbol such as
    ``1000SATS`` would be read as a number.
    """
    if not _DATASET_NAME.fullmatch(dataset):
        raise ValueError(f"{dataset!r} cannot name a lake dataset")
    pattern = Path(data_dir).resolve() / "lake" / dataset / "symbol=*" / "date=*" / "*.parquet"
    return (
        "SELECT symbol, date, * EXCLUDE (symbol, date) FROM read_parquet("
        f"{_literal(pattern.as_posix())}, hive_partitioning = true, "
        "hive_types = {'symbol': VARCHAR, 'date': DATE})"
    )


def view_definitions(data_dir: Path) -> dict[str, str]:
    """Every view the catalog of ``data_dir`` should hold, name -> SELECT, sorted by name."""
    data_dir = Path(data_dir)
    definitions = {name: dataset_scan(data_dir, name) for name in lake_datasets(data_dir)}
    journals = data_dir.resolve() / "lake" / JOURNAL_VIEW
    if journals.is_dir() and next(journals.glob("session=*/*.parquet"), None) is not None:
        definitions[JOURNAL_VIEW] = _journal_scan(journals)
    runs = data_dir.resolve() / "runs"
    if runs.is_dir():
        for table in RUN_TABLES:
            if next(runs.glob(f"*/{table}.parquet"), None) is not None:
                definitions[table] = _run_table_scan(runs, table)
        if next(runs.glob("*/manifest.json"), None) is not None:
            definitions[_RUNS_VIEW] = _runs_scan(runs)
    return dict(sorted(definitions.items()))


def one_line(message: str) -> str:
    """A DuckDB message (several lines, carets under the culprit) as one line."""
    lines = (" ".join(line.split()) for line in message.splitlines())
    return " ".join(line for line in lines if line and set(line) != {"^"})


def _journal_scan(journals: Path) -> str:
    # union_by_name: sessions exported by different versions may not share every column.
    pattern = _literal((journals / "session=*" / "*.parquet").as_posix())
    return (
        "SELECT session, * EXCLUDE (session) FROM read_parquet("
        f"{pattern}, hive_partitioning = true, hive_types = {{'session': VARCHAR}}, "
        "union_by_name = true)"
    )


def _run_table_scan(runs: Path, table: str) -> str:
    # union_by_name: runs written by different code versions may not share every column.
    pattern = _literal((runs / "*" / f"{table}.parquet").as_posix())
    return (
        "SELECT parse_filename(parse_dirpath(filename)) AS run_id, * EXCLUDE (filename) "
        f"FROM read_parquet({pattern}, union_by_name = true, filename = true)"
    )


def _runs_scan(runs: Path) -> str:
    manifests = _literal((runs / "*" / "manifest.json").as_posix())
    manifest = (
        "SELECT parse_filename(parse_dirpath(filename)) AS run_id, "
        "COLUMNS(lambda c: c NOT IN ('filename', 'run_id')) "
        f"FROM read_json({manifests}, union_by_name = true, filename = true)"
    )
    if next(runs.glob("*/metrics.json"), None) is None:
        return f"{manifest} ORDER BY run_id"
    metrics = _literal((runs / "*" / "metrics.json").as_posix())
    excluded = ", ".join(_literal(key) for key in ("filename", "run_id", *_SHARED_RUN_KEYS))
    return (
        f"SELECT m.*, x.* EXCLUDE (run_id) FROM ({manifest}) AS m LEFT JOIN ("
        "SELECT parse_filename(parse_dirpath(filename)) AS run_id, "
        f"COLUMNS(lambda c: c NOT IN ({excluded})) "
        f"FROM read_json({metrics}, union_by_name = true, filename = true)) AS x USING (run_id) "
        "ORDER BY run_id"
    )


def _open_file(path: Path, data_dir: Path, definitions: Mapping[str, str]) -> Catalog:
    """The catalog file, rewritten first if its views are not the ones wanted."""
    if path.exists():
        reader = _connect(path, read_only=True)
        if _marked_views(reader) == {name: _mark(sql) for name, sql in definitions.items()}:
            return Catalog(reader, data_dir, tuple(definitions), path)
        reader.close()
    writer = _connect(path)
    try:
        for name in _marked_views(writer):
            if name not in definitions:
                writer.execute(f"DROP VIEW {_identifier(name)}")
        views, problems = _create_views(writer, definitions, temporary=False)
    finally:
        writer.close()
    return Catalog(_connect(path, read_only=True), data_dir, views, path, problems)


def _create_views(
    connection: duckdb.DuckDBPyConnection, definitions: Mapping[str, str], *, temporary: bool
) -> tuple[tuple[str, ...], dict[str, str]]:
    """Create each view; one that fails (a damaged file) is left out and reported."""
    created: list[str] = []
    problems: dict[str, str] = {}
    kind = "TEMPORARY VIEW" if temporary else "VIEW"
    for name, sql in definitions.items():
        try:
            connection.execute(f"CREATE OR REPLACE {kind} {_identifier(name)} AS {sql}")
            if not temporary:
                connection.execute(f"COMMENT ON VIEW {_identifier(name)} IS {_literal(_mark(sql))}")
        except duckdb.Error as error:
            problems[name] = one_line(str(error))
            log.warning("catalog_view_failed", view=name, error=problems[name])
            continue
        created.append(name)
    return tuple(created), problems


def _marked_views(connection: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """Views of the file that tickdeck made, name -> mark."""
    rows = connection.sql(
        "SELECT view_name, comment FROM duckdb_views() "
        "WHERE NOT internal AND NOT temporary AND schema_name = 'main' "
        "AND starts_with(comment, $mark)",
        params={"mark": _MARK},
    ).fetchall()
    return dict(rows)


def _connect(database: Path | str, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect(str(database), read_only=read_only)
    # Timestamps are shown (table, CSV, JSON) in UTC, whatever the machine's zone.
    connection.execute("SET TimeZone = 'UTC'")
    return connection


def _mark(sql: str) -> str:
    return _MARK + hashlib.sha256(sql.encode()).hexdigest()[:16]


def _identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
