"""A live session end to end, with the in-process simulator standing in for Binance: the
live config points at it and its API key and secret are in the environment. Orders reach
the simulator only after their ``SubmitOrder`` is durable in the journal, fills come back
(through the gateway's answers and the user data stream), and a second run of the same
session recovers from the journal without sending anything during the replay."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest

import app.session
from actors.messages import BarUpdate, ExecutionReport, Halt, Resume, SubmitOrder
from app import cli
from app.session import STARTUP_HALT_REASON, VENUE_START_FILE, run_live_session
from app.settings import Settings, load_settings
from journal.reader import JournalReader
from venues.binance.gateway import BinanceGateway
from venues.binance.signing import credentials_from_env
from venues.simulator import Simulator, SimulatorConfig, run_simulator

SPEED = 600.0  # a one-minute bar every 0.1 s
SECONDS = 2.5
SESSION = "live-e2e"
LIVE_CONFIG = Path(__file__).parents[2] / "configs" / "live-binance.toml"


@pytest.fixture
async def simulator(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Simulator]:
    async with run_simulator(SimulatorConfig(speed=SPEED)) as running:
        monkeypatch.setenv("TICKDECK_BINANCE__API_KEY", running.api_key)
        monkeypatch.setenv("TICKDECK_BINANCE__API_SECRET", running.api_secret)
        yield running


def _live_config(tmp_path: Path, url: str) -> Path:
    """configs/live-binance.toml with the simulator as Binance."""
    text = LIVE_CONFIG.read_text(encoding="utf-8")
    assert 'base_url = "https://api.binance.com"' in text
    text = text.replace('base_url = "https://api.binance.com"', f'base_url = "{url}"')
    path = tmp_path / "live.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _settings(config: Path, data_dir: Path) -> Settings:
    return load_settings(
        config,
        {
            "data.dir": str(data_dir),
            "journal.snapshot_every": 40,
            "strategy.params": {"fast": 2, "slow": 4, "quantity": "0.01"},
            "risk.max_order_notional": 10_000,
            "risk.max_position_notional": 100_000,
            "risk.daily_loss_limit": 0,
            "log.level": "WARNING",
        },
    )


class _WriteAhead:
    """Watches the journal port: which seqs are durable and which client ids their
    ``SubmitOrder``s carry, and, at each order the simulator's engine places, whether
    its ``SubmitOrder`` was durable by then."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, simulator: Simulator) -> None:
        self.submits: dict[str, int] = {}  # client id -> seq
        self.durable = 0
        self.placed: list[tuple[str, bool]] = []
        port = app.session._JournalPort
        original_append, original_durable = port.append, port.durable
        watch = self

        def append(self: Any, message: Any, ts: int) -> int:
            seq = original_append(self, message, ts)
            if type(message) is SubmitOrder:
                watch.submits.setdefault(message.client_order_id, seq)
            return seq

        async def durable(self: Any, seq: int) -> None:
            await original_durable(self, seq)
            watch.durable = max(watch.durable, seq)

        monkeypatch.setattr(port, "append", append)
        monkeypatch.setattr(port, "durable", durable)
        engine = simulator.engine
        original_place = engine.place

        def place(**kwargs: Any) -> Any:
            client_id = kwargs.get("client_order_id") or ""
            seq = watch.submits.get(client_id)
            watch.placed.append((client_id, seq is not None and seq <= watch.durable))
            return original_place(**kwargs)

        monkeypatch.setattr(engine, "place", place)


def _records(directory: Path) -> list[Any]:
    return [record.message for record in JournalReader(directory)]


