"""``tickdeck tui``, ``tickdeck serve`` and ``tickdeck attach``: sessions with a terminal UI.

``tickdeck tui [--config FILE] [--session NAME] [--simulator] [--live --confirm-live]``
runs a session in this process (``app.desk_host.LocalDesk``) under the terminal UI;
quitting the UI stops the session cleanly. If the UI itself fails, ``tui.on_error``
decides: ``headless`` (the default) keeps the session running without a screen
until Ctrl-C, ``stop`` stops it cleanly with a final snapshot. Logs go to
``<data.dir>/logs/<session>.log`` (and, redacted, to the UI's log tail), never
over the screen.

A bare ``tickdeck`` is the demo: a paper session on sample data against a loopback
simulator started in this process, with no internet and no keys.

``tickdeck serve [...same options...] [--port N | --unix PATH] [--duration S]`` runs
the session headless with the control API of ``app.serve``; ``tickdeck attach
[--session NAME]`` opens the same UI on it (the address and token come from the
session's ``control.json``). Closing an attached UI leaves the session running.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

import anyio

from app.cli_run import check_live
from app.desk_host import LocalDesk
from app.desk_monitor import DeskMonitor
from app.journaled import journal_root, resume_settings
from app.logs import LogTail, configure_logging
from app.serve import CONTROL_FILE, ControlServer, read_control_file
from app.session import (
    SessionResult,
    new_live_session_name,
    run_live_session,
    run_paper_session,
    session_exists,
    simulated_venue,
)
from app.settings import Settings, load_settings
from tui.link import LinkError
from tui.remote import RemoteDesk
from venues.binance.signing import Credentials, credentials_from_env

__all__ = ["DEMO_OVERRIDES", "USER_ERRORS", "AttachError", "add_command", "run_demo"]

# The demo trades often enough to watch: a 5/20 crossover on one-minute bars, one bar a
# second (the simulator's default speed of 60).
DEMO_OVERRIDES: Final[dict[str, Any]] = {
    "strategy.params": {"fast": 5, "slow": 20, "quantity": "0.01"},
}


class AttachError(ValueError):
    """``tickdeck attach`` found no served session to attach to."""


USER_ERRORS: tuple[type[Exception], ...] = (AttachError, LinkError)


def add_command(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    tui = commands.add_parser(
        "tui", help="run a session under the terminal UI",
        description="Run a paper (or live) session in this process under the terminal UI.",
    )  # fmt: skip
    _session_options(tui)
    tui.set_defaults(handler=_tui)
    serve = commands.add_parser(
        "serve", help="run a session headless with a control API for `tickdeck attach`",
        description="Run a session headless, serving its views and taking commands on "
        "loopback (or a unix socket); `tickdeck attach` opens the terminal UI on it.",
    )  # fmt: skip
    _session_options(serve)
    serve.add_argument("--port", type=int, help="loopback TCP port (0: any free one)")
    serve.add_argument("--unix", type=Path, metavar="PATH", help="serve on a unix socket")
    serve.add_argument(
        "--duration", type=float, metavar="SECONDS", help="stop cleanly after this long"
    )
    serve.set_defaults(handler=_serve)
    attach = commands.add_parser(
        "attach", help="open the terminal UI on a served session",
        description="Open the terminal UI on a session run by `tickdeck serve`. Leaving the "
        "UI leaves the session running.",
    )  # fmt: skip
    attach.add_argument("--session", help="the served session (default: the newest served)")
    attach.add_argument("--data-dir", type=Path, help="data directory (journals live here)")
    attach.add_argument("--config", type=Path, help="a TOML config (for data.dir)")
    attach.set_defaults(handler=_attach)


def _session_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, help="a TOML config (see configs/paper.toml)")
    parser.add_argument("--session", help="session name: resumed if its journal exists")
    parser.add_argument("--data-dir", type=Path, help="data directory (journals live here)")
    parser.add_argument(
        "--simulator", action="store_true",
        help="start a loopback exchange simulator in this process and trade against it",
    )  # fmt: skip
    parser.add_argument(
        "--keep-orders", action="store_true",
        help="leave open orders working at stop (default: cancel them)",
    )  # fmt: skip
    parser.add_argument(
        "--live", action="store_true",
        help="live trading (real money; needs a live config, env keys, confirmation)",
    )  # fmt: skip
    parser.add_argument(
        "--confirm-live", action="store_true", help="confirm live trading without the prompt"
    )


# --- tickdeck tui and the demo ------------------------------------------------------------


def run_demo(ensure_data: Callable[[Settings], None]) -> int:
    """A bare ``tickdeck``: the paper demo under the terminal UI (sample data generated
    into the lake first, so the SQL and backtest screens have something to show)."""
    settings = load_settings(None, DEMO_OVERRIDES)
    ensure_data(settings)
    name = new_live_session_name("paper", settings)
    return _run_tui(settings, name, simulator=True, credentials=None, cancel_on_stop=True)


def _tui(args: argparse.Namespace) -> int:
    settings, name, credentials = _resolve(args)
    return _run_tui(
        settings, name, simulator=args.simulator, credentials=credentials,
        cancel_on_stop=not args.keep_orders,
    )  # fmt: skip


def _resolve(args: argparse.Namespace) -> tuple[Settings, str, Credentials | None]:
    """The settings, session name and (live) credentials: ``tickdeck run``'s rules."""
    overrides = {"data.dir": str(args.data_dir)} if args.data_dir is not None else None
    credentials = None
    if args.live:
        base = check_live(args)
        credentials = credentials_from_env()
    else:
        base = load_settings(args.config, overrides)
    name = args.session or new_live_session_name("live" if args.live else "paper", base)
    if session_exists(base, name):
        return resume_settings(Path(base.data.dir), name), name, credentials
    return base, name, credentials


