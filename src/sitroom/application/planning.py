"""Planning use cases: solve the schedule (and record it), and ask what slips with a slip.

A solved schedule is a record like any other, so the next solve can keep what it can of it, and
`replay`/as-of show which schedule stood at any moment. A what-if never writes anything.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sitroom.application.engine import Engine
from sitroom.application.queries import _provenance, resolve_as_of
from sitroom.application.scheduler import Options, Solution, solve
from sitroom.domain.kinds import CALENDAR, MEETING, RESOURCE, SCHEDULE, TRACK
from sitroom.domain.knockon import knock_on, shift_text
from sitroom.domain.provenance import Answer
from sitroom.domain.records import Record, content_id
from sitroom.domain.schedule import Problem, build_problem
from sitroom.domain.timeutil import iso
from sitroom.errors import UserInputError

KINDS: tuple[str, ...] = (TRACK, RESOURCE, MEETING, CALENDAR, SCHEDULE)


@dataclass(frozen=True)
class Horizon:
    start_ms: int | None = None  # default: the earliest meeting window
    days: int | None = None  # default: up to the latest window
    slot_min: int = 30


def schedule(
    engine: Engine,
    horizon: Horizon | None = None,
    options: Options | None = None,
    *,
    as_of_ms: int | None = None,
    record: bool = True,
) -> Answer[dict[str, Any]]:
    """Solve the schedule of every meeting, keeping the last recorded schedule where it still
    fits; record it (unless told not to) when one is found; explain it when none exists."""
    at = resolve_as_of(engine, as_of_ms)
    state = engine.view_many(["tracks"], at.seq)["tracks"]
    problem = _problem(state, horizon or Horizon())
    previous = _previous(problem, state.get("schedule"))
    solution = solve(problem, options or Options(), previous=previous)
    value = describe(problem, solution)
    value["kept"] = len(previous) - len(solution.moved) if solution.starts else 0
    answer = Answer(value, _provenance(engine, at, None, KINDS))  # as of before it is recorded
    if record and solution.starts and as_of_ms is None:
        rec = schedule_record(problem, solution, now_ms=engine.clock.now_ms())
        value["recorded"] = engine.append([rec]).appended > 0
    return answer


def whatif_delay(
    engine: Engine,
    target: str,
    delay_ms: int,
    horizon: Horizon | None = None,
    options: Options | None = None,
    *,
    as_of_ms: int | None = None,
) -> Answer[dict[str, Any]]:
    """What moves, and to when, if a track's meetings (or one meeting) slip by a delay: through
    preconditions and shared people and assets. Everything else stays where it was."""
    if delay_ms <= 0:
        raise UserInputError("the delay must be positive, such as 3d or 6h")
    at = resolve_as_of(engine, as_of_ms)
    state = engine.view_many(["tracks"], at.seq)["tracks"]
    problem = _problem(state, horizon or Horizon())
    # Exact: with any gap the solver may stop with a meeting moved that need not have.
    options = options or Options(gap=0.0)
    slipped = {m for m, x in problem.meetings.items() if target in (m, x.track)}
    if not slipped:
        raise UserInputError(f"no track or meeting {target!r} with meetings (see `sitroom tracks`)")
    base = _previous(problem, state.get("schedule"))
    based_on = f"the schedule recorded {iso(state['schedule']['solved_at'])}" if base else None
    if set(base) != set(problem.meetings):
        first = solve(problem, options)
        if not first.starts:
            value = describe(problem, first)
            value.update(target=target, base="none: the meetings have no schedule", moves=[])
            return Answer(value, _provenance(engine, at, None, KINDS))
        base, based_on = first.starts, "a schedule solved now (none recorded covers every meeting)"
    delta = -(-delay_ms // problem.grid.slot_ms)
    delay_text = shift_text(delta * problem.grid.slot_ms)
    after = solve(
        problem,
        options,
        previous={m: s for m, s in base.items() if m not in slipped},
        not_before={m: base[m] + delta for m in slipped},
    )
    value = describe(problem, after)
    moves = knock_on(problem, base, after.starts, slipped, delay_text) if after.starts else []
    grid = problem.grid
    value.update(
        target=target,
        delay=delay_text,
        base=based_on,
        moves=[
            {
                "meeting": mv.meeting,
                "title": problem.meetings[mv.meeting].title,
                "track": problem.meetings[mv.meeting].track,
                "from": iso(grid.at(mv.old)),
                "to": iso(grid.at(mv.new)),
                "shift": shift_text((mv.new - mv.old) * grid.slot_ms),
                "because": mv.because,
                "cause": mv.cause,
            }
            for mv in moves
        ],
        unchanged=len(problem.meetings) - len(moves) if after.starts else None,
    )
    return Answer(value, _provenance(engine, at, None, KINDS))


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


def describe(problem: Problem, solution: Solution) -> dict[str, Any]:
    grid = problem.grid
    names = {rid: r.name for rid, r in problem.resources.items()}
    meetings = []
    for mid, start in sorted(solution.starts.items(), key=lambda kv: (kv[1], kv[0])):
        m = problem.meetings[mid]
        people = [r for r in solution.attending[mid] if r != m.venue]
        meetings.append(
            {
                "id": mid,
                "title": m.title,
                "track": m.track,
                "start": iso(grid.at(start)),
                "end": iso(grid.at(start + m.duration)),
                "venue": m.venue,
                "venue_name": names.get(m.venue, m.venue) if m.venue else None,
                "attendees": people,
                "optional": [r for r in people if r in m.optional],
                "attendee_names": [names[r] for r in people],
            }
        )
    return {
        "status": solution.status,
        "horizon": {
            "from": iso(grid.start_ms),
            "until": iso(grid.at(grid.n)),
            "slot_minutes": grid.slot_min,
        },
        "objective": solution.objective,
        "bound": solution.bound,
        "gap": solution.gap,
        "seconds": round(solution.seconds, 3),
        "meetings": meetings,
        "moved": solution.moved,
        "conflict": [{"constraint": c.label, "why": c.sentence} for c in solution.conflict],
    }


def schedule_record(problem: Problem, solution: Solution, *, now_ms: int) -> Record:
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
    digest = content_id(placed)
    return SCHEDULE.record(
        id=f"{SCHEDULE}:{digest}",
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
