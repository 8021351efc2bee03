from __future__ import annotations

import json
import math
import sys
from dataclasses import dataclass
from decimal import Decimal

import pytest

from actors.accountant import RoundTrip
from app.metrics import compute_metrics
from tests.app.run_outputs import METRIC_NAMES

HOUR = 3_600_000_000_000
DAY = 24 * HOUR
EPOCH_2024 = 19_723 * DAY  # 2024-01-01T00:00Z


@dataclass(frozen=True)
class FillRecord:
    price: Decimal
    quantity: Decimal
    fee: Decimal


def at(day: int, hour: int) -> int:
    return EPOCH_2024 + day * DAY + hour * HOUR


def mark(day: int, hour: int, equity: str, exposure: str = "0") -> tuple[int, Decimal, Decimal]:
    return (at(day, hour), Decimal(equity), Decimal(exposure))


def trip(pnl: str, fees: str = "1") -> RoundTrip:
    return RoundTrip(
        symbol="BTCUSDT",
        entry_ts=at(0, 1),
        exit_ts=at(0, 2),
        quantity=Decimal(1),
        entry_price=Decimal(100),
        exit_price=Decimal(100),
        pnl=Decimal(pnl),
        fees=Decimal(fees),
    )


def fill(price: str, quantity: str, fee: str) -> FillRecord:
    return FillRecord(Decimal(price), Decimal(quantity), Decimal(fee))


# A small run by hand: initial cash 100; daily closes 110, 99, 121.
CURVE = [
    mark(0, 12, "102"),
    mark(0, 23, "110", "10"),
    mark(1, 12, "99", "10"),
    mark(2, 12, "121"),
]
TRIPS = [trip("10"), trip("-5"), trip("20"), trip("0")]
FILLS = [fill("100", "0.5", "0.05"), fill("110", "-0.5", "0.055")]


@pytest.fixture
def metrics() -> dict[str, float | int]:
    return compute_metrics(CURVE, TRIPS, FILLS, Decimal(100))


def test_every_key_is_present_and_json_safe(metrics: dict[str, float | int]) -> None:
    assert list(metrics) == list(METRIC_NAMES)
    json.dumps(metrics, allow_nan=False)


def test_returns(metrics: dict[str, float | int]) -> None:
    assert metrics["start_equity"] == 100.0
    assert metrics["final_equity"] == 121.0
    assert metrics["total_return"] == pytest.approx(0.21)


def test_cagr_compounds_over_the_time_from_first_to_last_mark(
    metrics: dict[str, float | int],
) -> None:
    years = 2 / 365.25  # day 0 12:00 to day 2 12:00
    assert metrics["cagr"] == pytest.approx(1.21 ** (1 / years) - 1)


def test_drawdown_is_measured_from_the_peak_until_recovery(metrics: dict[str, float | int]) -> None:
    assert metrics["max_drawdown"] == pytest.approx(0.1)  # 110 -> 99
    assert metrics["max_drawdown_duration_days"] == pytest.approx(37 / 24)  # day0 23h -> day2 12h
    assert metrics["calmar"] == pytest.approx(metrics["cagr"] / 0.1)


def test_sharpe_and_sortino_use_daily_closes_and_the_initial_cash(
    metrics: dict[str, float | int],
) -> None:
    # daily returns 110/100-1 = 0.1, 99/110-1 = -0.1, 121/99-1 = 2/9; mean 2/27;
    # deviations 7/270, -47/270, 40/270 -> sample variance 1929/72900, sd sqrt(1929)/270.
    assert metrics["sharpe"] == pytest.approx(20 / math.sqrt(1929) * math.sqrt(365))
    # downside deviation sqrt(0.1**2 / 3)
    assert metrics["sortino"] == pytest.approx((2 / 27) / (0.1 / math.sqrt(3)) * math.sqrt(365))


def test_trade_statistics(metrics: dict[str, float | int]) -> None:
    assert metrics["trades"] == 4
    assert metrics["win_rate"] == 0.5  # a zero-pnl trade is not a win
    assert metrics["profit_factor"] == pytest.approx(30 / 5)
    assert metrics["expectancy"] == pytest.approx(25 / 4)
    assert metrics["payoff_ratio"] == pytest.approx(15 / 5)


