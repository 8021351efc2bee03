"""binance.vision files: what a path names, checksums, and reading rows into canonical columns.

Recognition works on the file name (``<SYMBOL>-<family or interval>-<YYYY-MM[-DD]>``,
``.csv`` or ``.zip``, any ``.suffix`` before the extension) plus the folders
above it, in every layout people keep these files in::

    data/spot/daily/klines/BTCUSDT/1m/BTCUSDT-1m-2024-01-01.zip      (binance.vision's tree)
    data/futures/um/monthly/aggTrades/BTCUSDT/BTCUSDT-aggTrades-2024-01.zip
    data/raw/futures/daily/klines_1m/BTCUSDT-1m-2024-01-01.zip
    spot_data/monthly/trades/BTCUSDT-trades-2024-01.zip
    future_data/daily_data/bookTicker/BTCUSDT-bookTicker-2024-01-01.zip

The market comes from the nearest folder that names one (``spot``, ``spot_data``;
``futures``, ``um``, ``future_data``); families that exist only on futures
need none. Kline families (klines, markPriceKlines...) share the name
``<SYMBOL>-<interval>-<date>``, so the folder tells them apart; with no such
folder a file is ``klines``.

Reading: DuckDB parses the CSV (a zip's single member is extracted to a
temporary file first) with explicit column types, so the bulk path has no
per-row Python. The header is optional and may be camelCase or snake_case;
booleans may be ``True``/``true``; epoch columns are milliseconds or
microseconds, decided per file from the values (every value must fall in one
unit's plausible range, and one file must not mix them: Binance spot switched
to microseconds on 2025-01-01 and a guess would shift a day by 1000x). Rows
become the family's lake columns in a DuckDB view, times as int64 ns UTC.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import shutil
import zipfile
import zlib
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Final

import duckdb
import pyarrow as pa

from actors.intervals import INTERVALS
from storage.datasets import (
    FAMILIES,
    KLINE_FAMILIES,
    Family,
    Market,
    RawColumn,
    RawLayout,
    UnknownFamilyError,
    family,
    snake_case,
)
from storage.lake import DAY_NS

__all__ = [
    "CANONICAL_VIEW",
    "ChecksumError",
    "ParsedFile",
    "VisionError",
    "VisionFile",
    "VisionParseError",
    "VisionPathError",
    "checksum_path",
    "csv_source",
    "find_files",
    "load",
    "recognize",
    "verify_checksum",
]

CANONICAL_VIEW: Final = "canonical"
"""The view ``load`` leaves behind: ``_row`` (0-based data row) + the lake columns."""

_RAW_TABLE: Final = "raw"
_REJECTS: Final = ("vision_rejects", "vision_scans")

# Plausible epoch values, 1973 to 2255, in each unit. The ranges are 1000x apart
# with a gap between them, so a value belongs to one unit or to none.
_MS_RANGE: Final = (10**11, 9 * 10**12)
_US_RANGE: Final = (10**14, 9 * 10**15)
_NS_PER: Final = {"ms": 1_000_000, "us": 1_000}
_TEXT_TIME_FORMATS: Final = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M:%S.%f")

_NAME: Final = re.compile(
    r"^(?P<symbol>[A-Z0-9]+)-(?P<kind>[A-Za-z0-9]+)-(?P<year>\d{4})-(?P<month>\d{2})"
    r"(?:-(?P<day>\d{2}))?(?P<suffix>[._][^/]*)?\.(?P<ext>csv|zip|CSV|ZIP)$"
)
_INTERVAL_LIKE: Final = re.compile(r"^\d+(s|m|h|d|w|mo|M)$")
_SYMBOL_LIKE: Final = re.compile(r"^[A-Z0-9]{2,}$")
_IDENTIFIER: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_ \-]*$")

_SPOT_FOLDERS: Final = frozenset({"spot", "spot_data"})
_FUTURES_FOLDERS: Final = frozenset({"futures", "um", "future_data"})
_DAILY_FOLDERS: Final = frozenset({"daily", "daily_data"})
_MONTHLY_FOLDERS: Final = frozenset({"monthly", "monthly_data"})
_FAMILY_NAMES: Final = frozenset(f.name for f in FAMILIES)
_FUTURES_ONLY: Final = frozenset(f.name for f in FAMILIES) - frozenset(
    f.name for f in FAMILIES if f.market == "spot"
)

_DUCK_TYPES: Final = {
    "int": "BIGINT",
    "float": "DOUBLE",
    "bool": "BOOLEAN",
    "epoch": "BIGINT",
    "text_time": "VARCHAR",
    "text": "VARCHAR",
}


class VisionError(ValueError):
    """A binance.vision file that cannot be ingested; the message names the file."""


class VisionPathError(VisionError):
    """A path that names no binance.vision file (family, symbol, date) or does not exist."""


class ChecksumError(VisionError):
    """A ``.CHECKSUM`` beside a file that does not match it."""


class VisionParseError(VisionError):
    """A row or value that cannot be read; the message names the line and column."""


@dataclass(frozen=True, slots=True)
class VisionFile:
    """What a binance.vision path says it holds."""

    path: Path
    market: Market
    family: Family
    symbol: str
    interval: str | None
    period: str
    """``daily`` or ``monthly``."""
    first_day: dt.date

    @property
    def dataset(self) -> str:
        return self.family.dataset(self.interval)

    @property
    def last_day(self) -> dt.date:
        if self.period == "daily":
            return self.first_day
        next_month = (self.first_day.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
        return next_month - dt.timedelta(days=1)

    @property
    def start_ns(self) -> int:
        """Start of the named day or month, ns UTC."""
        return (self.first_day - dt.date(1970, 1, 1)).days * DAY_NS

    @property
    def end_ns(self) -> int:
        """End (exclusive) of the named day or month, ns UTC."""
        return ((self.last_day - dt.date(1970, 1, 1)).days + 1) * DAY_NS

    @property
    def label(self) -> str:
        interval = f" {self.interval}" if self.interval else ""
        return f"{self.market} {self.family.name}{interval} {self.symbol} {self.period}"


def recognize(path: Path, market: Market | None = None) -> VisionFile:
    """What ``path`` holds, from its name and folders; ``market`` is the fallback
    for files whose folders name no market (e.g. a lone ``BTCUSDT-1m-...csv``)."""
    path = Path(path)
    folders = path.parent.parts
    _refuse_unsupported_markets(path, folders)
    match = _NAME.match(path.name)
    if match is None:
        raise VisionPathError(
            f"{path}: not a binance.vision file name "
            "(expected <SYMBOL>-<family or interval>-<YYYY-MM[-DD]>.csv or .zip)"
        )
    symbol, kind = match["symbol"], match["kind"]
    first_day = _first_day(path, match)
    period = "daily" if match["day"] else "monthly"
    _check_period_folder(path, folders, period)
    folder_family, folder_interval = _family_folder(folders)
    if kind in _FAMILY_NAMES:
        name, interval = kind, None
        if folder_family is not None and folder_family != kind:
            raise VisionPathError(f"{path}: named {kind} but in a {folder_family} folder")
    elif _INTERVAL_LIKE.match(kind):
        name, interval = folder_family or "klines", kind
        if name not in KLINE_FAMILIES:
            raise VisionPathError(f"{path}: a {kind} kline file inside a {name} folder")
        if interval not in INTERVALS:
            raise VisionPathError(
                f"{path}: interval {interval} is not supported by the lake "
                f"(supported: {', '.join(INTERVALS)})"
            )
        _check_interval_folders(path, folders, folder_interval, interval)
    else:
        known = ", ".join(sorted(_FAMILY_NAMES))
        raise VisionPathError(f"{path}: {kind!r} is neither a family ({known}) nor an interval")
    resolved = _market(path, folders, name, market)
    try:
        chosen = family(resolved, name)
    except UnknownFamilyError as error:
        raise VisionPathError(f"{path}: {error}") from None
    if period not in chosen.periods:
        raise VisionPathError(f"{path}: {name} files are {' or '.join(chosen.periods)} only")
    _check_symbol_folder(path, folders, symbol)
    return VisionFile(path, resolved, chosen, symbol, interval, period, first_day)


def _refuse_unsupported_markets(path: Path, folders: Sequence[str]) -> None:
    # binance.vision's tree: data/futures/cm/... (COIN-M), data/option/daily/...
    for folder, below in pairwise(folders):
        if folder == "futures" and below == "cm":
            raise VisionPathError(f"{path}: COIN-M futures are not supported")
        if folder == "option" and below in _DAILY_FOLDERS | _MONTHLY_FOLDERS:
            raise VisionPathError(f"{path}: options are not supported")


def _first_day(path: Path, match: re.Match[str]) -> dt.date:
    try:
        return dt.date(int(match["year"]), int(match["month"]), int(match["day"] or 1))
    except ValueError as error:
        raise VisionPathError(f"{path}: the date in the name is not a date ({error})") from None


def _check_period_folder(path: Path, folders: Sequence[str], period: str) -> None:
    for folder in reversed(folders):
        if folder in _DAILY_FOLDERS or folder in _MONTHLY_FOLDERS:
            said = "daily" if folder in _DAILY_FOLDERS else "monthly"
            if said != period:
                raise VisionPathError(f"{path}: a {period} file name in a {folder} folder")
            return


def _family_folder(folders: Sequence[str]) -> tuple[str | None, str | None]:
    """The nearest folder naming a family (``aggTrades``, ``klines_1m``...), and the
    interval such a folder carries."""
    for folder in reversed(folders):
        name, _, interval = folder.partition("_")
        if name in _FAMILY_NAMES and (not interval or _INTERVAL_LIKE.match(interval)):
            return name, interval or None
    return None, None


def _check_interval_folders(
    path: Path, folders: Sequence[str], folder_interval: str | None, interval: str
) -> None:
    # binance.vision's tree has an <interval> folder below the symbol; the
    # data/raw layout puts it in the family folder's name (klines_1m).
    named = [folder for folder in folders if _INTERVAL_LIKE.match(folder)][-1:]
    for other in [*named, *([folder_interval] if folder_interval else [])]:
        if other != interval:
            raise VisionPathError(f"{path}: a {interval} file in a {other} folder")


def _market(path: Path, folders: Sequence[str], name: str, fallback: Market | None) -> Market:
    for folder in reversed(folders):
        if folder in _SPOT_FOLDERS:
            return "spot"
        if folder in _FUTURES_FOLDERS:
            return "um"
    if name in _FUTURES_ONLY:
        return "um"
    if fallback is None:
        raise VisionPathError(
            f"{path}: no folder says spot or futures; put the file under spot/ or "
            "futures/um/, or name the market (--market spot|um)"
        )
    return fallback


def _check_symbol_folder(path: Path, folders: Sequence[str], symbol: str) -> None:
    # binance.vision's tree has a <SYMBOL> folder right below the family folder.
    for index, folder in enumerate(folders[:-1]):
        if folder.partition("_")[0] in _FAMILY_NAMES:
            below = folders[index + 1]
            if _SYMBOL_LIKE.match(below) and below != symbol:
                raise VisionPathError(f"{path}: a {symbol} file in a {below} folder")


def find_files(paths: Iterable[Path]) -> list[Path]:
    """``paths`` with folders expanded to the ``.csv``/``.zip`` files under them (sorted);
    files are kept in the order given. Hidden files and ``.CHECKSUM`` files are skipped."""
    found: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            found.extend(
                candidate
                for candidate in sorted(path.rglob("*"))
                if candidate.is_file()
                and candidate.suffix.lower() in (".csv", ".zip")
                and not any(part.startswith(".") for part in candidate.relative_to(path).parts)
            )
        elif path.is_file():
            found.append(path)
        else:
            raise VisionPathError(f"{path}: no such file or folder")
    return found


def checksum_path(path: Path) -> Path:
    """Where binance.vision puts ``path``'s checksum: ``<name>.CHECKSUM`` beside it."""
    return path.with_name(path.name + ".CHECKSUM")


