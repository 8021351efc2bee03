"""Export of a session's journal to the lake: every record, in seq order, as one Parquet file.

The file is ``<lake>/journal/session=<session>/journal.parquet`` and the
catalog's ``journal`` view reads every session's file, so SQL sees the journal
beside the market data and the runs. One row per record:

- ``session``, ``seq`` (int64), ``ts`` (the record's clock time) and ``event_ts``
  (the message's own ``ts``), both ``timestamp[ns, UTC]``, and ``type`` (the tag);
- key fields, typed nullable text, taken from wherever the message holds them
  (``KEY_SOURCES``): ``symbol``, ``strategy``, ``client_order_id``, ``side``,
  ``quantity``, ``price``, ``status``, ``reason``. An empty string is null;
- ``payload``: the whole message as JSON (msgspec; Decimals as strings, exact).

``quantity`` and ``price`` are text, not DECIMAL: the catalog's Decimals have no
fixed scale (an average price carries 28 significant digits, a lot size may be
1e-8 or finer) and market data is float, so any one DECIMAL(p, s) would round
some value or refuse it. The text is exact, in plain notation (never ``1E-8``),
and DuckDB casts it when asked: ``sum(quantity::DECIMAL(38, 18))``.

Records are read with ``JournalReader`` (every frame checked, the same judgement
as recovery) and streamed in Arrow record batches, so memory holds one batch
and one segment, whatever the journal's length. A re-export replaces the
session's file atomically: it is written and fsynced in a temporary directory
beside it and renamed over the old one, so a query sees the old file or the
new, never half of one, and a failed export (corruption, a full disk) leaves
the previous export as it was. The journal itself is only read: a torn tail is
reported (``ExportResult.torn_tail``), not cut.
"""

from __future__ import annotations

import gc
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from decimal import Decimal
from operator import attrgetter
from pathlib import Path
from typing import Any, Final, NamedTuple

import msgspec
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from actors.messages import ALL_MESSAGES, Message
from journal.frames import JournalRecord
from journal.reader import JournalReader, TornTail
from journal.segments import fsync_directory

__all__ = [
    "DATASET",
    "EXPORT_FILE",
    "JOURNAL_SCHEMA",
    "KEY_COLUMNS",
    "KEY_SOURCES",
    "ExportResult",
    "export_path",
    "export_session",
    "record_batches",
]

DATASET: Final = "journal"
EXPORT_FILE: Final = "journal.parquet"
KEY_COLUMNS: Final = (
    "symbol",
    "strategy",
    "client_order_id",
    "side",
    "quantity",
    "price",
    "status",
    "reason",
)
_NUMERIC: Final = frozenset(("quantity", "price"))
KEY_SOURCES: Final[dict[str, tuple[str, ...]]] = {
    "symbol": ("symbol", "ticket.symbol", "intent.ticket.symbol", "bar.symbol"),
    "strategy": ("strategy", "intent.strategy"),
    "client_order_id": ("client_order_id",),
    "side": ("side", "ticket.side", "intent.ticket.side", "aggressor"),
    "quantity": (
        "quantity",
        "ticket.quantity",
        "intent.ticket.quantity",
        "last_quantity",
        "size",
    ),
    "price": (
        "price",
        "ticket.limit_price",
        "intent.ticket.limit_price",
        "last_price",
        "average_price",
        "close",
        "bar.close",
    ),
    "status": ("status", "state"),
    "reason": ("reason",),
}
"""Where each key column comes from: the first attribute path the message type has.
An order's quantity and limit price come from its ticket (a market order has no
price); an execution report's from the trade it carries (``last_*``); a
position's price is its average price; a bar's is its close; a trade tick's side
is the aggressor's; a risk state change's status is the new state."""

_TIMESTAMP: Final = pa.timestamp("ns", tz="UTC")
JOURNAL_SCHEMA: Final = pa.schema(
    [
        pa.field("session", pa.string(), nullable=False),
        pa.field("seq", pa.int64(), nullable=False),
        pa.field("ts", _TIMESTAMP, nullable=False),
        pa.field("event_ts", _TIMESTAMP, nullable=False),
        pa.field("type", pa.string(), nullable=False),
        *(pa.field(name, pa.string()) for name in KEY_COLUMNS),
        pa.field("payload", pa.string(), nullable=False),
    ]
)
_BATCH_ROWS: Final = 65536
# A batch is also closed by its JSON bytes, to bound memory whatever the records' sizes
# (one may be up to the journal's 16 MiB limit; string offsets are int32).
_BATCH_PAYLOAD_BYTES: Final = 64 * 1024 * 1024
_json: Final = msgspec.json.Encoder(decimal_format="string")


