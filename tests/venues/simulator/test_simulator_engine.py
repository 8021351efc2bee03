"""The matching engine on a book it is told about: fills, fees, reservations, events."""

from __future__ import annotations

from decimal import Decimal

import pytest

from actors.messages import Side
from venues.fill_model import FillModel, FillModelConfig
from venues.simulator.config import SymbolSpec
from venues.simulator.engine import AccountEvent, ExecutionEvent, MatchingEngine
from venues.simulator.errors import BinanceError

D = Decimal
SPEC = SymbolSpec(
    symbol="BTCUSDT", base="BTC", quote="USDT", tick_size=D("0.01"), step_size=D("0.00001"),
    min_qty=D("0.00001"), min_notional=D(5),
)  # fmt: skip
FEES = FillModelConfig(
    taker_fee_bps=D(10), maker_fee_bps=D(2), half_spread_bps=D(1), participation_cap=D("0.1")
)


def _engine(usdt: str = "100000", btc: str = "0") -> tuple[MatchingEngine, list[object]]:
    events: list[object] = []
    engine = MatchingEngine(
        specs={"BTCUSDT": SPEC},
        model=FillModel(FEES),
        balances={"USDT": D(usdt), "BTC": D(btc)},
        publish=events.append,
        commission_asset="quote",  # every fee in USDT: the tests below read one balance
    )
    engine.set_price("BTCUSDT", D(40000))  # bid 39996.00, ask 40004.00
    engine.start_bar("BTCUSDT", D(10))  # takers may take 1.0 BTC this bar
    return engine, events


def _place(engine: MatchingEngine, side: str, order_type: str, quantity: str, price: str = "0",
           tif: str = "GTC", client_id: str | None = None):  # type: ignore[no-untyped-def]  # fmt: skip
    return engine.place(
        symbol="BTCUSDT", side=Side(side), order_type=order_type, time_in_force=tif,
        quantity=D(quantity), price=D(price), client_order_id=client_id, time_ms=1000,
    )  # fmt: skip


def _balances(engine: MatchingEngine) -> dict[str, tuple[Decimal, Decimal]]:
    return {asset: (free, locked) for asset, free, locked in engine.balances_view()}


def _reports(events: list[object]) -> list[tuple[str, str]]:
    return [(e.execution_type, e.order.status) for e in events if isinstance(e, ExecutionEvent)]


def test_the_book_is_a_half_spread_around_the_last_price() -> None:
    engine, _ = _engine()
    assert engine.book("BTCUSDT") == (D(40000), D("39996.00"), D("40004.00"))


def test_a_market_buy_fills_at_the_ask_and_pays_the_taker_fee() -> None:
    engine, events = _engine()
    order, trades = _place(engine, "BUY", "MARKET", "0.5")
    assert order.status == "FILLED"
    (trade,) = trades
    assert (trade.price, trade.quantity, trade.commission) == (D("40004.00"), D("0.5"), D("20.002"))
    assert _balances(engine) == {"BTC": (D("0.5"), 0), "USDT": (D("79977.998"), 0)}
    assert _reports(events) == [("NEW", "NEW"), ("TRADE", "FILLED")]
    assert isinstance(events[-1], AccountEvent)
    assert [row[0] for row in events[-1].balances] == ["BTC", "USDT"]


def test_a_market_order_larger_than_the_book_fills_what_it_can_and_expires() -> None:
    engine, events = _engine(usdt="1000000")
    order, _trades = _place(engine, "BUY", "MARKET", "1.5")
    assert (order.status, order.executed) == ("EXPIRED", D("1.0"))
    assert _reports(events) == [
        ("NEW", "NEW"),
        ("TRADE", "PARTIALLY_FILLED"),
        ("EXPIRED", "EXPIRED"),
    ]


def test_takers_share_one_bars_budget_until_the_next_bar() -> None:
    engine, _ = _engine(usdt="1000000")
    first, _ = _place(engine, "BUY", "MARKET", "0.6")
    second, _ = _place(engine, "BUY", "MARKET", "0.6")
    assert (first.executed, second.executed, second.status) == (D("0.6"), D("0.4"), "EXPIRED")
    engine.start_bar("BTCUSDT", D(10))
    third, _ = _place(engine, "BUY", "MARKET", "0.6")
    assert third.status == "FILLED"


