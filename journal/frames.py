"""The frame: ``[u32 length][u32 crc32][msgpack JournalRecord]``, little-endian.

``length`` counts the record bytes only and ``crc32`` (``zlib.crc32``) covers
them, so a reader can tell an intact frame from a torn or damaged one without
decoding it. The record is encoded as a msgpack array ``[seq, ts, message]``:
positional, because it is in every frame and its three fields never move;
msgspec ignores extra trailing items, so a later format may still append a
field. The message inside is a catalog message encoded as a map, by its tag,
with ``Decimal`` as a string (exact).
"""

from __future__ import annotations

import functools
import operator
import struct
import zlib
from typing import TYPE_CHECKING, Final

import msgspec

from actors.messages import ALL_MESSAGES, Message

__all__ = [
    "FRAME_HEADER",
    "MAX_RECORD_BYTES",
    "JournalRecord",
    "RecordSeq",
    "encode_frame",
    "message_decoder",
    "raw_record_crc",
    "record_decoder",
    "seq_decoder",
]

if TYPE_CHECKING:
    AnyMessage = Message
else:
    AnyMessage = functools.reduce(operator.or_, ALL_MESSAGES)

FRAME_HEADER: Final = struct.Struct("<II")
# A bound on one record, so that a damaged length field is recognised as damage and a
# runaway message is refused at append, long before u32 would overflow.
MAX_RECORD_BYTES: Final = 16 * 1024 * 1024


class JournalRecord(msgspec.Struct, frozen=True, array_like=True):
    """One journaled message: its global sequence number (1, 2, 3... with no gaps across
    the session's segments), the clock time it was appended at (int ns) and the message."""

    seq: int
    ts: int
    message: AnyMessage


class RecordSeq(msgspec.Struct, frozen=True, array_like=True):
    """A record read without decoding its message: what a scan for the last seq needs."""

    seq: int
    ts: int
    message: msgspec.Raw


_encoder: Final = msgspec.msgpack.Encoder(decimal_format="string")
record_decoder: Final = msgspec.msgpack.Decoder(JournalRecord)
seq_decoder: Final = msgspec.msgpack.Decoder(RecordSeq)
message_decoder: Final = msgspec.msgpack.Decoder(AnyMessage)


def raw_record_crc(record: RecordSeq) -> int:
    """The CRC of the frame ``record`` was read from: its message bytes are kept raw, so
    encoding it again gives the record's bytes exactly."""
    return zlib.crc32(_encoder.encode(record))


def encode_frame(seq: int, ts: int, message: Message) -> bytes:
    """The frame of one record. Raises ``ValueError`` for a record over ``MAX_RECORD_BYTES``."""
    record = _encoder.encode(JournalRecord(seq, ts, message))
    if len(record) > MAX_RECORD_BYTES:
        raise ValueError(
            f"{type(message).__name__} at seq {seq} encodes to {len(record)} bytes, "
            f"over the journal's limit of {MAX_RECORD_BYTES}"
        )
    return FRAME_HEADER.pack(len(record), zlib.crc32(record)) + record
