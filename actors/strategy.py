"""The strategy actor: hosts strategy plug-ins and turns their decisions into intents.

Plug-ins (``strategies/``) see only a ``StrategyContext`` (actors/ports.py): the
bars and ticks they subscribed to, their fills and positions, their working
orders. The host owns that bookkeeping so a plug-in stays a few lines of
trading logic, and so every plug-in sees the same, consistent state.

The host's snapshot (``StrategyHostState``) holds that bookkeeping and each
plug-in's own state, keyed by plug-in name; a plug-in's state is decoded into its
``state_type`` when restored, so the host's Struct needs to know no plug-in.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from decimal import ROUND_DOWN, Decimal
from typing import Any

import msgspec
import structlog

from actors.actor import Actor
from actors.messages import (
    Alert,
    Bar,
    Fill,
    Instrument,
    OrderCanceled,
    OrderExpired,
    OrderIntent,
    OrderRejected,
    OrderTicket,
    OrderType,
    PauseStrategy,
    PositionChanged,
    ResumeStrategy,
    RiskRejected,
    Side,
    Signal,
    SubmitOrder,
    TradeTick,
)
from actors.ports import Decisions, StrategyPlugin

__all__ = ["HostedOrder", "StrategyHost", "StrategyHostState", "UnknownInstrumentError"]

_ZERO = Decimal(0)
_log = structlog.get_logger(__name__)


class HostedOrder(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """A submitted order of a hosted strategy: its signed quantity not yet filled."""

    strategy: str
    symbol: str
    remaining: Decimal


class StrategyHostState(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """Positions by symbol; signed working quantities and the signed quantities of
    intents not yet submitted (oldest first), by strategy then symbol; open orders by
    client order id; and each plug-in's ``snapshot()`` by plug-in name (None for one
    without state). ``plugins`` is typed ``Any`` because the plug-ins vary: decoded from
    msgpack, a value is plain data until ``restore`` converts it."""

    positions: dict[str, Decimal]
    working: dict[str, dict[str, Decimal]]
    in_flight: dict[str, dict[str, tuple[Decimal, ...]]]
    orders: dict[str, HostedOrder]
    plugins: dict[str, Any]
    paused: tuple[str, ...] = ()


class UnknownInstrumentError(KeyError):
    def __str__(self) -> str:
        return f"no instrument for symbol {self.args[0]!r}: add it under [instruments]"


class _Context:
    """One plug-in's view of the world (implements ``actors.ports.StrategyContext``)."""

    __slots__ = ("_host", "strategy")

    def __init__(self, host: StrategyHost, strategy: str) -> None:
        self._host = host
        self.strategy = strategy

    def now(self) -> int:
        return self._host.clock.now()

    def instrument(self, symbol: str) -> Instrument:
        try:
            return self._host.instruments[symbol]
        except KeyError:
            raise UnknownInstrumentError(symbol) from None

    def position(self, symbol: str) -> Decimal:
        return self._host.positions.get(symbol, _ZERO)

    def working(self, symbol: str) -> Decimal:
        return self._host.working.get((self.strategy, symbol), _ZERO)

    def market(self, symbol: str, side: Side, quantity: Decimal, tag: str = "") -> OrderIntent:
        lot = self.instrument(symbol).lot_size
        ticket = OrderTicket(
            symbol=symbol,
            side=side,
            quantity=quantity.quantize(lot, rounding=ROUND_DOWN),
            order_type=OrderType.MARKET,
        )
        return OrderIntent(ts=self.now(), strategy=self.strategy, ticket=ticket, tag=tag)

    def quantity_for_notional(self, symbol: str, notional: Decimal, price: float) -> Decimal:
        lot = self.instrument(symbol).lot_size
        return (notional / Decimal(repr(price))).quantize(lot, rounding=ROUND_DOWN)

    def signal(self, symbol: str, name: str, value: float) -> None:
        now = self._host.clock.now()
        self._host.publish(
            Signal(ts=now, strategy=self.strategy, symbol=symbol, name=name, value=value)
        )


