"""The journal writer: seqs assigned at append, frames committed in groups, one write and
one fsync per batch, durability waited for per seq.

Producers (actors' edges, the order manager's write-ahead) call ``append``, which
never blocks: it assigns the next seq, encodes the frame, checks that it reads
back, and queues it. The writer task takes everything queued, writes it in one
``os.write`` and one ``os.fsync`` in a worker thread, then wakes every
``durable(seq)`` waiter the batch covers. While a batch is on its way to the
disk the event loop keeps accepting appends, which become the next batch: under
load batches grow by themselves and the disk sees one fsync per batch, not per
message.

A batch closes as soon as the queue is drained: after taking what is queued,
the writer yields once so that producers already runnable can append, and
commits when that adds nothing. Two bounds keep a firehose from holding a batch
open: ``max_batch_frames`` and ``max_batch_us`` (time since the batch opened).

``linger_us`` (0: off) lets a batch that nobody waits for wait that long before
it starts, until a ``durable`` call asks for a seq in it. A live session journals
market data that nobody waits on and, a moment later, the order it caused, which
must be on disk before it leaves: committing the market data at once would have
the order wait for that fsync and then for its own. Lingering, both go in one
fsync that starts when the order asks. What nobody waits for reaches the disk at
most ``linger_us`` later.

A failed write or fsync (a full disk, an I/O error) fails the journal for good:
every waiter for a seq not yet durable, and every later append, raises
``JournalWriteError``. It is never retried: after a failed fsync the kernel may
have dropped the dirty pages, and a second fsync can succeed without them.
Callers halt trading on it rather than trade unjournaled.

One writer per session at a time: it holds an exclusive ``flock`` on the session
directory. Each run starts a new segment at the seq after the journal's last one
(replacing a last segment that holds no frames), so a closed segment is never
written again; a torn tail must be cut first (``truncate_torn_tail``).
"""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Final

import anyio
import anyio.abc
import anyio.lowlevel
import msgspec
import structlog

from actors.messages import ALL_MESSAGES, Message
from journal.errors import (
    JournalClosedError,
    JournalCorruptError,
    JournalError,
    JournalTornTailError,
    JournalWriteError,
)
from journal.frames import FRAME_HEADER, encode_frame, record_decoder
from journal.reader import inspect_tail
from journal.schema import CATALOG_SHAPE
from journal.segments import (
    create_segment,
    lock_directory,
    make_directory,
    new_header,
    remove_stale_segments,
    segment_path,
    write_all,
)

__all__ = [
    "DEFAULT_MAX_BATCH_FRAMES",
    "DEFAULT_MAX_BATCH_US",
    "DEFAULT_SEGMENT_BYTES",
    "BlockingJournalWriter",
    "JournalStatistics",
    "JournalWriter",
    "open_journal",
]

DEFAULT_SEGMENT_BYTES: Final = 64 * 1024 * 1024
DEFAULT_MAX_BATCH_FRAMES: Final = 4096
DEFAULT_MAX_BATCH_US: Final = 1000

_log = structlog.get_logger(__name__)
_CATALOG: Final = frozenset(ALL_MESSAGES)


class JournalStatistics(msgspec.Struct, frozen=True, kw_only=True):
    """A writer's state for a status panel: how far appends and durability have got, how
    much waits for the disk, and how well batching is working."""

    segment: str
    last_seq: int
    durable_seq: int
    queued_frames: int
    batches: int
    frames_written: int
    largest_batch: int
    failed: bool


