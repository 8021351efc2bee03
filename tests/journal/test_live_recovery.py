"""Recovery of a session the live scheduler journaled: its actors rebuilt from the records
in journal order, outputs matched by type, and a cascade the crash cut finished after."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from pathlib import Path

import anyio
import msgspec
import pytest

from actors.clock import SimClock
from actors.messages import BarUpdate, Message
from actors.supervisor import LiveScheduler
from app.backtest import BacktestSession, build_backtest
from app.settings import Settings
from journal import JournalReader, open_journal
from journal.frames import FRAME_HEADER
from journal.recovery import recover
from journal.segments import list_segments, read_header
from tests.e2e.conftest import backtest_settings, write_lake

SESSION = "live"


async def _source(messages: Iterable[Message]) -> AsyncIterator[Message]:
    for message in messages:
        yield message


async def _run_live(session: BacktestSession, root: Path, source: list[Message]) -> None:
    async with open_journal(root, SESSION) as journal:
        scheduler = LiveScheduler(session.bus, SimClock(), journal=journal)
        await scheduler.run(_source(source), pace=True)


def _books(session: BacktestSession) -> dict[str, bytes]:
    names = ("accountant", "order_manager", "risk", "strategy", "exchange", "reconciler")
    return {name: msgspec.msgpack.encode(session.bus.actors[name].snapshot()) for name in names}


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    data_dir = write_lake(tmp_path_factory.mktemp("live"), days=1)
    return backtest_settings(data_dir, days=1)


@pytest.fixture(scope="module")
def source(settings: Settings) -> list[Message]:
    feed = build_backtest(settings).feed
    feed.emit_open_updates = True  # every open, so the journal alone drives the exchange
    return list(feed.messages())


@pytest.fixture(scope="module")
def original(
    settings: Settings, source: list[Message], tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, dict[str, bytes]]:
    root = tmp_path_factory.mktemp("journal")
    session = build_backtest(settings)
    anyio.run(_run_live, session, root, source)
    return root / SESSION, _books(session)


def test_a_live_journal_rebuilds_every_actor_exactly(
    settings: Settings, original: tuple[Path, dict[str, bytes]]
) -> None:
    directory, books = original
    fresh = build_backtest(settings)
    report = recover(directory, SESSION, fresh.scheduler, live=True)
    assert report.replayed_frames == sum(1 for _ in JournalReader(directory))
    assert fresh.scheduler.take_in_flight() == []  # every output was journaled
    assert _books(fresh) == books


def _cut_after(directory: Path, tmp_path: Path, frames: int) -> Path:
    """A copy of the journal holding only its first ``frames`` frames (a crash)."""
    ((first_seq, segment),) = list_segments(directory)
    _, pos = read_header(segment, first_seq, 0)
    data = segment.read_bytes()
    for _ in range(frames):
        length, _ = FRAME_HEADER.unpack_from(data, pos)
        pos += FRAME_HEADER.size + length
    copy = tmp_path / SESSION
    copy.mkdir()
    (copy / segment.name).write_bytes(data[:pos])
    return copy


@pytest.mark.parametrize("fraction", [0.13, 0.5, 0.77])
async def test_a_live_journal_cut_mid_session_resumes_into_the_same_books(
    settings: Settings,
    source: list[Message],
    original: tuple[Path, dict[str, bytes]],
    tmp_path: Path,
    fraction: float,
) -> None:
    directory, books = original
    total = sum(1 for _ in JournalReader(directory))
    # Cut where a source message was just journaled and its cascade was not.
    records = list(JournalReader(directory))
    cut = next(r.seq for r in records[int(total * fraction) :] if isinstance(r.message, BarUpdate))
    copy = _cut_after(directory, tmp_path, cut + 1)
    fresh = build_backtest(settings)
    marked: list[BarUpdate] = []
    report = recover(copy, SESSION, fresh.scheduler, live=True, on_source=_collect(marked))
    assert report.last_seq == cut + 1
    lost = fresh.scheduler.take_in_flight()
    assert lost, "the cut left no cascade to finish: move it"
    rest = source[source.index(marked[-1]) + 1 :]
    async with open_journal(tmp_path, SESSION) as journal:
        clock = SimClock(fresh.scheduler.clock.now())
        scheduler = LiveScheduler(fresh.bus, clock, journal=journal)
        # What the crash cut goes first, then the source from where the journal ends.
        await scheduler.run(_source([*lost, *rest]), pace=True)
    # The reconciler's timer restarts with the resumed session's clock, so it counts
    # its reconciliations from there; what it must agree on is that nothing drifted.
    resumed = _books(fresh)
    assert {k: v for k, v in resumed.items() if k != "reconciler"} == {
        k: v for k, v in books.items() if k != "reconciler"
    }
    assert fresh.bus.actors["reconciler"].snapshot().last_drift is None


def _collect(into: list[BarUpdate]) -> object:
    def on_source(message: Message) -> None:
        if isinstance(message, BarUpdate):
            into.append(message)

    return on_source
