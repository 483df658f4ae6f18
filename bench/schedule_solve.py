"""Schedule solving: 500 meetings, 600 people, 20 days of 30-minute slots, 40 tracks with
precedence, solved by `sitroom tracks schedule`'s solver: bound by tracks, list schedules, and
local search with OR-Tools CP-SAT (the CP-SAT adapter, adapters/cpsat, behind the Solver port).

The instance is generated (seeded): people in five time zones with their own working weeks
(New York Mon-Fri, Zurich and Beirut Mon-Fri, Tehran Sat-Wed, Riyadh Sun-Thu), 20 principals
shared by many tracks, venues in ten cities with room for two or three meetings at once and
travel between them, windows, track preconditions (every meeting of a track after every
meeting of the track it waits on), rounds that follow rounds, and soft preferences.

Goals on 2 cores: a feasible schedule within 5 s, and one within 5% of the best bound within
30 s. Baseline, in the same run: the same model handed to CP-SAT plainly, with no hint.

Each gap is measured against the bound its own run proves: CP-SAT's for the baseline, for
sitroom the larger of the tracks' bound (each track solved alone, the others left out, no
meeting before its earliest start: a relaxation of the whole, so the sum of the tracks' bounds
is a lower bound on the same objective) and the whole-model bound when it runs. The schedule
each run returns is checked here against every hard constraint, and its objective recounted.

    python bench/schedule_solve.py [--meetings 500] [--people 600] [--days 20] [--tracks 40]
                                   [--limit 30] [--workers 2] [--gap 0.05]
"""

from __future__ import annotations

import argparse
import random
from typing import Any

from sitroom.adapters.cpsat import CpSatSolver
from sitroom.domain.schedule import Options, Problem, Solution, build_problem, clashes, cost, greedy
from sitroom.domain.timeutil import MS_PER_DAY, parse_time

VENUE_ROOMS = (4, 6)  # rooms per conference centre
START = parse_time("2027-01-04", now_ms=0)  # a Monday
ZONES = [  # (zone, hours, days)
    ("America/New_York", "07:00-19:00", "Mon-Fri"),
    ("Europe/Zurich", "08:00-19:00", "Mon-Fri"),
    ("Asia/Beirut", "08:00-18:00", "Mon-Fri"),
    ("Asia/Tehran", "08:00-18:00", "Sat-Wed"),
    ("Asia/Riyadh", "08:00-17:00", "Sun-Thu"),
]
CITIES = {
    "Geneva": (46.2044, 6.1432),
    "Vienna": (48.2082, 16.3738),
    "Oslo": (59.9139, 10.7522),
    "Doha": (25.2854, 51.5310),
    "Muscat": (23.5880, 58.3829),
    "Beirut": (33.8938, 35.5018),
    "Cairo": (30.0444, 31.2357),
    "Istanbul": (41.0082, 28.9784),
    "New York": (40.7128, -74.0060),
    "Brussels": (50.8503, 4.3517),
}


