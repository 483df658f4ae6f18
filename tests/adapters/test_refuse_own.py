"""The one check every writer of a user-named path goes through (adapters/outputs.refuse_own),
the atomic writer, and the two writers of folders and plots that use them: calendars (.ics,
one file per person and track) and the backtest's reliability diagram."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import sitroom
from sitroom.adapters.ical import write_calendars
from sitroom.adapters.outputs import atomic, refuse_own
from sitroom.adapters.plots import reliability_diagram
from sitroom.application.tracks import PlacedMeeting
from sitroom.domain.risk.scoring import reliability
from sitroom.errors import UserInputError
from sitroom.room import LOG_FILE, _reliability_plot


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    sitroom.init(tmp_path / "ws", site="geneva").close()
    return tmp_path / "ws"


def refusal(target: Path, workspace: Path | None) -> str:
    with pytest.raises(UserInputError) as e:
        refuse_own(target, workspace)
    text = str(e.value)
    assert "\n" not in text and text.startswith(f"will not write {target}:")
    return text


def test_paths_that_are_not_the_workspaces_own_pass(ws: Path, tmp_path: Path) -> None:
    for fine in (
        tmp_path / "out.jsonl",
        tmp_path / "new" / "folder" / "out.jsonl",
        ws / "export.jsonl",  # the user's own file in the workspace folder
        ws / "calendars",
        ws / "sitroom.db.bak",
        ws / "keysafe",  # beside the keys folder, not in it
    ):
        refuse_own(fine, ws)
        refuse_own(fine, None)


def test_the_workspace_is_found_above_the_target_without_being_given(ws: Path) -> None:
    assert "another workspace's log" in refusal(ws / LOG_FILE, None)
    assert "inside another workspace's keys folder" in refusal(ws / "keys" / "a" / "b", None)


def test_a_folder_that_links_into_the_workspace_is_followed(ws: Path, tmp_path: Path) -> None:
    (tmp_path / "alias").symlink_to(ws, target_is_directory=True)
    text = refusal(tmp_path / "alias" / LOG_FILE, ws)
    assert f"resolves to this workspace's log ({ws.resolve() / LOG_FILE})" in text
    assert "resolves to this workspace's folder" in refusal(tmp_path / "alias", ws)


def test_a_hard_link_to_a_key_names_the_key(ws: Path, tmp_path: Path) -> None:
    key = ws / "keys" / "geneva.key"
    (tmp_path / "copy.key").hardlink_to(key)
    text = refusal(tmp_path / "copy.key", ws)
    assert f"is a hard link to a file in this workspace's keys folder ({key.resolve()})" in text


def test_a_loop_of_links_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    with pytest.raises(UserInputError, match="cannot write") as e:
        refuse_own(tmp_path / "a", None)
    assert "\n" not in str(e.value)


def test_an_atomic_write_that_fails_leaves_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "out.json"
    target.write_bytes(b"the old one")
    with pytest.raises(RuntimeError), atomic(target) as f:
        f.write(b"half of the new")
        raise RuntimeError("the writer died")
    assert target.read_bytes() == b"the old one"
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]  # no temporary file left
    with atomic(target) as f:
        f.write(b"the new one")
    assert target.read_bytes() == b"the new one"
    with pytest.raises(UserInputError, match="cannot write"), atomic(tmp_path / "no" / "x"):
        pass


# calendars: a folder of files -------------------------------------------------------------
def meeting(mid: str, track: str) -> PlacedMeeting:
    return PlacedMeeting(
        id=mid,
        title=f"meeting {mid}",
        track=track,
        track_name=track.title(),
        start="2026-12-08T09:00:00Z",
        end="2026-12-08T10:00:00Z",
        venue=None,
        venue_name=None,
        attendees=("dana",),
        attendee_names=("Dana",),
        optional=(),
    )


MEETINGS = [meeting("m1", "us-iran"), meeting("m2", "ceasefire")]


def test_calendars_go_into_a_folder_of_their_own(ws: Path, tmp_path: Path) -> None:
    written = write_calendars(tmp_path / "cal", MEETINGS, {"dana"}, 0, workspace=ws)
    names = sorted(p.name for p in written)
    assert names == ["person-dana.ics", "track-ceasefire.ics", "track-us-iran.ics"]
    assert sorted(p.name for p in (tmp_path / "cal").iterdir()) == names  # nothing temporary
    assert all(p.read_bytes().startswith(b"BEGIN:VCALENDAR") for p in written)


def test_calendars_are_not_written_into_the_workspaces_folders(ws: Path) -> None:
    before = sorted(p.name for p in ws.rglob("*"))
    for folder, what in ((ws, "this workspace's folder"), (ws / "keys", "keys folder")):
        with pytest.raises(UserInputError, match=what):
            write_calendars(folder, MEETINGS, {"dana"}, 0, workspace=ws)
    assert sorted(p.name for p in ws.rglob("*")) == before


def test_one_calendar_that_links_to_the_log_stops_them_all(ws: Path, tmp_path: Path) -> None:
    cal = tmp_path / "cal"
    cal.mkdir()
    (cal / "track-us-iran.ics").symlink_to(ws / LOG_FILE)
    log = (ws / LOG_FILE).read_bytes()
    with pytest.raises(UserInputError, match="resolves to this workspace's log"):
        write_calendars(cal, MEETINGS, {"dana"}, 0, workspace=ws)
    assert [p.name for p in cal.iterdir()] == ["track-us-iran.ics"]  # none written
    assert (ws / LOG_FILE).read_bytes() == log


# plots ------------------------------------------------------------------------------------
CURVES = {"aggregate": reliability(np.array([0.1, 0.5, 0.9]), np.array([0, 1, 1]))}


def test_a_plot_goes_neither_into_the_workspace_nor_its_keys(ws: Path, tmp_path: Path) -> None:
    with pytest.raises(UserInputError, match="inside this workspace's keys folder"):
        reliability_diagram(CURVES, ws / "keys" / "r.png", title="x", workspace=ws)
    with pytest.raises(UserInputError, match="is this workspace's folder"):
        _reliability_plot(CURVES, ws / "reliability.png", "x", workspace=ws)
    assert not (ws / "reliability.png").exists() and not (ws / "keys" / "r.png").exists()
    drawn = _reliability_plot(CURVES, tmp_path / "plots" / "reliability.png", "x", workspace=ws)
    assert drawn.read_bytes().startswith(b"\x89PNG")
    assert [p.name for p in drawn.parent.iterdir()] == ["reliability.png"]
