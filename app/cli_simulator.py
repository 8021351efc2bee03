"""``tickdeck simulator``: a local Binance-compatible exchange, until Ctrl-C.

It serves Binance spot's REST and WebSocket API on loopback (venues/simulator),
replaying the lake's one-minute bars (``--data-dir``) or seeded sample bars, for
one play-money account. No internet, no keys: it prints the API key to use and,
for the demo, the secret as an environment assignment. That secret is a fixed,
public throwaway that unlocks a local simulator's play money and nothing else.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import signal
import sys
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TextIO

from app.cli_args import date_arg, start_command
from venues.simulator import (
    COMMISSION_ASSETS,
    FaultConfigError,
    FaultPlan,
    Simulator,
    SimulatorConfig,
    SimulatorDataError,
    load_fault_plan,
    parse_fault_spec,
)

__all__ = ["USER_ERRORS", "SimulatorUsageError", "add_command", "config_from_args", "serve"]


class SimulatorUsageError(ValueError):
    """Options of ``tickdeck simulator`` that do not make a simulator."""


USER_ERRORS: tuple[type[Exception], ...] = (
    FaultConfigError,
    SimulatorDataError,
    SimulatorUsageError,
)


def add_command(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = commands.add_parser(
        "simulator",
        help="run a local Binance-compatible exchange (no internet, no keys)",
        description="Serve Binance spot's REST and WebSocket API on loopback for one "
        "play-money account, replaying one-minute bars at a chosen speed, optionally "
        "with injected faults. Runs until Ctrl-C.",
    )
    parser.add_argument("--port", type=int, default=8765, help="TCP port (default 8765)")
    parser.add_argument("--host", default="127.0.0.1", help="address (default loopback)")
    parser.add_argument(
        "--speed", type=float, default=60.0,
        help="simulated seconds per real second (default 60: a minute bar per second)",
    )  # fmt: skip
    parser.add_argument("--symbol", default="BTCUSDT", help="symbol, or several by commas")
    parser.add_argument(
        "--data-dir", type=Path,
        help="replay the lake's bars_1m under this data directory (default: sample bars)",
    )  # fmt: skip
    parser.add_argument("--start", type=date_arg, help="first UTC day of data, YYYY-MM-DD")
    parser.add_argument("--days", type=int, help="days of data (sample default 3)")
    parser.add_argument("--seed", type=int, default=7, help="seed of the sample bars")
    parser.add_argument(
        "--balance", action="append", default=[], metavar="ASSET=AMOUNT",
        help="starting balance, repeatable (default USDT=100000)",
    )  # fmt: skip
    parser.add_argument(
        "--commission-asset", choices=COMMISSION_ASSETS, default="received",
        help="what trades pay commission in: the asset received (Binance's default: a buy "
        "in the base asset, a sell in the quote asset), always the quote asset, or BNB",
    )  # fmt: skip
    parser.add_argument(
        "--bnb-price", action="append", default=[], metavar="QUOTE=PRICE",
        help="price of one BNB in a quote asset, for --commission-asset BNB (default USDT=600)",
    )  # fmt: skip
    parser.add_argument("--faults", type=Path, help="a TOML or JSON fault plan")
    parser.add_argument(
        "--fault", action="append", default=[], metavar="KIND[:key=value,...]",
        help="a fault rule, repeatable, e.g. ws_drop:rate=0.01 or latency:fixed_ms=50",
    )  # fmt: skip
    parser.add_argument("--fault-seed", type=int, help="seed of the faults' random choices")
    parser.set_defaults(handler=run)


def config_from_args(args: argparse.Namespace) -> SimulatorConfig:
    symbols = tuple(s.strip().upper() for s in args.symbol.split(",") if s.strip())
    if args.days is not None and args.days < 1:
        raise SimulatorUsageError(f"--days must be at least 1, got {args.days}")
    plan = load_fault_plan(args.faults) if args.faults is not None else FaultPlan()
    plan = plan.with_rules(parse_fault_spec(spec) for spec in args.fault)
    if args.fault_seed is not None:
        plan = FaultPlan(seed=args.fault_seed, rules=plan.rules)
    data: dict[str, object] = {}
    if args.data_dir is not None:
        data["data_dir"] = args.data_dir
        if args.start is not None:
            data["data_start"] = args.start
            if args.days is not None:
                data["data_end"] = args.start + dt.timedelta(days=args.days)
    else:
        if args.start is not None:
            data["sample_start"] = args.start
        if args.days is not None:
            data["sample_days"] = args.days
    try:
        return SimulatorConfig(
            host=args.host, port=args.port, speed=args.speed, symbols=symbols,
            balances=_balances(args.balance), sample_seed=args.seed, faults=plan,
            commission_asset=args.commission_asset,
            **_bnb_prices(args.bnb_price),
            **data,  # type: ignore[arg-type]
        )  # fmt: skip
    except ValueError as error:
        raise SimulatorUsageError(str(error)) from None


def _balances(items: list[str]) -> dict[str, Decimal]:
    if not items:
        return {"USDT": Decimal(100_000)}
    balances: dict[str, Decimal] = {}
    for item in items:
        asset, sep, amount = item.partition("=")
        try:
            value = Decimal(amount.strip())
        except InvalidOperation:
            value = Decimal(-1)
        if not sep or not asset.strip() or not value.is_finite() or value < 0:
            raise SimulatorUsageError(f"--balance expects ASSET=AMOUNT (>= 0), got {item!r}")
        balances[asset.strip().upper()] = value
    return balances


def _bnb_prices(items: list[str]) -> dict[str, dict[str, Decimal]]:
    """``bnb_prices`` for the config, or nothing (its default) when none was given."""
    prices: dict[str, Decimal] = {}
    for item in items:
        asset, sep, amount = item.partition("=")
        try:
            value = Decimal(amount.strip())
        except InvalidOperation:
            value = Decimal(0)
        if not sep or not asset.strip() or not value.is_finite() or value <= 0:
            raise SimulatorUsageError(f"--bnb-price expects QUOTE=PRICE (> 0), got {item!r}")
        prices[asset.strip().upper()] = value
    return {"bnb_prices": prices} if prices else {}


def run(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    start_command(None)
    asyncio.run(serve(config))
    return 0


async def serve(
    config: SimulatorConfig,
    *,
    out: TextIO = sys.stdout,
    stop: asyncio.Event | None = None,
    started: Callable[[Simulator], None] | None = None,
) -> None:
    """Run ``config``'s simulator until SIGINT/SIGTERM (or ``stop`` is set)."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    simulator = Simulator(config)
    try:
        await simulator.start()
    except OSError as error:
        raise SimulatorUsageError(
            f"cannot listen on {config.host}:{config.port}: {error.strerror or error}"
        ) from None
    handled: list[signal.Signals] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
            handled.append(sig)
        except (NotImplementedError, RuntimeError):
            pass
    try:
        _print_banner(simulator, out)
        if started is not None:
            started(simulator)
        await stop.wait()
    finally:
        for sig in handled:
            loop.remove_signal_handler(sig)
        await simulator.stop()
        print("simulator stopped", file=out, flush=True)


