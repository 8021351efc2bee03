"""The desk's controls: each key sends exactly its command, and only when it should."""

from __future__ import annotations

import msgspec
import pytest
from textual.widgets import Input

from actors.messages import (
    CancelAll,
    FlattenAll,
    Halt,
    PauseStrategy,
    Resume,
    ResumeStrategy,
)
from tests.tui.conftest import RecordingDesk, sample_view
from tui.app import DeskApp
from tui.link import LinkError
from tui.screens.journal import JournalScreen
from tui.screens.overview import OverviewScreen
from tui.view import StrategyRow
from tui.widgets.confirm import ConfirmScreen
from tui.widgets.desk_bar import DeskBar
from tui.widgets.strategy_picker import StrategyPickerScreen
from tui.widgets.typed_confirm import TypedConfirmScreen

SIZE = (100, 30)


def make_app(desk: RecordingDesk) -> DeskApp:
    return DeskApp(desk, screens={"overview": OverviewScreen(), "journal": JournalScreen()})


def live_desk() -> RecordingDesk:
    return RecordingDesk(sample_view(mode="live"))


def bar_text(app: DeskApp) -> str:
    bar = app.active_screen.query_one(DeskBar)
    return str(bar.query_one("#desk-status").render())


async def test_ctrl_k_halts_at_once_without_asking(desk: RecordingDesk) -> None:
    app = make_app(desk)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+k")
        await pilot.pause()
        assert desk.commands == [Halt(ts=0)]
        assert not isinstance(app.screen, ConfirmScreen | TypedConfirmScreen)


async def test_h_halts_where_no_text_field_has_focus(desk: RecordingDesk) -> None:
    app = make_app(desk)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("h")
        await pilot.pause()
        assert desk.commands == [Halt(ts=0)]


async def test_halt_shows_halted_from_the_next_view(desk: RecordingDesk) -> None:
    app = make_app(desk)
    async with app.run_test(size=SIZE) as pilot:
        assert "ACTIVE" in bar_text(app)
        await pilot.press("ctrl+k")
        await pilot.pause(0.3)
        assert "HALTED" in bar_text(app)
        assert any("halt sent" in note.message for note in app._notifications)


async def test_ctrl_k_halts_while_typing_in_an_input(desk: RecordingDesk) -> None:
    app = make_app(desk)
    async with app.run_test(size=SIZE) as pilot:
        log_filter = app.screen.query_one("#log-text", Input)
        log_filter.focus()
        await pilot.press("e", "r", "r")
        await pilot.press("ctrl+k")
        await pilot.pause()
        assert desk.commands == [Halt(ts=0)]
        assert log_filter.value == "err"  # the input's own ctrl+k did not run either


async def test_h_typed_into_an_input_is_text_not_a_halt(desk: RecordingDesk) -> None:
    app = make_app(desk)
    async with app.run_test(size=SIZE) as pilot:
        log_filter = app.screen.query_one("#log-text", Input)
        log_filter.focus()
        await pilot.press("h", "f", "c", "r", "p", "2")
        await pilot.pause()
        assert desk.commands == []
        assert log_filter.value == "hfcrp2"
        assert app.active_name == "overview"


@pytest.mark.parametrize(
    ("key", "command"),
    [("f", FlattenAll(ts=0)), ("c", CancelAll(ts=0)), ("r", Resume(ts=0))],
)
async def test_confirmed_control_sends_its_command(
    desk: RecordingDesk, key: str, command: object
) -> None:
    app = make_app(desk)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press(key)
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        assert desk.commands == []  # nothing before the answer
        await pilot.press("y")
        await pilot.pause()
        assert desk.commands == [command]
        assert not isinstance(app.screen, ConfirmScreen)


@pytest.mark.parametrize("answer", ["n", "escape"])
@pytest.mark.parametrize("key", ["f", "c", "r"])
async def test_declined_control_sends_nothing(desk: RecordingDesk, key: str, answer: str) -> None:
    app = make_app(desk)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press(key)
        await pilot.pause()
        await pilot.press(answer)
        await pilot.pause()
        assert desk.commands == []
        assert not isinstance(app.screen, ConfirmScreen)
        assert any("nothing sent" in note.message for note in app._notifications)


async def test_confirmation_answers_to_the_mouse(desk: RecordingDesk) -> None:
    app = make_app(desk)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f")
        await pilot.pause()
        await pilot.click("#confirm-no")
        await pilot.pause()
        assert desk.commands == []
        await pilot.press("f")
        await pilot.pause()
        await pilot.click("#confirm-yes")
        await pilot.pause()
        assert desk.commands == [FlattenAll(ts=0)]


async def test_other_controls_wait_while_a_question_is_open(desk: RecordingDesk) -> None:
    app = make_app(desk)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f")
        await pilot.pause()
        question = app.screen
        await pilot.press("c", "r", "p", "2")
        await pilot.pause()
        assert app.screen is question
        assert app.active_name == "overview"
        assert desk.commands == []


async def test_halt_does_not_wait_for_an_open_question(desk: RecordingDesk) -> None:
    app = make_app(desk)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("c")
        await pilot.pause()
        await pilot.press("h")
        await pilot.pause()
        assert desk.commands == [Halt(ts=0)]


