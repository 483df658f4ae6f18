"""Scheduling: slot masks in local time, schedules that keep every hard constraint (checked here
by brute force, independently of the solver), infeasibility explained by the constraints that
conflict, re-solves that keep what they can, and knock-on through preconditions and people."""

from __future__ import annotations

import dataclasses
import random
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sitroom.adapters.cpsat import CpSatSolver
from sitroom.adapters.trackfile import parse_track_file
from sitroom.domain.calendars import SlotGrid, fits, intervals, working_mask
from sitroom.domain.knockon import knock_on
from sitroom.domain.records import RecordBatch
from sitroom.domain.schedule import (
    Options,
    Problem,
    build_problem,
    clashes,
    cost,
    earliest_starts,
    greedy,
    lower_bound,
)
from sitroom.domain.timeutil import iso, parse_time
from sitroom.domain.tracks import TracksProjection
from sitroom.domain.week import WorkingWeek
from sitroom.errors import UserInputError

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "tracks" / "geneva-schedule.yaml"
NOW = parse_time("2026-11-25", now_ms=0)
SOLVER = CpSatSolver()  # through the Solver port, as the room uses it
solve = SOLVER.solve
track_bound = SOLVER.bound


def view(text: str) -> dict[str, Any]:
    p = TracksProjection()
    batch = RecordBatch.from_records(parse_track_file("t.yaml", text, now_ms=NOW).records)
    state: dict[str, Any] = p.apply(p.initial(), batch)
    return state


def problem(text: str, **kw: Any) -> Problem:
    return build_problem(view(text), start_ms=None, days=None, **kw)


def violations(p: Problem, starts: dict[str, int], attending: dict[str, list[str]]) -> list[str]:
    """Every hard constraint a schedule breaks, found by brute force."""
    bad = []
    for mid, s in starts.items():
        m = p.meetings[mid]
        span = range(s, s + m.duration)
        if not p.window[mid][s]:
            bad.append(f"{mid} outside its window")
        for rid in attending[mid]:
            hours = p.hours_for(rid, mid)
            if hours is not None and not hours[span.start : span.stop].all():
                bad.append(f"{mid}: {rid} outside working hours")
    for rid, r in p.resources.items():
        use = np.zeros(p.grid.n, dtype=int)
        mine = [mid for mid in starts if rid in attending[mid]]
        for mid in mine:
            use[starts[mid] : starts[mid] + p.meetings[mid].duration] += 1
        if use.max(initial=0) > r.capacity:
            bad.append(f"{rid} over capacity")
        for a in mine:
            for b in mine:
                gap = p.travel(a, b)
                if a < b and gap:
                    ea, eb = starts[a] + p.meetings[a].duration, starts[b] + p.meetings[b].duration
                    if not (ea + gap <= starts[b] or eb + gap <= starts[a]):
                        bad.append(f"{rid} cannot travel between {a} and {b}")
    for pr in p.precedence:
        if starts[pr.before] + p.meetings[pr.before].duration > starts[pr.after]:
            bad.append(f"{pr.after} before {pr.before}")
    return bad


def test_working_hours_follow_the_local_clock_across_daylight_saving() -> None:
    """09:00 in Zurich is 08:00 UTC in winter and 07:00 UTC in summer; Tehran works Sat-Wed."""
    grid = SlotGrid(parse_time("2026-03-27", now_ms=0), 60, 24 * 4)  # Fri 27 - Mon 30 March
    hours = WorkingWeek.of("09:00-18:00", None, "Europe/Zurich")
    assert hours is not None
    mask = working_mask(grid, hours)
    friday = [iso(grid.at(a))[11:16] for a, _ in intervals(mask)]
    assert intervals(mask) == [(8, 16), (24 * 3 + 7, 24 * 3 + 15)]  # Fri in winter, Mon in summer
    assert friday == ["08:00", "07:00"]
    tehran = WorkingWeek.of("08:00-17:00", "Sat-Wed", "Asia/Tehran")
    assert tehran is not None and tehran.days == {0, 1, 2, 5, 6}  # Monday is 0
    days = {iso(grid.at(a))[:10] for a, _ in intervals(working_mask(grid, tehran))}
    assert days == {"2026-03-28", "2026-03-29", "2026-03-30"}


