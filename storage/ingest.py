"""Ingestion into the lake: validate, dedup by key, merge, write (binance.vision files here;
other formats load their rows through ``ingest_loaded``, see ``storage.other_formats``).

Per file, in order, each file on its own (a failing file is reported with its
path, line and reason, and the files before and after it are still ingested):

1. recognize the path (``storage.binance_vision.recognize``), verify a
   ``.CHECKSUM`` beside it, parse it into DuckDB; a row that cannot be read
   fails the file before anything is written;
2. validate the rows in bulk: non-positive prices, negative sizes, bid >= ask,
   times outside the day or month the file is named for are dropped and
   counted; rows out of the dataset's order (time, then key) are counted and
   sorted; rows repeating a key are counted as duplicates and the later row
   wins;
3. per UTC date, merge with what the lake partition holds (same key: the
   incoming row wins, a differing one is counted as ``conflicting_duplicate``)
   and rewrite the partition only if it changed.

So ingesting the same files twice changes nothing, byte for byte (the second
run finds every row already there and writes no file), and a daily file and
the monthly file covering it end up as one copy of each row.

Counts per file satisfy ``rows_read == rows_written + duplicates + dropped``.
Validation and dedup are SQL over the parsed rows (DuckDB, multi-threaded);
Python only looks at aggregates, except to find the line of a reported row.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import duckdb
import pyarrow as pa

from storage.binance_vision import (
    CANONICAL_VIEW,
    ParsedFile,
    VisionError,
    csv_source,
    find_files,
    load,
    recognize,
    verify_checksum,
)
from storage.datasets import DatasetSpec, Market
from storage.lake import DAY_NS, Lake, LakeSchemaError

__all__ = [
    "WARNING_KINDS",
    "FileReport",
    "IngestReport",
    "LoadedRows",
    "RowsError",
    "ingest",
    "ingest_file",
    "ingest_loaded",
    "work_dir",
]

WARNING_KINDS: Final = (
    "non_positive_price",
    "negative_size",
    "crossed_book",
    "outside_period",
    "out_of_order",
    "conflicting_duplicate",
    "empty_file",
)
"""Counted, non-fatal findings. The first four drop the row; ``out_of_order`` rows
are sorted; ``conflicting_duplicate`` rows replace the row with their key."""

_BATCH_ROWS: Final = 1 << 17
_EPOCH: Final = dt.date(1970, 1, 1)


class RowsError(ValueError):
    """A file of another format than binance.vision's whose rows cannot be read;
    the message names the file, the row or line and the column."""


_FILE_ERRORS: Final = (
    VisionError,
    RowsError,
    LakeSchemaError,
    OSError,
    duckdb.Error,
    pa.ArrowException,
)


@dataclass(frozen=True, slots=True)
class LoadedRows:
    """One file's rows, loaded as the view ``canonical`` (``_row`` plus the dataset's
    columns, times as int64 ns) in a DuckDB connection: all that validation, dedup
    and merging need, whatever format the file was in.

    ``positive`` columns must be finite and > 0, ``non_negative`` ones finite and
    >= 0; ``crossed`` is a (bid, ask) pair where bid >= ask is a broken quote;
    ``period`` is the [start, end) ns a file's name promises (``None``: no promise).
    """

    spec: DatasetSpec
    dataset: str
    symbol: str
    rows: int
    line: Callable[[int], int]
    """The 1-based line (or row, for columnar files) of 0-based data row ``row``."""
    positive: tuple[str, ...] = ()
    non_negative: tuple[str, ...] = ()
    crossed: tuple[str, str] | None = None
    period: tuple[int, int] | None = None

    @classmethod
    def of_vision(cls, parsed: ParsedFile) -> LoadedRows:
        file, family = parsed.file, parsed.file.family
        return cls(
            family.spec, file.dataset, file.symbol, parsed.rows, parsed.line,
            family.positive, family.non_negative, family.crossed, (file.start_ns, file.end_ns),
        )  # fmt: skip


@dataclass(slots=True)
class FileReport:
    """What ingesting one file did."""

    path: Path
    where: str
    """The file as messages name it (``archive.zip!member.csv`` for a zip)."""
    dataset: str = ""
    symbol: str = ""
    checksum_verified: bool = False
    rows_read: int = 0
    rows_written: int = 0
    """Rows that were new to the lake or replaced a differing row with their key."""
    duplicates: int = 0
    """Rows already in the lake with the same values, or whose key comes again later in the file."""
    dropped: int = 0
    warnings: dict[str, int] = field(default_factory=dict)
    first_lines: dict[str, int] = field(default_factory=dict)
    """The first line of the file showing each warning."""
    partitions: list[Path] = field(default_factory=list)
    """Partition files this file changed (none when everything was already there)."""
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def warn(self, kind: str, count: int, line: int) -> None:
        if count:
            self.warnings[kind] = self.warnings.get(kind, 0) + count
            self.first_lines[kind] = min(line, self.first_lines.get(kind, line))


@dataclass(slots=True)
class IngestReport:
    """Every file of one ingest, in the order they were ingested."""

    files: list[FileReport]

    @property
    def failed(self) -> list[FileReport]:
        return [report for report in self.files if not report.ok]

    @property
    def rows_read(self) -> int:
        return sum(report.rows_read for report in self.files)

    @property
    def rows_written(self) -> int:
        return sum(report.rows_written for report in self.files)

    @property
    def duplicates(self) -> int:
        return sum(report.duplicates for report in self.files)

    @property
    def dropped(self) -> int:
        return sum(report.dropped for report in self.files)


def ingest(paths: Sequence[Path], data_dir: Path, *, market: Market | None = None) -> IngestReport:
    """Ingest every binance.vision file in ``paths`` (files or folders) into the lake
    under ``data_dir``. ``market`` is used for files whose folders name none.

    Raises ``VisionPathError`` before ingesting anything if a path does not exist.
    """
    files = find_files(paths)
    lake = Lake(data_dir)
    with work_dir(data_dir) as work:
        return IngestReport([ingest_file(lake, path, work, market=market) for path in files])


@contextmanager
def work_dir(data_dir: Path) -> Iterator[Path]:
    """A scratch directory for one ingest, removed afterwards. Zip members and
    DuckDB's spill files can be as big as the data: they stay on the data
    directory's disk rather than in a possibly small /tmp."""
    Path(data_dir).mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".ingest-", dir=data_dir) as work:
        yield Path(work)


