"""A scheduling problem built from the tracks view, and a quick greedy schedule for it.

The problem is what CP-SAT will solve (application.scheduler): meetings of a fixed number of
slots, the resources they need (people, teams, links, keys, venues, each with a capacity), when
each may start (its window, every required attendee's working hours and busy times), travel
between venues, and precedence: a meeting listed in another's ``after``, and every meeting of a
track whose precondition ("the ceasefire reaches 'agreed'") is not met comes after every meeting
of the track it waits on.

Every constraint has a label and a sentence, so that an infeasible problem is explained in words
and a knock-on says why each meeting moved.

The greedy schedule places meetings in precedence order, each at its earliest start where all
it needs is free. It is quick and usually far from optimal; the solver uses it as a hint.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sitroom.domain.calendars import (
    Mask,
    SlotGrid,
    WorkingHours,
    busy_mask,
    fits,
    travel_slots,
    working_hours,
    working_mask,
)
from sitroom.domain.geo import Point
from sitroom.domain.places import find_place
from sitroom.domain.timeutil import MS_PER_DAY, iso
from sitroom.errors import UserInputError

TRAVELLERS = ("person",)  # teams, links and venues do not fly between cities


@dataclass(frozen=True)
class Meeting:
    id: str
    track: str
    title: str
    duration: int  # slots
    required: tuple[str, ...]
    optional: tuple[str, ...]
    venue: str | None
    place: Point | None
    window: tuple[int | None, int | None]  # ms
    weight: int  # from the track's priority: an hour's delay of a priority-1 meeting costs most
    prefer: tuple[Preference, ...] = ()


@dataclass(frozen=True)
class Preference:
    kind: str  # "before" (end by) or "after" (start from)
    at: int  # slot
    weight: int
    text: str


@dataclass(frozen=True)
class Resource:
    id: str
    name: str
    type: str
    capacity: int
    hours: WorkingHours | None


@dataclass(frozen=True)
class Precedence:
    before: str
    after: str
    why: str
    group: str  # edges that stand or fall together: one 'after' entry, or one precondition
    precondition: bool = False  # from a track's precondition, not a meeting's 'after'


@dataclass
class Problem:
    grid: SlotGrid
    meetings: dict[str, Meeting]
    resources: dict[str, Resource]
    precedence: list[Precedence]
    window: dict[str, Mask]  # meeting -> start slots its window allows
    hours: dict[str, Mask]  # resource -> slots inside working hours
    busy: dict[str, Mask]  # resource -> slots taken by its calendar
    busy_text: dict[str, str] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)  # track id -> name

    def travel(self, a: str, b: str) -> int:
        ma, mb = self.meetings[a], self.meetings[b]
        if ma.venue == mb.venue:
            return 0
        return travel_slots(ma.place, mb.place, self.grid.slot_min)

    def venue_name(self, mid: str) -> str:
        venue = self.meetings[mid].venue
        return self.resources[venue].name if venue in self.resources else venue or "no venue"

    def starts(self, mid: str, resources: tuple[str, ...] | None = None) -> Mask:
        """Start slots allowed by the window and by the working hours and calendars of the
        meeting's required attendees (or of the given ones)."""
        m = self.meetings[mid]
        ok = self.window[mid].copy()
        for rid in m.required if resources is None else resources:
            ok &= self.free_starts(rid, m.duration)
        return ok

    def free_starts(self, rid: str, duration: int) -> Mask:
        free = ~self.busy[rid] if rid in self.busy else np.ones(self.grid.n, dtype=bool)
        if rid in self.hours:
            free = free & self.hours[rid]
        return fits(free, duration)

    def sentence_hours(self, rid: str) -> str:
        r = self.resources[rid]
        assert r.hours is not None
        return f"{r.name} works {r.hours.describe()}"


