"""Recovery time of a 1,000,000-frame journal: scan, snapshot, replay into actor state.

Builds a journaled backtest session of at least ``--frames`` frames (seeded sample
bars, the SMA strategy trading), then drops every snapshot less than
``journal.snapshot_every`` frames before its end, the worst case a crash can leave:
a whole snapshot interval to replay. Each repetition builds fresh actors and times
``journal.recovery.recover``: finding and checking the snapshot, restoring it,
CRC-checking every frame of the journal and replaying the frames after the
snapshot through every actor. Baselines in the same run: a bare loop reading the
segment files and checking each frame's CRC (what any recovery must at least do),
and the same recovery with no snapshot at all (every frame replayed).

    uv run python benchmarks/recovery.py [--frames 1000000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import zlib
from pathlib import Path

import structlog

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.backtest import build_backtest, run_backtest
from app.settings import Settings, load_settings
from journal.frames import FRAME_HEADER
from journal.reader import JournalReader
from journal.recovery import recover
from journal.segments import list_segments, read_header
from journal.snapshots import list_snapshots
from storage.sample import write_sample
from tests.e2e.conftest import PARAMS, START

FRAMES_PER_DAY = 5000  # about, for the sample data and these parameters (measured)


def bare_scan(directory: Path) -> int:
    """Read every segment and check every frame's CRC; the frame count."""
    count = 0
    for first_seq, path in list_segments(directory):
        _, pos = read_header(path, first_seq, first_seq - 1)
        data = path.read_bytes()
        unpack, crc32, size = FRAME_HEADER.unpack_from, zlib.crc32, len(data)
        while pos < size:
            length, crc = unpack(data, pos)
            start = pos + FRAME_HEADER.size
            if crc32(data[start : start + length]) != crc:
                raise AssertionError(f"bad frame at {path}:{pos}")
            pos = start + length
            count += 1
    return count


def timed_recovery(settings: Settings, directory: Path, session: str) -> tuple[float, int, int]:
    """Seconds, snapshot seq and frames replayed of one recovery into fresh actors."""
    fresh = build_backtest(settings)
    began = time.perf_counter()
    report = recover(directory, session, fresh.scheduler)
    return time.perf_counter() - began, report.snapshot_seq, report.replayed_frames


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(30))
    days = -(-args.frames // FRAMES_PER_DAY) + 1
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        write_sample(data_dir, "BTCUSDT", START, days, 7)
        settings = load_settings(
            None,
            {
                "data.dir": str(data_dir),
                "backtest.start": START,
                "backtest.end": START.fromordinal(START.toordinal() + days),
                "backtest.journal": True,
                "strategy.params": dict(PARAMS),
                "log.level": "WARNING",
            },
        )
        began = time.perf_counter()
        result = run_backtest(settings, write=False, session_name="big")
        directory = data_dir / "journal" / "big"
        frames = JournalReader(directory)
        last_seq = sum(1 for _ in frames)
        print(
            f"session: {result.bars:,} bars, {result.fills:,} fills, {last_seq:,} frames, "
            f"journaled in {time.perf_counter() - began:.1f} s"
        )
        if last_seq < args.frames:
            print(f"  (fewer frames than --frames {args.frames:,}: raise FRAMES_PER_DAY's days)")
        # The worst case a crash can leave: the newest snapshot a whole snapshot interval
        # (journal.snapshot_every frames) before the journal's end.
        final_seq = last_seq
        for seq, path in list_snapshots(directory):
            if seq > last_seq - settings.journal.snapshot_every:
                path.unlink()
        without: list[float] = []
        scans: list[float] = []
        recoveries: list[float] = []
        replayed = snapshot_seq = 0
        for _ in range(args.repeat):
            began = time.perf_counter()
            assert bare_scan(directory) == last_seq
            scans.append(time.perf_counter() - began)
            seconds, snapshot_seq, replayed = timed_recovery(settings, directory, "big")
            recoveries.append(seconds)
        hidden = directory / "snapshots.off"
        (directory / "snapshots").rename(hidden)
        for _ in range(max(1, args.repeat // 2)):
            without.append(timed_recovery(settings, directory, "big")[0])
        hidden.rename(directory / "snapshots")
    scan, recovery, full = (statistics.median(v) for v in (scans, recoveries, without))
    print(
        f"recovery of {last_seq:,} frames (medians of {args.repeat}): {recovery:.2f} s "
        f"(snapshot at seq {snapshot_seq:,} of {final_seq:,}, {replayed:,} frames replayed "
        f"into the actors) | bare read+CRC of every frame {scan:.2f} s -> ratio "
        f"{recovery / scan:.2f} | without a snapshot (all {last_seq:,} frames replayed) "
        f"{full:.2f} s -> ratio {recovery / full:.2f}"
    )


if __name__ == "__main__":
    main()
