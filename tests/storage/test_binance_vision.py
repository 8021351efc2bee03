"""binance.vision files: recognizing paths, checksums, zips, and parsing rows to lake columns."""

from __future__ import annotations

import datetime as dt
import hashlib
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb
import pytest

from storage.binance_vision import (
    CANONICAL_VIEW,
    ChecksumError,
    VisionError,
    VisionFile,
    VisionParseError,
    VisionPathError,
    checksum_path,
    csv_source,
    find_files,
    load,
    recognize,
    verify_checksum,
)
from storage.datasets import Market
from tests.shared_fixtures import shared_fixtures

DAY0_MS = 1_704_067_200_000  # 2024-01-01T00:00:00Z
MS = 1_000_000


def write_vision_file(
    root: Path,
    relative: str,
    lines: Sequence[str],
    *,
    header: str | None = None,
    zipped: bool = False,
    checksum: bool = False,
    newline: str = "\n",
) -> Path:
    """A binance.vision file at ``root/relative`` (a ``.csv`` name); zipped, it becomes
    ``.zip`` holding the CSV, as binance.vision serves it, with its ``.CHECKSUM``."""
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    text = newline.join(([header] if header else []) + list(lines)) + (newline if lines else "")
    if not zipped:
        path.write_text(text, newline="")
        target = path
    else:
        target = path.with_suffix(".zip")
        with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(path.name, text)
    if checksum:
        digest = hashlib.sha256(target.read_bytes()).hexdigest()
        checksum_path(target).write_text(f"{digest}  {target.name}\n")
    return target


def agg_trade(
    agg_id: int, price: float, quantity: float, ts_ms: int, buyer_maker: bool = False, *,
    spot: bool = True, micros: bool = False, lower: bool = False,
) -> str:  # fmt: skip
    """One aggTrades row; spot rows carry is_best_match and write booleans ``True``."""
    stamp = ts_ms * 1000 if micros else ts_ms
    flag = str(buyer_maker).lower() if lower or not spot else str(buyer_maker)
    row = f"{agg_id},{price},{quantity},{agg_id * 10},{agg_id * 10 + 1},{stamp},{flag}"
    return row + (",True" if spot else "")


def kline(open_ms: int, close: float = 1.5, *, micros: bool = False, minutes: int = 1) -> str:
    unit = 1000 if micros else 1
    end = (open_ms + minutes * 60_000) * unit - unit
    return f"{open_ms * unit},1.0,2.0,0.5,{close},10.0,{end},15.0,7,5.0,7.5,0"


def parse(path: Path, workdir: Path, market: Market | None = None) -> list[dict[str, Any]]:
    """The canonical rows of ``path``, as ``load`` leaves them."""
    file = recognize(path, market)
    con = duckdb.connect()
    try:
        with csv_source(path, workdir) as (csv_path, where):
            load(con, file, csv_path, where)
            relation = con.sql(f"SELECT * EXCLUDE (_row) FROM {CANONICAL_VIEW} ORDER BY _row")
            return relation.to_arrow_table().to_pylist()
    finally:
        con.close()


