"""Infeasibility in words: when no schedule exists, which constraints cannot all hold.

The model is built again with every constraint group behind an assumption literal
(``Model(explain=True)``); CP-SAT returns a set of assumptions that cannot hold together, and a
deletion pass shrinks it to a set where every member is needed. Those groups' sentences — and
the planning horizon, on which every conflict also rests — are the explanation.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from ortools.sat.python import cp_model

from sitroom.adapters.cpsat.model import Model, day_text
from sitroom.domain.schedule import Conflict, Problem, Solution


def infeasible(
    problem: Problem,
    not_before: Mapping[str, int] | None,
    clock: float,
    step: Callable[[], None] | None = None,
) -> Solution:
    """The answer when no schedule exists: the conflict that rules one out."""
    return Solution(
        "infeasible",
        conflict=explain(problem, not_before=not_before, step=step),
        seconds=time.perf_counter() - clock,
    )


def explain(
    problem: Problem,
    *,
    not_before: Mapping[str, int] | None = None,
    time_limit: float = 10.0,
    step: Callable[[], None] | None = None,
) -> list[Conflict]:
    """The smallest set of constraint groups found that cannot all hold: every group in it is
    needed for the conflict (removing any one makes the rest satisfiable). ``step`` is called
    after each trial solve (a progress bar's tick)."""
    model = Model(problem, explain=True, not_before=not_before)
    by_index = {lit.index: label for label, (lit, _) in model.guards.items()}

    def conflicting(labels: list[str]) -> tuple[bool, list[str]]:
        model.cp.clear_assumptions()
        model.cp.add_assumptions([model.guards[label][0] for label in labels])
        solver = cp_model.CpSolver()
        # Assumption cores are only sound without presolve, on one worker.
        solver.parameters.cp_model_presolve = False
        solver.parameters.num_workers = 1
        solver.parameters.max_time_in_seconds = time_limit
        status = solver.solve(model.cp)
        if step is not None:
            step()
        if status != cp_model.INFEASIBLE:
            return False, []
        core = [
            by_index[i] for i in solver.sufficient_assumptions_for_infeasibility() if i in by_index
        ]
        return True, core

    labels = sorted(model.guards)
    found, core = conflicting(labels)
    if not found:
        return []
    if core and conflicting(core)[0]:
        labels = core
    for label in list(labels):
        trial = [x for x in labels if x != label]
        if trial and conflicting(trial)[0]:
            labels = trial
    grid = problem.grid
    # Every conflict also rests on the horizon: no meeting is placed outside it.
    horizon = Conflict(
        "horizon",
        f"everything happens within the planning horizon, {day_text(grid.start_ms)} to "
        f"{day_text(grid.at(grid.n))}",
    )
    return [*(model.guards[label][1] for label in labels), horizon]
