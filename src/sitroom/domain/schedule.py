"""A scheduling problem built from the tracks view, what a solver answers, and a quick greedy
schedule.

The problem is what a solver (the CP-SAT adapter, ``adapters/cpsat``, behind the application's
``Solver`` port) solves: meetings of a fixed number of slots, the resources they need (people,
teams, links, keys, venues, each with a capacity), when each may start (its window, every
required attendee's working week and busy times), travel between venues, and precedence: a
meeting listed in another's ``after``, and every meeting of a track whose precondition ("the
ceasefire reaches 'agreed'") is not met comes after every meeting of the track it waits on.
Its answer is a :class:`Solution` (a schedule, or the :class:`Conflict` that rules one out),
found within :class:`Options`.

Every constraint has a label and a sentence, so that an infeasible problem is explained in words
and a knock-on says why each meeting moved.

The greedy schedule places meetings in precedence order, each at its earliest start where all
it needs is free. It is quick and usually far from optimal; the solver uses it as a hint. It is
one list schedule (any order of the meetings gives one); the solver also builds one in the order
of a better schedule, leaves optional attendees to ``attendance``, counts what a schedule costs
with ``cost`` and checks it with ``clashes``. For bounds: ``earliest_starts`` (no schedule starts
a meeting sooner), ``lower_bound`` (every meeting at its cheapest start from there, alone), and
``part``, the problem of placing some meetings only — a relaxation of the whole, or, with the
other meetings pinned where a schedule has them, a neighbourhood to re-optimise.
"""

from __future__ import annotations

import dataclasses
import functools
import heapq
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from sitroom.domain.calendars import Mask, SlotGrid, busy_mask, fits, travel_slots, working_mask
from sitroom.domain.geo import Point
from sitroom.domain.places import find_place, place_zone
from sitroom.domain.timeutil import MS_PER_DAY, iso
from sitroom.domain.week import WorkingWeek
from sitroom.errors import UserInputError

TRAVELLERS = ("person",)  # teams, links and venues do not fly between cities

_travel_slots = functools.lru_cache(maxsize=4096)(travel_slots)


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
    zone: str | None = None  # where it is held: its people keep their hours in this zone


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
    hours: WorkingWeek | None


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
    _local: dict[tuple[str, str], Mask] = field(default_factory=dict, repr=False, compare=False)

    def travel(self, a: str, b: str) -> int:
        ma, mb = self.meetings[a], self.meetings[b]
        if ma.venue == mb.venue:
            return 0
        return _travel_slots(ma.place, mb.place, self.grid.slot_min)

    def venue_name(self, mid: str) -> str:
        venue = self.meetings[mid].venue
        return self.resources[venue].name if venue in self.resources else venue or "no venue"

    def starts(self, mid: str, resources: tuple[str, ...] | None = None) -> Mask:
        """Start slots allowed by the window and by the working hours and calendars of the
        meeting's required attendees (or of the given ones)."""
        m = self.meetings[mid]
        ok = self.window[mid].copy()
        for rid in m.required if resources is None else resources:
            ok &= self.free_starts(rid, m.duration, mid)
        return ok

    def hours_for(self, rid: str, mid: str | None = None) -> Mask | None:
        """The slots ``rid`` works, for meeting ``mid``: a person who travels to it keeps their
        hours in the zone where it is held (a Washington principal in Geneva works Geneva's
        day), everyone else in their own."""
        r = self.resources[rid]
        if r.hours is None:
            return None
        zone = self.meetings[mid].zone if mid is not None else None
        if zone is None or r.type not in TRAVELLERS or zone == r.hours.timezone:
            return self.hours[rid]
        key = (rid, zone)
        if key not in self._local:
            self._local[key] = working_mask(self.grid, replace(r.hours, timezone=zone))
        return self._local[key]

    def free_starts(self, rid: str, duration: int, mid: str | None = None) -> Mask:
        free = ~self.busy[rid] if rid in self.busy else np.ones(self.grid.n, dtype=bool)
        hours = self.hours_for(rid, mid)
        if hours is not None:
            free = free & hours
        return fits(free, duration)

    def sentence_hours(self, rid: str) -> str:
        r = self.resources[rid]
        assert r.hours is not None
        return f"{r.name} works {r.hours.describe()}"