@given(st.lists(st.booleans(), min_size=1, max_size=60), st.integers(1, 8))
def test_fits_allows_exactly_the_starts_with_every_covered_slot_free(
    free: list[bool], duration: int
) -> None:
    got = fits(np.array(free, dtype=bool), duration)
    want = [i + duration <= len(free) and all(free[i : i + duration]) for i in range(len(free))]
    assert got.tolist() == want


def test_solved_schedule_keeps_every_hard_constraint_and_greedy_does_too() -> None:
    p = problem(FIXTURE.read_text())
    s = solve(p, Options(time_limit=10, gap=0.0))
    assert s.status == "optimal" and set(s.starts) == set(p.meetings)
    assert violations(p, s.starts, s.attending) == []
    g = greedy(p)
    assert set(g) == set(p.meetings)
    assert violations(p, g, {m: list(p.meetings[m].required) for m in g}) == []
    # The optional NSC team joins round 2 only because it is free then.
    assert "nsc-me" in s.attending["us-iran-2"]
    # The envoy flies Beirut -> Geneva between the ceasefire rounds and US–Iran round 1.
    gap = p.travel("ceasefire-2", "us-iran-1")
    assert gap >= 10  # about five and a half hours in 30-minute slots
    assert (
        s.starts["us-iran-1"] >= s.starts["ceasefire-2"] + p.meetings["ceasefire-2"].duration + gap
    )


INFEASIBLE = """
tracks:
  - {id: ceasefire, name: the ceasefire negotiation, venue: Beirut}
  - {id: us-iran, name: US–Iran talks, venue: Geneva}
  - {id: other, name: a quiet track, venue: Vienna}
resources:
  - {id: envoy, name: Special Envoy W., type: person, timezone: Europe/Zurich,
     hours: "05:00-23:00"}
  - {id: aide, name: an aide, type: person}
meetings:
  - {id: beirut, track: ceasefire, title: Ceasefire round, duration: 3h, required: [envoy],
     from: "2026-12-08T06:00:00Z", until: "2026-12-08T17:00:00Z"}
  - {id: geneva, track: us-iran, title: US–Iran round, duration: 3h, required: [envoy],
     from: "2026-12-08T06:00:00Z", until: "2026-12-08T17:00:00Z"}
  - {id: vienna, track: other, title: Quiet round, duration: 1h, required: [aide],
     from: "2026-12-08T06:00:00Z", until: "2026-12-08T17:00:00Z"}
"""


def test_infeasible_problem_is_explained_by_the_constraints_that_conflict() -> None:
    """Two 3-hour rounds, Beirut and Geneva, on one day for one envoy: 12 hours of window, but
    11 hours of window for 6 hours of meetings and almost 6 hours of flying. The windows and
    the travel conflict; the envoy's working hours, the quiet track and the aide play no part."""
    p = problem(INFEASIBLE)
    s = solve(p, Options(time_limit=10))
    assert s.status == "infeasible" and s.starts == {}
    labels = {c.label for c in s.conflict}
    assert labels == {"travel:envoy", "window:beirut", "window:geneva", "horizon"}
    words = [c.sentence for c in s.conflict]
    assert "Special Envoy W. needs time to travel between venues (Beirut to Geneva: 6.5h)" in words
    assert "Ceasefire round (3h) must fall between 2026-12-08 06:00 and 2026-12-08 17:00" in words
    # Minimal: without any one of the three, a schedule exists.
    for dropped in s.conflict[:-1]:  # the horizon comes last, and is not a constraint
        looser = problem(INFEASIBLE)
        kind, _, what = dropped.label.partition(":")
        if kind == "window":
            looser.window[what] = fits(np.ones(looser.grid.n, dtype=bool), 6)
        else:
            looser.meetings = {
                mid: dataclasses.replace(m, place=None) for mid, m in looser.meetings.items()
            }
        assert solve(looser, Options(time_limit=10)).status == "optimal", dropped.label


