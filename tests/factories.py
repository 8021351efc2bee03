"""Message factories shared by the tests: one place that spells out every field of a
message, so a test names only the fields its case is about.

Amounts are given as text (or ``Decimal``, or ``int``) and become ``Decimal`` here, so
``"0.1"`` in a test is exactly one tenth.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import msgspec

from actors.intervals import interval_ns
from actors.messages import Bar, EquityMarked, Fill, Instrument, PositionChanged, Side

BTC = "BTCUSDT"

Amount = Decimal | str | int


def flat_bar(close: float, ts: int, symbol: str = BTC, interval: str = "1m") -> Bar:
    """A bar of ``interval`` that closes at ``ts`` at one price (open = high = low =
    close), with a volume of 1."""
    return Bar(
        ts=ts, symbol=symbol, interval=interval, start=ts - interval_ns(interval),
        open=close, high=close, low=close, close=close, volume=1.0,
    )  # fmt: skip


def btcusdt(**filters: Amount) -> Instrument:
    """BTCUSDT on the backtest venue: a tick of 0.01 and a lot of 0.00001 unless
    ``filters`` (any ``Instrument`` filter field) say otherwise."""
    sizes: dict[str, Amount] = {"tick_size": "0.01", "lot_size": "0.00001", **filters}
    return Instrument(
        ts=0, symbol=BTC, venue="backtest", base="BTC", quote="USDT",
        **{name: Decimal(value) for name, value in sizes.items()},
    )  # fmt: skip


def make_fill(
    side: Side = Side.BUY,
    quantity: Amount = "1",
    price: Amount = "100",
    *,
    ts: int = 0,
    symbol: str = BTC,
    fee: Amount = "0",
    fee_asset: str = "USDT",
    client_order_id: str = "c1",
    venue_order_id: str = "v1",
    trade_id: str = "t1",
    strategy: str = "s",
    cumulative_quantity: Amount | None = None,
) -> Fill:
    """A fill; by default the whole of its order (cumulative quantity = quantity)."""
    cumulative = quantity if cumulative_quantity is None else cumulative_quantity
    return Fill(
        ts=ts,
        client_order_id=client_order_id,
        venue_order_id=venue_order_id,
        trade_id=trade_id,
        strategy=strategy,
        symbol=symbol,
        side=side,
        price=Decimal(price),
        quantity=Decimal(quantity),
        cumulative_quantity=Decimal(cumulative),
        fee=Decimal(fee),
        fee_asset=fee_asset,
    )


def position_changed(
    quantity: Amount,
    *,
    ts: int = 0,
    symbol: str = BTC,
    average_price: Amount = "100",
    realized_pnl: Amount = "0",
) -> PositionChanged:
    return PositionChanged(
        ts=ts,
        symbol=symbol,
        quantity=Decimal(quantity),
        average_price=Decimal(average_price),
        realized_pnl=Decimal(realized_pnl),
    )


def equity_marked(equity: Amount, *, ts: int = 0, day_pnl: Amount = "0") -> EquityMarked:
    """A flat account's mark: all of ``equity`` is cash, nothing realized, no fees."""
    return EquityMarked(
        ts=ts,
        cash=Decimal(equity),
        equity=Decimal(equity),
        realized_pnl=Decimal(0),
        unrealized_pnl=Decimal(0),
        fees=Decimal(0),
        day_pnl=Decimal(day_pnl),
        gross_exposure=Decimal(0),
    )


def example_value(info: msgspec.inspect.Type) -> Any:
    """A non-default example value of an inspected type, so a round trip is meaningful
    (the text is not ASCII, so encodings are exercised too)."""
    match info:
        case msgspec.inspect.IntType():
            return 1_700_000_000_123_456_789
        case msgspec.inspect.FloatType():
            return 42123.45
        case msgspec.inspect.StrType():
            return "BTCUSDT ünïcode"
        case msgspec.inspect.BoolType():
            return True
        case msgspec.inspect.DecimalType():
            return Decimal("0.00012345")
        case msgspec.inspect.EnumType():
            return list(info.cls)[-1]
        case msgspec.inspect.UnionType():
            kinds = [t for t in info.types if not isinstance(t, msgspec.inspect.NoneType)]
            return example_value(kinds[0])
        case msgspec.inspect.DictType():
            return {example_value(info.key_type): example_value(info.value_type)}
        case msgspec.inspect.VarTupleType():
            return (example_value(info.item_type), example_value(info.item_type))
        case msgspec.inspect.StructType():
            return example_struct(info.cls)
    raise AssertionError(f"no example for {info}")


def example_struct(cls: type) -> Any:
    """An instance of the Struct ``cls`` with an example value in every field."""
    info = msgspec.inspect.type_info(cls)
    assert isinstance(info, msgspec.inspect.StructType)
    return cls(**{field.name: example_value(field.type) for field in info.fields})
