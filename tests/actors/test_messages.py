"""The catalog round-trips through msgpack and evolves without breaking old bytes."""

from __future__ import annotations

from decimal import Decimal

import msgspec
import pytest

from actors import messages
from actors.messages import (
    ALL_MESSAGES,
    Fill,
    Liquidity,
    OrderTicket,
    Side,
    SubmitOrder,
    decode,
    encode,
    handler_name,
)
from tests.factories import example_struct


@pytest.mark.parametrize("cls", ALL_MESSAGES, ids=lambda cls: cls.__name__)
def test_every_message_round_trips_through_msgpack(cls: type) -> None:
    message = example_struct(cls)
    decoded = decode(encode(message))
    assert type(decoded) is cls
    assert decoded == message


@pytest.mark.parametrize("cls", ALL_MESSAGES, ids=lambda cls: cls.__name__)
def test_every_message_is_frozen_and_carries_ts(cls: type) -> None:
    message = example_struct(cls)
    assert isinstance(message.ts, int)
    with pytest.raises(AttributeError):
        message.ts = 0


def test_catalog_holds_the_design_names() -> None:
    names = {cls.__name__ for cls in ALL_MESSAGES}
    design = {
        "Instrument", "Bar", "TradeTick", "QuoteTick", "Signal", "OrderIntent", "OrderRequest",
        "SubmitOrder", "OrderAccepted", "OrderRejected", "OrderCanceled", "OrderExpired", "Fill",
        "PositionChanged", "EquityMarked", "RiskBreach", "TradingHalted", "TradingResumed",
        "DriftDetected", "Heartbeat", "Alert", "Halt", "Resume", "FlattenAll", "CancelAll",
        "SaveSnapshot", "Reconcile",
    }  # fmt: skip
    assert design <= names


def test_money_and_quantity_are_exact_decimals_on_the_wire() -> None:
    ticket = OrderTicket(symbol="BTCUSDT", side=Side.BUY, quantity=Decimal("0.1"))
    submit = SubmitOrder(ts=1, client_order_id="c1", strategy="s", ticket=ticket)
    wire = msgspec.msgpack.decode(encode(submit))
    assert wire["ticket"]["quantity"] == "0.1"
    assert decode(encode(submit)).ticket.quantity == Decimal("0.1")


class _FillV1(msgspec.Struct, frozen=True, kw_only=True, tag="Fill"):
    """``Fill`` as an earlier catalog wrote it: before ``liquidity`` was appended."""

    ts: int
    client_order_id: str
    venue_order_id: str
    trade_id: str
    strategy: str
    symbol: str
    side: str
    price: Decimal
    quantity: Decimal
    cumulative_quantity: Decimal
    fee: Decimal
    fee_asset: str


def test_bytes_of_a_previous_version_decode_after_a_field_is_appended() -> None:
    old = _FillV1(
        ts=5, client_order_id="c", venue_order_id="v", trade_id="t", strategy="s",
        symbol="BTCUSDT", side="SELL", price=Decimal("42000.10"), quantity=Decimal("0.5"),
        cumulative_quantity=Decimal("0.5"), fee=Decimal("0.021"), fee_asset="USDT",
    )  # fmt: skip
    data = msgspec.msgpack.Encoder(decimal_format="string").encode(old)
    fill = decode(data)
    assert isinstance(fill, Fill)
    assert fill.price == Decimal("42000.10")
    assert fill.side is Side.SELL
    assert fill.liquidity is Liquidity.TAKER  # the appended field's default


def test_bytes_with_a_field_this_version_does_not_know_still_decode() -> None:
    class HaltV9(msgspec.Struct, frozen=True, kw_only=True, tag="Halt"):
        ts: int
        reason: str
        operator_id: str

    data = msgspec.msgpack.encode(HaltV9(ts=3, reason="manual", operator_id="desk-2"))
    assert decode(data) == messages.Halt(ts=3, reason="manual")


def test_a_bad_field_is_reported_with_its_path() -> None:
    data = msgspec.msgpack.encode({"type": "Halt", "ts": "yesterday"})
    with pytest.raises(msgspec.ValidationError, match=r"\$\.ts"):
        decode(data)


def test_handler_names_follow_the_message_names() -> None:
    assert handler_name(messages.OrderIntent) == "on_order_intent"
    assert handler_name(messages.EquityMarked) == "on_equity_marked"
    assert len({handler_name(cls) for cls in ALL_MESSAGES}) == len(ALL_MESSAGES)
