"""Contract tests every venue must pass (issue 5, deliverable 6), run against each venue under
test of ``conftest.VENUES`` (here: the Binance adapter against the loopback simulator).

1. history has no gap over a known period;
2. streamed bar timestamps strictly increase across reconnects;
3. submit is idempotent by client id;
4. order states move only along legal edges;
5. cancelling an unknown order is a typed error;
6. flatten leaves zero position.
"""

from __future__ import annotations

import asyncio
import itertools
from decimal import ROUND_FLOOR, Decimal
from typing import Any

import pytest
from structlog.testing import capture_logs

from actors.messages import (
    BarUpdate,
    Cancel,
    OrderIntent,
    OrderRequest,
    OrderStatus,
    OrderTicket,
    OrderType,
    Side,
    TimeInForce,
)
from actors.order_manager import TERMINAL_STATUSES, TRANSITIONS
from tests.venues.contract.conftest import MINUTE_MS, NS_PER_MS, Desk, wait_until

_ticks = itertools.count(1)


def _market(venue: Any, side: Side = Side.BUY, quantity: Decimal | None = None) -> OrderTicket:
    return OrderTicket(symbol=venue.symbol, side=side, quantity=quantity or venue.small_quantity)


def _limit(
    venue: Any, price: Decimal, tif: TimeInForce = TimeInForce.GTC, side: Side = Side.BUY
) -> OrderTicket:
    return OrderTicket(
        symbol=venue.symbol,
        side=side,
        quantity=venue.small_quantity,
        order_type=OrderType.LIMIT,
        limit_price=price,
        time_in_force=tif,
    )


async def _request(desk: Desk, ticket: OrderTicket) -> str:
    """An approved order through the real order manager; its client order id."""
    known = len(desk.om.orders)
    intent = OrderIntent(ts=next(_ticks), strategy="contract", ticket=ticket)
    await desk.publish(OrderRequest(ts=intent.ts, intent=intent))
    await wait_until(lambda: len(desk.om.orders) > known, "the order manager to take the order")
    return list(desk.om.orders)[-1]


async def _settled(desk: Desk, client_id: str) -> OrderStatus:
    await wait_until(
        lambda: (
            desk.om.orders[client_id].status in TERMINAL_STATUSES
            or desk.om.orders[client_id].status is OrderStatus.ACCEPTED
        ),
        f"order {client_id} to settle",
    )
    return desk.om.orders[client_id].status


# --- 1. history -------------------------------------------------------------------------


@pytest.mark.parametrize("page", [1000, 97])
async def test_history_has_no_gap_over_a_known_period(venue_kind: Any, page: int) -> None:
    """Klines paged over 20 hours of known history: every minute exactly once, in order."""
    async with venue_kind.running() as venue:
        start = venue.history_start_ms()
        end = start + 20 * 60 * MINUTE_MS - 1  # 20 hours, end inclusive
        seen: list[int] = []
        cursor = start
        for _ in range(10_000):
            if cursor > end:
                break
            times = await venue.kline_open_times(cursor, end, page)
            assert times, f"an empty page at {cursor} inside the known history"
            assert len(times) <= page
            seen += times
            cursor = times[-1] + MINUTE_MS
        expected = list(range(start, end + 1, MINUTE_MS))
        assert len(expected) == 20 * 60
        assert seen == expected


# --- 2. streamed timestamps ---------------------------------------------------------------


async def test_streamed_bar_timestamps_strictly_increase_across_reconnects(
    venue_kind: Any,
) -> None:
    """Closed bars across forced disconnects: strictly increasing, none missing, none twice."""
    minutes = 20
    async with venue_kind.running(disconnect_every_messages=40) as venue:
        stream = venue.market_stream()
        closed: list[BarUpdate] = []

        async def read() -> None:
            async for message in stream:
                if isinstance(message, BarUpdate) and message.closed:
                    closed.append(message)

        async with stream:
            reader = asyncio.create_task(read())
            first_open = venue.now_ms() // MINUTE_MS * MINUTE_MS
            last_start = first_open + (minutes - 1) * MINUTE_MS
            try:
                for _ in range(minutes + 30):
                    if closed and closed[-1].bar.start >= last_start * NS_PER_MS:
                        break
                    await wait_until(venue.stream_listening, "a listening connection")
                    await venue.advance(MINUTE_MS)
                    await asyncio.sleep(0.01)
                await wait_until(
                    lambda: bool(closed) and closed[-1].bar.start >= last_start * NS_PER_MS,
                    "the last bar to close",
                )
            finally:
                reader.cancel()
                await asyncio.gather(reader, return_exceptions=True)
            reconnects = venue.stream_reconnects(stream)
    starts = [update.bar.start for update in closed]
    assert all(a < b for a, b in itertools.pairwise(starts)), starts
    assert starts == list(range(starts[0], starts[-1] + 1, MINUTE_MS * NS_PER_MS))
    assert len(starts) >= minutes - 1
    assert reconnects >= 3, "the fault should have forced several reconnects"


# --- 3. idempotent submit -------------------------------------------------------------------


