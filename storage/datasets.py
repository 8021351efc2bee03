"""The dataset registry: every binance.vision family, its raw CSV layouts and its lake dataset.

One table of facts that the parser, the ingester and (later) the catalog and
the quality report all read, so "what a Binance file looks like" and "what
the lake stores" are written down once.

A *family* is what binance.vision calls a data type in a market (``spot``
``aggTrades``, USD-M futures ``bookTicker``...). Each family has one or more
raw *layouts* (the CSV columns in file order; headerless files are matched by
column count, headered ones by name, camelCase or snake_case), and maps onto
one *lake dataset* with a canonical Arrow schema, a key and a sort order.

Layouts follow binance/binance-public-data's README (commit 5c7f319,
2025-01-09) and the headers seen in real files (see
``shared/fixtures/real/PROVENANCE.md``). Timestamps in the lake are
``timestamp[ns, tz=UTC]``; raw epoch columns are milliseconds or microseconds
(spot switched to microseconds on 2025-01-01), decided per file from the
values by the parser; bookDepth and metrics carry text timestamps in UTC.

Two lake datasets have no binance.vision family and are filled from other
formats (``storage.other_formats``): spot ``quotes`` (NautilusTrader quotes)
and ``um_depth_updates`` (Binance's T_DEPTH order-book rows).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final, Literal

import pyarrow as pa

from actors.intervals import INTERVALS
from storage.lake import BARS_SCHEMA

__all__ = [
    "AGG_TRADES_SCHEMA",
    "BOOK_DEPTH_SCHEMA",
    "DATASET_SPECS",
    "DEPTH_UPDATES_SCHEMA",
    "FAMILIES",
    "FUNDING_SCHEMA",
    "KLINE_FAMILIES",
    "MARKETS",
    "METRICS_SCHEMA",
    "QUOTES_SCHEMA",
    "SPOT_QUOTES_SCHEMA",
    "TRADES_SCHEMA",
    "DatasetSpec",
    "Family",
    "Market",
    "Output",
    "RawColumn",
    "RawLayout",
    "UnknownDatasetError",
    "UnknownFamilyError",
    "dataset_spec",
    "family",
    "snake_case",
]

Market = Literal["spot", "um"]
"""``spot`` or ``um`` (USD-M futures). COIN-M and options are not supported."""

MARKETS: Final[tuple[Market, ...]] = ("spot", "um")

RawKind = Literal["int", "float", "bool", "epoch", "text_time", "text"]
"""How a raw column is read: ``epoch`` is an integer in ms or µs (unit found per
file); ``text_time`` is ``YYYY-MM-DD HH:MM:SS[.ffffff]`` in UTC."""

Convert = Literal["copy", "time", "aggressor", "null"]
"""How a lake column is made from a raw one: ``time`` -> ns since the epoch;
``aggressor`` -> the taker's side from is_buyer_maker; ``null`` -> always null."""

_TIME: Final = pa.timestamp("ns", tz="UTC")


def _schema(*fields: tuple[str, pa.DataType] | tuple[str, pa.DataType, bool]) -> pa.Schema:
    """Fields are non-nullable unless a third element says otherwise."""
    return pa.schema(
        [pa.field(f[0], f[1], nullable=bool(f[2]) if len(f) == 3 else False) for f in fields]
    )


TRADES_SCHEMA: Final = _schema(
    ("trade_id", pa.int64()),
    ("ts", _TIME),
    ("price", pa.float64()),
    ("quantity", pa.float64()),
    ("quote_quantity", pa.float64()),
    ("aggressor", pa.string()),
    ("is_best_match", pa.bool_(), True),
)

AGG_TRADES_SCHEMA: Final = _schema(
    ("agg_trade_id", pa.int64()),
    ("ts", _TIME),
    ("price", pa.float64()),
    ("quantity", pa.float64()),
    ("first_trade_id", pa.int64()),
    ("last_trade_id", pa.int64()),
    ("aggressor", pa.string()),
    ("is_best_match", pa.bool_(), True),
)

