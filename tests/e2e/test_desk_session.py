"""The terminal UI's session side, end to end against the loopback simulator: a session
hosted on its own thread (``LocalDesk``) conflated into views, commands from the desk
journaled and obeyed, and a served session (``tickdeck serve``) that UIs attach to and
leave without stopping it."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import anyio
import pytest

from actors.messages import Bar, Fill, Halt, RiskRejected, Side, SubmitOrder, TradingHalted
from app.serve import CONTROL_FILE, read_control_file
from app.settings import Settings, load_settings
from journal.reader import JournalReader
from tests.e2e.local_desk import LocalDesk
from tui.app import DeskApp
from tui.link import LinkError
from tui.remote import RemoteDesk
from tui.view import DeskView

SPEED = 1200.0  # a one-minute bar every 50 ms
ROOT = Path(__file__).parents[2]


def _settings(data_dir: Path) -> Settings:
    return load_settings(
        ROOT / "configs" / "paper.toml",
        {
            "data.dir": str(data_dir),
            "strategy.params": {"fast": 2, "slow": 4, "quantity": "0.01"},
            "log.level": "WARNING",
        },
    )


def _wait_for(
    desk: LocalDesk | RemoteDesk, done: Callable[[DeskView], bool], timeout: float = 20.0
) -> DeskView:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        view = desk.view()
        if view is not None and done(view):
            return view
        time.sleep(0.05)
    raise AssertionError(f"no view satisfied the condition in {timeout} s: {desk.view()}")


def test_views_follow_the_session_and_agree_with_its_journal(tmp_path: Path) -> None:
    desk = LocalDesk(_settings(tmp_path), "desk-views", simulator_speed=SPEED).start()
    try:
        view = _wait_for(desk, lambda v: len(v.fills) >= 2 and len(v.bars.get("BTCUSDT", ())) > 8)
        assert view.session.state == "running" and view.session.mode == "paper"
        assert [row.name for row in view.strategies] == ["sma_cross"]
        assert {row.name for row in view.health} >= {"venue", "strategy", "risk", "accountant"}
        # The chart's indicators are the strategy's own averages of the bars shown.
        bars = view.bars["BTCUSDT"]
        sma_2 = view.indicators["BTCUSDT"]["sma_2"]
        closes = {bar.ts: bar.close for bar in bars}
        last = sma_2[-1]
        previous_ts = bars[[bar.ts for bar in bars].index(last.ts) - 1].ts
        assert last.value == pytest.approx((closes[last.ts] + closes[previous_ts]) / 2)
        assert view.equity and view.account.equity > 0
    finally:
        result = desk.stop(timeout=30)
    assert result is not None and desk.view().session.state == "stopped"
    journal = [record.message for record in JournalReader(result.directory)]
    journaled_fills = {(m.client_order_id, m.trade_id) for m in journal if isinstance(m, Fill)}
    assert {(f.client_order_id, f.trade_id) for f in view.fills} <= journaled_fills
    journaled_bars = {m.start for m in journal if isinstance(m, Bar)}
    assert {bar.ts for bar in bars} <= journaled_bars
    submitted = {m.client_order_id for m in journal if isinstance(m, SubmitOrder)}
    assert {order.client_order_id for order in view.orders} <= submitted


async def test_ctrl_k_in_the_desk_halts_the_session_and_no_new_entry_reaches_the_venue(
    tmp_path: Path,
) -> None:
    desk = LocalDesk(_settings(tmp_path), "desk-halt", simulator_speed=SPEED).start()
    try:
        app = DeskApp(desk)
        async with app.run_test(size=(100, 30)) as pilot:
            with anyio.fail_after(30):
                while app.view is None or not (
                    app.view.session.state == "running" and app.view.fills
                ):
                    await pilot.pause(0.05)
            await pilot.press("ctrl+k")
            with anyio.fail_after(5):
                while app.view.risk.state != "HALTED":
                    await pilot.pause(0.01)
            halted = app.view
            # Long enough for several crosses up, each refused now.
            with anyio.fail_after(30):
                while len(app.view.bars["BTCUSDT"]) < len(halted.bars["BTCUSDT"]) + 40:
                    await pilot.pause(0.05)
    finally:
        result = desk.stop(timeout=30)
    assert result is not None
    records = [(record.seq, record.message) for record in JournalReader(result.directory)]
    (halt_seq,) = [seq for seq, m in records if isinstance(m, Halt) and m.reason == "operator"]
    after = [m for seq, m in records if seq > halt_seq]
    assert any(isinstance(m, TradingHalted) for m in after)
    assert any(isinstance(m, RiskRejected) for m in after), "no entry was tried after the halt"
    entries = [m for m in after if isinstance(m, SubmitOrder) and m.ticket.side is Side.BUY]
    assert entries == []


def test_commands_need_a_running_session(tmp_path: Path) -> None:
    desk = LocalDesk(_settings(tmp_path), "desk-idle", simulator_speed=SPEED)
    with pytest.raises(LinkError, match="not running"):
        asyncio.run(desk.command(Halt(ts=0)))


# --- tickdeck serve / attach ----------------------------------------------------------


def _serve(
    tmp_path: Path, session: str, listen: tuple[str, ...] = ("--port", "0")
) -> subprocess.Popen[bytes]:
    env = {**os.environ, "TICKDECK_LOG__LEVEL": "WARNING", "TICKDECK_TUI__SIMULATOR_SPEED": "1200"}
    return subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve", "--simulator", *listen,
         "--config", str(ROOT / "configs" / "paper.toml"), "--data-dir", str(tmp_path),
         "--session", session],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip


def _control(directory: Path, process: subprocess.Popen[bytes]) -> dict[str, str]:
    deadline = time.monotonic() + 30
    while not (directory / CONTROL_FILE).is_file():
        if process.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"serve did not start: {process.communicate()[1].decode()}")
        time.sleep(0.05)
    return read_control_file(directory)


async def _attached(
    control: dict[str, str],
    act: Callable[[RemoteDesk], object],
    until: Callable[[DeskView], bool],
) -> DeskView:
    """Attach, wait for a running session, ``act``, wait ``until`` a view says so, detach."""
    async with RemoteDesk(control["address"], control["token"]) as link:
        with anyio.fail_after(20):
            while (view := link.view()) is None or view.session.state != "running":
                await anyio.sleep(0.05)
        result = act(link)
        if asyncio.iscoroutine(result):
            await result
        with anyio.fail_after(20):
            while not until(view := link.view()):
                await anyio.sleep(0.05)
        return view


async def _attach_the_desk_and_halt(control: dict[str, str]) -> DeskView:
    """``tickdeck attach``: the desk on the served session; ctrl+k; then leave."""
    async with RemoteDesk(control["address"], control["token"]) as link:
        app = DeskApp(link)
        async with app.run_test(size=(100, 30)) as pilot:
            with anyio.fail_after(30):
                while app.view is None or app.view.session.state != "running":
                    await pilot.pause(0.05)
            await pilot.press("ctrl+k")
            with anyio.fail_after(5):
                while app.view.risk.state != "HALTED":
                    await pilot.pause(0.01)
            return app.view


def test_attach_halt_detach_leaves_the_served_session_running_and_halted(
    tmp_path: Path,
) -> None:
    session = "served"
    directory = tmp_path / "journal" / session
    process = _serve(tmp_path, session)
    try:
        control = _control(directory, process)
        assert os.stat(directory / CONTROL_FILE).st_mode & 0o077 == 0  # owner only
        halted = anyio.run(_attach_the_desk_and_halt, control)
        assert halted.risk.reason.endswith("operator")
        bars_then = len(halted.bars["BTCUSDT"])
        time.sleep(1.0)  # detached: the session goes on
        assert process.poll() is None
        again = anyio.run(
            _attached, control, lambda link: None,
            lambda view: len(view.bars["BTCUSDT"]) > bars_then,
        )  # fmt: skip
        assert again.session.state == "running" and again.risk.state == "HALTED"
    finally:
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err.decode()
    assert "HALTED" in out.decode()
    assert not (directory / CONTROL_FILE).exists()
    assert control["token"] not in (out + err).decode()
    assert control["token"] not in (directory / "config.toml").read_text()


def test_the_control_api_refuses_a_wrong_token(tmp_path: Path) -> None:
    session = "served-locked"
    directory = tmp_path / "journal" / session
    process = _serve(tmp_path, session)
    try:
        control = _control(directory, process)

        async def wrong() -> str:
            async with RemoteDesk(control["address"], "not-the-token") as link:
                await anyio.sleep(1.0)
                with pytest.raises(LinkError) as refused:
                    link.view()
                with pytest.raises(LinkError, match="401"):
                    await link.command(Halt(ts=0))
                return str(refused.value)

        assert "401" in anyio.run(wrong)
        assert json.loads((directory / CONTROL_FILE).read_text())["token"] == control["token"]
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=30)
    records = [record.message for record in JournalReader(directory)]
    assert not any(isinstance(m, Halt) and m.reason == "operator" for m in records)


def test_a_session_served_on_a_unix_socket_takes_commands_there(tmp_path: Path) -> None:
    session = "served-unix"
    directory = tmp_path / "journal" / session
    socket = tmp_path / "desk.sock"
    process = _serve(tmp_path, session, ("--unix", str(socket)))
    try:
        control = _control(directory, process)
        assert control["address"] == f"unix:{socket}" and socket.is_socket()
        halted = anyio.run(
            _attached,
            control,
            lambda link: link.command(Halt(ts=0, reason="over the socket")),
            lambda view: view.risk.state == "HALTED",
        )
        assert halted.risk.reason.endswith("over the socket")
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=30)
    assert process.returncode == 0
    records = [record.message for record in JournalReader(directory)]
    assert any(isinstance(m, Halt) and m.reason == "over the socket" for m in records)
