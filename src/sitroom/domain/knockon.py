"""What slips with a slip: the meetings that moved between two schedules, and why each moved.

A meeting moves because the slip itself moved it, because it must follow a meeting that now
ends later (a precondition or an 'after'), or because someone or something it needs is now
taken at its old time by a meeting that moved there. The reasons chain, so each moved meeting
points back towards the slip that started it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sitroom.domain.schedule import Precedence, Problem
from sitroom.domain.timeutil import human_age


@dataclass(frozen=True)
class Move:
    meeting: str
    old: int  # slot
    new: int
    because: str  # one sentence
    cause: str | None  # the moved meeting this one moved for (None: the slip itself)


def knock_on(
    problem: Problem,
    before: Mapping[str, int],
    after: Mapping[str, int],
    slipped: set[str],
    why: str,
) -> list[Move]:
    """Every meeting whose start differs, in the order of its new start, each with a reason
    (``why`` for the ``slipped`` ones: "+3d slip", "the envoy is unavailable ...")."""
    moved = {m for m in after if m in before and after[m] != before[m]}
    preds: dict[str, list[Precedence]] = {}
    for p in problem.precedence:
        preds.setdefault(p.after, []).append(p)
    meetings = problem.meetings
    out = []
    for mid in sorted(moved, key=lambda m: (after[m], m)):
        m = meetings[mid]
        if mid in slipped:
            out.append(Move(mid, before[mid], after[mid], why, None))
            continue
        reason: tuple[str, str] | None = None
        pushed = [
            p
            for p in preds.get(mid, [])
            if p.before in moved and after[p.before] + meetings[p.before].duration > before[mid]
        ]
        if pushed:  # the predecessor that now ends last is the one that holds it back
            p = max(pushed, key=lambda p: (after[p.before] + meetings[p.before].duration, p.before))
            text = f"must follow {meetings[p.before].title}, which moved"
            reason = (p.before, f"{text}: {p.why}" if p.precondition else text)
        if reason is None:
            old = range(before[mid], before[mid] + m.duration)
            for other in sorted(moved - {mid}, key=lambda o: after[o]):
                o = meetings[other]
                new = range(after[other], after[other] + o.duration)
                shared = [
                    r
                    for r in m.required
                    if r in o.required
                    and (_overlaps(old, new) or problem.travel(mid, other) > _distance(old, new))
                ]
                if shared:
                    name = problem.resources[shared[0]].name
                    reason = (
                        other,
                        f"{name} is needed by {o.title} at its old time",
                    )
                    break
        cause, because = reason or (None, "moved to keep the schedule feasible")
        out.append(Move(mid, before[mid], after[mid], because, cause))
    return out


def shift_text(ms: int) -> str:
    """A move forward or back in time, for people: '+3d', '-2h 30m'."""
    return ("+" if ms >= 0 else "-") + human_age(abs(ms))


def _overlaps(a: range, b: range) -> bool:
    return a.start < b.stop and b.start < a.stop


def _distance(a: range, b: range) -> int:
    return max(b.start - a.stop, a.start - b.stop, 0)
