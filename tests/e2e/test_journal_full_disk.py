"""A journaled backtest that runs out of disk stops with one clear line, keeps every durable
frame, and once there is room again resumes into the result of an uninterrupted run."""

from __future__ import annotations

import resource
import signal
import subprocess
from pathlib import Path

from journal import JournalReader
from tests.e2e.conftest import PARAMS, START, write_lake
from tests.e2e.crash_harness import command, differences, environment, run_dir_of, uninterrupted

LIMIT = 400_000  # bytes any file of the process may grow to: the journal hits it first


def _small_disk() -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a failed write, not a killed process
    resource.setrlimit(resource.RLIMIT_FSIZE, (LIMIT, LIMIT))


def test_a_full_disk_stops_the_run_and_resume_finishes_it_identically(tmp_path: Path) -> None:
    data_dir = write_lake(tmp_path, days=3)
    end = START.fromordinal(START.toordinal() + 3)
    args = [
        "--start",
        str(START),
        "--end",
        str(end),
        *[f"--param={k}={v}" for k, v in PARAMS.items()],
    ]
    env = environment(batch_frames=256)
    expected = uninterrupted(data_dir, args, env)

    full = subprocess.run(
        command(data_dir, *args, "--journal", "--session", "full"),
        env=env, capture_output=True, text=True, preexec_fn=_small_disk, check=False,
    )  # fmt: skip

    assert full.returncode == 2, full.stderr
    error = full.stderr.strip().splitlines()[-1]
    assert error.startswith("tickdeck: error: ")
    assert "segment-00000000000000000001.tdj: journal write of seqs" in error
    assert "File too large" in error
    assert "run dir" not in full.stdout  # no results from a run that stopped
    session = data_dir / "journal" / "full"
    reader = JournalReader(session)
    assert sum(1 for _ in reader) > 1000  # what was durable is all there

    resumed = subprocess.run(
        command(data_dir, "--resume", "full"), env=env, capture_output=True, text=True, check=True
    )
    assert differences(expected, run_dir_of(resumed.stdout)) == []
