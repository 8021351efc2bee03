"""The crash harness at scale: 100 SIGKILLs at random moments of journaled backtests, each
session resumed after every kill and finished, then compared with an uninterrupted run.

Prints how many sessions diverged (different orders, fills, positions or equity),
how many submitted a client id twice or applied a fill twice (both must be 0),
and how many kills landed: a kill timed after the process had finished is counted
as missed, not as a kill, and sessions are added until ``--kills`` have landed.

    uv run python benchmarks/crash_harness.py [--kills 100] [--per-session 5] [--days 8]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.e2e.conftest import PARAMS, START, write_lake
from tests.e2e.crash_harness import (
    differences,
    environment,
    interrupted,
    journal_violations,
    kill_times,
    uninterrupted,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=100)
    parser.add_argument("--per-session", type=int, default=5)
    parser.add_argument("--days", type=int, default=8)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    end = START.fromordinal(START.toordinal() + args.days)
    params = [f"--param={name}={value}" for name, value in PARAMS.items()]
    run_args = ["--start", str(START), "--end", str(end), *params]
    env = environment(snapshot_every=3000, batch_frames=64)
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = write_lake(Path(tmp), days=args.days)
        began = time.perf_counter()
        expected = uninterrupted(data_dir, [*run_args, "--journal", "--session", "reference"], env)
        wall = time.perf_counter() - began
        print(f"uninterrupted journaled run: {wall:.2f} s (process start included)")
        diverged = violations = landed = missed = sessions = 0
        index = 0
        while landed < args.kills:  # a kill timed after a resumed run ended does not count
            index = sessions
            sessions += 1
            count = min(args.per_session, args.kills - landed)
            kills = kill_times(count, seed=args.seed + index, low=0.2 * wall, high=wall)
            name = f"crash-{index}"
            run = interrupted(data_dir, run_args, name, kills, env)
            landed += run.kills
            missed += run.missed
            assert run.run_dir is not None
            found = differences(expected, run.run_dir)
            twice = journal_violations(data_dir / "journal" / name)
            diverged += bool(found)
            violations += len(twice)
            for line in [*found, *twice]:
                print(f"  {name}: {line}")
        print(
            f"{sessions} sessions, {landed} kills landed ({missed} came after the run had "
            f"finished): {diverged} diverged, {violations} double submits or double fills"
        )


if __name__ == "__main__":
    main()
