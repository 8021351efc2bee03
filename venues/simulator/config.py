"""The simulator's configuration: market data source, replay speed, account, keys, limits.

Everything the simulator decides with comes from here (and from its fault plan), so
two simulators built from equal configs serve the same bytes to the same requests.
The API key and secret default to fixed, well-known strings: they unlock a local
simulator's play money and nothing else, which is what lets a demo or a test sign
requests with no setup. They are throwaway by design; never reuse them anywhere.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Final, Literal

from venues.fill_model import FillModelConfig
from venues.simulator.faults import FaultPlan

__all__ = [
    "COMMISSION_ASSETS",
    "DEFAULT_API_KEY",
    "DEFAULT_API_SECRET",
    "DEFAULT_ED25519_API_KEY",
    "SimulatorConfig",
    "SymbolSpec",
    "default_symbol_spec",
    "split_symbol",
]

DEFAULT_API_KEY: Final = "tickdeck-simulator-api-key-0000000000000000000000000000000000000000"
DEFAULT_API_SECRET: Final = "tickdeck-simulator-throwaway-secret-00000000000000000000000000000"
DEFAULT_ED25519_API_KEY: Final = "tickdeck-simulator-ed25519-api-key-000000000000000000000000000000"

COMMISSION_ASSETS: Final = ("received", "quote", "BNB")
"""What a trade's commission may be paid in; see ``SimulatorConfig.commission_asset``."""

# Quote assets recognised at the end of a symbol, longest first (FDUSD before USD...).
_QUOTES: Final = ("FDUSD", "USDT", "USDC", "TUSD", "BUSD", "EUR", "TRY", "BRL", "BTC", "ETH", "BNB")

# Binance's spot filters for the symbols the demo uses (the same numbers as the
# instruments in app/settings.py, so orders our risk layer quantizes pass here).
_KNOWN: Final[dict[str, tuple[str, str, str]]] = {
    # symbol: (tick size, step size, min notional)
    "BTCUSDT": ("0.01", "0.00001", "5"),
    "ETHUSDT": ("0.01", "0.0001", "5"),
}


@dataclass(frozen=True, slots=True)
class SymbolSpec:
    """One symbol's assets and the filters exchangeInfo publishes and orders must pass."""

    symbol: str
    base: str
    quote: str
    tick_size: Decimal
    step_size: Decimal
    min_qty: Decimal
    max_qty: Decimal = Decimal(9000)
    min_price: Decimal | None = None
    max_price: Decimal = Decimal(1_000_000)
    min_notional: Decimal = Decimal(5)

    @property
    def lowest_price(self) -> Decimal:
        return self.tick_size if self.min_price is None else self.min_price


def split_symbol(symbol: str) -> tuple[str, str]:
    """``BTCUSDT`` -> (``BTC``, ``USDT``) by the quote assets Binance lists most."""
    for quote in _QUOTES:
        if symbol.endswith(quote) and len(symbol) > len(quote):
            return symbol[: -len(quote)], quote
    raise ValueError(
        f"cannot tell the base and quote assets of {symbol!r}; give a SymbolSpec for it"
    )


def default_symbol_spec(symbol: str, price: float) -> SymbolSpec:
    """Filters for ``symbol``: Binance's own for known symbols, else about seven
    significant digits of price and a lot to match, derived from a typical ``price``
    (the rule storage/sample.py builds its tick and lot grids with)."""
    base, quote = split_symbol(symbol)
    known = _KNOWN.get(symbol)
    if known is not None:
        tick, step, notional = (Decimal(value) for value in known)
    else:
        magnitude = math.floor(math.log10(price)) if price > 0 else 0
        tick = Decimal(1).scaleb(magnitude - 6)
        step = Decimal(1).scaleb(-min(max(magnitude + 1, 0), 8))
        notional = Decimal(5) if quote in ("USDT", "USDC", "FDUSD", "TUSD", "BUSD") else tick
    return SymbolSpec(
        symbol=symbol, base=base, quote=quote, tick_size=tick, step_size=step, min_qty=step,
        min_notional=notional,
    )  # fmt: skip


