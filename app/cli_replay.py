"""``tickdeck replay SESSION [--until SEQ] [--verify]``: a session's state rebuilt from its
journal, read-only, and the strategies' decisions checked against what it journaled.

Replay is DESIGN.md §8's fourth mode: market data from the journal, no
execution, the simulated clock, the journal only read (a torn tail is left in
place and named). Without ``--verify`` it rebuilds every actor from the newest
snapshot at or before ``--until`` and the records after it, and prints the
books, the risk state and the orders as they stood. With ``--verify`` it runs
the strategies again over the journaled inputs and reports the first decision
that differs; ``--param`` tries a variant of the session's strategy over the
same inputs ("would fast=12 have traded the same?").
"""

from __future__ import annotations

import argparse
import datetime as dt
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import strategies
from actors.accountant import Accountant
from actors.clock import SimClock
from actors.order_manager import OrderManager
from actors.risk import RiskManager
from actors.scheduler import DeterministicScheduler
from actors.strategy import StrategyHost
from app.backtest import backtest_instruments, build_backtest
from app.cli_args import add_data_dir, param_arg, start_command
from app.journaled import UnknownSessionError, journal_root, resume_settings, session_mode
from app.session import build_paper_session, load_saved_instruments
from app.settings import Settings
from journal.errors import JournalError
from journal.recovery import RecoveryReport, recover
from journal.verify import VerifyResult, verify_decisions

__all__ = ["USER_ERRORS", "add_command", "run_replay"]

USER_ERRORS: tuple[type[Exception], ...] = (JournalError, UnknownSessionError)


def add_command(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    replay = commands.add_parser(
        "replay", help="rebuild a session's state from its journal, or verify its decisions"
    )
    replay.add_argument("session", help="the journaled session (see `tickdeck journal ls`)")
    replay.add_argument("--until", type=int, metavar="SEQ", help="stop after this seq")
    replay.add_argument(
        "--verify", action="store_true", help="re-run the strategies and compare decisions"
    )
    replay.add_argument(
        "--param", type=param_arg, action="append", default=[], metavar="NAME=VALUE",
        help="with --verify: a strategy parameter to change, repeatable",
    )  # fmt: skip
    add_data_dir(replay)
    replay.set_defaults(handler=run_replay)


def run_replay(args: argparse.Namespace) -> int:
    settings = resume_settings(Path(start_command(args.data_dir).data.dir), args.session)
    if args.until is not None and args.until < 1:
        raise UnknownSessionError(f"--until must be a seq >= 1, got {args.until}")
    directory = journal_root(settings) / args.session
    if args.verify:
        return _verify(settings, directory, args)
    if args.param:
        raise UnknownSessionError("--param only applies with --verify")
    mode = session_mode(directory)
    if mode == "backtest":
        session = build_backtest(settings)
        scheduler = session.scheduler
        report = recover(directory, args.session, scheduler, until=args.until)
        books = _Books(session.accountant, session.order_manager, session.risk)
    elif mode == "paper":
        paper = build_paper_session(settings, load_saved_instruments(directory))
        scheduler = DeterministicScheduler(paper.bus, SimClock(), paper.policy)
        report = recover(directory, args.session, scheduler, until=args.until, live=True)
        books = _Books(paper.accountant, paper.order_manager, paper.risk)
    else:
        raise UnknownSessionError(
            f"{directory}: replaying the state of a {mode} session offline is not supported "
            "yet (its venue's instruments and account come from the venue); --verify works"
        )
    print(_describe_state(scheduler.clock.now(), books, report))
    return 0


@dataclass(frozen=True)
class _Books:
    accountant: Accountant
    order_manager: OrderManager
    risk: RiskManager


def _verify(settings: Settings, directory: Path, args: argparse.Namespace) -> int:
    params = {**settings.strategy.params, **dict(args.param)}
    run = settings.backtest
    plugin = strategies.create(settings.strategy.name, params, run.symbols, run.interval)
    host = StrategyHost([plugin], backtest_instruments(settings))
    result = verify_decisions(directory, host, until=args.until)
    print(_describe_verify(settings.strategy.name, params, result))
    return 1 if result.divergence is not None else 0


def _describe_verify(name: str, params: dict[str, object], result: VerifyResult) -> str:
    shown = ", ".join(f"{key}={value}" for key, value in sorted(params.items()))
    lines = [
        f"verify {name} ({shown}) over seqs 1..{result.last_seq}: {result.inputs:,} inputs, "
        f"{result.decisions:,} decisions matched"
    ]
    if result.divergence is not None:
        lines.append(result.divergence.describe())
    else:
        lines.append("no divergence: every journaled decision was made again, identically")
    if result.pending:
        lines.append(
            f"{result.pending} decisions made on the last inputs are not in the journal "
            "(it ends before they were journaled)"
        )
    return "\n".join(lines)


def _describe_state(clock: int, books: _Books, report: RecoveryReport) -> str:
    at = dt.datetime.fromtimestamp(clock / 1e9, dt.UTC).isoformat(timespec="seconds")
    accountant, order_manager, risk = books.accountant, books.order_manager, books.risk
    lines = [
        f"session {report.session} at seq {report.last_seq:,} ({at}): from the snapshot at seq "
        f"{report.snapshot_seq:,}, {report.replayed_frames:,} frames replayed in "
        f"{report.seconds:.2f} s",
    ]
    if report.torn_tail is not None:
        lines.append(
            f"  the journal ends in a torn tail at seq {report.torn_tail.seq} "
            f"({report.torn_tail.bytes_cut} bytes, left in place)"
        )
    lines += [f"  refused: {refusal}" for refusal in report.refused_snapshots]
    lines.append(f"risk      {risk.state.value}")
    lines.append(
        f"cash      {accountant.cash} {accountant.quote_asset}   realized {accountant.realized_pnl}"
        f"   fees {accountant.fees}"
    )
    positions = {symbol: qty for symbol, qty in sorted(accountant.positions.items()) if qty}
    lines.append("positions " + (", ".join(f"{s} {q}" for s, q in positions.items()) or "flat"))
    statuses = Counter(order.status.value for order in order_manager.orders.values())
    lines.append(
        "orders    " + (", ".join(f"{n} {s}" for s, n in sorted(statuses.items())) or "none")
    )
    for order in order_manager.open_orders():
        ticket = order.ticket
        lines.append(
            f"  open    {order.client_order_id} {ticket.side.value} {ticket.quantity} "
            f"{ticket.symbol} {ticket.order_type.value} {order.status.value}"
        )
    return "\n".join(lines)
