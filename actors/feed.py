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

The feed's state (``BarFeedState``) is its subscriptions and its position: the
last update it emitted, i.e. the last one ``messages()`` yielded. A feed given
that state (``restore``, then ``mark_emitted`` for each update a journal replay
delivered in its place) goes on from the very next update an uninterrupted run
would have emitted: the query starts at the position's bar start, so DuckDB
skips what came before, and only the bars opening at that one time are looked at
in Python to tell what of them was already emitted. The per-bar loop keeps no
bookkeeping for this: the position is read off the suspended stream when a
snapshot is taken (which close of its ``yield from`` it is at, or the open it
last yielded).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import inspect
import itertools
import operator
from collections.abc import Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import duckdb
import msgspec
import pyarrow as pa
import pyarrow.compute as pc

from actors.actor import Actor
from actors.intervals import interval_ns
from actors.messages import BAR_OPEN, Bar, BarUpdate, Message, Subscribe, Unsubscribe
from storage.catalog import Catalog, open_catalog
from storage.lake import DAY_NS, Lake, LakeSchemaError, bars_dataset, check_bars_file, utc_date

__all__ = [
    "BarFeed",
    "BarFeedState",
    "FeedPosition",
    "FeedStateError",
    "InputFile",
    "NoDataError",
]

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
WHERE {where}
ORDER BY ALL
"""

_WHERE: Final = """
list_contains($symbols, symbol)
    AND date BETWEEN $first_date AND $last_date
    AND epoch_ns(open_time) >= $start
    AND epoch_ns(open_time) < $end
"""

# The bars read through a position, for ``bars_read``: those before its start, and of
# its start, all of them (a close: the stream had read them all to close them) or those
# up to its own row (an open).
_READ_THROUGH_QUERY: Final = """
SELECT
    count(*) FILTER (WHERE epoch_ns(open_time) < $at),
    count(*) FILTER (WHERE epoch_ns(open_time) = $at),
    count(*) FILTER (WHERE epoch_ns(open_time) = $at AND symbol < $symbol),
    count(*) FILTER (WHERE epoch_ns(open_time) = $at AND symbol = $symbol)
