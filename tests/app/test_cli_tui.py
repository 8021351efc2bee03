"""``tickdeck tui``'s process layout: the session in a child ``tickdeck serve``, the UI
attached to it. A UI that fails does not lose the session: per ``tui.on_error`` it goes
on headless (and a UI can attach again) or stops cleanly with a final snapshot."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import anyio
import pytest

from app.cli_tui import run_tui
from app.serve import CONTROL_FILE, read_control_file
from app.settings import Settings, load_settings
from journal.snapshots import list_snapshots
from tui.link import LinkError
from tui.remote import RemoteDesk

ROOT = Path(__file__).parents[2]


def _settings(data_dir: Path, on_error: str) -> Settings:
    return load_settings(
        ROOT / "configs" / "paper.toml",
        {
            "data.dir": str(data_dir),
            "tui.on_error": on_error,
            "tui.simulator_speed": 1200.0,
            "log.level": "WARNING",
        },
    )


class FailingUi:
    """A UI that draws for a moment, once the session runs, then raises."""

    failed = threading.Event()

    def __init__(self, link: Any, backtest_launcher: Any = None) -> None:
        self.link = link
        self.return_code = 0

    async def run_async(self) -> None:
        with anyio.fail_after(30):
            while (view := self.link.view()) is None or view.session.state != "running":
                await anyio.sleep(0.05)
        FailingUi.failed.set()
        raise RuntimeError("a drawing bug")


@pytest.fixture(autouse=True)
def _fresh_failure() -> None:
    FailingUi.failed = threading.Event()


def test_a_failing_ui_with_on_error_stop_stops_the_session_cleanly(tmp_path: Path) -> None:
    code = run_tui(
        _settings(tmp_path, "stop"), "ui-stop", simulator=True, credentials=None,
        cancel_on_stop=True, app_type=FailingUi,
    )  # fmt: skip
    assert code == 1 and FailingUi.failed.is_set()
    directory = tmp_path / "journal" / "ui-stop"
    assert not (directory / CONTROL_FILE).exists()  # the session has ended...
    assert list_snapshots(directory), "no final snapshot"  # ...cleanly
    summary = (tmp_path / "logs" / "ui-stop.out").read_text()
    assert "stopped: SIGINT received" in summary


def test_a_failing_ui_with_on_error_headless_leaves_the_session_running(tmp_path: Path) -> None:
    result: list[int] = []
    runner = threading.Thread(
        target=lambda: result.append(
            run_tui(
                _settings(tmp_path, "headless"),
                "ui-headless",
                simulator=True,
                credentials=None,
                cancel_on_stop=True,
                app_type=FailingUi,
            )
        )
    )
    runner.start()
    directory = tmp_path / "journal" / "ui-headless"
    try:
        assert FailingUi.failed.wait(60)
        time.sleep(1.0)
        assert runner.is_alive(), "the session ended with its UI"
        control = read_control_file(directory)

        async def views() -> tuple[int, int]:
            async with RemoteDesk(control["address"], control["token"]) as link:
                with anyio.fail_after(20):
                    while link.view() is None:
                        await anyio.sleep(0.05)
                    first = link.view().journal.last_seq
                    while link.view().journal.last_seq <= first:
                        await anyio.sleep(0.05)
                return first, link.view().journal.last_seq

        first, later = anyio.run(views)  # another UI attaches: the session goes on
        assert later > first
    finally:
        try:
            pid = int(read_control_file(directory)["pid"])
            os.kill(pid, signal.SIGINT)
        except LinkError:
            pass
        runner.join(60)
    assert result == [1]
    assert list_snapshots(directory)
