"""The crash harness: a journaled session killed with SIGKILL at chosen moments, resumed each
time, finished, and compared with a run that was never interrupted.

Shared by the end-to-end test (a few kill points) and ``benchmarks/crash_harness.py``
(a hundred). The session is the real command line (``tickdeck backtest --journal``,
then ``--resume``) in a subprocess, so a kill lands wherever the process happens
to be: in a handler, between a frame's write and its fsync, while a snapshot is
written, while the run directory is written.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow.parquet as pq

from actors.messages import Fill, SubmitOrder
from journal import JournalReader

# What a run writes that must not depend on interruptions (the manifest and metrics also
# carry wall-clock times).
TABLES = ("orders", "fills", "positions", "equity")


@dataclass
class CrashRun:
    """One interrupted session: how many kills landed, and what it produced."""

    kills: int = 0
    missed: int = 0  # the process had finished before the kill time
    starts: int = 0
    run_dir: Path | None = None
    outputs: list[str] = field(default_factory=list)


def command(data_dir: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "app.cli", "backtest", "--data-dir", str(data_dir), *args]


def environment(**settings: int) -> dict[str, str]:
    """The process environment with journal settings as ``TICKDECK_`` variables."""
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("TICKDECK_")}
    env["TICKDECK_LOG__LEVEL"] = "WARNING"
    for key, value in settings.items():
        env[f"TICKDECK_JOURNAL__{key.upper()}"] = str(value)
    return env


def run_dir_of(stdout: str) -> Path:
    for line in stdout.splitlines():
        if line.startswith("run dir"):
            return Path(line.split(maxsplit=2)[2])
    raise AssertionError(f"no run dir in the output:\n{stdout}")


def uninterrupted(data_dir: Path, args: Sequence[str], env: dict[str, str]) -> Path:
    done = subprocess.run(
        command(data_dir, *args), env=env, capture_output=True, text=True, check=True
    )
    return run_dir_of(done.stdout)


def interrupted(
    data_dir: Path,
    args: Sequence[str],
    session: str,
    kill_after: Sequence[float],
    env: dict[str, str],
) -> CrashRun:
    """Start the session, SIGKILL it ``kill_after[i]`` seconds into its i-th start, resume
    it after each kill, and let the last start finish."""
    run = CrashRun()
    fresh = command(data_dir, *args, "--journal", "--session", session)
    resume = command(data_dir, "--resume", session)
    for index in range(len(kill_after) + 1):
        started = (data_dir / "journal" / session / "config.toml").is_file()
        argv = resume if started else fresh
        process = subprocess.Popen(
            argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        run.starts += 1
        if index < len(kill_after):
            try:
                process.wait(timeout=kill_after[index])
            except subprocess.TimeoutExpired:
                process.send_signal(signal.SIGKILL)
                process.communicate()
                run.kills += 1
                continue
            run.missed += 1
        stdout, stderr = process.communicate()
        if process.returncode != 0:
            raise AssertionError(f"{' '.join(argv)} failed ({process.returncode}):\n{stderr}")
        run.outputs.append(stdout)
        run.run_dir = run_dir_of(stdout)
        if index < len(kill_after):
            break  # finished before the next kill: nothing left to interrupt
    return run


def differences(expected_dir: Path, got_dir: Path) -> list[str]:
    """The tables of two run directories that differ, with the first differing row."""
    found = []
    for name in TABLES:
        expected = pq.read_table(expected_dir / f"{name}.parquet")
        got = pq.read_table(got_dir / f"{name}.parquet")
        if expected.equals(got):
            continue
        rows_e, rows_g = expected.to_pylist(), got.to_pylist()
        first = next(
            (i for i, (a, b) in enumerate(zip(rows_e, rows_g, strict=False)) if a != b),
            min(len(rows_e), len(rows_g)),
        )
        found.append(
            f"{name}: {len(rows_e)} rows expected, {len(rows_g)} got; first difference at row "
            f"{first}: {rows_e[first] if first < len(rows_e) else None} != "
            f"{rows_g[first] if first < len(rows_g) else None}"
        )
    return found


def journal_violations(session_dir: Path) -> list[str]:
    """Orders submitted twice and fills applied twice, as the journal records them."""
    submitted: Counter[str] = Counter()
    filled: Counter[str] = Counter()
    for record in JournalReader(session_dir):
        message = record.message
        if type(message) is SubmitOrder:
            submitted[message.client_order_id] += 1
        elif type(message) is Fill:
            filled[f"{message.symbol}:{message.trade_id}"] += 1
    twice = [f"client id {key} submitted {n} times" for key, n in submitted.items() if n > 1]
    twice += [f"trade {key} filled {n} times" for key, n in filled.items() if n > 1]
    return sorted(twice)


def kill_times(count: int, seed: int, low: float, high: float) -> list[float]:
    """``count`` kill delays, uniform in [low, high), from a seeded generator."""
    rng = random.Random(seed)
    return [round(rng.uniform(low, high), 3) for _ in range(count)]