@dataclass(frozen=True)
class Conflict:
    """A group of constraints that stand or fall together: its label and, in words, what it
    asks."""

    label: str
    sentence: str


@dataclass
class Solution:
    """What a solver found: a schedule (``starts``, ``attending``) with its objective and the
    best bound proven, or — when none exists — the smallest conflict found."""

    status: str  # "optimal", "feasible", "infeasible" or "unknown" (no schedule found in time)
    starts: dict[str, int] = field(default_factory=dict)  # meeting -> start slot
    attending: dict[str, list[str]] = field(default_factory=dict)  # meeting -> its attendees
    objective: float | None = None
    bound: float | None = None
    moved: list[str] = field(default_factory=list)
    conflict: list[Conflict] = field(default_factory=list)
    seconds: float = 0.0
    first_seconds: float | None = None  # when the first schedule was found
    progress: list[tuple[float, float, float]] = field(default_factory=list)  # (s, obj, bound)

    @property
    def gap(self) -> float | None:
        if self.objective is None or self.bound is None:
            return None
        return abs(self.objective - self.bound) / max(1.0, abs(self.objective))


MAX_TIME_LIMIT_S = 86_400.0
# A year of slots is a model the solver still builds; a thirty-digit number of days is an array
# no machine holds.
MAX_HORIZON_DAYS = 366


@dataclass(frozen=True)
class Options:
    """How long and how hard a solver searches."""

    time_limit: float = 30.0  # seconds
    gap: float = 0.01  # stop when within this fraction of the best bound
    workers: int = 2
    hint: bool = True  # off: the whole model handed to the solver plainly (a baseline)
    seed: int = 7
    decompose: bool = True  # bound by tracks, list schedules, local search

    def __post_init__(self) -> None:
        # Written so that NaN fails too: the solver turns an infinite or NaN limit into an int.
        if not (0 < self.time_limit <= MAX_TIME_LIMIT_S and 0 <= self.gap <= 1):
            raise UserInputError(
                f"a solve's time limit is more than 0 and at most {MAX_TIME_LIMIT_S:,.0f} "
                "seconds (a day), and its gap a fraction from 0 to 1"
            )
        if self.workers < 1:
            raise UserInputError("a solve needs at least one worker")


def may_stay(problem: Problem, mid: str, slot: int) -> bool:
    """Whether a meeting may still start at ``slot`` (where a previous schedule had it)."""
    return 0 <= slot < problem.grid.n and bool(problem.starts(mid)[slot])


def worst(problem: Problem) -> int:
    """More than any schedule of the problem costs, moves aside."""
    n = problem.grid.n
    day = 24 * 60 // problem.grid.slot_min
    return sum(
        m.weight * n
        + sum(pref.weight * n for pref in m.prefer)
        + day * sum(1 for o in dict.fromkeys(m.optional) if o not in m.required)
        for m in problem.meetings.values()
    )


