"""Performance metrics of a run: returns, risk, trade statistics and costs.

Conventions, so that every figure is a finite float (or an int) and the
result serialises to JSON byte-identically for the same run:

- The account starts at ``initial_cash``: it is the first peak for drawdowns
  and the base of the first day's return.
- Daily returns use the last equity mark of each UTC day; a day without marks
  has no return (gaps are not filled). Sharpe and Sortino are the mean daily
  return over its sample standard deviation (Sortino: over the downside
  deviation, target 0, divided by all days) times sqrt(365), risk-free 0.
- CAGR compounds over the calendar time from the first to the last mark, in
  years of 365.25 days; it is -1.0 after a total loss and saturates at the
  largest float when a short run annualises beyond it.
- A ratio whose denominator is zero is reported as 0.0: Sharpe and Sortino
  with fewer than two daily returns or no dispersion (no losing day for
  Sortino), Calmar without a drawdown, profit factor without a losing trade,
  payoff ratio without a winning and a losing trade, and every per-trade
  figure without trades.
- Drawdown duration is the longest time from a peak to the first mark back at
  or above it (or to the last mark if it never recovered), in days.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from decimal import Decimal
from typing import Final, Protocol

__all__ = ["FillLike", "RoundTripLike", "compute_metrics"]

_NS_PER_DAY: Final = 86_400_000_000_000
_DAYS_PER_YEAR: Final = 365.25
_PERIODS_PER_YEAR: Final = 365  # crypto trades every day of the year


class RoundTripLike(Protocol):
    """A closed trade: from flat to a position and back to flat in one symbol."""

    @property
    def symbol(self) -> str: ...
    @property
    def entry_ts(self) -> int: ...
    @property
    def exit_ts(self) -> int: ...
    @property
    def quantity(self) -> Decimal: ...
    @property
    def entry_price(self) -> Decimal: ...
    @property
    def exit_price(self) -> Decimal: ...
    @property
    def pnl(self) -> Decimal:
        """Net of fees."""
        ...

    @property
    def fees(self) -> Decimal: ...


class FillLike(Protocol):
    @property
    def price(self) -> Decimal: ...
    @property
    def quantity(self) -> Decimal: ...
    @property
    def fee(self) -> Decimal: ...


def compute_metrics(
    equity: Sequence[tuple[int, Decimal, Decimal]],
    round_trips: Sequence[RoundTripLike],
    fills: Sequence[FillLike],
    initial_cash: Decimal,
) -> dict[str, float | int]:
    """Every metric of a run, keys always present; ``equity`` holds one
    ``(ts ns, equity, gross exposure)`` per mark, in time order."""
    if initial_cash <= 0:
        raise ValueError(f"initial_cash must be positive, got {initial_cash}")
    start = float(initial_cash)
    curve = _EquityCurve(equity, start)
    final = curve.final
    total_return = final / start - 1.0
    cagr = _cagr(final / start, curve.elapsed_ns)
    returns = curve.daily_returns()
    pnls = [trip.pnl for trip in round_trips]
    wins = [pnl for pnl in pnls if pnl > 0]
    losses = [pnl for pnl in pnls if pnl < 0]
    gross_win = sum(wins, Decimal(0))
    gross_loss = -sum(losses, Decimal(0))
    notional = sum((abs(fill.price * fill.quantity) for fill in fills), Decimal(0))
    return {
        "total_return": total_return,
        "cagr": cagr,
        "max_drawdown": curve.max_drawdown,
        "max_drawdown_duration_days": curve.max_drawdown_ns / _NS_PER_DAY,
        "sharpe": _sharpe(returns),
        "sortino": _sortino(returns),
        "calmar": cagr / curve.max_drawdown if curve.max_drawdown > 0 else 0.0,
        "win_rate": len(wins) / len(pnls) if pnls else 0.0,
        "profit_factor": float(gross_win / gross_loss) if gross_loss > 0 else 0.0,
        "expectancy": float(sum(pnls, Decimal(0)) / len(pnls)) if pnls else 0.0,
        "payoff_ratio": (
            float((gross_win / len(wins)) / (gross_loss / len(losses))) if wins and losses else 0.0
        ),
        "turnover": float(notional) / curve.average if curve.average > 0 else 0.0,
        "exposure_time": curve.exposed_marks / len(equity) if equity else 0.0,
        "fees_paid": float(sum((fill.fee for fill in fills), Decimal(0))),
        "trades": len(round_trips),
        "fills": len(fills),
        "final_equity": final,
        "start_equity": start,
    }


class _EquityCurve:
    """One pass over the marks (a run can have a million): drawdown, exposure,
    average equity and the close of each UTC day."""

    def __init__(self, marks: Sequence[tuple[int, Decimal, Decimal]], start: float) -> None:
        self.start = start
        self.final = start
        self.elapsed_ns = marks[-1][0] - marks[0][0] if marks else 0
        self.max_drawdown = 0.0
        self.max_drawdown_ns = 0
        self.exposed_marks = 0
        self.day_closes: list[float] = []
        total = 0.0
        peak, peak_ts, underwater = start, marks[0][0] if marks else 0, False
        day, previous_ts, value = None, None, start
        for ts, equity, exposure in marks:
            if previous_ts is not None and ts < previous_ts:
                raise ValueError(f"equity marks out of time order: {ts} after {previous_ts}")
            previous_ts = ts
            mark_day = ts // _NS_PER_DAY
            if mark_day != day:
                if day is not None:
                    self.day_closes.append(value)
                day = mark_day
            value = float(equity)
            total += value
            if exposure > 0:
                self.exposed_marks += 1
            if value >= peak:
                if underwater:
                    self.max_drawdown_ns = max(self.max_drawdown_ns, ts - peak_ts)
                    underwater = False
                peak, peak_ts = value, ts
            else:
                underwater = True
                self.max_drawdown = max(self.max_drawdown, (peak - value) / peak)
        if marks:
            self.day_closes.append(value)
            self.final = value
            if underwater:
                self.max_drawdown_ns = max(self.max_drawdown_ns, marks[-1][0] - peak_ts)
        self.average = total / len(marks) if marks else start

    def daily_returns(self) -> list[float]:
        returns: list[float] = []
        previous = self.start
        for close in self.day_closes:
            returns.append(close / previous - 1.0 if previous > 0 else 0.0)
            previous = close
        return returns


def _cagr(growth: float, elapsed_ns: int) -> float:
    if elapsed_ns <= 0:
        return 0.0
    if growth <= 0:
        return -1.0
    years = elapsed_ns / _NS_PER_DAY / _DAYS_PER_YEAR
    try:
        return growth ** (1.0 / years) - 1.0
    except OverflowError:
        return sys.float_info.max


def _sharpe(returns: Sequence[float]) -> float:
    if len(returns) < 2:
        return 0.0
    mean = math.fsum(returns) / len(returns)
    variance = math.fsum((r - mean) ** 2 for r in returns) / (len(returns) - 1)
    if variance <= 0:
        return 0.0
    return mean / math.sqrt(variance) * math.sqrt(_PERIODS_PER_YEAR)


def _sortino(returns: Sequence[float]) -> float:
    if len(returns) < 2:
        return 0.0
    mean = math.fsum(returns) / len(returns)
    downside = math.fsum(min(r, 0.0) ** 2 for r in returns) / len(returns)
    if downside <= 0:
        return 0.0
    return mean / math.sqrt(downside) * math.sqrt(_PERIODS_PER_YEAR)
