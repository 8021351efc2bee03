"""A paper session end to end against the loopback simulator, in process, at high speed:
bars arrive and are journaled, a snapshot is written at stop, and the next run of the
same session recovers from the journal and goes on."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import anyio
import pytest

import app.session
from actors.messages import Alert, Bar, BarUpdate, Halt, Recovered, Resume
from actors.supervisor import LiveScheduler
from app import cli
from app.session import STARTUP_HALT_REASON, run_paper_session
from app.settings import Settings, load_settings
from journal.reader import JournalReader
from journal.snapshots import list_snapshots
from venues.paper import PaperBroker
from venues.simulator import Simulator, SimulatorConfig, run_simulator

SPEED = 600.0  # a one-minute bar every 0.1 s
SECONDS = 2.0
SESSION = "paper-e2e"


@pytest.fixture
async def simulator() -> AsyncIterator[Simulator]:
    async with run_simulator(SimulatorConfig(speed=SPEED)) as running:
        yield running


def _settings(data_dir: Path, url: str, **overrides: object) -> Settings:
    return load_settings(
        Path(__file__).parents[2] / "configs" / "paper.toml",
        {
            "data.dir": str(data_dir),
            "binance.base_url": url,
            "journal.snapshot_every": 40,
            "strategy.params": {"fast": 2, "slow": 4, "quantity": "0.01"},
            "log.level": "WARNING",
            **overrides,
        },
    )


def _records(directory: Path) -> list[tuple[int, object]]:
    return [(record.seq, record.message) for record in JournalReader(directory)]


async def test_paper_session_journals_snapshots_and_resumes(
    simulator: Simulator, tmp_path: Path
) -> None:
    settings = _settings(tmp_path, simulator.url)
    with anyio.fail_after(20):
        first = await run_paper_session(settings, SESSION, duration=SECONDS)
    directory = tmp_path / "journal" / SESSION
    assert (directory / "config.toml").is_file()
    assert first.bars > 5, first
    assert first.reconciliation == "passed" and first.halted == ""
    records = _records(directory)
    assert records[-1][0] == first.last_seq
    messages = [message for _, message in records]
    assert sum(type(m) is Bar for m in messages) == first.bars
    assert any(type(m) is BarUpdate and m.closed for m in messages)
    # Startup reconciliation came before any market data.
    halt = next(i for i, m in enumerate(messages) if type(m) is Halt)
    resume = next(i for i, m in enumerate(messages) if type(m) is Resume)
    assert messages[halt].reason == STARTUP_HALT_REASON
    assert halt < resume < next(i for i, m in enumerate(messages) if type(m) is BarUpdate)
    # The final snapshot covers the journal's last record.
    assert list_snapshots(directory)[-1][0] == first.last_seq
    assert first.final_snapshot == list_snapshots(directory)[-1][1]

    with anyio.fail_after(20):
        second = await run_paper_session(settings, SESSION, duration=SECONDS)
    assert second.recovery is not None
    assert second.recovery.snapshot_seq == first.last_seq
    report = json.loads((directory / "recovery.json").read_text())
    assert report["session"] == SESSION and report["last_seq"] == first.last_seq
    assert second.bars > 5 and second.last_seq > first.last_seq
    assert second.reconciliation == "passed"
    later = [m for seq, m in _records(directory) if seq > first.last_seq]
    assert type(later[0]) is Recovered
    # The stream went on after the last bar of the first run: no bar twice.
    starts = [m.bar.start for _, m in _records(directory) if type(m) is BarUpdate and m.closed]
    assert starts == sorted(set(starts))


async def test_recovery_replays_the_frames_after_an_older_snapshot(
    simulator: Simulator, tmp_path: Path
) -> None:
    settings = _settings(tmp_path, simulator.url)
    with anyio.fail_after(20):
        first = await run_paper_session(settings, SESSION, duration=SECONDS)
    directory = tmp_path / "journal" / SESSION
    snapshots = list_snapshots(directory)
    assert len(snapshots) >= 2
    snapshots[-1][1].unlink()  # as if killed before the final snapshot
    with anyio.fail_after(20):
        second = await run_paper_session(settings, SESSION, duration=1.0)
    recovery = second.recovery
    assert recovery is not None and recovery.refused_snapshots == []
    assert recovery.snapshot_seq == snapshots[-2][0]
    assert recovery.replayed_frames == first.last_seq - snapshots[-2][0] > 0
    assert recovery.last_seq == first.last_seq
    assert second.reconciliation == "passed"


async def test_a_message_after_the_actors_stopped_is_replayed_by_the_next_run(
    simulator: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A venue's late answer (published once the session's actors have stopped) used to
    hang the session's final snapshot. It is journaled, the final snapshot is skipped
    (it would claim the message handled), and the next run replays it."""
    original_run = LiveScheduler.run

    async def run_then_a_late_message(self: LiveScheduler, *args: Any, **kwargs: Any) -> None:
        await original_run(self, *args, **kwargs)
        await self.publish(Alert(ts=self.clock.now(), level="info", source="venue", text="late"))

    monkeypatch.setattr(LiveScheduler, "run", run_then_a_late_message)
    settings = _settings(tmp_path, simulator.url)
    with anyio.fail_after(20):
        first = await run_paper_session(settings, SESSION, duration=SECONDS)
    directory = tmp_path / "journal" / SESSION
    last = _records(directory)[-1]
    assert type(last[1]) is Alert and last[1].text == "late" and last[0] == first.last_seq
    assert list_snapshots(directory)[-1][0] < first.last_seq  # no snapshot claims it

    monkeypatch.setattr(LiveScheduler, "run", original_run)
    with anyio.fail_after(20):
        second = await run_paper_session(settings, SESSION, duration=1.0)
    recovery = second.recovery
    assert recovery is not None and recovery.last_seq == first.last_seq
    assert recovery.replayed_frames == first.last_seq - recovery.snapshot_seq > 0
    assert second.reconciliation == "passed"


