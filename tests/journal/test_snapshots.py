"""Snapshot files: atomic, checked, pruned; and restoring actors from them, all or nothing."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar

import msgspec
import pytest

from actors.actor import Actor
from actors.clock import SimClock
from journal.snapshots import (
    SNAPSHOT_FORMAT,
    SessionSnapshot,
    SnapshotError,
    encode_states,
    list_snapshots,
    read_snapshot,
    restore_states,
    write_snapshot,
)

SESSION = "session-1"


class PurseState(msgspec.Struct, frozen=True):
    cash: Decimal
    history: list[str]


class Purse(Actor):
    name = "purse"
    state_type: ClassVar[Any] = PurseState

    def __init__(self, cash: str = "0") -> None:
        super().__init__()
        self.cash = Decimal(cash)
        self.history: list[str] = []

    def snapshot(self) -> PurseState:
        return PurseState(self.cash, list(self.history))

    def restore(self, state: PurseState) -> None:
        self.cash = state.cash
        self.history = list(state.history)


class Stateless(Actor):
    name = "stateless"


def _snapshot(seq: int, actors: dict[str, Actor], clock: SimClock | None = None) -> SessionSnapshot:
    return SessionSnapshot(
        format=SNAPSHOT_FORMAT,
        session=SESSION,
        seq=seq,
        ts=seq * 10,
        record_crc=seq,
        states=encode_states(actors, clock),
    )


def test_a_snapshot_round_trips_every_actor_and_the_clock_exactly(tmp_path: Path) -> None:
    purse = Purse("1.10")
    purse.history.append("deposit")
    clock = SimClock()
    clock.set_timer("purse", "tick", 60)
    clock.next_due(1_000)
    path = write_snapshot(tmp_path, _snapshot(7, {"purse": purse, "stateless": Stateless()}, clock))
    assert path.name == "snapshot-00000000000000000007.tds"
    fresh, fresh_clock = Purse(), SimClock()
    snapshot = read_snapshot(path, SESSION)
    restore_states(snapshot, path, {"purse": fresh, "stateless": Stateless()}, fresh_clock)
    assert (fresh.cash, fresh.history) == (Decimal("1.10"), ["deposit"])
    assert str(fresh.cash) == "1.10"  # the exact digits, not a float's
    assert fresh_clock.snapshot() == clock.snapshot()
    assert fresh_clock.deadline == clock.deadline


def test_only_the_newest_snapshots_are_kept(tmp_path: Path) -> None:
    for seq in (10, 20, 30, 40, 50):
        write_snapshot(tmp_path, _snapshot(seq, {"purse": Purse()}), keep=3)
    assert [seq for seq, _ in list_snapshots(tmp_path)] == [30, 40, 50]
    assert not list((tmp_path / "snapshots").glob("*.tmp"))


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (lambda data: data[:-3], "damaged"),
        (lambda data: data[:-1] + bytes([data[-1] ^ 0x40]), "damaged"),
        (lambda data: b"NOTASNAP" + data[8:], "not a tickdeck snapshot"),
        (lambda data: data[:5], "not a tickdeck snapshot"),
    ],
)
def test_a_damaged_snapshot_is_refused_naming_the_file(
    tmp_path: Path, damage: Any, reason: str
) -> None:
    path = write_snapshot(tmp_path, _snapshot(3, {"purse": Purse()}))
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(SnapshotError, match=reason) as info:
        read_snapshot(path)
    assert str(path) in str(info.value)


def test_a_snapshot_of_another_session_or_format_is_refused(tmp_path: Path) -> None:
    path = write_snapshot(tmp_path, _snapshot(3, {"purse": Purse()}))
    with pytest.raises(SnapshotError, match="belongs to session 'session-1', not 'other'"):
        read_snapshot(path, "other")
    newer = msgspec.structs.replace(_snapshot(4, {"purse": Purse()}), format=SNAPSHOT_FORMAT + 1)
    with pytest.raises(SnapshotError, match=f"format {SNAPSHOT_FORMAT + 1}"):
        read_snapshot(write_snapshot(tmp_path, newer))


def test_a_renamed_snapshot_is_refused(tmp_path: Path) -> None:
    path = write_snapshot(tmp_path, _snapshot(3, {"purse": Purse()}))
    moved = path.with_name("snapshot-00000000000000000009.tds")
    path.rename(moved)
    with pytest.raises(SnapshotError, match=r"holds seq 3, its name says 0+9"):
        read_snapshot(moved)


def test_a_state_that_does_not_decode_restores_nothing_and_names_the_actor(
    tmp_path: Path,
) -> None:
    snapshot = _snapshot(3, {"purse": Purse("5")})
    broken = msgspec.structs.replace(
        snapshot,
        states={**snapshot.states, "clock": msgspec.Raw(msgspec.msgpack.encode({"x": 1}))},
    )
    purse, clock = Purse("1"), SimClock()
    with pytest.raises(SnapshotError, match="the state of 'clock' does not decode"):
        restore_states(broken, tmp_path, {"purse": purse}, clock)
    assert purse.cash == Decimal(1)  # the purse decoded fine but was not restored alone


def test_a_snapshot_for_other_actors_is_refused(tmp_path: Path) -> None:
    snapshot = _snapshot(3, {"purse": Purse("5")})
    with pytest.raises(SnapshotError, match="it lacks the state of wallet"):
        restore_states(snapshot, tmp_path, {"purse": Purse(), "wallet": _Wallet()})


class _Wallet(Purse):
    name = "wallet"