def test_a_limit_buy_rests_and_locks_its_worst_cost() -> None:
    engine, events = _engine()
    order, trades = _place(engine, "BUY", "LIMIT", "0.1", "39900")
    assert (order.status, trades, order.on_book) == ("NEW", [], True)
    # 0.1 x 39900 = 3990, plus the larger fee (10 bps) 3.99
    assert _balances(engine)["USDT"] == (D("96006.01"), D("3993.99"))
    assert _reports(events) == [("NEW", "NEW")]
    assert isinstance(events[-1], AccountEvent)


def test_a_resting_limit_fills_when_the_market_trades_through_it_not_at_it() -> None:
    engine, events = _engine()
    _place(engine, "BUY", "LIMIT", "0.1", "39900")
    engine.on_trade("BTCUSDT", D("39950"), D(5), 2000)
    engine.on_trade("BTCUSDT", D("39900"), D(5), 3000)  # touching is not enough
    assert _reports(events) == [("NEW", "NEW")]
    engine.on_trade("BTCUSDT", D("39899.99"), D(5), 4000)
    trade = engine.trades("BTCUSDT")[-1]
    assert (trade.price, trade.quantity, trade.is_maker) == (D(39900), D("0.1"), True)
    assert trade.commission == D("0.798")  # maker: 2 bps of 3990
    assert _balances(engine) == {"BTC": (D("0.1"), 0), "USDT": (D("100000") - D("3990.798"), 0)}
    assert _reports(events)[-1] == ("TRADE", "FILLED")


def test_a_resting_order_fills_by_its_share_of_each_trade() -> None:
    engine, events = _engine()
    order, _ = _place(engine, "BUY", "LIMIT", "1", "39900")
    engine.on_trade("BTCUSDT", D("39800"), D(2), 2000)
    engine.on_trade("BTCUSDT", D("39800"), D(3), 3000)
    assert [t.quantity for t in engine.trades("BTCUSDT")] == [D("0.2"), D("0.3")]
    assert (order.status, order.executed) == ("PARTIALLY_FILLED", D("0.5"))
    assert _reports(events)[-2:] == [("TRADE", "PARTIALLY_FILLED"), ("TRADE", "PARTIALLY_FILLED")]
    engine.on_trade("BTCUSDT", D("39800"), D(10), 4000)
    assert _reports(events)[-1] == ("TRADE", "FILLED")
    assert _balances(engine)["USDT"][1] == 0  # nothing stays locked


def test_an_ioc_takes_what_the_book_has_and_expires_the_rest() -> None:
    engine, events = _engine(usdt="1000000")
    order, trades = _place(engine, "BUY", "LIMIT", "1.5", "40100", tif="IOC")
    assert (order.status, order.executed) == ("EXPIRED", D("1.0"))
    assert trades[0].price == D("40004.00")  # the taker price, better than the limit
    assert _reports(events) == [
        ("NEW", "NEW"),
        ("TRADE", "PARTIALLY_FILLED"),
        ("EXPIRED", "EXPIRED"),
    ]
    assert _balances(engine)["USDT"][1] == 0


def test_an_ioc_that_cannot_take_expires_without_a_fill() -> None:
    engine, _events = _engine()
    order, trades = _place(engine, "BUY", "LIMIT", "0.1", "39000", tif="IOC")
    assert (order.status, trades) == ("EXPIRED", [])
    assert _balances(engine)["USDT"] == (D(100000), 0)


def test_a_fok_fills_whole_or_not_at_all() -> None:
    engine, _events = _engine(usdt="1000000")
    too_big, trades = _place(engine, "BUY", "LIMIT", "1.5", "40100", tif="FOK")
    assert (too_big.status, too_big.executed, trades) == ("EXPIRED", 0, [])
    fits, trades = _place(engine, "BUY", "LIMIT", "0.5", "40100", tif="FOK")
    assert (fits.status, [t.quantity for t in trades]) == ("FILLED", [D("0.5")])


def test_a_limit_maker_that_would_take_is_refused() -> None:
    engine, events = _engine()
    with pytest.raises(BinanceError) as refused:
        _place(engine, "BUY", "LIMIT_MAKER", "0.1", "40004")
    assert (refused.value.code, refused.value.msg) == (
        -2010,
        "Order would immediately match and take.",
    )
    assert events == []
    order, _ = _place(engine, "BUY", "LIMIT_MAKER", "0.1", "40003.99")
    assert (order.status, order.on_book) == ("NEW", True)


