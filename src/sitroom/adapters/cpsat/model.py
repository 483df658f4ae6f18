"""The CP-SAT model of a scheduling problem.

One start variable per meeting (its domain is where the window, working hours and calendars
allow it to start), a fixed-size interval on it, one no-overlap (capacity 1) or cumulative
(capacity > 1) constraint per resource, pairwise travel gaps for people moving between cities,
precedence as ``end <= start``, and optional attendees as optional intervals that attend only
where they are free. The objective: meetings as early as their track's priority asks, soft
preferences by weight, optional attendees present, and — first of all, when re-solving — as few
meetings moved from where they were as possible.

Built to explain (``explain=True``), every constraint group is enforced by a literal of its own
(an assumption) that carries the group's sentence, so the solver can say which groups conflict
(``explain.py``).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import replace

from ortools.sat.python import cp_model

from sitroom.domain.calendars import Mask, fits, intervals
from sitroom.domain.schedule import TRAVELLERS, Conflict, Problem, may_stay, worst
from sitroom.domain.timeutil import iso


def new_solver(limit: float, workers: int, seed: int) -> cp_model.CpSolver:
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = max(0.01, limit)
    solver.parameters.num_workers = workers
    solver.parameters.random_seed = seed
    return solver


def domain(mask: Mask) -> cp_model.Domain:
    return cp_model.Domain.from_intervals([[a, b] for a, b in intervals(mask)])


class Model:
    """The CP-SAT model of a problem. With ``explain``, every constraint group is enforced by a
    literal of its own (an assumption), so the solver can say which groups conflict."""

    def __init__(
        self,
        problem: Problem,
        *,
        explain: bool,
        not_before: Mapping[str, int] | None,
        earliest: Mapping[str, int] | None = None,
    ) -> None:
        self.p = problem
        self.explain = explain
        self.cp = cp_model.CpModel()
        self.guards: dict[str, tuple[cp_model.IntVar, Conflict]] = {}
        self.start: dict[str, cp_model.IntVar] = {}
        self.attend: dict[str, dict[str, cp_model.IntVar]] = {}
        self.stays: dict[str, cp_model.IntVar] = {}
        self.terms: dict[str, list[cp_model.LinearExprT]] = {}  # meeting -> its objective terms
        self.misses: list[tuple[cp_model.IntVar, str, int]] = []  # (var, meeting, pref index)
        grid = problem.grid
        for mid, m in problem.meetings.items():
            if explain:
                v = self.cp.new_int_var(0, grid.n - m.duration, mid)
                self._within(v, problem.window[mid], f"window:{mid}", self._window_text(mid))
                for rid in m.required:
                    r = problem.resources[rid]
                    hours = problem.hours_for(rid, mid)
                    if r.hours is not None and hours is not None:
                        there = m.zone if hours is not problem.hours[rid] else None
                        week = replace(r.hours, timezone=there) if there else r.hours
                        self._within(
                            v,
                            fits(hours, m.duration),
                            f"hours:{rid}:{mid}",
                            f"{m.title} needs {r.name}, who works {week.describe()}"
                            + (", where the meeting is" if there else ""),
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
                ok = problem.starts(mid)
                if earliest is not None:  # implied: no schedule starts it sooner
                    ok[: earliest[mid]] = False
                v = self.cp.new_int_var_from_domain(domain(ok), mid)
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
        self.cp.add_linear_expression_in_domain(v, domain(mask)).only_enforce_if(
            self._guard(label, sentence)
        )

    def _window_text(self, mid: str) -> str:
        m = self.p.meetings[mid]
        hours = m.duration * self.p.grid.slot_min / 60
        lo, hi = m.window
        if lo is None and hi is None:
            return f"{m.title} ({hours:g}h) must fall within the planning horizon"
        return (
            f"{m.title} ({hours:g}h) must fall between {day_text(lo) or 'the start'} and "
            f"{day_text(hi) or 'the end of the horizon'}"
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
                        self.start[mid], domain(p.free_starts(rid, m.duration, mid))
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
        for mid, slot in previous.items():
            if mid in self.start and may_stay(self.p, mid, slot):
                stay = self.cp.new_bool_var(f"stay:{mid}")
                self.cp.add(self.start[mid] == slot).only_enforce_if(stay)
                self.stays[mid] = stay
        return self.stays

    def objective(self, stays: Mapping[str, cp_model.IntVar], big: int | None = None) -> None:
        """Minimise the schedule's cost; moving a meeting that could stay costs ``big`` (by
        default more than everything else in this model can save)."""
        p = self.p
        n = p.grid.n
        day = 24 * 60 // p.grid.slot_min
        for mid, m in p.meetings.items():
            terms: list[cp_model.LinearExprT] = [m.weight * self.start[mid]]
            for i, pref in enumerate(m.prefer):
                miss = self.cp.new_int_var(0, n, "")
                if pref.kind == "before":
                    self.cp.add(miss >= self.start[mid] + m.duration - pref.at)
                else:
                    self.cp.add(miss >= pref.at - self.start[mid])
                terms.append(pref.weight * miss)
                self.misses.append((miss, mid, i))
            for lit in self.attend.get(mid, {}).values():
                terms.append(day * (1 - lit))
            self.terms[mid] = terms
        # Moving a meeting that could stay costs more than anything else can save.
        move = worst(p) + 1 if big is None else big
        for mid, s in stays.items():
            self.terms[mid].append(move * (1 - s))
        self.cp.minimize(sum(t for terms in self.terms.values() for t in terms))

    def at_least(self, meetings: Collection[str], low: int) -> None:
        """These meetings' share of the objective is at least ``low`` (a proven bound)."""
        self.cp.add(sum(t for mid in meetings for t in self.terms[mid]) >= low)

    def hint(
        self,
        starts: Mapping[str, int],
        attending: Mapping[str, list[str]] | None,
        previous: Mapping[str, int],
    ) -> None:
        """A schedule as the solver's hint: starts, and with ``attending`` everything else."""
        for mid, slot in starts.items():
            if mid in self.start:
                self.cp.add_hint(self.start[mid], slot)
        if attending is None:
            return
        for mid, lits in self.attend.items():
            for rid, lit in lits.items():
                self.cp.add_hint(lit, rid in attending.get(mid, ()))
        for mid, lit in self.stays.items():
            self.cp.add_hint(lit, starts.get(mid) == previous[mid])
        for var, mid, i in self.misses:
            m = self.p.meetings[mid]
            pref = m.prefer[i]
            s = starts[mid]
            miss = s + m.duration - pref.at if pref.kind == "before" else pref.at - s
            self.cp.add_hint(var, max(0, miss))


def day_text(ms: int | None) -> str | None:
    """A time as a sentence says it: '2026-12-10' at midnight, else '2026-12-10 09:30'."""
    text = iso(ms)
    return None if text is None else text[:16].replace("T", " ").replace(" 00:00", "")
