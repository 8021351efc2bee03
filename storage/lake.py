"""The lake: where market data lives on disk, and how bar partitions are written and found.

Layout (DESIGN.md §6)::

    <data>/lake/<dataset>/symbol=<SYMBOL>/date=<YYYY-MM-DD>/part-0.parquet

Hive partitions, one directory per symbol and UTC date, so DuckDB reads a
symbol and date range by listing directories instead of opening every file,
and ``tickdeck sql`` sees ``symbol`` and ``date`` as columns. Bars,
``bars_<interval>`` (``bars_1m``, ``bars_1h``...), are written by ``write_bars``;
every other dataset (storage/datasets.py) by ``write_partition``.

Bars schema (one row per bar; ``symbol`` and ``date`` come from the partition
path and are not stored in the file):

==============  =========================  ==========================================
column          type                       meaning
==============  =========================  ==========================================
open_time       timestamp[ns, tz=UTC]      start of the bar's interval
open            float64                    first trade price
high            float64                    highest trade price
low             float64                    lowest trade price
close           float64                    last trade price
volume          float64                    base-asset volume
quote_volume    float64                    quote-asset volume (sum of price x size)
trades          int64                      number of trades
==============  =========================  ==========================================

Writing a date replaces that date's partition as a whole (temp file, fsync,
rename), and the Parquet bytes depend only on the rows, so re-ingesting the
same data is idempotent down to the byte and a reader never sees half a file.
"""

from __future__ import annotations

import bisect
import datetime as dt
import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, BinaryIO, Final

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from actors.intervals import interval_ns

__all__ = [
    "BARS_SCHEMA",
    "DAY_NS",
    "Lake",
    "LakeSchemaError",
    "bars_dataset",
    "check_bars_file",
    "utc_date",
]

BARS_SCHEMA: Final = pa.schema(
    [
        pa.field("open_time", pa.timestamp("ns", tz="UTC"), nullable=False),
        pa.field("open", pa.float64(), nullable=False),
        pa.field("high", pa.float64(), nullable=False),
        pa.field("low", pa.float64(), nullable=False),
        pa.field("close", pa.float64(), nullable=False),
        pa.field("volume", pa.float64(), nullable=False),
        pa.field("quote_volume", pa.float64(), nullable=False),
        pa.field("trades", pa.int64(), nullable=False),
    ]
)

DAY_NS: Final = 86_400_000_000_000
_PART_NAME: Final = "part-0.parquet"
_ROW_GROUP_ROWS: Final = 1 << 20
# Every option pinned so the bytes depend on the rows and the pyarrow version only.
_PARQUET_OPTIONS: Final[dict[str, Any]] = {
    "compression": "zstd",
    "compression_level": 3,
    "use_dictionary": False,
    "write_statistics": True,
    "data_page_version": "1.0",
    "version": "2.6",
    "store_schema": True,
}
_EPOCH: Final = dt.date(1970, 1, 1)


class LakeSchemaError(ValueError):
    """A table or file does not have the dataset's schema; the message names the column."""


def bars_dataset(interval: str) -> str:
    """Dataset name of bars of ``interval``; validates the interval name."""
    interval_ns(interval)
    return f"bars_{interval}"


