"""The dataset registry: every binance.vision family, its layouts, and its lake dataset."""

from __future__ import annotations

import pyarrow as pa
import pytest

from storage.datasets import (
    AGG_TRADES_SCHEMA,
    BOOK_DEPTH_SCHEMA,
    DATASET_SPECS,
    FAMILIES,
    FUNDING_SCHEMA,
    METRICS_SCHEMA,
    QUOTES_SCHEMA,
    TRADES_SCHEMA,
    UnknownDatasetError,
    UnknownFamilyError,
    dataset_spec,
    family,
    snake_case,
)
from storage.lake import BARS_SCHEMA

TIME = pa.timestamp("ns", tz="UTC")

# (market, family, interval) -> lake dataset, as the issue's addendum lists them.
EXPECTED_DATASETS = {
    ("spot", "klines", "1m"): "bars_1m",
    ("spot", "klines", "1h"): "bars_1h",
    ("spot", "aggTrades", None): "agg_trades",
    ("spot", "trades", None): "trades",
    ("um", "klines", "1m"): "um_bars_1m",
    ("um", "aggTrades", None): "um_agg_trades",
    ("um", "trades", None): "um_trades",
    ("um", "bookTicker", None): "um_quotes",
    ("um", "bookDepth", None): "um_book_depth",
    ("um", "metrics", None): "um_metrics",
    ("um", "fundingRate", None): "um_funding",
    ("um", "markPriceKlines", "1m"): "um_mark_price_bars_1m",
    ("um", "indexPriceKlines", "5m"): "um_index_price_bars_5m",
    ("um", "premiumIndexKlines", "1d"): "um_premium_index_bars_1d",
}


@pytest.mark.parametrize(("market", "name", "interval"), list(EXPECTED_DATASETS))
def test_every_family_of_the_issue_maps_to_its_lake_dataset(
    market: str, name: str, interval: str | None
) -> None:
    assert family(market, name).dataset(interval) == EXPECTED_DATASETS[market, name, interval]  # type: ignore[arg-type]


def test_the_registry_holds_exactly_the_issues_families() -> None:
    assert sorted((f.market, f.name) for f in FAMILIES) == sorted(
        {(market, name) for market, name, _ in EXPECTED_DATASETS}
    )


def test_canonical_schemas_are_the_addendums() -> None:
    def layout(schema: pa.Schema) -> list[tuple[str, pa.DataType, bool]]:
        return [(f.name, f.type, f.nullable) for f in schema]

    f64, i64, text = pa.float64(), pa.int64(), pa.string()
    assert layout(TRADES_SCHEMA) == [
        ("trade_id", i64, False), ("ts", TIME, False), ("price", f64, False),
        ("quantity", f64, False), ("quote_quantity", f64, False), ("aggressor", text, False),
        ("is_best_match", pa.bool_(), True),
    ]  # fmt: skip
    assert layout(AGG_TRADES_SCHEMA) == [
        ("agg_trade_id", i64, False), ("ts", TIME, False), ("price", f64, False),
        ("quantity", f64, False), ("first_trade_id", i64, False), ("last_trade_id", i64, False),
        ("aggressor", text, False), ("is_best_match", pa.bool_(), True),
    ]  # fmt: skip
    assert layout(QUOTES_SCHEMA) == [
        ("update_id", i64, False), ("ts", TIME, False), ("event_ts", TIME, False),
        ("bid_price", f64, False), ("bid_quantity", f64, False), ("ask_price", f64, False),
        ("ask_quantity", f64, False),
    ]  # fmt: skip
    assert layout(BOOK_DEPTH_SCHEMA) == [
        ("ts", TIME, False), ("percentage", f64, False), ("depth", f64, False),
        ("notional", f64, False),
    ]  # fmt: skip
    assert METRICS_SCHEMA.names == [
        "ts", "sum_open_interest", "sum_open_interest_value", "count_toptrader_long_short_ratio",
        "sum_toptrader_long_short_ratio", "count_long_short_ratio",
        "sum_taker_long_short_vol_ratio",
    ]  # fmt: skip
    assert all(f.type == f64 for f in METRICS_SCHEMA if f.name != "ts")
    assert layout(FUNDING_SCHEMA) == [
        ("ts", TIME, False), ("funding_interval_hours", i64, False), ("rate", f64, False)
    ]  # fmt: skip


def test_kline_families_store_the_bars_schema_as_is() -> None:
    for candidate in FAMILIES:
        if candidate.per_interval:
            assert candidate.spec.schema is BARS_SCHEMA


@pytest.mark.parametrize(
    ("dataset", "key"),
    [
        ("trades", ("trade_id",)),
        ("um_agg_trades", ("agg_trade_id",)),
        ("um_quotes", ("update_id",)),
        ("um_book_depth", ("ts", "percentage")),
        ("um_metrics", ("ts",)),
        ("um_funding", ("ts",)),
        ("bars_1m", ("open_time",)),
        ("um_premium_index_bars_1h", ("open_time",)),
    ],
)
def test_each_dataset_has_the_issues_key(dataset: str, key: tuple[str, ...]) -> None:
    assert dataset_spec(dataset)[0].key == key


