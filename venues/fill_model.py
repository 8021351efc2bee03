"""The fill model: at what price, for how much and at what fee a simulated order fills.

One implementation shared by the backtest exchange and, later, the paper broker
(DESIGN.md §7), so a strategy pays the same simulated costs in both. It is pure and
synchronous: Decimal prices and quantities in, Decimal prices, quantities and fees out.
Its only state is the seeded noise source, owned by each ``FillModel`` instance, so two
runs with the same seed draw the same noise in the same order; ``random_state`` and
``set_random_state`` carry it through a snapshot, so a restored session draws on.

Every rounding goes against the trader: a buy price rounds up to the tick, a sell price
down, a fee up to ``FEE_QUANTUM``, a fill quantity down to the lot. A backtest that
rounds in the trader's favour reports profits no venue would pay.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Final

from actors.messages import Side

__all__ = [
    "FEE_QUANTUM",
    "FillModel",
    "FillModelConfig",
    "RandomState",
    "fee",
    "floor_to_lot",
    "is_marketable",
    "is_stop_triggered",
    "price_to_tick",
    "traded_through",
]

FEE_QUANTUM: Final = Decimal("0.00000001")
"""Fees are rounded up to 1e-8 of the quote asset: the precision Binance books balances
in, fine enough for any quote currency we trade and exact in Decimal."""

RandomState = tuple[int, tuple[int, ...], float | None]
"""``random.Random.getstate()``: version, the Mersenne Twister's words, the cached gauss."""

_BPS: Final = Decimal(10_000)
_NOISE_STEPS: Final = 1_000_000
"""Noise is drawn as an integer in [0, _NOISE_STEPS] and scaled exactly in Decimal, so
the same seed gives the same prices on every platform (no float in the price path)."""

_ZERO: Final = Decimal(0)
_ONE: Final = Decimal(1)
# Read once: on Python 3.11 each ``Side.BUY`` goes through the enum metaclass (~70 ns),
# and the matching predicates below run per bar for every working order.
_BUY: Final = Side.BUY


@dataclass(frozen=True, slots=True)
class FillModelConfig:
    """Costs of simulated execution, in basis points of the price or the notional.

    ``impact_bps`` is the impact at 100% participation: an order for a tenth of the
    reference volume moves its price by a tenth of it. ``participation_cap`` is the
    share of a bar's volume resting limit orders may take per bar. Numbers given as
    int, str or float (a TOML file) are converted to Decimal through their text.
    """

    taker_fee_bps: Decimal = Decimal(10)
    maker_fee_bps: Decimal = Decimal(2)
    half_spread_bps: Decimal = _ZERO
    impact_bps: Decimal = _ZERO
    participation_cap: Decimal = Decimal("0.1")
    slippage_noise_bps: Decimal = _ZERO
    seed: int = 0

    def __post_init__(self) -> None:
        for name in (
            "taker_fee_bps",
            "maker_fee_bps",
            "half_spread_bps",
            "impact_bps",
            "participation_cap",
            "slippage_noise_bps",
        ):
            value = Decimal(str(getattr(self, name)))
            if not value.is_finite() or value < 0:
                raise ValueError(f"FillModelConfig.{name} must be a finite number >= 0: {value}")
            object.__setattr__(self, name, value)
        if not _ZERO < self.participation_cap <= _ONE:
            raise ValueError(
                f"FillModelConfig.participation_cap must be in (0, 1]: {self.participation_cap}"
            )


def price_to_tick(price: Decimal, tick_size: Decimal, side: Side) -> Decimal:
    """``price`` on the tick grid, rounded against the trader: buys up, sells down."""
    # Rounding is passed positionally throughout: a keyword costs more than the division.
    rounding = ROUND_CEILING if side is _BUY else ROUND_FLOOR
    return (price / tick_size).to_integral_value(rounding) * tick_size


def floor_to_lot(quantity: Decimal, lot_size: Decimal) -> Decimal:
    return (quantity / lot_size).to_integral_value(ROUND_FLOOR) * lot_size


def fee(notional: Decimal, bps: Decimal) -> Decimal:
    """``notional * bps / 10000``, rounded up to ``FEE_QUANTUM``."""
    return (notional * bps / _BPS).quantize(FEE_QUANTUM, ROUND_CEILING)


def is_marketable(side: Side, limit_price: Decimal | float, price: Decimal | float) -> bool:
    """Would a limit at ``limit_price`` trade against ``price`` on arrival?"""
    return limit_price >= price if side is _BUY else limit_price <= price


def traded_through(
    side: Side, limit_price: Decimal | float, low: Decimal | float, high: Decimal | float
) -> bool:
    """Did the market trade strictly through a resting limit? Touching it is not enough:
    at the limit price our order may have been behind the whole queue."""
    return low < limit_price if side is _BUY else high > limit_price