class ExportResult(msgspec.Struct, frozen=True, kw_only=True):
    """What an export wrote: ``records`` rows (seqs 1..``records``) to ``path`` in
    ``seconds``; ``torn_tail`` is what a crash left after them (not exported)."""

    session: str
    path: str
    records: int
    seconds: float
    torn_tail: TornTail | None


def export_path(lake: Path, session: str) -> Path:
    return Path(lake) / DATASET / f"session={session}" / EXPORT_FILE


def export_session(
    journal_directory: Path, lake: Path, *, batch_rows: int = _BATCH_ROWS
) -> ExportResult:
    """Export every record of the journal in ``journal_directory`` to the lake, replacing
    the session's previous export. Raises the reader's errors (``JournalCorruptError``,
    ``JournalVersionError``) without touching the previous export."""
    journal_directory = Path(journal_directory)
    session = journal_directory.name
    target = export_path(lake, session)
    parent = target.parent.parent
    parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    reader = JournalReader(journal_directory)
    scratch = Path(tempfile.mkdtemp(prefix=f".export-{session}-", dir=parent))
    try:
        staged = scratch / EXPORT_FILE
        with (
            _collector_paused(),
            pq.ParquetWriter(staged, JOURNAL_SCHEMA, compression="zstd") as writer,
        ):
            for batch in record_batches(reader, session, batch_rows):
                writer.write_batch(batch)
        _fsync_file(staged)
        target.parent.mkdir(exist_ok=True)
        os.replace(staged, target)
        fsync_directory(target.parent)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return ExportResult(
        session=session,
        path=str(target),
        records=reader.last_seq,
        seconds=time.perf_counter() - started,
        torn_tail=reader.torn_tail,
    )


def record_batches(
    records: Iterable[JournalRecord], session: str, batch_rows: int = _BATCH_ROWS
) -> Iterator[pa.RecordBatch]:
    """``records`` as record batches of ``JOURNAL_SCHEMA``, at most ``batch_rows`` each.

    A batch is built column by column (list comprehensions over its records, one
    buffer of JSON payloads), never as a dict per record."""
    if batch_rows <= 0:
        raise ValueError("batch_rows must be > 0")
    encode_into = _json.encode_into
    # Only the messages are kept (they are not tracked by the garbage collector, unlike
    # the records around them): a batch of tracked objects would be traversed by
    # every collection the batch's own allocations trigger.
    seqs: list[int] = []
    times: list[int] = []
    messages: list[Message] = []
    payload = bytearray()
    offsets = [0]
    for record in records:
        seqs.append(record.seq)
        times.append(record.ts)
        messages.append(record.message)
        encode_into(record.message, payload, -1)
        offsets.append(len(payload))
        if len(seqs) >= batch_rows or len(payload) >= _BATCH_PAYLOAD_BYTES:
            yield _batch(session, seqs, times, messages, payload, offsets)
            seqs, times, messages, payload, offsets = [], [], [], bytearray(), [0]
    if seqs:
        yield _batch(session, seqs, times, messages, payload, offsets)


def _batch(
    session: str,
    seqs: list[int],
    times: list[int],
    messages: list[Message],
    payload: bytearray,
    offsets: list[int],
) -> pa.RecordBatch:
    rows = len(seqs)
    class_ids = pa.array([_CLASS_IDS[message.__class__] for message in messages], pa.int32())
    payloads = pa.StringArray.from_buffers(
        rows, pa.array(offsets, pa.int32()).buffers()[1], pa.py_buffer(payload)
    )
    return pa.RecordBatch.from_arrays(
        [
            pa.array([session] * rows, pa.string()),
            pa.array(seqs, pa.int64()),
            pa.array(times, _TIMESTAMP),
            pa.array([message.ts for message in messages], _TIMESTAMP),
            _TAG_ARRAY.take(class_ids),
            *_key_arrays(messages, class_ids),
            payloads,
        ],
        schema=JOURNAL_SCHEMA,
    )


