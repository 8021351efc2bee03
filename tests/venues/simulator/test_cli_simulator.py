"""``tickdeck simulator``: options to a config, the banner, clean stops, one-line errors."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import io
import socket
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from app.cli import main
from app.cli_simulator import SimulatorUsageError, add_command, config_from_args, serve
from venues.simulator import DEFAULT_API_SECRET, FaultConfigError, Simulator, SimulatorConfig


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_command(parser.add_subparsers())
    return parser.parse_args(["simulator", *argv])


def test_defaults_serve_sample_bars_on_port_8765() -> None:
    config = config_from_args(_args())
    assert (config.host, config.port, config.speed) == ("127.0.0.1", 8765, 60.0)
    assert config.data_dir is None and config.symbols == ("BTCUSDT",)
    assert config.balances == {"USDT": Decimal(100000)}
    assert not config.faults
    assert config.commission_asset == "received"


def test_commission_options_reach_the_config() -> None:
    config = config_from_args(
        _args("--commission-asset", "BNB", "--bnb-price", "usdt=612.5", "--balance", "BNB=2")
    )
    assert config.commission_asset == "BNB"
    assert config.bnb_prices == {"USDT": Decimal("612.5")}
    assert config.balances == {"BNB": Decimal(2)}
    assert config_from_args(_args("--commission-asset", "quote")).commission_asset == "quote"


def test_options_reach_the_config(tmp_path: Path) -> None:
    plan = tmp_path / "faults.toml"
    plan.write_text('seed = 3\n[[fault]]\nkind = "ws_drop"\nrate = 0.1\n')
    config = config_from_args(_args(
        "--port", "0", "--speed", "600", "--symbol", "btcusdt,ethusdt", "--data-dir", str(tmp_path),
        "--start", "2024-03-01", "--days", "2", "--balance", "USDT=500", "--balance", "eth=1.5",
        "--faults", str(plan), "--fault", "latency:fixed_ms=20", "--fault-seed", "9",
    ))  # fmt: skip
    assert (config.port, config.speed, config.symbols) == (0, 600.0, ("BTCUSDT", "ETHUSDT"))
    assert (config.data_dir, config.data_start, config.data_end) == (
        tmp_path, dt.date(2024, 3, 1), dt.date(2024, 3, 3)
    )  # fmt: skip
    assert config.balances == {"USDT": Decimal(500), "ETH": Decimal("1.5")}
    assert config.faults.seed == 9
    assert [rule.kind for rule in config.faults.rules] == ["ws_drop", "latency"]


@pytest.mark.parametrize(
    ("argv", "error"),
    [
        (("--balance", "USDT"), SimulatorUsageError),
        (("--balance", "USDT=-1"), SimulatorUsageError),
        (("--speed", "0"), SimulatorUsageError),
        (("--days", "0"), SimulatorUsageError),
        (("--fault", "teleport"), FaultConfigError),
        (("--bnb-price", "USDT=0"), SimulatorUsageError),
        (("--bnb-price", "600"), SimulatorUsageError),
    ],
)
def test_bad_options_are_user_errors(argv: tuple[str, ...], error: type[Exception]) -> None:
    with pytest.raises(error):
        config_from_args(_args(*argv))


def test_a_bad_option_is_one_line_from_the_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulator", "--fault", "ws_drop:rate=3"]) == 2
    assert (
        capsys.readouterr().err
        == "tickdeck: error: fault 'ws_drop': rate must be in [0, 1], got 3.0\n"
    )


async def test_serve_prints_where_it_listens_and_stops_cleanly() -> None:
    out = io.StringIO()
    stop = asyncio.Event()
    seen: list[Simulator] = []

    async def check(simulator: Simulator) -> None:
        async with httpx.AsyncClient(base_url=simulator.url) as client:
            assert (await client.get("/api/v3/ping")).status_code == 200
        stop.set()

    tasks: list[asyncio.Task[None]] = []

    def started(simulator: Simulator) -> None:
        seen.append(simulator)
        tasks.append(asyncio.create_task(check(simulator)))

    await serve(SimulatorConfig(port=0, sample_days=1), out=out, stop=stop, started=started)
    await asyncio.gather(*tasks)
    text = out.getvalue()
    assert f"listening on {seen[0].url}" in text
    assert f"API key: {seen[0].api_key}" in text
    assert f"TICKDECK_BINANCE__API_SECRET={DEFAULT_API_SECRET}" in text
    assert "throwaway" in text
    assert text.endswith("simulator stopped\n")


async def test_a_port_in_use_is_a_user_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(SimulatorUsageError, match=f"cannot listen on 127.0.0.1:{port}"):
            await serve(SimulatorConfig(port=port, sample_days=1), out=io.StringIO())