def test_sort_order_is_time_then_the_key_so_ties_have_a_stable_order() -> None:
    for spec in DATASET_SPECS:
        assert spec.sort[0] == spec.time_column
        assert spec.sort[-len(spec.key) :] == spec.key or spec.sort == spec.key
        assert set(spec.key) <= set(spec.sort)


def test_every_output_comes_from_a_layout_column_and_fills_the_schema_in_order() -> None:
    for candidate in FAMILIES:
        assert [o.name for o in candidate.outputs] == candidate.spec.schema.names
        for layout in candidate.layouts:
            names = layout.names_in_order
            for output in candidate.outputs:
                if output.convert == "null":
                    assert output.source is None
                else:
                    assert output.source in names, (candidate.name, output)
                if output.convert == "time":
                    assert layout.column(output.source).kind in ("epoch", "text_time")


def test_validation_columns_exist_in_the_schema() -> None:
    for candidate in FAMILIES:
        names = set(candidate.spec.schema.names)
        assert set(candidate.positive) <= names
        assert set(candidate.non_negative) <= names
        assert candidate.crossed is None or set(candidate.crossed) <= names


@pytest.mark.parametrize(
    ("market", "name", "columns"),
    [
        ("spot", "aggTrades", 8),
        ("um", "aggTrades", 7),
        ("spot", "trades", 7),
        ("um", "trades", 6),
        ("spot", "klines", 12),
        ("um", "markPriceKlines", 12),
        ("um", "bookTicker", 7),
        ("um", "bookDepth", 4),
        ("um", "metrics", 8),
        ("um", "fundingRate", 3),
    ],
)
def test_headerless_files_have_the_readmes_column_counts(
    market: str, name: str, columns: int
) -> None:
    assert [len(layout.columns) for layout in family(market, name).layouts] == [columns]  # type: ignore[arg-type]


def test_premium_index_prices_may_be_negative_but_other_prices_may_not() -> None:
    assert family("um", "premiumIndexKlines").positive == ()
    assert family("um", "markPriceKlines").positive == ("open", "high", "low", "close")
    assert family("spot", "klines").positive == ("open", "high", "low", "close")


def test_only_monthly_files_exist_for_funding_rates() -> None:
    assert family("um", "fundingRate").periods == ("monthly",)
    assert family("um", "aggTrades").periods == ("daily", "monthly")


def test_a_family_missing_from_a_market_is_named_with_where_it_exists() -> None:
    with pytest.raises(UnknownFamilyError, match=r"spot has no bookTicker .*only um"):
        family("spot", "bookTicker")
    with pytest.raises(UnknownFamilyError, match=r"unknown binance\.vision family 'candles'"):
        family("spot", "candles")


def test_dataset_spec_finds_every_name_and_its_interval() -> None:
    for spec in DATASET_SPECS:
        interval = "15m" if spec.per_interval else None
        assert dataset_spec(spec.name(interval)) == (spec, interval)
    assert dataset_spec("um_bars_1m")[0].base == "um_bars"
    with pytest.raises(UnknownDatasetError):
        dataset_spec("bars_7m")
    with pytest.raises(UnknownDatasetError):
        dataset_spec("um_quotes_1m")


def test_a_bars_dataset_needs_a_known_interval_and_others_none() -> None:
    bars, _ = dataset_spec("bars_1m")
    with pytest.raises(UnknownDatasetError, match="needs an interval"):
        bars.name(None)
    with pytest.raises(UnknownDatasetError, match="has no interval"):
        dataset_spec("trades")[0].name("1m")


def test_bars_keep_write_bars_plain_encoding_and_the_rest_delta_encode_ids_and_times() -> None:
    assert dataset_spec("bars_1m")[0].column_encoding == {}
    delta = ("agg_trade_id", "ts", "first_trade_id", "last_trade_id")
    assert dataset_spec("um_agg_trades")[0].column_encoding == dict.fromkeys(
        delta, "DELTA_BINARY_PACKED"
    )
    assert dataset_spec("um_quotes")[0].time_columns == ("ts", "event_ts")


@pytest.mark.parametrize(
    ("header", "snake"),
    [
        ("transactTime", "transact_time"),
        ("transact_time", "transact_time"),
        ("isBuyerMaker", "is_buyer_maker"),
        (" Open time ", "open_time"),
        ('"quoteAssetVolume"', "quote_asset_volume"),
        ("takerBuyBaseAssetVolume", "taker_buy_base_asset_volume"),
        ("count", "count"),
    ],
)
def test_header_names_compare_in_snake_case(header: str, snake: str) -> None:
    assert snake_case(header) == snake


def test_camel_and_snake_headers_reach_the_same_raw_column() -> None:
    layout = family("spot", "klines").layouts[0]
    volume = layout.column("quote_volume")
    assert snake_case("quoteAssetVolume") in volume.names
    assert snake_case("quote_volume") in volume.names
    trades = family("um", "trades").layouts[0]
    assert "qty" in trades.column("quantity").names
