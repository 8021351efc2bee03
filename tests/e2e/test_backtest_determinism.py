"""Whole backtests: same inputs and config give byte-identical run artifacts (DESIGN.md §10.1),
and the books reconcile exactly with the fills (§10.4)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import defaultdict, deque
from decimal import Context, Decimal, Inexact, localcontext
from pathlib import Path
from typing import Any

from actors.messages import Bar, EquityMarked, Fill, PositionChanged, Side, VenueSnapshot
from app.artifacts import WALL_CLOCK_FIELDS, fingerprint
from app.backtest import run_backtest
from app.settings import load_settings
from tests.app.run_outputs import RUN_FILES
from tests.e2e.conftest import (
    BOTH,
    DAYS,
    END,
    PARAMS,
    START,
    backtest_settings,
    of_type,
    run_session,
)

NOISY = {"exchange.slippage_noise_bps": 5, "backtest.seed": 11}
EXACT = Context(prec=64, traps=[Inexact])


def _manifest_without_wall_clock(run_dir: Path) -> dict[str, Any]:
    manifest = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
    for name in WALL_CLOCK_FIELDS:
        del manifest[name]  # a KeyError here means the manifest lost a field
    return manifest


def _assert_same_artifacts(first: Path, second: Path) -> None:
    assert first != second
    assert sorted(path.name for path in first.iterdir()) == list(RUN_FILES)
    assert sorted(path.name for path in second.iterdir()) == list(RUN_FILES)
    for name in RUN_FILES:
        if name != "manifest.json":
            assert (first / name).read_bytes() == (second / name).read_bytes(), name
    assert _manifest_without_wall_clock(first) == _manifest_without_wall_clock(second)


def test_two_runs_of_one_config_write_byte_identical_artifacts(two_symbol_data_dir: Path) -> None:
    first = run_backtest(backtest_settings(two_symbol_data_dir, NOISY, symbols=BOTH))
    second = run_backtest(backtest_settings(two_symbol_data_dir, NOISY, symbols=BOTH))

    assert first.run_dir is not None and second.run_dir is not None
    _assert_same_artifacts(first.run_dir, second.run_dir)
    assert first.fingerprint == second.fingerprint
    metrics = json.loads((first.run_dir / "metrics.json").read_text(encoding="utf-8"))
    manifest = _manifest_without_wall_clock(first.run_dir)
    assert metrics["fingerprint"] == manifest["fingerprint"] == first.fingerprint
    assert first.fills > 0 and first.bars == len(BOTH) * DAYS * 1440


def test_artifacts_do_not_depend_on_the_process_or_its_hash_seed(
    two_symbol_data_dir: Path, tmp_path: Path
) -> None:
    """Set or dict-of-set iteration leaking into an output shows up only across
    processes, where string hashing is seeded differently."""
    config = tmp_path / "noisy.toml"
    config.write_text("[exchange]\nslippage_noise_bps = 5\n", encoding="utf-8")
    argv = [
        sys.executable, "-m", "app.cli", "backtest", "--config", str(config),
        "--data-dir", str(two_symbol_data_dir), "--symbol", ",".join(BOTH),
        "--start", START.isoformat(), "--end", END.isoformat(), "--seed", "11",
        "--param", "fast=5", "--param", "slow=20",
    ]  # fmt: skip
    environment = {k: v for k, v in os.environ.items() if not k.startswith("TICKDECK_")}
    run_dirs = []
    for hash_seed in ("0", "1"):  # these order {"BTCUSDT", "ETHUSDT"} differently
        done = subprocess.run(
            argv,
            env={**environment, "PYTHONHASHSEED": hash_seed},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        run_dirs.append(Path(done.stdout.rsplit("run dir", 1)[1].strip()))

    _assert_same_artifacts(*run_dirs)


def test_the_saved_config_reproduces_the_run(data_dir: Path) -> None:
    first = run_backtest(backtest_settings(data_dir, NOISY))
    assert first.run_dir is not None

    again = run_backtest(load_settings(first.run_dir / "config.toml"))

    assert again.run_dir is not None
    _assert_same_artifacts(first.run_dir, again.run_dir)


def test_another_seed_with_slippage_noise_gives_another_fingerprint(data_dir: Path) -> None:
    noisy = {"exchange.slippage_noise_bps": 5}
    one = run_backtest(backtest_settings(data_dir, {**noisy, "backtest.seed": 1}), write=False)
    two = run_backtest(backtest_settings(data_dir, {**noisy, "backtest.seed": 2}), write=False)

    assert one.fills > 0
    assert one.fingerprint != two.fingerprint


def test_another_strategy_parameter_gives_other_fills(data_dir: Path) -> None:
    five, _ = run_session(backtest_settings(data_dir))
    six, _ = run_session(backtest_settings(data_dir, {"strategy.params": {**PARAMS, "fast": 6}}))

    assert five.recorder.fills and six.recorder.fills
    assert five.recorder.fills != six.recorder.fills
    assert fingerprint(five.recorder.fills) != fingerprint(six.recorder.fills)


def _fifo_realized(fills: list[Fill]) -> Decimal:
    """Realized PnL (gross of fees) by first-in-first-out lots, long or short."""
    lots: dict[str, deque[list[Decimal]]] = defaultdict(deque)
    realized = Decimal(0)
    for fill in fills:
        remaining = fill.quantity if fill.side is Side.BUY else -fill.quantity
        book = lots[fill.symbol]
        while remaining and book and (book[0][0] > 0) != (remaining > 0):
            quantity, price = book[0]
            take = min(abs(remaining), abs(quantity))
            signed = take if quantity > 0 else -take
            realized += (fill.price - price) * signed
            remaining += signed
            book[0][0] -= signed
            if not book[0][0]:
                book.popleft()
        if remaining:
            book.append([remaining, fill.price])
    return realized


def test_cash_positions_fees_and_pnl_reconcile_exactly_with_the_fills(
    two_symbol_data_dir: Path,
) -> None:
    settings = backtest_settings(
        two_symbol_data_dir, {**NOISY, "reconciler.interval_seconds": 900}, symbols=BOTH
    )
    session, seen = run_session(settings)
    fills = session.recorder.fills
    assert {fill.symbol for fill in fills} == set(BOTH)

    with localcontext(EXACT):
        cash = settings.backtest.initial_cash
        positions: dict[str, Decimal] = defaultdict(Decimal)
        fees = Decimal(0)
        for fill in fills:
            notional = fill.price * fill.quantity
            cash += notional if fill.side is Side.SELL else -notional
            cash -= fill.fee
            fees += fill.fee
            positions[fill.symbol] += fill.quantity if fill.side is Side.BUY else -fill.quantity
        realized = _fifo_realized(fills)
        last_close = {bar.symbol: Decimal(repr(bar.close)) for bar in of_type(seen, Bar)}
        equity = cash + sum(positions[symbol] * last_close[symbol] for symbol in positions)

    accountant = session.accountant
    assert accountant.cash == cash
    assert accountant.fees == fees
    assert accountant.positions == {symbol: q for symbol, q in positions.items() if q}
    assert accountant.realized_pnl == realized
    last_changes = {change.symbol: change for change in of_type(seen, PositionChanged)}
    assert sum(change.realized_pnl for change in last_changes.values()) == realized
    last_mark: EquityMarked = session.recorder.equity[-1]
    assert (last_mark.cash, last_mark.fees, last_mark.equity) == (cash, fees, equity)

    balances = session.bus.actors["exchange"].balances  # type: ignore[attr-defined]
    assert balances["USDT"] == cash
    assert balances.get("BTC", Decimal(0)) == positions["BTCUSDT"]
    assert balances.get("ETH", Decimal(0)) == positions["ETHUSDT"]

    assert session.recorder.drifts == []
    assert len(of_type(seen, VenueSnapshot)) >= DAYS * 24 * 4  # every 15 minutes, and at the end
