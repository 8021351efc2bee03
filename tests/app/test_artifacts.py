"""Run artifacts: Parquet tables that DuckDB reads with exact decimals equal to what the run
recorded, a manifest pinning every input by sha256 and row count, metrics.json with every
figure, and a fingerprint that any change to any fill changes."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import msgspec
import pyarrow.parquet as pq
import pytest

import app.backtest
from actors.messages import EquityMarked, Fill, Liquidity, PositionChanged, Side
from app.artifacts import OrderRow, fingerprint, write_structs
from app.backtest import BacktestResult, BacktestSession
from app.settings import load_settings
from storage.sample import write_sample
from tests.app.run_outputs import METRIC_NAMES
from tests.factories import equity_marked

START = dt.date(2024, 1, 1)
END = dt.date(2024, 1, 3)
EXACT = "DECIMAL(38,18)"
INSTANT = ("TIMESTAMPTZ_NS", "TIMESTAMP WITH TIME ZONE")  # DuckDB >= 1.2 keeps the ns


@dataclass(frozen=True)
class Run:
    data_dir: Path
    result: BacktestResult
    session: BacktestSession

    @property
    def run_dir(self) -> Path:
        assert self.result.run_dir is not None
        return self.result.run_dir


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    """A backtest of two days, from a lake that holds a third day it must not read; the
    session that ``run_backtest`` built is kept, to compare the files with its records."""
    data_dir = tmp_path_factory.mktemp("data")
    write_sample(data_dir, "BTCUSDT", START, 3, seed=7)
    environment = {k: v for k, v in os.environ.items() if k.upper().startswith("TICKDECK_")}
    sessions: list[BacktestSession] = []
    build = app.backtest.build_backtest

    def keep(settings: Any, **options: Any) -> BacktestSession:
        sessions.append(build(settings, **options))
        return sessions[-1]

    with pytest.MonkeyPatch.context() as patch:
        for name in environment:
            patch.delenv(name)
        patch.setattr(app.backtest, "build_backtest", keep)
        settings = load_settings(
            None,
            {
                "data.dir": str(data_dir),
                "backtest.start": START,
                "backtest.end": END,
                "strategy.params": {"fast": 5, "slow": 20, "quantity": "0.01"},
                "exchange.slippage_noise_bps": 3,
            },
        )
        result = app.backtest.run_backtest(settings)
    (session,) = sessions
    assert result.fills > 20
    yield Run(data_dir, result, session)


def _table(path: Path) -> duckdb.DuckDBPyRelation:
    return duckdb.sql("SELECT * FROM read_parquet($path)", params={"path": str(path)})


def _types(path: Path) -> dict[str, str]:
    relation = _table(path)
    return {name: str(kind) for name, kind in zip(relation.columns, relation.types, strict=True)}


def _rows(path: Path, columns: list[str]) -> list[tuple[Any, ...]]:
    """Rows in file order, timestamps as epoch nanoseconds."""
    selected = ", ".join(f"epoch_ns({c})" if c == "ts" or c.endswith("_ts") else c for c in columns)
    query = f"SELECT {selected} FROM read_parquet($path)"
    return duckdb.sql(query, params={"path": str(path)}).fetchall()


def _field_names(struct_type: type) -> list[str]:
    return [field.name for field in msgspec.structs.fields(struct_type)]


def _as_row(struct: msgspec.Struct, columns: list[str]) -> tuple[Any, ...]:
    return tuple(
        value.value if isinstance(value, Side | Liquidity) else value
        for value in (getattr(struct, column) for column in columns)
    )


# --- tables -------------------------------------------------------------------------------


def test_fills_parquet_holds_exactly_the_recorded_fills(run: Run) -> None:
    path = run.run_dir / "fills.parquet"
    columns = _field_names(Fill)
    fills = run.session.recorder.fills

    assert _table(path).columns == columns
    types = _types(path)
    assert [types[c] for c in ("price", "quantity", "cumulative_quantity", "fee")] == [EXACT] * 4
    assert types["ts"] in INSTANT
    assert _rows(path, columns) == [_as_row(fill, columns) for fill in fills]
    [(fees,)] = duckdb.sql(
        "SELECT sum(fee) FROM read_parquet($p)", params={"p": str(path)}
    ).fetchall()
    assert fees == sum(fill.fee for fill in fills) == run.session.accountant.fees


def test_positions_and_equity_parquet_hold_exactly_the_recorded_books(run: Run) -> None:
    recorder = run.session.recorder
    for name, struct_type, records in [
        ("positions.parquet", PositionChanged, recorder.positions),
        ("equity.parquet", EquityMarked, recorder.equity),
    ]:
        path = run.run_dir / name
        columns = _field_names(struct_type)
        assert _table(path).columns == columns, name
        types = _types(path)
        assert all(types[c] == EXACT for c in columns if c not in ("ts", "symbol")), types
        assert _rows(path, columns) == [_as_row(record, columns) for record in records], name
    assert len(recorder.equity) == run.result.bars


def test_orders_parquet_holds_every_order_in_its_final_state(run: Run) -> None:
    path = run.run_dir / "orders.parquet"
    columns = _field_names(OrderRow)
    orders = list(run.session.order_manager.orders.values())

    assert _table(path).columns == columns
    types = _types(path)
    assert [types[c] for c in ("quantity", "limit_price", "filled_quantity")] == [EXACT] * 3
    assert types["submitted_ts"] in INSTANT and types["updated_ts"] in INSTANT
    expected = [
        (
            order.client_order_id,
            order.ticket.side.value,
            order.ticket.order_type.value,
            order.ticket.quantity,
            None,
            order.status.value,
            order.filled_quantity,
            order.average_fill_price.quantize(Decimal("1e-18")) if order.filled_quantity else None,
            order.created_ts,
            order.history[-1].ts,
        )
        for order in orders
    ]
    selected = [
        "client_order_id", "side", "order_type", "quantity", "limit_price", "status",
        "filled_quantity", "average_price", "submitted_ts", "updated_ts",
    ]  # fmt: skip
    assert _rows(path, selected) == expected
    assert len(orders) == len({fill.client_order_id for fill in run.session.recorder.fills})


def test_decimals_keep_every_digit_and_none_becomes_null(tmp_path: Path) -> None:
    row = OrderRow(
        client_order_id="a", strategy="s", symbol="BTCUSDT", side="BUY", order_type="LIMIT",
        quantity=Decimal("0.000000000000000001"), limit_price=None, time_in_force="GTC",
        status="NEW", filled_quantity=Decimal("1234567890.123456789012345678"),
        average_price=Decimal("0.1"), submitted_ts=1, updated_ts=2,
    )  # fmt: skip
    path = tmp_path / "orders.parquet"

    write_structs(path, [row], OrderRow)

    columns = ["quantity", "limit_price", "filled_quantity", "average_price"]
    assert _rows(path, columns) == [(row.quantity, None, row.filled_quantity, row.average_price)]


def test_large_amounts_are_written_exactly(tmp_path: Path) -> None:
    mark = equity_marked("20000000000.5", ts=1)
    path = tmp_path / "equity.parquet"

    write_structs(path, [mark], EquityMarked)

    assert _rows(path, ["cash", "equity"]) == [(mark.cash, mark.equity)]


def test_an_average_with_more_than_18_places_is_rounded_at_the_18th(tmp_path: Path) -> None:
    average = Decimal("100.1234567890123456789")  # 19 places: what a division leaves
    row = OrderRow(
        client_order_id="a", strategy="s", symbol="BTCUSDT", side="BUY", order_type="MARKET",
        quantity=Decimal("1"), limit_price=None, time_in_force="GTC", status="FILLED",
        filled_quantity=Decimal("1"), average_price=average, submitted_ts=1, updated_ts=2,
    )  # fmt: skip
    path = tmp_path / "orders.parquet"

    write_structs(path, [row], OrderRow)

    assert _rows(path, ["average_price"]) == [(Decimal("100.123456789012345679"),)]


def test_an_amount_beyond_20_integer_digits_is_refused_naming_it(tmp_path: Path) -> None:
    mark = equity_marked("123456789012345678901", ts=1)

    with pytest.raises(ValueError, match=r"amount 123456789012345678901.* more than 20 integer"):
        write_structs(tmp_path / "equity.parquet", [mark], EquityMarked)


# --- manifest and metrics -----------------------------------------------------------------


def test_the_manifest_pins_every_input_file_by_sha256_and_row_count(run: Run) -> None:
    manifest = json.loads((run.run_dir / "manifest.json").read_text(encoding="utf-8"))
    lake = run.data_dir / "lake" / "bars_1m" / "symbol=BTCUSDT"
    read = [lake / f"date={day}" / "part-0.parquet" for day in ("2024-01-01", "2024-01-02")]

    expected = [
        {
            "path": path.relative_to(run.data_dir).as_posix(),
            "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
            "rows": pq.read_metadata(path).num_rows,
        }
        for path in read
    ]
    assert manifest["inputs"] == expected
    assert all(item["rows"] == 1440 for item in expected)
    assert (lake / "date=2024-01-03").is_dir()  # in the lake, outside the range: not an input
    assert manifest["bars"] == run.result.bars == 2 * 1440
    assert manifest["fills"] == len(run.session.recorder.fills)
    assert manifest["fingerprint"] == run.result.fingerprint
    assert (manifest["start"], manifest["end"]) == ("2024-01-01", "2024-01-03")
    assert (manifest["symbols"], manifest["interval"]) == (["BTCUSDT"], "1m")
    assert (manifest["strategy"], manifest["seed"]) == ("sma_cross", 0)
    assert manifest["code_version"]["tickdeck"]
    assert manifest["run_id"] == run.run_dir.name


def test_metrics_json_has_every_figure_and_the_fingerprint(run: Run) -> None:
    metrics = json.loads((run.run_dir / "metrics.json").read_text(encoding="utf-8"))

    missing = [name for name in METRIC_NAMES if name not in metrics]
    assert missing == []
    for name in METRIC_NAMES:
        value = metrics[name]
        assert isinstance(value, int | float) and math.isfinite(value), name
    assert metrics["trades"] == len(run.session.accountant.round_trips) > 0
    assert metrics["fees_paid"] == pytest.approx(float(run.session.accountant.fees), rel=1e-12)
    assert metrics["fingerprint"] == run.result.fingerprint
    assert {k: v for k, v in metrics.items() if k != "fingerprint"} == run.result.metrics


# --- fingerprint --------------------------------------------------------------------------


def _one_tick_more(fill: Fill) -> Fill:
    return msgspec.structs.replace(fill, price=fill.price + Decimal("0.01"))


CHANGES: dict[str, Callable[[Fill], Fill]] = {
    "price": _one_tick_more,
    "quantity": lambda f: msgspec.structs.replace(f, quantity=f.quantity + Decimal("0.00001")),
    "fee": lambda f: msgspec.structs.replace(f, fee=f.fee + Decimal("0.00000001")),
    "time": lambda f: msgspec.structs.replace(f, ts=f.ts + 1),
    "side": lambda f: msgspec.structs.replace(
        f, side=Side.SELL if f.side is Side.BUY else Side.BUY
    ),
    "order": lambda f: msgspec.structs.replace(f, client_order_id=f.client_order_id + "x"),
    "trade": lambda f: msgspec.structs.replace(f, trade_id=f.trade_id + "0"),
    "liquidity": lambda f: msgspec.structs.replace(f, liquidity=Liquidity.MAKER),
}


@pytest.mark.parametrize("change", CHANGES.values(), ids=CHANGES.keys())
def test_the_fingerprint_changes_when_one_fill_changes(
    run: Run, change: Callable[[Fill], Fill]
) -> None:
    fills = list(run.session.recorder.fills)
    middle = len(fills) // 2
    changed = [*fills[:middle], change(fills[middle]), *fills[middle + 1 :]]

    assert changed[middle] != fills[middle]
    assert fingerprint(changed) != fingerprint(fills) == run.result.fingerprint


def test_the_fingerprint_changes_when_a_fill_is_lost_or_moved(run: Run) -> None:
    fills = list(run.session.recorder.fills)
    swapped = [fills[1], fills[0], *fills[2:]]

    assert fingerprint(fills[:-1]) != fingerprint(fills)
    assert fingerprint(swapped) != fingerprint(fills)
    assert fingerprint([*fills, fills[-1]]) != fingerprint(fills)


def test_the_fingerprint_depends_on_the_fills_values_only(run: Run) -> None:
    fills = run.session.recorder.fills
    copies = [msgspec.msgpack.decode(msgspec.msgpack.encode(fill), type=Fill) for fill in fills]

    assert copies == fills and copies[0] is not fills[0]
    assert fingerprint(copies) == fingerprint(fills)