class _SegmentWriter:
    """What both writers share: the session directory and its lock, the current
    segment, turning a message into a frame that is sure to read back, and one
    write + fsync of a batch."""

    def __init__(self, root: Path | str, session: str, segment_bytes: int) -> None:
        if not session or session in (".", "..") or "/" in session or "\\" in session:
            raise ValueError(f"session {session!r} is not a plain directory name")
        if segment_bytes <= 0:
            raise ValueError("segment_bytes must be > 0")
        self.directory = Path(root) / session
        self.session = session
        self.segment_bytes = segment_bytes
        self._queue: list[bytes] = []
        self._first_seq = 1
        self._next_seq = 1
        self._durable_seq = 0
        self._failure: JournalWriteError | None = None
        self._fd = -1
        self._lock_fd = -1
        self._segment = self.directory
        self._segment_size = 0
        self._batches = 0
        self._largest_batch = 0
        self.last_crc = 0

    def _frame(self, message: Message, ts: int) -> bytes:
        """The next seq's frame for ``message``; refuses what could not be read back
        (``TypeError`` for a type outside the catalog, ``ValueError`` for a field that
        does not decode as its declared type) without using up the seq: a journal must
        never hold a frame its reader rejects."""
        if type(message) not in _CATALOG:
            raise TypeError(f"{type(message).__name__} is not a message of the catalog")
        seq = self._next_seq
        frame = encode_frame(seq, ts, message)
        try:
            record_decoder.decode(frame[FRAME_HEADER.size :])
        except msgspec.ValidationError as error:
            where = str(error).replace("`$[2]", "`$")  # the message is item 2 of the record
            raise ValueError(
                f"{type(message).__name__} at seq {seq} would not read back: {where}"
            ) from error
        self._next_seq = seq + 1
        self.last_crc = FRAME_HEADER.unpack_from(frame)[1]
        return frame

    @property
    def last_seq(self) -> int:
        """The seq of the last append (0 before any in the journal)."""
        return self._next_seq - 1

    @property
    def durable_seq(self) -> int:
        """Every seq up to this one is on disk."""
        return self._durable_seq

    @property
    def failure(self) -> JournalWriteError | None:
        return self._failure

    def statistics(self) -> JournalStatistics:
        return JournalStatistics(
            segment=str(self._segment),
            last_seq=self.last_seq,
            durable_seq=self._durable_seq,
            queued_frames=len(self._queue),
            batches=self._batches,
            frames_written=self._durable_seq - (self._first_seq - 1),
            largest_batch=self._largest_batch,
            failed=self._failure is not None,
        )

    def _open(self) -> None:
        make_directory(self.directory)
        self._lock_fd = lock_directory(self.directory)
        remove_stale_segments(self.directory)
        tail = inspect_tail(self.directory)
        first_seq = 1
        if tail is not None:
            if tail.torn_tail is not None:
                torn = tail.torn_tail
                raise JournalTornTailError(Path(torn.file), torn.offset, torn.seq)
            if tail.header.session != self.session:
                raise JournalCorruptError(
                    Path(tail.file),
                    0,
                    tail.last_seq,
                    f"segment of session {tail.header.session!r} in {self.session!r}'s journal",
                )
            first_seq = tail.last_seq + 1
        self._first_seq = first_seq
        self._next_seq = first_seq
        self._durable_seq = first_seq - 1
        self._start_segment(first_seq)
        _log.info("journal.opened", session=self.session, segment=str(self._segment), seq=first_seq)

    def _close_files(self) -> None:
        """Close the segment, then release the lock: the next writer may start."""
        for fd in (self._fd, self._lock_fd):
            if fd >= 0:
                os.close(fd)
        self._fd = self._lock_fd = -1

    def _start_segment(self, first_seq: int) -> None:
        header = new_header(self.session, first_seq, CATALOG_SHAPE)
        path, fd, size = create_segment(self.directory, header)
        if self._fd >= 0:
            os.close(self._fd)
        self._segment, self._fd, self._segment_size = path, fd, size

    def _write(self, data: bytes) -> None:
        write_all(self._fd, data)
        os.fsync(self._fd)
        self._segment_size += len(data)

    def _committed_batch(self, last: int, frames: int) -> None:
        self._durable_seq = last
        self._batches += 1
        self._largest_batch = max(self._largest_batch, frames)

    def _fail(self, file: Path, first: int, last: int, error: OSError) -> None:
        self._failure = JournalWriteError(file, first, max(first, last), error)
        self._failure.__cause__ = error
        self._queue = []
        _log.error("journal.write_failed", error=str(self._failure), durable_seq=self._durable_seq)

    def _failed(self) -> JournalWriteError:
        """A fresh copy of the failure to raise: one exception object raised in many
        tasks would collect all their tracebacks."""
        failure = self._failure
        if failure is None:
            return JournalWriteError(
                self._segment,
                self._durable_seq + 1,
                self.last_seq,
                RuntimeError("the writer stopped before committing it"),
            )
        cause = failure.__cause__
        assert cause is not None
        copy = JournalWriteError(failure.file, failure.first_seq, failure.last_seq, cause)
        copy.__cause__ = cause
        return copy


