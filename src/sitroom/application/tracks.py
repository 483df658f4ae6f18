"""Tracks as a room shows them: the tracks and what they wait on, track files in, status
changes, deadlocks and over-booked resources, solved schedules (recorded, and written out as
calendars), what slips with a slip, and busy times imported from calendars.

A solved schedule is a record like any other, so the next solve keeps what it can of it, and
as-of shows which schedule stood at any moment. A what-if never writes anything. Every read is
as of a moment (now, or ``as_of_ms``), scoped to what the session's user may see — a track is
its own compartment — and answers with its provenance.

The adapters come in as callables and a port: the track-file reader (YAML), the calendar
reader and writer (iCalendar) and the :class:`~sitroom.application.ports.Solver` (CP-SAT).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sitroom.application.ingest import AlertRaised, raised
from sitroom.application.ports import Solver
from sitroom.application.results import Answer, Progress, Result
from sitroom.application.session import Session
from sitroom.domain.calendars import calendar_record
from sitroom.domain.kinds import (
    CALENDAR,
    HOLDING,
    MEETING,
    RESOURCE,
    SCHEDULE,
    TRACK,
    TRACK_FILE,
    TRACK_STATUS,
    WITHDRAWN,
)
from sitroom.domain.knockon import knock_on, shift_text
from sitroom.domain.records import Record, content_id
from sitroom.domain.schedule import Options, Problem, Solution, build_problem
from sitroom.domain.timeutil import MS_PER_DAY, iso, parse_time
from sitroom.domain.tracks import (
    TABLES,
    TrackFile,
    contention,
    entry_key,
    reached,
    status_of,
    status_record,
    to_release,
    unknown_references,
)
from sitroom.domain.tracks import deadlocks as find_deadlocks
from sitroom.domain.wording import plural
from sitroom.errors import NotFound, UserInputError

TRACKS = "tracks"
TRACK_KINDS = (TRACK, TRACK_STATUS, HOLDING, RESOURCE, WITHDRAWN)
PLAN_KINDS = (TRACK, RESOURCE, MEETING, CALENDAR, SCHEDULE, WITHDRAWN)
CALENDAR_DAYS = 90  # busy times imported from a calendar: this many days by default

# A track file's records: (its path, now). The track-file adapter (YAML) provides it.
ReadTrackFile = Callable[[Path, int], TrackFile]
# A calendar's busy (start ms, end ms, summary) spans within [since, until): (its path, since,
# until). The iCalendar adapter provides it.
ReadCalendar = Callable[[Path, int, int], list[tuple[int, int, str]]]
# Writes a schedule's calendars — one per person and one per track — into a folder: (the
# folder, the meetings, the ids of the attendees who are people, now) -> the files written.
# The iCalendar adapter provides it.
WriteCalendars = Callable[[Path, Sequence["PlacedMeeting"], frozenset[str], int], list[Path]]


@dataclass(frozen=True)
class Horizon:
    """The stretch of time a schedule is solved over, cut into slots."""

    start_ms: int | None = None  # default: the earliest meeting window
    days: int | None = None  # default: up to the latest window
    slot_min: int = 30


# results ----------------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class Precondition(Result):
    """A track waits for ``track`` to reach ``status`` (or a status after it); ``met``: it
    has."""

    track: str
    status: str
    met: bool = False


@dataclass(frozen=True, kw_only=True)
class Track(Result):
    id: str
    name: str
    status: str
    parties: tuple[str, ...]
    venue: str | None
    priority: int
    needs: tuple[str, ...]
    preconditions: tuple[Precondition, ...]


@dataclass(frozen=True, kw_only=True)
class TrackList(Answer):
    """The tracks, most urgent (lowest priority number) first."""

    tracks: tuple[Track, ...]


@dataclass(frozen=True, kw_only=True)
class FileAdded(Result):
    file: str
    records: int  # entries in the file
    new: int  # of them new or changed
    withdrawn: tuple[str, ...] = ()  # entries it declared before and no longer does


@dataclass(frozen=True, kw_only=True)
class TracksAdded(Result):
    """Track files added in one append: each file's entries, and the alerts they raised."""

    files: tuple[FileAdded, ...]
    records: int
    new: int
    alerts: tuple[AlertRaised, ...]