def _print_banner(simulator: Simulator, out: TextIO) -> None:
    config = simulator.config
    start = dt.datetime.fromtimestamp(simulator.now_ms() / 1000, dt.UTC)
    if config.data_dir is not None:
        source = f"the lake's bars_1m under {config.data_dir}"
    else:
        source = (
            f"sample bars (seed {config.sample_seed}, {config.sample_days} days from "
            f"{config.sample_start})"
        )
    balances = ", ".join(f"{amount} {asset}" for asset, amount in config.balances.items())
    lines = [
        f"Binance-compatible simulator listening on {simulator.url} "
        f"(WebSocket {simulator.ws_url}/stream, /ws/<listenKey>)",
        f"  market: {', '.join(config.symbols)} from {source}",
        f"  server time starts at {start:%Y-%m-%d %H:%M} UTC and runs at {config.speed:g}x",
        f"  account: {balances}",
        f"  commission: {_commission_text(config)}",
        f"  faults: {len(config.faults.rules)} rule(s)" if config.faults else "  faults: none",
        f"  API key: {simulator.api_key}",
        "  For the demo, set in the environment of the session that trades here:",
        f"    export TICKDECK_BINANCE__API_KEY={simulator.api_key}",
        f"    export TICKDECK_BINANCE__API_SECRET={simulator.api_secret}",
        "  (a local simulator's fixed throwaway secret: it unlocks play money on this "
        "simulator only; never use it anywhere else)",
        "Ctrl-C to stop.",
    ]
    print("\n".join(lines), file=out, flush=True)


def _commission_text(config: SimulatorConfig) -> str:
    if config.commission_asset == "received":
        return "in the asset received (a buy in the base asset, a sell in the quote asset)"
    if config.commission_asset == "quote":
        return "in the quote asset"
    prices = ", ".join(f"{price} {quote}" for quote, price in config.bnb_prices.items())
    return f"in BNB at {prices} (in the asset received once the account has no BNB)"