# -- recognizing paths -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("relative", "label", "dataset", "first_day"),
    [
        # binance.vision's own download tree
        ("data/spot/daily/klines/BTCUSDT/1m/BTCUSDT-1m-2024-01-01.zip",
         "spot klines 1m BTCUSDT daily", "bars_1m", dt.date(2024, 1, 1)),
        ("data/spot/monthly/aggTrades/ETHUSDT/ETHUSDT-aggTrades-2024-02.zip",
         "spot aggTrades ETHUSDT monthly", "agg_trades", dt.date(2024, 2, 1)),
        ("data/spot/daily/trades/BTCUSDT/BTCUSDT-trades-2025-01-01.zip",
         "spot trades BTCUSDT daily", "trades", dt.date(2025, 1, 1)),
        ("data/futures/um/daily/bookTicker/BTCUSDT/BTCUSDT-bookTicker-2024-03-30.zip",
         "um bookTicker BTCUSDT daily", "um_quotes", dt.date(2024, 3, 30)),
        ("data/futures/um/monthly/markPriceKlines/BTCUSDT/1h/BTCUSDT-1h-2024-01.zip",
         "um markPriceKlines 1h BTCUSDT monthly", "um_mark_price_bars_1h", dt.date(2024, 1, 1)),
        ("data/futures/um/daily/indexPriceKlines/BTCUSDT/5m/BTCUSDT-5m-2024-01-02.zip",
         "um indexPriceKlines 5m BTCUSDT daily", "um_index_price_bars_5m", dt.date(2024, 1, 2)),
        ("data/futures/um/daily/premiumIndexKlines/BTCUSDT/1m/BTCUSDT-1m-2024-01-02.zip",
         "um premiumIndexKlines 1m BTCUSDT daily", "um_premium_index_bars_1m",
         dt.date(2024, 1, 2)),
        ("data/futures/um/daily/metrics/BTCUSDT/BTCUSDT-metrics-2024-01-02.zip",
         "um metrics BTCUSDT daily", "um_metrics", dt.date(2024, 1, 2)),
        ("data/futures/um/monthly/fundingRate/BTCUSDT/BTCUSDT-fundingRate-2024-01.zip",
         "um fundingRate BTCUSDT monthly", "um_funding", dt.date(2024, 1, 1)),
        # data/raw/futures/{daily,monthly}/<family>/ with klines_1m as a folder name
        ("data/raw/futures/daily/klines_1m/BTCUSDT-1m-2024-01-01.zip",
         "um klines 1m BTCUSDT daily", "um_bars_1m", dt.date(2024, 1, 1)),
        ("data/raw/futures/monthly/aggTrades/BTCUSDT-aggTrades-2024-01.zip",
         "um aggTrades BTCUSDT monthly", "um_agg_trades", dt.date(2024, 1, 1)),
        ("data/raw/futures/daily/markPriceKlines_1m/BTCUSDT-1m-2024-01-01.csv",
         "um markPriceKlines 1m BTCUSDT daily", "um_mark_price_bars_1m", dt.date(2024, 1, 1)),
        # spot_data/{daily,monthly}/<family>/
        ("spot_data/daily/trades/BTCUSDT-trades-2024-01-01.zip",
         "spot trades BTCUSDT daily", "trades", dt.date(2024, 1, 1)),
        ("spot_data/monthly/klines_1h/BTCUSDT-1h-2024-01.zip",
         "spot klines 1h BTCUSDT monthly", "bars_1h", dt.date(2024, 1, 1)),
        # future_data/{daily_data,monthly_data}/<family>/
        ("future_data/daily_data/bookDepth/BTCUSDT-bookDepth-2024-01-01.zip",
         "um bookDepth BTCUSDT daily", "um_book_depth", dt.date(2024, 1, 1)),
        ("future_data/monthly_data/trades/BTCUSDT-trades-2024-01.zip",
         "um trades BTCUSDT monthly", "um_trades", dt.date(2024, 1, 1)),
        ("future_data/daily_data/klines/BTCUSDT/1m/BTCUSDT-1m-2024-01-01.zip",
         "um klines 1m BTCUSDT daily", "um_bars_1m", dt.date(2024, 1, 1)),
        # the shared fixtures' layout, with a suffix before the extension
        ("binance_vision/futures/um/aggTrades/BTCUSDT-aggTrades-2023-10.issue288-excerpt.noheader.csv",
         "um aggTrades BTCUSDT monthly", "um_agg_trades", dt.date(2023, 10, 1)),
        ("binance_vision/spot/klines/1m/ADABTC-1m-2021-11-28.csv",
         "spot klines 1m ADABTC daily", "bars_1m", dt.date(2021, 11, 28)),
    ],
)  # fmt: skip
def test_every_on_disk_layout_is_recognized(
    relative: str, label: str, dataset: str, first_day: dt.date
) -> None:
    file = recognize(Path("/home/quant") / relative)
    assert (file.label, file.dataset, file.first_day) == (label, dataset, first_day)


def test_a_daily_file_covers_its_day_and_a_monthly_file_its_month() -> None:
    daily = recognize(Path("spot/aggTrades/BTCUSDT-aggTrades-2024-02-29.csv"))
    assert (daily.start_ns, daily.end_ns) == (
        (DAY0_MS + 59 * 86_400_000) * MS,
        (DAY0_MS + 60 * 86_400_000) * MS,
    )
    monthly = recognize(Path("spot/aggTrades/BTCUSDT-aggTrades-2024-02.csv"))
    assert monthly.last_day == dt.date(2024, 2, 29)
    assert monthly.end_ns - monthly.start_ns == 29 * 86_400_000 * MS
    december = recognize(Path("spot/aggTrades/BTCUSDT-aggTrades-2023-12.zip"))
    assert december.last_day == dt.date(2023, 12, 31)