def test_resolve_keeps_unaffected_meetings_where_they_were() -> None:
    text = FIXTURE.read_text()
    p = problem(text)
    first = solve(p, Options(time_limit=10, gap=0.0))
    # A new, urgent meeting for the envoy and the mediator lands where ceasefire round 1 was.
    changed = text + (
        "  - {id: urgent, track: ceasefire, title: Urgent call, duration: 3h, "
        "required: [envoy, mediator], from: 2026-12-07T07:00:00Z, until: 2026-12-07T10:00:00Z}\n"
    )
    p2 = problem(changed)
    again = solve(p2, Options(time_limit=10, gap=0.0), previous=first.starts)
    assert again.starts["urgent"] == first.starts["ceasefire-1"]
    assert violations(p2, again.starts, again.attending) == []
    # Ceasefire round 1 had to move; whatever else moved did so only because of it, and the
    # sanctions review, which shares no one, stayed put.
    assert "ceasefire-1" in again.moved and "sanctions-1" not in again.moved
    unmoved = set(first.starts) - set(again.moved)
    assert all(again.starts[m] == first.starts[m] for m in unmoved)


def test_three_day_slip_moves_exactly_what_depends_on_it() -> None:
    p = problem(FIXTURE.read_text())
    base = solve(p, Options(time_limit=10, gap=0.0)).starts
    slipped = {"ceasefire-1", "ceasefire-2"}
    three_days = 3 * 48
    after = solve(
        p,
        Options(time_limit=10, gap=0.0),
        previous={m: s for m, s in base.items() if m not in slipped},
        not_before={m: base[m] + three_days for m in slipped},
    )
    moves = knock_on(p, base, after.starts, slipped, "+3d slip")
    assert {mv.meeting for mv in moves} == {"ceasefire-1", "ceasefire-2", "us-iran-1", "us-iran-2"}
    why = {mv.meeting: (mv.cause, mv.because) for mv in moves}
    assert why["us-iran-1"][0] == "ceasefire-2"
    assert (
        "must wait for the Israel–Hezbollah ceasefire negotiation to reach 'agreed'"
        in (why["us-iran-1"][1])
    )
    assert why["us-iran-2"] == ("us-iran-1", "must follow US–Iran round 1, which moved")
    assert after.starts["sanctions-1"] == base["sanctions-1"]
    for mv in moves:
        assert mv.new >= mv.old + (three_days if mv.meeting in slipped else 1)


SHARED = """
tracks:
  - {id: a, name: Track A, venue: Geneva}
  - {id: b, name: Track B, venue: Geneva}
  - {id: c, name: Track C, venue: Geneva}
resources:
  - {id: envoy, name: the envoy, type: person}
  - {id: x, name: X, type: person}
meetings:
  - {id: a1, track: a, duration: 2h, required: [envoy], from: 2026-12-07,
     until: "2026-12-10T02:00:00Z"}
  - {id: b1, track: b, duration: 2h, required: [envoy], from: 2026-12-10, until: 2026-12-12}
  - {id: c1, track: c, duration: 2h, required: [x], from: 2026-12-10, until: 2026-12-12}
"""


def test_a_slip_moves_a_meeting_that_shares_a_person_with_its_new_time() -> None:
    """A's meeting slips three days onto B's slot, at the very end of its window: B's meeting
    moves for the envoy, C's does not."""
    p = problem(SHARED)
    base = solve(p, Options(time_limit=10, gap=0.0)).starts
    assert base["a1"] == 0 and base["b1"] == 3 * 48
    after = solve(
        p,
        Options(time_limit=10, gap=0.0),
        previous={"b1": base["b1"], "c1": base["c1"]},
        not_before={"a1": base["a1"] + 3 * 48},
    )
    moves = {mv.meeting: mv for mv in knock_on(p, base, after.starts, {"a1"}, "+3d slip")}
    assert set(moves) == {"a1", "b1"}
    assert moves["b1"].cause == "a1" and "the envoy is needed by a1" in moves["b1"].because