@dataclass(frozen=True, kw_only=True)
class Withdrawn(Result):
    what: str
    id: str
    reason: str
    alerts: tuple[AlertRaised, ...]


@dataclass(frozen=True, kw_only=True)
class StatusSet(Result):
    track: str
    status: str
    was: str | None  # the status before
    alerts: tuple[AlertRaised, ...]


@dataclass(frozen=True, kw_only=True)
class Deadlock(Result):
    """A knot in the wait-for graph: one cycle through it with one sentence per edge, every
    wait inside it, and the smallest sets of waits whose end would undo it."""

    cycle: tuple[str, ...]
    explanation: tuple[str, ...]
    sentence: str
    waits: tuple[str, ...] = ()
    ways_out: tuple[tuple[str, ...], ...] = ()


@dataclass(frozen=True, kw_only=True)
class Contention(Result):
    """A window in which a resource is held beyond its capacity."""

    resource: str
    name: str
    since: str | None
    until: str | None  # None: open-ended
    demand: int
    capacity: int
    over_by: int
    tracks: tuple[str, ...]
    release: str | None  # by track priority, the track whose hold should go (None: a tie)


@dataclass(frozen=True, kw_only=True)
class Check(Answer):
    """Deadlocks at a moment, explained in words, and every over-booked window."""

    at: str | None
    deadlocks: tuple[Deadlock, ...]
    contention: tuple[Contention, ...]


@dataclass(frozen=True, kw_only=True)
class HorizonSpan(Result):
    since: str | None
    until: str | None
    slot_minutes: int


@dataclass(frozen=True, kw_only=True)
class PlacedMeeting(Result):
    """A meeting where a schedule puts it, and who attends."""

    id: str
    title: str
    track: str
    track_name: str
    start: str | None
    end: str | None
    venue: str | None
    venue_name: str | None
    attendees: tuple[str, ...]
    attendee_names: tuple[str, ...]
    optional: tuple[str, ...]  # the attendees who are optional


@dataclass(frozen=True, kw_only=True)
class Constraint(Result):
    """One constraint of a conflict: its label and what it asks, in words."""

    constraint: str
    why: str


@dataclass(frozen=True, kw_only=True)
class Solved(Answer):
    """What a solve found: ``meetings`` placed (none when no schedule exists, and then
    ``conflict`` says why when the problem is infeasible), how good (``objective`` against the
    proven ``bound``) and how long it took."""

    status: str  # optimal, feasible, infeasible, unknown (nothing found in time)
    horizon: HorizonSpan
    objective: float | None
    bound: float | None
    gap: float | None
    seconds: float
    meetings: tuple[PlacedMeeting, ...]
    conflict: tuple[Constraint, ...]


@dataclass(frozen=True, kw_only=True)
class Schedule(Solved):
    """A solved schedule: ``kept`` meetings where the recorded schedule had them, ``moved``
    the others; ``recorded`` if it was new and recorded; the ``calendars`` written."""

    moved: tuple[str, ...]
    kept: int
    recorded: bool
    calendars: tuple[str, ...] = ()
    note: str | None = None  # why it was not recorded, when it could have been


@dataclass(frozen=True, kw_only=True)
class Move(Result):
    """A meeting that moves with a slip, and why."""

    meeting: str
    title: str
    track: str
    old_start: str | None
    new_start: str | None
    shift: str  # '+3d', '-2h'
    because: str
    cause: str | None  # the moved meeting it moves for (None: the slip itself)


@dataclass(frozen=True, kw_only=True)
class TrackSlip(Result):
    """A track's knock-on, in its own terms: how far its last meeting's end moves."""

    track: str
    name: str
    meetings: int  # of its meetings that move
    slip: str  # '+6d', '-2h': its last meeting's end, new against old
    slip_ms: int
    priority: int


