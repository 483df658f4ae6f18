"""Schedules solved with OR-Tools CP-SAT: the application's ``Solver`` port.

- ``model.py`` builds the CP-SAT model of a problem (``domain/schedule.Problem``);
- ``search.py`` solves it: a bound by tracks, greedy and list schedules, local search, and the
  whole model last;
- ``explain.py`` says, in words, which constraints rule out every schedule.

OR-Tools is imported when a schedule is first solved, never when this package is.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sitroom.application.results import Progress
    from sitroom.domain.schedule import Options, Problem, Solution

__all__ = ["CpSatSolver"]


class CpSatSolver:
    """The :class:`~sitroom.application.ports.Solver` on CP-SAT."""

    def solve(
        self,
        problem: Problem,
        options: Options | None = None,
        *,
        previous: Mapping[str, int] | None = None,
        not_before: Mapping[str, int] | None = None,
        progress: Progress | None = None,
    ) -> Solution:
        """The best schedule found within the options' limits: ``previous`` starts kept where
        they still fit, ``not_before`` holding meetings back (a slip); an infeasible problem
        comes back explained. ``progress`` is told (milliseconds spent, the time limit)."""
        from sitroom.adapters.cpsat.search import solve

        return solve(problem, options, previous=previous, not_before=not_before, progress=progress)

    def bound(self, problem: Problem, options: Options | None = None) -> float | None:
        """The lower bound the search proves before it looks for schedules (each track solved
        alone): no schedule of the problem costs less. None when some track has none."""
        from sitroom.adapters.cpsat.search import track_bound

        return track_bound(problem, options)
