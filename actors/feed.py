"""The historical bar feed: streams bars from the lake, in time order, as BarUpdates.

The feed is the source of a backtest: the scheduler pulls ``messages()`` one
at a time and runs each to quiescence before the next. It reads the lake's
Parquet through the DuckDB catalog's view of the dataset (the one ``tickdeck
sql`` queries), in one query that streams Arrow record batches; each
batch is turned into Python values one column at a time (one C call per
column, not per cell), and the per-bar loop only builds the two messages.
That loop is the hot path of every backtest, so it uses locals and builds no
dicts or datetimes.

Per bar the feed publishes the *closed* update at the bar's close and, for a
symbol someone has subscribed to ``"bar_open"`` (or with ``emit_open_updates``),
first an *open* update at the bar's start (o=h=l=c=open, no volume). The open
update lets the backtest exchange fill a market order at the next bar's open,
at the time that bar opens, before the strategy has seen how the bar ends; the
exchange subscribes only while it has orders working, so the quiet majority of
bars costs one message, not two. Whether a bar's open is sent is decided when
it is due, after everything the previous closes caused has been handled, so a
subscription made on a decision at one close gets the very next open. With
several symbols, every bar opening at ``t`` is opened before any of them
closes, so message times never go backwards.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import duckdb
import pyarrow as pa

from actors.actor import Actor
from actors.intervals import interval_ns
from actors.messages import BAR_OPEN, Bar, BarUpdate, Message, Subscribe, Unsubscribe
from storage.catalog import Catalog, open_catalog
from storage.lake import DAY_NS, Lake, LakeSchemaError, bars_dataset, check_bars_file, utc_date

__all__ = ["BarFeed", "InputFile", "NoDataError"]

_EPOCH: Final = dt.date(1970, 1, 1)

# The hot loop unpacks rows in this column order. ORDER BY ALL sorts by time, then
# symbol, then every value: a total order, so even duplicate rows in the lake (which
# the bar builder refuses) arrive in the same order on every run and thread count.
_QUERY: Final = """
SELECT
    epoch_ns(open_time) AS start,
    list_position($symbols, symbol) - 1 AS symbol_index,
    open, high, low, close, volume, trades,
    -- quote_volume / volume: the close without volume, and never outside [low, high]
    -- (a venue's rounded quote volume can put it an ulp out).
    least(greatest(CASE WHEN volume > 0 THEN quote_volume / volume ELSE close END, low), high)
        AS vwap
FROM {bars}
WHERE list_contains($symbols, symbol)
    AND date BETWEEN $first_date AND $last_date
    AND epoch_ns(open_time) >= $start
    AND epoch_ns(open_time) < $end
ORDER BY ALL
"""

_COUNT_QUERY: Final = """
SELECT symbol, count(*)
FROM read_parquet($files, hive_partitioning = true, hive_types = {'symbol': VARCHAR})
WHERE epoch_ns(open_time) >= $start AND epoch_ns(open_time) < $end
GROUP BY symbol
"""


class NoDataError(ValueError):
    """The lake has no bars for a requested symbol, interval and time range."""


@dataclass(frozen=True, slots=True)
class InputFile:
    """One file a run read, for the run manifest: ``path`` is relative to the data
    directory (POSIX separators), so two clones running the same data write the same
    manifest; ``rows`` counts the whole file, not just the rows inside the range."""

    path: str
    sha256: str
    rows: int


class BarFeed(Actor):
    """Streams ``[start_ns, end_ns)`` of ``interval`` bars of ``symbols`` from the lake."""

    name = "feed"

    def __init__(
        self,
        data_dir: Path,
        symbols: Sequence[str],
        interval: str,
        start_ns: int,
        end_ns: int,
        batch_size: int = 65536,
        emit_open_updates: bool = True,
        connection: duckdb.DuckDBPyConnection | None = None,
    ) -> None:
        super().__init__()
        if isinstance(symbols, str) or not symbols:
            raise ValueError(f"BarFeed needs a sequence of symbols, got {symbols!r}")
        if end_ns <= start_ns:
            raise ValueError(f"BarFeed: empty range [{start_ns}, {end_ns})")
        if batch_size < 1:
            raise ValueError(f"BarFeed: batch_size must be >= 1, got {batch_size}")
        self.data_dir = Path(data_dir)
        self.lake = Lake(self.data_dir)
        # Sorted: the query orders ties by symbol name, and the index maps back to a name.
        self.symbols: tuple[str, ...] = tuple(sorted(set(symbols)))
        self.interval = interval
        self.interval_ns = interval_ns(interval)
        self.start_ns = start_ns
        self.end_ns = end_ns
        self.batch_size = batch_size
        self.emit_open_updates = emit_open_updates
        self._connection = connection
        self._catalog: Catalog | None = None
        self._open_subscribers: dict[str, set[str]] = {}
        self.bars_read = 0
        """Bars streamed so far (rows inside the range, unlike ``InputFile.rows``)."""

    def files(self) -> list[Path]:
        """Every lake file the range touches, by symbol then date; raises ``NoDataError``
        naming the first symbol that has none."""
        return [path for paths in self._files_by_symbol().values() for path in paths]

    def inputs(self) -> list[InputFile]:
        """The files this feed reads, with content hashes, for the run manifest."""
        inputs: list[InputFile] = []
        for path in self.files():
            rows = check_bars_file(path)
            with path.open("rb") as source:
                digest = hashlib.file_digest(source, "sha256").hexdigest()
            relative = path.relative_to(self.data_dir).as_posix()
            inputs.append(InputFile(path=relative, sha256=digest, rows=rows))
        return inputs

    def messages(self) -> Iterator[Message]:
        """Every bar of the range as an open then a closed ``BarUpdate``, in time order.

        Checks run now, not at the first ``next``: ``NoDataError`` when a symbol has
        no bar inside the range, ``LakeSchemaError`` naming a file that is not bars.
        The iterator returned is the hot loop itself, with no generator around it.
        """
        files_by_symbol = self._files_by_symbol()
        # Read through the catalog's view, as ``tickdeck sql`` does; the feed holds the
        # catalog because the reader streams from its connection.
        self._catalog = open_catalog(self.data_dir, connection=self._connection)
        connection = self._catalog.connection
        self._check_files(files_by_symbol, connection)
        params = {
            "symbols": list(self.symbols),
            "first_date": utc_date(self.start_ns),
            "last_date": utc_date(self.end_ns - 1),
            "start": self.start_ns,
            "end": self.end_ns,
        }
        query = _QUERY.format(bars=self._catalog.view(bars_dataset(self.interval)))
        reader = connection.sql(query, params=params).to_arrow_reader(self.batch_size)
        return self._updates(reader)

    def on_subscribe(self, msg: Subscribe) -> None:
        if msg.stream == BAR_OPEN and msg.symbol in self.symbols:
            self._open_subscribers.setdefault(msg.symbol, set()).add(msg.subscriber)

    def on_unsubscribe(self, msg: Unsubscribe) -> None:
        subscribers = self._open_subscribers.get(msg.symbol)
        if msg.stream == BAR_OPEN and subscribers is not None:
            subscribers.discard(msg.subscriber)
            if not subscribers:
                del self._open_subscribers[msg.symbol]

    def _files_by_symbol(self) -> dict[str, list[Path]]:
        found: dict[str, list[Path]] = {}
        for symbol in self.symbols:
            paths = self.lake.bar_files(symbol, self.interval, self.start_ns, self.end_ns)
            if not paths:
                raise NoDataError(self._no_data(symbol))
            found[symbol] = paths
        return found

    def _check_files(
        self, files_by_symbol: dict[str, list[Path]], connection: duckdb.DuckDBPyConnection
    ) -> None:
        """Check every file's schema and that each symbol has a bar in the range.

        A non-empty file of a UTC day wholly inside the range proves its symbol has
        bars from the footer alone; only symbols with nothing but partly covered
        days are counted with a query.
        """
        unproven: list[Path] = []
        for paths in files_by_symbol.values():
            proven = False
            for path in paths:
                rows = check_bars_file(path)
                proven = proven or (rows > 0 and self._covers_day(path))
            if not proven:
                unproven.extend(paths)
        if not unproven:
            return
        params = {
            "files": [str(path) for path in unproven],
            "start": self.start_ns,
            "end": self.end_ns,
        }
        counted = dict(connection.sql(_COUNT_QUERY, params=params).fetchall())
        for symbol, paths in files_by_symbol.items():
            if paths[0] in unproven and not counted.get(symbol):
                raise NoDataError(self._no_data(symbol))

    def _covers_day(self, path: Path) -> bool:
        """Whether the range holds all of the UTC day of partition file ``path``."""
        day_start = (dt.date.fromisoformat(path.parent.name.removeprefix("date=")) - _EPOCH).days
        day_start *= DAY_NS
        return self.start_ns <= day_start and day_start + DAY_NS <= self.end_ns

    def _updates(self, batches: Iterable[pa.RecordBatch]) -> Iterator[BarUpdate]:
        """The hot loop. The closes of the bars opening at one time are held back until
        a row of a later time is read; then they go out, and only after that is it
        decided whether each new bar's open goes out too."""
        names = self.symbols
        interval = self.interval
        step = self.interval_ns
        always_open = self.emit_open_updates
        subscribed = self._open_subscribers
        bar_type, update_type = Bar, BarUpdate
        closes: list[BarUpdate] = []
        group_start = None
        for batch in batches:
            _refuse_nulls(batch, names)
            columns = batch.columns
            if len(names) == 1:
                symbols: Iterable[str] = itertools.repeat(names[0], batch.num_rows)
            else:
                symbols = [names[index] for index in columns[1].to_pylist()]
            values = (column.to_pylist() for column in columns[2:])
            rows = zip(columns[0].to_pylist(), symbols, *values, strict=True)
            for start, symbol, o, h, lo, c, v, n, vwap in rows:
                if start != group_start:
                    group_start = start
                    yield from closes
                    closes.clear()
                ts = start + step
                if always_open or symbol in subscribed:
                    yield update_type(
                        ts=start,
                        closed=False,
                        bar=bar_type(
                            ts=ts, symbol=symbol, interval=interval, start=start, open=o,
                            high=o, low=o, close=o, volume=0.0, trades=0, vwap=o,
                        ),
                    )  # fmt: skip
                self.bars_read += 1  # per bar, so a session stopped early counts right
                closing = update_type(
                    ts=ts,
                    closed=True,
                    bar=bar_type(
                        ts=ts, symbol=symbol, interval=interval, start=start, open=o,
                        high=h, low=lo, close=c, volume=v, trades=n, vwap=vwap,
                    ),
                )  # fmt: skip
                closes.append(closing)
        yield from closes

    def _no_data(self, symbol: str) -> str:
        dataset_dir = self.lake.dataset_dir(bars_dataset(self.interval))
        return (
            f"no {self.interval} bars for {symbol} in [{_iso(self.start_ns)}, "
            f"{_iso(self.end_ns)}) under {dataset_dir}; "
            f"run `tickdeck sample-data` to write sample bars, or ingest real ones"
        )


def _refuse_nulls(batch: pa.RecordBatch, names: tuple[str, ...]) -> None:
    """A null price would travel on as ``None`` and fail far from its cause; stop here."""
    for column_name, column in zip(batch.schema.names, batch.columns, strict=True):
        if column.null_count:
            row = column.is_null().index(True).as_py()
            start = batch.column(0)[row].as_py()
            symbol = names[batch.column(1)[row].as_py()]
            when = _iso(start) if start is not None else "an unknown time"
            raise LakeSchemaError(f"null {column_name!r} in the lake's bars for {symbol} at {when}")


def _iso(ts_ns: int) -> str:
    moment = dt.datetime.fromtimestamp(ts_ns // 1_000_000_000, dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