def verify_checksum(path: Path) -> bool:
    """True if a ``.CHECKSUM`` beside ``path`` matches it, False if there is none.

    The file is ``<sha256 hex>  <file name>`` (sha256sum's format)."""
    sidecar = checksum_path(path)
    if not sidecar.is_file():
        return False
    fields = sidecar.read_text(encoding="utf-8", errors="replace").split()
    if not fields or not re.fullmatch(r"[0-9a-fA-F]{64}", fields[0]):
        raise ChecksumError(f"{sidecar}: not a sha256 checksum file")
    if len(fields) > 1 and fields[1].lstrip("*") != path.name:
        raise ChecksumError(f"{sidecar}: is the checksum of {fields[1]}, not of {path.name}")
    with path.open("rb") as stream:
        actual = hashlib.file_digest(stream, "sha256").hexdigest()
    if actual != fields[0].lower():
        raise ChecksumError(f"{path}: sha256 {actual} does not match {sidecar.name} ({fields[0]})")
    return True


@contextmanager
def csv_source(path: Path, workdir: Path) -> Iterator[tuple[Path, str]]:
    """The CSV to read for ``path`` and how to name it in messages.

    A ``.zip`` must hold one CSV; it is extracted into ``workdir`` (DuckDB reads
    plain files fastest and in parallel) and removed afterwards."""
    if path.suffix.lower() != ".zip":
        yield path, str(path)
        return
    target = workdir / f"{path.stem}.extracted.csv"
    try:
        with zipfile.ZipFile(path) as archive:
            members = [info for info in archive.infolist() if not info.is_dir()]
            if len(members) != 1 or not members[0].filename.lower().endswith(".csv"):
                names = [info.filename for info in members]
                raise VisionError(f"{path}: expected one CSV inside the zip, found {names}")
            member = members[0]
            with archive.open(member) as source, target.open("wb") as sink:
                shutil.copyfileobj(source, sink, 1 << 20)
    except (zipfile.BadZipFile, zlib.error, EOFError) as error:
        target.unlink(missing_ok=True)
        raise VisionError(f"{path}: damaged zip archive ({error})") from None
    try:
        yield target, f"{path}!{member.filename}"
    finally:
        target.unlink(missing_ok=True)


