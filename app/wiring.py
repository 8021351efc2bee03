"""The actors every mode builds the same way from the settings: the fill model, the books,
risk and reconciliation. A backtest and a paper session differ only in their feed and
venue; what they share is built here once, so the two cannot drift apart."""

from __future__ import annotations

from collections.abc import Mapping

from actors.accountant import Accountant
from actors.messages import Instrument
from actors.reconciler import Reconciler
from actors.risk import RiskLimits, RiskManager
from app.settings import Settings
from venues.fill_model import FillModelConfig

__all__ = ["accountant", "fill_model", "reconciler", "risk_manager"]


def fill_model(settings: Settings) -> FillModelConfig:
    ex = settings.exchange
    return FillModelConfig(
        taker_fee_bps=ex.taker_fee_bps,
        maker_fee_bps=ex.maker_fee_bps,
        half_spread_bps=ex.half_spread_bps,
        impact_bps=ex.impact_bps,
        participation_cap=ex.participation_cap,
        slippage_noise_bps=ex.slippage_noise_bps,
        seed=settings.backtest.seed,
    )


def accountant(settings: Settings, instruments: Mapping[str, Instrument]) -> Accountant:
    run = settings.backtest
    return Accountant(
        run.quote_asset,
        run.initial_cash,
        mark_interval=run.interval,
        price_increments={symbol: spec.tick_size for symbol, spec in instruments.items()},
    )


def risk_manager(settings: Settings, instruments: Mapping[str, Instrument]) -> RiskManager:
    limits = settings.risk
    return RiskManager(
        RiskLimits(
            max_order_notional=limits.max_order_notional,
            max_position_notional=limits.max_position_notional,
            daily_loss_limit=limits.daily_loss_limit,
        ),
        lot_sizes={symbol: spec.lot_size for symbol, spec in instruments.items()},
    )


def reconciler(settings: Settings, venue: str, instruments: Mapping[str, Instrument]) -> Reconciler:
    run = settings.backtest
    return Reconciler(
        venue=venue,
        quote_asset=run.quote_asset,
        base_assets={symbol: spec.base for symbol, spec in instruments.items()},
        initial_balances={run.quote_asset: run.initial_cash},
        interval_ns=settings.reconciler.interval_seconds * 10**9,
    )