def test_folder_names_elsewhere_in_the_path_do_not_decide_the_market() -> None:
    # a user called "cm" with a project folder "spot": only binance.vision's own
    # folder pairs (futures/cm) refuse a file, and the nearest market folder wins
    file = recognize(Path("/home/cm/spot/futures/um/BTCUSDT-aggTrades-2024-01-01.csv"))
    assert file.dataset == "um_agg_trades"


def test_futures_only_families_need_no_market_folder() -> None:
    assert recognize(Path("BTCUSDT-bookTicker-2024-01-01.csv")).market == "um"
    assert recognize(Path("x/BTCUSDT-fundingRate-2024-01.zip")).dataset == "um_funding"


def test_a_family_of_both_markets_needs_a_folder_or_the_market_argument() -> None:
    with pytest.raises(VisionPathError, match="no folder says spot or futures"):
        recognize(Path("downloads/BTCUSDT-1m-2024-01-01.csv"))
    assert recognize(Path("downloads/BTCUSDT-1m-2024-01-01.csv"), "um").dataset == "um_bars_1m"
    # a folder that names the market wins over the argument
    assert recognize(Path("spot/BTCUSDT-1m-2024-01-01.csv"), "um").dataset == "bars_1m"


@pytest.mark.parametrize(
    ("relative", "message"),
    [
        ("data/spot/daily/klines/BTCUSDT/1m/notes.csv", "not a binance.vision file name"),
        ("data/spot/daily/klines/BTCUSDT/1m/BTCUSDT-1m-2024-01-01.parquet",
         "not a binance.vision file name"),
        ("data/spot/daily/candles/BTCUSDT-candles-2024-01-01.zip", "neither a family"),
        ("data/spot/monthly/aggTrades/BTCUSDT/BTCUSDT-aggTrades-2024-01-01.zip",
         "a daily file name in a monthly folder"),
        ("future_data/daily_data/aggTrades/BTCUSDT-aggTrades-2024-01.zip",
         "a monthly file name in a daily_data folder"),
        ("data/spot/daily/klines/BTCUSDT/1h/BTCUSDT-1m-2024-01-01.zip", "a 1m file in a 1h folder"),
        ("data/raw/futures/daily/klines_5m/BTCUSDT-1m-2024-01-01.zip", "a 1m file in a 5m folder"),
        ("data/spot/daily/aggTrades/ETHUSDT/BTCUSDT-aggTrades-2024-01-01.zip",
         "a BTCUSDT file in a ETHUSDT folder"),
        ("data/spot/daily/aggTrades/BTCUSDT/BTCUSDT-trades-2024-01-01.zip",
         "named trades but in a aggTrades folder"),
        ("data/futures/um/daily/bookTicker/BTCUSDT-1m-2024-01-01.zip",
         "a 1m kline file inside a bookTicker folder"),
        ("data/futures/cm/daily/aggTrades/BTCUSD_PERP-aggTrades-2024-01-01.zip",
         "COIN-M futures are not supported"),
        ("data/futures/cm/daily/aggTrades/BTCUSD-aggTrades-2024-01-01.zip",
         "COIN-M futures are not supported"),
        ("data/option/daily/BVOLIndex/BTCBVOLUSDT/BTCBVOLUSDT-BVOLIndex-2024-01-01.zip",
         "options are not supported"),
        ("data/spot/daily/klines/BTCUSDT/1s/BTCUSDT-1s-2024-01-01.zip",
         "interval 1s is not supported by the lake"),
        ("data/spot/daily/bookTicker/BTCUSDT-bookTicker-2024-01-01.zip",
         "spot has no bookTicker files"),
        ("data/futures/um/daily/fundingRate/BTCUSDT-fundingRate-2024-01-01.zip",
         "fundingRate files are monthly only"),
        ("data/spot/daily/aggTrades/BTCUSDT-aggTrades-2024-02-30.zip", "not a date"),
    ],
)  # fmt: skip
def test_a_path_that_does_not_add_up_is_refused_with_the_reason(
    relative: str, message: str
) -> None:
    with pytest.raises(VisionPathError, match=message) as raised:
        recognize(Path(relative))
    assert str(raised.value).startswith(relative)


# -- finding files and checksums -------------------------------------------------------------


