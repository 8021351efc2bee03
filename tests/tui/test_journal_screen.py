"""The journal screen: sequence numbers, segments, the last snapshot and recovery report."""

from __future__ import annotations

import msgspec
import pytest
from textual.widgets import DataTable, Static

from tests.tui.conftest import RecordingDesk, sample_view
from tui.app import DeskApp
from tui.screens.journal import NO_RECOVERY, JournalScreen, format_bytes, format_recovery
from tui.screens.overview import OverviewScreen
from tui.view import JournalView, SegmentRow


def journal_app(desk: RecordingDesk) -> DeskApp:
    return DeskApp(desk, screens={"journal": JournalScreen(), "overview": OverviewScreen()})


def rendered(app: DeskApp, selector: str) -> str:
    return str(app.screen.query_one(selector, Static).render())


def with_journal(desk: RecordingDesk, journal: JournalView) -> None:
    desk.current = msgspec.structs.replace(
        desk.current, journal=journal, version=desk.current.version + 1
    )


async def test_shows_last_and_durable_seq(desk: RecordingDesk) -> None:
    app = journal_app(desk)
    async with app.run_test(size=(80, 24)):
        sequence = rendered(app, "#journal-sequence")
        assert "last seq 48,213" in sequence
        assert "durable seq 48,210" in sequence
        assert "3 not yet synced" in sequence


async def test_shows_segments_with_their_sizes(desk: RecordingDesk) -> None:
    app = journal_app(desk)
    async with app.run_test(size=(80, 24)):
        table = app.screen.query_one("#journal-segments", DataTable)
        rows = [[str(cell) for cell in table.get_row_at(i)] for i in range(table.row_count)]
        assert rows == [
            ["00000000000000000001.seg", "64.0 MiB", "67,108,864"],
            ["00000000000000041230.seg", "1.1 MiB", "1,204,224"],
        ]


async def test_shows_the_last_snapshot(desk: RecordingDesk) -> None:
    app = journal_app(desk)
    async with app.run_test(size=(80, 24)):
        snapshot = rendered(app, "#journal-snapshot")
        assert "last snapshot at seq 40,000" in snapshot
        assert "4 written this session" in snapshot
        assert "/data/journal/s/snapshots/40000.snap" in snapshot


async def test_shows_the_recovery_report_pretty_printed(desk: RecordingDesk) -> None:
    app = journal_app(desk)
    async with app.run_test(size=(80, 24)):
        assert rendered(app, "#journal-recovery").split("\n") == [
            "{",
            '  "snapshot_seq": 30000,',
            '  "last_seq": 31250,',
            '  "replayed_frames": 1250',
            "}",
        ]


async def test_a_fresh_session_says_there_was_no_recovery(desk: RecordingDesk) -> None:
    with_journal(desk, JournalView(last_seq=12, durable_seq=12))
    app = journal_app(desk)
    async with app.run_test(size=(80, 24)):
        assert rendered(app, "#journal-recovery") == NO_RECOVERY
        assert "no snapshot yet" in rendered(app, "#journal-snapshot")
        assert "0 not yet synced" in rendered(app, "#journal-sequence")


async def test_follows_the_journal_as_it_grows(desk: RecordingDesk) -> None:
    app = journal_app(desk)
    async with app.run_test(size=(80, 24)) as pilot:
        grown = msgspec.structs.replace(
            desk.current.journal,
            last_seq=50_000,
            durable_seq=50_000,
            segments=(*desk.current.journal.segments, SegmentRow(name="3.seg", bytes=512)),
        )
        with_journal(desk, grown)
        await pilot.pause(0.3)
        assert "last seq 50,000" in rendered(app, "#journal-sequence")
        assert app.screen.query_one("#journal-segments", DataTable).row_count == 3


@pytest.mark.parametrize(
    ("size", "text"),
    [(0, "0 B"), (1023, "1,023 B"), (1024, "1.0 KiB"), (67_108_864, "64.0 MiB"),
     (5 * 1024**4, "5,120.0 GiB")],
)  # fmt: skip
def test_format_bytes(size: int, text: str) -> None:
    assert format_bytes(size) == text


def test_a_report_that_is_not_json_is_shown_as_it_came() -> None:
    assert format_recovery("replayed 12 frames {") == "replayed 12 frames {"


async def test_journal_switches_in_from_the_overview() -> None:
    desk = RecordingDesk(sample_view())
    app = DeskApp(desk, screens={"overview": OverviewScreen(), "journal": JournalScreen()})
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("2")
        await pilot.pause()
        assert "last seq 48,213" in rendered(app, "#journal-sequence")


def test_journal_snapshot(snap_compare) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(DeskApp(RecordingDesk()), terminal_size=(100, 30), press=["6"])
