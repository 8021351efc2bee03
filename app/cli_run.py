"""``tickdeck run``: a headless session (app/session.py) until Ctrl-C, SIGTERM or ``--duration``.

``tickdeck run --paper [--config configs/paper.toml] [--session NAME] [--data-dir DIR]
[--duration SECONDS] [--keep-orders] [--simulator]``

A paper session trades play money on the venue's live market data: by default the
loopback simulator at ``binance.base_url`` (start it with ``tickdeck simulator``, or
pass ``--simulator`` to run one inside this process). ``--session NAME`` names the
session's journal (``<data.dir>/journal/NAME/``); a session that exists is resumed
from its journal with its saved config (only ``--data-dir``, and ``--simulator``'s
address, apply then). At stop, open orders are cancelled unless ``--keep-orders``.

``tickdeck run --live --config FILE`` is refused unless a config file is given, API
keys are in the environment (``TICKDECK_BINANCE__API_KEY`` with ``..._API_SECRET`` or
``..._PRIVATE_KEY_PATH``) and live trading is confirmed (``--confirm-live``, or typing
``LIVE`` at the prompt). When every check passes the session trades real money on
``binance.base_url`` (see configs/live-binance.toml): the Binance gateway is the venue,
the user data stream brings the fills, and a ``LIVE`` banner is printed first.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import anyio

from app.cli_args import add_session_options
from app.journaled import resume_settings
from app.logs import configure_logging
from app.session import (
    SessionResult,
    new_live_session_name,
    run_live_session,
    run_paper_session,
    session_exists,
    simulated_venue,
)
from app.settings import Settings, load_settings
from venues.binance.errors import BinanceError
from venues.binance.signing import Credentials, CredentialsError, credentials_from_env

__all__ = [
    "CONFIRM_WORD",
    "USER_ERRORS",
    "LiveRefusedError",
    "RunUsageError",
    "SessionStartError",
    "add_command",
    "check_live",
]

CONFIRM_WORD = "LIVE"


class RunUsageError(ValueError):
    """Options of ``tickdeck run`` that do not make a session."""


class LiveRefusedError(ValueError):
    """``tickdeck run --live`` refused: no live config, no keys, or not confirmed."""


class SessionStartError(ValueError):
    """The session could not start: the venue is unreachable or refused us."""


USER_ERRORS: tuple[type[Exception], ...] = (
    RunUsageError,
    LiveRefusedError,
    SessionStartError,
    CredentialsError,
)


def add_command(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = commands.add_parser(
        "run",
        help="run a headless paper (or live) session",
        description="Run the trading actors on the venue's live market data under the "
        "live scheduler, journaled, until Ctrl-C, SIGTERM or --duration.",
    )
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--paper", action="store_true", help="paper trading (play money)")
    mode.add_argument(
        "--live",
        action="store_true",
        help="live trading (real money; needs a config, env keys, confirmation)",
    )
    add_session_options(parser)
    parser.add_argument(
        "--duration", type=float, metavar="SECONDS", help="stop cleanly after this long"
    )
    parser.add_argument(
        "--simulator-speed", type=float, default=60.0, metavar="X",
        help="with --simulator: simulated seconds per real second (default 60)",
    )  # fmt: skip
    parser.set_defaults(handler=handle)


def check_live(
    args: argparse.Namespace,
    environ: dict[str, str] | None = None,
    ask: Callable[[str], str] | None = None,
    interactive: bool | None = None,
) -> Settings:
    """The checks before live trading, in order; each failure is a ``LiveRefusedError``
    that says what to do. Returns the live settings when every check passes."""
    if args.config is None:
        raise LiveRefusedError(
            "live mode needs a live config: --config FILE (paper sessions use --paper)"
        )
    if args.simulator:
        raise LiveRefusedError("--simulator is for paper sessions, not live ones")
    settings = load_settings(args.config, _data_dir(args))
    try:
        credentials = credentials_from_env(environ)
    except CredentialsError as error:
        raise LiveRefusedError(f"live mode: {error}") from None
    if credentials is None:
        raise LiveRefusedError(
            "live mode needs API keys in the environment: TICKDECK_BINANCE__API_KEY with "
            "TICKDECK_BINANCE__API_SECRET or TICKDECK_BINANCE__PRIVATE_KEY_PATH"
        )
    if not args.confirm_live:
        if interactive is None:
            interactive = sys.stdin.isatty()
        if not interactive:
            raise LiveRefusedError(
                "live mode needs confirmation: pass --confirm-live or run it in a terminal"
            )
        prompt = (
            f"Live trading with real money at {settings.binance.base_url}. "
            f"Type {CONFIRM_WORD} to go on: "
        )
        answer = (ask or input)(prompt)
        if answer.strip() != CONFIRM_WORD:
            raise LiveRefusedError(f"live mode not confirmed (expected {CONFIRM_WORD!r})")
    return settings


def _data_dir(args: argparse.Namespace) -> dict[str, Any] | None:
    return {"data.dir": str(args.data_dir)} if args.data_dir is not None else None


def handle(args: argparse.Namespace) -> int:
    if args.duration is not None and not args.duration > 0:
        raise RunUsageError(f"--duration must be a positive number of seconds, got {args.duration}")
    if args.live:
        return _handle_live(args)
    if args.confirm_live:
        raise RunUsageError("--confirm-live goes with --live, not --paper")
    base = load_settings(args.config, _data_dir(args))
    name = args.session or new_live_session_name("paper", base)
    resumed = session_exists(base, name)
    settings = resume_settings(Path(base.data.dir), name) if resumed else base
    configure_logging(settings.log.level, json=settings.log.json, stream=sys.stderr)
    if resumed:
        print(f"resuming session {name} with its saved config")
        if args.config is not None:
            print(f"  note: {args.config} is not used; the session keeps the config it began with")
    result = anyio.run(_run, args, settings, name)
    _print_summary(result)
    return 0


def _handle_live(args: argparse.Namespace) -> int:
    base = check_live(args)
    credentials = credentials_from_env()
    if credentials is None:  # check_live refused this already
        raise LiveRefusedError("live mode needs API keys in the environment")
    name = args.session or new_live_session_name("live", base)
    resumed = session_exists(base, name)
    settings = resume_settings(Path(base.data.dir), name) if resumed else base
    configure_logging(settings.log.level, json=settings.log.json, stream=sys.stderr)
    if resumed:
        print(f"resuming session {name} with its saved config")
    result = anyio.run(_run_live, args, settings, name, credentials)
    _print_summary(result)
    return 0


async def _run_live(
    args: argparse.Namespace, settings: Settings, name: str, credentials: Credentials
) -> SessionResult:
    symbols = ", ".join(settings.backtest.symbols)
    print(
        f"LIVE session {name}: REAL ORDERS on {settings.binance.base_url} ({symbols}), "
        + ("until --duration" if args.duration else "Ctrl-C to stop")
        + ("; open orders kept at stop" if args.keep_orders else "; open orders cancelled at stop"),
        flush=True,
    )
    try:
        return await run_live_session(
            settings,
            name,
            credentials,
            duration=args.duration,
            cancel_on_stop=not args.keep_orders,
            handle_signals=True,
        )
    except BinanceError as error:
        raise SessionStartError(f"venue at {settings.binance.base_url}: {error}") from None


@contextlib.asynccontextmanager
async def _venue(args: argparse.Namespace, settings: Settings) -> AsyncIterator[Settings]:
    """The settings to run with: with ``--simulator``, pointed at one started here."""
    if not args.simulator:
        yield settings
        return
    async with simulated_venue(settings, args.simulator_speed) as simulated:
        print(f"simulator   {simulated.binance.base_url} (speed {args.simulator_speed:g})")
        yield simulated


async def _run(args: argparse.Namespace, settings: Settings, name: str) -> SessionResult:
    async with _venue(args, settings) as venue_settings:
        print(
            f"paper session {name} at {venue_settings.binance.base_url}: "
            + ("until --duration" if args.duration else "Ctrl-C to stop")
        )
        try:
            return await run_paper_session(
                venue_settings,
                name,
                duration=args.duration,
                cancel_on_stop=not args.keep_orders,
                handle_signals=True,
            )
        except BinanceError as error:
            raise SessionStartError(
                f"venue at {venue_settings.binance.base_url}: {error} (is `tickdeck simulator` "
                "running? --simulator starts one in this process)"
            ) from None


def _print_summary(result: SessionResult) -> None:
    equity = f"{result.equity:,.2f}" if result.equity is not None else "n/a"
    print(
        f"session {result.session}: {result.bars:,} bars, {result.fills:,} fills, "
        f"equity {equity}, journal seq {result.last_seq:,} ({result.wall_seconds:.1f} s)"
    )
    recovery = result.recovery
    if recovery is not None:
        print(
            f"  resumed from snapshot at seq {recovery.snapshot_seq:,}, replayed "
            f"{recovery.replayed_frames:,} frames to seq {recovery.last_seq:,}"
            + (f"; cut a torn tail at seq {recovery.torn_tail.seq}" if recovery.torn_tail else "")
        )
    if result.reconciliation == "passed":
        print("  startup reconciliation passed")
    else:
        print(f"  startup reconciliation FAILED, trading stayed halted: {result.reconciliation}")
    if result.cancelled_orders:
        print(f"  cancelled {result.cancelled_orders} open orders at stop")
    if result.open_orders:
        print(f"  {result.open_orders} orders left open")
    if result.drifts:
        print(f"  reconciliation found drift {result.drifts} times")
    if result.halted:
        print(f"  HALTED: {result.halted}")
    print(f"  stopped: {result.stop_reason}")
    if result.final_snapshot is not None:
        print(f"  final snapshot {result.final_snapshot}")
    print(f"journal     {result.directory}")