@dataclass(slots=True)
class ParsedFile:
    """A file loaded into a DuckDB connection: its rows as the view ``canonical``."""

    file: VisionFile
    csv_path: Path
    where: str
    """The file as messages name it (``archive.zip!member.csv`` for a zip)."""
    rows: int
    header: bool
    layout: RawLayout
    """The raw columns in file order (a header may reorder or omit optional ones)."""
    unit: str | None = None
    """``ms`` or ``us``: the file's epoch unit (``None`` without rows or epoch columns)."""
    _exact_lines: bool | None = field(default=None, init=False, repr=False)

    def line(self, row: int) -> int:
        """The 1-based line of the file holding data row ``row`` (0-based).

        DuckDB skips blank lines, so a row's line is its index plus the header
        only when the file has none; that is checked once, on the first call
        (reporting is rare), and blank lines are then counted by scanning."""
        offset = 2 if self.header else 1
        if self._exact_lines is None:
            self._exact_lines = _count_lines(self.csv_path) == self.rows + offset - 1
        if self._exact_lines:
            return row + offset
        return _line_of_row(self.csv_path, row, self.header)


def _count_lines(path: Path) -> int:
    lines, last = 0, b"\n"
    with path.open("rb") as stream:
        while block := stream.read(1 << 24):
            lines += block.count(b"\n")
            last = block[-1:]
    return lines + (last != b"\n")