class JournalWriter(_SegmentWriter):
    """The writer of one session's journal, ``<root>/<session>/segment-*.tdj``.

    Run it as a task (``await task_group.start(writer.run)``) or use ``open_journal``.
    ``append`` and ``durable`` must be called from the event loop the writer runs on."""

    _work: anyio.Event  # set when the queue becomes non-empty (or on close)
    _committed: anyio.Event  # set, and replaced, when a batch is durable
    _wanted: anyio.Event  # set when a ``durable`` caller waits for a seq not yet on disk

    def __init__(
        self,
        root: Path | str,
        session: str,
        *,
        segment_bytes: int = DEFAULT_SEGMENT_BYTES,
        max_batch_frames: int = DEFAULT_MAX_BATCH_FRAMES,
        max_batch_us: int = DEFAULT_MAX_BATCH_US,
        linger_us: int = 0,
    ) -> None:
        super().__init__(root, session, segment_bytes)
        if max_batch_frames <= 0 or max_batch_us < 0 or linger_us < 0:
            raise ValueError("max_batch_frames must be > 0, max_batch_us and linger_us >= 0")
        self.max_batch_frames = max_batch_frames
        self.max_batch_ns = max_batch_us * 1000
        self.linger_seconds = linger_us / 1e6
        self._accepting = False
        self._closing = False
        self._taken_seq = 0
        self._stopped: anyio.Event | None = None
        self._limiter: anyio.CapacityLimiter | None = None

    # --- producers ----------------------------------------------------------------------

    def append(self, message: Message, ts: int) -> int:
        """Queue ``message`` with clock time ``ts`` (int ns); returns its seq at once.

        Refuses what could not be read back (see ``_frame``). Raises
        ``JournalWriteError`` once the journal has failed."""
        if not self._accepting:
            raise self._refusal()
        self._queue.append(self._frame(message, ts))
        if len(self._queue) == 1:
            self._work.set()
        return self._next_seq - 1

    async def durable(self, seq: int) -> None:
        """Return once ``seq`` is on disk (its batch fsynced); raise ``JournalWriteError``
        if the journal failed before it got there."""
        if seq >= self._next_seq:
            raise ValueError(f"seq {seq} has not been appended (last is {self._next_seq - 1})")
        if self._durable_seq < seq:
            self._wanted.set()  # a lingering batch starts now
        while self._durable_seq < seq:
            if self._failure is not None or (self._stopped is not None and self._stopped.is_set()):
                raise self._failed()
            await self._committed.wait()

    # --- life cycle ---------------------------------------------------------------------

    def close(self) -> None:
        """Stop accepting appends; ``run`` commits everything queued and returns."""
        if self._accepting:
            self._work.set()
            self._wanted.set()  # no lingering: commit what is queued now
        self._accepting = False
        self._closing = True

    async def wait_closed(self) -> None:
        """Wait until ``run`` has returned; raise ``JournalWriteError`` if anything
        appended did not reach the disk."""
        if self._stopped is not None:
            await self._stopped.wait()
        if self._durable_seq < self.last_seq:
            raise self._failed()

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Open the journal (a new segment after its last seq), then commit batches until
        ``close``. Cancellation also commits what is queued before it ends the task:
        the batch in flight and the rest are written under a shield."""
        self._work = anyio.Event()
        self._committed = anyio.Event()
        self._wanted = anyio.Event()
        self._stopped = anyio.Event()
        # Its own thread token: other to_thread users (queries, exports) holding the
        # default limiter's tokens must never delay a commit.
        self._limiter = anyio.CapacityLimiter(1)
        try:
            await anyio.to_thread.run_sync(self._open, limiter=self._limiter)
        except BaseException:
            self._close_files()
            self._stopped.set()
            raise
        self._accepting = not self._closing
        task_status.started()
        try:
            while self._failure is None:
                if self._queue:
                    if self.linger_seconds and not self._closing:
                        with anyio.move_on_after(self.linger_seconds):
                            await self._wanted.wait()
                    self._wanted = anyio.Event()
                    with anyio.CancelScope(shield=True):
                        await self._commit(await self._collect())
                elif self._closing:
                    break
                else:
                    await self._work.wait()
                    self._work = anyio.Event()
        finally:
            self._accepting = False
            self._closing = True
            with anyio.CancelScope(shield=True):
                while self._queue and self._failure is None:
                    await self._commit(self._take(self.max_batch_frames))
                self._close_files()
                self._stopped.set()
                self._wake()

    # --- the writer task ----------------------------------------------------------------

    def _open(self) -> None:
        super()._open()
        self._taken_seq = self._durable_seq

    async def _collect(self) -> list[bytes]:
        """The next batch: what is queued, plus what producers append when given one
        turn of the event loop, until a turn adds nothing or a bound is reached."""
        frames = self._take(self.max_batch_frames)
        deadline = time.monotonic_ns() + self.max_batch_ns
        while len(frames) < self.max_batch_frames:
            await anyio.lowlevel.checkpoint()
            if not self._queue or time.monotonic_ns() >= deadline:
                break
            frames += self._take(self.max_batch_frames - len(frames))
        return frames

    def _take(self, limit: int) -> list[bytes]:
        queue = self._queue
        if len(queue) <= limit:
            self._queue = []
        else:
            queue, self._queue = queue[:limit], queue[limit:]
        self._taken_seq += len(queue)
        return queue

    async def _commit(self, frames: list[bytes]) -> None:
        last = self._taken_seq
        first = last - len(frames) + 1
        try:
            await anyio.to_thread.run_sync(self._write, b"".join(frames), limiter=self._limiter)
        except OSError as error:
            self._fail(self._segment, first, last, error)
            return
        self._committed_batch(last, len(frames))
        self._wake()
        if self._segment_size >= self.segment_bytes:
            try:
                await anyio.to_thread.run_sync(self._start_segment, last + 1, limiter=self._limiter)
            except OSError as error:
                self._fail(segment_path(self.directory, last + 1), last + 1, self.last_seq, error)
                return
            _log.info("journal.segment_started", segment=str(self._segment), seq=last + 1)

    def _wake(self) -> None:
        committed, self._committed = self._committed, anyio.Event()
        committed.set()

    def _fail(self, file: Path, first: int, last: int, error: OSError) -> None:
        super()._fail(file, first, last, error)
        self._accepting = False
        self._wake()

    def _refusal(self) -> JournalError:
        if self._failure is not None:
            return self._failed()
        if self._closing:
            return JournalClosedError(f"{self.directory}: the journal writer is closed")
        return JournalClosedError(f"{self.directory}: the journal writer is not running yet")


class BlockingJournalWriter(_SegmentWriter):
    """A journal writer for the deterministic scheduler, which never yields to an event
    loop: ``append`` queues, and a batch is written and fsynced in the calling thread
    when it reaches ``max_batch_frames`` or on ``commit``. A backtest is not waiting on
    the disk for anyone, so large batches are right; what a caller must know is on disk
    (the seq a snapshot covers) it commits first.

    A failed write or fsync fails it for good, as for ``JournalWriter``: ``append`` and
    ``commit`` raise ``JournalWriteError`` from then on."""

    def __init__(
        self,
        root: Path | str,
        session: str,
        *,
        segment_bytes: int = DEFAULT_SEGMENT_BYTES,
        max_batch_frames: int = DEFAULT_MAX_BATCH_FRAMES,
    ) -> None:
        super().__init__(root, session, segment_bytes)
        if max_batch_frames <= 0:
            raise ValueError("max_batch_frames must be > 0")
        self.max_batch_frames = max_batch_frames
        self._open_state = False

    def open(self) -> None:
        """Take the session's lock and start a new segment after the journal's last seq."""
        try:
            self._open()
        except BaseException:
            self._close_files()
            raise
        self._open_state = True

    def append(self, message: Message, ts: int) -> int:
        """Queue ``message`` at clock time ``ts``; returns its seq. Commits the batch when
        it is full."""
        if not self._open_state:
            raise (
                self._failed()
                if self._failure
                else JournalClosedError(f"{self.directory}: the journal writer is not open")
            )
        self._queue.append(self._frame(message, ts))
        if len(self._queue) >= self.max_batch_frames:
            self.commit()
        return self._next_seq - 1

    def commit(self) -> None:
        """Write and fsync everything queued; every appended seq is durable on return."""
        if self._failure is not None:
            raise self._failed()
        frames, self._queue = self._queue, []
        if not frames:
            return
        last = self.last_seq
        first = last - len(frames) + 1
        try:
            self._write(b"".join(frames))
            self._committed_batch(last, len(frames))
            if self._segment_size >= self.segment_bytes:
                self._start_segment(last + 1)
        except OSError as error:
            self._fail(self._segment, first, last, error)
            self._open_state = False
            raise self._failed() from error

    def close(self) -> None:
        """Commit what is queued and release the journal; raises ``JournalWriteError`` if
        some of it could not be written."""
        try:
            if self._open_state:
                self.commit()
        finally:
            self._open_state = False
            self._close_files()

    def __enter__(self) -> BlockingJournalWriter:
        self.open()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


@asynccontextmanager
async def open_journal(
    root: Path | str,
    session: str,
    *,
    segment_bytes: int = DEFAULT_SEGMENT_BYTES,
    max_batch_frames: int = DEFAULT_MAX_BATCH_FRAMES,
    max_batch_us: int = DEFAULT_MAX_BATCH_US,
    linger_us: int = 0,
) -> AsyncIterator[JournalWriter]:
    """A running writer for the block; on leaving, everything appended is committed, and
    ``JournalWriteError`` is raised if some of it could not be (after an error in the
    block, that error is raised instead, unwrapped)."""
    writer = JournalWriter(
        root,
        session,
        segment_bytes=segment_bytes,
        max_batch_frames=max_batch_frames,
        max_batch_us=max_batch_us,
        linger_us=linger_us,
    )
    tasks = anyio.create_task_group()
    await tasks.__aenter__()
    try:
        await tasks.start(writer.run)
    except BaseException:
        await tasks.__aexit__(None, None, None)
        raise
    try:
        yield writer
    finally:
        writer.close()
        # The block's own error is not passed to the task group, which would cancel the
        # writer and wrap the error in an ExceptionGroup: the writer ends on close().
        await tasks.__aexit__(None, None, None)
    await writer.wait_closed()
