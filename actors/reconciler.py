"""The reconciler owns our side of reconciliation: what we believe the venue holds, compared
with what the venue says it holds.

Our view is built from messages only: open orders from ``SubmitOrder`` and the
order manager's events, trade ids and quote cash flows from ``Fill``, positions
from the accountant's ``PositionChanged``. On a timer (simulated time in a
backtest) and at ``EndOfData`` it publishes ``Reconcile``; the venue gateway
answers ``VenueSnapshot`` and every difference becomes one ``Drift`` in a
``DriftDetected``. Compares are exact (Decimal, summed in ``actors.money.EXACT``
like the accountant's books), and the report is sorted, so the same session always
reports the same drifts in the same order.

Cash comes from the fills, not from ``EquityMarked``: a fill changes cash at
once, while a mark only arrives with the next bar, so the accountant's last
mark can be stale at the moment of a snapshot; and not subscribing to the
once-per-bar ``EquityMarked`` keeps this actor off the hot path entirely.
Positions come from ``PositionChanged`` so that a fill the accountant failed to
book shows up as a balance drift against the venue.

Fees move the asset they are paid in: the quote asset's flow, or the balance of a
third asset (BNB) the account pays fees in; a fee in the fill's base asset moves
nothing here, because the accountant's position is already net of it (a buy of
0.01 BTC paying 0.00001 BTC is a position of 0.00999 BTC, what the venue holds).
A remainder below one lot that a sell cannot take ("dust") is part of the position
and of the venue's balance alike, so it never drifts.

The reconciler never subscribes to ``Reconcile``: it publishes that command to
the venue, and the operator's ``Reconcile`` reaches the venue directly; the
answer comes back here either way.

Trades are reconciled incrementally, so that a snapshot costs the trades since
the previous one and not the session's history (a million one-minute bars with
hourly reconciliation make ~16,700 snapshots). Each ``Reconcile`` asks for the
trades after ``trade_cursor``, the venue's trade sequence number that the last
snapshot reached (``VenueSnapshot`` documents the cursor). The reconciler keeps
the fills the venue has not listed yet, in arrival order, and the venue trades it
holds no fill for. A trade the venue lists confirms our fill, or repeats one
already confirmed (a request from 0, such as the operator's, lists them all), or
is new to us: ``missing_fill``, reported on every snapshot until its Fill arrives.
Our fills that the venue should have listed by then and did not are
``unknown_fill``, reported until the venue lists them.

"Should have listed" means: we held the fill when we sent our latest
``Reconcile``. A venue executes a trade before it tells us, so a fill we hold
when we ask is one its answer must list; a fill that arrives while the request
is out (live: the gateway's query races the execution stream) may or may not be
in the answer, and is judged at the next snapshot, whose cursor still covers it.
This assumes the answer that arrives is the one to our latest request, which
holds while answers take less than the reconciliation interval. An operator's
snapshot arrives unasked and is judged by our latest request too: the fills after
it wait for our next one. In a backtest the deterministic scheduler fires timers,
and delivers ``EndOfData``, only when everything the previous bar caused has been
handled, so no fill is ever in flight: every fill we hold when the snapshot comes
is due, and the check is exact. The other direction has the same race live: a
trade listed before its Fill reaches us is a ``missing_fill`` (and a balance
drift) for one snapshot, cleared when the Fill arrives; never in a backtest.

A snapshot that does not cover every trade after our cursor (it starts after it,
or a stale answer ends before it) cannot show that a fill is absent: it confirms
what it lists and reports what is missing, but skips the unknown-fill check and
leaves the cursor where it is.

After a crash the session publishes ``Recovered``, and the reconciler asks the venue
(``QueryOrder``, in client id order) for every order whose outcome the journal does not
hold: submitted and never acknowledged, or asked to be canceled and not yet canceled.
The order manager settles each from the venue's answer; nothing is submitted again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from operator import attrgetter
from typing import Final

import msgspec
import structlog

from actors.actor import Actor
from actors.messages import (
    CancelOrder,
    Drift,
    DriftDetected,
    EndOfData,
    Fill,
    OrderAccepted,
    OrderCanceled,
    OrderExpired,
    OrderRejected,
    OrderStatus,
    OrderStatusReport,
    PositionChanged,
    QueryOrder,
    Reconcile,
    Recovered,
    Side,
    SubmitOrder,
    TimerFired,
    VenueSnapshot,
)
from actors.money import EXACT

__all__ = ["OpenOrder", "Reconciler", "ReconcilerState"]

_log = structlog.get_logger(__name__)

_ZERO: Final = Decimal(0)
_TIMER: Final = "reconcile"
# Exact sums and products through the context's own methods: the same results and traps
# as inside ``localcontext(EXACT)``, without entering one per fill (~0.5 µs).
_add: Final = EXACT.add
_subtract: Final = EXACT.subtract
_multiply: Final = EXACT.multiply
# Enum members read once: through the class each read costs an enum metaclass lookup.
_SELL: Final = Side.SELL
_SUBMITTED: Final = OrderStatus.SUBMITTED
_ACCEPTED: Final = OrderStatus.ACCEPTED
_PARTIALLY_FILLED: Final = OrderStatus.PARTIALLY_FILLED
# The order of a DriftDetected's drifts, so the same session always reports them alike.
_drift_order: Final = attrgetter("kind", "key", "ours", "venue")


@dataclass(slots=True)
class _OpenOrder:
    quantity: Decimal
    filled: Decimal
    status: OrderStatus
    # A CancelOrder went out for it. Kept beside ``status``, which is compared with the
    # venue's, because a venue reports an order it has not canceled yet as still open.
    cancel_requested: bool = False


class OpenOrder(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """An order in our view of the venue, as a snapshot holds it."""

    quantity: Decimal
    filled: Decimal
    status: OrderStatus
    cancel_requested: bool


class ReconcilerState(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """Our view of the venue and how far the venue has confirmed it. ``unconfirmed`` are
    (trade id, arrival number) and ``missing`` trade ids, both in the order the module
    docstring relies on; ``trade_keys`` are (symbol, trade id), sorted."""

    orders: dict[str, OpenOrder]
    trade_keys: tuple[tuple[str, str], ...]
    unconfirmed: tuple[tuple[str, int], ...]
    missing: tuple[str, ...]
    arrivals: int
    due_through: int
    flows: dict[str, Decimal]
    positions: dict[str, Decimal]
    reports: int
    trade_cursor: int
    last_drift: DriftDetected | None
    drifting: bool


class Reconciler(Actor):
    """Compares our view of the account on ``venue`` with the venue's snapshots.

    ``base_assets`` maps each symbol to its base asset (``BTCUSDT`` -> ``BTC``), so a
    position can be checked against the venue's balance of that asset;
    ``initial_balances`` are the venue account's balances when the session started.
    ``trade_cursor`` is the venue's trade sequence number that the snapshots have covered
    so far: the next ``Reconcile`` asks for the trades after it.
    """

    name = "reconciler"
    state_type = ReconcilerState

    def __init__(
        self,
        venue: str,
        quote_asset: str,
        base_assets: Mapping[str, str],
        initial_balances: Mapping[str, Decimal],
        interval_ns: int,
    ) -> None:
        super().__init__()
        if interval_ns < 0:
            raise ValueError(f"reconciliation interval must be >= 0 ns, got {interval_ns}")
        self.venue = venue
        self.quote_asset = quote_asset
        self.interval_ns = interval_ns
        self._base_assets = dict(base_assets)
        self._initial_balances = dict(initial_balances)
        self._orders: dict[str, _OpenOrder] = {}
        self._trade_ids: set[str] = set()  # every fill we booked, confirmed or not
        self._trade_keys: set[tuple[str, str]] = set()
        # Our fills the venue has not listed yet: trade id -> arrival number, in arrival
        # order; and the venue's trades we hold no fill for, in the order it listed them.
        self._unconfirmed: dict[str, int] = {}
        self._missing: dict[str, None] = {}
        self._arrivals = 0
        self._due_through = 0  # arrival number of the last fill we held at our last request
        self._flows: dict[str, Decimal] = {}  # asset -> net change from trading (not positions)
        self._positions: dict[str, Decimal] = {}
        self.reports = 0
        self.trade_cursor = 0
        self.last_drift: DriftDetected | None = None
        self.drifting = False

    # --- snapshot -------------------------------------------------------------------------

    def snapshot(self) -> ReconcilerState:
        return ReconcilerState(
            orders={
                client_id: OpenOrder(
                    quantity=order.quantity,
                    filled=order.filled,
                    status=order.status,
                    cancel_requested=order.cancel_requested,
                )
                for client_id, order in self._orders.items()
            },
            trade_keys=tuple(sorted(self._trade_keys)),
            unconfirmed=tuple(self._unconfirmed.items()),
            missing=tuple(self._missing),
            arrivals=self._arrivals,
            due_through=self._due_through,
            flows=dict(self._flows),
            positions=dict(self._positions),
            reports=self.reports,
            trade_cursor=self.trade_cursor,
            last_drift=self.last_drift,
            drifting=self.drifting,
        )

    def restore(self, state: ReconcilerState) -> None:
        self._orders = {
            client_id: _OpenOrder(
                order.quantity, order.filled, order.status, order.cancel_requested
            )
            for client_id, order in state.orders.items()
        }
        self._trade_keys = set(state.trade_keys)
        # Every booked fill has a key, so the trade ids are the keys' second halves.
        self._trade_ids = {trade_id for _, trade_id in state.trade_keys}
        self._unconfirmed = dict(state.unconfirmed)
        self._missing = dict.fromkeys(state.missing)
        self._arrivals = state.arrivals
        self._due_through = state.due_through
        self._flows = dict(state.flows)
        self._positions = dict(state.positions)
        self.reports = state.reports
        self.trade_cursor = state.trade_cursor
        self.last_drift = state.last_drift
        self.drifting = state.drifting

    # --- triggers -------------------------------------------------------------------------

    def on_start(self) -> None:
        if self.interval_ns:
            self.set_timer(_TIMER, self.interval_ns)

    def on_timer_fired(self, message: TimerFired) -> None:
        if message.owner == self.name and message.name == _TIMER:
            self._request(message.ts)

    def on_end_of_data(self, message: EndOfData) -> None:
        self._request(message.ts)

    def on_recovered(self, message: Recovered) -> None:
        for client_id in self.unresolved_orders():
            self.publish(QueryOrder(ts=message.ts, venue=self.venue, client_order_id=client_id))

    def unresolved_orders(self) -> list[str]:
        """Client ids, sorted, of the orders whose outcome only the venue knows: submitted
        and never acknowledged, or asked to be canceled and still open."""
        return sorted(
            client_id
            for client_id, order in self._orders.items()
            if order.status is OrderStatus.SUBMITTED or order.cancel_requested
        )

    def _request(self, ts: int) -> None:
        self._due_through = self._arrivals
        self.publish(Reconcile(ts=ts, since_trade=self.trade_cursor))

    # --- our view -------------------------------------------------------------------------

    def on_submit_order(self, message: SubmitOrder) -> None:
        # A retry reuses its client id (DESIGN.md §4): keep what we know of the order.
        orders = self._orders
        if message.client_order_id not in orders:
            orders[message.client_order_id] = _OpenOrder(message.ticket.quantity, _ZERO, _SUBMITTED)

    def on_cancel_order(self, message: CancelOrder) -> None:
        order = self._orders.get(message.client_order_id)
        if order is not None:
            order.cancel_requested = True

    def on_order_accepted(self, message: OrderAccepted) -> None:
        order = self._orders.get(message.client_order_id)
        if order is not None and order.status is _SUBMITTED:
            order.status = _ACCEPTED

    def on_order_canceled(self, message: OrderCanceled) -> None:
        self._orders.pop(message.client_order_id, None)

    def on_order_rejected(self, message: OrderRejected) -> None:
        self._orders.pop(message.client_order_id, None)

    def on_order_expired(self, message: OrderExpired) -> None:
        self._orders.pop(message.client_order_id, None)

    def on_fill(self, fill: Fill) -> None:
        trade_id = fill.trade_id
        key = (fill.symbol, trade_id)
        if trade_id and key in self._trade_keys:
            _log.warning("duplicate_fill_ignored", symbol=fill.symbol, trade_id=trade_id)
            return
        flows, quote_asset = self._flows, self.quote_asset
        notional = _multiply(fill.quantity, fill.price)
        quote = flows.get(quote_asset, _ZERO)
        quote = _add(quote, notional) if fill.side is _SELL else _subtract(quote, notional)
        fee, fee_asset = fill.fee, fill.fee_asset
        fee_balance = None
        if not fee or fee_asset == quote_asset:
            quote = _subtract(quote, fee)
        elif fee_asset != self._base_assets.get(fill.symbol):
            fee_balance = _subtract(flows.get(fee_asset, _ZERO), fee)
        # A fee in the symbol's base asset is in the position already: the accountant
        # books the quantity net of it (``PositionChanged``), as the venue holds it.
        flows[quote_asset] = quote
        if fee_balance is not None:
            flows[fee_asset] = fee_balance
        if trade_id:
            self._trade_keys.add(key)
            self._trade_ids.add(trade_id)
            if trade_id in self._missing:
                del self._missing[trade_id]  # the venue listed it before it reached us
            else:
                self._arrivals = arrivals = self._arrivals + 1
                self._unconfirmed.setdefault(trade_id, arrivals)
        order = self._orders.get(fill.client_order_id)
        if order is None:
            return
        if fill.cumulative_quantity >= order.quantity:
            del self._orders[fill.client_order_id]
        else:
            order.filled = fill.cumulative_quantity
            order.status = _PARTIALLY_FILLED

    def on_position_changed(self, message: PositionChanged) -> None:
        self._positions[message.symbol] = message.quantity

    # --- the comparison -------------------------------------------------------------------

    def on_venue_snapshot(self, snapshot: VenueSnapshot) -> None:
        if snapshot.venue != self.venue:
            return
        diffs = self._balance_drifts(snapshot.balances)
        if snapshot.open_orders or self._orders:
            diffs += self._order_drifts(snapshot.open_orders)
        diffs += self._reconcile_trades(snapshot)
        diffs.sort(key=_drift_order)
        self.reports += 1
        self.drifting = bool(diffs)
        if diffs:
            self.last_drift = DriftDetected(ts=snapshot.ts, diffs=tuple(diffs))
            _log.warning("drift_detected", venue=self.venue, count=len(diffs))
            self.publish(self.last_drift)

    @property
    def unconfirmed_fills(self) -> tuple[str, ...]:
        """Trade ids of our fills the venue has not listed yet, oldest first."""
        return tuple(self._unconfirmed)

    def expected_balances(self) -> dict[str, Decimal]:
        """Per asset: the initial balance, plus trading cash flows and fees, plus positions."""
        expected = dict(self._initial_balances)
        for asset, flow in self._flows.items():
            expected[asset] = _add(expected.get(asset, _ZERO), flow)
        base_assets = self._base_assets
        for symbol, quantity in self._positions.items():
            base = base_assets.get(symbol)
            if base is not None:
                expected[base] = _add(expected.get(base, _ZERO), quantity)
        return expected

    def _balance_drifts(self, venue_balances: Mapping[str, Decimal]) -> list[Drift]:
        drifts = [
            # A position we cannot map to an asset is a position nobody checks: say so.
            Drift(kind="unmapped_symbol", key=symbol, ours=str(quantity), venue="")
            for symbol, quantity in self._positions.items()
            if quantity and symbol not in self._base_assets
        ]
        expected = self.expected_balances()
        if expected == venue_balances:
            return drifts  # the common case: every asset on both sides, all equal
        for asset in expected.keys() | venue_balances.keys():
            ours = expected.get(asset, _ZERO)
            theirs = venue_balances.get(asset, _ZERO)
            if ours != theirs:
                drifts.append(Drift(kind="balance", key=asset, ours=str(ours), venue=str(theirs)))
        return drifts

    def _order_drifts(self, venue_orders: tuple[OrderStatusReport, ...]) -> list[Drift]:
        """``missing_order``: open at the venue, not in our view; ``unknown_order``: open in
        our view, unknown to the venue (same sense as the fill kinds)."""
        theirs_by_id = {report.client_order_id: report for report in venue_orders}
        drifts: list[Drift] = []
        for client_id, ours in self._orders.items():
            theirs = theirs_by_id.get(client_id)
            if theirs is None:
                drifts.append(
                    Drift(kind="unknown_order", key=client_id, ours=ours.status.value, venue="")
                )
                continue
            if ours.status != theirs.status:
                drifts.append(
                    Drift(
                        kind="order_status",
                        key=client_id,
                        ours=ours.status.value,
                        venue=theirs.status.value,
                    )
                )
            # Compared as Decimals: 0.40 and 0.4 are the same quantity, whatever they print as.
            for kind, mine, venue in (
                ("order_filled", ours.filled, theirs.filled_quantity),
                ("order_quantity", ours.quantity, theirs.quantity),
            ):
                if mine != venue:
                    drifts.append(Drift(kind=kind, key=client_id, ours=str(mine), venue=str(venue)))
        drifts.extend(
            Drift(kind="missing_order", key=client_id, ours="", venue=report.status.value)
            for client_id, report in theirs_by_id.items()
            if client_id not in self._orders
        )
        return drifts

    def _reconcile_trades(self, snapshot: VenueSnapshot) -> list[Drift]:
        """Confirm our fills with the trades the snapshot lists, and report the missing and
        the unknown ones (the module docstring says when a fill counts as unknown). Costs
        the listed trades plus the drifts, never the session's history."""
        unconfirmed, missing, ours = self._unconfirmed, self._missing, self._trade_ids
        for trade_id in snapshot.trade_ids:
            if trade_id in ours:
                unconfirmed.pop(trade_id, None)
            else:
                missing[trade_id] = None
        drifts = [
            Drift(kind="missing_fill", key=trade_id, ours="", venue=trade_id)
            for trade_id in missing
        ]
        if not snapshot.since_trade <= self.trade_cursor <= snapshot.trade_cursor:
            return drifts
        self.trade_cursor = snapshot.trade_cursor
        if not unconfirmed:
            return drifts  # the common case: the venue listed every fill we hold
        due_through = self._due_through
        for trade_id, arrival in unconfirmed.items():
            if arrival > due_through:
                break  # arrival order: every later fill arrived later still
            drifts.append(Drift(kind="unknown_fill", key=trade_id, ours=trade_id, venue=""))
        return drifts
