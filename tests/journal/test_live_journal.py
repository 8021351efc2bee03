"""The live scheduler journals everything it publishes, holds orders until they are durable,
and halts trading when the journal fails instead of trading unjournaled."""

from __future__ import annotations

import errno
import os
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest

from actors.actor import Actor
from actors.bus import Bus
from actors.clock import SimClock
from actors.messages import (
    Heartbeat,
    Message,
    OrderTicket,
    Side,
    SubmitOrder,
    TradingHalted,
)
from actors.supervisor import LiveScheduler
from journal import JournalReader, JournalWriteError, JournalWriter, open_journal
from tests.journal.conftest import SESSION, is_segment_fd

MINUTE = 60 * 10**9


class Trader(Actor):
    """Sends an order for every heartbeat."""

    name = "trader"

    def on_heartbeat(self, message: Heartbeat) -> None:
        ticket = OrderTicket(symbol="BTCUSDT", side=Side.BUY, quantity=Decimal("0.01"))
        client_id = f"c-{message.ts // MINUTE}"
        self.publish(
            SubmitOrder(ts=message.ts, client_order_id=client_id, strategy="t", ticket=ticket)
        )


class Gateway(Actor):
    """The venue side: notes how far the journal was durable when each order reached it."""

    name = "gateway"

    def __init__(self, journal: JournalWriter) -> None:
        super().__init__()
        self.journal = journal
        self.sent: list[tuple[str, int]] = []
        self.halts: list[TradingHalted] = []

    def on_submit_order(self, message: SubmitOrder) -> None:
        self.sent.append((message.client_order_id, self.journal.durable_seq))

    def on_trading_halted(self, message: TradingHalted) -> None:
        self.halts.append(message)


async def _heartbeats(count: int) -> AsyncIterator[Message]:
    for i in range(1, count + 1):
        yield Heartbeat(ts=i * MINUTE, actor="feed")


async def test_every_published_message_is_journaled_in_order_and_orders_wait_for_the_disk(
    tmp_path: Path,
) -> None:
    async with open_journal(tmp_path, SESSION) as journal:
        gateway = Gateway(journal)
        scheduler = LiveScheduler(Bus([Trader(), gateway]), SimClock(), journal=journal)
        await scheduler.run(_heartbeats(20), pace=True)
    records = list(JournalReader(tmp_path / SESSION))
    kinds = [type(record.message).__name__ for record in records]
    assert kinds.count("Heartbeat") == 20 and kinds.count("SubmitOrder") == 20
    assert kinds[-1] == "EndOfData"
    seq_of = {
        record.message.client_order_id: record.seq
        for record in records
        if isinstance(record.message, SubmitOrder)
    }
    assert len(gateway.sent) == 20
    for client_id, durable_when_sent in gateway.sent:
        assert durable_when_sent >= seq_of[client_id], client_id


async def test_a_full_disk_halts_trading_and_nothing_unjournaled_reaches_the_venue(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_write = os.write
    writes = 0

    def filling_disk(fd: int, data: bytes) -> int:
        nonlocal writes
        if is_segment_fd(fd):
            writes += 1
            if writes > 3:
                raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", filling_disk)
    with pytest.raises(JournalWriteError, match="No space left on device"):
        async with open_journal(tmp_path, SESSION) as journal:
            gateway = Gateway(journal)
            scheduler = LiveScheduler(Bus([Trader(), gateway]), SimClock(), journal=journal)
            await scheduler.run(_heartbeats(50), pace=True)
    monkeypatch.setattr(os, "write", real_write)
    assert [halt.source for halt in gateway.halts] == ["journal"]
    assert "No space left on device" in gateway.halts[0].reason
    assert scheduler.stop_reason.startswith("journal failed, trading halted")
    durable = {
        record.message.client_order_id
        for record in JournalReader(tmp_path / SESSION)
        if isinstance(record.message, SubmitOrder)
    }
    assert {client_id for client_id, _ in gateway.sent} <= durable  # none left undurable
    assert len(gateway.sent) < 50
