"""``tickdeck sql``: one read-only SQL statement over the catalog, as a table, CSV, JSON or Parquet.

The table is for reading in a terminal: aligned columns, numbers to the right,
cells cut with an ellipsis so the table fits the terminal's width, and only
the first rows (the query stops there, so a ``SELECT *`` over all trades costs
what the rows shown cost). CSV, JSON (one array of objects) and Parquet are for
other programs and hold every row; Parquet only goes to a file. Values are
DuckDB's own text (timestamps in UTC, decimals exact), in every format.

Without a statement the command lists the catalog's views and their columns.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Final, TextIO

import duckdb
import pyarrow as pa

from app.cli_args import start_command
from storage.catalog import Catalog, CatalogError, open_catalog

__all__ = ["FORMATS", "USER_ERRORS", "SqlUsageError", "add_command", "render_table", "run_sql"]

FORMATS: Final = ("table", "csv", "json", "parquet")
_COPY_OPTIONS: Final = {
    "csv": "FORMAT csv, HEADER true",
    "json": "FORMAT json, ARRAY true",
    "parquet": "FORMAT parquet, COMPRESSION zstd",
}
_MAX_CELL: Final = 40
_MIN_CELL: Final = 12
_GUTTER: Final = "  "
_ELLIPSIS: Final = "…"
_CHUNK: Final = 1 << 16


class SqlUsageError(ValueError):
    """Options of ``tickdeck sql`` that do not go together."""


USER_ERRORS: tuple[type[Exception], ...] = (CatalogError, SqlUsageError)


def add_command(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    sql = commands.add_parser(
        "sql",
        help="query the lake and the runs with SQL (read-only)",
        description="Run one read-only SQL statement over the catalog's views (the lake's "
        "datasets, the runs' orders, fills, positions, equity and runs). "
        "With no statement: list the views.",
    )
    sql.add_argument("query", nargs="?", help='one statement, e.g. "SELECT * FROM bars_1m"')
    sql.add_argument("--format", choices=FORMATS, default="table", help="output format")
    sql.add_argument("--out", type=Path, help="write to this file instead of stdout")
    sql.add_argument("--max-rows", type=int, default=40, help="rows a table shows (default 40)")
    sql.add_argument("--data-dir", type=Path, help="data directory (default: settings)")
    sql.set_defaults(handler=run_sql)


def run_sql(args: argparse.Namespace) -> int:
    if args.format == "parquet" and args.out is None:
        raise SqlUsageError("--format parquet needs --out FILE (Parquet is not for a terminal)")
    if args.max_rows < 1:
        raise SqlUsageError(f"--max-rows must be at least 1, got {args.max_rows}")
    data_dir = Path(start_command(args.data_dir).data.dir)
    with open_catalog(data_dir) as catalog:
        if args.query is None:
            _emit(_list_views(catalog), args.out)
        elif args.format == "table":
            head, more = _head(catalog, args.query, args.max_rows)
            _emit(render_table(head, more, _terminal_width(args.out)), args.out)
        else:
            _export(catalog, args.query, args.format, args.out)
    return 0


def render_table(head: pa.Table, more: bool, width: int | None = None) -> str:
    """``head`` as aligned text, then a line saying how many rows were shown.

    Cells longer than a limit are cut with an ellipsis. Given a ``width`` (a
    terminal's), the widest columns are narrowed to fit, but not below a
    readable minimum; columns that still do not fit are left out, and the last
    line says so.
    """
    names = head.schema.names
    if not names:
        return "(no columns)\n"
    columns = _texts(head)
    numeric = [_is_numeric(field.type) for field in head.schema]
    widths = [
        min(_MAX_CELL, max([len(name), *(len(cell) for cell in cells)]))
        for name, cells in zip(names, columns, strict=True)
    ]
    shown = len(names) if width is None else _fit(widths, width)
    widths = widths[:shown]
    lines = [
        _line(names[:shown], widths, [False] * shown),
        _GUTTER.join("-" * size for size in widths),
    ]
    lines.extend(
        _line([cells[row] for cells in columns[:shown]], widths, numeric[:shown])
        for row in range(head.num_rows)
    )
    rows = f"{head.num_rows:,} row{'' if head.num_rows == 1 else 's'}"
    notes = [f"{rows} shown; there are more: add LIMIT or --max-rows" if more else rows]
    if shown < len(names):
        notes.append(f"{shown} of {len(names)} columns shown: select fewer, or use --format csv")
    if more:
        notes.append("--format csv --out FILE writes every row")
    lines.append(f"({'; '.join(notes)})")
    return "\n".join(lines) + "\n"


def _fit(widths: list[int], width: int) -> int:
    """Narrow ``widths`` in place, widest first, until they fit ``width`` or reach the
    minimum; return how many columns, from the left, then fit."""

    def total(count: int) -> int:
        return sum(widths[:count]) + len(_GUTTER) * (count - 1)

    while total(len(widths)) > width:
        widest = max(range(len(widths)), key=lambda index: widths[index])
        if widths[widest] <= _MIN_CELL:
            break
        widths[widest] -= 1
    shown = len(widths)
    while shown > 1 and total(shown) > width:
        shown -= 1
    return shown


def _head(catalog: Catalog, query: str, max_rows: int) -> tuple[pa.Table, bool]:
    """The first ``max_rows`` rows, and whether the result has more; the query is
    stopped once they are read."""
    reader = catalog.query(query, batch_size=max_rows + 1)
    batches: list[pa.RecordBatch] = []
    rows = 0
    try:
        while rows <= max_rows:
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                break
            batches.append(batch)
            rows += batch.num_rows
    except (duckdb.Error, pa.ArrowException) as error:
        raise catalog.query_error(error) from None
    finally:
        reader.close()
    table = pa.Table.from_batches(batches, schema=reader.schema)
    return table.slice(0, max_rows), rows > max_rows


def _export(catalog: Catalog, query: str, format: str, out: Path | None) -> None:
    """Every row in ``format``, streamed by DuckDB's COPY from the query's Arrow stream
    (so CSV and JSON text is DuckDB's), to ``out`` or through a temporary file to stdout."""
    reader = catalog.query(query)
    with tempfile.TemporaryDirectory(prefix="tickdeck-sql-") as scratch_dir:
        target = out if out is not None else Path(scratch_dir) / f"result.{format}"
        try:
            with duckdb.connect() as scratch:
                scratch.execute("SET TimeZone = 'UTC'")
                scratch.register("result", reader)
                path = "'" + str(target).replace("'", "''") + "'"
                scratch.execute(f"COPY (FROM result) TO {path} ({_COPY_OPTIONS[format]})")
        except (duckdb.Error, pa.ArrowException) as error:
            raise catalog.query_error(error) from None
        finally:
            reader.close()
        if out is None:
            _copy_text(target, sys.stdout)


def _list_views(catalog: Catalog) -> str:
    if not catalog.views:
        return catalog.empty_hint() + "\n"
    described = catalog.describe()
    width = max(len(name) for name in described)
    lines = [
        f"{name:<{width}}  {', '.join(f'{column} {kind}' for column, kind in columns)}"
        for name, columns in described.items()
    ]
    lines.extend(f"{name:<{width}}  unavailable: {why}" for name, why in catalog.problems.items())
    return "\n".join(lines) + "\n"


def _texts(table: pa.Table) -> list[list[str]]:
    """Each column's cells as DuckDB prints them (NULL for nulls), one line each."""
    if table.num_columns == 0:
        return []
    with duckdb.connect() as scratch:
        scratch.execute("SET TimeZone = 'UTC'")
        casts = ", ".join(f"CAST(#{index} AS VARCHAR)" for index in range(1, table.num_columns + 1))
        rows = scratch.from_arrow(table).project(casts).fetchall()
    columns: list[list[str]] = [[] for _ in range(table.num_columns)]
    for row in rows:
        for cells, value in zip(columns, row, strict=True):
            cells.append("NULL" if value is None else _one_line(value))
    return columns


def _one_line(text: str) -> str:
    return text.replace("\r", "\\r").replace("\n", "\\n").replace("\t", "\\t")


def _line(cells: list[str], widths: list[int], right: list[bool]) -> str:
    parts = []
    for cell, size, align_right in zip(cells, widths, right, strict=True):
        text = cell if len(cell) <= size else cell[: size - 1] + _ELLIPSIS
        parts.append(text.rjust(size) if align_right else text.ljust(size))
    return _GUTTER.join(parts).rstrip()


def _is_numeric(kind: pa.DataType) -> bool:
    return pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind)


def _terminal_width(out: Path | None) -> int | None:
    """The terminal's width when the table goes to one; None (no limit) for a file or pipe."""
    if out is not None or not sys.stdout.isatty():
        return None
    return shutil.get_terminal_size().columns


def _emit(text: str, out: Path | None) -> None:
    if out is None:
        sys.stdout.write(text)
    else:
        out.write_text(text, encoding="utf-8")


def _copy_text(path: Path, sink: TextIO) -> None:
    with path.open(encoding="utf-8", newline="") as source:
        while chunk := source.read(_CHUNK):
            sink.write(chunk)
