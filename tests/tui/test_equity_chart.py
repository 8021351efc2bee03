"""The braille equity and drawdown chart, on series whose dots are known."""

from __future__ import annotations

from tui.view import EquityPoint
from tui.widgets.equity_chart import braille_area, braille_line, chart_text


def test_a_rising_line_sets_exactly_its_dots() -> None:
    # Four samples on four levels: one dot per column, each joined to the previous.
    assert braille_line([0.0, 1.0, 2.0, 3.0], width=2, height=1) == ["⣠⠞"]


def test_a_falling_line_mirrors_the_rising_one() -> None:
    assert braille_line([3.0, 2.0, 1.0, 0.0], width=2, height=1) == ["⠙⢦"]


def test_a_flat_line_sits_in_the_middle() -> None:
    assert braille_line([5.0, 5.0, 5.0], width=2, height=2) == ["⣀⣀", "  "]


def test_a_single_spike_among_many_samples_is_not_resampled_away() -> None:
    values = [0.0] * 1000
    values[617] = 1.0
    top, bottom = braille_line(values, width=5, height=2)
    assert top.strip()  # the spike reaches the top row
    assert all(cell != " " for cell in bottom)  # and the flat part is drawn throughout


def test_fewer_samples_than_columns_still_fill_the_width() -> None:
    (line,) = braille_line([1.0, 2.0], width=4, height=1)
    assert " " not in line


def test_drawdown_fills_down_from_the_top_to_its_depth() -> None:
    assert braille_area([0.0, 0.5, 1.0, 1.0], width=2, height=1) == ["⠘⣿"]


def test_no_drawdown_draws_nothing() -> None:
    assert braille_area([0.0, 0.0], width=3, height=2) == ["   ", "   "]


def test_empty_series_draw_blank_rows() -> None:
    assert braille_line([], width=3, height=2) == ["   ", "   "]
    assert braille_area([], width=3, height=1) == ["   "]


def test_chart_labels_the_range_and_the_drawdown() -> None:
    points = [
        EquityPoint(ts=i, equity=equity, drawdown=drawdown)
        for i, (equity, drawdown) in enumerate(
            [(100_000.0, 0.0), (101_000.0, 0.0), (99_990.0, 0.01), (100_495.0, 0.005)]
        )
    ]
    lines = chart_text(points, width=10, height=8).plain.split("\n")
    assert len(lines) == 8
    assert lines[0].startswith("101,000.00 ")
    assert lines[5].startswith(" 99,990.00 ")
    assert lines[6].startswith("  dd 0.50% ")
    assert lines[7].startswith(" max 1.00% ")
    assert all(len(line) == 11 + 10 for line in lines)


def test_large_equity_labels_still_fit_the_gutter() -> None:
    points = [EquityPoint(ts=0, equity=12_345_678.9, drawdown=0.0)]
    first = chart_text(points, width=4, height=4).plain.split("\n")[0]
    assert first.startswith("12,345,679 ")


def test_no_points_says_so() -> None:
    assert chart_text([], width=20, height=4).plain.strip() == "no equity yet"