def small_state(seed: int) -> dict[str, Any]:
    """A small random instance in the benchmark's image: people in two time zones, venues in
    three cities with travel between them, windows, rounds that follow rounds, a precondition
    between tracks, optional attendees and soft preferences."""
    rng = random.Random(seed)
    start = parse_time("2027-01-04", now_ms=0)  # a Monday
    day = 24 * 3600 * 1000
    cities = {"Geneva": (46.2044, 6.1432), "Doha": (25.2854, 51.5310), "Oslo": (59.9139, 10.7522)}
    zones = [("Europe/Zurich", "08:00-18:00", "Mon-Fri"), ("Asia/Riyadh", "08:00-17:00", "Sun-Thu")]
    resources: dict[str, Any] = {}
    for i in range(7):
        zone, hours, days = zones[i % 2]
        resources[f"p{i}"] = {
            "id": f"p{i}", "name": f"Person {i}", "type": "person", "capacity": 1,
            "timezone": zone, "hours": hours, "days": days,
        }  # fmt: skip
    for city, (lat, lon) in cities.items():
        resources[city] = {
            "id": city, "name": city, "type": "venue", "capacity": rng.choice((1, 2)),
            "location": {"name": city, "lat": lat, "lon": lon},
        }  # fmt: skip
    tracks: dict[str, Any] = {}
    meetings: dict[str, Any] = {}
    for t in range(3):
        city = list(cities)[t]
        tracks[f"t{t}"] = {
            "id": f"t{t}", "name": f"Track {t}", "parties": [], "needs": [],
            "venue": {"name": city, "lat": cities[city][0], "lon": cities[city][1]},
            "status": "negotiating", "priority": rng.randint(1, 5),
            "preconditions": [{"track": "t0", "status": "agreed"}] if t == 2 else [],
        }  # fmt: skip
        team = rng.sample([f"p{i}" for i in range(1, 7)], 4)
        for k in range(rng.randint(2, 4)):
            lo = start + (rng.randrange(0, 2) * day if rng.random() < 0.3 else 0)
            meetings[f"t{t}-m{k}"] = {
                "id": f"t{t}-m{k}", "track": f"t{t}", "title": f"Track {t} round {k + 1}",
                "duration": rng.choice((60, 90, 120)),
                "required": rng.sample(team, 2) + (["p0"] if rng.random() < 0.4 else []),
                "optional": rng.sample(team, 1),
                "venue": city if rng.random() < 0.6 else None,
                "window": [lo, start + 4 * day],
                "after": [f"t{t}-m{k - 1}"] if k and rng.random() < 0.5 else [],
                "prefer": [{"kind": "before", "at": start + day, "weight": 2}]
                if rng.random() < 0.3
                else [],
            }  # fmt: skip
    return {
        "tracks": tracks,
        "resources": resources,
        "status": {t: {"status": "negotiating", "since": 0} for t in tracks},
        "meetings": meetings,
        "busy": {},
    }


@pytest.mark.parametrize("seed", range(8))
def test_bounds_never_exceed_the_optimum_and_the_search_finds_it(seed: int) -> None:
    """On small instances solved to optimality by one CP-SAT solve of the whole model: no
    meeting starts before its earliest start, neither the per-meeting bound nor the tracks'
    bound exceeds the optimum, the objective is what `cost` counts, and the search by tracks
    reaches the same optimum with a schedule that keeps every hard constraint."""
    p = build_problem(small_state(seed), start_ms=parse_time("2027-01-04", now_ms=0), days=4)
    whole = solve(p, Options(time_limit=20, gap=0.0, decompose=False))
    assert whole.status == "optimal" and whole.objective is not None
    est = earliest_starts(p)
    assert est is not None and all(whole.starts[m] >= est[m] for m in p.meetings)
    assert cost(p, whole.starts, whole.attending) == whole.objective
    assert lower_bound(p, est) <= whole.objective
    bound = track_bound(p, Options(time_limit=20))
    assert bound is not None and lower_bound(p, est) <= bound <= whole.objective
    ours = solve(p, Options(time_limit=20, gap=0.0))
    assert ours.status == "optimal" and ours.objective == whole.objective
    assert ours.bound is not None and ours.bound <= whole.objective
    assert violations(p, ours.starts, ours.attending) == []
    assert clashes(p, ours.starts, ours.attending, p.meetings) == []
    assert cost(p, ours.starts, ours.attending) == ours.objective