QUOTES_SCHEMA: Final = _schema(
    ("update_id", pa.int64()),
    ("ts", _TIME),
    ("event_ts", _TIME),
    ("bid_price", pa.float64()),
    ("bid_quantity", pa.float64()),
    ("ask_price", pa.float64()),
    ("ask_quantity", pa.float64()),
)

# Spot top-of-book quotes from sources that carry no update id (NautilusTrader's
# parquet): ``seq`` is the row's rank among the file's rows with the same ``ts``,
# in file order, so same-millisecond quotes keep their order and a re-ingest of
# the same file finds the same keys.
SPOT_QUOTES_SCHEMA: Final = _schema(
    ("ts", _TIME),
    ("seq", pa.int64()),
    ("bid_price", pa.float64()),
    ("bid_quantity", pa.float64()),
    ("ask_price", pa.float64()),
    ("ask_quantity", pa.float64()),
)

# Binance's historical T_DEPTH order-book rows (snapshots and diffs). ``side`` is
# BID or ASK; ``update_type`` is Binance's (snap, set); ``prev_update_id`` is ``pu``,
# null on snapshot rows (Binance writes -1 there); a quantity of 0 removes a level.
DEPTH_UPDATES_SCHEMA: Final = _schema(
    ("ts", _TIME),
    ("first_update_id", pa.int64()),
    ("last_update_id", pa.int64()),
    ("prev_update_id", pa.int64(), True),
    ("side", pa.string()),
    ("update_type", pa.string()),
    ("price", pa.float64()),
    ("quantity", pa.float64()),
)

BOOK_DEPTH_SCHEMA: Final = _schema(
    ("ts", _TIME),
    ("percentage", pa.float64()),
    ("depth", pa.float64()),
    ("notional", pa.float64()),
)

# Ratios can be empty in Binance's metrics files (a period with no data), so
# every value is nullable; a null is stored as a null, never as 0.
METRICS_SCHEMA: Final = _schema(
    ("ts", _TIME),
    ("sum_open_interest", pa.float64(), True),
    ("sum_open_interest_value", pa.float64(), True),
    ("count_toptrader_long_short_ratio", pa.float64(), True),
    ("sum_toptrader_long_short_ratio", pa.float64(), True),
    ("count_long_short_ratio", pa.float64(), True),
    ("sum_taker_long_short_vol_ratio", pa.float64(), True),
)

FUNDING_SCHEMA: Final = _schema(
    ("ts", _TIME),
    ("funding_interval_hours", pa.int64()),
    ("rate", pa.float64()),
)


class UnknownDatasetError(ValueError):
    """A lake dataset name that the registry does not know."""


class UnknownFamilyError(ValueError):
    """A binance.vision family that does not exist in a market (or at all)."""


@dataclass(frozen=True, slots=True)
class DatasetSpec:
    """A lake dataset: ``<base>`` or, for bars, ``<base>_<interval>``.

    ``key`` identifies a row (two rows with one key are one fact: dedup keeps
    one); ``sort`` is the order rows are stored in, time first and then the
    key, so ties in time have a stable order. ``time_column`` decides the
    row's UTC date partition.
    """

    base: str
    schema: pa.Schema
    key: tuple[str, ...]
    sort: tuple[str, ...]
    time_column: str
    per_interval: bool = False
    delta_encoded: bool = True
    """Store int64 and timestamp columns DELTA_BINARY_PACKED (rising ids and times
    shrink to a few bits per row and encode faster). Bars keep ``Lake.write_bars``'
    plain layout, so bars from any writer are the same bytes."""

    def name(self, interval: str | None = None) -> str:
        if self.per_interval:
            if interval not in INTERVALS:
                raise UnknownDatasetError(
                    f"{self.base} needs an interval, one of: {', '.join(INTERVALS)}"
                    f" (got {interval!r})"
                )
            return f"{self.base}_{interval}"
        if interval is not None:
            raise UnknownDatasetError(f"{self.base} has no interval (got {interval!r})")
        return self.base

    @property
    def column_encoding(self) -> dict[str, str]:
        """Parquet encodings per column for ``Lake.write_partition``."""
        if not self.delta_encoded:
            return {}
        return {
            f.name: "DELTA_BINARY_PACKED"
            for f in self.schema
            if pa.types.is_int64(f.type) or pa.types.is_timestamp(f.type)
        }

    @property
    def time_columns(self) -> tuple[str, ...]:
        """Columns stored as ``timestamp[ns, UTC]`` (handled as int64 ns while merging)."""
        return tuple(f.name for f in self.schema if pa.types.is_timestamp(f.type))


