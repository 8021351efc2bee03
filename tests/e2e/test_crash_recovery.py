"""Killed and resumed: a journaled backtest SIGKILLed at random moments ends exactly where an
uninterrupted run ends (DESIGN.md §10.2): same orders, fills, positions and equity, no client
id submitted twice, no fill applied twice."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pyarrow.parquet as pq

from journal.snapshots import list_snapshots
from tests.e2e.conftest import PARAMS, START, write_lake
from tests.e2e.crash_harness import (
    command,
    differences,
    environment,
    interrupted,
    journal_violations,
    kill_times,
    uninterrupted,
)

DAYS = 8
SESSION = "crash"


def _args(days: int = DAYS) -> list[str]:
    end = START.fromordinal(START.toordinal() + days)
    params = [f"--param={name}={value}" for name, value in PARAMS.items()]
    return ["--symbol", "BTCUSDT", "--start", str(START), "--end", str(end), *params]


def test_a_session_killed_at_random_moments_resumes_into_the_uninterrupted_result(
    tmp_path: Path,
) -> None:
    data_dir = write_lake(tmp_path, days=DAYS)
    # Small batches and frequent snapshots: kills land mid-batch and between snapshots.
    env = environment(snapshot_every=3000, batch_frames=64)
    began = time.perf_counter()
    expected = uninterrupted(data_dir, [*_args(), "--journal", "--session", "reference"], env)
    wall = time.perf_counter() - began
    assert pq.read_table(expected / "fills.parquet").num_rows > 100  # it trades: a real test

    kills = kill_times(3, seed=1, low=0.3 * wall, high=wall)
    run = interrupted(data_dir, _args(), SESSION, kills, env)

    assert run.kills >= 1, f"every kill came too late: {run}"
    assert run.run_dir is not None
    assert differences(expected, run.run_dir) == []
    assert journal_violations(data_dir / "journal" / SESSION) == []
    assert list_snapshots(data_dir / "journal" / SESSION), "no snapshot was ever written"


def test_resuming_a_finished_session_rebuilds_its_results_without_running_again(
    tmp_path: Path,
) -> None:
    data_dir = write_lake(tmp_path, days=2)
    args = _args(days=2)
    env = environment(snapshot_every=500)
    first = uninterrupted(data_dir, [*args, "--journal", "--session", "done"], env)
    again = subprocess.run(
        command(data_dir, "--resume", "done"), env=env, capture_output=True, text=True, check=True
    )
    assert "resumed from snapshot at seq" in again.stdout
    second = Path(again.stdout.split("run dir", 1)[1].split()[0])
    assert differences(first, second) == []