def _log_tail(settings: Settings, name: str) -> LogTail:
    """Logs to ``<data.dir>/logs/<session>.log`` and the UI's tail: never over the screen."""
    directory = Path(settings.data.dir) / "logs"
    directory.mkdir(parents=True, exist_ok=True)
    stream = (directory / f"{name}.log").open("a", encoding="utf-8")
    tail = LogTail()
    configure_logging(settings.log.level, json=True, stream=stream, tail=tail)
    return tail


def _run_tui(
    settings: Settings,
    name: str,
    *,
    simulator: bool,
    credentials: Credentials | None,
    cancel_on_stop: bool,
) -> int:
    from app.desk_backtests import DeskBacktests
    from tui.app import DeskApp  # Textual is loaded only by the commands that draw

    tail = _log_tail(settings, name)
    desk = LocalDesk(
        settings, name,
        simulator_speed=settings.tui.simulator_speed if simulator else None,
        credentials=credentials, cancel_on_stop=cancel_on_stop, log_tail=tail,
    ).start()  # fmt: skip
    ui_failed = False
    try:
        app = DeskApp(desk, backtest_launcher=DeskBacktests(settings))
        app.run()
        ui_failed = bool(app.return_code)
    except Exception as error:
        print(f"tickdeck: the terminal UI failed: {error}", file=sys.stderr)
        ui_failed = True
    if ui_failed and desk.running and settings.tui.on_error == "headless":
        print(
            f"the terminal UI failed; session {name} goes on headless "
            f"(tui.on_error = headless). Ctrl-C stops it cleanly.",
            file=sys.stderr,
        )
        try:
            while desk.running:
                desk.wait(0.5)
        except KeyboardInterrupt:
            pass
    print(f"stopping session {name} ...", flush=True)
    result = desk.stop()
    if desk.error is not None:
        print(f"tickdeck: error: session {name}: {desk.error}", file=sys.stderr)
        return 2
    _print_result(result)
    return 1 if ui_failed else 0