def test_a_marketable_gtc_takes_then_rests_the_remainder_as_maker() -> None:
    engine, _ = _engine(usdt="1000000")
    order, trades = _place(engine, "BUY", "LIMIT", "1.5", "40100")
    assert (order.status, order.on_book, [t.is_maker for t in trades]) == (
        "PARTIALLY_FILLED",
        True,
        [False],
    )
    engine.on_trade("BTCUSDT", D("40050"), D(10), 2000)
    last = engine.trades("BTCUSDT")[-1]
    assert (last.price, last.quantity, last.is_maker) == (D(40100), D("0.5"), True)


def test_a_cancel_releases_what_the_order_locked() -> None:
    engine, events = _engine()
    _order, _ = _place(engine, "BUY", "LIMIT", "0.1", "39900", client_id="c-1")
    canceled, cancel_id = engine.cancel("BTCUSDT", None, "c-1", None, 5000)
    assert (canceled.status, cancel_id) == ("CANCELED", "sim-cancel-1")
    assert _balances(engine)["USDT"] == (D(100000), 0)
    report = [e for e in events if isinstance(e, ExecutionEvent)][-1]
    assert (report.execution_type, report.cancel_client_id, report.time_ms) == (
        "CANCELED",
        "sim-cancel-1",
        5000,
    )
    with pytest.raises(BinanceError) as again:
        engine.cancel("BTCUSDT", None, "c-1", None, 6000)
    assert again.value.code == -2011


def test_a_sell_needs_the_base_asset_and_locks_it() -> None:
    engine, _ = _engine(btc="0.05")
    with pytest.raises(BinanceError) as refused:
        _place(engine, "SELL", "LIMIT", "0.1", "41000")
    assert refused.value.code == -2010
    _place(engine, "SELL", "LIMIT", "0.05", "41000")
    assert _balances(engine)["BTC"] == (0, D("0.05"))
    engine.on_trade("BTCUSDT", D("41000.01"), D(1), 2000)
    # 0.05 x 41000 = 2050 less the maker fee 0.41
    assert _balances(engine) == {"BTC": (0, 0), "USDT": (D("102049.59"), 0)}


def test_trade_ids_increase_across_orders() -> None:
    engine, _ = _engine()
    for _ in range(3):
        _place(engine, "BUY", "MARKET", "0.01")
    assert [t.trade_id for t in engine.trades("BTCUSDT")] == [1, 2, 3]


# --- commission assets ------------------------------------------------------------------


def _commission_engine(
    mode: str, balances: dict[str, str], bnb_prices: dict[str, Decimal] | None = None
) -> MatchingEngine:
    engine = MatchingEngine(
        specs={"BTCUSDT": SPEC},
        model=FillModel(FEES),
        balances={asset: D(amount) for asset, amount in balances.items()},
        publish=lambda event: None,
        commission_asset=mode,
        bnb_prices=bnb_prices or {},
    )
    engine.set_price("BTCUSDT", D(40000))  # bid 39996.00, ask 40004.00
    engine.start_bar("BTCUSDT", D(10))
    return engine


def test_by_default_a_buy_pays_its_commission_in_the_base_asset_it_receives() -> None:
    engine = _commission_engine("received", {"USDT": "100000"})
    _order, (trade,) = engine.place(
        symbol="BTCUSDT", side=Side.BUY, order_type="MARKET", time_in_force="GTC",
        quantity=D("0.01234"), price=D(0), client_order_id=None, time_ms=1000,
    )  # fmt: skip
    # 10 bps of 0.01234 BTC = 0.00001234 BTC; the USDT paid is the notional only.
    assert (trade.commission, trade.commission_asset) == (D("0.00001234"), "BTC")
    assert _balances(engine) == {
        "BTC": (D("0.01232766"), 0),
        "USDT": (D(100000) - D("40004.00") * D("0.01234"), 0),
    }


