"""The bar builder: closed bars, exactly once per interval per symbol, and their gaps.

Three inputs become one clean stream of ``Bar`` messages:

- **Closed ``BarUpdate``s** (the lake feed, venue kline streams). Open updates
  are ignored. A closed bar whose start is not after the last accepted start
  of its symbol and interval (a replay after a reconnect, an out-of-order
  row) is refused and counted in ``duplicates``. A bar that skips intervals
  is preceded by a ``BarGap`` for the missing ones (counted in ``gaps``).
  Accepted bars are published as the very object that arrived: no copy.
- **``TradeTick``s**, built into base-interval bars (OHLC, volume, trade
  count, VWAP). A bar closes when a tick of a later interval arrives, or, with
  ``close_on_timer``, when a timer finds its interval over (so a quiet market
  does not hold a bar open), or at ``EndOfData`` if its interval has ended.
  An interval without ticks gets no bar: the next bar reports it in a
  ``BarGap``. A tick of an interval already closed is counted in
  ``late_ticks`` and dropped: the bar was published and is not revised.
- **Aggregation** of base bars into each ``aggregate_to`` interval on the UTC
  grid. A window is emitted exactly once: when its last base bar arrives, or,
  if base bars are missing at its end, when a bar of a later window arrives
  (the ``BarGap`` for the missing base bars is published right after it, so the
  window holds only the bars that exist). A window with no base bar at all
  gets no bar and is reported as a ``BarGap`` of the aggregate interval. A
  window still incomplete at ``EndOfData`` is not emitted: its interval never
  closed in the data.

Gaps are reported when the next bar closes, as one ``BarGap`` per run of
missing intervals, so a source that delivers bars and a source that delivers
ticks report the same gaps.

The builder's state (``BarBuilderState``) is the last accepted start of each
series, the bars being built (from ticks, and each aggregate's open window), the
last emitted window of each aggregate, and the counters; the intervals come from
the configuration.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final

import msgspec

from actors.actor import Actor
from actors.intervals import interval_ns
from actors.messages import Bar, BarGap, BarUpdate, EndOfData, TimerFired, TradeTick

__all__ = ["BarBuilder", "BarBuilderState", "PartialBar"]

_CLOSE_TIMER: Final = "close_bars"
_SECOND_NS: Final = 1_000_000_000

SeriesKey = tuple[str, str]
"""(symbol, interval): the unit that is gap-free and duplicate-free."""


class PartialBar(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """A bar being built, in a snapshot: from ticks (``end`` 0), or an aggregate window
    (``end`` its close). ``notional`` is the running sum of price * size for the VWAP."""

    start: int
    end: int
    open: float
    high: float
    low: float
    close: float
    volume: float
    trades: int
    notional: float


Counts = dict[str, dict[str, int]]
"""Per symbol, per interval: a series counter (or last start) with string keys only."""


class BarBuilderState(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """``last_base``: per symbol, the start of the last accepted base bar; ``last_other``:
    the same for bars of other intervals passed through. ``open_bars``: the base bar
    being built from ticks, per symbol. ``windows`` and ``last_emitted``: per aggregate
    interval, per symbol, the open window and the start of the last window emitted.
    The counters are the builder's public ones."""

    last_base: dict[str, int]
    last_other: Counts
    open_bars: dict[str, PartialBar]
    windows: dict[str, dict[str, PartialBar]]
    last_emitted: Counts
    duplicates: Counts
    gaps: Counts
    misaligned: Counts
    late_ticks: dict[str, int]


class _Accumulator:
    """A bar being built (from ticks, or from base bars for an aggregate window)."""

    __slots__ = ("close", "end", "high", "low", "notional", "open", "start", "trades", "volume")

    def __init__(
        self,
        start: int,
        open_: float,
        high: float,
        low: float,
        close: float,
        volume: float,
        trades: int,
        notional: float,
    ) -> None:
        self.start = start
        self.end = 0
        self.open = open_
        self.high = high
        self.low = low
        self.close = close
        self.volume = volume
        self.trades = trades
        self.notional = notional

    def saved(self) -> PartialBar:
        return PartialBar(
            start=self.start, end=self.end, open=self.open, high=self.high, low=self.low,
            close=self.close, volume=self.volume, trades=self.trades, notional=self.notional,
        )  # fmt: skip

    @classmethod
    def from_saved(cls, saved: PartialBar) -> _Accumulator:
        built = cls(
            saved.start, saved.open, saved.high, saved.low, saved.close, saved.volume,
            saved.trades, saved.notional,
        )  # fmt: skip
        built.end = saved.end
        return built