def _line_of_row(path: Path, row: int, header: bool) -> int:
    seen, number = (-1 if header else 0), 0
    with path.open("rb") as stream:
        for number, text in enumerate(stream, 1):
            if not text.strip():
                continue
            if seen == row:
                return number
            seen += 1
    return number


def load(
    con: duckdb.DuckDBPyConnection, file: VisionFile, csv_path: Path, where: str
) -> ParsedFile:
    """Read ``csv_path`` into ``con`` and leave its rows as the view ``canonical``.

    Raises ``VisionParseError`` naming the line (and column) of the first row
    that cannot be read: wrong column count, a value of the wrong type, an
    empty required field, an epoch in no plausible unit or in two units, a
    text time in no known format, a symbol that is not the file's.
    """
    first = _first_line(csv_path)
    if first is None:
        layout = file.family.layouts[0]
        _create_raw(con, csv_path, layout, header=False, empty=True)
        _create_view(con, file.family, layout, unit=None)
        return ParsedFile(file, csv_path, where, 0, False, layout)
    header = all(_IDENTIFIER.match(text.strip().strip('"')) for text in first)
    if header:
        layout = _layout_of_header(file, first, where)
    else:
        layout = _layout_of_count(file, first, where)
    _create_raw(con, csv_path, layout, header=header, empty=False)
    rejected = con.execute(
        f"SELECT line, column_name, CAST(error_type AS VARCHAR), error_message, csv_line "
        f"FROM {_REJECTS[0]} ORDER BY line LIMIT 1"
    ).fetchall()
    if rejected:
        line, column, kind, message, text = rejected[0]
        named = f" column {column!r}:" if column and kind == "CAST" else ""
        raise VisionParseError(f"{where}: line {line}:{named} {message} ({text.strip()!r})")
    rows = _one(con, "count(*)")[0]
    parsed = ParsedFile(file, csv_path, where, rows, header, layout)
    parsed.unit = _check_values(con, parsed)
    _create_view(con, file.family, layout, parsed.unit)
    return parsed