def ingest_file(
    lake: Lake, path: Path, workdir: Path, *, market: Market | None = None
) -> FileReport:
    """Ingest one file; every failure is caught and described in the report."""
    report = FileReport(path=path, where=str(path))
    try:
        file = recognize(path, market)
        report.dataset, report.symbol = file.dataset, file.symbol
        report.checksum_verified = verify_checksum(path)
        with csv_source(path, workdir) as (csv_path, where), _connect(workdir) as con:
            report.where = where
            parsed = load(con, file, csv_path, where)
            _Ingestion(con, lake, LoadedRows.of_vision(parsed), report).run()
    except _FILE_ERRORS as error:
        _fail(report, error)
    return report


def ingest_loaded(
    lake: Lake,
    path: Path,
    workdir: Path,
    load_rows: Callable[[duckdb.DuckDBPyConnection], LoadedRows],
) -> FileReport:
    """Ingest one file of any format: ``load_rows`` leaves its rows as the view
    ``canonical`` in the connection it is given, and the rows then take the same
    way into the lake as binance.vision's. Every failure is caught and described."""
    report = FileReport(path=path, where=str(path))
    try:
        with _connect(workdir) as con:
            loaded = load_rows(con)
            report.dataset, report.symbol = loaded.dataset, loaded.symbol
            _Ingestion(con, lake, loaded, report).run()
    except _FILE_ERRORS as error:
        _fail(report, error)
    return report