class _Target:
    """One aggregate interval: its open window and last emitted window per symbol.

    A target is built from the longest shorter target that divides it (an hour from
    twelve 5-minute bars), or from base bars: one base bar then updates one window,
    not one per target.
    """

    __slots__ = ("children", "interval", "last_emitted", "length", "source", "windows")

    def __init__(self, interval: str, length: int, source: _Target | None) -> None:
        self.interval = interval
        self.length = length
        self.source = source
        self.children: tuple[_Target, ...] = ()
        self.windows: dict[str, _Accumulator] = {}
        self.last_emitted: dict[str, int] = {}


class BarBuilder(Actor):
    """Turns bar updates and trade ticks into closed bars, exactly once, with gaps reported."""

    name = "bar_builder"
    state_type = BarBuilderState

    def __init__(
        self,
        base_interval: str = "1m",
        aggregate_to: Sequence[str] = (),
        close_on_timer: bool = False,
    ) -> None:
        super().__init__()
        self.base_interval = base_interval
        self.base_ns = interval_ns(base_interval)
        self.close_on_timer = close_on_timer
        self._targets = _targets(base_interval, self.base_ns, aggregate_to)
        self._roots = tuple(target for target in self._targets if target.source is None)
        self._last_base: dict[str, int] = {}
        self._last_other: dict[SeriesKey, int] = {}
        self._open_bars: dict[str, _Accumulator] = {}
        self.duplicates: dict[SeriesKey, int] = {}
        """Closed bars refused because their interval was already accepted (or is older)."""
        self.gaps: dict[SeriesKey, int] = {}
        """Missing intervals, as reported in ``BarGap`` messages."""
        self.misaligned: dict[SeriesKey, int] = {}
        """Closed bars refused because their start is off the interval's UTC grid."""
        self.late_ticks: dict[str, int] = {}
        """Ticks dropped because their interval had already closed, per symbol."""

    @property
    def aggregate_to(self) -> tuple[str, ...]:
        return tuple(target.interval for target in self._targets)

    def totals(self) -> dict[str, int]:
        """Counter totals for the health view."""
        return {
            "duplicates": sum(self.duplicates.values()),
            "gaps": sum(self.gaps.values()),
            "misaligned": sum(self.misaligned.values()),
            "late_ticks": sum(self.late_ticks.values()),
        }

    def snapshot(self) -> BarBuilderState:
        return BarBuilderState(
            last_base=dict(self._last_base),
            last_other=_nested(self._last_other),
            open_bars={symbol: bar.saved() for symbol, bar in self._open_bars.items()},
            windows={
                target.interval: {
                    symbol: window.saved() for symbol, window in target.windows.items()
                }
                for target in self._targets
            },
            last_emitted={target.interval: dict(target.last_emitted) for target in self._targets},
            duplicates=_nested(self.duplicates),
            gaps=_nested(self.gaps),
            misaligned=_nested(self.misaligned),
            late_ticks=dict(self.late_ticks),
        )

    def restore(self, state: BarBuilderState) -> None:
        targets = {target.interval: target for target in self._targets}
        unknown = sorted((set(state.windows) | set(state.last_emitted)) - set(targets))
        if unknown:
            raise ValueError(f"the snapshot aggregates to {unknown}, this builder does not")
        self._last_base = dict(state.last_base)
        self._last_other = _flat(state.last_other)
        self._open_bars = {
            symbol: _Accumulator.from_saved(bar) for symbol, bar in state.open_bars.items()
        }
        for interval, target in targets.items():
            windows = state.windows.get(interval, {})
            target.windows = {
                symbol: _Accumulator.from_saved(window) for symbol, window in windows.items()
            }
            target.last_emitted = dict(state.last_emitted.get(interval, {}))
        self.duplicates = _flat(state.duplicates)
        self.gaps = _flat(state.gaps)
        self.misaligned = _flat(state.misaligned)
        self.late_ticks = dict(state.late_ticks)

    def on_start(self) -> None:
        if self.close_on_timer:
            # Timers tick from whenever the clock started, not from interval boundaries,
            # so check every second (or every interval, if shorter): a bar then closes at
            # most that long after its boundary whatever the timer's phase.
            self.set_timer(_CLOSE_TIMER, min(self.base_ns, _SECOND_NS))

    # --- bars from a source -------------------------------------------------------------

    def on_bar_update(self, msg: BarUpdate) -> None:
        """The hot path: ``_accept_base`` inlined, because a call costs as much as the check."""
        if not msg.closed:
            return
        bar = msg.bar
        if bar.interval != self.base_interval:
            self._accept_other(bar)
            return
        symbol = bar.symbol
        start = bar.start
        last = self._last_base.get(symbol)
        if last is None or start != last + self.base_ns:
            self._accept_base(bar)
            return
        self._last_base[symbol] = start
        self.publish(bar)
        if self._roots:
            self._aggregate(self._roots, bar, start + self.base_ns)

    def _accept_base(self, bar: Bar) -> None:
        """Check a closed base bar against its predecessor; publish and aggregate it."""
        symbol = bar.symbol
        start = bar.start
        last = self._last_base.get(symbol)
        if last is None or start != last + self.base_ns:
            if self._refuse(bar, last, self.base_ns):
                return
            if last is not None:
                if self._targets:
                    self._flush_windows_before(symbol, start)
                self._publish_gap(bar.ts, symbol, bar.interval, last, start, self.base_ns)
        self._last_base[symbol] = start
        self.publish(bar)
        if self._roots:
            self._aggregate(self._roots, bar, start + self.base_ns)

    def _accept_other(self, bar: Bar) -> None:
        """A closed bar of another interval than the base: checked and published as is
        (it is not aggregated: aggregates are built from base bars only)."""
        key = (bar.symbol, bar.interval)
        length = interval_ns(bar.interval)
        last = self._last_other.get(key)
        if last is None or bar.start != last + length:
            if self._refuse(bar, last, length):
                return
            if last is not None:
                self._publish_gap(bar.ts, bar.symbol, bar.interval, last, bar.start, length)
        self._last_other[key] = bar.start
        self.publish(bar)

    def _refuse(self, bar: Bar, last: int | None, length: int) -> bool:
        """Whether to refuse a bar that does not follow its predecessor: a duplicate or
        older bar, or one off its interval's UTC grid (counted); a later bar passes."""
        key = (bar.symbol, bar.interval)
        if bar.start % length:
            self.misaligned[key] = self.misaligned.get(key, 0) + 1
            return True
        if last is not None and bar.start <= last:
            self.duplicates[key] = self.duplicates.get(key, 0) + 1
            return True
        return False

    def _publish_gap(
        self, ts: int, symbol: str, interval: str, last: int, start: int, length: int
    ) -> None:
        """Report the intervals strictly between the bars starting at ``last`` and ``start``."""
        missing = (start - last) // length - 1
        key = (symbol, interval)
        self.gaps[key] = self.gaps.get(key, 0) + missing
        self.publish(
            BarGap(
                ts=ts,
                symbol=symbol,
                interval=interval,
                start=last + length,
                end=start,
                missing=missing,
            )
        )

    # --- aggregation --------------------------------------------------------------------

    def _aggregate(self, targets: tuple[_Target, ...], bar: Bar, end: int) -> None:
        """Add ``bar`` (ending at ``end``) to each target's window; emit completed windows."""
        symbol = bar.symbol
        high = bar.high
        low = bar.low
        close = bar.close
        volume = bar.volume
        trades = bar.trades
        notional = bar.vwap * volume
        for target in targets:
            windows = target.windows
            window = windows.get(symbol)
            if window is None:
                window_start = bar.start - bar.start % target.length
                window = _Accumulator(
                    window_start, bar.open, high, low, close, volume, trades, notional
                )
                window.end = window_start + target.length
                windows[symbol] = window
            else:
                if high > window.high:
                    window.high = high
                if low < window.low:
                    window.low = low
                window.close = close
                window.volume += volume
                window.trades += trades
                window.notional += notional
            if end == window.end:
                del windows[symbol]
                self._emit_window(target, symbol, window)

    def _flush_windows_before(self, symbol: str, start: int) -> None:
        """Emit the open windows that end before ``start``'s window: their last base bars
        are missing, and a bar of a later window says they will not come. Shortest
        first, so a flushed window still reaches the longer window it belongs to."""
        for target in self._targets:
            window = target.windows.get(symbol)
            if window is not None and window.start != start - start % target.length:
                del target.windows[symbol]
                self._emit_window(target, symbol, window)

    def _emit_window(self, target: _Target, symbol: str, window: _Accumulator) -> None:
        length = target.length
        last = target.last_emitted.get(symbol)
        if last is not None and window.start != last + length:
            self._publish_gap(window.end, symbol, target.interval, last, window.start, length)
        target.last_emitted[symbol] = window.start
        bar = _bar(symbol, target.interval, window.end, window)
        self.publish(bar)
        if target.children:
            self._aggregate(target.children, bar, window.end)

    # --- bars from ticks ----------------------------------------------------------------

    def on_trade_tick(self, msg: TradeTick) -> None:
        symbol = msg.symbol
        price = msg.price
        size = msg.size
        start = msg.ts - msg.ts % self.base_ns
        bar = self._open_bars.get(symbol)
        if bar is not None:
            if start == bar.start:
                if price > bar.high:
                    bar.high = price
                elif price < bar.low:
                    bar.low = price
                bar.close = price
                bar.volume += size
                bar.trades += 1
                bar.notional += price * size
                return
            if start < bar.start:
                self._count_late(symbol)
                return
            del self._open_bars[symbol]
            self._close_built(symbol, bar)
        else:
            last = self._last_base.get(symbol)
            if last is not None and start <= last:
                self._count_late(symbol)
                return
        self._open_bars[symbol] = _Accumulator(
            start, price, price, price, price, size, 1, price * size
        )

    def on_timer_fired(self, msg: TimerFired) -> None:
        if msg.owner == self.name and msg.name == _CLOSE_TIMER:
            self._close_ended(msg.ts)

    def on_end_of_data(self, msg: EndOfData) -> None:
        self._close_ended(msg.ts)

    def _close_ended(self, now: int) -> None:
        """Close every tick-built bar whose interval is over at ``now``, by symbol."""
        for symbol in sorted(self._open_bars):
            bar = self._open_bars[symbol]
            if bar.start + self.base_ns <= now:
                del self._open_bars[symbol]
                self._close_built(symbol, bar)

    def _close_built(self, symbol: str, bar: _Accumulator) -> None:
        self._accept_base(_bar(symbol, self.base_interval, bar.start + self.base_ns, bar))

    def _count_late(self, symbol: str) -> None:
        self.late_ticks[symbol] = self.late_ticks.get(symbol, 0) + 1


