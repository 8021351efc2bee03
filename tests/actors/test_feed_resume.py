"""The feed's snapshot and resume: after a restore (and the updates a journal replay
delivered in its place), the feed goes on with exactly the update an uninterrupted run
would have emitted next: no duplicate, no gap, across symbols, days and batches."""

from __future__ import annotations

import datetime as dt
import zlib
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import actors.feed
from actors.feed import BarFeed, BarFeedState, FeedPosition, FeedStateError
from actors.messages import BAR_OPEN, BarUpdate, Subscribe, Unsubscribe
from storage.lake import DAY_NS, Lake
from storage.sample import generate_bars

MINUTE = 60_000_000_000
DAY1 = dt.date(2024, 3, 9)
DAY1_NS = (DAY1 - dt.date(1970, 1, 1)).days * DAY_NS
FIRST = DAY1_NS + DAY_NS - 20 * MINUTE  # 23:40 on the first day
MINUTES = 40  # to 00:20 on the next: the range crosses a partition boundary
SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT")
ENCODER = msgspec.msgpack.Encoder(decimal_format="string")
DECODER = msgspec.msgpack.Decoder(BarFeedState)


def _write(lake: Path, symbol: str, minutes: set[int], start_price: float) -> None:
    table = generate_bars(symbol, DAY1, 2, seed=3, start_price=start_price)
    offsets = pa.array([(int(t.value) - FIRST) // MINUTE for t in table.column("open_time")])
    keep = pa.array([offset in minutes for offset in offsets.to_pylist()])
    Lake(lake).write_bars(symbol, "1m", table.filter(keep))


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """BTC every minute, ETH with holes, SOL only in the middle of the range."""
    root = tmp_path_factory.mktemp("lake")
    _write(root, "BTCUSDT", set(range(MINUTES)), 42_000.0)
    _write(root, "ETHUSDT", set(range(MINUTES)) - {0, 3, 4, 19, 20, 21, 33}, 2_300.0)
    _write(root, "SOLUSDT", set(range(6, 31)), 90.0)
    return root


def _feed(lake: Path, batch_size: int, emit_open_updates: bool = False) -> BarFeed:
    return BarFeed(
        lake, SYMBOLS, "1m", FIRST, FIRST + MINUTES * MINUTE, batch_size=batch_size,
        emit_open_updates=emit_open_updates,
    )  # fmt: skip


def _toggle(feed: BarFeed, update: BarUpdate, salt: int) -> None:
    """What the rest of the session does on ``update``: sometimes (by a hash of the update,
    so every run does the same) one of two subscribers asks for or drops a symbol's opens."""
    bar = update.bar
    key = f"{salt}:{bar.start}:{bar.symbol}:{update.closed}".encode()
    choice = zlib.crc32(key) % 7
    if choice >= 4:
        return
    subscriber = ("exchange", "other")[choice % 2]
    symbol = SYMBOLS[zlib.crc32(key[::-1]) % 3]
    kind = Subscribe if choice < 2 else Unsubscribe
    handler = feed.on_subscribe if kind is Subscribe else feed.on_unsubscribe
    handler(kind(ts=update.ts, subscriber=subscriber, symbol=symbol, stream=BAR_OPEN))  # type: ignore[arg-type]


def _stream(feed: BarFeed, salt: int, limit: int | None = None) -> list[BarUpdate]:
    """Updates from ``feed``, each handled (toggles applied) before the next is pulled."""
    taken: list[BarUpdate] = []
    if limit == 0:
        return taken
    messages: Iterator[BarUpdate] = feed.messages()  # type: ignore[assignment]
    for update in messages:
        taken.append(update)
        _toggle(feed, update, salt)
        if len(taken) == limit:
            break
    return taken


def _through_msgpack(state: BarFeedState) -> BarFeedState:
    return DECODER.decode(ENCODER.encode(state))


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    batch_size=st.sampled_from([1, 2, 3, 7, 50, 65536]),
    emit_open_updates=st.booleans(),
    salt=st.integers(0, 1000),
    data=st.data(),
)
def test_snapshot_replay_and_resume_give_the_uninterrupted_stream(
    lake: Path, batch_size: int, emit_open_updates: bool, salt: int, data: st.DataObject
) -> None:
    uninterrupted = _feed(lake, batch_size, emit_open_updates)
    full = _stream(uninterrupted, salt)
    cut = data.draw(st.integers(0, len(full)), label="cut")
    snapshot_at = data.draw(st.integers(0, cut), label="snapshot_at")

    before = _feed(lake, batch_size, emit_open_updates)
    assert _stream(before, salt, snapshot_at) == full[:snapshot_at]
    saved = _through_msgpack(before.snapshot())

    resumed = _feed(lake, batch_size, emit_open_updates)
    resumed.restore(saved)
    for update in full[snapshot_at:cut]:  # what the journal replay delivers
        resumed.mark_emitted(update)
        _toggle(resumed, update, salt)
    assert full[:cut] + _stream(resumed, salt) == full
    assert resumed.snapshot() == uninterrupted.snapshot()
    assert resumed.bars_read == uninterrupted.bars_read


def test_the_position_is_the_last_update_yielded(lake: Path) -> None:
    feed = _feed(lake, 2, emit_open_updates=True)
    assert feed.snapshot() == BarFeedState(open_subscribers={}, position=None)
    stream = feed.messages()
    assert feed.position is None  # nothing yielded yet
    # Only BTC has a bar at 23:40; at 23:41 BTC and ETH open, then both close.
    head = [next(stream) for _ in range(4)]
    assert [(m.closed, m.bar.symbol, m.bar.start - FIRST) for m in head] == [
        (False, "BTCUSDT", 0), (True, "BTCUSDT", 0),
        (False, "BTCUSDT", MINUTE), (False, "ETHUSDT", MINUTE),
    ]  # fmt: skip
    assert feed.position == FeedPosition(start=FIRST + MINUTE, symbol="ETHUSDT", closed=False)
    next(stream)
    assert feed.position == FeedPosition(start=FIRST + MINUTE, symbol="BTCUSDT", closed=True)
    next(stream)
    assert feed.position == FeedPosition(start=FIRST + MINUTE, symbol="ETHUSDT", closed=True)


def test_the_subscriptions_are_kept_sorted_by_symbol_and_subscriber(lake: Path) -> None:
    feed = _feed(lake, 7)
    for subscriber, symbol in [("z", "SOLUSDT"), ("a", "SOLUSDT"), ("x", "BTCUSDT")]:
        feed.on_subscribe(Subscribe(ts=0, subscriber=subscriber, symbol=symbol, stream=BAR_OPEN))
    assert feed.snapshot().open_subscribers == {"BTCUSDT": ("x",), "SOLUSDT": ("a", "z")}


def test_a_feed_restored_at_the_end_has_nothing_left_to_emit(lake: Path) -> None:
    finished = _feed(lake, 7)
    full = list(finished.messages())
    restored = _feed(lake, 7)
    restored.restore(_through_msgpack(finished.snapshot()))
    assert finished.position == FeedPosition(
        start=FIRST + (MINUTES - 1) * MINUTE, symbol="ETHUSDT", closed=True
    )
    assert list(restored.messages()) == []
    assert restored.bars_read == finished.bars_read == sum(m.closed for m in full)


def test_bars_read_counts_the_bars_a_replay_delivered_without_streaming_them(
    lake: Path,
) -> None:
    finished = _feed(lake, 7)
    full = list(finished.messages())
    restored = _feed(lake, 7)
    restored.restore(_through_msgpack(finished.snapshot()))
    assert restored.bars_read == finished.bars_read == len(full)
    # Cut after the last close of one start: every bar up to there has been read.
    cut = next(i for i in range(50, len(full)) if full[i].bar.start != full[i - 1].bar.start)
    marked = _feed(lake, 7)
    for update in full[:cut]:
        marked.mark_emitted(update)
    assert marked.bars_read == cut
    assert full[:cut] + list(marked.messages()) == full
    assert marked.bars_read == len(full)


def test_a_used_feed_goes_on_from_where_its_last_stream_stopped(lake: Path) -> None:
    full = list(_feed(lake, 3).messages())
    feed = _feed(lake, 3)
    stream = feed.messages()
    head = [next(stream) for _ in range(10)]
    assert head + list(feed.messages()) == full


def test_the_resumed_stream_reads_only_the_bars_from_the_positions_start(
    lake: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    full = list(_feed(lake, 1000).messages())
    position = full[70]
    converted: list[int] = []
    rows = actors.feed._rows

    def counting(batch: pa.RecordBatch, names: tuple[str, ...]) -> Iterator[tuple[object, ...]]:
        converted.append(batch.num_rows)
        return rows(batch, names)

    monkeypatch.setattr(actors.feed, "_rows", counting)
    feed = _feed(lake, 1000)
    feed.mark_emitted(position)
    assert list(feed.messages()) == full[71:]
    later = [m for m in full if m.bar.start >= position.bar.start]
    assert sum(converted) == len(later)


def test_duplicate_rows_in_the_lake_resume_at_the_right_copy(tmp_path: Path) -> None:
    _write(tmp_path, "BTCUSDT", set(range(5)), 42_000.0)
    _write(tmp_path, "ETHUSDT", set(range(5)), 2_300.0)
    partition = tmp_path / "lake" / "bars_1m" / "symbol=ETHUSDT" / "date=2024-03-09"
    table = pq.read_table(partition / "part-0.parquet")
    copies = [table.slice(2, 1).set_column(4, "close", pa.array([close])) for close in (1.0, 2.0)]
    pq.write_table(pa.concat_tables(copies), partition / "part-1.parquet")
    feed = BarFeed(tmp_path, SYMBOLS[:2], "1m", FIRST, FIRST + 5 * MINUTE, batch_size=2)
    full = list(feed.messages())
    eth_closes = [m.bar.close for m in full if m.closed and m.bar.start == FIRST + 2 * MINUTE]
    assert len(eth_closes) == 4  # BTC and three ETH rows at 23:42
    for cut in range(len(full) + 1):
        marked = BarFeed(tmp_path, SYMBOLS[:2], "1m", FIRST, FIRST + 5 * MINUTE, batch_size=2)
        for update in full[:cut]:
            marked.mark_emitted(update)
        streamed = BarFeed(tmp_path, SYMBOLS[:2], "1m", FIRST, FIRST + 5 * MINUTE, batch_size=2)
        assert _stream(streamed, 0, cut) == full[:cut]
        assert streamed.position == marked.position, cut
        assert full[:cut] + list(marked.messages()) == full, cut
        restored = BarFeed(tmp_path, SYMBOLS[:2], "1m", FIRST, FIRST + 5 * MINUTE, batch_size=2)
        restored.restore(_through_msgpack(streamed.snapshot()))
        assert full[:cut] + list(restored.messages()) == full, cut


def test_an_update_before_the_position_is_refused(lake: Path) -> None:
    full = list(_feed(lake, 7).messages())
    feed = _feed(lake, 7)
    feed.mark_emitted(full[5])
    with pytest.raises(FeedStateError, match="comes before the feed's position"):
        feed.mark_emitted(full[4])


def test_an_update_of_another_feed_is_refused(lake: Path) -> None:
    update = next(iter(_feed(lake, 7).messages()))
    feed = BarFeed(lake, ["ETHUSDT"], "1m", FIRST, FIRST + MINUTES * MINUTE)
    with pytest.raises(FeedStateError, match="not one of this feed's"):
        feed.mark_emitted(update)
    late = BarFeed(lake, ["BTCUSDT"], "1m", FIRST + MINUTE, FIRST + MINUTES * MINUTE)
    with pytest.raises(FeedStateError, match="outside this feed"):
        late.mark_emitted(update)


def test_marking_or_restoring_after_streaming_is_refused(lake: Path) -> None:
    feed = _feed(lake, 7)
    update = next(iter(feed.messages()))
    with pytest.raises(RuntimeError, match="mark before streaming"):
        feed.mark_emitted(update)
    with pytest.raises(RuntimeError, match="restore a fresh feed"):
        feed.restore(BarFeedState(open_subscribers={}))


def test_a_position_the_lake_does_not_hold_is_named(lake: Path) -> None:
    feed = _feed(lake, 7)
    missing = FeedPosition(start=FIRST + 3 * MINUTE, symbol="ETHUSDT", closed=True)
    feed.restore(BarFeedState(open_subscribers={}, position=missing))
    with pytest.raises(FeedStateError, match="no 1m bar of ETHUSDT at 2024-03-09T23:43:00Z"):
        feed.messages()


def test_subscriptions_to_symbols_the_feed_lacks_are_refused(lake: Path) -> None:
    with pytest.raises(FeedStateError, match="XRPUSDT"):
        _feed(lake, 7).restore(BarFeedState(open_subscribers={"XRPUSDT": ("exchange",)}))


def test_restored_subscriptions_are_the_feeds_own(lake: Path) -> None:
    saved = BarFeedState(open_subscribers={"SOLUSDT": ("exchange",)})
    feed = _feed(lake, 7)
    feed.restore(saved)
    feed.on_unsubscribe(Unsubscribe(ts=0, subscriber="exchange", symbol="SOLUSDT", stream=BAR_OPEN))
    assert saved.open_subscribers == {"SOLUSDT": ("exchange",)}
    assert feed.snapshot().open_subscribers == {}
