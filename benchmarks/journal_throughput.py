"""Journal throughput: durable appends/s under group commit, commit latency at a paced
load, and replay frames/s, each with a bare baseline measured in the same run.

- Saturated appends: P producers (1 and 7) on one event loop, each appending bursts
  of ``--burst`` messages; after each burst a producer awaits ``durable()`` of the
  burst it appended ``--window`` bursts earlier (or yields once, at the start), so
  it always has work queued. Figure: appends made durable per second, until the last
  one is durable. Baselines: a plain loop encoding the same frames and doing one
  ``os.write`` + ``os.fsync`` per batch of the size the journal's batches averaged
  (no event loop, no thread); the same plus the read-back check ``append`` makes;
  and the same without any encoding.
- Commit latency: ``--rate`` appends/s offered by one producer on the event loop's
  timer (which wakes at millisecond granularity: about rate/1000 appends per
  wake-up); latency is from ``append()`` returning to ``durable()`` returning.
  Baselines: write+fsync of one such burst every millisecond, timed in a plain loop
  on the main thread, and timed around ``anyio.to_thread.run_sync`` from a loop.
- Replay: ``JournalReader`` over the saturated run's journal (CRC checks, full
  decoding, seq checks). Baselines: a bare loop reading the same files and doing
  unpack + crc32 per frame, and the same plus msgspec decoding.

The message mix cycles through TradeTick, TradeTick, QuoteTick, BarUpdate, Bar,
EquityMarked, SubmitOrder, Fill. Figures are medians of ``--repeat`` runs.

    uv run python benchmarks/journal_throughput.py [--appends 700000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import zlib
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import anyio
import anyio.lowlevel
import msgspec
import structlog

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from actors.messages import (
    Bar,
    BarUpdate,
    EquityMarked,
    Fill,
    Message,
    OrderTicket,
    QuoteTick,
    Side,
    SubmitOrder,
    TradeTick,
)
from journal import JournalReader, JournalWriter
from journal.frames import FRAME_HEADER, JournalRecord, encode_frame, record_decoder
from journal.segments import list_segments, read_header

T0 = 1_700_000_000_000_000_000
MINUTE = 60_000_000_000


def message_mix(count: int) -> list[Message]:
    """``count`` messages of the mix, deterministic, with varying numbers."""
    out: list[Message] = []
    for i in range(count):
        ts = T0 + i * 1_000_000
        price = 42_000.0 + (i % 997) * 0.1
        kind = i % 8
        if kind < 2:
            out.append(
                TradeTick(
                    ts=ts, symbol="BTCUSDT", price=price, size=0.001 * (i % 13 + 1),
                    aggressor=Side.BUY if i % 2 else Side.SELL, trade_id=str(3_000_000_000 + i),
                )
            )  # fmt: skip
        elif kind == 2:
            out.append(
                QuoteTick(
                    ts=ts, symbol="BTCUSDT", bid=price, bid_size=1.5, ask=price + 0.1, ask_size=2.5
                )
            )
        elif kind in (3, 4):
            bar = Bar(
                ts=ts, symbol="BTCUSDT", interval="1m", start=ts - MINUTE, open=price,
                high=price + 5, low=price - 5, close=price + 1, volume=12.5, trades=100,
                vwap=price + 0.5,
            )  # fmt: skip
            out.append(BarUpdate(ts=ts, bar=bar) if kind == 3 else bar)
        elif kind == 5:
            cash = Decimal(1_000_000) - Decimal(i) / 100
            out.append(
                EquityMarked(
                    ts=ts, cash=cash, equity=cash + Decimal("420.5"), realized_pnl=Decimal("12.25"),
                    unrealized_pnl=Decimal("-3.5"), fees=Decimal("1.0421"),
                    day_pnl=Decimal("8.75"), gross_exposure=Decimal("4200.50"),
                )
            )  # fmt: skip
        else:
            client_id = f"sma-BTCUSDT-{ts // 1_000_000_000}-{i}"
            ticket = OrderTicket(symbol="BTCUSDT", side=Side.BUY, quantity=Decimal("0.01"))
            if kind == 6:
                out.append(
                    SubmitOrder(ts=ts, client_order_id=client_id, strategy="sma", ticket=ticket)
                )
            else:
                out.append(
                    Fill(
                        ts=ts, client_order_id=client_id, venue_order_id=str(i), trade_id=str(i),
                        strategy="sma", symbol="BTCUSDT", side=Side.BUY,
                        price=Decimal(str(round(price, 2))), quantity=Decimal("0.01"),
                        cumulative_quantity=Decimal("0.01"), fee=Decimal("0.0042"),
                        fee_asset="USDT",
                    )
                )  # fmt: skip
    return out


# --- saturated appends -------------------------------------------------------------------


async def saturated(
    root: Path, session: str, messages: list[Message], producers: int, burst: int, window: int
) -> tuple[float, float]:
    """Durable appends/s and the mean batch size (frames per fsync)."""
    writer = JournalWriter(root, session)
    per_producer = len(messages) // producers
    elapsed = 0.0

    async def produce(part: list[Message]) -> None:
        append, durable = writer.append, writer.durable
        outstanding: list[int] = []
        for start in range(0, len(part), burst):
            seq = 0
            for message in part[start : start + burst]:
                seq = append(message, message.ts)
            outstanding.append(seq)
            if len(outstanding) > window:
                await durable(outstanding.pop(0))
            else:
                await anyio.lowlevel.checkpoint()
        for seq in outstanding:
            await durable(seq)

    async with anyio.create_task_group() as tasks:
        await tasks.start(writer.run)
        began = time.perf_counter()
        async with anyio.create_task_group() as workers:
            for p in range(producers):
                workers.start_soon(produce, messages[p * per_producer : (p + 1) * per_producer])
        elapsed = time.perf_counter() - began
        writer.close()
    stats = writer.statistics()
    return stats.frames_written / elapsed, stats.frames_written / stats.batches


def bare_write(root: Path, messages: list[Message], batch: int, validate: bool) -> float:
    """Frames/s of encode (and the read-back check ``append`` makes, if ``validate``) +
    one write + one fsync per ``batch`` frames, in a plain loop."""
    decode = record_decoder.decode
    fd = os.open(root / "bare.bin", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
    try:
        began = time.perf_counter()
        for start in range(0, len(messages), batch):
            frames = []
            for seq, message in enumerate(messages[start : start + batch], start + 1):
                frame = encode_frame(seq, message.ts, message)
                if validate:
                    decode(frame[8:])
                frames.append(frame)
            os.write(fd, b"".join(frames))
            os.fsync(fd)
        elapsed = time.perf_counter() - began
    finally:
        os.close(fd)
    return len(messages) / elapsed


def bare_write_only(root: Path, frames: list[bytes], batch: int) -> float:
    """Frames/s of one write + one fsync per ``batch`` pre-encoded frames."""
    fd = os.open(root / "bare.bin", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
    try:
        began = time.perf_counter()
        for start in range(0, len(frames), batch):
            os.write(fd, b"".join(frames[start : start + batch]))
            os.fsync(fd)
        elapsed = time.perf_counter() - began
    finally:
        os.close(fd)
    return len(frames) / elapsed


# --- commit latency ----------------------------------------------------------------------


async def paced_latency(
    root: Path, session: str, messages: list[Message], rate: int
) -> tuple[float, float, float]:
    """p50, p99 and max commit latency in ms at ``rate`` appends/s offered."""
    writer = JournalWriter(root, session)
    appended_at: dict[int, float] = {}
    latencies: list[float] = []
    appended = anyio.Event()
    done = False

    async def observe() -> None:
        """Wait for the oldest seq not yet seen durable; every seq the same batch made
        durable is stamped with the same wake-up time."""
        nonlocal appended
        watched = 1
        while True:
            if watched > writer.last_seq:
                if done:
                    return
                await appended.wait()
                appended = anyio.Event()
                continue
            await writer.durable(watched)
            now = time.perf_counter()
            for seq in range(watched, writer.durable_seq + 1):
                latencies.append(now - appended_at.pop(seq))
            watched = writer.durable_seq + 1

    async with anyio.create_task_group() as tasks:
        await tasks.start(writer.run)
        tasks.start_soon(observe)
        began = time.perf_counter()
        sent = 0
        while sent < len(messages):
            due = min(len(messages), int((time.perf_counter() - began) * rate) + 1)
            while sent < due:
                seq = writer.append(messages[sent], messages[sent].ts)
                appended_at[seq] = time.perf_counter()
                sent += 1
            appended.set()
            await anyio.sleep(max(0.0, began + sent / rate - time.perf_counter()))
        done = True
        appended.set()
        writer.close()
    latencies.sort()
    return (
        latencies[len(latencies) // 2] * 1e3,
        latencies[int(len(latencies) * 0.99)] * 1e3,
        latencies[-1] * 1e3,
    )


def bare_commit_latency(root: Path, frames: list[bytes], burst: int) -> tuple[float, float]:
    """p50 and p99 in ms of write+fsync of ``burst`` frames every millisecond, in a plain
    loop on the main thread."""
    fd = os.open(root / "bare.bin", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
    samples = []
    try:
        for start in range(0, len(frames), burst):
            began = time.perf_counter()
            os.write(fd, b"".join(frames[start : start + burst]))
            os.fsync(fd)
            samples.append(time.perf_counter() - began)
            time.sleep(0.001)
    finally:
        os.close(fd)
    return _percentiles(samples)


async def bare_thread_commit_latency(
    root: Path, frames: list[bytes], burst: int
) -> tuple[float, float]:
    """The same from an event loop, the write+fsync in ``anyio.to_thread.run_sync``: the
    floor for any writer that keeps the loop free while the disk works."""
    fd = os.open(root / "bare.bin", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)

    def commit(data: bytes) -> None:
        os.write(fd, data)
        os.fsync(fd)

    samples = []
    try:
        for start in range(0, len(frames), burst):
            began = time.perf_counter()
            await anyio.to_thread.run_sync(commit, b"".join(frames[start : start + burst]))
            samples.append(time.perf_counter() - began)
            await anyio.sleep(0.001)
    finally:
        os.close(fd)
    return _percentiles(samples)


def _percentiles(samples: list[float]) -> tuple[float, float]:
    samples.sort()
    return samples[len(samples) // 2] * 1e3, samples[int(len(samples) * 0.99)] * 1e3


# --- replay ------------------------------------------------------------------------------


def replay(directory: Path) -> tuple[float, int]:
    began = time.perf_counter()
    count = 0
    for _ in JournalReader(directory):
        count += 1
    return count / (time.perf_counter() - began), count


def bare_read(directory: Path, decode: Callable[[bytes], object] | None) -> float:
    """Frames/s of reading the segments and checking each frame's CRC (and decoding)."""
    unpack, crc32, size = FRAME_HEADER.unpack_from, zlib.crc32, FRAME_HEADER.size
    count = 0
    began = time.perf_counter()
    for first_seq, path in list_segments(directory):
        _, pos = read_header(path, first_seq, 0)
        data = path.read_bytes()
        end_of_data = len(data)
        while pos < end_of_data:
            length, crc = unpack(data, pos)
            body = data[pos + size : pos + size + length]
            if crc32(body) != crc:
                raise AssertionError("bad frame")
            if decode is not None:
                decode(body)
            pos += size + length
            count += 1
    return count / (time.perf_counter() - began)


