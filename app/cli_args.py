"""What the command modules (``app/cli_<name>.py``) share: argument types (a day, a
strategy parameter), the data directory and session options, and the settings they
start from."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

from app.logs import configure_logging
from app.settings import Settings, StrategyParam, decode_param, load_settings

__all__ = [
    "add_data_dir",
    "add_session_options",
    "date_arg",
    "load_command_settings",
    "param_arg",
    "start_command",
]


def date_arg(text: str) -> dt.date:
    """argparse type of a UTC day, ``YYYY-MM-DD``; a bad one is a one-line usage error."""
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date YYYY-MM-DD, got {text!r}") from None


def load_command_settings(data_dir: Path | None = None) -> Settings:
    """The settings, with a command's ``--data-dir`` (when given) over the configured one."""
    overrides = {"data.dir": str(data_dir)} if data_dir is not None else None
    return load_settings(None, overrides)


def start_command(data_dir: Path | None = None) -> Settings:
    """``load_command_settings``, then logging configured from them.

    Log events go to stderr, never into the command's output (a CSV or JSON on
    stdout must stay parseable).
    """
    settings = load_command_settings(data_dir)
    configure_logging(settings.log.level, json=settings.log.json, stream=sys.stderr)
    return settings


def param_arg(text: str) -> tuple[str, StrategyParam]:
    """``NAME=VALUE``, the value typed as the environment's are (integers and booleans;
    anything else stays text, so a decimal keeps its exact digits)."""
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return name.strip(), decode_param(value.strip())


def add_data_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", type=Path, help="data directory (default: settings)")


def add_session_options(parser: argparse.ArgumentParser) -> None:
    """The options of every command that runs a paper or live session (run, tui, serve)."""
    parser.add_argument("--config", type=Path, help="a TOML config (see configs/paper.toml)")
    parser.add_argument("--session", help="session name: resumed if its journal exists")
    parser.add_argument("--data-dir", type=Path, help="data directory (journals live here)")
    parser.add_argument(
        "--keep-orders", action="store_true",
        help="leave open orders working at stop (default: cancel them)",
    )  # fmt: skip
    parser.add_argument(
        "--simulator", action="store_true",
        help="start a loopback exchange simulator in this process and trade against it",
    )  # fmt: skip
    parser.add_argument(
        "--confirm-live", action="store_true", help="confirm live trading without the prompt"
    )