def _bars(base: str) -> DatasetSpec:
    return DatasetSpec(
        base, BARS_SCHEMA, ("open_time",), ("open_time",), "open_time", True, delta_encoded=False
    )


def _trades(base: str) -> DatasetSpec:
    return DatasetSpec(base, TRADES_SCHEMA, ("trade_id",), ("ts", "trade_id"), "ts")


def _agg_trades(base: str) -> DatasetSpec:
    return DatasetSpec(base, AGG_TRADES_SCHEMA, ("agg_trade_id",), ("ts", "agg_trade_id"), "ts")


BARS: Final = _bars("bars")
TRADES: Final = _trades("trades")
AGG_TRADES: Final = _agg_trades("agg_trades")
UM_BARS: Final = _bars("um_bars")
UM_MARK_PRICE_BARS: Final = _bars("um_mark_price_bars")
UM_INDEX_PRICE_BARS: Final = _bars("um_index_price_bars")
UM_PREMIUM_INDEX_BARS: Final = _bars("um_premium_index_bars")
UM_TRADES: Final = _trades("um_trades")
UM_AGG_TRADES: Final = _agg_trades("um_agg_trades")
UM_QUOTES: Final = DatasetSpec(
    "um_quotes", QUOTES_SCHEMA, ("update_id",), ("ts", "update_id"), "ts"
)
QUOTES: Final = DatasetSpec("quotes", SPOT_QUOTES_SCHEMA, ("ts", "seq"), ("ts", "seq"), "ts")
# One price level of one side changes once per update: (last_update_id, side,
# price) is a row; the rows of one update share its time, so sorting by time and
# then the key keeps updates in sequence.
UM_DEPTH_UPDATES: Final = DatasetSpec(
    "um_depth_updates",
    DEPTH_UPDATES_SCHEMA,
    ("last_update_id", "side", "price"),
    ("ts", "last_update_id", "side", "price"),
    "ts",
)
UM_BOOK_DEPTH: Final = DatasetSpec(
    "um_book_depth", BOOK_DEPTH_SCHEMA, ("ts", "percentage"), ("ts", "percentage"), "ts"
)
UM_METRICS: Final = DatasetSpec("um_metrics", METRICS_SCHEMA, ("ts",), ("ts",), "ts")
UM_FUNDING: Final = DatasetSpec("um_funding", FUNDING_SCHEMA, ("ts",), ("ts",), "ts")

DATASET_SPECS: Final[tuple[DatasetSpec, ...]] = (
    BARS,
    TRADES,
    AGG_TRADES,
    QUOTES,
    UM_BARS,
    UM_TRADES,
    UM_AGG_TRADES,
    UM_QUOTES,
    UM_DEPTH_UPDATES,
    UM_BOOK_DEPTH,
    UM_METRICS,
    UM_FUNDING,
    UM_MARK_PRICE_BARS,
    UM_INDEX_PRICE_BARS,
    UM_PREMIUM_INDEX_BARS,
)