def _first_line(path: Path) -> list[str] | None:
    """The fields of the first non-blank line, or ``None`` for an empty file."""
    with path.open("rb") as stream:
        for raw in stream:
            text = raw.decode("utf-8-sig", errors="replace").strip()
            if text:
                return text.split(",")
    return None


def _layout_of_header(file: VisionFile, names: list[str], where: str) -> RawLayout:
    wanted = [snake_case(name) for name in names]
    for layout in file.family.layouts:
        matched = _match_header(layout, wanted)
        if matched is not None:
            return matched
    expected = " or ".join(",".join(layout.names_in_order) for layout in file.family.layouts)
    raise VisionParseError(
        f"{where}: line 1: header {','.join(names)!r} is not a {file.label} header "
        f"(expected {expected}, camelCase or snake_case)"
    )


def _match_header(layout: RawLayout, wanted: list[str]) -> RawLayout | None:
    columns: list[RawColumn] = []
    for name in wanted:
        found = [c for c in layout.columns if name in c.names and c not in columns]
        if not found:
            return None
        columns.append(found[0])
    if any(c.required and c not in columns for c in layout.columns):
        return None
    return RawLayout(tuple(columns))


def _layout_of_count(file: VisionFile, fields: list[str], where: str) -> RawLayout:
    for layout in file.family.layouts:
        if len(layout.columns) == len(fields):
            return layout
    counts = " or ".join(str(len(layout.columns)) for layout in file.family.layouts)
    raise VisionParseError(
        f"{where}: line 1: {len(fields)} columns, but a {file.label} file has {counts}"
    )


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _create_raw(
    con: duckdb.DuckDBPyConnection, path: Path, layout: RawLayout, *, header: bool, empty: bool
) -> None:
    columns = ", ".join(f"{_quote(c.name)}: {_quote(_DUCK_TYPES[c.kind])}" for c in layout.columns)
    if empty:
        definitions = ", ".join(f'"{c.name}" {_DUCK_TYPES[c.kind]}' for c in layout.columns)
        con.execute(f"CREATE TABLE {_RAW_TABLE} ({definitions})")
        return
    con.execute(
        f"CREATE TABLE {_RAW_TABLE} AS SELECT * FROM read_csv({_quote(str(path))}, "
        f"columns={{{columns}}}, header={str(header).lower()}, auto_detect=false, "
        "delim=',', quote='\"', escape='\"', strict_mode=true, null_padding=false, "
        f"compression='none', store_rejects=true, rejects_table={_quote(_REJECTS[0])}, "
        f"rejects_scan={_quote(_REJECTS[1])})"
    )


def _one(con: duckdb.DuckDBPyConnection, columns: str, where: str = "") -> tuple:
    """The single row of ``SELECT columns FROM raw [where]``."""
    return con.execute(f"SELECT {columns} FROM {_RAW_TABLE} {where}").fetchall()[0]


def _in_range(column: str, bounds: tuple[int, int]) -> str:
    return f'("{column}" >= {bounds[0]} AND "{column}" < {bounds[1]})'


def _text_time(column: str) -> str:
    formats = ", ".join(_quote(f) for f in _TEXT_TIME_FORMATS)
    return f'try_strptime("{column}", [{formats}])'


