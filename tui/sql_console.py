"""One SQL console query over the catalog: its first rows as text, how many rows there are.

The console runs queries in worker threads, one at a time: ``SqlConsole.run``
interrupts the query still running (a user who types a new query has given
up on the old one) and then waits for its thread to let go before it opens
the catalog, so two queries never rewrite the catalog file at once. Each query
opens the catalog afresh, as ``tickdeck sql`` does: new partitions, datasets
and runs appear without restarting anything.

The catalog refuses anything but SELECT (and EXPLAIN of one) before it runs,
on a read-only connection: the console inherits that, it adds nothing.
Values are DuckDB's own text (timestamps in UTC, exact decimals), as in
``tickdeck sql``.
"""

from __future__ import annotations

import threading
from pathlib import Path
from time import perf_counter
from typing import Final

import duckdb
import msgspec
import pyarrow as pa

from storage.catalog import Catalog, CatalogError, open_catalog

__all__ = ["ROW_LIMIT", "QueryCancelled", "QueryResult", "SqlConsole"]

ROW_LIMIT: Final = 1000
"""Rows a result shows; the rest are counted, not shown."""


class QueryResult(msgspec.Struct, frozen=True, kw_only=True):
    columns: tuple[str, ...]
    numeric: tuple[bool, ...]
    """Per column: a number (shown right-aligned)."""
    rows: tuple[tuple[str, ...], ...]
    total: int
    """Rows the query returned (``len(rows)`` when it fit under the limit)."""
    seconds: float


class QueryCancelled(Exception):
    """A newer query (or the user) interrupted this one."""


class SqlConsole:
    """Runs one query at a time over the catalog of a data directory."""

    def __init__(self, row_limit: int = ROW_LIMIT) -> None:
        self.row_limit = row_limit
        self._one_at_a_time = threading.Lock()
        self._guard = threading.Lock()
        self._running: duckdb.DuckDBPyConnection | None = None
        self._generation = 0

    def cancel(self) -> int:
        """Interrupt the query that is running, if any; return the generation a query
        started now belongs to (a later ``cancel`` ends it)."""
        with self._guard:
            self._generation += 1
            if self._running is not None:
                self._running.interrupt()
            return self._generation

    def run(self, data_dir: Path, sql: str) -> QueryResult:
        """Run ``sql``, interrupting the query before it; raises ``CatalogError`` (a SQL
        error, a refused write, a missing view) with a one-line message, or
        ``QueryCancelled``."""
        generation = self.cancel()
        with self._one_at_a_time:
            started = perf_counter()
            with open_catalog(data_dir) as catalog:
                with self._guard:
                    if generation != self._generation:
                        raise QueryCancelled
                    self._running = catalog.connection
                try:
                    head, total = self._head_and_count(catalog, sql)
                except CatalogError:
                    if self._cancelled(generation):
                        raise QueryCancelled from None
                    raise
                finally:
                    with self._guard:
                        self._running = None
                if self._cancelled(generation):
                    raise QueryCancelled
            return QueryResult(
                columns=tuple(head.schema.names),
                numeric=tuple(_is_numeric(field.type) for field in head.schema),
                rows=_texts(head),
                total=total,
                seconds=perf_counter() - started,
            )

    def _cancelled(self, generation: int) -> bool:
        with self._guard:
            return generation != self._generation

    def _head_and_count(self, catalog: Catalog, sql: str) -> tuple[pa.Table, int]:
        reader = catalog.query(sql, batch_size=self.row_limit + 1)
        batches: list[pa.RecordBatch] = []
        kept = total = 0
        try:
            for batch in reader:
                total += batch.num_rows
                if kept < self.row_limit:
                    batch = batch.slice(0, self.row_limit - kept)
                    batches.append(batch)
                    kept += batch.num_rows
        except duckdb.InterruptException:
            raise QueryCancelled from None
        except (duckdb.Error, pa.ArrowException) as error:
            raise catalog.query_error(error) from None
        finally:
            reader.close()
        return pa.Table.from_batches(batches, schema=reader.schema), total


def _texts(table: pa.Table) -> tuple[tuple[str, ...], ...]:
    """The rows as DuckDB prints their values (NULL for nulls), each cell one line."""
    if table.num_columns == 0 or table.num_rows == 0:
        return ()
    with duckdb.connect() as scratch:
        scratch.execute("SET TimeZone = 'UTC'")
        casts = ", ".join(f"CAST(#{index} AS VARCHAR)" for index in range(1, table.num_columns + 1))
        rows = scratch.from_arrow(table).project(casts).fetchall()
    return tuple(
        tuple("NULL" if value is None else _one_line(value) for value in row) for row in rows
    )


def _one_line(text: str) -> str:
    return text.replace("\r", "\\r").replace("\n", "\\n").replace("\t", "\\t")


def _is_numeric(kind: pa.DataType) -> bool:
    return pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind)
