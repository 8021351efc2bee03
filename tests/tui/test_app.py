"""The desk app: polling the link, the redraw rule, screen switching, the link going down."""

from __future__ import annotations

import msgspec
from textual.widgets import Static

from tests.tui.conftest import RecordingDesk
from tui.app import DeskApp
from tui.link import LinkError
from tui.screens.base import DeskScreen
from tui.screens.journal import JournalScreen
from tui.screens.overview import OverviewScreen
from tui.view import DeskView
from tui.widgets.confirm import ConfirmScreen
from tui.widgets.desk_bar import DeskBar
from tui.widgets.key_footer import KeyFooter

SIZE = (100, 30)


class CountingScreen(DeskScreen):
    """Records every view it is shown."""

    def __init__(self) -> None:
        super().__init__()
        self.shown: list[int] = []

    def compose(self):  # type: ignore[no-untyped-def]
        yield Static("counting", id="counting")

    def show(self, view: DeskView) -> None:
        self.shown.append(view.version)


def bump(desk: RecordingDesk) -> None:
    desk.current = msgspec.structs.replace(desk.current, version=desk.current.version + 1)


def status_text(app: DeskApp) -> str:
    return str(app.active_screen.query_one(DeskBar).query_one("#desk-status").render())


async def test_show_runs_once_per_new_version_not_per_poll(desk: RecordingDesk) -> None:
    screen = CountingScreen()
    app = DeskApp(desk, screens={"counting": screen})
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.5)  # about five polls of the same view
        assert screen.shown == [1]
        for _ in range(3):
            bump(desk)
            await pilot.pause(0.25)
        await pilot.pause(0.3)
        assert screen.shown == [1, 2, 3, 4]