def _nested(by_series: Mapping[SeriesKey, int]) -> Counts:
    """``{(symbol, interval): n}`` as ``{symbol: {interval: n}}``: msgpack keys are strings."""
    nested: Counts = {}
    for (symbol, interval), value in by_series.items():
        nested.setdefault(symbol, {})[interval] = value
    return nested


def _flat(nested: Counts) -> dict[SeriesKey, int]:
    return {
        (symbol, interval): value
        for symbol, by_interval in nested.items()
        for interval, value in by_interval.items()
    }


def _bar(symbol: str, interval: str, ts: int, built: _Accumulator) -> Bar:
    volume = built.volume
    low, high = built.low, built.high
    # notional / volume can land an ulp outside the range (983 prints at one price):
    # a VWAP outside [low, high] is never true, so clamp it.
    vwap = min(max(built.notional / volume, low), high) if volume else built.close
    return Bar(
        ts=ts,
        symbol=symbol,
        interval=interval,
        start=built.start,
        open=built.open,
        high=high,
        low=low,
        close=built.close,
        volume=volume,
        trades=built.trades,
        vwap=vwap,
    )


def _targets(base: str, base_ns: int, aggregate_to: Sequence[str]) -> tuple[_Target, ...]:
    """Aggregate intervals, shortest first; each must be a multiple of the base so that
    its UTC-grid windows are made of whole base bars."""
    if isinstance(aggregate_to, str):
        raise TypeError(f"aggregate_to must be a sequence of intervals, got {aggregate_to!r}")
    targets: list[_Target] = []
    for interval in sorted(set(aggregate_to), key=interval_ns):
        length = interval_ns(interval)
        if length <= base_ns or length % base_ns:
            raise ValueError(f"cannot aggregate {base} bars into {interval} bars")
        sources = [target for target in targets if length % target.length == 0]
        source = sources[-1] if sources else None
        target = _Target(interval, length, source)
        if source is not None:
            source.children = (*source.children, target)
        targets.append(target)
    return tuple(targets)
