"""Schedules solved with OR-Tools CP-SAT, infeasibility explained in words, and re-solves that
keep what they can.

The model: one start variable per meeting (its domain is where the window, working hours and
calendars allow it to start), a fixed-size interval on it, one no-overlap (capacity 1) or
cumulative (capacity > 1) constraint per resource, pairwise travel gaps for people moving between
cities, precedence as ``end <= start``, and optional attendees as optional intervals that attend
only where they are free. The objective: meetings as early as their track's priority asks, soft
preferences by weight, optional attendees present, and — first of all, when re-solving — as few
meetings moved from where they were as possible.

When no schedule exists the same model is built again with every constraint group behind an
assumption literal; CP-SAT returns a set of assumptions that cannot hold together, and a deletion
pass shrinks it to a set where every member is needed. Those groups are the explanation.

A greedy schedule (domain.schedule.greedy) is handed to the solver as a hint: with it, the first
schedule comes at once, and the solver spends its time closing the gap to its bound.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from ortools.sat.python import cp_model

from sitroom.domain.calendars import Mask, fits, intervals
from sitroom.domain.schedule import TRAVELLERS, Problem, greedy
from sitroom.domain.timeutil import iso


@dataclass(frozen=True)
class Conflict:
    label: str
    sentence: str


@dataclass
class Solution:
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


@dataclass(frozen=True)
class Options:
    time_limit: float = 30.0
    gap: float = 0.01  # stop when within this fraction of the best bound
    workers: int = 2
    hint: bool = True  # the greedy schedule as a hint (the benchmark's baseline turns it off)
    seed: int = 7


def solve(
    problem: Problem,
    options: Options = Options(),
    *,
    previous: Mapping[str, int] | None = None,
    not_before: Mapping[str, int] | None = None,
) -> Solution:
    """The best schedule found within the options' limits. ``previous`` starts are kept where
    they still fit; ``not_before`` holds meetings back (a slip). Infeasible problems come back
    explained."""
    clock = time.perf_counter()
    if any(not problem.starts(mid).any() for mid in problem.meetings):
        return _infeasible(problem, not_before, clock)
    model = _Model(problem, explain=False, not_before=not_before)
    stays = model.keep(previous or {})
    model.objective(stays)
    if options.hint:
        hint = {**greedy(problem), **{k: v for k, v in (previous or {}).items() if k in stays}}
        for mid, slot in hint.items():
            model.cp.add_hint(model.start[mid], slot)
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = options.time_limit
    solver.parameters.relative_gap_limit = options.gap
    solver.parameters.num_workers = options.workers
    solver.parameters.random_seed = options.seed
    watch = _Progress(clock)
    status = solver.solve(model.cp, watch)
    if status == cp_model.INFEASIBLE:
        return _infeasible(problem, not_before, clock)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return Solution("unknown", seconds=time.perf_counter() - clock)
    starts = {mid: int(solver.value(v)) for mid, v in model.start.items()}
    return Solution(
        status="optimal" if status == cp_model.OPTIMAL else "feasible",
        starts=starts,
        attending={
            mid: [
                *problem.meetings[mid].required,
                *(o for o, lit in model.attend.get(mid, {}).items() if solver.boolean_value(lit)),
            ]
            for mid in problem.meetings
        },
        objective=solver.objective_value,
        bound=solver.best_objective_bound,
        moved=sorted(m for m, s in (previous or {}).items() if m in starts and starts[m] != s),
        seconds=time.perf_counter() - clock,
        first_seconds=watch.progress[0][0] if watch.progress else None,
        progress=watch.progress,
    )


class _Progress(cp_model.CpSolverSolutionCallback):
    def __init__(self, clock: float) -> None:
        super().__init__()
        self.clock = clock
        self.progress: list[tuple[float, float, float]] = []

    def on_solution_callback(self) -> None:
        self.progress.append(
            (time.perf_counter() - self.clock, self.objective_value, self.best_objective_bound)
        )


def _domain(mask: Mask) -> cp_model.Domain:
    return cp_model.Domain.from_intervals([[a, b] for a, b in intervals(mask)])


class _Model:
    """The CP-SAT model of a problem. With ``explain``, every constraint group is enforced by a
    literal of its own (an assumption), so the solver can say which groups conflict."""

    def __init__(
        self, problem: Problem, *, explain: bool, not_before: Mapping[str, int] | None
    ) -> None:
        self.p = problem
        self.explain = explain
        self.cp = cp_model.CpModel()
        self.guards: dict[str, tuple[cp_model.IntVar, Conflict]] = {}
        self.start: dict[str, cp_model.IntVar] = {}
        self.attend: dict[str, dict[str, cp_model.IntVar]] = {}
        grid = problem.grid
        for mid, m in problem.meetings.items():
            if explain:
                v = self.cp.new_int_var(0, grid.n - m.duration, mid)
                self._within(v, problem.window[mid], f"window:{mid}", self._window_text(mid))
                for rid in m.required:
                    r = problem.resources[rid]
                    if r.hours is not None:
                        self._within(
                            v,
                            fits(problem.hours[rid], m.duration),
                            f"hours:{rid}:{mid}",
                            f"{m.title} needs {r.name}, who works {r.hours.describe()}",
                        )
                    if rid in problem.busy:
                        self._within(
                            v,
                            fits(~problem.busy[rid], m.duration),
                            f"busy:{rid}:{mid}",
                            f"{m.title} needs {r.name}, who is busy at times, as the calendar "
                            f"says ({problem.busy_text[rid]})",
                        )
            else:
                v = self.cp.new_int_var_from_domain(_domain(problem.starts(mid)), mid)
            self.start[mid] = v
        for mid, slot in (not_before or {}).items():
            g = self._guard(
                f"slip:{mid}",
                f"{problem.meetings[mid].title} slips to {iso(grid.at(slot))} at the earliest",
            )
            self.cp.add(self.start[mid] >= slot).only_enforce_if(g)
        self._resources()
        for prec in problem.precedence:
            g = self._guard(f"after:{prec.group}", prec.why)
            before = problem.meetings[prec.before]
            self.cp.add(
                self.start[prec.before] + before.duration <= self.start[prec.after]
            ).only_enforce_if(g)

    def _guard(self, label: str, sentence: str) -> list[cp_model.IntVar]:
        if not self.explain:
            return []
        if label not in self.guards:
            self.guards[label] = (self.cp.new_bool_var(label), Conflict(label, sentence))
        return [self.guards[label][0]]

    def _within(self, v: cp_model.IntVar, mask: Mask, label: str, sentence: str) -> None:
        self.cp.add_linear_expression_in_domain(v, _domain(mask)).only_enforce_if(
            self._guard(label, sentence)
        )

    def _window_text(self, mid: str) -> str:
        m = self.p.meetings[mid]
        hours = m.duration * self.p.grid.slot_min / 60
        lo, hi = m.window
        if lo is None and hi is None:
            return f"{m.title} ({hours:g}h) must fall within the planning horizon"
        return (
            f"{m.title} ({hours:g}h) must fall between {_day(lo) or 'the start'} and "
            f"{_day(hi) or 'the end of the horizon'}"
        )

    def _resources(self) -> None:
        p = self.p
        users: dict[str, list[tuple[str, cp_model.IntVar | None]]] = {r: [] for r in p.resources}
        for mid, m in p.meetings.items():
            for rid in m.required:
                users[rid].append((mid, None))
            if not self.explain:  # optional attendees never make a schedule impossible
                for rid in m.optional:
                    if rid in m.required:
                        continue
                    lit = self.cp.new_bool_var(f"{mid}+{rid}")
                    self.attend.setdefault(mid, {})[rid] = lit
                    self.cp.add_linear_expression_in_domain(
                        self.start[mid], _domain(p.free_starts(rid, m.duration))
                    ).only_enforce_if(lit)
                    users[rid].append((mid, lit))
        for rid, used in users.items():
            r = p.resources[rid]
            if len(used) < 2:
                continue
            g = self._guard(
                f"capacity:{rid}",
                f"{r.name} can be in only one meeting at a time"
                if r.capacity == 1
                else f"{r.name} can hold at most {r.capacity} meetings at once",
            )
            spans = []
            for mid, attends in used:
                # In explain mode only required attendees take part, so at most one literal.
                present = attends if attends is not None else g[0] if g else None
                d = p.meetings[mid].duration
                spans.append(
                    self.cp.new_fixed_size_interval_var(self.start[mid], d, "")
                    if present is None
                    else self.cp.new_optional_fixed_size_interval_var(
                        self.start[mid], d, present, ""
                    )
                )
            if len(used) > r.capacity:
                if r.capacity == 1:
                    self.cp.add_no_overlap(spans)
                else:
                    self.cp.add_cumulative(spans, [1] * len(spans), r.capacity)
            if r.type in TRAVELLERS:
                self._travel(rid, used)

    def _travel(self, rid: str, used: list[tuple[str, cp_model.IntVar | None]]) -> None:
        """Between two meetings in different cities, a person needs the time to get there."""
        p = self.p
        pairs = [
            (a, la, b, lb, gap)
            for i, (a, la) in enumerate(used)
            for b, lb in used[i + 1 :]
            if (gap := p.travel(a, b))
        ]
        if not pairs:
            return
        a, _, b, _, gap = max(pairs, key=lambda x: x[4])
        g = self._guard(
            f"travel:{rid}",
            f"{p.resources[rid].name} needs time to travel between venues "
            f"({p.venue_name(a)} to {p.venue_name(b)}: {gap * p.grid.slot_min / 60:g}h)",
        )
        for a, la, b, lb, gap in pairs:
            when = [*g, *(x for x in (la, lb) if x is not None)]
            first = self.cp.new_bool_var("")
            da, db = p.meetings[a].duration, p.meetings[b].duration
            self.cp.add(self.start[a] + da + gap <= self.start[b]).only_enforce_if([*when, first])
            self.cp.add(self.start[b] + db + gap <= self.start[a]).only_enforce_if(
                [*when, first.negated()]
            )

    def keep(self, previous: Mapping[str, int]) -> dict[str, cp_model.IntVar]:
        """A 'stays' literal for each meeting whose previous start is still allowed."""
        stays = {}
        for mid, slot in previous.items():
            if mid in self.start and 0 <= slot < self.p.grid.n and self.p.starts(mid)[slot]:
                stay = self.cp.new_bool_var(f"stay:{mid}")
                self.cp.add(self.start[mid] == slot).only_enforce_if(stay)
                stays[mid] = stay
        return stays

    def objective(self, stays: Mapping[str, cp_model.IntVar]) -> None:
        p = self.p
        n = p.grid.n
        day = 24 * 60 // p.grid.slot_min
        terms: list[cp_model.LinearExprT] = []
        worst = 0
        for mid, m in p.meetings.items():
            terms.append(m.weight * self.start[mid])
            worst += m.weight * n
            for pref in m.prefer:
                miss = self.cp.new_int_var(0, n, "")
                if pref.kind == "before":
                    self.cp.add(miss >= self.start[mid] + m.duration - pref.at)
                else:
                    self.cp.add(miss >= pref.at - self.start[mid])
                terms.append(pref.weight * miss)
                worst += pref.weight * n
            for lit in self.attend.get(mid, {}).values():
                terms.append(day * (1 - lit))
                worst += day
        # Moving a meeting that could stay costs more than anything else can save.
        terms += [(worst + 1) * (1 - s) for s in stays.values()]
        self.cp.minimize(sum(terms))


def _day(ms: int | None) -> str | None:
    text = iso(ms)
    return None if text is None else text[:16].replace("T", " ").replace(" 00:00", "")


def _infeasible(problem: Problem, not_before: Mapping[str, int] | None, clock: float) -> Solution:
    return Solution(
        "infeasible",
        conflict=explain(problem, not_before=not_before),
        seconds=time.perf_counter() - clock,
    )


def explain(
    problem: Problem, *, not_before: Mapping[str, int] | None = None, time_limit: float = 10.0
) -> list[Conflict]:
    """The smallest set of constraint groups found that cannot all hold: every group in it is
    needed for the conflict (removing any one makes the rest satisfiable)."""
    model = _Model(problem, explain=True, not_before=not_before)
    by_index = {lit.index: label for label, (lit, _) in model.guards.items()}

    def infeasible(labels: list[str]) -> tuple[bool, list[str]]:
        model.cp.clear_assumptions()
        model.cp.add_assumptions([model.guards[label][0] for label in labels])
        solver = cp_model.CpSolver()
        # Assumption cores are only sound without presolve, on one worker.
        solver.parameters.cp_model_presolve = False
        solver.parameters.num_workers = 1
        solver.parameters.max_time_in_seconds = time_limit
        status = solver.solve(model.cp)
        if status != cp_model.INFEASIBLE:
            return False, []
        core = [
            by_index[i] for i in solver.sufficient_assumptions_for_infeasibility() if i in by_index
        ]
        return True, core

    labels = sorted(model.guards)
    found, core = infeasible(labels)
    if not found:
        return []
    if core and infeasible(core)[0]:
        labels = core
    for label in list(labels):
        trial = [x for x in labels if x != label]
        if trial and infeasible(trial)[0]:
            labels = trial
    grid = problem.grid
    # Every conflict also rests on the horizon: no meeting is placed outside it.
    horizon = Conflict(
        "horizon",
        f"everything happens within the planning horizon, {_day(grid.start_ms)} to "
        f"{_day(grid.at(grid.n))}",
    )
    return [*(model.guards[label][1] for label in labels), horizon]
