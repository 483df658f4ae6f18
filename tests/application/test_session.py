"""A session scopes one engine: reads leave out what the user is not cleared for and say how
much they left out; writes are checked and refusals recorded; no second engine folds the log."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import sitroom
from sitroom.application.session import Session
from sitroom.domain.kinds import ACCESS_DENIED, REDLINE, TRACK, TRACK_STATUS, USER, USER_GRANT
from sitroom.domain.records import Record
from sitroom.errors import AccessDenied
from sitroom.testing import T0, ManualClock

from conftest import UCDP_FILE

SECRET = "backchannel-x"  # a track whose very name is outside the analysts' clearance
PASS = "correct horse battery"  # everyone's passphrase here: proof of who acts


def track(tid: str) -> Record:
    return TRACK.record(
        {
            "id": tid,
            "name": f"track {tid}",
            "parties": ["A", "B"],
            "venue": {"name": "Geneva", "lat": 46.2, "lon": 6.15},
            "status": "planned",
            "priority": 1,
            "needs": [],
            "preconditions": [],
        },
        id=f"track:{tid}",
        source="test",
        compartment=tid,
    )


def user(name: str, role: str) -> Record:
    return USER.record({"name": name, "role": role, "by": None}, id=f"user:{name}", source="test")


def grant(name: str, compartment: str) -> Record:
    return USER_GRANT.record(
        {"principal": name, "compartment": compartment, "by": "alice"},
        id=f"grant:{name}:{compartment}",
        source="test",
        compartment=compartment,
    )


@pytest.fixture
def room_dir(tmp_path: Path) -> Path:
    """A room with two tracks, an open one and a secret one; alice (admin) cleared for both,
    dana (analyst) for the open one, victor a viewer."""
    path = tmp_path / "room"
    with sitroom.init(path, clock=ManualClock(T0)) as room:
        room.ingest.feeds("ucdp", [str(UCDP_FILE)])
        for name in ("alice", "dana", "victor"):
            room.keys.init(name, passphrase=PASS)
        room.session.append(
            [
                track("open-talks"),
                track(SECRET),
                TRACK_STATUS.record(
                    {"track": SECRET, "status": "talking"},
                    id="status:x",
                    source="test",
                    compartment=SECRET,
                ),
                user("alice", "admin"),
                user("dana", "analyst"),
                user("victor", "viewer"),
                grant("alice", "open-talks"),
                grant("alice", SECRET),
                grant("dana", "open-talks"),
            ]
        )
    return path


def test_a_user_reads_only_what_they_are_cleared_for_and_is_told_what_was_hidden(
    room_dir: Path,
) -> None:
    with sitroom.open(room_dir, user="dana", proof=PASS) as room:
        tracks = room.session.state("tracks")
        assert set(tracks["tracks"]) == {"open-talks"} and SECRET not in tracks["status"]
        state = room.world.state()
        assert state.provenance.hidden == 3  # the secret track, its status and its grant
        assert "3 records are outside your clearance" in state.provenance.describe()
        assert state.records == room.session.count()
    with sitroom.open(room_dir, user="alice", proof=PASS) as room:
        assert set(room.session.state("tracks")["tracks"]) == {"open-talks", SECRET}
        assert room.world.state().provenance.hidden == 0
        assert room.world.state().records == state.records + 3


def test_what_a_user_may_not_see_never_reaches_any_world_answer(room_dir: Path) -> None:
    """Every read of the world, as JSON, for an analyst not cleared for the secret track."""
    with sitroom.open(room_dir, user="dana", proof=PASS) as room:
        w = room.world
        answers: list[Any] = [
            w.state(),
            w.events(limit=None),
            w.alerts(),
            w.quarantine(),
            w.actors(),
            w.redlines(),
            w.diff(T0 - 1),
        ]
        for answer in answers:
            text = json.dumps(answer.to_json())
            assert SECRET not in text, type(answer).__name__


def test_writes_are_checked_and_every_refusal_is_recorded(room_dir: Path) -> None:
    with sitroom.open(room_dir, user="dana", proof=PASS) as room:
        with pytest.raises(AccessDenied) as e:
            room.session.append([track(SECRET)])
        assert (e.value.user, e.value.compartment) == ("dana", SECRET)
    with sitroom.open(room_dir, user="victor", proof=PASS) as room:
        with pytest.raises(AccessDenied, match="viewers do not write"):
            room.world.add_redline("r", "conflict located in Lebanon")
        assert not room.session.records(kinds=[REDLINE])
    with sitroom.open(room_dir, user="alice", proof=PASS) as room:
        denied = room.session.records(kinds=[ACCESS_DENIED])
        assert [(d.payload["user"], d.compartment) for d in denied] == [
            ("dana", SECRET),
            ("victor", ""),
        ]
    with sitroom.open(
        room_dir, user="dana", proof=PASS
    ) as room:  # her refusal is in the secret track
        assert [d.payload["user"] for d in room.session.records(kinds=[ACCESS_DENIED])] == [
            "victor"
        ]


def test_an_unknown_user_or_none_is_refused_once_users_exist(room_dir: Path) -> None:
    with pytest.raises(AccessDenied, match="mallory is not a user"):
        sitroom.open(room_dir, user="mallory")
    with pytest.raises(AccessDenied, match="say who you are"):
        sitroom.open(room_dir)


def test_no_second_engine_folds_the_log_for_a_user(room_dir: Path) -> None:
    """A session's views are the one engine's states, restricted: no snapshots per clearance
    set are written, and the restricted view leaves the live state untouched."""
    with sitroom.open(room_dir, user="dana", proof=PASS) as room:
        dana = room.session.state("tracks")
        assert isinstance(room.session, Session)
    with sitroom.open(room_dir, user="alice", proof=PASS) as room:
        full = room.session.state("tracks")
        assert SECRET in full["tracks"] and SECRET not in dana["tracks"]
    import sqlite3

    with sqlite3.connect(room_dir / "sitroom.db") as db:
        names = {n for (n,) in db.execute("SELECT DISTINCT projection FROM snapshots")}
    assert not any("@" in n for n in names), names