def _key_arrays(messages: list[Message], class_ids: pa.Array) -> list[pa.Array]:
    """The key columns of ``messages``, built one message type at a time.

    The messages are grouped by type (a stable sort of their type ids), each
    group's values are read with its type's ``attrgetter`` and turned into Arrow
    arrays whole, and each column is put back in the messages' order with one
    ``take``: per message, only C calls."""
    rows = len(messages)
    order = pc.sort_indices(class_ids)
    positions = order.to_pylist()
    counts = pc.value_counts(class_ids)
    groups = sorted(
        zip(counts.field("values").to_pylist(), counts.field("counts").to_pylist(), strict=True)
    )
    chunks: list[list[pa.Array]] = [[] for _ in KEY_COLUMNS]
    start = 0
    for class_id, count in groups:
        reader = _READERS[class_id]
        group = [messages[index] for index in positions[start : start + count]]
        start += count
        values = list(zip(*map(reader.get, group), strict=True)) if reader.slots else []
        for column, slot in enumerate(reader.slots or _NO_SLOTS):
            if slot is None:
                chunks[column].append(pa.nulls(count, pa.string()))
            else:
                chunks[column].append(slot.convert(values[slot.index]))
    restore = pc.sort_indices(order)
    arrays = []
    for column, parts in enumerate(chunks):
        if all(part.null_count == len(part) for part in parts):
            arrays.append(pa.nulls(rows, pa.string()))
            continue
        array = pa.concat_arrays(parts).take(restore)
        if KEY_COLUMNS[column] not in _NUMERIC:
            array = pc.if_else(pc.equal(array, ""), pa.scalar(None, pa.string()), array)
        arrays.append(array)
    return arrays


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector during a bulk export. A batch allocates a
    tuple or two per record and keeps them alive until the batch is written, so each
    collection their allocations trigger walks a growing, acyclic batch again: that
    took a third of the export's time. Nothing an export allocates forms a cycle."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _texts(values: Sequence[Any]) -> pa.Array:
    """Strings and enums (by value) as text."""
    return pa.array(values, pa.string())


def _float_texts(values: Sequence[float]) -> pa.Array:
    """Floats as their shortest round-tripping digits in plain notation: Arrow's text,
    except where Arrow chose an exponent (very small or large values)."""
    array = pa.array(values, pa.float64()).cast(pa.string())
    if not pc.any(pc.match_substring(array, "e")).as_py():
        return array
    return pa.array(
        [None if text is None else _plain(text) for text in array.to_pylist()], pa.string()
    )


def _decimal_texts(values: Sequence[Decimal | None]) -> pa.Array:
    """Decimals exactly, in plain notation (``0.00000001``, never ``1E-8``)."""
    return pa.array(
        [None if value is None else format(value, "f") for value in values], pa.string()
    )


def _plain(text: str) -> str:
    return format(Decimal(text), "f") if "e" in text else text


class _Slot(NamedTuple):
    """Where one key column of a message type comes from: the position of its value in
    the type's attrgetter tuple, and how a group of those values becomes text."""

    index: int
    convert: Callable[[Sequence[Any]], pa.Array]


class _KeyReader(NamedTuple):
    """How the key columns of one message type are read: one attrgetter for all of them
    (``ts`` first, so it always returns a tuple), and a slot per column (None where
    the type has no such field); ``slots`` is empty for a type with no key fields."""

    get: Callable[[Any], tuple[Any, ...]]
    slots: tuple[_Slot | None, ...]


def _field_type(cls: type[msgspec.Struct], path: str) -> Any:
    """The type of the field ``path`` (``a.b.c``) of ``cls``, through nested structs;
    ``_MISSING`` if there is no such field."""
    owner: Any = cls
    for name in path.split("."):
        if not (isinstance(owner, type) and issubclass(owner, msgspec.Struct)):
            return _MISSING
        fields = {field.name: field.type for field in msgspec.structs.fields(owner)}
        if name not in fields:
            return _MISSING
        owner = fields[name]
    return owner


def _key_reader(cls: type[Message]) -> _KeyReader:
    paths = ["ts"]
    slots: list[_Slot | None] = []
    for column in KEY_COLUMNS:
        found = (
            (path, kind)
            for path in KEY_SOURCES[column]
            if (kind := _field_type(cls, path)) is not _MISSING
        )
        source = next(found, None)
        if source is None:
            slots.append(None)
            continue
        path, kind = source
        if column not in _NUMERIC:
            convert = _texts
        elif kind is float:
            convert = _float_texts
        else:
            convert = _decimal_texts
        slots.append(_Slot(len(paths), convert))
        paths.append(path)
    if len(paths) == 1:
        return _KeyReader(attrgetter("ts"), ())
    return _KeyReader(attrgetter(*paths), tuple(slots))


def _tag(cls: type[Message]) -> str:
    tag = cls.__struct_config__.tag
    return tag if isinstance(tag, str) else cls.__name__


_MISSING: Final = object()
_NO_SLOTS: Final = (None,) * len(KEY_COLUMNS)
_CLASS_IDS: Final[dict[type, int]] = {cls: index for index, cls in enumerate(ALL_MESSAGES)}
_READERS: Final = tuple(_key_reader(cls) for cls in ALL_MESSAGES)
_TAG_ARRAY: Final = pa.array([_tag(cls) for cls in ALL_MESSAGES], pa.string())