def _check_values(con: duckdb.DuckDBPyConnection, parsed: ParsedFile) -> str | None:
    """Checks that need every row (one scan); returns the file's epoch unit."""
    file, layout = parsed.file, parsed.layout
    probes: list[tuple[str, str, str]] = []  # (what, column, SQL)
    for column in layout.columns:
        name = column.name
        if column.required:
            probes.append(("null", name, f'"{name}" IS NULL'))
        if column.kind == "epoch":
            ms, us = _in_range(name, _MS_RANGE), _in_range(name, _US_RANGE)
            probes.append(("ms", name, ms))
            probes.append(("us", name, us))
            probes.append(("epoch", name, f'"{name}" IS NOT NULL AND NOT {ms} AND NOT {us}'))
        if column.kind == "text_time":
            probes.append(
                ("text_time", name, f'"{name}" IS NOT NULL AND {_text_time(name)} IS NULL')
            )
    symbol_column = file.family.symbol_column
    if symbol_column is not None:
        probes.append(("symbol", symbol_column, f'"{symbol_column}" <> {_quote(file.symbol)}'))
    found = _one(con, ", ".join(f"min(rowid) FILTER (WHERE {sql})" for _, _, sql in probes))
    first_row = {
        (what, column): row
        for (what, column, _), row in zip(probes, found, strict=True)
        if row is not None
    }
    problems = [
        (row, what, column)
        for (what, column), row in first_row.items()
        if what in ("null", "epoch", "text_time", "symbol")
    ]
    if problems:
        row, what, column = min(problems)
        raise VisionParseError(_problem(con, parsed, row, what, column))
    ms_rows = [row for (what, _), row in first_row.items() if what == "ms"]
    us_rows = [row for (what, _), row in first_row.items() if what == "us"]
    if ms_rows and us_rows:
        ms_row, us_row = min(ms_rows), min(us_rows)
        raise VisionParseError(
            f"{parsed.where}: epoch times mix milliseconds (line {parsed.line(ms_row)}) and "
            f"microseconds (line {parsed.line(us_row)}) in one file; refusing to guess"
        )
    if ms_rows:
        return "ms"
    return "us" if us_rows else None


def _problem(
    con: duckdb.DuckDBPyConnection, parsed: ParsedFile, row: int, what: str, column: str
) -> str:
    value = _one(con, f'"{column}"', f"WHERE rowid = {int(row)}")[0]
    where = f"{parsed.where}: line {parsed.line(row)}: column {column!r}"
    if what == "null":
        return f"{where}: empty value"
    if what == "epoch":
        return (
            f"{where}: {value} is not an epoch time in milliseconds or microseconds "
            "(expected 13 or 16 digits)"
        )
    if what == "text_time":
        return f"{where}: {value!r} is not a UTC time YYYY-MM-DD HH:MM:SS"
    return f"{where}: symbol {value!r}, but the file is {parsed.file.symbol}"


def _create_view(
    con: duckdb.DuckDBPyConnection, family: Family, layout: RawLayout, unit: str | None
) -> None:
    present = {c.name: c for c in layout.columns}
    schema = family.spec.schema
    selects = ["rowid AS _row"]
    for output in family.outputs:
        target = _duck_type(schema.field(output.name).type)
        source = present.get(output.source or "")
        if output.convert == "null" or source is None:
            expression = f"CAST(NULL AS {target})"
        elif output.convert == "aggressor":
            # Binance: is_buyer_maker true means the buyer's order rested, so the taker sold.
            expression = f"CASE WHEN \"{source.name}\" THEN 'SELL' ELSE 'BUY' END"
        elif output.convert == "time" and source.kind == "text_time":
            expression = f"epoch_ns({_text_time(source.name)})"
        elif output.convert == "time":
            # With no rows there is no unit; any factor gives the same (empty) result.
            expression = f'CAST("{source.name}" AS BIGINT) * {_NS_PER[unit or "ms"]}'
        else:
            expression = f'CAST("{source.name}" AS {target})'
        selects.append(f'{expression} AS "{output.name}"')
    con.execute(f"CREATE VIEW {CANONICAL_VIEW} AS SELECT {', '.join(selects)} FROM {_RAW_TABLE}")


def _duck_type(arrow_type: pa.DataType) -> str:
    if pa.types.is_timestamp(arrow_type) or pa.types.is_int64(arrow_type):
        return "BIGINT"
    if pa.types.is_float64(arrow_type):
        return "DOUBLE"
    if pa.types.is_boolean(arrow_type):
        return "BOOLEAN"
    return "VARCHAR"
