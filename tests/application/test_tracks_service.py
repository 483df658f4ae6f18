"""The tracks service on a room: typed results and their JSON, NotFound with its fields, the
Solver port (any solver plugs in; CP-SAT is loaded only to solve), progress while solving, and
what a user not cleared for every track may see and record."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

import sitroom
from sitroom.adapters.trackfile import parse_track_file
from sitroom.application.tracks import Horizon, Schedule, Tracks
from sitroom.domain.kinds import USER, USER_GRANT
from sitroom.domain.records import Record
from sitroom.domain.schedule import Options, Problem, Solution
from sitroom.domain.timeutil import MS_PER_DAY, parse_time
from sitroom.domain.tracks import TrackFile
from sitroom.errors import NotFound, UserInputError
from sitroom.room import Room
from sitroom.testing import ManualClock

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "tracks"
GENEVA = FIXTURES / "geneva-schedule.yaml"
DEADLOCK = FIXTURES / "us-iran-ceasefire.yaml"
NOW = parse_time("2026-11-25", now_ms=0)


@pytest.fixture
def room(tmp_path: Path) -> Iterator[Room]:
    with sitroom.init(tmp_path / "room", clock=ManualClock(NOW)) as r:
        added = r.tracks.add([GENEVA])
        assert added.new == added.records == 15
        yield r


def test_track_list_and_check_are_typed_answers_with_provenance(room: Room) -> None:
    listed = room.tracks.list()
    assert [t.id for t in listed.tracks] == ["ceasefire", "us-iran", "sanctions"]
    us_iran = listed.tracks[1]
    assert (us_iran.venue, us_iran.priority, us_iran.status) == ("Geneva", 1, "planned")
    body = listed.to_json()
    assert list(body) == ["tracks", "provenance"]  # provenance last
    assert body["tracks"][1]["preconditions"] == [
        {"track": "ceasefire", "status": "agreed", "met": False}
    ]
    checked = room.tracks.check(at_ms=NOW)
    assert checked.deadlocks == () and checked.at == "2026-11-25T00:00:00Z"
    assert checked.to_json()["contention"] == []


def test_track_files_go_in_one_append_and_count_what_each_adds(room: Room) -> None:
    before = room.session.count()
    added = room.tracks.add([DEADLOCK, GENEVA])
    assert [(f.records, f.new) for f in added.files] == [(7, 6), (15, 0)]  # envoy already known
    # What each file declares, a record per track it touches (GENEVA's came with the room).
    declared = len(
        {r.compartment for r in parse_track_file("d", DEADLOCK.read_text(), now_ms=0).records}
    )
    assert room.session.count() == before + 6 + declared + len(added.alerts)
    assert [a.title.split(":")[0] for a in added.alerts] == ["Over-booked", "Deadlock"]
    with pytest.raises(UserInputError):
        room.tracks.add([])


def test_an_unknown_track_or_resource_is_not_found_with_what_and_id(room: Room) -> None:
    with pytest.raises(NotFound) as e:
        room.tracks.set_status("us-irn", "agreed")
    assert (e.value.what, e.value.id) == ("track", "us-irn")
    assert e.value.known == ("ceasefire", "sanctions", "us-iran")
    assert e.value.to_json() == {
        "type": "not_found",
        "message": "no track 'us-irn' (tracks: ceasefire, sanctions, us-iran)",
        "what": "track",
        "id": "us-irn",
        "known": ["ceasefire", "sanctions", "us-iran"],
    }
    with pytest.raises(NotFound) as r:
        room.tracks.import_calendar("nobody", GENEVA)
    assert (r.value.what, r.value.id) == ("resource", "nobody")
    with pytest.raises(NotFound) as w:
        room.tracks.whatif_delay("nowhere", MS_PER_DAY)
    assert (w.value.what, w.value.id) == ("track", "nowhere")
    with pytest.raises(UserInputError, match="end of the window"):
        room.tracks.import_calendar("envoy", GENEVA, since_ms=NOW, until_ms=NOW)
    changed = room.tracks.set_status("ceasefire", "agreed")
    assert (changed.was, changed.status) == ("negotiating", "agreed")


def test_schedule_reports_progress_and_records_once(room: Room) -> None:
    told: list[tuple[int, int | None]] = []
    solved = room.tracks.schedule(
        options=Options(time_limit=5), progress=lambda d, t: told.append((d, t))
    )
    assert solved.gap is not None and solved.gap <= 0.01  # the default gap
    assert (solved.status == "optimal") == (solved.gap == 0)  # optimal: proven, not within
    assert solved.recorded and len(solved.meetings) == 5
    assert told and told[-1] == (5000, 5000)  # time, against the time limit, to the end
    assert [d for d, _ in told] == sorted(d for d, _ in told)
    body = solved.to_json()
    assert body["horizon"]["slot_minutes"] == 30 and body["calendars"] == []
    assert list(body)[-1] == "provenance"
    again = room.tracks.schedule(options=Options(time_limit=5))
    assert again.kept == 5 and again.moved == () and not again.recorded


def test_a_slip_with_no_recorded_schedule_solves_twice_on_one_progress_bar(room: Room) -> None:
    told: list[tuple[int, int | None]] = []
    found = room.tracks.whatif_delay(
        "ceasefire",
        3 * MS_PER_DAY,
        options=Options(time_limit=5, gap=0.0),
        progress=lambda d, t: told.append((d, t)),
    )
    assert found.base.startswith("a schedule solved now")
    assert {m.meeting for m in found.moves} == {
        "ceasefire-1",
        "ceasefire-2",
        "us-iran-1",
        "us-iran-2",
    }
    assert told[-1] == (10_000, 10_000)  # two solves of 5 s each
    assert any(t == 10_000 and d <= 5000 for d, t in told)  # the first half is the first solve
    assert [d for d, _ in told] == sorted(d for d, _ in told)
    with pytest.raises(UserInputError, match="positive"):
        room.tracks.whatif_delay("ceasefire", 0)


class Fixed:
    """A solver that places every meeting at the start of its window: any Solver plugs in."""

    def __init__(self) -> None:
        self.calls = 0

    def solve(
        self,
        problem: Problem,
        options: Options | None = None,
        *,
        previous: Mapping[str, int] | None = None,
        not_before: Mapping[str, int] | None = None,
        progress: object = None,
    ) -> Solution:
        self.calls += 1
        starts = {mid: int(problem.starts(mid).argmax()) for mid in problem.meetings}
        attending = {mid: list(m.required) for mid, m in problem.meetings.items()}
        return Solution("feasible", starts=starts, attending=attending)


def test_the_solver_is_a_port(room: Room, tmp_path: Path) -> None:
    fixed = Fixed()
    tracks = Tracks(
        room.session,
        solver=fixed,
        read_track_file=lambda p, now: TrackFile(str(p), [], {}),
        read_calendar=lambda p, lo, hi: [],
        write_calendars=lambda folder, meetings, people, now: [folder / m.id for m in meetings],
    )
    solved = tracks.schedule(horizon=Horizon(days=30), record=False, calendars=tmp_path)
    assert isinstance(solved, Schedule) and fixed.calls == 1
    assert solved.status == "feasible" and not solved.recorded
    assert len(solved.calendars) == 5
    assert solved.meetings[0].start is not None


def test_ortools_is_loaded_only_when_a_schedule_is_solved(room: Room) -> None:
    code = (
        "import sys, sitroom, sitroom.adapters.cpsat\n"
        f"room = sitroom.open({str(room.path)!r})\n"
        "room.tracks.list(); room.tracks.check()\n"
        "assert 'ortools' not in sys.modules, 'ortools loaded to list tracks'\n"
        "room.tracks.schedule(record=False)\n"
        "assert 'ortools' in sys.modules\n"
        "room.close()\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


PASS = "correct horse battery"  # alice's and dana's: proof of who acts


def _users(room: Room) -> None:
    def user(name: str, role: str) -> Record:
        return USER.record({"name": name, "role": role, "by": None}, id=f"user:{name}", source="t")

    def grant(name: str, compartment: str) -> Record:
        return USER_GRANT.record(
            {"principal": name, "compartment": compartment, "by": "alice"},
            id=f"grant:{name}:{compartment}",
            source="t",
            compartment=compartment,
        )

    for name in ("alice", "dana"):
        room.keys.init(name, passphrase=PASS)
    room.session.append(
        [
            user("alice", "admin"),
            user("dana", "analyst"),
            *(grant("alice", t) for t in ("ceasefire", "us-iran", "sanctions")),
            grant("dana", "sanctions"),
        ]
    )


def test_a_user_sees_the_tracks_they_are_cleared_for_and_records_no_partial_schedule(
    room: Room,
) -> None:
    _users(room)
    path = room.path
    with sitroom.open(path, user="dana", proof=PASS, clock=ManualClock(NOW)) as dana:
        assert [t.id for t in dana.tracks.list().tracks] == ["sanctions"]
        with pytest.raises(NotFound) as e:
            dana.tracks.set_status("us-iran", "agreed")
        assert e.value.known == ("sanctions",)  # the others are not even named
        solved = dana.tracks.schedule(options=Options(time_limit=5))
        assert [m.id for m in solved.meetings] == ["sanctions-1"]
        assert not solved.recorded and solved.note is not None
        assert "4 meeting records" in solved.note
    with sitroom.open(path, user="alice", proof=PASS, clock=ManualClock(NOW)) as alice:
        assert alice.tracks.schedule(options=Options(time_limit=5)).recorded