def is_stop_triggered(
    side: Side, stop_price: Decimal | float, low: Decimal | float, high: Decimal | float
) -> bool:
    """A buy stop triggers when the market trades at or above it, a sell stop at or below."""
    return high >= stop_price if side is _BUY else low <= stop_price


class FillModel:
    """Prices market fills, sizes limit fills and charges fees for one venue simulation."""

    def __init__(self, config: FillModelConfig) -> None:
        self._config = config
        self._random = random.Random(config.seed)
        # Every order prices with these: read from the frozen config once, not per order.
        self._half_spread_bps = config.half_spread_bps
        self._impact_bps = config.impact_bps
        self._noise_bps = config.slippage_noise_bps
        self._taker_fee_bps = config.taker_fee_bps
        self._maker_fee_bps = config.maker_fee_bps
        self._max_fee_bps = max(config.taker_fee_bps, config.maker_fee_bps)

    @property
    def config(self) -> FillModelConfig:
        return self._config

    def random_state(self) -> RandomState:
        """Where the noise source is: the next draws follow from it alone."""
        return self._random.getstate()

    def set_random_state(self, state: RandomState) -> None:
        self._random.setstate(state)

    def impact_bps(self, quantity: Decimal, reference_volume: Decimal | None) -> Decimal:
        """Impact of ``quantity`` against ``reference_volume``. With no volume to compare
        to (no bar seen yet, or a bar without trades) the order is charged the impact of
        taking the whole volume: the conservative guess, and a bounded one."""
        if not reference_volume:
            return self._impact_bps
        return self._impact_bps * quantity / reference_volume

    def market_price(
        self,
        side: Side,
        reference_price: Decimal,
        quantity: Decimal,
        reference_volume: Decimal | None,
        tick_size: Decimal,
    ) -> Decimal:
        """Fill price of a taker order: reference ± half spread ± impact ± noise, on the
        tick. Noise is adverse (slippage never helps) and drawn only if configured."""
        noise = self._draw_noise_bps() if self._noise_bps else _ZERO
        return self._taker_price(
            side, reference_price, quantity, reference_volume, tick_size, noise
        )

    def worst_market_price(
        self,
        side: Side,
        reference_price: Decimal,
        quantity: Decimal,
        reference_volume: Decimal | None,
        tick_size: Decimal,
    ) -> Decimal:
        """``market_price`` with the noise at its maximum, drawing nothing: what a venue
        reserves for a market order at ``reference_price``."""
        return self._taker_price(
            side, reference_price, quantity, reference_volume, tick_size, self._noise_bps
        )

    def participation_capacity(self, bar_volume: Decimal, lot_size: Decimal) -> Decimal:
        """How much resting limit orders may fill in one bar of ``bar_volume``."""
        return floor_to_lot(self._config.participation_cap * bar_volume, lot_size)

    # The fees below are ``fee`` written out: they run for every order and every fill.

    def taker_fee(self, notional: Decimal) -> Decimal:
        return (notional * self._taker_fee_bps / _BPS).quantize(FEE_QUANTUM, ROUND_CEILING)

    def maker_fee(self, notional: Decimal) -> Decimal:
        return (notional * self._maker_fee_bps / _BPS).quantize(FEE_QUANTUM, ROUND_CEILING)

    def max_fee(self, notional: Decimal) -> Decimal:
        """The larger of the two fees: what to reserve before knowing which one applies."""
        return (notional * self._max_fee_bps / _BPS).quantize(FEE_QUANTUM, ROUND_CEILING)

    def _draw_noise_bps(self) -> Decimal:
        step = self._random.randint(0, _NOISE_STEPS)
        return self._noise_bps * step / _NOISE_STEPS

    def _taker_price(
        self,
        side: Side,
        reference_price: Decimal,
        quantity: Decimal,
        reference_volume: Decimal | None,
        tick_size: Decimal,
        noise_bps: Decimal,
    ) -> Decimal:
        # ``impact_bps`` and ``price_to_tick`` written out, the same operations in the same
        # order (the exponents of the result depend on them): every market order runs this
        # twice, for its reservation and for its fill.
        impact = self._impact_bps
        if reference_volume:
            impact = impact * quantity / reference_volume
        cost_bps = self._half_spread_bps + impact + noise_bps
        if side is _BUY:
            price = reference_price * (_ONE + cost_bps / _BPS)
            return (price / tick_size).to_integral_value(ROUND_CEILING) * tick_size
        price = reference_price * (_ONE - cost_bps / _BPS)
        price = (price / tick_size).to_integral_value(ROUND_FLOOR) * tick_size
        # Costs of 100% or more would price a sale at zero or below; a tick is the floor.
        return max(price, tick_size)