def build_problem(
    state: Mapping[str, Any], *, start_ms: int | None, days: int | None, slot_min: int = 30
) -> Problem:
    meetings_in = state.get("meetings", {})
    if not meetings_in:
        raise UserInputError("no meetings to schedule: add some with `sitroom tracks add FILE`")
    tracks = state["tracks"]
    resources = {rid: _resource(r) for rid, r in state["resources"].items()}
    grid = _grid(meetings_in.values(), start_ms, days, slot_min)
    meetings: dict[str, Meeting] = {}
    for mid, m in sorted(meetings_in.items()):
        track = tracks.get(m["track"])
        if track is None:
            raise UserInputError(f"meeting {mid!r} belongs to unknown track {m['track']!r}")
        for rid in [*m["required"], *m["optional"]]:
            if rid not in resources:
                raise UserInputError(f"meeting {mid!r} needs unknown resource {rid!r}")
        meetings[mid] = _meeting(m, track, resources, state["resources"], grid)
    precedence = _precedence(meetings_in, meetings, tracks, state["status"])
    busy: dict[str, list[tuple[int, int]]] = {}
    busy_text: dict[str, list[str]] = {}
    for b in state.get("busy", {}).values():
        busy.setdefault(b["resource"], []).extend((s, e) for s, e, _ in b["busy"])
        busy_text.setdefault(b["resource"], []).append(b["calendar"])
    return Problem(
        grid=grid,
        meetings=meetings,
        resources=resources,
        precedence=precedence,
        window={mid: fits(grid.window(*m.window), m.duration) for mid, m in meetings.items()},
        hours=_hours_masks(grid, resources),
        busy={rid: busy_mask(grid, spans) for rid, spans in busy.items()},
        busy_text={rid: ", ".join(sorted(set(c))) for rid, c in busy_text.items()},
        names={tid: t["name"] for tid, t in tracks.items()},
    )