def make_state(meetings: int, people: int, days: int, n_tracks: int, seed: int = 11) -> Any:
    rng = random.Random(seed)
    resources: dict[str, Any] = {}
    for i in range(people):
        zone, hours, wd = ZONES[i % len(ZONES)]
        principal = i < 20
        resources[f"p{i}"] = {
            "id": f"p{i}",
            "name": f"{'Principal' if principal else 'Person'} {i}",
            "type": "person",
            "capacity": 1,
            "timezone": "Europe/Zurich" if principal else zone,
            "hours": "06:00-22:00" if principal else hours,
            "days": "Mon-Sat" if principal else wd,
        }
    for city, (lat, lon) in CITIES.items():
        vid = "venue-" + city.lower().replace(" ", "-")
        resources[vid] = {
            "id": vid,
            "name": f"Conference centre, {city}",
            "type": "venue",
            "capacity": rng.choice(VENUE_ROOMS),
            "location": {"name": city, "lat": lat, "lon": lon},
        }
    tracks: dict[str, Any] = {}
    status: dict[str, Any] = {}
    staff = list(range(20, people))
    rng.shuffle(staff)
    teams: dict[str, list[str]] = {}
    served = dict.fromkeys(staff, 0)
    for t in range(n_tracks):
        tid = f"t{t}"
        pre = []
        if t >= 8 and rng.random() < 0.35:  # a shallow web of preconditions
            pre.append({"track": f"t{rng.randrange(0, 8)}", "status": "agreed"})
        city = list(CITIES)[t % len(CITIES)]
        tracks[tid] = {
            "id": tid,
            "name": f"Track {t}",
            "parties": [],
            "venue": {"name": city, "lat": CITIES[city][0], "lon": CITIES[city][1]},
            "status": "negotiating",
            "priority": rng.randint(1, 5),
            "needs": [],
            "preconditions": pre,
        }
        status[tid] = {"status": "negotiating", "since": 0}
        # Each track's team comes from two zones whose working days and hours overlap.
        zones = rng.choice(((0, 1), (1, 2), (0, 2), (1, 3), (2, 3), (1, 4), (2, 4)))
        # Staff serve one or two tracks; the 20 principals are the ones shared widely.
        team = [i for i in staff if i % len(ZONES) in zones and served[i] < 2]
        team.sort(key=lambda i: served[i])
        chosen = rng.sample(team[:40], 15)
        for i in chosen:
            served[i] += 1
        teams[tid] = [f"p{i}" for i in chosen]
    out: dict[str, Any] = {}
    per_track = [
        meetings // n_tracks + (1 if t < meetings % n_tracks else 0) for t in range(n_tracks)
    ]
    for t, count in enumerate(per_track):
        tid = f"t{t}"
        venue = "venue-" + tracks[tid]["venue"]["name"].lower().replace(" ", "-")
        for k in range(count):
            mid = f"{tid}-m{k}"
            required = rng.sample(teams[tid], rng.randint(2, 4))
            if rng.random() < 0.3:
                required.append(f"p{rng.randrange(20)}")
            lo = START if rng.random() < 0.7 else START + rng.randrange(0, days // 2) * MS_PER_DAY
            hi = START + days * MS_PER_DAY
            prefer = []
            if rng.random() < 0.2:
                at = START + rng.randrange(2, days) * MS_PER_DAY
                prefer.append({"kind": "before", "at": at, "weight": rng.randint(1, 5)})
            out[mid] = {
                "id": mid,
                "track": tid,
                "title": f"Track {t} round {k + 1}",
                "duration": rng.choice((60, 90, 120, 180)),
                "required": required,
                "optional": [x for x in rng.sample(teams[tid], 2) if x not in required],
                "venue": venue if rng.random() < 0.6 else None,
                "window": [lo, hi],
                "after": [f"{tid}-m{k - 1}"] if k % 3 and k > 0 else [],
                "prefer": prefer,
            }
    return {"tracks": tracks, "resources": resources, "status": status, "meetings": out, "busy": {}}


def make_problem(meetings: int, people: int, days: int, tracks: int) -> Problem:
    state = make_state(meetings, people, days, tracks)
    problem = build_problem(state, start_ms=START, days=days)
    # Every meeting must be possible on its own: shorten those whose attendees share too few
    # working hours (a generator's job, as a real planner would).
    for mid in list(problem.meetings):
        while not problem.starts(mid).any() and state["meetings"][mid]["duration"] > 30:
            state["meetings"][mid]["duration"] -= 30
            problem = build_problem(state, start_ms=START, days=days)
    return problem


def within(sol: Solution, gap: float) -> float | None:
    """When the solver first held a schedule within ``gap`` of its best bound at that time."""
    for t, obj, bound in sol.progress:
        if abs(obj - bound) / max(1.0, abs(obj)) <= gap:
            return t
    return None


def show(name: str, problem: Problem, sol: Solution) -> None:
    first = "none" if sol.first_seconds is None else f"{sol.first_seconds:.2f} s"
    w5 = within(sol, 0.05)
    print(
        f"{name:<22} status {sol.status:<9} first schedule {first:>9}   within 5%: "
        f"{'not reached' if w5 is None else f'{w5:.2f} s':>11}   final gap "
        f"{'-' if sol.gap is None else f'{sol.gap:.1%}'}   total {sol.seconds:.1f} s"
    )
    if sol.objective is not None and sol.bound is not None:
        broken = clashes(problem, sol.starts, sol.attending, problem.meetings)
        recount = cost(problem, sol.starts, sol.attending)  # nothing scheduled before: no moves
        print(
            f"{'':<22} objective {sol.objective:,.0f} (recounted {recount:,}), bound "
            f"{sol.bound:,.0f}; hard constraints broken: {len(broken)}"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--meetings", type=int, default=500)
    ap.add_argument("--people", type=int, default=600)
    ap.add_argument("--days", type=int, default=20)
    ap.add_argument("--tracks", type=int, default=40)
    ap.add_argument("--limit", type=float, default=30.0, help="seconds per solve")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument(
        "--gap", type=float, default=0.05, help="stop at this gap (0: use the whole limit)"
    )
    args = ap.parse_args()
    problem = make_problem(args.meetings, args.people, args.days, args.tracks)
    placed = greedy(problem)
    print(
        f"instance: {len(problem.meetings)} meetings, {len(problem.resources)} resources, "
        f"{problem.grid.n} slots, {len(problem.names)} tracks, {len(problem.precedence)} "
        f"precedence edges; greedy places {len(placed)}"
    )
    opts = Options(time_limit=args.limit, gap=args.gap, workers=args.workers)
    solve = CpSatSolver().solve
    ours = solve(problem, opts)
    show("sitroom (by tracks)", problem, ours)
    base = solve(
        problem, Options(time_limit=args.limit, gap=args.gap, workers=args.workers, hint=False)
    )
    show("baseline (plain)", problem, base)
    print("goals: first schedule <= 5 s; within 5% of the best bound <= 30 s (2 cores)")
    if ours.first_seconds and base.first_seconds:
        ratio = base.first_seconds / ours.first_seconds
        print(f"ratio first schedule baseline / sitroom: {ratio:.1f}x")
    else:
        print(f"ratio first schedule baseline / sitroom: baseline found none in {args.limit:g} s")


if __name__ == "__main__":
    main()