@pytest.mark.parametrize(
    ("key", "word", "command"),
    [
        ("f", "FLATTEN", FlattenAll(ts=0)),
        ("c", "CANCEL", CancelAll(ts=0)),
        ("r", "RESUME", Resume(ts=0)),
    ],
)
async def test_live_mode_asks_for_the_typed_word(key: str, word: str, command: object) -> None:
    desk = live_desk()
    app = make_app(desk)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press(key)
        await pilot.pause()
        assert isinstance(app.screen, TypedConfirmScreen)
        await pilot.press("y")  # a plain yes is just a letter here
        await pilot.pause()
        assert desk.commands == []
        app.screen.query_one("#typed-word", Input).value = ""
        await pilot.press(*word, "enter")
        await pilot.pause()
        assert desk.commands == [command]


@pytest.mark.parametrize("typed", ["flatten", "FLATTEN ALL", "yes", ""])
async def test_live_mode_refuses_a_wrong_word(typed: str) -> None:
    desk = live_desk()
    app = make_app(desk)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f")
        await pilot.pause()
        await pilot.press(*typed, "enter")
        await pilot.pause()
        assert desk.commands == []
        assert not isinstance(app.screen, TypedConfirmScreen)
        assert any("nothing sent" in note.message for note in app._notifications)


async def test_live_confirmation_by_mouse() -> None:
    desk = live_desk()
    app = make_app(desk)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("c")
        await pilot.pause()
        await pilot.press(*"CANCEL")
        await pilot.click("#typed-cancel")
        await pilot.pause()
        assert desk.commands == []
        await pilot.press("c")
        await pilot.pause()
        await pilot.press(*"CANCEL")
        await pilot.click("#typed-confirm")
        await pilot.pause()
        assert desk.commands == [CancelAll(ts=0)]


async def test_live_mode_halt_never_asks() -> None:
    desk = live_desk()
    app = make_app(desk)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("h")
        await pilot.pause()
        assert desk.commands == [Halt(ts=0)]


async def test_ctrl_k_halts_while_typing_the_live_confirmation() -> None:
    desk = live_desk()
    app = make_app(desk)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f")
        await pilot.pause()
        await pilot.press("F", "L", "ctrl+k")
        await pilot.pause()
        assert desk.commands == [Halt(ts=0)]


async def test_pause_then_resume_a_strategy(desk: RecordingDesk) -> None:
    app = make_app(desk)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("p")
        await pilot.pause()
        assert desk.commands == [PauseStrategy(ts=0, strategy="sma_cross")]
        desk.current = msgspec.structs.replace(
            desk.current,
            strategies=(StrategyRow(name="sma_cross", paused=True),),
            version=desk.current.version + 1,
        )
        await pilot.pause(0.3)
        await pilot.press("p")
        await pilot.pause()
        assert desk.commands[1:] == [ResumeStrategy(ts=0, strategy="sma_cross")]


async def test_pause_picks_among_several_strategies(desk: RecordingDesk) -> None:
    desk.current = msgspec.structs.replace(
        desk.current,
        strategies=(StrategyRow(name="breakout"), StrategyRow(name="sma_cross", paused=True)),
    )
    app = make_app(desk)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("p")
        await pilot.pause()
        assert isinstance(app.screen, StrategyPickerScreen)
        await pilot.press("down", "enter")
        await pilot.pause()
        assert desk.commands == [ResumeStrategy(ts=0, strategy="sma_cross")]
        await pilot.press("p")
        await pilot.pause()
        await pilot.press("escape")
        await pilot.pause()
        assert desk.commands == [ResumeStrategy(ts=0, strategy="sma_cross")]


async def test_live_pause_asks_for_the_typed_word() -> None:
    desk = live_desk()
    app = make_app(desk)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("p")
        await pilot.pause()
        assert isinstance(app.screen, TypedConfirmScreen)
        await pilot.press(*"RESUME", "enter")
        await pilot.pause()
        assert desk.commands == []
        await pilot.press("p")
        await pilot.pause()
        await pilot.press(*"PAUSE", "enter")
        await pilot.pause()
        assert desk.commands == [PauseStrategy(ts=0, strategy="sma_cross")]


async def test_pause_without_strategies_sends_nothing(desk: RecordingDesk) -> None:
    desk.current = msgspec.structs.replace(desk.current, strategies=())
    app = make_app(desk)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("p")
        await pilot.pause()
        assert desk.commands == []
        assert any("no strategy" in note.message for note in app._notifications)


async def test_controls_ask_as_for_live_before_the_first_view() -> None:
    desk = RecordingDesk()
    desk.current = None  # type: ignore[assignment]
    app = make_app(desk)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f")
        await pilot.pause()
        assert isinstance(app.screen, TypedConfirmScreen)


class FailingDesk(RecordingDesk):
    async def command(self, command: object) -> None:
        raise LinkError("control API refused the token")


async def test_a_command_the_link_refuses_is_reported() -> None:
    desk = FailingDesk()
    app = make_app(desk)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+k")
        await pilot.pause()
        messages = [note.message for note in app._notifications]
        assert any("halt failed: control API refused the token" in m for m in messages)
        assert "ACTIVE" in bar_text(app)


def test_confirmation_snapshot(snap_compare) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(DeskApp(RecordingDesk()), terminal_size=(100, 30), press=["f"])


def test_live_typed_confirmation_snapshot(snap_compare) -> None:  # type: ignore[no-untyped-def]
    app = DeskApp(live_desk())
    assert snap_compare(app, terminal_size=(100, 30), press=["c", "C", "A", "N"])