def test_folders_expand_to_their_csv_and_zip_files_sorted_skipping_checksums(
    tmp_path: Path,
) -> None:
    tree = tmp_path / "data" / "spot" / "daily" / "aggTrades" / "BTCUSDT"
    second = write_vision_file(tree.parent, "BTCUSDT/BTCUSDT-aggTrades-2024-01-02.csv", ["x"])
    first = write_vision_file(
        tree.parent, "BTCUSDT/BTCUSDT-aggTrades-2024-01-01.csv", ["x"], zipped=True, checksum=True
    )
    (tree / ".hidden.csv").write_text("x")
    (tree / "README.txt").write_text("x")
    lone = write_vision_file(tmp_path, "BTCUSDT-bookTicker-2024-01-01.csv", ["x"])
    assert find_files([lone, tmp_path / "data"]) == [lone, first, second]


def test_a_missing_path_is_refused_before_anything_is_read(tmp_path: Path) -> None:
    with pytest.raises(VisionPathError, match="no such file or folder"):
        find_files([tmp_path / "nope.zip"])


def test_a_matching_checksum_verifies_and_no_checksum_is_reported_as_such(tmp_path: Path) -> None:
    with_sum = write_vision_file(tmp_path, "BTCUSDT-bookTicker-2024-01-01.csv", ["x"],
                                 zipped=True, checksum=True)  # fmt: skip
    without = write_vision_file(tmp_path, "BTCUSDT-bookTicker-2024-01-02.csv", ["x"], zipped=True)
    assert verify_checksum(with_sum) is True
    assert verify_checksum(without) is False


def test_a_file_that_changed_since_its_checksum_is_refused(tmp_path: Path) -> None:
    path = write_vision_file(tmp_path, "BTCUSDT-bookTicker-2024-01-01.csv", ["x"],
                             zipped=True, checksum=True)  # fmt: skip
    path.write_bytes(path.read_bytes() + b"\0")
    with pytest.raises(
        ChecksumError, match=r"does not match BTCUSDT-bookTicker-2024-01-01\.zip\.CHECKSUM"
    ):
        verify_checksum(path)


def test_a_checksum_of_another_file_or_not_a_checksum_is_refused(tmp_path: Path) -> None:
    path = write_vision_file(tmp_path, "BTCUSDT-bookTicker-2024-01-01.csv", ["x"], zipped=True)
    checksum_path(path).write_text(f"{'0' * 64}  ETHUSDT-bookTicker-2024-01-01.zip\n")
    with pytest.raises(ChecksumError, match="checksum of ETHUSDT"):
        verify_checksum(path)
    checksum_path(path).write_text("<html>not found</html>")
    with pytest.raises(ChecksumError, match="not a sha256 checksum file"):
        verify_checksum(path)


# -- zips -----------------------------------------------------------------------------------------


def test_a_zip_is_read_through_its_csv_member_and_cleaned_up(tmp_path: Path) -> None:
    path = write_vision_file(tmp_path, "spot/BTCUSDT-aggTrades-2024-01-01.csv",
                             [agg_trade(1, 100.0, 1.0, DAY0_MS)], zipped=True)  # fmt: skip
    work = tmp_path / "work"
    work.mkdir()
    with csv_source(path, work) as (csv_path, where):
        assert csv_path.read_text().startswith("1,100.0")
        assert where == f"{path}!BTCUSDT-aggTrades-2024-01-01.csv"
    assert list(work.iterdir()) == []


def test_a_damaged_zip_or_one_without_a_single_csv_is_refused(tmp_path: Path) -> None:
    damaged = tmp_path / "BTCUSDT-bookTicker-2024-01-01.zip"
    damaged.write_bytes(b"PK\x03\x04 definitely not a zip")
    with pytest.raises(VisionError, match="damaged zip"), csv_source(damaged, tmp_path):
        pass
    double = tmp_path / "BTCUSDT-bookTicker-2024-01-02.zip"
    with zipfile.ZipFile(double, "w") as archive:
        archive.writestr("a.csv", "1")
        archive.writestr("b.csv", "2")
    found = r"one CSV inside the zip, found \['a.csv', 'b.csv'\]"
    with pytest.raises(VisionError, match=found), csv_source(double, tmp_path):
        pass


# -- parsing rows --------------------------------------------------------------------------------