def utc_date(ts_ns: int) -> dt.date:
    """UTC calendar date of an epoch-ns timestamp (floor, so pre-1970 works too)."""
    return _EPOCH + dt.timedelta(days=ts_ns // DAY_NS)


class Lake:
    """The lake under ``root/"lake"``, where ``root`` is the session's data directory."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.path = self.root / "lake"

    def dataset_dir(self, dataset: str) -> Path:
        return self.path / dataset

    def bars_glob(self, interval: str) -> str:
        """Glob over every bars file of ``interval``, for DuckDB views (hive partitioning)."""
        return str(self.dataset_dir(bars_dataset(interval)) / "symbol=*" / "date=*" / "*.parquet")

    def write_bars(self, symbol: str, interval: str, table: pa.Table) -> list[Path]:
        """Write ``table`` (bars schema) as one file per UTC date; return the files, by date.

        Each date present in ``table`` replaces that date's partition entirely,
        so pass whole days: the lake keeps no rows of a date it is not given.
        """
        _check_symbol(symbol)
        bars = _conform_bars(table).sort_by("open_time")
        starts = pc.cast(bars.column("open_time"), pa.int64())
        _refuse_duplicate_starts(symbol, starts)
        symbol_dir = self.dataset_dir(bars_dataset(interval)) / f"symbol={symbol}"
        written: list[Path] = []
        for date, offset, length in _date_runs(starts):
            partition = symbol_dir / f"date={date.isoformat()}"
            written.append(_replace_partition(partition, bars.slice(offset, length)))
        return written

    def bar_files(self, symbol: str, interval: str, start_ns: int, end_ns: int) -> list[Path]:
        """Files of the date partitions overlapping ``[start_ns, end_ns)``, sorted by date."""
        symbol_dir = self.dataset_dir(bars_dataset(interval)) / f"symbol={symbol}"
        if end_ns <= start_ns or not symbol_dir.is_dir():
            return []
        first, last = utc_date(start_ns).isoformat(), utc_date(end_ns - 1).isoformat()
        files: list[Path] = []
        for partition in sorted(symbol_dir.iterdir()):
            key, _, date = partition.name.partition("=")
            if key == "date" and first <= date <= last and partition.is_dir():
                files.extend(sorted(partition.glob("*.parquet")))
        return files

    def partition_dir(self, dataset: str, symbol: str, date: dt.date) -> Path:
        _check_symbol(symbol)
        return self.dataset_dir(dataset) / f"symbol={symbol}" / f"date={date.isoformat()}"

    def read_partition(self, dataset: str, symbol: str, date: dt.date) -> pa.Table | None:
        """The rows of one partition (all its files, by name), or ``None`` if it has none."""
        files = sorted(self.partition_dir(dataset, symbol, date).glob("*.parquet"))
        if not files:
            return None
        try:
            return pa.concat_tables([pq.read_table(path) for path in files])
        except (OSError, pa.ArrowException) as error:
            raise LakeSchemaError(f"{files[0].parent}: unreadable partition ({error})") from None

    def write_partition(
        self,
        dataset: str,
        symbol: str,
        date: dt.date,
        schema: pa.Schema,
        rows: Iterable[pa.Table | pa.RecordBatch],
        column_encoding: Mapping[str, str] | None = None,
    ) -> Path:
        """Make one partition hold exactly ``rows`` (any dataset), atomically; return its file.

        For datasets other than bars: the caller owns the order and uniqueness of
        the rows (storage/ingest.py dedups by the dataset's key). ``rows`` may be a
        stream of batches; the bytes are those of writing their concatenation at
        once, as ``write_bars`` does, so equal rows give equal files (and, with no
        ``column_encoding``, the very bytes ``write_bars`` writes for bars).
        ``column_encoding`` maps columns to Parquet encodings (e.g.
        ``DELTA_BINARY_PACKED`` for rising ids and times: smaller and faster).
        """
        partition = self.partition_dir(dataset, symbol, date)
        chunks = (_conform(chunk, schema, dataset) for chunk in rows)
        return _replace_partition_stream(partition, schema, chunks, column_encoding)


def check_bars_file(path: Path) -> int:
    """Row count of the bars file at ``path``, after checking its schema from the footer.

    Readers call this before a query so that a foreign or damaged file fails with
    its own path and column named, not as an anonymous SQL error mid-run.
    """
    try:
        with pq.ParquetFile(path) as parquet:
            schema, rows = parquet.schema_arrow, parquet.metadata.num_rows
    except (OSError, pa.ArrowException) as error:
        raise LakeSchemaError(f"{path}: not a readable Parquet file ({error})") from None
    for field in BARS_SCHEMA:
        index = schema.get_field_index(field.name)
        if index < 0:
            raise LakeSchemaError(f"{path}: no column {field.name!r}")
        found = schema.field(index).type
        if found != field.type:
            raise LakeSchemaError(
                f"{path}: column {field.name!r} is {found}, expected {field.type}"
            )
    return rows


def _check_symbol(symbol: str) -> None:
    # The symbol is a directory name and a hive value: keep it to one safe path segment.
    if not symbol or "/" in symbol or "=" in symbol or symbol.startswith("."):
        raise ValueError(f"symbol {symbol!r} cannot name a lake partition")


def _conform_bars(table: pa.Table) -> pa.Table:
    """``table`` with exactly the bars columns, in order, cast to the bars types."""
    columns = []
    for field in BARS_SCHEMA:
        if field.name not in table.column_names:
            raise LakeSchemaError(
                f"bars table has no column {field.name!r} (columns: {table.column_names})"
            )
        column = table.column(field.name)
        if column.null_count:
            raise LakeSchemaError(f"bars column {field.name!r} has {column.null_count} nulls")
        try:
            columns.append(column.cast(field.type))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as error:
            raise LakeSchemaError(
                f"bars column {field.name!r} of type {column.type} is not {field.type}: {error}"
            ) from None
    return pa.Table.from_arrays(columns, schema=BARS_SCHEMA)


def _refuse_duplicate_starts(symbol: str, starts: pa.ChunkedArray) -> None:
    """Two rows with one open_time are two versions of a bar: which one is true is the
    caller's call (dedup by the dataset key), not something to settle by write order."""
    if len(starts) < 2:
        return
    same = pc.equal(starts.slice(1), starts.slice(0, len(starts) - 1))
    if pc.any(same).as_py():
        index = pc.index(same, True).as_py() + 1
        when = dt.datetime.fromtimestamp(starts[index].as_py() / 1e9, dt.UTC)
        raise ValueError(f"bars for {symbol}: duplicate open_time {when.isoformat()} (row {index})")


def _date_runs(starts: pa.ChunkedArray) -> list[tuple[dt.date, int, int]]:
    """(UTC date, first row, row count) of each date in sorted ``starts``."""
    values = starts.to_pylist()
    runs: list[tuple[dt.date, int, int]] = []
    offset = 0
    while offset < len(values):
        day = values[offset] // DAY_NS
        end = bisect.bisect_left(values, (day + 1) * DAY_NS, offset)
        runs.append((_EPOCH + dt.timedelta(days=day), offset, end - offset))
        offset = end
    return runs


def _replace_partition(partition: Path, rows: pa.Table) -> Path:
    """Atomically make ``partition`` hold exactly ``rows`` in ``part-0.parquet``."""
    return _replace_partition_with(partition, lambda sink: _write_parquet(rows, sink))


def _replace_partition_stream(
    partition: Path,
    schema: pa.Schema,
    chunks: Iterable[pa.Table],
    column_encoding: Mapping[str, str] | None,
) -> Path:
    """``_replace_partition`` for rows that arrive as a stream of chunks."""
    return _replace_partition_with(
        partition, lambda sink: _write_parquet_stream(schema, chunks, sink, column_encoding)
    )


def _replace_partition_with(partition: Path, write: Callable[[BinaryIO], object]) -> Path:
    partition.mkdir(parents=True, exist_ok=True)
    target = partition / _PART_NAME
    # A dot-name is invisible to ``*.parquet`` globs, so readers never see a partial file.
    temporary = partition / f".{_PART_NAME}.{os.getpid()}.tmp"
    try:
        with temporary.open("wb") as sink:
            write(sink)
            sink.flush()
            os.fsync(sink.fileno())
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)
    for stale in partition.glob("*.parquet"):
        if stale.name != _PART_NAME:
            stale.unlink()
    return target


def _conform(rows: pa.Table | pa.RecordBatch, schema: pa.Schema, dataset: str) -> pa.Table:
    """``rows`` with exactly ``schema``'s columns, in order and types (int64 ns -> timestamps)."""
    columns = []
    for field in schema:
        if field.name not in rows.schema.names:
            raise LakeSchemaError(
                f"{dataset} rows have no column {field.name!r} (columns: {rows.schema.names})"
            )
        column = rows.column(field.name)
        if not field.nullable and column.null_count:
            raise LakeSchemaError(f"{dataset} column {field.name!r} has {column.null_count} nulls")
        try:
            columns.append(column.cast(field.type))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as error:
            raise LakeSchemaError(
                f"{dataset} column {field.name!r} of type {column.type} is not {field.type}: "
                f"{error}"
            ) from None
    return pa.Table.from_arrays(columns, schema=schema)


def _write_parquet(rows: pa.Table, sink: BinaryIO) -> None:
    pq.write_table(rows, sink, row_group_size=_ROW_GROUP_ROWS, **_PARQUET_OPTIONS)


def _write_parquet_stream(
    schema: pa.Schema,
    chunks: Iterable[pa.Table],
    sink: BinaryIO,
    column_encoding: Mapping[str, str] | None = None,
) -> int:
    """Write ``chunks`` as ``_write_parquet`` would write their concatenation; return the rows.

    Row groups are cut at exact multiples of ``_ROW_GROUP_ROWS`` whatever the
    chunk sizes, and pages do not depend on how a row group's rows were
    chunked, so the bytes equal the one-shot writer's while memory holds
    about one row group instead of the whole partition.
    """
    pending: list[pa.Table] = []
    buffered = total = 0
    options = dict(_PARQUET_OPTIONS)
    if column_encoding:
        options["column_encoding"] = dict(column_encoding)
    with pq.ParquetWriter(sink, schema, **options) as writer:
        for chunk in chunks:
            if not chunk.num_rows:
                continue
            pending.append(chunk)
            buffered += chunk.num_rows
            total += chunk.num_rows
            if buffered < _ROW_GROUP_ROWS:
                continue
            rows = pa.concat_tables(pending)
            full = buffered - buffered % _ROW_GROUP_ROWS
            writer.write_table(rows.slice(0, full), row_group_size=_ROW_GROUP_ROWS)
            pending, buffered = [rows.slice(full)], buffered - full
        if buffered:
            writer.write_table(pa.concat_tables(pending), row_group_size=_ROW_GROUP_ROWS)
    return total