class StrategyHost(Actor):
    name = "strategy"
    state_type = StrategyHostState

    def __init__(
        self,
        plugins: Sequence[StrategyPlugin],
        instruments: Mapping[str, Instrument],
        *,
        indicators: bool = False,
    ) -> None:
        """``indicators``: after each bar, publish every plug-in's indicator values as
        ``Signal``s, for a session's charts (a backtest has no screen to pay for them)."""
        super().__init__()
        self.plugins = list(plugins)
        self.instruments = dict(instruments)
        self.publish_indicators = indicators
        self.positions: dict[str, Decimal] = {}
        self.working: dict[tuple[str, str], Decimal] = {}
        self.paused: set[str] = set()
        self.dropped_intents = 0
        self._orders: dict[str, tuple[str, str, Decimal]] = {}
        self._in_flight: dict[tuple[str, str], deque[Decimal]] = {}
        self._contexts = {plugin.name: _Context(self, plugin.name) for plugin in self.plugins}
        # Keyed by symbol alone, the interval compared per entry: no key tuple is
        # built per bar, and a symbol is rarely traded on more than one interval.
        self._bar_routes: dict[str, list[tuple[str, StrategyPlugin, _Context]]] = {}
        self._tick_routes: dict[str, list[tuple[StrategyPlugin, _Context]]] = {}
        self._symbol_routes: dict[str, list[tuple[StrategyPlugin, _Context]]] = {}
        for plugin in self.plugins:
            ctx = self._contexts[plugin.name]
            entry = (plugin, ctx)
            for symbol in plugin.symbols:
                self._bar_routes.setdefault(symbol, []).append((plugin.interval, plugin, ctx))
                self._symbol_routes.setdefault(symbol, []).append(entry)
                if plugin.wants_ticks:
                    self._tick_routes.setdefault(symbol, []).append(entry)

    def snapshot(self) -> StrategyHostState:
        working: dict[str, dict[str, Decimal]] = {}
        for (strategy, symbol), quantity in self.working.items():
            working.setdefault(strategy, {})[symbol] = quantity
        in_flight: dict[str, dict[str, tuple[Decimal, ...]]] = {}
        for (strategy, symbol), pending in self._in_flight.items():
            if pending:
                in_flight.setdefault(strategy, {})[symbol] = tuple(pending)
        return StrategyHostState(
            positions=dict(self.positions),
            working=working,
            in_flight=in_flight,
            orders={
                client_order_id: HostedOrder(strategy=strategy, symbol=symbol, remaining=remaining)
                for client_order_id, (strategy, symbol, remaining) in self._orders.items()
            },
            plugins={plugin.name: plugin.snapshot() for plugin in self.plugins},
            paused=tuple(sorted(self.paused)),
        )

    def restore(self, state: StrategyHostState) -> None:
        hosted = [plugin.name for plugin in self.plugins]
        if sorted(state.plugins) != sorted(hosted):
            raise ValueError(
                f"the snapshot holds strategies {sorted(state.plugins)}, "
                f"this host runs {sorted(hosted)}"
            )
        # Every plug-in's state converted before anything changes: one that does not
        # decode leaves the host as it was.
        plugin_states = [
            (plugin, _plugin_state(plugin, state.plugins[plugin.name])) for plugin in self.plugins
        ]
        self.positions = dict(state.positions)
        self.working = {
            (strategy, symbol): quantity
            for strategy, by_symbol in state.working.items()
            for symbol, quantity in by_symbol.items()
        }
        self._in_flight = {
            (strategy, symbol): deque(pending)
            for strategy, by_symbol in state.in_flight.items()
            for symbol, pending in by_symbol.items()
        }
        self._orders = {
            client_order_id: (order.strategy, order.symbol, order.remaining)
            for client_order_id, order in state.orders.items()
        }
        self.paused = set(state.paused)
        for plugin, plugin_state in plugin_states:
            plugin.restore(plugin_state)

    def _decide(self, decisions: Decisions) -> None:
        """Publish intents and count them as working at once, so a decision taken
        before risk and the order manager have answered still sees them."""
        if decisions:
            paused = self.paused
            for intent in decisions:
                if paused and intent.strategy in paused:
                    self.dropped_intents += 1
                    _log.info(
                        "strategy.intent_dropped_paused",
                        strategy=intent.strategy,
                        symbol=intent.ticket.symbol,
                        side=intent.ticket.side.value,
                    )
                    continue
                ticket = intent.ticket
                signed = ticket.quantity if ticket.side is Side.BUY else -ticket.quantity
                key = (intent.strategy, ticket.symbol)
                self._in_flight.setdefault(key, deque()).append(signed)
                self._add_working(intent.strategy, ticket.symbol, signed)
                self.publish(intent)

    def on_bar(self, bar: Bar) -> None:
        routes = self._bar_routes.get(bar.symbol)
        if routes is not None:
            interval = bar.interval
            for route_interval, plugin, ctx in routes:
                if route_interval == interval:
                    decisions = plugin.on_bar(bar, ctx)
                    if decisions:
                        self._decide(decisions)
                    if self.publish_indicators:
                        self._chart(plugin, bar)

    def _chart(self, plugin: StrategyPlugin, bar: Bar) -> None:
        """Stamped with the bar's close time, so a chart places each value on its bar
        however late the bar is handled."""
        for name, value in plugin.indicators(bar.symbol).items():
            self.publish(
                Signal(
                    ts=bar.ts, strategy=plugin.name, symbol=bar.symbol, name=name, value=value,
                    kind="indicator",
                )
            )  # fmt: skip

    def on_pause_strategy(self, command: PauseStrategy) -> None:
        if self._known(command.strategy, "pause"):
            self.paused.add(command.strategy)
            _log.info("strategy.paused", strategy=command.strategy, reason=command.reason)

    def on_resume_strategy(self, command: ResumeStrategy) -> None:
        if self._known(command.strategy, "resume"):
            self.paused.discard(command.strategy)
            _log.info("strategy.resumed", strategy=command.strategy, reason=command.reason)

    def _known(self, strategy: str, what: str) -> bool:
        """A command naming no hosted strategy is refused out loud, not ignored."""
        if strategy in self._contexts:
            return True
        hosted = ", ".join(sorted(self._contexts))
        self.publish(
            Alert(
                ts=self.clock.now(), level="warning", source=self.name,
                text=f"cannot {what} strategy {strategy!r}: this session runs {hosted}",
            )
        )  # fmt: skip
        return False

    def on_trade_tick(self, tick: TradeTick) -> None:
        for plugin, ctx in self._tick_routes.get(tick.symbol, ()):
            self._decide(plugin.on_trade_tick(tick, ctx))

    def on_position_changed(self, position: PositionChanged) -> None:
        self.positions[position.symbol] = position.quantity
        for plugin, ctx in self._symbol_routes.get(position.symbol, ()):
            self._decide(plugin.on_position(position, ctx))

    def on_submit_order(self, submit: SubmitOrder) -> None:
        ticket = submit.ticket
        signed = ticket.quantity if ticket.side is Side.BUY else -ticket.quantity
        self._orders[submit.client_order_id] = (submit.strategy, ticket.symbol, signed)
        if not self._take_in_flight(submit.strategy, ticket.symbol, signed):
            self._add_working(submit.strategy, ticket.symbol, signed)  # not one of ours

    def on_risk_rejected(self, rejected: RiskRejected) -> None:
        ticket = rejected.intent.ticket
        signed = ticket.quantity if ticket.side is Side.BUY else -ticket.quantity
        if self._take_in_flight(rejected.intent.strategy, ticket.symbol, signed):
            self._add_working(rejected.intent.strategy, ticket.symbol, -signed)

    def _take_in_flight(self, strategy: str, symbol: str, signed: Decimal) -> bool:
        """Match a submission or rejection with the oldest intent we sent for it."""
        pending = self._in_flight.get((strategy, symbol))
        if pending and pending[0] == signed:
            pending.popleft()
            return True
        return False

    def on_fill(self, fill: Fill) -> None:
        order = self._orders.get(fill.client_order_id)
        if order is not None:
            strategy, symbol, remaining = order
            filled = fill.quantity if fill.side is Side.BUY else -fill.quantity
            if remaining - filled:
                self._orders[fill.client_order_id] = (strategy, symbol, remaining - filled)
            else:
                del self._orders[fill.client_order_id]
            self._add_working(strategy, symbol, -filled)
        for plugin, ctx in self._symbol_routes.get(fill.symbol, ()):
            if plugin.name == fill.strategy:
                self._decide(plugin.on_fill(fill, ctx))

    def _close(self, client_order_id: str) -> None:
        order = self._orders.pop(client_order_id, None)
        if order is not None:
            strategy, symbol, remaining = order
            self._add_working(strategy, symbol, -remaining)

    def on_order_canceled(self, event: OrderCanceled) -> None:
        self._close(event.client_order_id)

    def on_order_rejected(self, event: OrderRejected) -> None:
        self._close(event.client_order_id)

    def on_order_expired(self, event: OrderExpired) -> None:
        self._close(event.client_order_id)

    def _add_working(self, strategy: str, symbol: str, delta: Decimal) -> None:
        key = (strategy, symbol)
        total = self.working.get(key, _ZERO) + delta
        if total:
            self.working[key] = total
        else:
            self.working.pop(key, None)


def _plugin_state(plugin: StrategyPlugin, saved: Any) -> Any:
    """``saved`` as the plug-in's ``state_type``: decoded from msgpack it is plain data."""
    if saved is None or plugin.state_type is None:
        return saved
    try:
        return msgspec.convert(saved, plugin.state_type)
    except msgspec.ValidationError as error:
        raise ValueError(
            f"the state of strategy {plugin.name!r} does not decode: {error}"
        ) from None