async def test_drift_at_startup_keeps_trading_halted(
    simulator: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    class RicherBroker(PaperBroker):
        """A venue that holds more cash than the session believes it started with."""

        def __init__(self, *, initial_balances: dict[str, Decimal], **kwargs: Any) -> None:
            richer = {asset: amount + 1 for asset, amount in initial_balances.items()}
            super().__init__(initial_balances=richer, **kwargs)

    monkeypatch.setattr(app.session, "PaperBroker", RicherBroker)
    settings = _settings(tmp_path, simulator.url, **{"backtest.initial_cash": Decimal(1000)})
    with anyio.fail_after(20):
        result = await run_paper_session(settings, SESSION, duration=1.0)
    assert result.reconciliation.startswith("drift against the venue")
    assert result.halted.startswith("HALTED")
    assert result.fills == 0
    messages = [m for _, m in _records(tmp_path / "journal" / SESSION)]
    assert not any(type(m) is Resume for m in messages)


def test_run_command_with_an_in_process_simulator(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [
        "run", "--paper", "--simulator", "--simulator-speed", str(SPEED), "--duration", "1.5",
        "--data-dir", str(tmp_path), "--session", "cli", "--keep-orders",
    ]  # fmt: skip
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert "session cli:" in out and "startup reconciliation passed" in out
    assert "final snapshot" in out
    assert (tmp_path / "journal" / "cli" / "config.toml").is_file()


async def test_replay_rebuilds_a_paper_session_offline_at_any_seq(
    simulator: Simulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = _settings(tmp_path, simulator.url)
    with anyio.fail_after(20):
        first = await run_paper_session(settings, SESSION, duration=SECONDS)
    capsys.readouterr()
    base = ["replay", SESSION, "--data-dir", str(tmp_path)]
    # Offline: the venue's instruments come from the session directory, not the venue.
    assert await anyio.to_thread.run_sync(cli.main, base) == 0
    whole = capsys.readouterr().out
    assert f"at seq {first.last_seq:,}" in whole
    assert "risk      ACTIVE" in whole
    middle = first.last_seq // 2
    assert await anyio.to_thread.run_sync(cli.main, [*base, "--until", str(middle)]) == 0
    part = capsys.readouterr().out
    assert f"at seq {middle:,}" in part