def test_clashes_finds_what_the_brute_force_finds() -> None:
    p = build_problem(small_state(3), start_ms=parse_time("2027-01-04", now_ms=0), days=4)
    s = solve(p, Options(time_limit=20, gap=0.0))
    assert clashes(p, s.starts, s.attending, p.meetings) == []
    for a in p.meetings:  # every meeting moved onto every other's start, one at a time
        for b in p.meetings:
            moved = {**s.starts, a: s.starts[b]}
            if p.starts(a)[moved[a]]:
                found = bool(clashes(p, moved, s.attending, [a]))
                assert found == bool(violations(p, moved, s.attending)), (a, b)


REMOTE = """
tracks: [{id: oman, name: Oman channel, venue: Muscat}]
resources:
  - {id: vp, name: the VP, type: person, timezone: America/New_York, hours: "08:00-20:00"}
  - {id: link, name: the secure video link, type: link}
meetings:
  - {id: call, track: oman, duration: 1h, required: [vp, link], remote: true,
     from: 2026-12-07, until: 2026-12-14}
  - {id: visit, track: oman, duration: 1h, required: [vp], from: 2026-12-07, until: 2026-12-14}
  - {id: dc, track: oman, duration: 1h, required: [vp], venue: Washington,
     from: 2026-12-07, until: 2026-12-14}
"""


def test_a_remote_meeting_has_no_venue_and_nobody_travels_for_it() -> None:
    """A meeting without a venue took its track's: the VP's video call flew him to Muscat."""
    p = problem(REMOTE)
    assert (p.meetings["call"].venue, p.meetings["call"].place) == (None, None)
    assert p.meetings["visit"].venue == "Muscat"  # no venue: the track's, as documented
    assert p.travel("call", "dc") == 0 and p.travel("visit", "dc") > 0
    solved = solve(p, Options(time_limit=10))
    assert set(solved.starts) == {"call", "visit", "dc"}
    assert violations(p, solved.starts, solved.attending) == []
    with pytest.raises(UserInputError, match="a remote meeting has no venue"):
        parse_track_file("t.yaml", REMOTE.replace("remote: true", "remote: true, venue: x"),
                         now_ms=NOW)  # fmt: skip


TRAVELLER = """
tracks: [{id: t, name: Geneva talks, venue: Geneva}]
resources:
  - {id: vp, name: the VP, type: person, timezone: America/New_York, hours: "09:00-17:00"}
  - {id: link, name: the video link, type: link}
meetings:
  - {id: talks, track: t, duration: 2h, required: [vp],
     from: "2026-12-08T07:00:00Z", until: "2026-12-08T13:00:00Z"}
  - {id: call, track: t, duration: 1h, required: [vp, link], remote: true,
     from: "2026-12-09T00:00:00Z", until: "2026-12-10T00:00:00Z"}
"""


def test_a_traveller_keeps_the_hours_of_where_the_meeting_is() -> None:
    """Hours followed the home zone only: a Washington principal could not meet in Geneva in
    Geneva's morning (his 02:00-08:00)."""
    p = problem(TRAVELLER)
    assert p.meetings["talks"].zone == "Europe/Zurich" and p.meetings["call"].zone is None
    s = solve(p, Options(time_limit=10))
    assert s.status in ("optimal", "feasible") and violations(p, s.starts, s.attending) == []
    talks = p.grid.at(s.starts["talks"])
    geneva = datetime.fromtimestamp(talks / 1000, ZoneInfo("Europe/Zurich"))
    washington = datetime.fromtimestamp(talks / 1000, ZoneInfo("America/New_York"))
    assert 9 <= geneva.hour < 17 and not 9 <= washington.hour < 17  # Geneva's day, not his
    call = datetime.fromtimestamp(p.grid.at(s.starts["call"]) / 1000, ZoneInfo("America/New_York"))
    assert 9 <= call.hour < 17  # a call from home keeps his own hours