# --- main --------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--appends", type=int, default=700_000)
    parser.add_argument("--burst", type=int, default=64)
    parser.add_argument("--window", type=int, default=2)
    parser.add_argument("--rate", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--dir", type=Path, default=None, help="where to write (default: a temp dir)"
    )
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(30))

    messages = message_mix(args.appends)
    frames = [encode_frame(i + 1, m.ts, m) for i, m in enumerate(messages)]
    mean_frame = sum(map(len, frames)) / len(frames)
    paced = messages[: int(args.rate * args.seconds)]
    decoder = msgspec.msgpack.Decoder(JournalRecord)
    results: dict[str, list[float]] = {}

    def record(name: str, value: float) -> None:
        results.setdefault(name, []).append(value)

    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        root = Path(tmp)
        for run in range(args.repeat):
            for producers in (1, 7):
                session = f"sat{producers}-{run}"
                rate, batch = anyio.run(
                    saturated, root, session, messages, producers, args.burst, args.window
                )
                record(f"appends/s {producers}p", rate)
                record(f"batch {producers}p", batch)
                size = round(batch)
                record(f"bare write {producers}p", bare_write(root, messages, size, False))
                record(f"bare checked {producers}p", bare_write(root, messages, size, True))
                record(f"bare write-only {producers}p", bare_write_only(root, frames, round(batch)))
            p50, p99, worst = anyio.run(paced_latency, root, f"lat-{run}", paced, args.rate)
            record("latency p50", p50)
            record("latency p99", p99)
            record("latency max", worst)
            burst = max(1, args.rate // 1000)
            bare50, bare99 = bare_commit_latency(root, frames[:20_000], burst)
            record("bare latency p50", bare50)
            record("bare latency p99", bare99)
            bare50, bare99 = anyio.run(bare_thread_commit_latency, root, frames[:20_000], burst)
            record("bare to_thread latency p50", bare50)
            record("bare to_thread latency p99", bare99)
            directory = root / f"sat7-{run}"
            replayed, count = replay(directory)
            assert count == len(messages) // 7 * 7, count
            record("replay", replayed)
            record("bare read+crc", bare_read(directory, None))
            record("bare read+crc+decode", bare_read(directory, decoder.decode))
            for path in root.iterdir():
                if path.is_dir():
                    for segment in path.iterdir():
                        segment.unlink()
                    path.rmdir()

    med = {name: statistics.median(values) for name, values in results.items()}
    print(
        f"journal throughput: {args.appends:,} appends, mean frame {mean_frame:.0f} B, "
        f"burst {args.burst}, window {args.window}, medians of {args.repeat} runs, "
        f"{os.cpu_count()} CPUs"
    )
    for producers in (1, 7):
        rate, bare = med[f"appends/s {producers}p"], med[f"bare write {producers}p"]
        checked = med[f"bare checked {producers}p"]
        print(
            f"  durable appends/s, {producers} producer(s): {rate:>10,.0f}"
            f" (mean batch {med[f'batch {producers}p']:,.0f} frames)"
            f" | bare encode+write+fsync at that batch size {bare:>10,.0f}"
            f" -> ratio {rate / bare:.2f}"
            f" | with append's read-back check {checked:>10,.0f} -> ratio {rate / checked:.2f}"
            f" | bare write+fsync only {med[f'bare write-only {producers}p']:>10,.0f}"
        )
    burst = max(1, args.rate // 1000)
    print(
        f"  commit latency at {args.rate:,}/s offered: p50 {med['latency p50']:.3f} ms,"
        f" p99 {med['latency p99']:.3f} ms, max {med['latency max']:.3f} ms"
        f" | bare write+fsync of {burst} frames each ms: p50 {med['bare latency p50']:.3f} ms,"
        f" p99 {med['bare latency p99']:.3f} ms; the same through to_thread:"
        f" p50 {med['bare to_thread latency p50']:.3f} ms,"
        f" p99 {med['bare to_thread latency p99']:.3f} ms"
    )
    replayed = med["replay"]
    print(
        f"  replay frames/s (CRC + decode + seq checks): {replayed:>10,.0f}"
        f" | bare read+crc {med['bare read+crc']:>10,.0f}"
        f" -> ratio {replayed / med['bare read+crc']:.2f}"
        f" | bare read+crc+decode {med['bare read+crc+decode']:>10,.0f}"
        f" -> ratio {replayed / med['bare read+crc+decode']:.2f}"
    )
    print("  every run:")
    for name in sorted(results):
        print(f"    {name}: " + ", ".join(f"{v:,.3f}" for v in results[name]))


if __name__ == "__main__":
    main()
