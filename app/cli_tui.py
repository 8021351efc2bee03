"""``tickdeck tui``, ``tickdeck serve`` and ``tickdeck attach``: sessions with a terminal UI.

``tickdeck tui [--config FILE] [--session NAME] [--simulator] [--live --confirm-live]``
runs the session in a child process (``tickdeck serve`` with the resolved config,
its log in ``<data.dir>/logs/<session>.log``) and the terminal UI here, attached to
it: drawing never competes with the actors, and the UI cannot take the session down
with it. Quitting the UI stops the session cleanly (SIGINT: open orders cancelled
unless ``--keep-orders``, final snapshot). If the UI itself fails, ``tui.on_error``
decides: ``headless`` (the default) leaves the session running (``tickdeck attach``
reopens the UI; Ctrl-C stops it), ``stop`` stops it cleanly.

A bare ``tickdeck`` is the demo: a paper session on sample data against a loopback
simulator the session starts, with no internet and no keys.

``tickdeck serve [...same options...] [--port N | --unix PATH] [--duration S]`` runs
the session headless with the control API of ``app.serve``; ``tickdeck attach
[--session NAME]`` opens the same UI on it (the address and token come from the
session's ``control.json``). Closing an attached UI leaves the session running.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final, TextIO

import anyio

from app.cli_args import add_session_options
from app.cli_run import SessionStartError, check_live
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
from app.settings import Settings, load_settings, settings_to_toml
from tui.link import LinkError
from tui.remote import RemoteDesk
from venues.binance.errors import BinanceError
from venues.binance.signing import Credentials, credentials_from_env

__all__ = ["DEMO_OVERRIDES", "USER_ERRORS", "AttachError", "add_command", "run_demo", "run_tui"]

# The demo trades often enough to watch: a 3/8 crossover on one-minute bars, one bar a
# second (the simulator's default speed of 60), so the first trade comes within seconds.
DEMO_OVERRIDES: Final[dict[str, Any]] = {
    "strategy.params": {"fast": 3, "slow": 8, "quantity": "0.05"},
}


_SERVE_TIMEOUT: Final = 60.0  # seconds for a session to start serving (venue, recovery)


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
    add_session_options(parser)
    parser.add_argument(
        "--live", action="store_true",
        help="live trading (real money; needs a live config, env keys, confirmation)",
    )  # fmt: skip


# --- tickdeck tui and the demo ------------------------------------------------------------


def run_demo(ensure_data: Callable[[Settings], None]) -> int:
    """A bare ``tickdeck``: the paper demo under the terminal UI (sample data generated
    into the lake first, so the SQL and backtest screens have something to show)."""
    settings = load_settings(None, DEMO_OVERRIDES)
    ensure_data(settings)
    name = new_live_session_name("paper", settings)
    return run_tui(settings, name, simulator=True, credentials=None, cancel_on_stop=True)


def _tui(args: argparse.Namespace) -> int:
    settings, name, credentials = _resolve(args)
    return run_tui(
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


def run_tui(
    settings: Settings,
    name: str,
    *,
    simulator: bool,
    credentials: Credentials | None,
    cancel_on_stop: bool,
    app_type: Callable[..., Any] | None = None,
) -> int:
    """The session in a child process (``tickdeck serve``), the UI attached to it here:
    two processes, so drawing never competes with the actors for the interpreter, and a
    UI that fails cannot take the session with it. ``app_type`` is the UI (``DeskApp``
    unless given: a test gives one that fails). 0 when the UI was quit, 1 when it
    failed, 2 when the session did not start."""
    from app.desk_backtests import DeskBacktests

    if app_type is None:
        from tui.app import DeskApp  # Textual is loaded only by the commands that draw

        app_type = DeskApp
    logs = Path(settings.data.dir) / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    configure_logging(settings.log.level, json=True, stream=_append(logs / "attach.log"))
    config = (logs / f"{name}.config.toml").resolve()
    config.write_text(settings_to_toml(settings), encoding="utf-8")
    command = [
        sys.executable, "-m", "app.cli", "serve", "--config", str(config),
        "--session", name, "--port", "0",
    ]  # fmt: skip
    command += ["--simulator"] if simulator else []
    command += [] if cancel_on_stop else ["--keep-orders"]
    command += ["--live", "--confirm-live"] if credentials is not None else []
    print(f"starting session {name} (log: {logs / f'{name}.log'}) ...", flush=True)
    with _append(logs / f"{name}.log") as log, (logs / f"{name}.out").open("w") as out:
        session = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=out, stderr=log
        )  # fmt: skip
    try:
        control = _wait_served(journal_root(settings) / name, session)
    except AttachError:
        session.wait()
        _print_tail(logs / f"{name}.out", logs / f"{name}.log")
        return 2
    ui_failed = anyio.run(_attached_ui, app_type, control, DeskBacktests(settings))
    if ui_failed and settings.tui.on_error == "headless":
        print(
            f"the terminal UI failed; session {name} goes on headless in process "
            f"{session.pid} (tui.on_error = headless): `tickdeck attach --session {name}` "
            "opens the UI again; Ctrl-C stops the session cleanly.",
            file=sys.stderr,
        )
        with contextlib.suppress(KeyboardInterrupt):
            session.wait()
    if session.poll() is None:
        print(f"stopping session {name} ...", flush=True)
        session.send_signal(signal.SIGINT)
        with contextlib.suppress(KeyboardInterrupt):
            session.wait()
    _print_tail(logs / f"{name}.out")
    return 1 if ui_failed else 0


def _append(path: Path) -> TextIO:
    return path.open("a", encoding="utf-8")


def _wait_served(directory: Path, session: subprocess.Popen[bytes]) -> dict[str, str]:
    """The control file the child ``session`` writes once it serves (not a stale one)."""
    deadline = time.monotonic() + _SERVE_TIMEOUT
    while time.monotonic() < deadline:
        if session.poll() is not None:
            raise AttachError(f"the session exited with status {session.returncode}")
        with contextlib.suppress(LinkError):
            control = read_control_file(directory)
            if control["pid"] == str(session.pid):
                return control
        time.sleep(0.05)
    session.send_signal(signal.SIGINT)
    raise AttachError(f"the session did not serve within {_SERVE_TIMEOUT:g} s")


async def _attached_ui(
    app_type: Callable[..., Any], control: dict[str, str], launcher: Any
) -> bool:
    """Run the UI on the served session; True if the UI failed."""
    async with RemoteDesk(control["address"], control["token"]) as link:
        app = app_type(link, backtest_launcher=launcher)
        try:
            await app.run_async()
        except Exception as error:
            print(f"tickdeck: the terminal UI failed: {error}", file=sys.stderr)
            return True
        return bool(app.return_code)


def _print_tail(*paths: Path, lines: int = 12) -> None:
    for path in paths:
        with contextlib.suppress(OSError):
            print("\n".join(path.read_text(encoding="utf-8").splitlines()[-lines:]))


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
    tail = LogTail()
    configure_logging(settings.log.level, json=settings.log.json, stream=sys.stderr, tail=tail)
    result = anyio.run(_served, args, settings, name, credentials, tail)
    _print_result(result)
    return 0


async def _served(
    args: argparse.Namespace,
    settings: Settings,
    name: str,
    credentials: Credentials | None,
    tail: LogTail,
) -> SessionResult:
    monitor = DeskMonitor(tail)
    directory = journal_root(settings) / name

    def announce(address: str) -> None:
        print(
            f"serving session {name} at {address}: `tickdeck attach --session {name}` opens "
            f"the UI (token in {directory / CONTROL_FILE}); Ctrl-C stops it",
            flush=True,
        )

    server = ControlServer(monitor, settings.control, announce)
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
    try:
        if credentials is not None:
            return await run_live_session(settings, name, credentials, **options)
        return await run_paper_session(settings, name, **options)
    except BinanceError as error:
        raise SessionStartError(
            f"venue at {settings.binance.base_url}: {error} (is `tickdeck simulator` running? "
            "--simulator starts one)"
        ) from None


# --- tickdeck attach ----------------------------------------------------------------------


def _attach(args: argparse.Namespace) -> int:
    from tui.app import DeskApp

    overrides = {"data.dir": str(args.data_dir)} if args.data_dir is not None else None
    settings = load_settings(args.config, overrides)
    directory = _served_directory(settings, args.session)
    control = read_control_file(directory)
    logs = Path(settings.data.dir) / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    configure_logging(settings.log.level, json=True, stream=_append(logs / "attach.log"))
    failed = anyio.run(_attached_ui, DeskApp, control, None)
    print(f"detached from session {directory.name}; it goes on running")
    return 1 if failed else 0


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
