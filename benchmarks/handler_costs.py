"""Where a backtest's time goes: the cost of each handler, per call and per bar.

Runs the throughput benchmark's backtest (SMA 10/30 on sample bars, fills at the
next open, 10 bps) with every bus delivery wrapped in a timer, and prints each
(message type -> handler) pair's calls, mean cost per call and share per bar, the
timer's own overhead subtracted. The wrapping slows the run, so the figures say
where to look and compare two versions of a handler run the same way; the
throughput benchmark gives the real bars/s.

    uv run python benchmarks/handler_costs.py [--bars 300000]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import backtest_throughput as throughput

from actors.bus import Bus
from storage.sample import write_sample

_CALIBRATION_CALLS = 200_000


def _timed(handler: Callable[[Any], None], label: str, spent: Counter, calls: Counter) -> Callable:
    clock = time.perf_counter_ns

    def timed(message: Any) -> None:
        started = clock()
        handler(message)
        spent[label] += clock() - started
        calls[label] += 1

    return timed


def _wrap(bus: Bus, spent: Counter, calls: Counter) -> None:
    for message_type, handlers in list(bus.handlers.items()):
        bus.handlers[message_type] = tuple(
            _timed(h, f"{message_type.__name__} -> {getattr(h, '__qualname__', h)}", spent, calls)
            for h in handlers
        )


def _overhead_ns() -> float:
    """What the timer costs around a call that does nothing."""
    spent: Counter = Counter()
    timed = _timed(lambda message: None, "nothing", spent, Counter())
    for _ in range(_CALIBRATION_CALLS):
        timed(None)
    return spent["nothing"] / _CALIBRATION_CALLS


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=300_000)
    args = parser.parse_args()
    days = -(-args.bars // 1440)
    with tempfile.TemporaryDirectory(prefix="tickdeck-costs-") as tmp:
        data_dir = Path(tmp)
        write_sample(data_dir, "BTCUSDT", throughput.START, days, seed=11)
        settings = throughput._settings(data_dir, days)
        session = throughput.build_backtest(
            settings, end_ns=throughput._start_ns() + args.bars * throughput.MINUTE_NS
        )
        spent: Counter = Counter()
        calls: Counter = Counter()
        _wrap(session.bus, spent, calls)
        overhead = _overhead_ns()
        started = time.perf_counter()
        session.scheduler.run(session.feed.messages())
        wall = time.perf_counter() - started
    per_bar = wall / args.bars * 1e6
    print(f"bars: {args.bars:,}; wall {wall:.2f} s with timers ({per_bar:.2f} µs/bar)")
    print(f"timer overhead per call: {overhead:.0f} ns (subtracted)")
    print(f"{'µs/bar':>8} {'µs/call':>9} {'calls':>10}  delivery")
    rows = []
    for label, total in spent.items():
        net = total - calls[label] * overhead
        rows.append((net / args.bars / 1000, net / calls[label] / 1000, calls[label], label))
    for per_bar, per_call, count, label in sorted(rows, reverse=True):
        print(f"{per_bar:8.3f} {per_call:9.2f} {count:10,}  {label}")
    print(f"{sum(row[0] for row in rows):8.3f} in handlers")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