def test_headerless_spot_agg_trades_become_lake_columns(tmp_path: Path) -> None:
    path = write_vision_file(tmp_path, "spot/BTCUSDT-aggTrades-2024-01-01.csv", [
        agg_trade(7, 42000.5, 0.25, DAY0_MS + 1, buyer_maker=True),
        agg_trade(8, 42000.0, 1.5, DAY0_MS + 2, buyer_maker=False),
    ])  # fmt: skip
    assert parse(path, tmp_path) == [
        {"agg_trade_id": 7, "ts": (DAY0_MS + 1) * MS, "price": 42000.5, "quantity": 0.25,
         "first_trade_id": 70, "last_trade_id": 71, "aggressor": "SELL", "is_best_match": True},
        {"agg_trade_id": 8, "ts": (DAY0_MS + 2) * MS, "price": 42000.0, "quantity": 1.5,
         "first_trade_id": 80, "last_trade_id": 81, "aggressor": "BUY", "is_best_match": True},
    ]  # fmt: skip


def test_buyer_maker_means_the_taker_sold(tmp_path: Path) -> None:
    path = write_vision_file(tmp_path, "futures/um/BTCUSDT-trades-2024-01-01.csv", [
        f"1,100.0,2.0,200.0,{DAY0_MS},true",
        f"2,100.0,2.0,200.0,{DAY0_MS},false",
    ], header="id,price,qty,quote_qty,time,is_buyer_maker")  # fmt: skip
    rows = parse(path, tmp_path)
    assert [(r["trade_id"], r["aggressor"], r["is_best_match"]) for r in rows] == [
        (1, "SELL", None),
        (2, "BUY", None),
    ]


def test_camel_case_snake_case_and_no_header_read_the_same(tmp_path: Path) -> None:
    rows = [
        agg_trade(1, 10.0, 1.0, DAY0_MS, spot=False),
        agg_trade(2, 11.0, 2.0, DAY0_MS + 5, True, spot=False),
    ]
    snake = "agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,is_buyer_maker"
    camel = "aggTradeId,price,quantity,firstTradeId,lastTradeId,transactTime,isBuyerMaker"
    parsed = [
        parse(write_vision_file(tmp_path / name, "futures/um/BTCUSDT-aggTrades-2024-01.csv",
                                rows, header=header), tmp_path)
        for name, header in (("snake", snake), ("camel", camel), ("none", None))
    ]  # fmt: skip
    assert parsed[0] == parsed[1] == parsed[2]
    assert parsed[0][1]["aggressor"] == "SELL"


def test_a_header_in_another_column_order_maps_by_name(tmp_path: Path) -> None:
    header = "transact_time,is_buyer_maker,agg_trade_id,price,quantity,first_trade_id,last_trade_id"
    path = write_vision_file(tmp_path, "futures/um/BTCUSDT-aggTrades-2024-01-01.csv",
                             [f"{DAY0_MS},true,5,99.5,3.0,50,52"], header=header)  # fmt: skip
    (row,) = parse(path, tmp_path)
    assert (row["agg_trade_id"], row["price"], row["ts"], row["last_trade_id"]) == (
        5, 99.5, DAY0_MS * MS, 52,
    )  # fmt: skip


def test_true_false_in_any_case_are_booleans(tmp_path: Path) -> None:
    lines = [
        f"{i},1.0,1.0,1,1,{DAY0_MS + i},{maker},{best}"
        for i, (maker, best) in enumerate([("True", "False"), ("true", "false"), ("TRUE", "True")])
    ]
    path = write_vision_file(tmp_path, "spot/BTCUSDT-aggTrades-2024-01-01.csv", lines)
    assert [(r["aggressor"], r["is_best_match"]) for r in parse(path, tmp_path)] == [
        ("SELL", False), ("SELL", False), ("SELL", True),
    ]  # fmt: skip


def test_milliseconds_and_microseconds_give_the_same_instants(tmp_path: Path) -> None:
    ms_rows = [kline(DAY0_MS + i * 60_000) for i in range(3)]
    us_rows = [kline(DAY0_MS + i * 60_000, micros=True) for i in range(3)]
    in_ms = parse(
        write_vision_file(tmp_path / "a", "spot/BTCUSDT-1m-2024-01-01.csv", ms_rows), tmp_path
    )
    in_us = parse(
        write_vision_file(tmp_path / "b", "spot/BTCUSDT-1m-2024-01-01.csv", us_rows), tmp_path
    )
    assert in_ms == in_us
    assert [r["open_time"] for r in in_us] == [(DAY0_MS + i * 60_000) * MS for i in range(3)]