def _fail(report: FileReport, error: Exception) -> None:
    message = str(error).strip()
    report.error = message if str(report.path) in message else f"{report.where}: {message}"


@contextmanager
def _connect(workdir: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    # One in-memory database per file: nothing leaks between files, and a big
    # monthly file spills to workdir instead of exhausting memory.
    con = duckdb.connect(":memory:")
    try:
        con.execute("SET enable_progress_bar = false")
        con.execute("SET preserve_insertion_order = true")
        spill = str(workdir / "duckdb").replace("'", "''")
        con.execute(f"SET temp_directory = '{spill}'")
        yield con
    finally:
        con.close()


def _columns(names: Sequence[str]) -> str:
    return ", ".join(f'"{name}"' for name in names)


def _lexicographic_less(columns: Sequence[str], previous: Sequence[str], *, strict: bool) -> str:
    """SQL: the tuple ``columns`` sorts before (``strict``) or not after ``previous``."""
    terms = []
    for index, column in enumerate(columns):
        equal = [f'"{c}" = "{p}"' for c, p in zip(columns[:index], previous[:index], strict=True)]
        last = index == len(columns) - 1
        op = "<" if strict or not last else "<="
        terms.append(" AND ".join([*equal, f'"{column}" {op} "{previous[index]}"']))
    return "(" + " OR ".join(f"({term})" for term in terms) + ")"


class _Ingestion:
    """One parsed file's way into the lake (the steps of the module docstring)."""

    def __init__(
        self, con: duckdb.DuckDBPyConnection, lake: Lake, loaded: LoadedRows, report: FileReport
    ) -> None:
        self.con = con
        self.lake = lake
        self.loaded = loaded
        self.report = report
        self.spec: DatasetSpec = loaded.spec
        self.dataset = loaded.dataset
        self.symbol = loaded.symbol

    def run(self) -> None:
        self.report.rows_read = self.loaded.rows
        if not self.loaded.rows:
            self.report.warn("empty_file", 1, 1)
            return
        kept = self._drop_invalid()
        ordered, key_rising = self._check_order(kept)
        final, file_order_kept = (kept, True) if key_rising else self._dedup(kept)
        self._write(final, ordered and file_order_kept)

    # -- validation ------------------------------------------------------------------

    def _conditions(self) -> list[tuple[str, str]]:
        """(warning kind, SQL true for a row to drop) - never NULL."""
        loaded = self.loaded
        conditions = []
        prices = [f'NOT ("{c}" > 0 AND isfinite("{c}"))' for c in loaded.positive]
        sizes = [f'NOT ("{c}" >= 0 AND isfinite("{c}"))' for c in loaded.non_negative]
        if prices:
            conditions.append(("non_positive_price", " OR ".join(prices)))
        if sizes:
            conditions.append(("negative_size", " OR ".join(sizes)))
        if loaded.crossed is not None:
            bid, ask = loaded.crossed
            conditions.append(("crossed_book", f'"{bid}" >= "{ask}"'))
        if loaded.period is not None:
            time, (start, end) = self.spec.time_column, loaded.period
            conditions.append(("outside_period", f'"{time}" < {start} OR "{time}" >= {end}'))
        return [(kind, f"coalesce({sql}, false)") for kind, sql in conditions]

    def _drop_invalid(self) -> str:
        conditions = self._conditions()
        probes = []
        for _, sql in conditions:
            probes += [f"count(*) FILTER (WHERE {sql})", f"min(_row) FILTER (WHERE {sql})"]
        any_bad = " OR ".join(f"({sql})" for _, sql in conditions) or "false"
        probes.append(f"count(*) FILTER (WHERE {any_bad})")
        found = self.con.execute(f"SELECT {', '.join(probes)} FROM {CANONICAL_VIEW}").fetchall()[0]
        for index, (kind, _) in enumerate(conditions):
            count, row = found[2 * index], found[2 * index + 1]
            self._warn(kind, count, row)
        self.report.dropped = found[-1]
        if not self.report.dropped:
            return CANONICAL_VIEW
        self.con.execute(
            f"CREATE VIEW kept AS SELECT * FROM {CANONICAL_VIEW} WHERE NOT ({any_bad})"
        )
        return "kept"

    def _warn(self, kind: str, count: int, row: int | None) -> None:
        if count:
            self.report.warn(kind, count, self.loaded.line(row or 0))

    def _check_order(self, relation: str) -> tuple[bool, bool]:
        """Count rows that sort before their predecessor (warning ``out_of_order``).

        Returns whether there are none, and whether the key rises on every row
        (then no key repeats, and dedup has nothing to look for)."""
        sort, key = self.spec.sort, self.spec.key
        names = list(dict.fromkeys(["_row", *sort, *key]))
        previous = {name: f"_prev_{name}" for name in names}
        backwards = _lexicographic_less(sort, [previous[c] for c in sort], strict=True)
        key_not_rising = _lexicographic_less(key, [previous[c] for c in key], strict=False)
        # lag() OVER () walks the rows in insertion order (preserve_insertion_order) at
        # a tenth of the cost of OVER (ORDER BY _row); the last count proves it did.
        for window in ("()", "(ORDER BY _row)"):
            lags = ", ".join(f'lag("{n}") OVER {window} AS "{previous[n]}"' for n in names)
            out_of_order, first_row, key_repeats, not_file_order = self.con.execute(
                f"SELECT count(*) FILTER (WHERE {backwards}), "
                f"min(_row) FILTER (WHERE {backwards}), "
                f"count(*) FILTER (WHERE {key_not_rising}), "
                f'count(*) FILTER (WHERE "_row" <= "_prev__row") '
                f"FROM (SELECT {_columns(names)}, {lags} FROM {relation})"
            ).fetchall()[0]
            if not not_file_order:
                break
        self._warn("out_of_order", out_of_order, first_row)
        return out_of_order == 0, key_repeats == 0

    def _dedup(self, relation: str) -> tuple[str, bool]:
        """Drop every row whose key comes again later in the file (the later row wins).

        Returns the relation to write and whether it is still in file order."""
        key = _columns(self.spec.key)
        self.con.execute(
            f"CREATE TABLE repeated_keys AS SELECT {key}, max(_row) AS _keep FROM {relation} "
            f"GROUP BY {key} HAVING count(*) > 1"
        )
        others = [c for c in self.spec.schema.names if c not in self.spec.key]
        differs = " OR ".join(f'r."{c}" IS DISTINCT FROM w."{c}"' for c in others) or "false"
        repeats, conflicts, first_conflict = self.con.execute(
            f"SELECT count(*), count(*) FILTER (WHERE {differs}), "
            f"min(k._keep) FILTER (WHERE {differs}) "
            f"FROM {relation} r JOIN repeated_keys k USING ({key}) "
            f"JOIN {relation} w ON w._row = k._keep WHERE r._row <> k._keep"
        ).fetchall()[0]
        if not repeats:
            return relation, True
        self.report.duplicates += repeats
        self._warn("conflicting_duplicate", conflicts, first_conflict)
        self.con.execute(
            f"CREATE VIEW deduped AS SELECT * FROM {relation} WHERE _row NOT IN ("
            f"SELECT r._row FROM {relation} r JOIN repeated_keys k USING ({key}) "
            "WHERE r._row <> k._keep)"
        )
        return "deduped", False

    # -- writing ---------------------------------------------------------------------

    def _write(self, relation: str, file_ordered: bool) -> None:
        time = self.spec.time_column
        days = self.con.execute(
            f'SELECT "{time}" // {DAY_NS} AS day, count(*) FROM {relation} '
            "GROUP BY day ORDER BY day"
        ).fetchall()
        for day, count in days:
            date = _EPOCH + dt.timedelta(days=day)
            self._write_day(date, _DayQuery(self.spec, relation, day, file_ordered), count)

    def _write_day(self, date: dt.date, day: _DayQuery, count: int) -> None:
        existing = self.lake.read_partition(self.dataset, self.symbol, date)
        if existing is None or not existing.num_rows:
            self._commit(date, self.con.sql(day.select()).to_arrow_reader(_BATCH_ROWS))
            self.report.rows_written += count
            return
        if existing.num_rows == count and self._same_as_lake(existing, day):
            self.report.duplicates += count
            return
        self.con.register("lake_rows", _times_as_int64(existing, self.spec))
        try:
            self.con.execute(f"CREATE OR REPLACE TABLE day_rows AS {day.select(with_row=True)}")
            same, conflicts, first_conflict = self._compare_with_lake()
            self.report.duplicates += same
            self.report.rows_written += count - same
            self._warn("conflicting_duplicate", conflicts, first_conflict)
            if same == count:
                return
            columns, key = _columns(self.spec.schema.names), _columns(self.spec.key)
            merged = self.con.sql(
                f"SELECT {columns} FROM lake_rows ANTI JOIN day_rows USING ({key}) "
                f"UNION ALL SELECT {columns} FROM day_rows ORDER BY {_columns(self.spec.sort)}"
            )
            self._commit(date, merged.to_arrow_reader(_BATCH_ROWS))
        finally:
            self.con.unregister("lake_rows")

    def _same_as_lake(self, existing: pa.Table, day: _DayQuery) -> bool:
        """Whether the day's rows are exactly the partition's (the re-ingest case), by a
        columnar comparison that is much cheaper than the keyed join of a merge."""
        schema = self.spec.schema
        incoming = self.con.sql(day.select()).to_arrow_table()
        try:
            return incoming.cast(schema).equals(existing.select(schema.names).cast(schema))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, KeyError):
            return False

    def _compare_with_lake(self) -> tuple[int, int, int | None]:
        """(rows equal to the lake's row with their key, rows differing, first differing row)."""
        others = [c for c in self.spec.schema.names if c not in self.spec.key]
        differs = " OR ".join(f'n."{c}" IS DISTINCT FROM o."{c}"' for c in others) or "false"
        same, conflicts, first = self.con.execute(
            f"SELECT count(*) FILTER (WHERE NOT ({differs})), count(*) FILTER (WHERE {differs}), "
            f"min(n._row) FILTER (WHERE {differs}) "
            f"FROM day_rows n JOIN lake_rows o USING ({_columns(self.spec.key)})"
        ).fetchall()[0]
        return same, conflicts, first

    def _commit(self, date: dt.date, batches: pa.RecordBatchReader) -> None:
        path = self.lake.write_partition(
            self.dataset, self.symbol, date, self.spec.schema, batches, self.spec.column_encoding
        )
        self.report.partitions.append(path)


@dataclass(frozen=True, slots=True)
class _DayQuery:
    """The rows of one UTC day of ``relation``, in the lake's order."""

    spec: DatasetSpec
    relation: str
    day: int
    file_ordered: bool
    """The relation is already in the lake's order (then no sort is needed)."""

    def select(self, *, with_row: bool = False) -> str:
        time, start = self.spec.time_column, self.day * DAY_NS
        columns = ("_row", *self.spec.schema.names) if with_row else self.spec.schema.names
        order = "" if self.file_ordered else f" ORDER BY {_columns(self.spec.sort)}"
        return (
            f"SELECT {_columns(columns)} FROM {self.relation} "
            f'WHERE "{time}" >= {start} AND "{time}" < {start + DAY_NS}{order}'
        )


def _times_as_int64(table: pa.Table, spec: DatasetSpec) -> pa.Table:
    """The lake's timestamps as int64 ns, the form the parsed rows are compared in."""
    for name in spec.time_columns:
        index = table.schema.get_field_index(name)
        if index < 0:
            raise LakeSchemaError(f"{spec.base} partition has no column {name!r}")
        table = table.set_column(index, name, table.column(name).cast(pa.int64()))
    return table