FROM {bars}
WHERE {where}
"""

_COUNT_QUERY: Final = """
SELECT symbol, count(*)
FROM read_parquet($files, hive_partitioning = true, hive_types = {'symbol': VARCHAR})
WHERE epoch_ns(open_time) >= $start AND epoch_ns(open_time) < $end
GROUP BY symbol
"""


class NoDataError(ValueError):
    """The lake has no bars for a requested symbol, interval and time range."""


class FeedStateError(ValueError):
    """A state this feed and its lake cannot have: a position outside its range, an
    update of another feed or before the position held, a bar the lake does not hold,
    a subscription to a symbol it does not stream."""


class FeedPosition(msgspec.Struct, frozen=True, kw_only=True):
    """The last update a feed emitted: the open or the close of the bar of ``symbol``
    starting at ``start``. ``repeat`` counts the rows of the same start and symbol the
    lake holds before that bar's row (duplicates, streamed as they are), so that even
    then the position names one update."""

    start: int
    symbol: str
    closed: bool
    repeat: int = 0


class BarFeedState(msgspec.Struct, frozen=True, kw_only=True):
    """Who wants bar opens of which symbol (subscribers sorted), and the position (None
    before the first update)."""

    open_subscribers: dict[str, tuple[str, ...]]
    position: FeedPosition | None = None


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
        # None: not known since a restore or a mark (``bars_read`` counts them then).
        self._bars_read: int | None = 0
        # Where the stream begins: the restored or marked position (None: the start).
        self._position: FeedPosition | None = None
        # The stream ``messages`` returned, and what its position is read from: the
        # closes it holds back (the list it yields from) and the last open it yielded.
        self._stream: Generator[BarUpdate, None, None] | None = None
        self._closes: list[BarUpdate] = []
        self._last_open: BarUpdate | None = None
        self._stream_ended = False

    state_type = BarFeedState

    def snapshot(self) -> BarFeedState:
        """Subscriptions and the position; call between messages (a stream pulled one
        update ahead of delivery would be snapshotted one update too far)."""
        return BarFeedState(
            open_subscribers={
                symbol: tuple(sorted(subscribers))
                for symbol, subscribers in sorted(self._open_subscribers.items())
            },
            position=self.position,
        )

    def restore(self, state: BarFeedState) -> None:
        if self._stream is not None:
            raise RuntimeError("BarFeed.restore after messages(): restore a fresh feed")
        unknown = sorted(set(state.open_subscribers) - set(self.symbols))
        if unknown:
            raise FeedStateError(f"subscriptions to symbols this feed does not stream: {unknown}")
        if state.position is not None:
            self._check_position(state.position.start, state.position.symbol)
        # In place: a stream keeps a reference to this dict.
        self._open_subscribers.clear()
        for symbol, subscribers in state.open_subscribers.items():
            self._open_subscribers[symbol] = set(subscribers)
        self._position = state.position
        self._bars_read = None

    def mark_emitted(self, update: BarUpdate) -> None:
        """Take ``update`` as emitted: a replay of the journal delivered it in this
        feed's place, so ``messages`` goes on after it. Updates must come in the order
        the feed emits them."""
        if self._stream is not None:
            raise RuntimeError("BarFeed.mark_emitted after messages(): mark before streaming")
        bar = update.bar
        if bar.interval != self.interval or bar.symbol not in self.symbols:
            raise FeedStateError(
                f"a {bar.interval} update of {bar.symbol} is not one of this feed's "
                f"({self.interval} bars of {', '.join(self.symbols)})"
            )
        self._check_position(bar.start, bar.symbol)
        key = (bar.start, update.closed, bar.symbol)
        repeat = 0
        held = self._position
        if held is not None:
            held_key = (held.start, held.closed, held.symbol)
            if key == held_key:
                repeat = held.repeat + 1  # the lake's next row of this start and symbol
            elif key < held_key:
                raise FeedStateError(
                    f"update {_describe(bar.start, bar.symbol, update.closed)} comes before "
                    f"the feed's position {_describe(held.start, held.symbol, held.closed)}: "
                    f"updates are marked in the order the feed emitted them"
                )
        self._position = FeedPosition(
            start=bar.start, symbol=bar.symbol, closed=update.closed, repeat=repeat
        )
        self._bars_read = None

    @property
    def bars_read(self) -> int:
        """Bars streamed so far (rows inside the range, unlike ``InputFile.rows``), those
        a journal replay delivered in this feed's place included."""
        if self._bars_read is None:
            self._catalog = open_catalog(self.data_dir, connection=self._connection)
            self._bars_read = self._read_through(self._catalog, self._position)
        return self._bars_read

    @property
    def position(self) -> FeedPosition | None:
        """The last update this feed emitted (yielded, restored or marked); None before
        the first."""
        stream = self._stream
        if stream is None:
            return self._position
        state = inspect.getgeneratorstate(stream)
        if state == inspect.GEN_CREATED or (state == inspect.GEN_CLOSED and self._stream_ended):
            return self._position
        if state == inspect.GEN_CLOSED:
            raise RuntimeError("the feed's stream was closed before its end: its position is lost")
        closes = self._closes
        pending = stream.gi_yieldfrom  # the iterator over ``closes`` while yielding them
        if pending is not None:
            index = len(closes) - operator.length_hint(pending) - 1
            return _position_of(closes[index], closes[:index])
        assert self._last_open is not None  # suspended at the only other yield
        return _position_of(self._last_open, closes)

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
        """Every bar of the range as an open then a closed ``BarUpdate``, in time order,
        from the update after the feed's position on (from the start for a new feed).

        Checks run now, not at the first ``next``: ``NoDataError`` when a symbol has
        no bar inside the range, ``LakeSchemaError`` naming a file that is not bars,
        ``FeedStateError`` when the lake does not hold the position's bar.
        The iterator returned is the hot loop itself, with no generator around it.
        """
        position = self.position
        files_by_symbol = self._files_by_symbol()
        # Read through the catalog's view, as ``tickdeck sql`` does; the feed holds the
        # catalog because the reader streams from its connection.
        self._catalog = open_catalog(self.data_dir, connection=self._connection)
        connection = self._catalog.connection
        self._check_files(files_by_symbol, connection)
        # Counted first: the reader keeps the connection busy.
        self._bars_read = self._read_through(self._catalog, position)
        start = self.start_ns if position is None else position.start
        bars = self._catalog.view(bars_dataset(self.interval))
        query = _QUERY.format(bars=bars, where=_WHERE)
        params = self._range_params(start, self.end_ns)
        reader = connection.sql(query, params=params).to_arrow_reader(self.batch_size)
        batches: Iterable[pa.RecordBatch] = reader
        closes: list[BarUpdate] = []
        if position is not None:
            batches, closes = self._skip_emitted(reader, position)
        self._position = position
        self._stream_ended = False
        self._last_open = None
        self._closes = closes
        self._stream = self._updates(batches, start, closes)
        return self._stream

    def _read_through(self, catalog: Catalog, position: FeedPosition | None) -> int:
        """How many bars a stream has read once it has emitted ``position``."""
        if position is None:
            return 0
        query = _READ_THROUGH_QUERY.format(
            bars=catalog.view(bars_dataset(self.interval)), where=_WHERE
        )
        params = {
            **self._range_params(self.start_ns, position.start + 1),
            "at": position.start,
            "symbol": position.symbol,
        }
        before, at, below, same = catalog.connection.sql(query, params=params).fetchall()[0]
        return before + (at if position.closed else below + min(same, position.repeat + 1))

    def _range_params(self, start: int, end: int) -> dict[str, object]:
        return {
            "symbols": list(self.symbols),
            "first_date": utc_date(start),
            "last_date": utc_date(end - 1),
            "start": start,
            "end": end,
        }

    def _check_position(self, start: int, symbol: str) -> None:
        if symbol not in self.symbols or not self.start_ns <= start < self.end_ns:
            raise FeedStateError(
                f"position {symbol} at {_iso(start)} is outside this feed: "
                f"{', '.join(self.symbols)} in [{_iso(self.start_ns)}, {_iso(self.end_ns)})"
            )

    def _skip_emitted(
        self, batches: Iterable[pa.RecordBatch], position: FeedPosition
    ) -> tuple[Iterable[pa.RecordBatch], list[BarUpdate]]:
        """Read the bars opening at the position's start (the query begins there, so they
        head the first batches) up to the first one with something left to emit; return
        the batches from that row on, and the closes read that are still due. What is at
        or before the position went out already: those bars' opens are not decided
        again, nor their closes repeated. Only these rows are converted here."""
        target = (position.symbol, position.repeat)
        closes: list[BarUpdate] = []
        repeats: dict[str, int] = {}
        found = False
        batches = iter(batches)
        for batch in batches:
            heading = pc.sum(pc.equal(batch.column(0), position.start)).as_py() or 0
            for offset, row in enumerate(_rows(batch.slice(0, heading), self.symbols)):
                symbol = row[1]
                repeats[symbol] = repeat = repeats.get(symbol, -1) + 1
                key = (symbol, repeat)
                if position.closed:
                    # Every open of this start went out, and the closes up to the position.
                    if key > target:
                        closes.append(self._closed_update(*row))
                    found = found or key == target
                else:
                    # The opens up to the position went out (or were decided against).
                    closes.append(self._closed_update(*row))
                    if key == target:
                        return itertools.chain((batch.slice(offset + 1),), batches), closes
            if heading < batch.num_rows:
                if not found:
                    raise self._lost(position)
                return itertools.chain((batch.slice(heading),), batches), closes
        if not found:
            raise self._lost(position)
        return (), closes

    def _lost(self, position: FeedPosition) -> FeedStateError:
        copy = (
            f" (row {position.repeat + 1} of that start: a duplicate in the lake, or one "
            f"update marked twice)"
            if position.repeat
            else ""
        )
        return FeedStateError(
            f"the lake holds no {self.interval} bar of {position.symbol} at "
            f"{_iso(position.start)}{copy}, the feed's position: the lake changed since the "
            f"snapshot, or the snapshot is not of this feed"
        )

    def _closed_update(
        self, start: int, symbol: str, o: float, h: float, lo: float, c: float, v: float,
        n: int, vwap: float,
    ) -> BarUpdate:  # fmt: skip
        """A closed update as the hot loop builds it (which inlines this)."""
        ts = start + self.interval_ns
        bar = Bar(
            ts=ts, symbol=symbol, interval=self.interval, start=start, open=o, high=h, low=lo,
            close=c, volume=v, trades=n, vwap=vwap,
        )  # fmt: skip
        return BarUpdate(ts=ts, closed=True, bar=bar)

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

    def _updates(
        self, batches: Iterable[pa.RecordBatch], group_start: int, closes: list[BarUpdate]
    ) -> Generator[BarUpdate, None, None]:
        """The hot loop. The closes of the bars opening at one time are held back until
        a row of a later time is read; then they go out, and only after that is it
        decided whether each new bar's open goes out too. ``closes`` are those of the
        bars opening at ``group_start`` already read (a resumed stream's)."""
        names = self.symbols
        interval = self.interval
        step = self.interval_ns
        always_open = self.emit_open_updates
        subscribed = self._open_subscribers
        bar_type, update_type = Bar, BarUpdate
        for batch in batches:
            for start, symbol, o, h, lo, c, v, n, vwap in _rows(batch, names):
                if start != group_start:
                    group_start = start
                    yield from closes
                    closes.clear()
                ts = start + step
                if always_open or symbol in subscribed:
                    # Kept for ``position``: one store, and opens are few (sent only while
                    # someone subscribes) unless ``emit_open_updates``.
                    self._last_open = opening = update_type(
                        ts=start,
                        closed=False,
                        bar=bar_type(
                            ts=ts, symbol=symbol, interval=interval, start=start, open=o,
                            high=o, low=o, close=o, volume=0.0, trades=0, vwap=o,
                        ),
                    )  # fmt: skip
                    yield opening
                self._bars_read += 1  # per bar, so a session stopped early counts right
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
        if closes:
            self._position = _position_of(closes[-1], closes[:-1])
        self._stream_ended = True

    def _no_data(self, symbol: str) -> str:
        dataset_dir = self.lake.dataset_dir(bars_dataset(self.interval))
        return (
            f"no {self.interval} bars for {symbol} in [{_iso(self.start_ns)}, "
            f"{_iso(self.end_ns)}) under {dataset_dir}; "
            f"run `tickdeck sample-data` to write sample bars, or ingest real ones"
        )


def _rows(batch: pa.RecordBatch, names: tuple[str, ...]) -> Iterator[tuple]:
    """The batch's rows as (start, symbol, open, high, low, close, volume, trades, vwap),
    converted one column at a time (one C call per column, not per cell)."""
    _refuse_nulls(batch, names)
    columns = batch.columns
    if len(names) == 1:
        symbols: Iterable[str] = itertools.repeat(names[0], batch.num_rows)
    else:
        symbols = [names[index] for index in columns[1].to_pylist()]
    values = (column.to_pylist() for column in columns[2:])
    return zip(columns[0].to_pylist(), symbols, *values, strict=True)


def _position_of(update: BarUpdate, earlier: list[BarUpdate]) -> FeedPosition:
    """``update``'s position; ``earlier`` holds the closes of its start read before it."""
    bar = update.bar
    start, symbol = bar.start, bar.symbol
    repeat = sum(1 for close in earlier if close.bar.start == start and close.bar.symbol == symbol)
    return FeedPosition(start=start, symbol=symbol, closed=update.closed, repeat=repeat)


def _describe(start: int, symbol: str, closed: bool) -> str:
    return f"{'close' if closed else 'open'} of {symbol} at {_iso(start)}"


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