def test_a_base_commission_is_rounded_up_to_eight_decimals() -> None:
    engine = _commission_engine("received", {"USDT": "100000"})
    _order, (trade,) = engine.place(
        symbol="BTCUSDT", side=Side.BUY, order_type="MARKET", time_in_force="GTC",
        quantity=D("0.00123"), price=D(0), client_order_id=None, time_ms=1000,
    )  # fmt: skip
    assert trade.commission == D("0.00000123")
    _order, (maker,) = engine.place(
        symbol="BTCUSDT", side=Side.BUY, order_type="LIMIT", time_in_force="GTC",
        quantity=D("0.00123"), price=D(40010), client_order_id=None, time_ms=1000,
    )  # fmt: skip
    assert maker.commission == D("0.00000123")
    engine.start_bar("BTCUSDT", D(10))
    resting, _ = engine.place(
        symbol="BTCUSDT", side=Side.BUY, order_type="LIMIT", time_in_force="GTC",
        quantity=D("0.00123"), price=D(39900), client_order_id=None, time_ms=1000,
    )  # fmt: skip
    engine.on_trade("BTCUSDT", D("39899.99"), D(5), 2000)
    # maker 2 bps of 0.00123 = 0.000000246, rounded up against the trader
    assert engine.trades("BTCUSDT")[-1].commission == D("0.00000025")
    assert resting.status == "FILLED"


def test_a_received_asset_buy_locks_no_quote_for_a_fee_it_does_not_pay_in_quote() -> None:
    engine = _commission_engine("received", {"USDT": "100000"})
    engine.place(
        symbol="BTCUSDT", side=Side.BUY, order_type="LIMIT", time_in_force="GTC",
        quantity=D("0.1"), price=D(39900), client_order_id=None, time_ms=1000,
    )  # fmt: skip
    assert _balances(engine)["USDT"] == (D("96010.0"), D("3990.0"))
    engine.on_trade("BTCUSDT", D("39899.99"), D(5), 2000)
    # maker 2 bps of 0.1 BTC = 0.00002 BTC
    assert _balances(engine) == {"BTC": (D("0.09998"), 0), "USDT": (D("96010.0"), 0)}


def test_a_sell_pays_its_commission_in_the_quote_asset_it_receives() -> None:
    engine = _commission_engine("received", {"USDT": "0", "BTC": "0.05"})
    _order, (trade,) = engine.place(
        symbol="BTCUSDT", side=Side.SELL, order_type="MARKET", time_in_force="GTC",
        quantity=D("0.05"), price=D(0), client_order_id=None, time_ms=1000,
    )  # fmt: skip
    notional = D("39996.00") * D("0.05")
    assert (trade.commission, trade.commission_asset) == (D("1.99980"), "USDT")
    assert _balances(engine) == {"BTC": (0, 0), "USDT": (notional - D("1.99980"), 0)}


def test_bnb_commission_uses_the_configured_price_and_falls_back_when_bnb_runs_out() -> None:
    engine = _commission_engine("BNB", {"USDT": "100000", "BNB": "0.01"}, {"USDT": D(500)})
    _order, (first,) = engine.place(
        symbol="BTCUSDT", side=Side.BUY, order_type="MARKET", time_in_force="GTC",
        quantity=D("0.1"), price=D(0), client_order_id=None, time_ms=1000,
    )  # fmt: skip
    # 10 bps of 4000.4 USDT = 4.0004 USDT = 0.0080008 BNB at 500 USDT
    assert (first.commission, first.commission_asset) == (D("0.0080008"), "BNB")
    _order, (second,) = engine.place(
        symbol="BTCUSDT", side=Side.BUY, order_type="MARKET", time_in_force="GTC",
        quantity=D("0.1"), price=D(0), client_order_id=None, time_ms=1000,
    )  # fmt: skip
    assert (second.commission, second.commission_asset) == (D("0.0001"), "BTC")
    balances = _balances(engine)
    assert balances["BNB"] == (D("0.0019992"), 0)
    assert balances["BTC"] == (D("0.1999"), 0)
    assert balances["USDT"] == (D(100000) - 2 * D("4000.400"), 0)


def test_quote_commission_charges_everything_in_the_quote_asset() -> None:
    engine = _commission_engine("quote", {"USDT": "100000"})
    _order, (trade,) = engine.place(
        symbol="BTCUSDT", side=Side.BUY, order_type="MARKET", time_in_force="GTC",
        quantity=D("0.01"), price=D(0), client_order_id=None, time_ms=1000,
    )  # fmt: skip
    assert (trade.commission, trade.commission_asset) == (D("0.40004"), "USDT")


def test_an_unknown_commission_asset_is_refused() -> None:
    with pytest.raises(ValueError, match="commission_asset"):
        _commission_engine("ETH", {"USDT": "1"})
