"""Solving a schedule with CP-SAT: the search by parts, or the whole model at once.

The search (``Options.decompose``, on by default) works by parts, the tracks:

- the bound: each track's meetings are solved alone, every other meeting left out and none
  before its earliest start (domain.schedule.earliest_starts: the first start its domain allows
  after its predecessors' earliest ends, which every schedule respects). Each is a relaxation
  of the whole restricted to that track's share of the objective: a schedule of the whole,
  cut down to one track, is a schedule of that track alone at the same cost. So the sum of the
  tracks' proven bounds is a lower bound on the whole objective — well above the bound CP-SAT's
  relaxation of the whole model finds, which cannot see how working hours and a track's shared
  team hold its meetings apart;
- the schedules: the greedy one first; then a list schedule in the order the tracks' own
  optimal schedules give their meetings; then local search: one track, two tracks that share
  people or a precedence, or the company of a few people, re-solved by CP-SAT with everything
  else pinned where it is — as many at once as there are workers, each result checked against
  the schedule it lands in (domain.schedule.clashes) if another landed first;
- last, when the local search has nothing left to try (small problems) or when no list gave
  a schedule, the whole model in one CP-SAT solve, with the best schedule as its hint, domains
  cut to the earliest starts and each track's share of the objective held at or above its
  bound (implied constraints: they change no schedule's meaning, only what the solver sees),
  which proves small problems optimal.

Without it (``decompose=False``) the whole model is handed to CP-SAT at once, with the greedy
schedule as a hint (``hint``); with ``hint=False``, plainly. When no schedule exists, the answer
says why (``explain.py``).

Progress is time: (milliseconds spent, the time limit in milliseconds), told at every step of
the search.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Collection, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass

from ortools.sat.python import cp_model

from sitroom.adapters.cpsat.explain import infeasible
from sitroom.adapters.cpsat.model import Model, new_solver
from sitroom.application.results import Progress
from sitroom.domain.schedule import (
    TRAVELLERS,
    Options,
    Problem,
    Solution,
    attendance,
    clashes,
    cost,
    earliest_starts,
    greedy,
    greedy_order,
    list_schedule,
    lower_bound,
    may_stay,
    part,
    worst,
)


class Ticker:
    """Tells a progress callback how much of the time limit has gone, at most once per
    millisecond; silent without one."""

    def __init__(self, progress: Progress | None, clock: float, limit: float) -> None:
        self.progress = progress
        self.clock = clock
        self.total = max(1, round(limit * 1000))
        self.told = -1

    def __call__(self) -> None:
        if self.progress is None:
            return
        done = min(self.total, round((time.perf_counter() - self.clock) * 1000))
        if done > self.told:
            self.told = done
            self.progress(done, self.total)

    def finish(self) -> None:
        if self.progress is not None:
            self.progress(self.total, self.total)


def solve(
    problem: Problem,
    options: Options | None = None,
    *,
    previous: Mapping[str, int] | None = None,
    not_before: Mapping[str, int] | None = None,
    progress: Progress | None = None,
) -> Solution:
    """The best schedule found within the options' limits. ``previous`` starts are kept where
    they still fit; ``not_before`` holds meetings back (a slip). Infeasible problems come back
    explained."""
    options = options or Options()
    clock = time.perf_counter()
    tick = Ticker(progress, clock, options.time_limit)
    try:
        if any(not problem.starts(mid).any() for mid in problem.meetings):
            return infeasible(problem, not_before, clock, tick)
        if options.hint and options.decompose:
            return _Search(problem, options, previous or {}, not_before or {}, clock, tick).run()
        hint = greedy(problem) if options.hint else None
        whole = _whole(
            problem, options, options.time_limit, previous or {}, not_before, clock, hint, tick
        )
        if whole.status == "infeasible":
            return infeasible(problem, not_before, clock, tick)
        return whole
    finally:
        tick.finish()


def _whole(
    problem: Problem,
    options: Options,
    limit: float,
    previous: Mapping[str, int],
    not_before: Mapping[str, int] | None,
    clock: float,
    hint: Mapping[str, int] | None,
    tick: Callable[[], None] | None = None,
    *,
    hint_attending: Mapping[str, list[str]] | None = None,
    earliest: Mapping[str, int] | None = None,
    cuts: Mapping[str, tuple[Collection[str], int]] | None = None,
    floor: float = -math.inf,
) -> Solution:
    """The whole model in one CP-SAT solve. ``earliest`` cuts the domains and ``cuts`` holds
    each part's share of the objective at or above its bound (both implied); ``floor`` is a
    bound proven elsewhere."""
    model = Model(problem, explain=False, not_before=not_before, earliest=earliest)
    stays = model.keep(previous)
    model.objective(stays)
    for meetings, low in (cuts or {}).values():
        model.at_least(meetings, low)
    if hint is not None:
        kept = {k: v for k, v in previous.items() if k in stays}
        model.hint({**hint, **kept} if hint_attending is None else hint, hint_attending, previous)
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = max(0.01, limit)
    solver.parameters.relative_gap_limit = options.gap
    solver.parameters.num_workers = options.workers
    solver.parameters.random_seed = options.seed
    watch = _Progress(clock, floor, tick)
    status = solver.solve(model.cp, watch)
    if status == cp_model.INFEASIBLE:
        return Solution("infeasible", seconds=time.perf_counter() - clock)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return Solution("unknown", seconds=time.perf_counter() - clock)
    starts = {mid: int(solver.value(v)) for mid, v in model.start.items()}
    # CP-SAT says OPTIMAL once within its gap limit: optimal here means proven, gap 0.
    proven = status == cp_model.OPTIMAL and solver.objective_value <= solver.best_objective_bound
    return Solution(
        status="optimal" if proven else "feasible",
        starts=starts,
        attending={
            mid: [
                *problem.meetings[mid].required,
                *(o for o, lit in model.attend.get(mid, {}).items() if solver.boolean_value(lit)),
            ]
            for mid in problem.meetings
        },
        objective=solver.objective_value,
        bound=max(solver.best_objective_bound, floor),
        moved=sorted(m for m, s in previous.items() if m in starts and starts[m] != s),
        seconds=time.perf_counter() - clock,
        first_seconds=watch.progress[0][0] if watch.progress else None,
        progress=watch.progress,
    )


def track_bound(
    problem: Problem,
    options: Options | None = None,
    *,
    previous: Mapping[str, int] | None = None,
    not_before: Mapping[str, int] | None = None,
) -> float | None:
    """The lower bound the search proves before it looks for schedules: the tracks solved alone
    (see the module text), or every meeting at its cheapest start at or after its earliest one
    if that is more. No schedule of the problem costs less. None when some track alone has no
    schedule."""
    clock = time.perf_counter()
    tick = Ticker(None, clock, 1.0)
    search = _Search(problem, options or Options(), previous or {}, not_before or {}, clock, tick)
    if not search.ready() or search._by_parts() is None:
        return None
    return search.bound


class _Progress(cp_model.CpSolverSolutionCallback):
    """Each schedule CP-SAT finds: when, its objective and the bound then (and a tick)."""

    def __init__(
        self, clock: float, floor: float = -math.inf, tick: Callable[[], None] | None = None
    ) -> None:
        super().__init__()
        self.clock = clock
        self.floor = floor
        self.tick = tick
        self.progress: list[tuple[float, float, float]] = []

    def on_solution_callback(self) -> None:
        self.progress.append(
            (
                time.perf_counter() - self.clock,
                self.objective_value,
                max(self.best_objective_bound, self.floor),
            )
        )
        if self.tick is not None:
            self.tick()


class _Search:
    """Bound by tracks, list schedules, local search, and the whole model last (see the module
    text). Every schedule it keeps is checked against the whole problem's constraints by
    construction: list schedules place only where the problem allows, and local search re-solves
    a part with the rest pinned."""

    def __init__(
        self,
        problem: Problem,
        options: Options,
        previous: Mapping[str, int],
        not_before: Mapping[str, int],
        clock: float,
        tick: Ticker,
    ) -> None:
        self.p = problem
        self.tick = tick
        self.o = options
        self.previous = previous
        self.not_before = not_before
        self.clock = clock
        self.deadline = clock + options.time_limit
        self.stay = {m: s for m, s in previous.items() if m in problem.meetings}
        self.may_stay = {m for m, s in self.stay.items() if may_stay(problem, m, s)}
        self.big = worst(problem) + 1
        self.rng = random.Random(options.seed)
        self.infeasible = False
        self.bound = -math.inf
        self.value: int | None = None
        self.starts: dict[str, int] = {}
        self.attending: dict[str, list[str]] = {}
        self.first: float | None = None
        self.progress: list[tuple[float, float, float]] = []
        self.parts: dict[str, list[str]] = {}  # track -> its meetings
        for mid, m in sorted(problem.meetings.items()):
            self.parts.setdefault(m.track, []).append(mid)
        self.est: dict[str, int] = {}  # meeting -> earliest start
        self.track_bound: dict[str, int] = {}  # track -> bound on its share of the objective
        self.people: dict[str, list[str]] = {}  # person -> meetings they must attend

    def now(self) -> float:
        return time.perf_counter() - self.clock

    def left(self) -> float:
        return self.deadline - time.perf_counter()

    def gap(self) -> float:
        if self.value is None:
            return math.inf
        return abs(self.value - self.bound) / max(1.0, abs(self.value))

    def ready(self) -> bool:
        """Earliest starts and the bound they give; False if some meeting has none."""
        est = earliest_starts(self.p, self.not_before)
        if est is None:
            return False
        self.est = est
        self._bound(lower_bound(self.p, est))
        return True

    def run(self) -> Solution:
        p = self.p
        if not self.ready():
            return infeasible(p, self.not_before, self.clock, self.tick)
        est = self.est
        keep = {m: self.stay[m] for m in self.may_stay}
        for prio in (
            greedy_order(p),
            {mid: (est[mid], -m.weight) for mid, m in p.meetings.items()},
        ):
            self._offer(list_schedule(p, prio, keep=keep, not_before=self.not_before))
        found = self._by_parts()
        if found is None:
            return infeasible(p, self.not_before, self.clock, self.tick)
        if self.gap() > self.o.gap:
            order = {mid: (found.get(mid, est[mid]), -m.weight) for mid, m in p.meetings.items()}
            self._offer(list_schedule(p, order, keep=keep, not_before=self.not_before))
        if self.value is not None:
            self._local()
        if self.gap() > self.o.gap and (self.left() > 0.2 or self.value is None):
            self._whole()
            if self.infeasible:
                return infeasible(p, self.not_before, self.clock, self.tick)
        return self._solution()

    def _record(self) -> None:
        if self.value is not None:
            self.progress.append((self.now(), float(self.value), float(self.bound)))
        self.tick()

    def _bound(self, bound: float) -> None:
        if bound > self.bound:
            self.bound = bound
            self._record()

    def _price(self, starts: Mapping[str, int], attending: Mapping[str, list[str]]) -> int:
        moved = sum(1 for m in starts if m in self.may_stay and starts[m] != self.stay[m])
        return cost(self.p, starts, attending) + self.big * moved

    def _offer(self, starts: dict[str, int]) -> None:
        """A list schedule, if it places every meeting: kept if it is the best so far."""
        if len(starts) < len(self.p.meetings):
            return
        attending = attendance(self.p, starts)
        value = self._price(starts, attending)
        if self.value is None or value < self.value:
            self.value, self.starts, self.attending = value, starts, attending
            if self.first is None:
                self.first = self.now()
            self._record()

    def _by_parts(self) -> dict[str, int] | None:
        """Each track alone: the sum of their bounds bounds the whole, and their schedules give
        an order. None if some track alone has no schedule (nor then has the whole)."""
        # Each track at most a twentieth of the time, all of them about a third of it at most
        # (a track not solved to optimality in its time still gives its solver's bound).
        end = time.perf_counter() + self.o.time_limit / 3

        def alone(mids: list[str]) -> tuple[int, dict[str, int]] | None:
            limit = min(self.o.time_limit / 20, end - time.perf_counter())
            return self._alone(mids, max(0.05, limit))

        with ThreadPoolExecutor(max_workers=max(1, self.o.workers)) as pool:
            done = list(pool.map(alone, self.parts.values()))
        if any(r is None for r in done):
            return None
        self.track_bound = {t: r[0] for t, r in zip(self.parts, done, strict=True) if r is not None}
        self._bound(sum(self.track_bound.values()))
        return {mid: slot for r in done if r is not None for mid, slot in r[1].items()}

    def _alone(self, mids: list[str], limit: float) -> tuple[int, dict[str, int]] | None:
        sub = part(self.p, mids, earliest=self.est)
        model = Model(sub, explain=False, not_before=None)
        stays = model.keep({m: self.stay[m] for m in mids if m in self.may_stay})
        model.objective(stays, self.big)
        # A meeting that could stay where it was, but not in any schedule (it would start
        # before its earliest start), moves: that costs what the whole model charges.
        forced = self.big * sum(1 for m in mids if m in self.may_stay and m not in stays)
        solver = new_solver(limit, 1, self.o.seed)
        status = solver.solve(model.cp)
        if status == cp_model.INFEASIBLE:
            return None
        bound = forced + math.ceil(solver.best_objective_bound - 1e-6)
        if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            return bound, {}
        return bound, {mid: int(solver.value(model.start[mid])) for mid in mids}

    def _local(self) -> None:
        """Local search: re-solve a part of the schedule with everything else pinned where it
        is — one track, two tracks that share people or a precedence, or the meetings of a few
        people and of everyone they meet within two days. Every track alone first, the ones
        furthest from their bound first; then the others drawn at random. As many at once as
        there are workers: a result that lands after another has changed the schedule is
        checked against it before it is taken. Stops at the gap, at the deadline, or when every
        track and pair of tracks has been solved to optimality with no gain near it since."""
        p = self.p
        tracks = list(self.parts)
        share: dict[str, dict[str, int]] = {t: {} for t in tracks}
        uses = {
            t: {r for mid in ms for r in (*p.meetings[mid].required, *p.meetings[mid].optional)}
            for t, ms in self.parts.items()
        }
        for a in tracks:
            for b in tracks:
                if a < b and (n := len(uses[a] & uses[b])):
                    share[a][b] = share[b][a] = n
        for prec in p.precedence:
            a, b = p.meetings[prec.before].track, p.meetings[prec.after].track
            if a != b:
                share[a][b] = share[b][a] = max(share[a].get(b, 0), 1)
        for mid, m in p.meetings.items():
            for rid in m.required:
                if p.resources[rid].type in TRAVELLERS:
                    self.people.setdefault(rid, []).append(mid)
        singles = [frozenset([t]) for t in tracks]
        pairs = {frozenset([a, b]) for a in tracks for b in share[a]}
        spent: set[frozenset[str]] = set()  # solved to optimality, nothing near has changed
        queue = sorted(singles, key=lambda h: (-self._loss(h), sorted(h)))
        workers = max(1, self.o.workers)
        with ThreadPoolExecutor(max_workers=workers) as pool:
            running: dict[Future[_Resolved | None], frozenset[str] | None] = {}
            while True:
                going = self.gap() > self.o.gap and self.left() > 0.3
                while going and len(running) < workers:
                    if queue:
                        hood: frozenset[str] | None = queue.pop(0)
                    else:
                        hood = self._draw(singles, pairs, share, spent)
                        if hood is None and len(spent) >= len(singles) + len(pairs):
                            break
                    if hood is None:
                        mids, limit = self._company(), 1.0
                    else:
                        mids = [m for t in sorted(hood) for m in self.parts[t]]
                        limit = 0.5 if len(hood) == 1 else 1.0
                    limit = min(limit, self.left() - 0.2)
                    job = pool.submit(self._resolve, mids, self.starts, self.attending, limit)
                    running[job] = hood
                if not running:
                    return
                # With a progress bar to move, look up now and then while the solves run.
                every = 0.25 if self.tick.progress is not None else None
                finished, _ = wait(running, timeout=every, return_when=FIRST_COMPLETED)
                self.tick()
                for job in finished:
                    hood = running.pop(job)
                    result = job.result()
                    changed = None if result is None else self._commit(result)
                    if changed:
                        moved = {p.meetings[m].track for m in changed}
                        near = moved | {u for t in moved for u in share[t]}
                        spent = {h for h in spent if near.isdisjoint(h)}
                    elif changed is not None and result and result.proven and hood:
                        spent.add(hood)

    def _loss(self, tracks: Collection[str]) -> int:
        mids = [m for t in tracks for m in self.parts[t]]
        return self._price({m: self.starts[m] for m in mids}, self.attending) - sum(
            self.track_bound.get(t, 0) for t in tracks
        )

    def _draw(
        self,
        singles: list[frozenset[str]],
        pairs: Collection[frozenset[str]],
        share: Mapping[str, Mapping[str, int]],
        spent: set[frozenset[str]],
    ) -> frozenset[str] | None:
        """A neighbourhood at random: half the time (when there are people to follow) the
        company of a few people (None), else a track drawn by how far it is from its bound,
        alone or with another drawn by how much they share (not one already spent)."""
        if self.people and self.rng.random() < 0.5:
            return None
        tracks = [next(iter(h)) for h in singles]
        losses = [max(0, self._loss([t])) + 1 for t in tracks]
        for _ in range(4):
            seed = self.rng.choices(tracks, weights=losses)[0]
            mates = [u for u in share[seed] if frozenset([seed, u]) not in spent]
            if frozenset([seed]) not in spent and (not mates or self.rng.random() < 0.2):
                return frozenset([seed])
            if mates:
                other = self.rng.choices(mates, weights=[share[seed][u] ** 2 for u in mates])
                return frozenset([seed, other[0]])
        fresh = [h for h in (*singles, *sorted(pairs, key=sorted)) if h not in spent]
        return fresh[self.rng.randrange(len(fresh))] if fresh else None

    def _company(self) -> list[str]:
        """The meetings of three people drawn at random, and every meeting that someone in them
        has within two days of it."""
        p = self.p
        near = 2 * 24 * 60 // p.grid.slot_min
        out: set[str] = set()
        who = sorted(self.people)
        for rid in self.rng.sample(who, min(3, len(who))):
            for mid in self.people[rid]:
                out.add(mid)
                for other in p.meetings[mid].required:
                    for nxt in self.people.get(other, ()):
                        if abs(self.starts[nxt] - self.starts[mid]) <= near:
                            out.add(nxt)
        return sorted(out)

    def _resolve(
        self,
        mids: list[str],
        starts: Mapping[str, int],
        attending: Mapping[str, list[str]],
        limit: float,
    ) -> _Resolved | None:
        """Re-solve these meetings with the rest of the schedule (``starts``) pinned."""
        sub = part(self.p, mids, earliest=self.est, fixed=starts, attending=attending)
        model = Model(sub, explain=False, not_before=None)
        stays = model.keep({m: self.stay[m] for m in mids if m in self.may_stay})
        model.objective(stays, self.big)
        model.hint({m: starts[m] for m in sub.meetings}, attending, self.stay)
        solver = new_solver(limit, 1, self.o.seed)
        status = solver.solve(model.cp)
        if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            return None
        return _Resolved(
            base=starts,
            starts={mid: int(solver.value(model.start[mid])) for mid in mids},
            attending={
                mid: [
                    *self.p.meetings[mid].required,
                    *(
                        o
                        for o, lit in model.attend.get(mid, {}).items()
                        if solver.boolean_value(lit)
                    ),
                ]
                for mid in mids
            },
            proven=status == cp_model.OPTIMAL,
        )

    def _commit(self, r: _Resolved) -> set[str] | None:
        """Take a re-solved part if it costs less than what it replaces (and, if the schedule
        changed while it was being solved, still keeps every constraint): the meetings it
        changes, an empty set if it gains nothing, None if it no longer fits."""
        if self.value is None:
            return None
        if r.base is not self.starts:
            starts = {**self.starts, **r.starts}
            attending = {**self.attending, **r.attending}
            if clashes(self.p, starts, attending, r.starts):
                return None
        before = self._price({m: self.starts[m] for m in r.starts}, self.attending)
        after = self._price(r.starts, r.attending)
        if after >= before:
            return set()
        changed = {
            m
            for m, s in r.starts.items()
            if s != self.starts[m] or r.attending[m] != self.attending[m]
        }
        self.starts = {**self.starts, **r.starts}
        self.attending = {**self.attending, **r.attending}
        self.value += after - before
        self._record()
        return changed

    def _whole(self) -> None:
        """The whole model for the time left, from the best schedule so far."""
        cuts = {t: (self.parts[t], low) for t, low in self.track_bound.items()}
        whole = _whole(
            self.p,
            self.o,
            self.left(),
            self.previous,
            self.not_before,
            self.clock,
            self.starts if self.value is not None else greedy(self.p),
            self.tick,
            hint_attending=self.attending if self.value is not None else None,
            earliest=self.est,
            cuts=cuts,
            floor=self.bound,
        )
        if whole.bound is not None:
            self._bound(whole.bound)
        if whole.objective is not None and (self.value is None or whole.objective < self.value):
            best = math.inf if self.value is None else self.value
            self.progress += [x for x in whole.progress if x[1] < best]
            self.value = round(whole.objective)
            self.starts, self.attending = whole.starts, whole.attending
            if self.first is None and whole.first_seconds is not None:
                self.first = whole.first_seconds
            self._record()
        self.infeasible = whole.status == "infeasible"

    def _solution(self) -> Solution:
        seconds = time.perf_counter() - self.clock
        if self.value is None:
            return Solution("unknown", seconds=seconds, bound=self.bound, progress=self.progress)
        return Solution(
            status="optimal" if self.gap() <= 0 else "feasible",  # proven, not within the gap
            starts=self.starts,
            attending=self.attending,
            objective=float(self.value),
            bound=float(self.bound),
            moved=sorted(m for m, s in self.stay.items() if self.starts[m] != s),
            seconds=seconds,
            first_seconds=self.first,
            progress=self.progress,
        )


@dataclass(frozen=True)
class _Resolved:
    base: Mapping[str, int]  # the schedule it was solved against
    starts: dict[str, int]
    attending: dict[str, list[str]]
    proven: bool  # optimal for its part