def _grid(meetings: Any, start_ms: int | None, days: int | None, slot_min: int) -> SlotGrid:
    if slot_min < 5 or 24 * 60 % slot_min:
        raise UserInputError("the slot must be at least 5 minutes and divide a day evenly")
    starts = [m["window"][0] for m in meetings if m["window"][0] is not None]
    ends = [m["window"][1] for m in meetings if m["window"][1] is not None]
    if start_ms is None:
        if not starts:
            raise UserInputError("meetings have no windows: give the horizon with --from")
        start_ms = min(starts)
    start_ms -= start_ms % (slot_min * 60_000)
    if days is None:
        last = max(ends, default=start_ms + 14 * MS_PER_DAY)
        days = max(1, -(-(last - start_ms) // MS_PER_DAY))
    if days < 1:
        raise UserInputError("the horizon must be at least one day")
    return SlotGrid(start_ms, slot_min, days * 24 * 60 // slot_min)


def _resource(r: Mapping[str, Any]) -> Resource:
    return Resource(
        id=r["id"],
        name=r["name"],
        type=r["type"],
        capacity=int(r["capacity"]),
        hours=working_hours(r.get("hours"), r.get("days"), r.get("timezone")),
    )


def _hours_masks(grid: SlotGrid, resources: Mapping[str, Resource]) -> dict[str, Mask]:
    cache: dict[WorkingHours, Mask] = {}
    out = {}
    for rid, r in resources.items():
        if r.hours is not None:
            if r.hours not in cache:
                cache[r.hours] = working_mask(grid, r.hours)
            out[rid] = cache[r.hours]
    return out


def _meeting(
    m: Mapping[str, Any],
    track: Mapping[str, Any],
    resources: Mapping[str, Resource],
    raw: Mapping[str, Any],
    grid: SlotGrid,
) -> Meeting:
    venue: str | None = m.get("venue")
    loc: Mapping[str, Any] | None = None
    if venue is not None and venue in raw:
        loc = raw[venue].get("location")
    elif venue:
        found = find_place(venue)
        loc = {"lat": found.lat, "lon": found.lon} if found else None
    else:  # the track's own venue
        loc = track.get("venue")
        venue = loc["name"] if loc else None
    place = Point(loc["lat"], loc["lon"]) if loc and "lat" in loc else None
    required = list(m["required"])
    if venue in resources and venue not in required:
        required.append(venue)  # a venue resource is booked like anyone else
    return Meeting(
        id=m["id"],
        track=m["track"],
        title=m.get("title") or m["id"],
        duration=grid.slots(int(m["duration"])),
        required=tuple(required),
        optional=tuple(m["optional"]),
        venue=venue,
        place=place,
        window=(m["window"][0], m["window"][1]),
        weight=max(1, 6 - int(track.get("priority", 3))),
        prefer=tuple(
            Preference(
                p["kind"],
                grid.slot_of(p["at"]),
                int(p["weight"]),
                f"{m.get('title') or m['id']} preferably {p['kind']} {iso(p['at'])}",
            )
            for p in m.get("prefer") or []
        ),
    )


def _precedence(
    raw: Mapping[str, Any],
    meetings: Mapping[str, Meeting],
    tracks: Mapping[str, Any],
    status: Mapping[str, Any],
) -> list[Precedence]:
    out = []
    by_track: dict[str, list[str]] = {}
    for mid, m in meetings.items():
        by_track.setdefault(m.track, []).append(mid)
    for mid, m in sorted(raw.items()):
        for before in m.get("after") or []:
            if before not in meetings:
                raise UserInputError(f"meeting {mid!r} comes after unknown meeting {before!r}")
            out.append(
                Precedence(
                    before,
                    mid,
                    f"{meetings[mid].title} comes after {meetings[before].title}",
                    f"{before}>{mid}",
                )
            )
    for tid, t in sorted(tracks.items()):
        for pre in t.get("preconditions") or []:
            other = pre["track"]
            now = status.get(other, {}).get("status")
            if now == pre["status"]:
                continue
            name = tracks.get(other, {}).get("name", other)
            why = f"{t['name']} must wait for {name} to reach '{pre['status']}' (now '{now}')"
            for a in sorted(by_track.get(other, [])):
                for b in sorted(by_track.get(tid, [])):
                    out.append(Precedence(a, b, why, f"{tid}>{other}", precondition=True))
    return out


def greedy(problem: Problem) -> dict[str, int]:
    """Each meeting, in precedence order, at its earliest start where its window, its required
    attendees' hours, calendars, capacity and travel allow. Meetings it cannot place are left
    out (the solver places them, or proves it cannot)."""
    n = problem.grid.n
    used = {rid: np.zeros(n, dtype=np.int32) for rid in problem.resources}
    placed: dict[str, int] = {}
    trips: dict[str, list[str]] = {}  # person -> meetings placed
    preds: dict[str, list[str]] = {mid: [] for mid in problem.meetings}
    succs: dict[str, list[str]] = {mid: [] for mid in problem.meetings}
    for p in problem.precedence:
        preds[p.after].append(p.before)
        succs[p.before].append(p.after)
    pending = {mid: len(v) for mid, v in preds.items()}
    ready = [(_order(problem.meetings[m]), m) for m, k in pending.items() if k == 0]
    heapq.heapify(ready)
    while ready:
        _, mid = heapq.heappop(ready)
        m = problem.meetings[mid]
        if all(p in placed for p in preds[mid]):
            earliest = max(
                (placed[p] + problem.meetings[p].duration for p in preds[mid]), default=0
            )
            ok = problem.starts(mid)
            ok[:earliest] = False
            for rid in m.required:
                ok &= _room(problem, used, trips, placed, mid, rid)
            hits = np.flatnonzero(ok)
            if len(hits):
                start = int(hits[0])
                placed[mid] = start
                for rid in m.required:
                    used[rid][start : start + m.duration] += 1
                    if problem.resources[rid].type in TRAVELLERS:
                        trips.setdefault(rid, []).append(mid)
        for nxt in succs[mid]:
            pending[nxt] -= 1
            if pending[nxt] == 0:
                heapq.heappush(ready, (_order(problem.meetings[nxt]), nxt))
    return placed


def _order(m: Meeting) -> tuple[int, int, str]:
    return (-m.weight, m.window[0] or 0, m.id)


def _room(
    problem: Problem,
    used: Mapping[str, Any],
    trips: Mapping[str, list[str]],
    placed: Mapping[str, int],
    mid: str,
    rid: str,
) -> Mask:
    """Starts at which ``rid`` has room for the meeting: capacity left, and time to travel from
    and to its other meetings."""
    m = problem.meetings[mid]
    ok = fits(used[rid] < problem.resources[rid].capacity, m.duration)
    for other in trips.get(rid, []):
        gap = problem.travel(mid, other)
        if gap:
            s2 = placed[other]
            e2 = s2 + problem.meetings[other].duration
            ok[max(0, s2 - m.duration - gap + 1) : e2 + gap] = False
    return ok
