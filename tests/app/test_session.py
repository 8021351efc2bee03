"""``tickdeck run``: the session's wiring and every path that refuses live trading."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pytest

import app.cli_run
from actors.messages import Instrument
from app import cli
from app.cli_run import CONFIRM_WORD, LiveRefusedError, add_command, check_live
from app.session import SessionResult, build_paper_session, ws_url_for
from app.settings import Settings, load_settings
from venues.binance.signing import Credentials
from venues.paper import PaperBroker

KEYS = {"TICKDECK_BINANCE__API_KEY": "key", "TICKDECK_BINANCE__API_SECRET": "secret"}


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_command(parser.add_subparsers(dest="command"))
    return parser.parse_args(["run", *argv])


@pytest.fixture
def live_config(tmp_path: Path) -> Path:
    path = tmp_path / "live.toml"
    path.write_text('[binance]\nbase_url = "https://api.binance.com"\n', encoding="utf-8")
    return path


def test_ws_url_of_the_simulator_and_of_binance() -> None:
    assert ws_url_for("http://127.0.0.1:8765") == "ws://127.0.0.1:8765"
    assert ws_url_for("https://api.binance.com") == "wss://stream.binance.com:9443"


def test_paper_session_wires_the_seven_actors_with_the_paper_broker() -> None:
    settings = load_settings(None)
    instruments = {
        "BTCUSDT": Instrument(
            ts=0,
            symbol="BTCUSDT",
            venue="paper",
            base="BTC",
            quote="USDT",
            tick_size=settings.instrument("BTCUSDT").tick_size,
            lot_size=settings.instrument("BTCUSDT").lot_size,
        )
    }
    session = build_paper_session(settings, instruments)
    assert isinstance(session.bus.actors["venue"], PaperBroker)
    assert session.reconciler.venue == "paper"
    assert set(session.bus.actors) == {
        "venue", "bar_builder", "strategy", "risk", "order_manager", "accountant", "reconciler",
    }  # fmt: skip


def test_live_without_a_config_is_refused() -> None:
    with pytest.raises(LiveRefusedError, match="live config"):
        check_live(_args("--live", "--confirm-live"), environ=KEYS)


def test_live_with_the_simulator_is_refused(live_config: Path) -> None:
    with pytest.raises(LiveRefusedError, match="--simulator"):
        check_live(
            _args("--live", "--config", str(live_config), "--simulator", "--confirm-live"),
            environ=KEYS,
        )


def test_live_without_keys_in_the_environment_is_refused(live_config: Path) -> None:
    with pytest.raises(LiveRefusedError, match="API keys in the environment"):
        check_live(_args("--live", "--config", str(live_config), "--confirm-live"), environ={})


def test_live_with_half_the_keys_is_refused(live_config: Path) -> None:
    with pytest.raises(LiveRefusedError, match="live mode"):
        check_live(
            _args("--live", "--config", str(live_config), "--confirm-live"),
            environ={"TICKDECK_BINANCE__API_KEY": "key"},
        )


def test_live_unconfirmed_without_a_terminal_is_refused(live_config: Path) -> None:
    with pytest.raises(LiveRefusedError, match="--confirm-live"):
        check_live(_args("--live", "--config", str(live_config)), environ=KEYS, interactive=False)


def test_live_with_a_wrong_typed_confirmation_is_refused(live_config: Path) -> None:
    prompts: list[str] = []

    def ask(prompt: str) -> str:
        prompts.append(prompt)
        return "yes"

    with pytest.raises(LiveRefusedError, match="not confirmed"):
        check_live(
            _args("--live", "--config", str(live_config)), environ=KEYS, ask=ask, interactive=True
        )
    assert "https://api.binance.com" in prompts[0]


def test_live_confirmed_passes_the_checks(live_config: Path) -> None:
    args = _args("--live", "--config", str(live_config))
    settings = check_live(args, environ=KEYS, ask=lambda _: CONFIRM_WORD, interactive=True)
    assert settings.binance.base_url == "https://api.binance.com"
    assert check_live(_args("--live", "--config", str(live_config), "--confirm-live"), KEYS)


def test_live_from_the_command_line_is_refused_in_one_line(
    live_config: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[str] = []

    async def no_session(*args: object, **kwargs: object) -> None:
        started.append("session")
        raise AssertionError("a refused live run must not start a session")

    monkeypatch.setattr(app.cli_run, "run_live_session", no_session)
    for name in (*KEYS, "TICKDECK_BINANCE__PRIVATE_KEY_PATH"):
        monkeypatch.delenv(name, raising=False)
    assert cli.main(["run", "--live"]) == 2
    assert "live config" in capsys.readouterr().err
    assert cli.main(["run", "--live", "--config", str(live_config), "--confirm-live"]) == 2
    assert "API keys" in capsys.readouterr().err
    for name, value in KEYS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    assert cli.main(["run", "--live", "--config", str(live_config)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("tickdeck: error: live mode needs confirmation") and "secret" not in err
    assert started == []


def test_live_with_every_check_passed_runs_a_live_session(
    live_config: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[dict[str, Any]] = []

    async def fake_session(
        settings: Settings, name: str, credentials: Credentials, **options: Any
    ) -> SessionResult:
        calls.append({"settings": settings, "name": name, "credentials": credentials, **options})
        return SessionResult(
            session=name, directory=tmp_path, bars=3, fills=1, equity=None, last_seq=9,
            snapshots_written=1, final_snapshot=None, recovery=None, reconciliation="passed",
            halted="", cancelled_orders=0, open_orders=0, stop_reason="duration",
            wall_seconds=0.1,
        )  # fmt: skip

    monkeypatch.setattr(app.cli_run, "run_live_session", fake_session)
    for name, value in KEYS.items():
        monkeypatch.setenv(name, value)
    argv = ["run", "--live", "--config", str(live_config), "--confirm-live"]
    argv += ["--data-dir", str(tmp_path), "--session", "s1", "--keep-orders"]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert out.startswith("LIVE session s1: REAL ORDERS on https://api.binance.com")
    assert "secret" not in out
    (call,) = calls
    assert call["name"] == "s1" and call["cancel_on_stop"] is False
    assert call["settings"].binance.base_url == "https://api.binance.com"
    assert call["credentials"].api_key == "key"


def test_the_shipped_live_config_is_real_binance_with_small_limits() -> None:
    path = Path(__file__).parents[2] / "configs" / "live-binance.toml"
    settings = load_settings(path)
    assert settings.binance.base_url == "https://api.binance.com"
    assert "api_key" not in path.read_text().replace("TICKDECK_BINANCE__API_KEY", "")
    assert settings.risk.max_order_notional <= 100
    assert settings.risk.max_position_notional <= 1000
    assert 0 < settings.risk.daily_loss_limit <= 100


def test_run_needs_a_mode_and_a_positive_duration(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["run"])
    assert cli.main(["run", "--paper", "--duration", "0"]) == 2
    assert "--duration" in capsys.readouterr().err
    assert cli.main(["run", "--paper", "--confirm-live"]) == 2
