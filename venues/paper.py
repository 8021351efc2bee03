"""The paper broker: the backtest exchange's fills and books, on the venue's live market data.

A paper session trades against real prices (the venue's streams, or the loopback
simulator's) without sending an order anywhere. The broker is the backtest exchange
(venues/backtest.py) with three live specifics, so a strategy pays exactly the costs
it would pay in a backtest on the same bars: the same fill model (spread, impact,
fees, participation, seeded noise), the same matching at the next bar's open and on
bars that trade through a limit, the same spot account kept locally (balances,
reservations), and the same answers to ``QueryOrder`` and ``Reconcile``. Its state,
balances included, goes into the session's snapshots, and every report it publishes
into the journal.

What differs live:

- Time. A backtest's order is stamped with simulated time, which is market time. A
  paper order is stamped with the wall clock, which is not the time of the market
  data (the simulator replays 2024 while the wall says now; a venue's clock drifts
  from ours). The broker therefore takes an order's arrival as the newest bar time it
  has seen for the symbol (the event time of its latest bar update): an order decided
  on a bar's close fills at the next bar's open, exactly as in a backtest, even when
  that bar's opening update reached the broker before the order did (a fast replay,
  or a stream whose kline lags). Trade ticks do not move the arrival: live they run
  ahead of the klines, and counting them would push nearly every such order a bar
  late. The price of that choice: an order decided on a tick inside a bar arrives at
  that bar and fills at its open, which bar data cannot place after the tick (no
  strategy here decides on ticks; one that does needs tick-level fills).
- Repeats. A stream can deliver a bar update again or late (a reconnect, a
  duplicated frame). The backtest exchange must see each bar's opening and closing
  update at most once, or a resting order could fill twice on one bar, so a repeated
  or stale update is ignored: per symbol, an opening update only for a bar newer
  than every bar seen, a closing one only for a bar newer than the last closed.
- Feed subscriptions. The broker subscribes to each symbol's ``bar_open`` updates
  while it has orders working there, as in a backtest. A live stream that sends the
  opening update of every bar anyway satisfies that without reading the
  ``Subscribe``; one that sends only closed bars gets the same fills, at the same
  prices, when the bar closes (the backtest exchange runs the arrival step first).

The venue is named "paper" on every report; instruments come from the real venue's
exchangeInfo (``venues.binance.gateway.load_instruments(rest, symbols, "paper")``),
so orders are held to the venue's own filters.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import ClassVar, Final

import msgspec

from actors.messages import BarUpdate, Instrument, SubmitOrder
from venues.backtest import BacktestExchange, BacktestExchangeState
from venues.fill_model import FillModelConfig

__all__ = ["VENUE", "PaperBroker", "PaperBrokerState"]

VENUE: Final = "paper"


class PaperBrokerState(BacktestExchangeState, frozen=True, kw_only=True, gc=False):
    """The exchange's state, plus per symbol the newest bar time seen (an order's arrival)
    and the starts of the newest bar opened and closed (what decides which updates are
    repeats)."""

    market_time: dict[str, int]
    opened: dict[str, int]
    closed: dict[str, int]


class PaperBroker(BacktestExchange):
    """The venue gateway of a paper session; see the module docstring."""

    name: ClassVar[str] = "venue"
    state_type = PaperBrokerState

    def __init__(
        self,
        *,
        instruments: Mapping[str, Instrument],
        initial_balances: Mapping[str, Decimal],
        fill_model: FillModelConfig | None = None,
        venue: str = VENUE,
    ) -> None:
        super().__init__(
            venue=venue,
            instruments=instruments,
            initial_balances=initial_balances,
            fill_model=fill_model,
        )
        self._market_time: dict[str, int] = {}
        self._opened: dict[str, int] = {}
        self._closed: dict[str, int] = {}

    # --- snapshot ---------------------------------------------------------------------

    def snapshot(self) -> PaperBrokerState:
        return PaperBrokerState(
            **msgspec.structs.asdict(super().snapshot()),
            market_time=dict(self._market_time),
            opened=dict(self._opened),
            closed=dict(self._closed),
        )

    def restore(self, state: BacktestExchangeState) -> None:
        if not isinstance(state, PaperBrokerState):
            raise TypeError(f"a paper broker takes a PaperBrokerState, not {type(state).__name__}")
        super().restore(state)
        self._market_time = dict(state.market_time)
        self._opened = dict(state.opened)
        self._closed = dict(state.closed)

    # --- handlers ---------------------------------------------------------------------

    def on_bar_update(self, msg: BarUpdate) -> None:
        bar = msg.bar
        symbol, start = bar.symbol, bar.start
        if msg.closed:
            if start <= self._closed.get(symbol, -1):
                return
            self._closed[symbol] = start
        else:
            if start <= self._opened.get(symbol, -1) or start <= self._closed.get(symbol, -1):
                return
            self._opened[symbol] = start
        if msg.ts > self._market_time.get(symbol, 0):
            self._market_time[symbol] = msg.ts
        super().on_bar_update(msg)

    def on_submit_order(self, msg: SubmitOrder) -> None:
        # Arrival in market time: the exchange matches the order only against bars that
        # start at or after it (see the module docstring).
        arrival = self._market_time.get(msg.ticket.symbol, 0)
        super().on_submit_order(msgspec.structs.replace(msg, ts=arrival))
