"""Ingesting freqtrade, NautilusTrader and T_DEPTH files: real files, idempotence, bad rows."""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.feather as feather
import pyarrow.parquet as pq
import pytest

from actors.intervals import INTERVALS
from storage.datasets import dataset_spec
from storage.ingest import IngestReport
from storage.other_formats import (
    FormatPathError,
    ingest_format_files,
    ingest_freqtrade,
)
from tests.shared_fixtures import shared_fixtures
from tests.storage.test_ingest import assert_balanced, lake_rows, lake_state, only

MS = 1_000_000
FREQTRADE_ROWS = {
    "XRP_ETH-1m": 2469,
    "XRP_ETH-5m": 706,
    "XRP_ETH-trades": 12477,
    "XRP_USDT_USDT-1h-futures": 100,
    "XRP_USDT_USDT-1h-mark": 100,
    "XRP_USDT_USDT-5m-futures": 1999,
    "XRP_USDT_USDT-8h-funding_rate": 91,
    "XRP_USDT_USDT-8h-mark": 91,
}
EIGHT_HOURS_IN_LAKE = "8h" in INTERVALS


@pytest.fixture
def real_freqtrade() -> Path:
    return shared_fixtures() / "candles/freqtrade"


@pytest.fixture
def real_misc() -> Path:
    return shared_fixtures() / "binance_misc"