def test_the_unit_is_decided_per_file(tmp_path: Path) -> None:
    # the 2024-12-31 file in ms and the 2025-01-01 file in µs (Binance spot's switch)
    last_ms = 1_735_603_200_000  # 2024-12-31
    old = write_vision_file(tmp_path, "spot/BTCUSDT-1m-2024-12-31.csv", [kline(last_ms)])
    new = write_vision_file(tmp_path, "spot/BTCUSDT-1m-2025-01-01.csv",
                            [kline(last_ms + 86_400_000, micros=True)])  # fmt: skip
    assert parse(old, tmp_path)[0]["open_time"] == last_ms * MS
    assert parse(new, tmp_path)[0]["open_time"] == (last_ms + 86_400_000) * MS


def test_a_file_mixing_milliseconds_and_microseconds_is_refused_naming_both_lines(
    tmp_path: Path,
) -> None:
    rows = [agg_trade(1, 1.0, 1.0, DAY0_MS), agg_trade(2, 1.0, 1.0, DAY0_MS, micros=True)]
    path = write_vision_file(tmp_path, "spot/BTCUSDT-aggTrades-2024-01-01.csv", rows)
    with pytest.raises(
        VisionParseError, match=r"milliseconds \(line 1\) and microseconds \(line 2\)"
    ):
        parse(path, tmp_path)


def test_an_epoch_in_neither_unit_is_refused_with_its_line_and_column(tmp_path: Path) -> None:
    rows = [agg_trade(1, 1.0, 1.0, DAY0_MS), "2,1.0,1.0,20,21,1704067200,False,True"]
    path = write_vision_file(tmp_path, "spot/BTCUSDT-aggTrades-2024-01-01.csv", rows)
    with pytest.raises(
        VisionParseError,
        match=r"line 2: column 'transact_time': 1704067200 is not an epoch time in milliseconds",
    ):
        parse(path, tmp_path)


def test_a_row_with_a_wrong_column_count_is_refused_with_its_line(tmp_path: Path) -> None:
    rows = [agg_trade(1, 1.0, 1.0, DAY0_MS), agg_trade(2, 1.0, 1.0, DAY0_MS), "3,1.0,1.0"]
    path = write_vision_file(tmp_path, "spot/BTCUSDT-aggTrades-2024-01-01.csv", rows)
    with pytest.raises(VisionParseError, match=r"line 3: Expected Number of Columns: 8 Found: 3"):
        parse(path, tmp_path)


def test_a_file_whose_first_line_has_the_wrong_column_count_is_refused(tmp_path: Path) -> None:
    path = write_vision_file(tmp_path, "futures/um/BTCUSDT-aggTrades-2024-01-01.csv",
                             [agg_trade(1, 1.0, 1.0, DAY0_MS, spot=True)])  # fmt: skip
    with pytest.raises(VisionParseError, match=r"line 1: 8 columns, but a um aggTrades .* has 7"):
        parse(path, tmp_path)


def test_an_unparseable_value_is_refused_with_its_line_and_column(tmp_path: Path) -> None:
    header = "agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,is_buyer_maker"
    rows = [agg_trade(1, 1.0, 1.0, DAY0_MS, spot=False), f"2,abc,1.0,1,1,{DAY0_MS},true"]
    path = write_vision_file(
        tmp_path, "futures/um/BTCUSDT-aggTrades-2024-01-01.csv", rows, header=header
    )
    with pytest.raises(VisionParseError, match=r"line 3: column 'price': .*\"abc\""):
        parse(path, tmp_path)


def test_an_unparseable_timestamp_is_refused_with_its_line(tmp_path: Path) -> None:
    rows = [agg_trade(1, 1.0, 1.0, DAY0_MS), "2,1.0,1.0,20,21,2024-01-01 00:00:00,False,True"]
    path = write_vision_file(tmp_path, "spot/BTCUSDT-aggTrades-2024-01-01.csv", rows)
    with pytest.raises(VisionParseError, match="line 2: column 'transact_time'"):
        parse(path, tmp_path)


def test_an_empty_required_value_is_refused_with_its_line_and_column(tmp_path: Path) -> None:
    rows = [agg_trade(1, 1.0, 1.0, DAY0_MS), f"2,1.0,,20,21,{DAY0_MS},False,True"]
    path = write_vision_file(tmp_path, "spot/BTCUSDT-aggTrades-2024-01-01.csv", rows)
    with pytest.raises(VisionParseError, match="line 2: column 'quantity': empty value"):
        parse(path, tmp_path)


