"""Ingestion of market-data files that are not binance.vision's: freqtrade, NautilusTrader, T_DEPTH.

Each format is read with pyarrow (feather, parquet, or CSV read as text), put
into DuckDB as table ``raw`` and turned into the dataset's canonical rows by
SQL; from there the rows take binance.vision's way into the lake
(``storage.ingest.ingest_loaded``: the same validation, dedup, merge and
counts). A value that cannot be read (an empty required field, text where a
number belongs, a side that is neither buy nor sell, a time that is no epoch
in milliseconds) fails the file, naming its line (CSV, header = line 1) or row
(feather, parquet: the first row is row 1) and column.

Formats and decisions:

- freqtrade candles ``<BASE>_<QUOTE>[_<SETTLE>]-<interval>[-<candle type>].feather``
  (``date,open,high,low,close,volume``) and their ``.csv`` twins
  (``open_time_ms,...``): no candle type -> ``bars_<interval>`` (spot),
  ``futures`` -> ``um_bars_<interval>``, ``mark`` / ``index`` / ``premiumIndex``
  -> ``um_mark_price_bars_`` / ``um_index_price_bars_`` /
  ``um_premium_index_bars_<interval>``, ``funding_rate`` -> ``um_funding``
  (rate = open, funding_interval_hours = the interval in hours). Symbol =
  BASE + QUOTE. freqtrade keeps neither a quote volume nor a trade count, and
  BARS_SCHEMA has no nulls: both are stored as 0, meaning "not recorded" (a
  reader computing a VWAP must not trust a 0 quote volume). Mark, index and
  premium-index candles have no volume (NaN or empty): stored as 0.
  A settle currency other than the quote (COIN-M) is refused.
- freqtrade (ccxt) trades ``<BASE>_<QUOTE>[_<SETTLE>]-trades.feather``
  (``timestamp,id,type,side,price,amount,cost``) and the ``.csv`` twin
  (``timestamp_ms,id,side,price,amount,cost``) -> ``trades`` (``um_trades``
  with a settle currency): aggressor = side upper-cased (ccxt's side is the
  taker's), quote_quantity = cost, is_best_match null.
- ``nautilus-trades`` parquet (``timestamp,trade_id,price,quantity,buyer_maker``)
  -> ``trades``: aggressor SELL when buyer_maker; the file has no quote
  quantity, so quote_quantity = price * quantity.
- ``nautilus-quotes`` parquet (``timestamp,symbol,ask_size,ask,bid_size,bid``)
  -> spot ``quotes``, keyed by (ts, seq) (see ``storage.datasets``); the symbol
  column (``BTC/USDT``) must be the given symbol once the slash is removed.
- ``binance-tdepth`` CSV (``symbol,timestamp,first_update_id,last_update_id,
  side,update_type,price,qty,pu``) -> ``um_depth_updates``: side b/a ->
  BID/ASK, pu -1 (snapshot rows) -> null; the symbol column must be the given
  symbol. Quantities of 0 (a removed level) are kept.

None of these names a period, so no row is dropped as ``outside_period``.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

import duckdb
import pyarrow as pa
import pyarrow.csv as pv
import pyarrow.feather as feather
import pyarrow.parquet as pq

from actors.intervals import INTERVALS
from storage.binance_vision import CANONICAL_VIEW
from storage.datasets import (
    BARS,
    QUOTES,
    TRADES,
    UM_BARS,
    UM_DEPTH_UPDATES,
    UM_FUNDING,
    UM_INDEX_PRICE_BARS,
    UM_MARK_PRICE_BARS,
    UM_PREMIUM_INDEX_BARS,
    UM_TRADES,
    DatasetSpec,
)
from storage.ingest import IngestReport, LoadedRows, RowsError, ingest_loaded, work_dir
from storage.lake import Lake

__all__ = [
    "FILE_FORMATS",
    "FileFormat",
    "FormatPathError",
    "find_format_files",
    "ingest_format_files",
    "ingest_freqtrade",
]

FileFormat = Literal["nautilus-trades", "nautilus-quotes", "binance-tdepth"]
FILE_FORMATS: Final[tuple[FileFormat, ...]] = (
    "nautilus-trades",
    "nautilus-quotes",
    "binance-tdepth",
)

_SUFFIXES: Final = {
    "freqtrade": (".feather", ".csv"),
    "nautilus-trades": (".parquet",),
    "nautilus-quotes": (".parquet",),
    "binance-tdepth": (".csv",),
}
_FREQTRADE_NAME: Final = re.compile(
    r"(?P<base>[A-Z0-9]+)_(?P<quote>[A-Z0-9]+)(?:_(?P<settle>[A-Z0-9]+))?-"
    r"(?:(?P<trades>trades)|(?P<interval>[0-9]+[mhdwM])"
    r"(?:-(?P<candle>futures|mark|index|premiumIndex|funding_rate))?)"
    r"\.(?:feather|csv)"
)
_CANDLE_SPECS: Final = {
    "futures": UM_BARS,
    "mark": UM_MARK_PRICE_BARS,
    "index": UM_INDEX_PRICE_BARS,
    "premiumIndex": UM_PREMIUM_INDEX_BARS,
    "funding_rate": UM_FUNDING,
}
_NS_PER_MS: Final = 1_000_000
# Plausible event times, ns: 2009-01-01 (before any crypto venue) to 2100-01-01.
_TIME_RANGE: Final = (1_230_768_000 * 10**9, 4_102_444_800 * 10**9)
_RAW_TABLE: Final = "raw"


class FormatPathError(ValueError):
    """A path that does not exist, or a freqtrade file name that says nothing usable."""


@dataclass(frozen=True, slots=True)
class _Output:
    """Lake column ``name`` = SQL ``sql`` over table raw; ``source`` names the raw column
    in messages. A row is unreadable where ``bad`` is true (default: ``sql`` is null
    for a non-nullable column)."""

    name: str
    sql: str
    source: str | None = None
    bad: str | None = None


@dataclass(frozen=True, slots=True)
class _Plan:
    """How one file's raw rows become a dataset's rows."""

    spec: DatasetSpec
    dataset: str
    symbol: str
    outputs: tuple[_Output, ...]
    positive: tuple[str, ...] = ()
    non_negative: tuple[str, ...] = ()
    checks: tuple[_Output, ...] = ()
    """Rows to refuse beyond unreadable outputs (a symbol that is not the file's)."""
    seq: str | None = None
    """A column to fill with the row's rank among the rows with its time, in file order."""


def find_format_files(paths: Iterable[Path], suffixes: Sequence[str]) -> list[Path]:
    """``paths`` with folders expanded to the files with one of ``suffixes`` under them
    (sorted, hidden ones skipped); files are kept in the order given."""
    found: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            found.extend(
                candidate
                for candidate in sorted(path.rglob("*"))
                if candidate.is_file()
                and candidate.suffix.lower() in suffixes
                and not any(part.startswith(".") for part in candidate.relative_to(path).parts)
            )
        elif path.is_file():
            found.append(path)
        else:
            raise FormatPathError(f"{path}: no such file or folder")
    return found


def ingest_freqtrade(paths: Sequence[Path], data_dir: Path) -> IngestReport:
    """Ingest freqtrade candle and trade files (``.feather`` or the ``.csv`` twins)."""
    return _ingest(find_format_files(paths, _SUFFIXES["freqtrade"]), data_dir, _freqtrade_plan)


def ingest_format_files(
    paths: Sequence[Path], data_dir: Path, *, file_format: FileFormat, symbol: str
) -> IngestReport:
    """Ingest files of ``file_format`` holding ``symbol`` (e.g. ``BTCUSDT``)."""
    planners = {
        "nautilus-trades": _nautilus_trades_plan,
        "nautilus-quotes": _nautilus_quotes_plan,
        "binance-tdepth": _tdepth_plan,
    }
    planner = planners[file_format]
    symbol = symbol.upper()
    files = find_format_files(paths, _SUFFIXES[file_format])
    return _ingest(files, data_dir, lambda path, table: planner(table, symbol, str(path)))


_Planner = Callable[[Path, pa.Table], _Plan]


def _ingest(files: list[Path], data_dir: Path, planner: _Planner) -> IngestReport:
    lake = Lake(data_dir)
    with work_dir(data_dir) as work:
        return IngestReport(
            [ingest_loaded(lake, path, work, _loader(path, planner)) for path in files]
        )


def _loader(path: Path, planner: _Planner) -> Callable[[duckdb.DuckDBPyConnection], LoadedRows]:
    def load(con: duckdb.DuckDBPyConnection) -> LoadedRows:
        table = _read(path)
        plan = planner(path, table)
        table = _times_as_ns(table)
        con.register("source_rows", table)
        con.execute(f"CREATE TABLE {_RAW_TABLE} AS SELECT * FROM source_rows")
        con.unregister("source_rows")
        line = _line_of(path)
        _check_readable(con, plan, line, str(path))
        selects = ", ".join(f'{output.sql} AS "{output.name}"' for output in plan.outputs)
        con.execute(
            f"CREATE TABLE {CANONICAL_VIEW} AS SELECT * FROM (SELECT rowid AS _row, {selects} "
            f"FROM {_RAW_TABLE}) ORDER BY _row"
        )
        if plan.seq is not None:
            _add_seq(con, plan.seq, plan.spec.time_column)
        return LoadedRows(
            plan.spec, plan.dataset, plan.symbol, table.num_rows, line,
            plan.positive, plan.non_negative,
        )  # fmt: skip

    return load


def _add_seq(con: duckdb.DuckDBPyConnection, name: str, time: str) -> None:
    con.execute(
        f"CREATE TABLE with_seq AS SELECT * REPLACE "
        f'(row_number() OVER (PARTITION BY "{time}" ORDER BY _row) - 1 AS "{name}") '
        f"FROM {CANONICAL_VIEW} ORDER BY _row"
    )
    con.execute(f"DROP TABLE {CANONICAL_VIEW}")
    con.execute(f"ALTER TABLE with_seq RENAME TO {CANONICAL_VIEW}")


def _read(path: Path) -> pa.Table:
    suffix = path.suffix.lower()
    if suffix == ".feather":
        table = feather.read_table(path)
    elif suffix == ".parquet":
        table = pq.read_table(path)
    else:
        # Everything as text: SQL reads the values and names the line of a bad one.
        # Blank lines are kept (and fail as empty values) so row i is line i + 2.
        with path.open(newline="", encoding="utf-8-sig") as stream:
            names = next(csv.reader(stream), [])
        table = pv.read_csv(
            path,
            parse_options=pv.ParseOptions(ignore_empty_lines=False),
            convert_options=pv.ConvertOptions(column_types=dict.fromkeys(names, pa.string())),
        )
    return table


def _times_as_ns(table: pa.Table) -> pa.Table:
    """Timestamp columns as int64 ns since the epoch (tz-naive ones are taken as UTC)."""
    for index, column in enumerate(table.schema):
        if pa.types.is_timestamp(column.type):
            ns = table.column(index).cast(pa.timestamp("ns", tz=column.type.tz))
            table = table.set_column(index, column.name, ns.cast(pa.int64()))
    return table.replace_schema_metadata(None)


def _line_of(path: Path) -> Callable[[int], int]:
    offset = 2 if path.suffix.lower() == ".csv" else 1
    return lambda row: row + offset


def _check_readable(
    con: duckdb.DuckDBPyConnection, plan: _Plan, line: Callable[[int], int], where: str
) -> None:
    checks = [(check, check.bad or "false") for check in plan.checks]
    for output in plan.outputs:
        bad = output.bad
        if bad is None and not plan.spec.schema.field(output.name).nullable:
            bad = f"({output.sql}) IS NULL"
        if bad is not None:
            checks.append((output, bad))
    if not checks:
        return
    found = con.execute(
        "SELECT "
        + ", ".join(f"min(rowid) FILTER (WHERE {bad})" for _, bad in checks)
        + f" FROM {_RAW_TABLE}"
    ).fetchall()[0]
    problems = [
        (row, output) for (output, _), row in zip(checks, found, strict=True) if row is not None
    ]
    if not problems:
        return
    row, output = min(problems, key=lambda problem: problem[0])
    unit = "line" if where.lower().endswith(".csv") else "row"
    column = output.source or output.name
    value = con.execute(f'SELECT "{column}" FROM {_RAW_TABLE} WHERE rowid = {int(row)}').fetchall()
    text = value[0][0] if value else None
    shown = "empty value" if text is None or str(text).strip() == "" else f"cannot read {text!r}"
    raise RowsError(f"{where}: {unit} {line(row)}: column {column!r}: {shown}")


def _require(table: pa.Table, names: Sequence[str], what: str, where: str) -> None:
    missing = [name for name in names if name not in table.column_names]
    if missing:
        raise RowsError(
            f"{where}: not a {what} file: no column {', '.join(map(repr, missing))} "
            f"(columns: {','.join(table.column_names)}; expected {','.join(names)})"
        )


# -- SQL pieces -----------------------------------------------------------------------


def _float(column: str) -> str:
    return f'TRY_CAST("{column}" AS DOUBLE)'


def _int(column: str) -> str:
    return f'TRY_CAST("{column}" AS BIGINT)'


def _time(table: pa.Table, column: str) -> str:
    """ns since the epoch: timestamp columns already are (``_times_as_ns``); integers
    are epoch milliseconds. Null for an implausible time, so the row is refused."""
    ns = _int(column)
    if not pa.types.is_timestamp(table.schema.field(column).type):
        ns = f"(CASE WHEN abs({ns}) < 10000000000000 THEN {ns} * {_NS_PER_MS} END)"
    return f"(CASE WHEN {ns} >= {_TIME_RANGE[0]} AND {ns} < {_TIME_RANGE[1]} THEN {ns} END)"


def _copy(name: str, column: str, sql: Callable[[str], str] = _float) -> _Output:
    return _Output(name, sql(column), column)


def _aggressor_from_side(column: str) -> str:
    side = f'lower(CAST("{column}" AS VARCHAR))'
    return f"(CASE {side} WHEN 'buy' THEN 'BUY' WHEN 'sell' THEN 'SELL' END)"


# -- freqtrade ------------------------------------------------------------------------


def _freqtrade_plan(path: Path, table: pa.Table) -> _Plan:
    match = _FREQTRADE_NAME.fullmatch(path.name)
    if match is None:
        raise RowsError(
            f"{path}: not a freqtrade file name (expected <BASE>_<QUOTE>[_<SETTLE>]-<interval>"
            "[-futures|-mark|-index|-premiumIndex|-funding_rate] or <BASE>_<QUOTE>[_<SETTLE>]"
            "-trades, .feather or .csv)"
        )
    settle, symbol = match["settle"], match["base"] + match["quote"]
    if settle is not None and settle != match["quote"]:
        raise RowsError(f"{path}: settled in {settle}, not {match['quote']}: only USD-M futures")
    futures = settle is not None or match["candle"] is not None
    where = str(path)
    if match["trades"]:
        return _freqtrade_trades(table, UM_TRADES if futures else TRADES, symbol, where)
    interval, candle = match["interval"], match["candle"] or ("futures" if futures else None)
    time = "date" if "date" in table.column_names else "open_time_ms"
    if candle == "funding_rate":
        return _freqtrade_funding(table, time, interval, symbol, where)
    if interval not in INTERVALS:
        raise RowsError(
            f"{path}: interval {interval!r} is not a lake interval ({', '.join(INTERVALS)})"
        )
    spec = BARS if candle is None else _CANDLE_SPECS[candle]
    return _freqtrade_candles(
        table, time, spec, interval, symbol, where, volume=candle in (None, "futures")
    )


def _freqtrade_candles(
    table: pa.Table,
    time: str,
    spec: DatasetSpec,
    interval: str,
    symbol: str,
    where: str,
    *,
    volume: bool,
) -> _Plan:
    _require(table, (time, "open", "high", "low", "close", "volume"), "freqtrade candles", where)
    prices = ("open", "high", "low", "close")
    if volume:
        volume_output = _copy("volume", "volume")
    else:
        # Mark/index/premium candles carry no volume: NaN or empty is stored as 0.
        value = _float("volume")
        volume_output = _Output(
            "volume",
            f"(CASE WHEN {value} IS NULL OR isnan({value}) THEN 0.0 ELSE {value} END)",
            "volume",
            f"({value} IS NULL AND trim(coalesce(CAST(\"volume\" AS VARCHAR), '')) <> '')",
        )
    outputs = (
        _Output("open_time", _time(table, time), time),
        *(_copy(name, name) for name in prices),
        volume_output,
        _Output("quote_volume", "0.0"),
        _Output("trades", "CAST(0 AS BIGINT)"),
    )
    positive = prices if spec is not UM_PREMIUM_INDEX_BARS else ()
    return _Plan(spec, spec.name(interval), symbol, outputs, positive, ("volume",))


def _freqtrade_funding(table: pa.Table, time: str, interval: str, symbol: str, where: str) -> _Plan:
    _require(table, (time, "open"), "freqtrade funding-rate", where)
    hours = _hours(interval)
    if hours is None:
        raise RowsError(f"{where}: a funding interval of {interval} is not whole hours")
    outputs = (
        _Output("ts", _time(table, time), time),
        _Output("funding_interval_hours", f"CAST({hours} AS BIGINT)"),
        _copy("rate", "open"),
    )
    return _Plan(UM_FUNDING, UM_FUNDING.name(), symbol, outputs)


def _hours(interval: str) -> int | None:
    count, unit = int(interval[:-1]), interval[-1]
    return {"h": count, "d": 24 * count, "w": 168 * count}.get(unit)


def _freqtrade_trades(table: pa.Table, spec: DatasetSpec, symbol: str, where: str) -> _Plan:
    time = "timestamp" if "timestamp" in table.column_names else "timestamp_ms"
    _require(table, (time, "id", "side", "price", "amount", "cost"), "freqtrade trades", where)
    outputs = (
        _copy("trade_id", "id", _int),
        _Output("ts", _time(table, time), time),
        _copy("price", "price"),
        _copy("quantity", "amount"),
        _copy("quote_quantity", "cost"),
        _Output("aggressor", _aggressor_from_side("side"), "side"),
        _Output("is_best_match", "CAST(NULL AS BOOLEAN)"),
    )
    return _trades_plan(spec, symbol, outputs)


def _trades_plan(spec: DatasetSpec, symbol: str, outputs: tuple[_Output, ...]) -> _Plan:
    return _Plan(spec, spec.name(), symbol, outputs, ("price",), ("quantity", "quote_quantity"))


# -- NautilusTrader parquet and Binance T_DEPTH -----------------------------------------


def _symbol_check(column: str, symbol: str, *, drop_slash: bool = False) -> _Output:
    value = f'CAST("{column}" AS VARCHAR)'
    if drop_slash:
        value = f"replace({value}, '/', '')"
    quoted = "'" + symbol.replace("'", "''") + "'"
    return _Output(column, value, column, f"coalesce({value} <> {quoted}, true)")


def _nautilus_trades_plan(table: pa.Table, symbol: str, where: str) -> _Plan:
    _require(
        table,
        ("timestamp", "trade_id", "price", "quantity", "buyer_maker"),
        "nautilus trades",
        where,
    )
    maker = 'lower(CAST("buyer_maker" AS VARCHAR))'
    outputs = (
        _copy("trade_id", "trade_id", _int),
        _Output("ts", _time(table, "timestamp"), "timestamp"),
        _copy("price", "price"),
        _copy("quantity", "quantity"),
        # The file has no quote quantity; price * quantity is what Binance reports.
        _Output("quote_quantity", f"{_float('price')} * {_float('quantity')}", "quantity"),
        _Output(
            "aggressor",
            f"(CASE {maker} WHEN 'true' THEN 'SELL' WHEN 'false' THEN 'BUY' END)",
            "buyer_maker",
        ),
        _Output("is_best_match", "CAST(NULL AS BOOLEAN)"),
    )
    return _trades_plan(TRADES, symbol, outputs)


def _nautilus_quotes_plan(table: pa.Table, symbol: str, where: str) -> _Plan:
    _require(
        table,
        ("timestamp", "symbol", "ask_size", "ask", "bid_size", "bid"),
        "nautilus quotes",
        where,
    )
    outputs = (
        _Output("ts", _time(table, "timestamp"), "timestamp"),
        _Output("seq", "CAST(0 AS BIGINT)"),
        _copy("bid_price", "bid"),
        _copy("bid_quantity", "bid_size"),
        _copy("ask_price", "ask"),
        _copy("ask_quantity", "ask_size"),
    )
    return _Plan(
        QUOTES, QUOTES.name(), symbol, outputs,
        ("bid_price", "ask_price"), ("bid_quantity", "ask_quantity"),
        (_symbol_check("symbol", symbol, drop_slash=True),), seq="seq",
    )  # fmt: skip


def _tdepth_plan(table: pa.Table, symbol: str, where: str) -> _Plan:
    names = ("symbol", "timestamp", "first_update_id", "last_update_id", "side", "update_type",
             "price", "qty", "pu")  # fmt: skip
    _require(table, names, "Binance T_DEPTH", where)
    update_type = 'CAST("update_type" AS VARCHAR)'
    outputs = (
        _Output("ts", _time(table, "timestamp"), "timestamp"),
        _copy("first_update_id", "first_update_id", _int),
        _copy("last_update_id", "last_update_id", _int),
        _Output(
            "prev_update_id",
            f"(CASE WHEN {_int('pu')} = -1 THEN NULL ELSE {_int('pu')} END)",
            "pu",
            f"{_int('pu')} IS NULL",
        ),
        _Output(
            "side",
            "(CASE lower(CAST(\"side\" AS VARCHAR)) WHEN 'b' THEN 'BID' WHEN 'a' THEN 'ASK' END)",
            "side",
        ),
        _Output(
            "update_type",
            f"(CASE WHEN trim({update_type}) <> '' THEN {update_type} END)",
            "update_type",
        ),
        _copy("price", "price"),
        _copy("quantity", "qty"),
    )
    return _Plan(
        UM_DEPTH_UPDATES, UM_DEPTH_UPDATES.name(), symbol, outputs,
        ("price",), ("quantity",), (_symbol_check("symbol", symbol),),
    )  # fmt: skip
