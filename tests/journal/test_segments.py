"""Segment files: names in seq order, a header that refuses newer builds, atomic creation."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from journal.errors import JournalCorruptError, JournalVersionError
from journal.schema import CATALOG_SHAPE
from journal.segments import (
    JOURNAL_FORMAT,
    create_segment,
    list_segments,
    new_header,
    read_header,
    remove_stale_segments,
    segment_path,
)
from tests.journal.conftest import is_directory_fd, raw_header, rewrite_header


def _segment(directory: Path, first_seq: int = 1, session: str = "s") -> Path:
    path, fd, _ = create_segment(directory, new_header(session, first_seq, CATALOG_SHAPE))
    os.close(fd)
    return path


def test_names_are_zero_padded_first_seqs_listed_in_seq_order(tmp_path: Path) -> None:
    for first_seq in (1_000_000, 2, 30):
        _segment(tmp_path, first_seq)
    (tmp_path / "snapshot-00000000000000000030.bin").write_bytes(b"x")
    (tmp_path / "segment-00000000000000000031.tdj.tmp").write_bytes(b"x")
    assert segment_path(tmp_path, 2).name == "segment-00000000000000000002.tdj"
    assert [seq for seq, _ in list_segments(tmp_path)] == [2, 30, 1_000_000]


def test_header_round_trips_and_says_where_frames_start(tmp_path: Path) -> None:
    path = _segment(tmp_path, 17, session="live-2024")
    header, start = read_header(path, 17, 16)
    assert header == new_header("live-2024", 17, CATALOG_SHAPE)
    assert header.format == JOURNAL_FORMAT
    assert start == path.stat().st_size


def test_a_newer_format_is_refused_naming_the_file(tmp_path: Path) -> None:
    path = _segment(tmp_path)
    raw_header(path, {"format": JOURNAL_FORMAT + 1, "layout": "columnar"})
    with pytest.raises(
        JournalVersionError, match="journal format 2; this build reads format 1"
    ) as info:
        read_header(path, 1, 0)
    assert info.value.file == path
    assert str(path) in str(info.value)


def test_a_newer_catalog_is_refused_naming_what_is_unknown(tmp_path: Path) -> None:
    path = _segment(tmp_path)
    newer = {**CATALOG_SHAPE, "Fill": (*CATALOG_SHAPE["Fill"], "rebate"), "Liquidation": ("ts",)}
    rewrite_header(path, catalog=newer)
    with pytest.raises(JournalVersionError, match="newer message catalog") as info:
        read_header(path, 1, 0)
    assert info.value.file == path
    assert "Fill.rebate, Liquidation" in str(info.value)


def test_an_older_catalog_is_read(tmp_path: Path) -> None:
    path = _segment(tmp_path)
    older = {name: members for name, members in CATALOG_SHAPE.items() if name != "VenueSnapshot"}
    rewrite_header(path, catalog=older)
    header, _ = read_header(path, 1, 0)
    assert "VenueSnapshot" not in header.catalog


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (lambda data: b"NOTAJRNL" + data[8:], "bad magic"),
        (lambda data: data[:12], "cut short"),
        (lambda data: data[:40] + bytes([data[40] ^ 0x01]) + data[41:], "fails its CRC"),
    ],
    ids=["magic", "short", "crc"],
)
def test_a_damaged_header_is_corruption_at_byte_0(tmp_path: Path, damage, reason: str) -> None:
    path = _segment(tmp_path, 5)
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(JournalCorruptError, match=reason) as info:
        read_header(path, 5, 4)
    assert (info.value.file, info.value.offset, info.value.last_good_seq) == (path, 0, 4)


def test_a_header_disagreeing_with_its_file_name_is_corruption(tmp_path: Path) -> None:
    path = _segment(tmp_path, 5)
    rewrite_header(path, first_seq=6)
    with pytest.raises(JournalCorruptError, match="first seq 6, the file name 5"):
        read_header(path, 5, 4)


def test_creation_is_atomic_and_made_durable_in_the_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    events: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        events.append("fsync dir" if is_directory_fd(fd) else "fsync file")
        real_fsync(fd)

    def replace(src: str | Path, dst: str | Path) -> None:
        events.append(f"rename {Path(src).name} -> {Path(dst).name}")
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    _segment(tmp_path, 9)
    name = "segment-00000000000000000009.tdj"
    assert events == ["fsync file", f"rename {name}.tmp -> {name}", "fsync dir"]


def test_stale_half_created_segments_are_removed(tmp_path: Path) -> None:
    _segment(tmp_path, 1)
    stale = tmp_path / "segment-00000000000000000004.tdj.tmp"
    stale.write_bytes(b"TDJ")
    other = tmp_path / "notes.tmp"
    other.write_bytes(b"keep")
    assert remove_stale_segments(tmp_path) == [stale]
    assert not stale.exists()
    assert other.exists()