async def test_a_resubmit_of_an_open_order_is_refused_and_leaves_one_order(
    venue_kind: Any,
) -> None:
    async with venue_kind.running() as venue:
        _, bid, _ = await venue.bid_ask()
        ticket = _limit(venue, bid - 1000)
        await venue.place(ticket, "contract-dup-1")
        with pytest.raises(venue.duplicate_order_error) as refused:
            await venue.place(ticket, "contract-dup-1")
        assert "Duplicate order" in str(refused.value)
        held = [o for o in venue.venue_orders() if o.client_order_id == "contract-dup-1"]
        assert len(held) == 1 and held[0].status == "NEW"
        assert await venue.open_order_ids() == ["contract-dup-1"]


async def test_a_lost_submit_answer_resolved_by_query_never_creates_a_second_order(
    venue_kind: Any,
) -> None:
    with capture_logs() as logs:
        async with (
            venue_kind.running(lose_submit_answer=True) as venue,
            venue.desk() as desk,
        ):
            client_id = await _request(desk, _market(venue))
            await wait_until(
                lambda: desk.om.orders[client_id].status is OrderStatus.FILLED,
                "the lost submit to be resolved as filled",
            )
            orders = venue.venue_orders()
    # The answer really was lost (the outcome was unknown until a query resolved it).
    assert any(entry["event"] == "submit_outcome_unknown" for entry in logs)
    assert [o.client_order_id for o in orders] == [client_id]
    assert orders[0].status == "FILLED"


# --- 4. legal edges ----------------------------------------------------------------------------


async def test_order_states_move_only_along_legal_edges(venue_kind: Any) -> None:
    with capture_logs() as logs:
        async with venue_kind.running() as venue, venue.desk() as desk:
            _, bid, ask = await venue.bid_ask()
            ids = [
                await _request(desk, _market(venue)),
                # Half: the buy paid its commission in what it bought, as on Binance.
                await _request(desk, _market(venue, Side.SELL, venue.small_quantity / 2)),
                await _request(desk, _limit(venue, ask + 50, TimeInForce.IOC)),
                await _request(desk, _limit(venue, bid - 1000, TimeInForce.IOC)),
                await _request(desk, _limit(venue, ask + 50, TimeInForce.FOK)),
                await _request(desk, _limit(venue, bid - 1000, TimeInForce.FOK)),
            ]
            for client_id in ids:
                await _settled(desk, client_id)
            resting = await _request(desk, _limit(venue, bid - 1000))
            assert await _settled(desk, resting) is OrderStatus.ACCEPTED
            await desk.publish(Cancel(ts=0, client_order_id=resting))
            await wait_until(
                lambda: desk.om.orders[resting].status is OrderStatus.CANCELED, "the cancel"
            )
            # Let the market cross a bar so a resting order could be touched (none is left).
            await venue.advance(MINUTE_MS)
            await asyncio.sleep(0.05)
            orders = dict(desk.om.orders)
    assert len(orders) == 7
    for client_id, order in orders.items():
        history = order.history
        assert history, client_id
        assert history[0].previous is OrderStatus.NEW
        for step in history:
            assert step.status in TRANSITIONS[step.previous], (client_id, step)
        for before, after in itertools.pairwise(history):
            assert before.status is after.previous, (client_id, history)
        assert order.status in TERMINAL_STATUSES, (client_id, order.status)
    finals = [orders[i].status for i in ids] + [orders[resting].status]
    assert finals[0] is OrderStatus.FILLED and finals[1] is OrderStatus.FILLED
    assert finals[3] is OrderStatus.EXPIRED and finals[5] is OrderStatus.EXPIRED
    assert finals[6] is OrderStatus.CANCELED
    illegal = [entry for entry in logs if entry["event"] == "illegal_transition"]
    assert illegal == []


# --- 5. unknown cancel -------------------------------------------------------------------------


async def test_cancelling_an_unknown_order_is_a_typed_error(venue_kind: Any) -> None:
    async with venue_kind.running() as venue:
        with pytest.raises(venue.unknown_order_error) as raised:
            await venue.cancel("contract-never-placed")
        assert venue.error_code(raised.value) == venue.unknown_order_code
        assert venue.venue_orders() == []


# --- 6. flatten ---------------------------------------------------------------------------------


async def test_flatten_leaves_zero_position(venue_kind: Any) -> None:
    async with venue_kind.running() as venue:
        rules = await venue.rules()
        start = await venue.free_balance(venue.base)
        assert start == 0
        await venue.place(_market(venue, quantity=Decimal("0.01234")), "contract-flat-buy")
        held = await venue.free_balance(venue.base)
        assert held > 0
        # Sell everything the account holds, rounded down onto the lot grid by the filters.
        await venue.place(_market(venue, Side.SELL, held), "contract-flat-sell")
        left = await venue.free_balance(venue.base)
        assert 0 <= left < rules.step_size, left
        assert left == left.quantize(Decimal(1).scaleb(-12), rounding=ROUND_FLOOR)
        assert await venue.open_order_ids() == []
