"""Run artifacts: the directory a backtest leaves behind, byte-identical for the same inputs.

``<data>/runs/<run_id>/`` holds the resolved config (``config.toml``), the
``manifest.json`` (inputs with sha256 and row counts, code version, seed, range,
wall-clock times), orders, fills, positions and equity as Parquet,
``metrics.json`` and the trade fingerprint. Everything but the manifest's
wall-clock fields is a pure function of the inputs and the config, which is
what lets two runs be compared byte for byte.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from decimal import Context, Decimal
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import msgspec
import pyarrow as pa
import pyarrow.parquet as pq

from actors.messages import Fill, encode

__all__ = [
    "WALL_CLOCK_FIELDS",
    "OrderRow",
    "code_version",
    "fingerprint",
    "new_run_dir",
    "write_json",
    "write_structs",
]

WALL_CLOCK_FIELDS = ("run_id", "started_at", "finished_at", "wall_seconds")
_DECIMAL = pa.decimal128(38, 18)
_SCALE = Decimal("1e-18")
_INTEGER_DIGITS = 20
_CONTEXT = Context(prec=60)
_TS = pa.timestamp("ns", tz="UTC")


class OrderRow(msgspec.Struct, frozen=True, kw_only=True):
    """An order's final state, as the run's orders table shows it."""

    client_order_id: str
    strategy: str
    symbol: str
    side: str
    order_type: str
    quantity: Decimal
    limit_price: Decimal | None
    time_in_force: str
    status: str
    filled_quantity: Decimal
    average_price: Decimal | None
    submitted_ts: int
    updated_ts: int


def fingerprint(fills: Iterable[Fill]) -> str:
    """sha256 over the ordered fills' canonical encoding: one string that changes if any
    fill's time, price, quantity, fee or order changes."""
    digest = hashlib.sha256()
    for fill in fills:
        digest.update(encode(fill))
    return digest.hexdigest()


def code_version() -> dict[str, str]:
    """The package version and, when run from a checkout, the git commit (with a dirty flag)."""
    try:
        package = version("tickdeck")
    except PackageNotFoundError:
        package = "unknown"
    info = {"tickdeck": package}
    root = Path(__file__).resolve().parents[1]
    if (root / ".git").exists():
        try:
            commit = subprocess.run(
                ["git", "-C", str(root), "rev-parse", "HEAD"],
                capture_output=True, text=True, check=True, timeout=5,
            ).stdout.strip()  # fmt: skip
            dirty = subprocess.run(
                ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                capture_output=True, text=True, check=True, timeout=5,
            ).stdout.strip()  # fmt: skip
            info["git_commit"] = commit + ("-dirty" if dirty else "")
        except (OSError, subprocess.SubprocessError):
            pass
    return info


def new_run_dir(runs_root: Path, stamp: str, label: str) -> Path:
    """A fresh run directory ``<stamp>-<label>``, suffixed if that name is taken."""
    runs_root.mkdir(parents=True, exist_ok=True)
    candidate = runs_root / f"{stamp}-{label}"
    n = 2
    while True:
        try:
            candidate.mkdir()
            return candidate
        except FileExistsError:
            candidate = runs_root / f"{stamp}-{label}-{n}"
            n += 1


def _decimals(values: Sequence[Decimal | None]) -> pa.Array:
    """Exact decimals at a fixed scale so DuckDB sums them exactly: 18 places hold any
    price, quantity or fee we produce (averages are rounded at the 18th place), and 20
    integer digits any amount; beyond that the column cannot hold it, and we say so.

    Arrow converts the values as they are when each fits the column exactly (it refuses
    any that would lose a digit): the common case, in half the time of scaling each
    first, which was most of the time a run directory took to write."""
    try:
        return pa.array(values, type=_DECIMAL)
    except pa.ArrowInvalid:
        pass  # a value to round at the 18th place, or too large: scale them and check
    scaled = [None if v is None else v.quantize(_SCALE, context=_CONTEXT) for v in values]
    for value in scaled:
        if value is not None and value.adjusted() >= _INTEGER_DIGITS:
            raise ValueError(f"amount {value} has more than {_INTEGER_DIGITS} integer digits")
    return pa.array(scaled, type=_DECIMAL)


def _column(name: str, kind: msgspec.inspect.Type, values: list[Any]) -> pa.Array:
    """One Parquet column for one struct field, typed for SQL: timestamps for ``ts`` and
    ``*_ts``, exact decimals for money and quantity, strings for enums."""
    if isinstance(kind, msgspec.inspect.UnionType):
        kind = next(t for t in kind.types if not isinstance(t, msgspec.inspect.NoneType))
    if name == "ts" or name.endswith("_ts"):
        return pa.array(values, type=_TS)
    if isinstance(kind, msgspec.inspect.DecimalType):
        return _decimals(values)
    if isinstance(kind, msgspec.inspect.EnumType):
        return pa.array([None if v is None else v.value for v in values], type=pa.string())
    return pa.array(values)


def write_structs(path: Path, rows: Sequence[msgspec.Struct], row_type: type) -> None:
    """Write structs of one type as a Parquet table, one column per field, in field order."""
    info = msgspec.inspect.type_info(row_type)
    assert isinstance(info, msgspec.inspect.StructType)
    columns = {
        field.name: _column(field.name, field.type, [getattr(r, field.name) for r in rows])
        for field in info.fields
    }
    pq.write_table(pa.table(columns), path, compression="zstd")


def write_json(path: Path, data: Mapping[str, Any]) -> None:
    """Sorted keys, fixed indentation, trailing newline: stable bytes for stable data."""
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