def test_an_unknown_header_is_refused_naming_the_expected_one(tmp_path: Path) -> None:
    path = write_vision_file(tmp_path, "futures/um/BTCUSDT-bookTicker-2024-01-01.csv",
                             ["1,2,3,4,5,6,7"], header="a,b,c,d,e,f,g")  # fmt: skip
    with pytest.raises(
        VisionParseError, match="line 1: header 'a,b,c,d,e,f,g' is not a um bookTicker"
    ):
        parse(path, tmp_path)


def test_book_depth_text_timestamps_are_utc(tmp_path: Path) -> None:
    path = write_vision_file(tmp_path, "futures/um/BTCUSDT-bookDepth-2024-01-01.csv", [
        "2024-01-01 00:00:07,-5,7885.275,647368074.3692",
        "2024-01-01 00:00:07.5,5,6491.515,555012399.2844",
    ], header="timestamp,percentage,depth,notional")  # fmt: skip
    assert parse(path, tmp_path) == [
        {"ts": (DAY0_MS + 7000) * MS, "percentage": -5.0, "depth": 7885.275,
         "notional": 647368074.3692},
        {"ts": (DAY0_MS + 7500) * MS, "percentage": 5.0, "depth": 6491.515,
         "notional": 555012399.2844},
    ]  # fmt: skip


def test_a_text_timestamp_in_another_format_is_refused(tmp_path: Path) -> None:
    path = write_vision_file(tmp_path, "futures/um/BTCUSDT-bookDepth-2024-01-01.csv",
                             ["2024-01-01T00:00:07+02:00,-5,1.0,2.0"])  # fmt: skip
    with pytest.raises(VisionParseError, match=r"line 1: column 'timestamp': .* is not a UTC time"):
        parse(path, tmp_path)


METRICS_HEADER = (
    "create_time,symbol,sum_open_interest,sum_open_interest_value,count_toptrader_long_short_ratio,"
    "sum_toptrader_long_short_ratio,count_long_short_ratio,sum_taker_long_short_vol_ratio"
)


def test_metrics_keep_empty_ratios_as_null_and_check_the_symbol(tmp_path: Path) -> None:
    path = write_vision_file(tmp_path, "futures/um/BTCUSDT-metrics-2024-01-01.csv", [
        "2024-01-01 00:05:00,BTCUSDT,81000.5,3.4e9,1.5,1.2,1.7,0.9",
        "2024-01-01 00:10:00,BTCUSDT,81001.5,3.5e9,,,1.6,",
    ], header=METRICS_HEADER)  # fmt: skip
    rows = parse(path, tmp_path)
    assert rows[0]["ts"] == (DAY0_MS + 300_000) * MS
    assert rows[1]["count_toptrader_long_short_ratio"] is None
    assert rows[1]["count_long_short_ratio"] == 1.6
    other = write_vision_file(
        tmp_path, "futures/um/ETHUSDT-metrics-2024-01-01.csv",
        ["2024-01-01 00:05:00,BTCUSDT,1,1,1,1,1,1"], header=METRICS_HEADER,
    )  # fmt: skip
    with pytest.raises(
        VisionParseError, match="line 2: column 'symbol': symbol 'BTCUSDT', but the file is ETHUSDT"
    ):
        parse(other, tmp_path)


def test_funding_rates_and_book_ticker_parse_to_their_columns(tmp_path: Path) -> None:
    funding = write_vision_file(
        tmp_path, "futures/um/BTCUSDT-fundingRate-2024-01.csv",
        [f"{DAY0_MS},8,0.0001", f"{DAY0_MS + 8 * 3_600_000},8,-0.00002"],
        header="calc_time,funding_interval_hours,last_funding_rate",
    )  # fmt: skip
    assert parse(funding, tmp_path)[1] == {
        "ts": (DAY0_MS + 8 * 3_600_000) * MS, "funding_interval_hours": 8, "rate": -0.00002,
    }  # fmt: skip
    line = f"3319366863672,27981.3,12.911,27981.4,7.258,{DAY0_MS + 12},{DAY0_MS + 18}"
    quotes = write_vision_file(tmp_path, "futures/um/BTCUSDT-bookTicker-2024-01-01.csv", [line])
    assert parse(quotes, tmp_path) == [{
        "update_id": 3319366863672, "ts": (DAY0_MS + 12) * MS, "event_ts": (DAY0_MS + 18) * MS,
        "bid_price": 27981.3, "bid_quantity": 12.911, "ask_price": 27981.4, "ask_quantity": 7.258,
    }]  # fmt: skip