def _print_result(result: SessionResult | None) -> None:
    if result is None:
        return
    equity = f"{result.equity:,.2f}" if result.equity is not None else "n/a"
    print(
        f"session {result.session}: {result.bars:,} bars, {result.fills:,} fills, "
        f"equity {equity}, journal seq {result.last_seq:,}; stopped: {result.stop_reason}"
    )
    if result.halted:
        print(f"  HALTED: {result.halted}")
    print(f"journal     {result.directory}")


# --- tickdeck serve -----------------------------------------------------------------------


def _serve(args: argparse.Namespace) -> int:
    settings, name, credentials = _resolve(args)
    control: dict[str, Any] = {}
    if args.port is not None:
        control["port"] = args.port
    if args.unix is not None:
        control["unix_socket"] = args.unix
    if control:
        settings = settings.model_copy(
            update={"control": settings.control.model_copy(update=control)}
        )
    configure_logging(settings.log.level, json=settings.log.json, stream=sys.stderr)
    result = anyio.run(_served, args, settings, name, credentials)
    _print_result(result)
    return 0


async def _served(
    args: argparse.Namespace, settings: Settings, name: str, credentials: Credentials | None
) -> SessionResult:
    monitor = DeskMonitor()
    server = ControlServer(monitor, settings.control)
    options: dict[str, Any] = {
        "duration": args.duration, "cancel_on_stop": not args.keep_orders,
        "handle_signals": True, "observers": [monitor, server],
    }  # fmt: skip
    if args.simulator:
        async with simulated_venue(settings, settings.tui.simulator_speed) as simulated:
            print(f"simulator   {simulated.binance.base_url}", flush=True)
            return await _session(simulated, name, credentials, options)
    return await _session(settings, name, credentials, options)


async def _session(
    settings: Settings, name: str, credentials: Credentials | None, options: dict[str, Any]
) -> SessionResult:
    directory = journal_root(settings) / name
    print(
        f"serving session {name}: `tickdeck attach --session {name}` opens the UI "
        f"(address and token in {directory / CONTROL_FILE}); Ctrl-C stops it",
        flush=True,
    )
    if credentials is not None:
        return await run_live_session(settings, name, credentials, **options)
    return await run_paper_session(settings, name, **options)


# --- tickdeck attach ----------------------------------------------------------------------


def _attach(args: argparse.Namespace) -> int:
    from tui.app import DeskApp

    overrides = {"data.dir": str(args.data_dir)} if args.data_dir is not None else None
    settings = load_settings(args.config, overrides)
    directory = _served_directory(settings, args.session)
    control = read_control_file(directory)
    configure_logging(settings.log.level, json=True, stream=_attach_log(settings))

    async def attached() -> int:
        async with RemoteDesk(control["address"], control["token"]) as link:
            app = DeskApp(link)
            await app.run_async()
            return int(app.return_code or 0)

    code = anyio.run(attached)
    print(f"detached from session {directory.name}; it goes on running")
    return code


def _attach_log(settings: Settings) -> Any:
    directory = Path(settings.data.dir) / "logs"
    directory.mkdir(parents=True, exist_ok=True)
    return (directory / "attach.log").open("a", encoding="utf-8")


def _served_directory(settings: Settings, session: str | None) -> Path:
    root = journal_root(settings)
    if session is not None:
        directory = root / session
        if not (directory / CONTROL_FILE).is_file():
            raise AttachError(
                f"session {session!r} is not served: no {directory / CONTROL_FILE} "
                "(start it with `tickdeck serve --session NAME`)"
            )
        return directory
    served = sorted(
        root.glob(f"*/{CONTROL_FILE}"), key=lambda path: path.stat().st_mtime, reverse=True
    )
    if not served:
        raise AttachError(f"no served session under {root} (start one with `tickdeck serve`)")
    return served[0].parent
