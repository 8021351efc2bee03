"""Journaled backtests: every message on the bus written ahead, and the way back after a kill.

A journaled backtest is a session: ``<data.dir>/journal/<session>/`` holds its
resolved config, its segments and its snapshots. Killed at any moment, it is
resumed with ``tickdeck backtest --resume SESSION``: recovery restores the
newest snapshot, replays the records after it through the same actors, lets
any cascade the kill cut finish, and the feed goes on with the bar after the
last one the journal holds. The run's results are those of a run that was
never interrupted.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING

import structlog

from actors.messages import BarUpdate, EndOfData, Message, Recovered
from app.settings import ConfigError, Settings, load_settings, settings_to_toml
from journal.reader import truncate_torn_tail
from journal.recovery import RecoveryReport, recover, write_report
from journal.tap import JournalTap
from journal.writer import BlockingJournalWriter

if TYPE_CHECKING:
    from app.backtest import BacktestSession

__all__ = [
    "CONFIG_FILE",
    "UnknownSessionError",
    "journal_root",
    "new_session_name",
    "resume_settings",
    "run_journaled",
    "save_config",
    "session_mode",
]

CONFIG_FILE = "config.toml"
MODE_FILE = "mode"


def session_mode(directory: Path) -> str:
    """How the session in ``directory`` ran: backtest (also a session written before the
    mode was recorded), paper or live."""
    path = directory / MODE_FILE
    return path.read_text(encoding="utf-8").strip() if path.is_file() else "backtest"


_log = structlog.get_logger(__name__)


class UnknownSessionError(ValueError):
    """``--resume`` of a session the data directory does not hold."""


def journal_root(settings: Settings) -> Path:
    return Path(settings.data.dir) / "journal"


def new_session_name(settings: Settings, now: dt.datetime) -> str:
    return f"backtest-{now.strftime('%Y%m%dT%H%M%SZ')}-{settings.strategy.name}"


def resume_settings(data_dir: Path, session: str) -> Settings:
    """The settings a session was started with (its saved config), in ``data_dir``."""
    root = data_dir / "journal"
    config = root / session / CONFIG_FILE
    if not config.is_file():
        sessions = root.iterdir() if root.is_dir() else ()
        known = sorted(path.name for path in sessions if (path / CONFIG_FILE).is_file())
        raise UnknownSessionError(
            f"no journaled session {session!r} in {root} (known: {', '.join(known) or 'none'})"
        )
    try:
        return load_settings(config, {"data.dir": str(data_dir)})
    except ConfigError as error:
        raise ConfigError(f"{config}: {error}") from error


def save_config(settings: Settings, directory: Path, mode: str = "backtest") -> None:
    """The resolved config beside the journal, whole or not at all: a session exists
    once its config does. ``mode`` (backtest, paper, live) tells a replay which actors
    the journal's records were delivered to."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / MODE_FILE).write_text(mode + "\n", encoding="utf-8")
    config = directory / CONFIG_FILE
    staged = config.with_name(CONFIG_FILE + ".tmp")
    staged.write_text(settings_to_toml(settings), encoding="utf-8")
    staged.replace(config)


def run_journaled(
    session: BacktestSession, settings: Settings, name: str, *, resume: bool
) -> RecoveryReport | None:
    """Run a built backtest ``session`` with its journal ``name``: fresh, or (``resume``)
    recovered from what the journal holds."""
    directory = journal_root(settings) / name
    if not resume:
        config = directory / CONFIG_FILE
        if config.exists():
            raise UnknownSessionError(f"session {name!r} exists in {directory.parent}: resume it")
        save_config(settings, directory)
    options = settings.journal
    scheduler = session.scheduler
    torn = truncate_torn_tail(directory) if resume else None
    with BlockingJournalWriter(
        journal_root(settings),
        name,
        segment_bytes=options.segment_mb * 1024 * 1024,
        max_batch_frames=options.batch_frames,
    ) as writer:
        tap = JournalTap(writer, session.bus, scheduler.clock, options.snapshot_every)
        report = None
        finished = False
        if resume:
            feed = session.feed

            def on_source(message: Message) -> None:
                nonlocal finished
                if type(message) is BarUpdate:
                    feed.mark_emitted(message)
                elif type(message) is EndOfData:
                    finished = True

            def on_history(message: Message) -> None:
                nonlocal finished
                session.recorder.take(message)
                if type(message) is EndOfData:
                    finished = True

            report = recover(
                directory,
                name,
                scheduler,
                on_source=on_source,
                on_history=on_history,
                torn_tail=torn,
            )
            tap.snapshot_seq = report.snapshot_seq
            tap.attach()
            scheduler.resume()
            scheduler.publish(
                Recovered(
                    ts=scheduler.clock.now(),
                    session=name,
                    snapshot_seq=report.snapshot_seq,
                    last_seq=report.last_seq,
                )
            )
            write_report(directory, report)
        else:
            tap.attach()
            scheduler.start()
        if not finished:
            messages = tap.quiet_points(session.feed.messages(), lambda: scheduler.stopping)
            scheduler.run_messages(messages)
            scheduler.finish()
        tap.snapshot()
    _log.info("journal.session_closed", session=name, last_seq=writer.last_seq)
    return report
