"""Fuzzing track files: the shipped examples and fixtures mutated as text and as values, and
garbage, read as `sitroom tracks add` reads them (then added to a scratch room and checked for
deadlocks). Every file is read or refused in one line naming the file: never a traceback."""

from __future__ import annotations

from pathlib import Path

from hypothesis import example, given
from hypothesis import strategies as st

from sitroom.adapters.clock import ManualClock
from sitroom.adapters.trackfile import parse_track_file
from sitroom.application.tracks import Tracks
from sitroom.errors import SitroomError
from sitroom.room import _scratch_session

from fuzzing import assert_one_line, fuzz, json_values, yaml_files

ROOT = Path(__file__).resolve().parents[2]
FILES = [ROOT / "examples" / "tracks.yaml", *sorted((ROOT / "tests/fixtures/tracks").glob("*"))]
TEXTS = [f.read_text() for f in FILES]
T0 = 1_796_000_000_000


def track_files() -> st.SearchStrategy[str]:
    return yaml_files(TEXTS, json_values(dates=True))


@fuzz()
@example("tracks:\n  - {id: t, name: T, parties: true}\n")
@example("resources:\n  - {id: r, hours: {}, timezone: 5}\n")
@example("holdings:\n  - {track: t, resource: r, from: !!int ''}\n")
@given(track_files())
def test_a_track_file_is_read_or_refused_in_one_line(text: str) -> None:
    try:
        parse_track_file("fuzz.yaml", text, now_ms=T0)
    except SitroomError as e:
        assert_one_line(e)
        assert "fuzz.yaml" in str(e)


@fuzz(examples=40)
@given(track_files())
def test_a_track_file_is_added_and_checked_or_refused_in_one_line(text: str) -> None:
    """Past the reader: references checked against the room, records appended and folded,
    the deadlock check run (what `tracks add` then `tracks check` do)."""
    tracks = Tracks(
        _scratch_session(ManualClock(T0)),
        solver=None,  # type: ignore[arg-type]  # no schedule is solved here
        read_track_file=lambda path, now: parse_track_file("fuzz.yaml", text, now_ms=now),
        read_calendar=None,  # type: ignore[arg-type]
        write_calendars=None,  # type: ignore[arg-type]
    )
    try:
        tracks.add(["fuzz.yaml"])
        tracks.check()
    except SitroomError as e:
        assert_one_line(e)