@dataclass(frozen=True, kw_only=True)
class WhatIf(Solved):
    """What moves, and to when, if ``target`` slips by ``delay`` or a person is unavailable
    (``scenario`` says which, in words); everything else stays."""

    target: str
    delay: str
    scenario: str
    base: str  # the schedule it starts from
    moves: tuple[Move, ...]
    tracks: tuple[TrackSlip, ...]  # per track with a meeting that moves, the most delayed first
    unchanged: int | None  # meetings that stay (None: no schedule exists)


@dataclass(frozen=True, kw_only=True)
class CalendarImported(Result):
    resource: str
    calendar: str
    busy: int  # busy spans within the window
    since: str | None
    until: str | None
    new: bool  # False: the same busy times were imported before


# the service ------------------------------------------------------------------------------
class Tracks:
    """The tracks of a room: reads, track files and status changes, checks, schedules."""

    def __init__(
        self,
        session: Session,
        *,
        solver: Solver,
        read_track_file: ReadTrackFile,
        read_calendar: ReadCalendar,
        write_calendars: WriteCalendars,
    ) -> None:
        self._s = session
        self._solver = solver
        self._read_track_file = read_track_file
        self._read_calendar = read_calendar
        self._write_calendars = write_calendars

    # reads --------------------------------------------------------------------------------
    def list(self, *, as_of_ms: int | None = None) -> TrackList:
        """Each track: its status, parties, venue, priority, needs and preconditions."""
        at = self._s.at(as_of_ms)
        state = self._s.state(TRACKS, at)
        rows = tuple(
            Track(
                id=tid,
                name=t["name"],
                status=state["status"].get(tid, {}).get("status", t["status"]),
                parties=tuple(t["parties"]),
                venue=(t.get("venue") or {}).get("name"),
                priority=t["priority"],
                needs=tuple(t["needs"]),
                preconditions=tuple(
                    Precondition(
                        track=p["track"],
                        status=p["status"],
                        met=reached(
                            state["tracks"].get(p["track"]),
                            status_of(state, p["track"]),
                            p["status"],
                        ),
                    )
                    for p in t["preconditions"]
                ),
            )
            for tid, t in sorted(state["tracks"].items(), key=lambda kv: (kv[1]["priority"], kv[0]))
        )
        return TrackList(tracks=rows, provenance=self._s.provenance(at, None, TRACK_KINDS))

    def check(self, *, at_ms: int | None = None, as_of_ms: int | None = None) -> Check:
        """Deadlocks in the wait-for graph at ``at_ms`` (default: the as-of time), explained in
        words, and every window in which a shared resource is held beyond its capacity."""
        at = self._s.at(as_of_ms)
        state = self._s.state(TRACKS, at)
        when = at.wall if at_ms is None else at_ms
        names = {rid: r.get("name", rid) for rid, r in state["resources"].items()}
        return Check(
            at=iso(when),
            deadlocks=tuple(
                Deadlock(
                    cycle=tuple(d.nodes),
                    explanation=tuple(d.explanation),
                    sentence=d.sentence(),
                    waits=tuple(d.waits),
                    ways_out=tuple(tuple(w) for w in d.ways_out),
                )
                for d in find_deadlocks(state, when)
            ),
            contention=tuple(
                Contention(
                    resource=o.resource,
                    name=names.get(o.resource, o.resource),
                    since=iso(o.start),
                    until=iso(o.end),
                    demand=o.demand,
                    capacity=o.capacity,
                    over_by=o.demand - o.capacity,
                    tracks=tuple(o.tracks),
                    release=to_release(state, o.tracks),
                )
                for o in contention(state)
            ),
            provenance=self._s.provenance(at, None, TRACK_KINDS),
        )

    # writes -------------------------------------------------------------------------------
    def add(self, paths: Sequence[str | Path]) -> TracksAdded:
        """Add or change tracks, resources, holdings and meetings from track files: every file
        is read and its references checked (against the others and the room) before anything
        is added, then all of them in one append. A file is the user's source of truth:
        adding it again adds nothing if it is unchanged, replaces what it changed, and
        withdraws what it declared before and no longer does."""
        if not paths:
            raise UserInputError("give at least one track file")
        s = self._s
        now = s.now_ms()
        files = [(Path(path), self._read_track_file(Path(path), now)) for path in paths]
        records = [r for _, f in files for r in f.records]
        state = s.state(TRACKS)
        problems = unknown_references(records, state)
        if problems:
            where = {rid: w for _, f in files for rid, w in f.where.items()}
            rid, why = problems[0]
            more = (
                f" (and {plural(len(problems) - 1, 'more problem')})" if len(problems) > 1 else ""
            )
            raise UserInputError(f"{where[rid]} {why}{more}")
        by = s.user or "tracks"
        made: list[Record] = []
        gone: dict[Path, list[str]] = {}
        for path, f in files:
            name = str(path.resolve())
            keys = {entry_key(r) for r in f.records}
            others = {
                k for other, comps in state["files"].items() if other != name
                for ks in comps.values() for k in ks
            }  # fmt: skip
            before = {k for ks in state["files"].get(name, {}).values() for k in ks}
            gone[path] = sorted(k for k in before - keys - others if _present(state, k))
            made += [
                _withdrawal(state, k, by, f"no longer in {path.name}", now) for k in gone[path]
            ]
            made += _manifests(name, f.records, state["files"].get(name, {}))
        if not records and not made:
            empty = tuple(FileAdded(file=str(p), records=0, new=0) for p, _ in files)
            return TracksAdded(files=empty, records=0, new=0, alerts=())
        names = ", ".join(p.name for p, _ in files)
        outcome = s.append([*records, *made], action=f"add track files {names}")
        new = set(outcome.records.column("id").to_pylist())
        added = []
        for path, f in files:
            mine = {r.id for r in f.records}
            added.append(
                FileAdded(
                    file=str(path),
                    records=len(f.records),
                    new=len(mine & new),
                    withdrawn=tuple(gone[path]),
                )
            )
            new -= mine  # an entry in two files is new in the first
        return TracksAdded(
            files=tuple(added),
            records=len(records),
            new=len(outcome.records) - len(made),
            alerts=raised(outcome.alerts),
        )

    def withdraw(self, what: str, id: str, *, reason: str) -> Withdrawn:
        """Take back a track (with its holdings and meetings), a resource, a meeting or a
        holding (``id``: TRACK/RESOURCE, or TRACK/RESOURCE/START when the track holds it in
        more than one period): a record, never a delete, so as-of still shows it before."""
        if what not in TABLES:
            raise UserInputError(f"withdraw a {', '.join(TABLES)}, not {what!r}")
        if not reason.strip():
            raise UserInputError("say why it is withdrawn: --reason TEXT")
        s = self._s
        state = s.state(TRACKS)
        key = _holding(state, id) if what == "holding" else id
        if key not in state[TABLES[what]]:
            raise NotFound(what, id, known=sorted(state[TABLES[what]]))
        record = _withdrawal(state, f"{what}/{key}", s.user or "tracks", reason, s.now_ms())
        outcome = s.append([record], action=f"withdraw {what} {id}")
        return Withdrawn(what=what, id=key, reason=reason, alerts=raised(outcome.alerts))

    def set_status(self, track: str, status: str) -> StatusSet:
        """Record a track's new status: preconditions on it may now be met (and a deadlock
        through it broken)."""
        state = self._s.state(TRACKS)
        if track not in state["tracks"]:
            raise NotFound("track", track, known=sorted(state["tracks"]))
        was = state["status"].get(track, {}).get("status")
        record = status_record(track, status, now_ms=self._s.now_ms())
        outcome = self._s.append([record], action=f"set the status of track {track}")
        return StatusSet(
            track=track,
            status=record.payload["status"],
            was=was,
            alerts=raised(outcome.alerts),
        )

    def import_calendar(
        self,
        resource: str,
        path: Path,
        *,
        since_ms: int | None = None,
        until_ms: int | None = None,
        name: str | None = None,
    ) -> CalendarImported:
        """A resource's busy times from a calendar file, over [since, until) (default: from now,
        for 90 days), recurring events expanded; schedules keep its meetings out of them.
        Importing the calendar (by ``name``, default the file's name) again replaces it."""
        now = self._s.now_ms()
        lo = now if since_ms is None else since_ms
        hi = lo + CALENDAR_DAYS * MS_PER_DAY if until_ms is None else until_ms
        if hi <= lo:
            raise UserInputError("the end of the window must be after its start")
        resources = self._s.state(TRACKS)["resources"]
        if resource not in resources:
            raise NotFound("resource", resource, known=sorted(resources))
        busy = self._read_calendar(path, lo, hi)
        calendar = name or path.name
        record = calendar_record(resource, calendar, busy, now_ms=now)
        outcome = self._s.append([record], action=f"import a calendar for {resource}")
        return CalendarImported(
            resource=resource,
            calendar=calendar,
            busy=len(busy),
            since=iso(lo),
            until=iso(hi),
            new=outcome.appended > 0,
        )

    # schedules ----------------------------------------------------------------------------
    def schedule(
        self,
        *,
        horizon: Horizon | None = None,
        options: Options | None = None,
        as_of_ms: int | None = None,
        record: bool = True,
        calendars: Path | None = None,
        progress: Progress | None = None,
    ) -> Schedule:
        """Solve the schedule of every meeting, keeping the last recorded schedule where it
        still fits; record it (unless ``record`` is False, or it is solved as of the past) when
        one is found, and write its calendars into the folder ``calendars``; explain it in
        words when none exists. ``progress`` is told (done, total) as the solver goes."""
        s = self._s
        at = s.at(as_of_ms)
        state = s.state(TRACKS, at)
        problem = _problem(state, horizon or Horizon())
        previous = _previous(problem, state["schedule"])
        solution = self._solver.solve(
            problem, options or Options(), previous=previous, progress=progress
        )
        provenance = s.provenance(at, None, PLAN_KINDS)  # as of before it is recorded
        recorded, note = False, None
        if record and solution.starts and as_of_ms is None:
            hidden = s.hidden(at, [MEETING])
            if hidden:  # a schedule without them would replace the one that has them
                note = (
                    f"not recorded: {plural(hidden, 'meeting record')} of tracks outside your "
                    "clearance are not in it"
                )
            else:
                rec = _schedule_record(problem, solution, now_ms=s.now_ms())
                recorded = s.append([rec], action="record a schedule").appended > 0
        meetings = _placed(problem, solution)
        written: tuple[str, ...] = ()
        if calendars is not None and meetings:
            people = frozenset(
                rid for rid, r in state["resources"].items() if r.get("type") == "person"
            )
            files = self._write_calendars(calendars, meetings, people, s.now_ms())
            written = tuple(str(f) for f in files)
        return Schedule(
            **_solved(problem, solution),
            meetings=meetings,
            moved=tuple(solution.moved),
            kept=len(previous) - len(solution.moved) if solution.starts else 0,
            recorded=recorded,
            calendars=written,
            note=note,
            provenance=provenance,
        )

    def whatif_delay(
        self,
        target: str,
        delay_ms: int,
        *,
        horizon: Horizon | None = None,
        options: Options | None = None,
        as_of_ms: int | None = None,
        progress: Progress | None = None,
    ) -> WhatIf:
        """What moves, and to when, if a track's meetings (or one meeting) slip by a delay:
        through preconditions and shared people and assets. Everything else stays where it
        was. Starts from the recorded schedule (or, if it does not cover every meeting, one
        solved now). Records nothing."""
        if delay_ms <= 0:
            raise UserInputError("the delay must be positive, such as 3d or 6h")
        state = self._s.state(TRACKS, self._s.at(as_of_ms))
        problem = _problem(state, horizon or Horizon())
        slipped = {m for m, x in problem.meetings.items() if target in (m, x.track)}
        if not slipped:
            with_meetings = sorted({m.track for m in problem.meetings.values()})
            raise NotFound(
                "track", target, known=with_meetings, detail=", nor a meeting by that id"
            )
        delta = -(-delay_ms // problem.grid.slot_ms)
        delay_text = shift_text(delta * problem.grid.slot_ms)
        return self._whatif(
            state,
            problem,
            problem,
            target=target,
            delay=delay_text,
            scenario=f"{target} slips {delay_text}",
            slipped=lambda base: slipped,
            why=f"{delay_text} slip",
            shift=delta,
            options=options,
            as_of_ms=as_of_ms,
            progress=progress,
        )

    def whatif_unavailable(
        self,
        person: str,
        from_ms: int,
        until_ms: int,
        *,
        reason: str = "",
        horizon: Horizon | None = None,
        options: Options | None = None,
        as_of_ms: int | None = None,
        progress: Progress | None = None,
    ) -> WhatIf:
        """What moves, and to when, if a person (any resource) is unavailable from ``from_ms``
        to ``until_ms``: the meetings that need them then, and what those push. Everything
        else stays where it was. Records nothing."""
        if until_ms <= from_ms:
            raise UserInputError("an unavailability ends after it starts")
        state = self._s.state(TRACKS, self._s.at(as_of_ms))
        if person not in state["resources"]:
            raise NotFound("resource", person, known=sorted(state["resources"]))
        name = state["resources"][person].get("name") or person
        away = f"{name} is unavailable {iso(from_ms)} to {iso(until_ms)}" + (
            f" ({reason})" if reason else ""
        )
        busy = {"resource": person, "calendar": "what-if", "busy": [[from_ms, until_ms, away]]}
        changed = {**state, "busy": {**state["busy"], f"{person}|what-if": busy}}
        base_problem = _problem(state, horizon or Horizon())
        problem = _problem(changed, horizon or Horizon())

        def slipped(base: Mapping[str, int]) -> set[str]:
            grid = problem.grid
            return {
                m
                for m, x in problem.meetings.items()
                if person in x.required
                and m in base
                and grid.at(base[m]) < until_ms
                and from_ms < grid.at(base[m] + x.duration)
            }

        return self._whatif(
            state,
            base_problem,
            problem,
            target=person,
            delay="",
            scenario=away,
            slipped=slipped,
            why=away,
            shift=0,
            options=options,
            as_of_ms=as_of_ms,
            progress=progress,
        )

    def _whatif(
        self,
        state: Mapping[str, Any],
        base_problem: Problem,
        problem: Problem,
        *,
        target: str,
        delay: str,
        scenario: str,
        slipped: Callable[[Mapping[str, int]], set[str]],
        why: str,
        shift: int,
        options: Options | None,
        as_of_ms: int | None,
        progress: Progress | None,
    ) -> WhatIf:
        """Solve ``problem`` keeping what it can of the base schedule (``base_problem``'s: the
        recorded one, or one solved now), with the ``slipped`` meetings moved on by ``shift``
        slots, and say what moved and why."""
        # Exact: with any gap the solver may stop with a meeting moved that need not have.
        options = options or Options(gap=0.0)
        provenance = self._s.provenance(self._s.at(as_of_ms), None, PLAN_KINDS)
        base = _previous(base_problem, state["schedule"])
        based_on = f"the schedule recorded {iso(state['schedule']['solved_at'])}" if base else ""
        solves = 1 if set(base) == set(base_problem.meetings) else 2
        if solves == 2:
            first = self._solver.solve(base_problem, options, progress=_phase(progress, 0, 2))
            if not first.starts:
                return WhatIf(
                    **_solved(base_problem, first),
                    meetings=(),
                    target=target,
                    delay=delay,
                    scenario=scenario,
                    base="none: the meetings have no schedule",
                    moves=(),
                    tracks=(),
                    unchanged=None,
                    provenance=provenance,
                )
            base, based_on = (
                first.starts,
                "a schedule solved now (none recorded covers every meeting)",
            )
        moving = slipped(base)
        after = self._solver.solve(
            problem,
            options,
            previous={m: start for m, start in base.items() if m not in moving},
            not_before={m: base[m] + shift for m in moving} if shift else None,
            progress=_phase(progress, solves - 1, solves),
        )
        moves = knock_on(problem, base, after.starts, moving, why) if after.starts else []
        grid = problem.grid
        return WhatIf(
            **_solved(problem, after),
            meetings=_placed(problem, after),
            target=target,
            delay=delay,
            scenario=scenario,
            base=based_on,
            moves=tuple(
                Move(
                    meeting=mv.meeting,
                    title=problem.meetings[mv.meeting].title,
                    track=problem.meetings[mv.meeting].track,
                    old_start=iso(grid.at(mv.old)),
                    new_start=iso(grid.at(mv.new)),
                    shift=shift_text((mv.new - mv.old) * grid.slot_ms),
                    because=mv.because,
                    cause=mv.cause,
                )
                for mv in moves
            ),
            tracks=_track_slips(state, problem, base, after.starts, {mv.meeting for mv in moves}),
            unchanged=len(problem.meetings) - len(moves) if after.starts else None,
            provenance=provenance,
        )


def _track_slips(
    state: Mapping[str, Any],
    problem: Problem,
    before: Mapping[str, int],
    after: Mapping[str, int],
    moved: set[str],
) -> tuple[TrackSlip, ...]:
    """Per track with a meeting that moved: how far the end of its last meeting moves."""
    out = []
    for track in sorted({problem.meetings[m].track for m in moved}):
        mine = [m for m, x in problem.meetings.items() if x.track == track and m in after]
        end = {
            side: max(s[m] + problem.meetings[m].duration for m in mine if m in s)
            for side, s in (("old", before), ("new", after))
        }
        ms = (end["new"] - end["old"]) * problem.grid.slot_ms
        t = state["tracks"].get(track) or {}
        out.append(
            TrackSlip(
                track=track,
                name=str(t.get("name") or track),
                meetings=sum(1 for m in moved if problem.meetings[m].track == track),
                slip=shift_text(ms),
                slip_ms=ms,
                priority=int(t.get("priority", 3)),
            )
        )
    return tuple(sorted(out, key=lambda x: (-x.slip_ms, x.track)))


# helpers ----------------------------------------------------------------------------------
def _present(state: Mapping[str, Any], key: str) -> bool:
    what, _, id = key.partition("/")
    return id in state[TABLES[what]]


def _compartment(state: Mapping[str, Any], what: str, id: str) -> str:
    """Where a withdrawal of an entry belongs: its track's compartment (a resource: none)."""
    if what == "track":
        return id
    entry = state[TABLES[what]].get(id) or {}
    return str(entry.get("track") or "")


def _withdrawal(state: Mapping[str, Any], key: str, by: str, reason: str, now: int) -> Record:
    what, _, id = key.partition("/")
    return WITHDRAWN.record(
        id=f"{WITHDRAWN}:{key}@{now}",
        source="tracks",
        valid_from=now,
        compartment=_compartment(state, what, id),
        payload={"what": what, "id": id, "by": by, "reason": reason},
    )


def _manifests(
    name: str, records: Sequence[Record], before: Mapping[str, list[str]]
) -> list[Record]:
    """What the file ``name`` declares, one record per compartment (a track's entries are
    its own), including compartments it no longer declares anything in."""
    now: dict[str, list[str]] = {c: [] for c in before}
    for r in records:
        now.setdefault(r.compartment or "", []).append(entry_key(r))
    return [
        TRACK_FILE.record(
            id=f"{TRACK_FILE}:{name}:{comp}@{content_id(sorted(keys))}",
            source="tracks",
            compartment=comp,
            payload={"file": name, "entries": sorted(keys)},
        )
        for comp, keys in sorted(now.items())
        if comp not in before or sorted(keys) != sorted(before[comp])
    ]


def _holding(state: Mapping[str, Any], id: str) -> str:
    """A holding's key from TRACK/RESOURCE (the only one) or TRACK/RESOURCE/START."""
    parts = id.split("/")
    if len(parts) == 3:
        return "|".join([*parts[:2], str(parse_time(parts[2], now_ms=0))])
    if len(parts) != 2:
        raise UserInputError(f"a holding is TRACK/RESOURCE or TRACK/RESOURCE/START, not {id!r}")
    prefix = "|".join(parts) + "|"
    found = sorted(k for k in state["holdings"] if k.startswith(prefix))
    if len(found) > 1:
        starts = ", ".join(iso(state["holdings"][k]["from"]) or "open" for k in found)
        raise UserInputError(f"{id} is held in {len(found)} periods (from {starts}): add /START")
    return found[0] if found else prefix


def _problem(state: Mapping[str, Any], horizon: Horizon) -> Problem:
    return build_problem(
        state, start_ms=horizon.start_ms, days=horizon.days, slot_min=horizon.slot_min
    )


def _previous(problem: Problem, recorded: Mapping[str, Any] | None) -> dict[str, int]:
    """The recorded schedule's starts as slots of this problem's grid (those that land on it)."""
    if not recorded:
        return {}
    grid = problem.grid
    out = {}
    for mid, placed in recorded["meetings"].items():
        offset = placed["start"] - grid.start_ms
        if mid in problem.meetings and offset % grid.slot_ms == 0:
            out[mid] = offset // grid.slot_ms
    return out


def _phase(progress: Progress | None, k: int, n: int) -> Progress | None:
    """The ``k``th of ``n`` equal solves, on one progress bar."""
    if progress is None:
        return None
    report = progress

    def step(done: int, total: int | None) -> None:
        t = total or 0
        report(k * t + done, n * t if total is not None else None)

    return step


def _solved(problem: Problem, solution: Solution) -> dict[str, Any]:
    """The fields every solve answers with (a :class:`Solved`'s, but its meetings)."""
    grid = problem.grid
    return {
        "status": solution.status,
        "horizon": HorizonSpan(
            since=iso(grid.start_ms), until=iso(grid.at(grid.n)), slot_minutes=grid.slot_min
        ),
        "objective": solution.objective,
        "bound": solution.bound,
        "gap": solution.gap,
        "seconds": round(solution.seconds, 3),
        "conflict": tuple(
            Constraint(constraint=c.label, why=c.sentence) for c in solution.conflict
        ),
    }


def _placed(problem: Problem, solution: Solution) -> tuple[PlacedMeeting, ...]:
    """The meetings a solution places, in order of their start."""
    grid = problem.grid
    names = {rid: r.name for rid, r in problem.resources.items()}
    out = []
    for mid, start in sorted(solution.starts.items(), key=lambda kv: (kv[1], kv[0])):
        m = problem.meetings[mid]
        people = [r for r in solution.attending[mid] if r != m.venue]
        out.append(
            PlacedMeeting(
                id=mid,
                title=m.title,
                track=m.track,
                track_name=problem.names.get(m.track, m.track),
                start=iso(grid.at(start)),
                end=iso(grid.at(start + m.duration)),
                venue=m.venue,
                venue_name=names.get(m.venue, m.venue) if m.venue else None,
                attendees=tuple(people),
                attendee_names=tuple(names[r] for r in people),
                optional=tuple(r for r in people if r in m.optional),
            )
        )
    return tuple(out)


def _schedule_record(problem: Problem, solution: Solution, *, now_ms: int) -> Record:
    grid = problem.grid
    placed = {
        mid: {
            "start": grid.at(start),
            "end": grid.at(start + problem.meetings[mid].duration),
            "track": problem.meetings[mid].track,
            "title": problem.meetings[mid].title,
            "venue": problem.meetings[mid].venue,
            "attendees": solution.attending[mid],
        }
        for mid, start in sorted(solution.starts.items())
    }
    return SCHEDULE.record(
        id=f"{SCHEDULE}:{content_id(placed)}",
        source="scheduler",
        valid_from=now_ms,
        payload={
            "meetings": placed,
            "status": solution.status,
            "objective": solution.objective,
            "bound": solution.bound,
            "solved_at": now_ms,
        },
    )