async def test_live_session_trades_on_the_venue_and_resumes_without_resending(
    simulator: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    watch = _WriteAhead(monkeypatch, simulator)
    settings = _settings(_live_config(tmp_path, simulator.url), tmp_path)
    assert settings.binance.base_url == simulator.url
    credentials = credentials_from_env()
    assert credentials is not None
    with anyio.fail_after(20):
        first = await run_live_session(settings, SESSION, credentials, duration=SECONDS)
    directory = tmp_path / "journal" / SESSION
    assert first.reconciliation == "passed", first
    assert first.halted == "", first
    assert first.bars > 5, first
    assert (directory / VENUE_START_FILE).is_file()
    messages = _records(directory)
    submits = [m for m in messages if type(m) is SubmitOrder]
    assert submits, "the strategy sent no order"
    # Every order the simulator placed was a journaled SubmitOrder, durable before it left.
    assert watch.placed and all(durable for _, durable in watch.placed), watch.placed
    assert {client_id for client_id, _ in watch.placed} <= {m.client_order_id for m in submits}
    # Fills came back from the venue and were booked.
    reports = [m for m in messages if type(m) is ExecutionReport]
    assert any(r.trade_id for r in reports), reports[-5:]
    assert all(r.venue == "binance" for r in reports)
    # Each trade came twice: in the gateway's FULL order response and on the user stream.
    trade_ids = [r.trade_id for r in reports if r.trade_id]
    assert any(trade_ids.count(trade_id) >= 2 for trade_id in trade_ids), trade_ids
    assert first.fills > 0
    # Startup reconciliation before any order.
    halt = next(i for i, m in enumerate(messages) if type(m) is Halt)
    resume = next(i for i, m in enumerate(messages) if type(m) is Resume)
    assert messages[halt].reason == STARTUP_HALT_REASON
    assert halt < resume < next(i for i, m in enumerate(messages) if type(m) is SubmitOrder)
    assert first.open_orders == 0
    assert not simulator.engine.open_orders(None)

    # The same session again: recovered from the journal, nothing sent during the replay.
    placed_before = len(watch.placed)
    sent_during_replay: list[str] = []
    original_submit = BinanceGateway.on_submit_order

    def on_submit_order(self: BinanceGateway, msg: SubmitOrder) -> None:
        if not self.running:
            sent_during_replay.append(msg.client_order_id)
        original_submit(self, msg)

    monkeypatch.setattr(BinanceGateway, "on_submit_order", on_submit_order)
    with anyio.fail_after(20):
        second = await run_live_session(settings, SESSION, credentials, duration=1.5)
    assert second.recovery is not None and second.recovery.last_seq == first.last_seq
    assert second.reconciliation == "passed", second
    assert sent_during_replay == []  # the gateway is skipped by the replay
    assert all(durable for _, durable in watch.placed[placed_before:])
    assert second.last_seq > first.last_seq
    # The market stream went on from the last closed bar of the first run: none twice.
    starts = [
        r.message.bar.start
        for r in JournalReader(directory)
        if type(r.message) is BarUpdate and r.message.closed
    ]
    assert starts == sorted(set(starts))


def test_live_command_runs_against_the_simulator(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``tickdeck run --live --config ... --confirm-live`` with every check passing runs a
    session and says LIVE first."""
    import threading

    ready = threading.Event()
    stop = threading.Event()
    holder: dict[str, Simulator] = {}

    async def serve() -> None:
        async with run_simulator(SimulatorConfig(speed=SPEED)) as running:
            holder["sim"] = running
            ready.set()
            while not stop.is_set():
                await anyio.sleep(0.05)

    thread = threading.Thread(target=anyio.run, args=(serve,), daemon=True)
    thread.start()
    try:
        assert ready.wait(10)
        sim = holder["sim"]
        monkeypatch.setenv("TICKDECK_BINANCE__API_KEY", sim.api_key)
        monkeypatch.setenv("TICKDECK_BINANCE__API_SECRET", sim.api_secret)
        config = _live_config(tmp_path, sim.url)
        argv = ["run", "--live", "--config", str(config), "--confirm-live"]
        argv += ["--data-dir", str(tmp_path), "--session", "cli-live", "--duration", "1"]
        assert cli.main(argv) == 0
        out = capsys.readouterr().out
        lines = [line for line in out.splitlines() if "simulator_" not in line]
        assert lines[0].startswith(f"LIVE session cli-live: REAL ORDERS on {sim.url}"), lines
        assert "startup reconciliation passed" in out
        assert (tmp_path / "journal" / "cli-live" / "config.toml").is_file()
    finally:
        stop.set()
        thread.join(10)


def test_live_is_still_refused_without_keys_confirmation_or_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("TICKDECK_BINANCE__API_KEY", raising=False)
    monkeypatch.delenv("TICKDECK_BINANCE__API_SECRET", raising=False)
    monkeypatch.delenv("TICKDECK_BINANCE__PRIVATE_KEY_PATH", raising=False)
    config = _live_config(tmp_path, "http://127.0.0.1:1")
    data = ["--data-dir", str(tmp_path)]
    assert cli.main(["run", "--live", "--confirm-live", *data]) == 2
    assert "live config" in capsys.readouterr().err
    assert cli.main(["run", "--live", "--config", str(config), "--confirm-live", *data]) == 2
    assert "API keys" in capsys.readouterr().err
    monkeypatch.setenv("TICKDECK_BINANCE__API_KEY", "key")
    monkeypatch.setenv("TICKDECK_BINANCE__API_SECRET", "secret")
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    assert cli.main(["run", "--live", "--config", str(config), *data]) == 2
    assert "--confirm-live" in capsys.readouterr().err
    assert not (tmp_path / "journal").exists()  # nothing started
