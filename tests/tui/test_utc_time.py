"""Event times in the desk's tables: UTC, dated only when off the view's newest day."""

from __future__ import annotations

import msgspec

from tests.tui.conftest import T0, sample_view
from tui.widgets.utc_time import data_day, format_utc

DAY = 86_400_000_000_000


def test_a_time_on_the_data_day_is_a_clock_time() -> None:
    assert format_utc(T0 + 3_725_999_999_999, T0 // DAY) == "01:02:05"  # never rounded up


def test_a_time_off_the_data_day_carries_its_date() -> None:
    assert format_utc(T0 - 1, T0 // DAY) == "2023-12-31 23:59:59"


def test_no_time_is_blank() -> None:
    assert format_utc(0, T0 // DAY) == ""


def test_the_data_day_is_the_newest_event_of_the_view_not_the_wall_clock() -> None:
    view = sample_view()
    assert data_day(view) == T0 // DAY
    later = msgspec.structs.replace(view.orders[0], updated_ts=T0 + DAY + 5)
    assert data_day(msgspec.structs.replace(view, orders=(later,))) == T0 // DAY + 1