def test_kline_headers_of_futures_files_map_to_bars(tmp_path: Path) -> None:
    header = (
        "open_time,open,high,low,close,volume,close_time,quote_volume,count,"
        "taker_buy_volume,taker_buy_quote_volume,ignore"
    )
    path = write_vision_file(tmp_path, "futures/um/BTCUSDT-1m-2024-01-01.csv",
                             [kline(DAY0_MS, 1.75)], header=header)  # fmt: skip
    assert parse(path, tmp_path) == [{
        "open_time": DAY0_MS * MS, "open": 1.0, "high": 2.0, "low": 0.5, "close": 1.75,
        "volume": 10.0, "quote_volume": 15.0, "trades": 7,
    }]  # fmt: skip


def test_crlf_line_endings_and_a_byte_order_mark_are_read(tmp_path: Path) -> None:
    header = (
        "\ufeffupdate_id,best_bid_price,best_bid_qty,best_ask_price,best_ask_qty,"
        "transaction_time,event_time"
    )
    path = write_vision_file(tmp_path, "futures/um/BTCUSDT-bookTicker-2024-01-01.csv",
                             [f"1,1.0,1.0,2.0,1.0,{DAY0_MS},{DAY0_MS}"] * 2, header=header,
                             newline="\r\n")  # fmt: skip
    assert len(parse(path, tmp_path)) == 2


def test_an_empty_file_has_no_rows(tmp_path: Path) -> None:
    path = write_vision_file(tmp_path, "spot/BTCUSDT-aggTrades-2024-01-01.csv", [])
    assert parse(path, tmp_path) == []


def test_reported_lines_count_blank_lines_duckdb_skips(tmp_path: Path) -> None:
    rows = [agg_trade(1, 1.0, 1.0, DAY0_MS), "", "", agg_trade(2, 1.0, 1.0, DAY0_MS, micros=True)]
    path = write_vision_file(tmp_path, "spot/BTCUSDT-aggTrades-2024-01-01.csv", rows)
    with pytest.raises(VisionParseError, match=r"\(line 1\) and microseconds \(line 4\)"):
        parse(path, tmp_path)


def test_a_zipped_file_is_named_with_its_member_in_errors(tmp_path: Path) -> None:
    path = write_vision_file(tmp_path, "spot/BTCUSDT-aggTrades-2024-01-01.csv",
                             [agg_trade(1, 1.0, 1.0, DAY0_MS), "oops"], zipped=True)  # fmt: skip
    with pytest.raises(VisionParseError, match=r"\.zip!BTCUSDT-aggTrades-2024-01-01\.csv: line 2"):
        parse(path, tmp_path)


# -- the real files ------------------------------------------------------------------------------


def test_every_real_binance_vision_fixture_is_recognized_and_parses(tmp_path: Path) -> None:
    root = shared_fixtures() / "binance_vision"
    paths = find_files([root])
    assert len(paths) == 6
    for path in paths:
        file: VisionFile = recognize(path)
        rows = parse(path, tmp_path)
        lines = [line for line in path.read_text().splitlines() if line.strip()]
        header = not lines[0][0].isdigit()
        assert len(rows) == len(lines) - header, path.name
        assert file.start_ns <= min(r[file.family.spec.time_column] for r in rows) < file.end_ns


def test_real_book_ticker_first_and_last_rows_match_the_file(tmp_path: Path) -> None:
    path = (
        shared_fixtures() / "binance_vision/futures/um/bookTicker"
        / "BTCUSDT-bookTicker-2023-10-02.head9999.csv"
    )  # fmt: skip
    rows = parse(path, tmp_path)
    assert rows[0] == {
        "update_id": 3319366863672, "ts": 1696204800012 * MS, "event_ts": 1696204800018 * MS,
        "bid_price": 27981.3, "bid_quantity": 12.911, "ask_price": 27981.4, "ask_quantity": 7.258,
    }  # fmt: skip
    assert rows[-1]["update_id"] == 3319370990389
    assert rows[-1]["ask_quantity"] == 10.079