class EverChangingDesk(RecordingDesk):
    """A session so busy that every call returns a newer view."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def view(self) -> DeskView:
        self.calls += 1
        bump(self)
        return self.current


async def test_redraws_at_most_ten_times_a_second() -> None:
    desk = EverChangingDesk()
    screen = CountingScreen()
    app = DeskApp(desk, screens={"counting": screen})
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(1.0)
        # Ten polls a second, plus the first at mount; a slow machine polls less.
        assert 2 <= len(screen.shown) <= 12
        assert len(screen.shown) <= desk.calls


async def test_app_polls_on_its_own(desk: RecordingDesk) -> None:
    screen = CountingScreen()
    app = DeskApp(desk, screens={"counting": screen})
    async with app.run_test(size=SIZE) as pilot:
        desk.current = msgspec.structs.replace(desk.current, version=41)
        await pilot.pause(0.3)
        assert screen.shown[-1] == 41
        assert app.view is desk.current


async def test_connecting_until_the_first_view() -> None:
    desk = RecordingDesk()
    view = desk.current
    desk.current = None  # type: ignore[assignment]
    app = DeskApp(desk, screens={"overview": OverviewScreen()})
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.2)
        assert "connecting" in status_text(app)
        assert "connecting" in str(app.screen.query_one("#session-line", Static).render())
        desk.current = view
        await pilot.pause(0.3)
        assert "ACTIVE" in status_text(app)
        assert "running" in str(app.screen.query_one("#session-line", Static).render())


class FlakyDesk(RecordingDesk):
    def __init__(self) -> None:
        super().__init__()
        self.down = False

    def view(self) -> DeskView | None:
        if self.down:
            raise LinkError("connection refused")
        return self.current


async def test_a_link_that_is_down_is_shown_in_place_and_polled_again() -> None:
    desk = FlakyDesk()
    app = DeskApp(desk, screens={"overview": OverviewScreen()})
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.2)
        desk.down = True
        await pilot.pause(0.3)
        assert "session unreachable: connection refused" in status_text(app)
        header = str(app.screen.query_one("#session-line", Static).render())
        assert "session unreachable: connection refused" in header
        desk.down = False
        await pilot.pause(0.3)
        assert "ACTIVE" in status_text(app)
        assert "running" in str(app.screen.query_one("#session-line", Static).render())


async def test_number_keys_switch_screens(desk: RecordingDesk) -> None:
    app = DeskApp(desk, screens={"overview": OverviewScreen(), "journal": JournalScreen()})
    async with app.run_test(size=SIZE) as pilot:
        assert isinstance(app.screen, OverviewScreen)
        await pilot.press("2")
        await pilot.pause()
        assert isinstance(app.screen, JournalScreen)
        assert app.active_name == "journal"
        await pilot.press("1")
        await pilot.pause()
        assert isinstance(app.screen, OverviewScreen)
        await pilot.press("6")  # no sixth screen here: nothing happens
        await pilot.pause()
        assert isinstance(app.screen, OverviewScreen)


async def test_tabs_switch_screens_by_mouse(desk: RecordingDesk) -> None:
    app = DeskApp(desk, screens={"overview": OverviewScreen(), "journal": JournalScreen()})
    async with app.run_test(size=SIZE) as pilot:
        await pilot.click("#tab-journal")
        await pilot.pause()
        assert isinstance(app.screen, JournalScreen)
        assert app.screen.query_one("#tab-journal").has_class("-active")
        await pilot.click("#tab-overview")
        await pilot.pause()
        assert isinstance(app.screen, OverviewScreen)


async def test_a_screen_is_shown_the_newest_view_once_when_it_becomes_active(
    desk: RecordingDesk,
) -> None:
    first, second = CountingScreen(), CountingScreen()
    app = DeskApp(desk, screens={"first": first, "second": second})
    async with app.run_test(size=SIZE) as pilot:
        bump(desk)
        await pilot.pause(0.3)
        assert second.shown == []  # an inactive screen is left alone
        await pilot.press("2")
        await pilot.pause(0.3)
        assert second.shown == [2]
        assert first.shown == [1, 2]
        await pilot.press("1")
        await pilot.pause(0.3)
        assert first.shown == [1, 2, 2]


async def test_every_screen_gets_the_tab_bar_and_the_key_footer(desk: RecordingDesk) -> None:
    app = DeskApp(desk, screens={"overview": OverviewScreen(), "journal": JournalScreen()})
    async with app.run_test(size=SIZE) as pilot:
        for key in ("1", "2"):
            await pilot.press(key)
            await pilot.pause()
            bar = app.screen.query_one(DeskBar)
            tabs = [str(tab.render()) for tab in bar.query(".desk-tab")]
            assert tabs == ["1 Overview", "2 Journal"]
            footer = app.screen.query_one(KeyFooter)
            assert "^k Halt" in str(footer.render())
            assert "f Flatten" in str(footer.render())


async def test_a_screen_that_fails_to_draw_leaves_the_controls_working(
    desk: RecordingDesk,
) -> None:
    class BrokenScreen(CountingScreen):
        def show(self, view: DeskView) -> None:
            raise ValueError("bad cell")

    app = DeskApp(desk, screens={"broken": BrokenScreen()})
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.2)
        assert "failed to draw" in status_text(app)
        await pilot.press("ctrl+k")
        await pilot.pause()
        assert [type(command).__name__ for command in desk.commands] == ["Halt"]


async def test_ctrl_q_quits(desk: RecordingDesk) -> None:
    app = DeskApp(desk, screens={"overview": OverviewScreen()})
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+q")
        await pilot.pause()
        assert not app.is_running


async def test_the_default_desk_has_six_screens_on_keys_one_to_six(desk: RecordingDesk) -> None:
    app = DeskApp(desk)
    async with app.run_test(size=(80, 24)) as pilot:
        tabs = [str(tab.render()) for tab in app.screen.query_one(DeskBar).query(".desk-tab")]
        assert tabs == [
            "1 Overview", "2 Orders", "3 Market", "4 SQL", "5 Backtests", "6 Journal",
        ]  # fmt: skip
        seen = []
        for key in "123456":
            # The SQL console types digits into its query: leave the text field first.
            app.screen.set_focus(None)
            await pilot.press(key)
            await pilot.pause()
            seen.append(type(app.screen).__name__)
        assert seen == [
            "OverviewScreen", "OrdersScreen", "MarketScreen", "SqlScreen", "BacktestsScreen",
            "JournalScreen",
        ]  # fmt: skip


async def test_a_click_on_a_footer_key_presses_it(desk: RecordingDesk) -> None:
    app = DeskApp(desk, screens={"overview": OverviewScreen()})
    async with app.run_test(size=SIZE) as pilot:
        footer = app.screen.query_one(KeyFooter)
        text = str(footer.render())
        await pilot.click(KeyFooter, offset=(text.index("^k Halt") + 1, 0))
        await pilot.pause()
        assert [type(command).__name__ for command in desk.commands] == ["Halt"]
        await pilot.click(KeyFooter, offset=(text.index("f Flatten") + 1, 0))
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