@dataclass(frozen=True, slots=True)
class SimulatorConfig:
    """How a simulator runs.

    Market data: ``data_dir`` set -> the lake's ``bars_1m`` of ``symbols`` (days
    ``data_start`` to ``data_end``, exclusive; all of them when None); else the seeded
    sample generator (``sample_days`` from ``sample_start``). The replay starts
    ``history_minutes`` after the first bar (or at ``start_ms``), so klines have a
    history to serve from the first request; ``speed`` simulated seconds pass per real
    second (``start_paused``: the clock stands until ``resume`` or ``advance``).

    ``commission_asset``: what a trade's commission is paid in (venues/simulator/engine.py):
    ``"received"`` as Binance charges by default (a buy in the base asset, a sell in the
    quote asset), ``"quote"`` always in the quote asset (as the backtest exchange and the
    paper broker charge), or ``"BNB"`` at ``bnb_prices`` (quote asset -> price of one
    BNB) while the account holds BNB (give it a ``balances["BNB"]``).

    ``client_id_scope``: Binance refuses a ``newClientOrderId`` only while an open
    order holds it ("A unique id among open orders"); ``"all"`` refuses any id the
    account has used, for tests that want strict idempotency.
    """

    host: str = "127.0.0.1"
    port: int = 0
    speed: float = 60.0
    start_paused: bool = False
    symbols: tuple[str, ...] = ("BTCUSDT",)
    instruments: tuple[SymbolSpec, ...] = ()
    data_dir: Path | None = None
    data_start: dt.date | None = None
    data_end: dt.date | None = None
    sample_start: dt.date = dt.date(2024, 1, 1)
    sample_days: int = 3
    sample_seed: int = 7
    sample_prices: Mapping[str, float] = field(
        default_factory=lambda: {"BTCUSDT": 42000.0, "ETHUSDT": 2500.0}
    )
    """Where each symbol's sample series starts; 100 for a symbol not listed."""
    start_ms: int | None = None
    history_minutes: int = 1440
    trades_per_bar: int = 4
    balances: Mapping[str, Decimal] = field(
        default_factory=lambda: {"USDT": Decimal(100_000), "BTC": Decimal(0)}
    )
    fill: FillModelConfig = field(
        default_factory=lambda: FillModelConfig(
            taker_fee_bps=Decimal(10), maker_fee_bps=Decimal(10), half_spread_bps=Decimal(1)
        )
    )
    commission_asset: Literal["received", "quote", "BNB"] = "received"
    bnb_prices: Mapping[str, Decimal] = field(default_factory=lambda: {"USDT": Decimal(600)})
    api_key: str = DEFAULT_API_KEY
    api_secret: str = DEFAULT_API_SECRET
    ed25519_api_key: str = DEFAULT_ED25519_API_KEY
    ed25519_public_key_pem: str | None = None
    client_id_scope: Literal["open", "all"] = "open"
    weight_limit: int = 6000
    weight_window_seconds: float = 60.0
    bans_after_429s: int = 3
    ban_seconds: int = 120
    listen_key_ttl_seconds: float = 3600.0
    ping_interval_seconds: float = 20.0
    max_connection_seconds: float = 24 * 3600.0
    ws_queue_size: int = 50_000
    seed: int = 0
    faults: FaultPlan = field(default_factory=FaultPlan)

    def __post_init__(self) -> None:
        if not self.speed > 0 or not math.isfinite(self.speed):
            raise ValueError(f"speed must be a positive number, got {self.speed}")
        if not self.symbols:
            raise ValueError("the simulator needs at least one symbol")
        if self.trades_per_bar < 4:
            raise ValueError(
                f"trades_per_bar must be >= 4 (open, high, low, close), got {self.trades_per_bar}"
            )
        if self.history_minutes < 0:
            raise ValueError(f"history_minutes must be >= 0, got {self.history_minutes}")
        if self.sample_days < 1:
            raise ValueError(f"sample_days must be >= 1, got {self.sample_days}")
        if self.weight_limit < 1 or self.weight_window_seconds <= 0:
            raise ValueError("weight_limit and weight_window_seconds must be positive")
        if self.client_id_scope not in ("open", "all"):
            raise ValueError(f"client_id_scope must be 'open' or 'all': {self.client_id_scope}")
        if self.commission_asset not in COMMISSION_ASSETS:
            raise ValueError(
                f"commission_asset must be one of {', '.join(COMMISSION_ASSETS)}: "
                f"{self.commission_asset!r}"
            )
        prices = {a.upper(): Decimal(str(v)) for a, v in self.bnb_prices.items()}
        if any(not price.is_finite() or price <= 0 for price in prices.values()):
            raise ValueError(f"bnb_prices must be positive numbers: {self.bnb_prices}")
        object.__setattr__(self, "bnb_prices", prices)
        object.__setattr__(self, "symbols", tuple(s.upper() for s in self.symbols))
        object.__setattr__(
            self, "balances", {a.upper(): Decimal(str(v)) for a, v in self.balances.items()}
        )
