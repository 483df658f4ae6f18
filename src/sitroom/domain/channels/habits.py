"""A counterpart's reply-time habits, measured in their working time.

A heartbeat shows that a channel carries bits; it says nothing of a person who normally
answers within a morning and has now been silent for two days. So each counterpart's reply
times are learned, and a pending message is overdue when more of the counterpart's *working*
time has passed than their own replies usually take.

Working time is counted in the counterpart's time zone, within their working hours (09:00-18:00
by default) on their working days (Monday to Friday by default). A message sent on Friday at
17:30 and answered on Monday at 10:00 took 1.5 working hours, not 64.5 hours; and a counterpart
accumulates no working time at night or over the weekend, so nobody is overdue merely because
it is Sunday.

The learned bound is the 95th percentile of the most recent replies, by nearest rank (so with
few replies it is the slowest one seen, never an interpolation below it), with a floor of 15
working minutes. Until five replies are in, a default bound (8 working hours) stands in. A
message can also carry an explicit reply-by time; that is a wall-clock deadline and is judged
as such.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum

from sitroom.domain.timeutil import MS_PER_H, MS_PER_MIN, human_age, iso
from sitroom.domain.week import WorkingWeek
from sitroom.errors import UserInputError


@dataclass(frozen=True)
class HabitPolicy:
    quantile: float = 0.95
    min_replies: int = 5
    default_bound_ms: int = 8 * MS_PER_H
    floor_ms: int = 15 * MS_PER_MIN
    # Only recent replies count, so the bound follows a counterpart whose habits change.
    window: int = 50

    def __post_init__(self) -> None:
        if not 0.0 < self.quantile <= 1.0 or self.min_replies < 1 or self.window < 1:
            raise UserInputError("habits need 0 < quantile <= 1, min_replies >= 1, window >= 1")


class OverdueReason(StrEnum):
    HABIT = "habit"
    REPLY_BY = "reply_by"


@dataclass(frozen=True)
class Overdue:
    counterpart: str
    reason: OverdueReason
    sent_ms: int
    at_ms: int
    elapsed_working_ms: int
    bound_ms: int
    explanation: str


@dataclass(frozen=True)
class ReplyHabits:
    """One counterpart's recent reply times, in working milliseconds, oldest first."""

    counterpart: str
    week: WorkingWeek = field(default_factory=WorkingWeek)
    policy: HabitPolicy = HabitPolicy()
    replies: tuple[int, ...] = ()

    def observe(self, sent_ms: int, replied_ms: int) -> ReplyHabits:
        took = self.week.working_ms_between(sent_ms, replied_ms)
        kept = (*self.replies, took)[-self.policy.window :]
        return ReplyHabits(self.counterpart, self.week, self.policy, kept)

    def working_seconds_between(self, start_ms: int, end_ms: int) -> float:
        return self.week.working_seconds_between(start_ms, end_ms)

    def quantile_ms(self, q: float | None = None) -> int | None:
        """The nearest-rank quantile of the replies seen; None until there are enough."""
        n = len(self.replies)
        if n < self.policy.min_replies:
            return None
        rank = max(1, math.ceil((self.policy.quantile if q is None else q) * n))
        return sorted(self.replies)[rank - 1]

    def bound_ms(self) -> int:
        """How much working time may pass before a reply is overdue."""
        learned = self.quantile_ms()
        return max(
            self.policy.floor_ms, self.policy.default_bound_ms if learned is None else learned
        )

    def due_ms(self, sent_ms: int, reply_by_ms: int | None = None) -> int:
        """The first instant at which ``overdue`` will say so: when to check next."""
        by_habit = self.week.add_working_ms(sent_ms, self.bound_ms() + 1)
        return by_habit if reply_by_ms is None else min(by_habit, reply_by_ms + 1)

    def overdue(self, sent_ms: int, now_ms: int, reply_by_ms: int | None = None) -> Overdue | None:
        """Whether a reply to a message sent at ``sent_ms`` is overdue at ``now_ms``: past its
        explicit reply-by time, or past the working time this counterpart's replies usually take.
        """
        elapsed = self.week.working_ms_between(sent_ms, now_ms)
        bound = self.bound_ms()
        who = self.counterpart
        if reply_by_ms is not None and now_ms > reply_by_ms:
            text = (
                f"{who} was asked to reply by {iso(reply_by_ms)}, "
                f"{human_age(now_ms - reply_by_ms)} ago; {_working(elapsed)} have passed"
            )
            return Overdue(who, OverdueReason.REPLY_BY, sent_ms, now_ms, elapsed, bound, text)
        if elapsed <= bound:
            return None
        n = len(self.replies)
        learned = self.quantile_ms()
        if learned is None:
            habit = (
                f"{who} {_replied(n)}, too few to learn from "
                f"({self.policy.min_replies} needed), so the default bound of "
                f"{_working(bound)} applies"
            )
        else:
            pct = f"{self.policy.quantile * 100:g}th percentile of {n} replies"
            if bound > learned:
                pct += f", raised to the floor of {_working(bound)}"
            habit = f"{who} usually replies within {_working(bound)} ({pct})"
        text = f"{habit}; {_working(elapsed)} have passed"
        return Overdue(who, OverdueReason.HABIT, sent_ms, now_ms, elapsed, bound, text)


def _working(ms: int) -> str:
    if ms < MS_PER_H:
        return f"{ms / MS_PER_MIN:.0f} working minutes"
    return f"{ms / MS_PER_H:.1f} working hours"


def _replied(n: int) -> str:
    return (
        "has not replied yet"
        if n == 0
        else "has replied once"
        if n == 1
        else (f"has replied {n} times")
    )