def test_costs_turnover_and_exposure(metrics: dict[str, float | int]) -> None:
    assert metrics["fills"] == 2
    assert metrics["fees_paid"] == pytest.approx(0.105)
    # notional 50 + 55 over average equity (102 + 110 + 99 + 121) / 4 = 108
    assert metrics["turnover"] == pytest.approx(105 / 108)
    assert metrics["exposure_time"] == 0.5


def test_two_days_give_sharpe_from_the_first_day_against_initial_cash() -> None:
    result = compute_metrics([mark(0, 23, "110"), mark(1, 23, "115.5")], [], [], Decimal(100))
    # returns 0.1 and 0.05: mean 0.075, sample sd 0.025 * sqrt(2)
    assert result["sharpe"] == pytest.approx(0.075 / (0.025 * math.sqrt(2)) * math.sqrt(365))
    assert result["sortino"] == 0.0  # no losing day: undefined


def test_no_marks_no_trades_is_all_zero_and_json_safe() -> None:
    result = compute_metrics([], [], [], Decimal(1000))
    assert list(result) == list(METRIC_NAMES)
    assert result["start_equity"] == result["final_equity"] == 1000.0
    assert all(
        result[key] == 0 for key in METRIC_NAMES if key not in ("start_equity", "final_equity")
    )
    json.dumps(result, allow_nan=False)


def test_flat_equity_has_no_risk_and_no_return() -> None:
    result = compute_metrics([mark(day, 12, "100") for day in range(5)], [], [], Decimal(100))
    for key in (
        "total_return",
        "cagr",
        "max_drawdown",
        "max_drawdown_duration_days",
        "sharpe",
        "sortino",
        "calmar",
        "exposure_time",
    ):
        assert result[key] == 0.0


def test_single_day_has_no_sharpe_but_annualises_cagr() -> None:
    result = compute_metrics([mark(0, 0, "100"), mark(0, 12, "101")], [], [], Decimal(100))
    assert result["sharpe"] == result["sortino"] == 0.0
    assert result["cagr"] == pytest.approx(1.01 ** (365.25 * 2) - 1)


def test_drawdown_below_initial_cash_on_the_first_mark_and_never_recovered() -> None:
    result = compute_metrics([mark(0, 1, "90"), mark(0, 7, "95")], [], [], Decimal(100))
    assert result["max_drawdown"] == pytest.approx(0.1)
    assert result["max_drawdown_duration_days"] == pytest.approx(6 / 24)


def test_longest_drawdown_is_not_always_the_deepest() -> None:
    curve = [
        mark(0, 0, "100"),
        mark(0, 1, "50"),
        mark(0, 2, "100"),
        mark(0, 3, "99"),
        mark(0, 9, "99"),
        mark(0, 10, "101"),
    ]
    result = compute_metrics(curve, [], [], Decimal(100))
    assert result["max_drawdown"] == pytest.approx(0.5)
    assert result["max_drawdown_duration_days"] == pytest.approx(8 / 24)


def test_total_loss_gives_cagr_minus_one() -> None:
    result = compute_metrics([mark(0, 0, "100"), mark(3, 0, "0")], [], [], Decimal(100))
    assert result["cagr"] == -1.0
    assert result["max_drawdown"] == 1.0


def test_cagr_of_a_tiny_window_saturates_instead_of_overflowing() -> None:
    curve = [(EPOCH_2024, Decimal(100), Decimal(0)), (EPOCH_2024 + 1, Decimal(200), Decimal(0))]
    assert compute_metrics(curve, [], [], Decimal(100))["cagr"] == sys.float_info.max


def test_only_winning_trades_leave_loss_ratios_at_zero() -> None:
    result = compute_metrics([], [trip("3"), trip("5")], [], Decimal(100))
    assert (result["win_rate"], result["expectancy"]) == (1.0, 4.0)
    assert result["profit_factor"] == result["payoff_ratio"] == 0.0


def test_same_inputs_give_identical_output() -> None:
    first = json.dumps(compute_metrics(CURVE, TRIPS, FILLS, Decimal(100)))
    assert json.dumps(compute_metrics(list(CURVE), list(TRIPS), list(FILLS), Decimal(100))) == first


def test_marks_out_of_time_order_are_refused() -> None:
    with pytest.raises(ValueError, match="out of time order"):
        compute_metrics([mark(1, 0, "100"), mark(0, 0, "100")], [], [], Decimal(100))


def test_initial_cash_must_be_positive() -> None:
    with pytest.raises(ValueError, match="initial_cash"):
        compute_metrics([], [], [], Decimal(0))