def build_problem(
    state: Mapping[str, Any], *, start_ms: int | None, days: int | None, slot_min: int = 30
) -> Problem:
    meetings_in = state.get("meetings", {})
    if not meetings_in:
        raise UserInputError("no meetings to schedule: no track file added has any")
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
            raise UserInputError("the meetings have no windows: the horizon needs a start")
        start_ms = min(starts)
    start_ms -= start_ms % (slot_min * 60_000)
    if days is None:
        last = max(ends, default=start_ms + 14 * MS_PER_DAY)
        days = max(1, -(-(last - start_ms) // MS_PER_DAY))
    if not 1 <= days <= MAX_HORIZON_DAYS:
        raise UserInputError(f"the horizon is 1 to {MAX_HORIZON_DAYS} days, not {days:,}")
    return SlotGrid(start_ms, slot_min, days * 24 * 60 // slot_min)


def _resource(r: Mapping[str, Any]) -> Resource:
    return Resource(
        id=r["id"],
        name=r["name"],
        type=r["type"],
        capacity=int(r["capacity"]),
        hours=WorkingWeek.of(r.get("hours"), r.get("days"), r.get("timezone")),
    )


def _hours_masks(grid: SlotGrid, resources: Mapping[str, Resource]) -> dict[str, Mask]:
    cache: dict[WorkingWeek, Mask] = {}
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
    zone: str | None = None  # where it is held, for its travellers' hours
    if m.get("remote"):  # a call: nowhere to be, nothing to travel to
        venue = None
    elif venue is not None and venue in raw:
        loc = raw[venue].get("location")
        zone = raw[venue].get("timezone") or place_zone((loc or {}).get("name") or "")
    elif venue:
        found = find_place(venue)
        loc = {"lat": found.lat, "lon": found.lon} if found else None
        zone = place_zone(venue)
    else:  # the track's own venue
        loc = track.get("venue")
        venue = loc["name"] if loc else None
        zone = place_zone(venue or "")
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
        zone=zone,
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
    return list_schedule(problem, greedy_order(problem))


def greedy_order(problem: Problem) -> dict[str, tuple[int, ...]]:
    """Higher priority first, then the earlier window."""
    return {mid: (-m.weight, m.window[0] or 0) for mid, m in problem.meetings.items()}


def list_schedule(
    problem: Problem,
    priority: Mapping[str, tuple[int, ...]],
    *,
    keep: Mapping[str, int] | None = None,
    not_before: Mapping[str, int] | None = None,
) -> dict[str, int]:
    """Meetings one at a time, the next always the ready one (every predecessor placed) of
    lowest ``priority``, each at its earliest start (not before its ``not_before``) where its
    window, its required attendees' hours, calendars, capacity and travel allow — or where it
    was, in ``keep``, if that is still allowed. Optional attendees are left to
    :func:`attendance`. Meetings it cannot place are left out."""
    n = problem.grid.n
    used = {rid: np.zeros(n, dtype=np.int32) for rid in problem.resources}
    placed: dict[str, int] = {}
    trips: dict[str, list[str]] = {}  # person -> meetings placed
    preds, succs = _links(problem)
    pending = {mid: len(v) for mid, v in preds.items()}
    ready = [(priority[m], m) for m, k in pending.items() if k == 0]
    heapq.heapify(ready)
    while ready:
        _, mid = heapq.heappop(ready)
        m = problem.meetings[mid]
        if all(p in placed for p in preds[mid]):
            earliest = max(
                (placed[p] + problem.meetings[p].duration for p in preds[mid]),
                default=0,
            )
            earliest = max(earliest, (not_before or {}).get(mid, 0))
            ok = problem.starts(mid)
            ok[: max(0, earliest)] = False
            for rid in m.required:
                ok &= _room(problem, used, trips, placed, mid, rid)
            hits = np.flatnonzero(ok)
            if len(hits):
                was = (keep or {}).get(mid)
                start = was if was is not None and 0 <= was < n and ok[was] else int(hits[0])
                placed[mid] = start
                for rid in m.required:
                    used[rid][start : start + m.duration] += 1
                    if problem.resources[rid].type in TRAVELLERS:
                        trips.setdefault(rid, []).append(mid)
        for nxt in succs[mid]:
            pending[nxt] -= 1
            if pending[nxt] == 0:
                heapq.heappush(ready, (priority[nxt], nxt))
    return placed


def _links(problem: Problem) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    preds: dict[str, list[str]] = {mid: [] for mid in problem.meetings}
    succs: dict[str, list[str]] = {mid: [] for mid in problem.meetings}
    for p in problem.precedence:
        preds[p.after].append(p.before)
        succs[p.before].append(p.after)
    return preds, succs


def attendance(problem: Problem, starts: Mapping[str, int]) -> dict[str, list[str]]:
    """Who attends each placed meeting: its required attendees, and each optional attendee who
    is within working hours, free of calendar and other meetings (capacity), and has time to
    travel. Meetings of higher priority, then earlier ones, get their optional attendees first."""
    n = problem.grid.n
    attending = {mid: list(problem.meetings[mid].required) for mid in starts}
    used = {rid: np.zeros(n, dtype=np.int32) for rid in problem.resources}
    trips: dict[str, list[str]] = {}
    for mid, s in starts.items():
        m = problem.meetings[mid]
        for rid in m.required:
            used[rid][s : s + m.duration] += 1
            if problem.resources[rid].type in TRAVELLERS:
                trips.setdefault(rid, []).append(mid)
    for mid in sorted(starts, key=lambda k: (-problem.meetings[k].weight, starts[k], k)):
        m = problem.meetings[mid]
        s = starts[mid]
        for rid in dict.fromkeys(m.optional):
            if rid in m.required or not problem.free_starts(rid, m.duration, mid)[s]:
                continue
            if not _room(problem, used, trips, starts, mid, rid)[s]:
                continue
            attending[mid].append(rid)
            used[rid][s : s + m.duration] += 1
            if problem.resources[rid].type in TRAVELLERS:
                trips.setdefault(rid, []).append(mid)
    return attending


def costs(problem: Problem, mid: str, earliest: int = 0) -> np.ndarray[Any, np.dtype[np.int64]]:
    """What the schedule's objective charges meeting ``mid`` at each start slot, counting every
    optional attendee who could not be free then as absent; starts its window, hours and
    calendars rule out, or before ``earliest``, cost nothing here but are marked by -1."""
    m = problem.meetings[mid]
    n = problem.grid.n
    day = 24 * 60 // problem.grid.slot_min
    s = np.arange(n, dtype=np.int64)
    out = m.weight * s
    for pref in m.prefer:
        miss = s + m.duration - pref.at if pref.kind == "before" else pref.at - s
        out += pref.weight * np.maximum(miss, 0)
    for rid in dict.fromkeys(m.optional):
        if rid not in m.required:
            out += day * ~problem.free_starts(rid, m.duration, mid)
    ok = problem.starts(mid)
    ok[: max(0, earliest)] = False
    return np.where(ok, out, -1)


def cost(problem: Problem, starts: Mapping[str, int], attending: Mapping[str, list[str]]) -> int:
    """The schedule's objective (as the solver counts it, before any moves): start times
    weighted by priority, preferences missed by their weight, and a day's delay of a
    priority-5 meeting for every optional attendee absent."""
    day = 24 * 60 // problem.grid.slot_min
    total = 0
    for mid, s in starts.items():
        m = problem.meetings[mid]
        total += m.weight * s
        for pref in m.prefer:
            miss = s + m.duration - pref.at if pref.kind == "before" else pref.at - s
            total += pref.weight * max(0, miss)
        here = set(attending.get(mid, ()))
        total += day * sum(
            1 for r in dict.fromkeys(m.optional) if r not in m.required and r not in here
        )
    return total


def clashes(
    problem: Problem,
    starts: Mapping[str, int],
    attending: Mapping[str, list[str]],
    among: Collection[str],
) -> list[str]:
    """Every hard constraint that a schedule breaks and that involves one of the meetings
    ``among`` (where the rest of the schedule is known to keep them, this checks the whole):
    starts their window, hours and calendars rule out, precedence, capacity, and travel."""
    among = set(among)
    out = []
    users: dict[str, list[str]] = {}
    for mid, who in attending.items():
        for rid in dict.fromkeys(who):
            users.setdefault(rid, []).append(mid)
    for mid in sorted(among):
        m = problem.meetings[mid]
        s = starts[mid]
        if not problem.starts(mid)[s]:
            out.append(f"{mid} cannot start at {s}")
        for rid in attending[mid]:
            if rid not in m.required and not problem.free_starts(rid, m.duration, mid)[s]:
                out.append(f"{rid} is not free for {mid}")
    for p in problem.precedence:
        if (p.before in among or p.after in among) and (
            starts[p.before] + problem.meetings[p.before].duration > starts[p.after]
        ):
            out.append(f"{p.after} starts before {p.before} ends")
    touched = {rid for mid in among for rid in attending[mid]}
    for rid in sorted(touched):
        r = problem.resources[rid]
        mine = users.get(rid, [])
        use = np.zeros(problem.grid.n + 1, dtype=np.int32)
        for mid in mine:
            use[starts[mid]] += 1
            use[starts[mid] + problem.meetings[mid].duration] -= 1
        if np.cumsum(use).max(initial=0) > r.capacity:
            out.append(f"{rid} over capacity")
        if r.type not in TRAVELLERS:
            continue
        for a in mine:
            if a not in among:
                continue
            for b in mine:
                gap = problem.travel(a, b) if a != b else 0
                if gap and not (
                    starts[a] + problem.meetings[a].duration + gap <= starts[b]
                    or starts[b] + problem.meetings[b].duration + gap <= starts[a]
                ):
                    out.append(f"{rid} cannot travel between {a} and {b}")
    return out


def earliest_starts(
    problem: Problem, not_before: Mapping[str, int] | None = None
) -> dict[str, int] | None:
    """For each meeting the earliest start any schedule can give it: the first start its
    window, hours and calendars allow, at or after its ``not_before`` and after every
    predecessor's own earliest end. ``None`` when some meeting has none (or the precedence
    has a cycle): then no schedule exists."""
    preds, succs = _links(problem)
    pending = {mid: len(v) for mid, v in preds.items()}
    queue = [mid for mid, k in pending.items() if k == 0]
    out: dict[str, int] = {}
    while queue:
        mid = queue.pop()
        after = max(
            (out[p] + problem.meetings[p].duration for p in preds[mid]),
            default=0,
        )
        ok = problem.starts(mid)
        ok[: max(0, after, (not_before or {}).get(mid, 0))] = False
        hits = np.flatnonzero(ok)
        if not len(hits):
            return None
        out[mid] = int(hits[0])
        for nxt in succs[mid]:
            pending[nxt] -= 1
            if pending[nxt] == 0:
                queue.append(nxt)
    return out if len(out) == len(problem.meetings) else None


def lower_bound(problem: Problem, earliest: Mapping[str, int]) -> int:
    """A bound no schedule's objective can go below: every meeting at its cheapest start at or
    after its earliest one, as if no other meeting were there."""
    total = 0
    for mid in problem.meetings:
        c = costs(problem, mid, earliest[mid])
        total += int(c[c >= 0].min())
    return total


def part(
    problem: Problem,
    moving: Collection[str],
    *,
    earliest: Mapping[str, int],
    fixed: Mapping[str, int] | None = None,
    attending: Mapping[str, list[str]] | None = None,
) -> Problem:
    """The problem of placing only the ``moving`` meetings, none before its ``earliest`` start.
    Without ``fixed`` it is a relaxation of the whole (every other meeting left out), so its
    best objective bounds what the moving meetings cost in any schedule. With ``fixed`` (a
    schedule of the other meetings, with its ``attending``), the fixed meetings that share a
    resource with the moving ones are pinned where they are (attended as they are), and
    precedence with fixed meetings narrows the moving ones' windows: a neighbourhood to
    re-optimise, whose schedules are schedules of the whole."""
    moving = set(moving)
    n = problem.grid.n
    fixed = fixed or {}
    lo = {mid: earliest[mid] for mid in moving}
    hi = {mid: n for mid in moving}
    for p in problem.precedence:
        if p.after in moving and p.before in fixed and p.before not in moving:
            lo[p.after] = max(lo[p.after], fixed[p.before] + problem.meetings[p.before].duration)
        if p.before in moving and p.after in fixed and p.after not in moving:
            hi[p.before] = min(hi[p.before], fixed[p.after] - problem.meetings[p.before].duration)
    meetings: dict[str, Meeting] = {}
    window: dict[str, Mask] = {}
    for mid in sorted(moving):
        meetings[mid] = problem.meetings[mid]
        w = problem.window[mid].copy()
        w[: max(0, lo[mid])] = False
        w[max(0, hi[mid] + 1) :] = False
        window[mid] = w
    if fixed:
        used = {
            r
            for mid in moving
            for r in (*problem.meetings[mid].required, *problem.meetings[mid].optional)
        }
        who = attending or {}
        for mid, s in fixed.items():
            here = who.get(mid, list(problem.meetings[mid].required))
            if mid in moving or used.isdisjoint(here):
                continue
            meetings[mid] = dataclasses.replace(
                problem.meetings[mid], required=tuple(here), optional=(), prefer=()
            )
            w = np.zeros(n, dtype=bool)
            w[s] = True
            window[mid] = w
    return dataclasses.replace(
        problem,
        meetings=meetings,
        window=window,
        precedence=[p for p in problem.precedence if p.before in moving and p.after in moving],
    )


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
