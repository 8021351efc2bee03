"""Frames: the byte layout, exact round trips of every catalog message, the size bound."""

from __future__ import annotations

import struct
import zlib
from decimal import Decimal

import msgspec
import pytest

from actors.messages import ALL_MESSAGES, Heartbeat, OrderTicket, Side, SubmitOrder
from journal.frames import MAX_RECORD_BYTES, JournalRecord, encode_frame, record_decoder
from tests.factories import example_struct


def test_frame_is_little_endian_length_then_crc32_of_the_record() -> None:
    frame = encode_frame(7, 123, Heartbeat(ts=5, actor="risk"))
    length, crc = struct.unpack("<II", frame[:8])
    record = frame[8:]
    assert length == len(record)
    assert crc == zlib.crc32(record)
    assert msgspec.msgpack.decode(record)[:2] == [7, 123]


@pytest.mark.parametrize("cls", ALL_MESSAGES, ids=lambda cls: cls.__name__)
def test_every_catalog_message_round_trips_through_a_frame(cls: type) -> None:
    message = example_struct(cls)
    record = record_decoder.decode(encode_frame(42, 99, message)[8:])
    assert record == JournalRecord(42, 99, message)
    assert type(record.message) is cls


def test_decimals_are_strings_on_the_wire() -> None:
    ticket = OrderTicket(symbol="BTCUSDT", side=Side.SELL, quantity=Decimal("0.10000000"))
    frame = encode_frame(1, 1, SubmitOrder(ts=1, client_order_id="c", strategy="s", ticket=ticket))
    wire = msgspec.msgpack.decode(frame[8:])
    assert wire[2]["ticket"]["quantity"] == "0.10000000"


def test_a_record_over_the_size_bound_is_refused() -> None:
    huge = Heartbeat(ts=1, actor="x" * (MAX_RECORD_BYTES + 1))
    with pytest.raises(ValueError, match="Heartbeat at seq 3"):
        encode_frame(3, 1, huge)