def dataset_spec(name: str) -> tuple[DatasetSpec, str | None]:
    """The spec of lake dataset ``name`` and its interval (``None`` if it has none)."""
    for spec in DATASET_SPECS:
        if name == spec.base and not spec.per_interval:
            return spec, None
        if spec.per_interval and name.startswith(spec.base + "_"):
            interval = name[len(spec.base) + 1 :]
            if interval in INTERVALS:
                return spec, interval
    raise UnknownDatasetError(f"unknown lake dataset {name!r}")


@dataclass(frozen=True, slots=True)
class RawColumn:
    """A column of a raw file. ``name`` is its snake_case name in Binance's headers;
    ``aliases`` are the other names seen for it (compared after ``snake_case``)."""

    name: str
    kind: RawKind
    aliases: tuple[str, ...] = ()
    required: bool = True

    @property
    def names(self) -> frozenset[str]:
        return frozenset((self.name, *self.aliases))


@dataclass(frozen=True, slots=True)
class RawLayout:
    """The columns of a raw file, in file order."""

    columns: tuple[RawColumn, ...]

    @property
    def names_in_order(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> RawColumn:
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(name)


@dataclass(frozen=True, slots=True)
class Output:
    """Lake column ``name`` made from raw column ``source`` by ``convert``."""

    name: str
    source: str | None
    convert: Convert = "copy"


@dataclass(frozen=True, slots=True)
class Family:
    """A binance.vision family in a market, and how its rows become lake rows.

    Validation facts: ``positive`` columns must be finite and > 0 (prices),
    ``non_negative`` ones finite and >= 0 (sizes); ``crossed`` names the (bid,
    ask) pair where bid >= ask is a broken quote; ``symbol_column`` is a raw
    column that must repeat the file's symbol.
    """

    name: str
    market: Market
    layouts: tuple[RawLayout, ...]
    spec: DatasetSpec
    outputs: tuple[Output, ...]
    positive: tuple[str, ...] = ()
    non_negative: tuple[str, ...] = ()
    crossed: tuple[str, str] | None = None
    symbol_column: str | None = None
    periods: tuple[str, ...] = ("daily", "monthly")

    @property
    def per_interval(self) -> bool:
        return self.spec.per_interval

    def dataset(self, interval: str | None = None) -> str:
        return self.spec.name(interval)


def _col(name: str, kind: RawKind, *aliases: str, required: bool = True) -> RawColumn:
    return RawColumn(name, kind, aliases, required)


# -- raw layouts (README of binance/binance-public-data, and real headers) ----------------

_PRICE = _col("price", "float")
_QUANTITY = _col("quantity", "float", "qty")
_IS_BUYER_MAKER = _col("is_buyer_maker", "bool")

_SPOT_AGG_TRADES = RawLayout(
    (
        _col("agg_trade_id", "int", "id"),
        _PRICE,
        _QUANTITY,
        _col("first_trade_id", "int"),
        _col("last_trade_id", "int"),
        _col("transact_time", "epoch", "timestamp", "time"),
        _IS_BUYER_MAKER,
        _col("is_best_match", "bool", "best_match"),
    )
)
# USD-M aggTrades: no is_best_match; header from ~2022 on, older files have none.
_UM_AGG_TRADES = RawLayout(_SPOT_AGG_TRADES.columns[:7])

_SPOT_TRADES = RawLayout(
    (
        _col("id", "int", "trade_id"),
        _PRICE,
        _QUANTITY,
        _col("quote_qty", "float", "quote_quantity"),
        _col("time", "epoch", "timestamp", "transact_time", "trade_time"),
        _IS_BUYER_MAKER,
        _col("is_best_match", "bool", "best_match"),
    )
)
_UM_TRADES = RawLayout(_SPOT_TRADES.columns[:6])

_KLINES = RawLayout(
    (
        _col("open_time", "epoch"),
        _col("open", "float"),
        _col("high", "float"),
        _col("low", "float"),
        _col("close", "float"),
        _col("volume", "float"),
        _col("close_time", "epoch"),
        _col("quote_volume", "float", "quote_asset_volume"),
        _col("count", "int", "number_of_trades", "trades", "num_trades"),
        _col("taker_buy_volume", "float", "taker_buy_base_volume", "taker_buy_base_asset_volume"),
        _col("taker_buy_quote_volume", "float", "taker_buy_quote_asset_volume"),
        _col("ignore", "text", required=False),
    )
)

_BOOK_TICKER = RawLayout(
    (
        _col("update_id", "int"),
        _col("best_bid_price", "float", "bid_price"),
        _col("best_bid_qty", "float", "bid_qty", "best_bid_quantity", "bid_quantity"),
        _col("best_ask_price", "float", "ask_price"),
        _col("best_ask_qty", "float", "ask_qty", "best_ask_quantity", "ask_quantity"),
        _col("transaction_time", "epoch", "transact_time"),
        _col("event_time", "epoch"),
    )
)

_BOOK_DEPTH = RawLayout(
    (
        _col("timestamp", "text_time", "time"),
        _col("percentage", "float"),
        _col("depth", "float"),
        _col("notional", "float"),
    )
)

_METRIC_NAMES: Final = (
    "sum_open_interest",
    "sum_open_interest_value",
    "count_toptrader_long_short_ratio",
    "sum_toptrader_long_short_ratio",
    "count_long_short_ratio",
    "sum_taker_long_short_vol_ratio",
)

_METRICS = RawLayout(
    (
        _col("create_time", "text_time"),
        _col("symbol", "text"),
        *(_col(name, "float", required=False) for name in _METRIC_NAMES),
    )
)

_FUNDING_RATE = RawLayout(
    (
        _col("calc_time", "epoch"),
        _col("funding_interval_hours", "int"),
        _col("last_funding_rate", "float", "funding_rate"),
    )
)

# -- outputs --------------------------------------------------------------------------

_BAR_OUTPUTS = (
    Output("open_time", "open_time", "time"),
    Output("open", "open"),
    Output("high", "high"),
    Output("low", "low"),
    Output("close", "close"),
    Output("volume", "volume"),
    Output("quote_volume", "quote_volume"),
    Output("trades", "count"),
)
_BAR_PRICES = ("open", "high", "low", "close")
_BAR_SIZES = ("volume", "quote_volume", "trades")


def _best_match(present: bool) -> Output:
    # USD-M files have no is_best_match column: the lake stores null, not a guess.
    return (
        Output("is_best_match", "is_best_match")
        if present
        else Output("is_best_match", None, "null")
    )


def _trade_outputs(best_match: bool) -> tuple[Output, ...]:
    return (
        Output("trade_id", "id"),
        Output("ts", "time", "time"),
        Output("price", "price"),
        Output("quantity", "quantity"),
        Output("quote_quantity", "quote_qty"),
        # Binance: is_buyer_maker true means the buyer's order rested, so the taker sold.
        Output("aggressor", "is_buyer_maker", "aggressor"),
        _best_match(best_match),
    )


def _agg_trade_outputs(best_match: bool) -> tuple[Output, ...]:
    return (
        Output("agg_trade_id", "agg_trade_id"),
        Output("ts", "transact_time", "time"),
        Output("price", "price"),
        Output("quantity", "quantity"),
        Output("first_trade_id", "first_trade_id"),
        Output("last_trade_id", "last_trade_id"),
        Output("aggressor", "is_buyer_maker", "aggressor"),
        _best_match(best_match),
    )


def _klines(name: str, market: Market, spec: DatasetSpec, *, prices: bool = True) -> Family:
    # Premium-index "prices" are a premium, which is negative whenever futures trade
    # below the index: only the sizes are checked for them.
    return Family(
        name,
        market,
        (_KLINES,),
        spec,
        _BAR_OUTPUTS,
        positive=_BAR_PRICES if prices else (),
        non_negative=_BAR_SIZES,
    )


FAMILIES: Final[tuple[Family, ...]] = (
    Family(
        "aggTrades", "spot", (_SPOT_AGG_TRADES,), AGG_TRADES, _agg_trade_outputs(True),
        positive=("price",), non_negative=("quantity",),
    ),
    Family(
        "trades", "spot", (_SPOT_TRADES,), TRADES, _trade_outputs(True),
        positive=("price",), non_negative=("quantity", "quote_quantity"),
    ),
    _klines("klines", "spot", BARS),
    Family(
        "aggTrades", "um", (_UM_AGG_TRADES,), UM_AGG_TRADES, _agg_trade_outputs(False),
        positive=("price",), non_negative=("quantity",),
    ),
    Family(
        "trades", "um", (_UM_TRADES,), UM_TRADES, _trade_outputs(False),
        positive=("price",), non_negative=("quantity", "quote_quantity"),
    ),
    _klines("klines", "um", UM_BARS),
    _klines("markPriceKlines", "um", UM_MARK_PRICE_BARS),
    _klines("indexPriceKlines", "um", UM_INDEX_PRICE_BARS),
    _klines("premiumIndexKlines", "um", UM_PREMIUM_INDEX_BARS, prices=False),
    Family(
        "bookTicker", "um", (_BOOK_TICKER,), UM_QUOTES,
        (
            Output("update_id", "update_id"),
            Output("ts", "transaction_time", "time"),
            Output("event_ts", "event_time", "time"),
            Output("bid_price", "best_bid_price"),
            Output("bid_quantity", "best_bid_qty"),
            Output("ask_price", "best_ask_price"),
            Output("ask_quantity", "best_ask_qty"),
        ),
        positive=("bid_price", "ask_price"),
        non_negative=("bid_quantity", "ask_quantity"),
        crossed=("bid_price", "ask_price"),
    ),
    Family(
        "bookDepth", "um", (_BOOK_DEPTH,), UM_BOOK_DEPTH,
        (
            Output("ts", "timestamp", "time"),
            Output("percentage", "percentage"),
            Output("depth", "depth"),
            Output("notional", "notional"),
        ),
        non_negative=("depth", "notional"),
    ),
    Family(
        "metrics", "um", (_METRICS,), UM_METRICS,
        (Output("ts", "create_time", "time"), *(Output(name, name) for name in _METRIC_NAMES)),
        non_negative=_METRIC_NAMES,
        symbol_column="symbol",
    ),
    Family(
        "fundingRate", "um", (_FUNDING_RATE,), UM_FUNDING,
        (
            Output("ts", "calc_time", "time"),
            Output("funding_interval_hours", "funding_interval_hours"),
            Output("rate", "last_funding_rate"),
        ),
        periods=("monthly",),
    ),
)  # fmt: skip

KLINE_FAMILIES: Final[frozenset[str]] = frozenset(f.name for f in FAMILIES if f.per_interval)

_FAMILY_NAMES: Final[frozenset[str]] = frozenset(f.name for f in FAMILIES)


def family(market: Market, name: str) -> Family:
    """The family ``name`` (binance.vision spelling, e.g. ``aggTrades``) of ``market``."""
    for candidate in FAMILIES:
        if candidate.market == market and candidate.name == name:
            return candidate
    if name in _FAMILY_NAMES:
        markets = sorted(f.market for f in FAMILIES if f.name == name)
        raise UnknownFamilyError(
            f"{market} has no {name} files on binance.vision (only {', '.join(markets)})"
        )
    known = ", ".join(sorted(_FAMILY_NAMES))
    raise UnknownFamilyError(f"unknown binance.vision family {name!r}; known: {known}")


_CAMEL_BOUNDARY: Final = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_SEPARATORS: Final = re.compile(r"[\s\-]+")


def snake_case(name: str) -> str:
    """``transactTime`` / ``Transact Time`` / ``transact_time`` -> ``transact_time``."""
    name = name.strip().strip('"').strip()
    return _SEPARATORS.sub("_", _CAMEL_BOUNDARY.sub("_", name)).lower()