def sort_as_lake(dataset: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    spec, _ = dataset_spec(dataset)
    return sorted(rows, key=lambda r: tuple(r[c] for c in spec.sort))


# -- independent readings of the real files ----------------------------------------------


def _freqtrade_columns(path: Path) -> dict[str, list[Any]]:
    """The file's columns as Python values, times as int ns."""
    if path.suffix == ".feather":
        table = feather.read_table(path)
        columns = {name: table.column(name).to_pylist() for name in table.column_names}
        if "date" in columns:
            ns = table.column("date").cast(pa.timestamp("ns", tz="UTC")).cast(pa.int64())
            columns["time"] = ns.to_pylist()
        else:
            columns["time"] = [t * MS for t in columns["timestamp"]]
        return columns
    with path.open(newline="") as stream:
        records = list(csv.DictReader(stream))
    columns = {name: [r[name] for r in records] for name in records[0]}
    time = "open_time_ms" if "open_time_ms" in columns else "timestamp_ms"
    columns["time"] = [int(t) * MS for t in columns[time]]
    for name in ("open", "high", "low", "close", "price", "amount", "cost"):
        if name in columns:
            columns[name] = [float(v) for v in columns[name]]
    if "volume" in columns:
        columns["volume"] = [float(v) if v else math.nan for v in columns["volume"]]
    return columns


def expected_freqtrade(path: Path) -> tuple[str, str, list[dict[str, Any]]]:
    stem = path.stem
    symbol = "XRPETH" if stem.startswith("XRP_ETH") else "XRPUSDT"
    c = _freqtrade_columns(path)
    n = len(c["time"])
    if stem.endswith("-trades"):
        rows = [
            {"trade_id": int(c["id"][i]), "ts": c["time"][i], "price": c["price"][i],
             "quantity": c["amount"][i], "quote_quantity": c["cost"][i],
             "aggressor": c["side"][i].upper(), "is_best_match": None}
            for i in range(n)
        ]  # fmt: skip
        return "trades", symbol, sort_as_lake("trades", rows)
    if stem.endswith("-funding_rate"):
        rows = [
            {"ts": c["time"][i], "funding_interval_hours": 8, "rate": c["open"][i]}
            for i in range(n)
        ]
        return "um_funding", symbol, rows
    interval = stem.split("-")[1]
    dataset = {"mark": "um_mark_price_bars", "futures": "um_bars"}.get(stem.split("-")[-1], "bars")
    rows = [
        {"open_time": c["time"][i], "open": c["open"][i], "high": c["high"][i],
         "low": c["low"][i], "close": c["close"][i],
         "volume": 0.0 if math.isnan(c["volume"][i] or math.nan) else c["volume"][i],
         "quote_volume": 0.0, "trades": 0}
        for i in range(n)
    ]  # fmt: skip
    return f"{dataset}_{interval}", symbol, rows


# -- freqtrade: the real files -------------------------------------------------------------


def test_every_real_freqtrade_file_is_ingested_with_its_rows(
    tmp_path: Path, real_freqtrade: Path
) -> None:
    report = ingest_freqtrade([real_freqtrade], tmp_path)
    assert len(report.files) == 2 * len(FREQTRADE_ROWS)
    assert_balanced(report)
    for file in report.files:
        if "-8h-mark" in file.path.name and not EIGHT_HOURS_IN_LAKE:
            assert file.error == (
                f"{file.path}: interval '8h' is not a lake interval ({', '.join(INTERVALS)})"
            )
            continue
        assert file.ok, file.error
        dataset, symbol, rows = expected_freqtrade(file.path)
        assert (file.dataset, file.symbol) == (dataset, symbol)
        assert (file.rows_read, file.dropped, file.warnings) == (len(rows), 0, {})
        assert len(rows) == FREQTRADE_ROWS[file.path.stem]
        # the .csv twin comes first (sorted names) and writes; the .feather finds it all there
        written = len(rows) if file.path.suffix == ".csv" else 0
        assert (file.rows_written, file.duplicates) == (written, len(rows) - written)
        assert lake_rows(tmp_path, dataset, symbol) == rows, file.path.name


def test_real_freqtrade_first_and_last_values_match_the_files(
    tmp_path: Path, real_freqtrade: Path
) -> None:
    ingest_freqtrade([real_freqtrade], tmp_path)
    bars = lake_rows(tmp_path, "bars_1m", "XRPETH")
    assert len(bars) == 2469
    assert bars[0] == {
        "open_time": 1570752000000 * MS, "open": 0.00141342, "high": 0.00141557,
        "low": 0.00141266, "close": 0.00141418, "volume": 1482.0, "quote_volume": 0.0,
        "trades": 0,
    }  # fmt: skip
    assert (bars[-1]["open_time"], bars[-1]["close"]) == (1570965540000 * MS, 0.00152787)
    trades = lake_rows(tmp_path, "trades", "XRPETH")
    assert (trades[0]["trade_id"], trades[-1]["trade_id"], len(trades)) == (
        13519807, 13532283, 12477,
    )  # fmt: skip
    assert trades[0]["aggressor"] == "SELL"
    assert trades[-1]["quote_quantity"] == 0.1986231
    mark = lake_rows(tmp_path, "um_mark_price_bars_1h", "XRPUSDT")
    assert {bar["volume"] for bar in mark} == {0.0}
    assert (mark[0]["open"], mark[-1]["close"]) == (1.20932, 1.06051)
    futures = lake_rows(tmp_path, "um_bars_5m", "XRPUSDT")
    assert (futures[0]["volume"], futures[-1]["open_time"]) == (9289043.5, 1637533800000 * MS)
    funding = lake_rows(tmp_path, "um_funding", "XRPUSDT")
    assert (funding[0]["ts"], funding[-1]["ts"]) == (1637193600017 * MS, 1639785600014 * MS)


def test_ingesting_the_real_freqtrade_files_again_changes_nothing(
    tmp_path: Path, real_freqtrade: Path
) -> None:
    ingest_freqtrade([real_freqtrade], tmp_path)
    before = lake_state(tmp_path)
    again = ingest_freqtrade([real_freqtrade], tmp_path)
    assert lake_state(tmp_path) == before
    assert again.rows_written == 0
    assert again.duplicates == again.rows_read
    assert all(file.partitions == [] for file in again.files)


# -- NautilusTrader parquet and T_DEPTH: the real files ------------------------------------


def ingest_misc(real_misc: Path, data_dir: Path) -> list[IngestReport]:
    misc = real_misc
    return [
        ingest_format_files([misc / "spot_btcusdt_trades_2021-01-08.parquet"], data_dir,
                            file_format="nautilus-trades", symbol="BTCUSDT"),
        ingest_format_files([misc / "spot_btcusdt_quotes_2021-01-08.parquet"], data_dir,
                            file_format="nautilus-quotes", symbol="btcusdt"),
        ingest_format_files([misc / "futures_btcusdt_depth_snap.csv",
                             misc / "futures_btcusdt_depth_update.csv"], data_dir,
                            file_format="binance-tdepth", symbol="BTCUSDT"),
    ]  # fmt: skip


def _ms_ns(table: pa.Table, name: str) -> list[int]:
    return table.column(name).cast(pa.timestamp("ns", tz="UTC")).cast(pa.int64()).to_pylist()


def test_the_real_nautilus_trades_become_trades(tmp_path: Path, real_misc: Path) -> None:
    report, _, _ = ingest_misc(real_misc, tmp_path)
    table = pq.read_table(real_misc / "spot_btcusdt_trades_2021-01-08.parquet")
    c = {name: table.column(name).to_pylist() for name in table.column_names}
    expected = [
        {"trade_id": c["trade_id"][i], "ts": t, "price": c["price"][i],
         "quantity": c["quantity"][i], "quote_quantity": c["price"][i] * c["quantity"][i],
         "aggressor": "SELL" if c["buyer_maker"][i] == "True" else "BUY", "is_best_match": None}
        for i, t in enumerate(_ms_ns(table, "timestamp"))
    ]  # fmt: skip
    file = only(report)
    assert (file.dataset, file.rows_read, file.rows_written, file.warnings) == (
        "trades", 2001, 2001, {},
    )  # fmt: skip
    stored = lake_rows(tmp_path, "trades")
    assert stored == sort_as_lake("trades", expected)
    assert (stored[0]["trade_id"], stored[0]["aggressor"], stored[0]["price"]) == (
        553287559, "SELL", 39432.48,
    )  # fmt: skip
    assert (stored[-1]["trade_id"], stored[-1]["quantity"]) == (553289559, 0.014596000000000001)


def test_the_real_nautilus_quotes_become_spot_quotes(tmp_path: Path, real_misc: Path) -> None:
    _, report, _ = ingest_misc(real_misc, tmp_path)
    table = pq.read_table(real_misc / "spot_btcusdt_quotes_2021-01-08.parquet")
    c = {name: table.column(name).to_pylist() for name in table.column_names}
    seen: dict[int, int] = {}
    expected = []
    for i, t in enumerate(_ms_ns(table, "timestamp")):
        seen[t] = seen.get(t, -1) + 1
        expected.append(
            {"ts": t, "seq": seen[t], "bid_price": c["bid"][i], "bid_quantity": c["bid_size"][i],
             "ask_price": c["ask"][i], "ask_quantity": c["ask_size"][i]}
        )  # fmt: skip
    file = only(report)
    assert (file.dataset, file.symbol, file.rows_read, file.rows_written) == (
        "quotes", "BTCUSDT", 451, 451,
    )  # fmt: skip
    stored = lake_rows(tmp_path, "quotes")
    assert stored == sort_as_lake("quotes", expected)
    assert (stored[0]["bid_price"], stored[0]["ask_quantity"]) == (39432.99, 0.066851)
    assert (stored[-1]["ask_price"], stored[-1]["bid_quantity"]) == (39490.98, 0.131467)


def _tdepth_rows(path: Path) -> list[dict[str, Any]]:
    with path.open(newline="") as stream:
        return [
            {"ts": int(r["timestamp"]) * MS, "first_update_id": int(r["first_update_id"]),
             "last_update_id": int(r["last_update_id"]),
             "prev_update_id": None if r["pu"] == "-1" else int(r["pu"]),
             "side": {"b": "BID", "a": "ASK"}[r["side"]], "update_type": r["update_type"],
             "price": float(r["price"]), "quantity": float(r["qty"])}
            for r in csv.DictReader(stream)
        ]  # fmt: skip


def test_the_real_tdepth_rows_become_depth_updates(tmp_path: Path, real_misc: Path) -> None:
    _, _, report = ingest_misc(real_misc, tmp_path)
    snap, update = report.files
    assert (snap.rows_read, snap.rows_written, snap.duplicates) == (100, 100, 0)
    # the upstream update excerpt repeats 37 ask levels of its one update, value for value
    assert (update.rows_read, update.rows_written, update.duplicates) == (100, 63, 37)
    assert "conflicting_duplicate" not in update.warnings
    # bids come best (highest) first: stored by price, so counted as out of order
    assert snap.warnings == {"out_of_order": 99}
    expected: dict[tuple[int, str, float], dict[str, Any]] = {}
    for name in ("futures_btcusdt_depth_snap.csv", "futures_btcusdt_depth_update.csv"):
        for row in _tdepth_rows(real_misc / name):
            expected[(row["last_update_id"], row["side"], row["price"])] = row
    stored = lake_rows(tmp_path, "um_depth_updates")
    assert stored == sort_as_lake("um_depth_updates", list(expected.values()))
    assert len(stored) == 163
    assert stored[0] == {
        "ts": 1667346579146 * MS, "first_update_id": 2098021528332,
        "last_update_id": 2098021528332, "prev_update_id": None, "side": "BID",
        "update_type": "snap", "price": 20365.9, "quantity": 0.207,
    }  # fmt: skip
    assert (stored[-1]["last_update_id"], stored[-1]["prev_update_id"]) == (
        2098041696700, 2098041693400,
    )  # fmt: skip


def test_ingesting_the_real_misc_files_again_changes_nothing(
    tmp_path: Path, real_misc: Path
) -> None:
    ingest_misc(real_misc, tmp_path)
    before = lake_state(tmp_path)
    again = ingest_misc(real_misc, tmp_path)
    assert lake_state(tmp_path) == before
    assert [r.rows_written for r in again] == [0, 0, 0]
    assert [r.duplicates for r in again] == [2001, 451, 200]


# -- synthetic bad rows, one per format ----------------------------------------------------


def write(path: Path, lines: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


def test_a_freqtrade_candle_with_a_non_positive_price_is_dropped(tmp_path: Path) -> None:
    path = write(tmp_path / "in/BTC_USDT-1m.csv", [
        "open_time_ms,open,high,low,close,volume",
        "1704067200000,100.0,101.0,99.0,100.5,3.0",
        "1704067260000,100.0,101.0,0.0,100.5,3.0",
        "1704067320000,100.0,101.0,99.0,100.5,-1.0",
    ])  # fmt: skip
    file = only(ingest_freqtrade([path], tmp_path))
    assert (file.dataset, file.symbol, file.rows_written, file.dropped) == (
        "bars_1m", "BTCUSDT", 1, 2,
    )  # fmt: skip
    assert (file.warnings, file.first_lines) == (
        {"non_positive_price": 1, "negative_size": 1},
        {"non_positive_price": 3, "negative_size": 4},
    )  # fmt: skip


def test_a_freqtrade_trade_with_an_unknown_side_fails_the_file_naming_its_line(
    tmp_path: Path,
) -> None:
    path = write(tmp_path / "in/BTC_USDT_USDT-trades.csv", [
        "timestamp_ms,id,side,price,amount,cost",
        "1704067200000,1,buy,100.0,1.0,100.0",
        "1704067200001,2,hold,100.0,1.0,100.0",
    ])  # fmt: skip
    file = only(ingest_freqtrade([path], tmp_path))
    assert file.error == f"{path}: line 3: column 'side': cannot read 'hold'"
    assert file.dataset == ""
    assert not (tmp_path / "lake").exists() or not any((tmp_path / "lake").rglob("*.parquet"))


def test_a_freqtrade_file_name_that_says_nothing_fails_clearly(tmp_path: Path) -> None:
    path = write(tmp_path / "in/xrp-eth.csv", ["open_time_ms,open,high,low,close,volume"])
    file = only(ingest_freqtrade([path], tmp_path))
    assert file.error is not None
    assert file.error.startswith(f"{path}: not a freqtrade file name")
    with pytest.raises(FormatPathError, match="no such file or folder"):
        ingest_freqtrade([tmp_path / "missing"], tmp_path)


def test_futures_trades_and_an_empty_mark_volume(tmp_path: Path) -> None:
    write(tmp_path / "in/BTC_USDT_USDT-trades.csv", [
        "timestamp_ms,id,side,price,amount,cost", "1704067200000,7,sell,100.0,2.0,200.0",
    ])  # fmt: skip
    write(tmp_path / "in/BTC_USDT_USDT-1m-mark.csv", [
        "open_time_ms,open,high,low,close,volume", "1704067200000,100.0,101.0,99.0,100.5,",
    ])  # fmt: skip
    report = ingest_freqtrade([tmp_path / "in"], tmp_path)
    assert [(f.dataset, f.rows_written) for f in report.files] == [
        ("um_mark_price_bars_1m", 1), ("um_trades", 1),
    ]  # fmt: skip
    assert lake_rows(tmp_path, "um_mark_price_bars_1m")[0]["volume"] == 0.0
    assert lake_rows(tmp_path, "um_trades")[0]["aggressor"] == "SELL"


def test_a_nautilus_trade_with_a_zero_price_is_dropped(tmp_path: Path) -> None:
    table = pa.table({
        "timestamp": pa.array([1704067200000, 1704067200001], pa.timestamp("ms", tz="UTC")),
        "trade_id": [1, 2], "price": [100.0, 0.0], "quantity": [1.0, 1.0],
        "buyer_maker": ["False", "True"],
    })  # fmt: skip
    pq.write_table(table, tmp_path / "t.parquet")
    file = only(
        ingest_format_files([tmp_path / "t.parquet"], tmp_path,
                            file_format="nautilus-trades", symbol="BTCUSDT")
    )  # fmt: skip
    assert (file.rows_written, file.warnings, file.first_lines) == (
        1, {"non_positive_price": 1}, {"non_positive_price": 2},
    )  # fmt: skip
    assert lake_rows(tmp_path, "trades")[0]["aggressor"] == "BUY"


def test_nautilus_quotes_of_another_symbol_fail_and_crossed_sizes_are_checked(
    tmp_path: Path,
) -> None:
    table = pa.table({
        "timestamp": pa.array([1704067200000, 1704067200000], pa.timestamp("ms", tz="UTC")),
        "symbol": ["BTC/USDT", "ETH/USDT"], "ask_size": [1.0, 1.0], "ask": [101.0, 101.0],
        "bid_size": [1.0, 1.0], "bid": [100.0, 100.0],
    })  # fmt: skip
    pq.write_table(table, tmp_path / "q.parquet")
    file = only(
        ingest_format_files([tmp_path / "q.parquet"], tmp_path,
                            file_format="nautilus-quotes", symbol="BTCUSDT")
    )  # fmt: skip
    assert file.error == f"{tmp_path / 'q.parquet'}: row 2: column 'symbol': cannot read 'ETH/USDT'"


def test_same_millisecond_quotes_keep_their_file_order_by_seq(tmp_path: Path) -> None:
    table = pa.table({
        "timestamp": pa.array([1704067200005, 1704067200005, 1704067200001],
                              pa.timestamp("ms", tz="UTC")),
        "symbol": ["BTC/USDT"] * 3, "ask_size": [1.0, 2.0, 3.0], "ask": [102.0, 101.0, 103.0],
        "bid_size": [1.0, 1.0, 1.0], "bid": [100.0, 100.0, 100.0],
    })  # fmt: skip
    pq.write_table(table, tmp_path / "q.parquet")
    file = only(ingest_format_files([tmp_path / "q.parquet"], tmp_path,
                                    file_format="nautilus-quotes", symbol="BTCUSDT"))  # fmt: skip
    assert file.warnings == {"out_of_order": 1}
    stored = lake_rows(tmp_path, "quotes")
    assert [(r["ts"] // MS - 1704067200000, r["seq"], r["ask_price"]) for r in stored] == [
        (1, 0, 103.0), (5, 0, 102.0), (5, 1, 101.0),
    ]  # fmt: skip


def test_a_tdepth_row_with_an_unknown_side_fails_naming_its_line(tmp_path: Path) -> None:
    header = "symbol,timestamp,first_update_id,last_update_id,side,update_type,price,qty,pu"
    path = write(tmp_path / "d.csv", [
        header,
        "BTCUSDT,1667346579146,10,12,b,set,20000.0,1.0,9",
        "BTCUSDT,1667346579146,10,12,x,set,20001.0,1.0,9",
    ])  # fmt: skip
    file = only(ingest_format_files([path], tmp_path, file_format="binance-tdepth",
                                    symbol="BTCUSDT"))  # fmt: skip
    assert file.error == f"{path}: line 3: column 'side': cannot read 'x'"


def test_a_tdepth_row_with_a_negative_quantity_is_dropped(tmp_path: Path) -> None:
    header = "symbol,timestamp,first_update_id,last_update_id,side,update_type,price,qty,pu"
    path = write(tmp_path / "d.csv", [
        header,
        "BTCUSDT,1667346579146,10,12,b,set,20000.0,0.0,9",
        "BTCUSDT,1667346579146,10,12,a,set,20001.0,-1.0,9",
    ])  # fmt: skip
    file = only(ingest_format_files([path], tmp_path, file_format="binance-tdepth",
                                    symbol="BTCUSDT"))  # fmt: skip
    assert (file.rows_written, file.warnings, file.first_lines) == (
        1, {"negative_size": 1}, {"negative_size": 3},
    )  # fmt: skip
    assert lake_rows(tmp_path, "um_depth_updates")[0]["quantity"] == 0.0
