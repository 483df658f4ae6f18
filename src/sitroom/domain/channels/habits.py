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
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sitroom.domain.timeutil import MS_PER_H, MS_PER_MIN, from_ms, human_age, iso, to_ms
from sitroom.errors import UserInputError

DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_HOURS = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


@dataclass(frozen=True)
class WorkingWeek:
    """Working hours (minutes after local midnight) on working days (Monday = 0), in a zone."""

    timezone: str = "UTC"
    start_min: int = 9 * 60
    end_min: int = 18 * 60
    days: frozenset[int] = frozenset(range(5))

    def __post_init__(self) -> None:
        if not 0 <= self.start_min < self.end_min <= 24 * 60:
            raise UserInputError("working hours must run forward within one day")
        if not self.days or not self.days <= frozenset(range(7)):
            raise UserInputError("working days must be a non-empty set of weekdays 0-6")
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise UserInputError(
                f"unknown time zone {self.timezone!r} (an IANA name such as Europe/Zurich)"
            ) from None

    @classmethod
    def parse(cls, timezone: str, hours: str = "09:00-18:00", days: str = "Mon-Fri") -> WorkingWeek:
        """From the forms people type: 'HH:MM-HH:MM' and 'Mon-Fri' or 'Sun,Mon,Tue'."""
        m = _HOURS.match(hours)
        if not m:
            raise UserInputError(f"cannot read working hours {hours!r}: expected HH:MM-HH:MM")
        h1, m1, h2, m2 = (int(x) for x in m.groups())
        if m1 >= 60 or m2 >= 60:
            raise UserInputError(f"cannot read working hours {hours!r}")
        return cls(timezone, h1 * 60 + m1, h2 * 60 + m2, _parse_days(days))

    def describe(self) -> str:
        span = f"{self.start_min // 60:02d}:{self.start_min % 60:02d}-"
        span += f"{self.end_min // 60:02d}:{self.end_min % 60:02d}"
        return f"{span} {_describe_days(self.days)} ({self.timezone})"

    def working_ms_between(self, start_ms: int, end_ms: int) -> int:
        """Working time between two instants, in milliseconds (0 when end is not after start)."""
        total = 0
        for lo, hi in self._windows(start_ms, end_ms):
            total += max(0, min(hi, end_ms) - max(lo, start_ms))
        return total

    def working_seconds_between(self, start_ms: int, end_ms: int) -> float:
        return self.working_ms_between(start_ms, end_ms) / 1000.0

    def add_working_ms(self, start_ms: int, work_ms: int) -> int:
        """The instant at which ``work_ms`` of working time will have passed since start."""
        if work_ms <= 0:
            return start_ms
        left = work_ms
        for lo, hi in self._windows(start_ms, None):
            begin = max(lo, start_ms)
            if hi <= begin:
                continue
            if left <= hi - begin:
                return begin + left
            left -= hi - begin
        raise AssertionError("unreachable: a working week has working time every week")

    def _windows(self, start_ms: int, end_ms: int | None) -> _Windows:
        return _Windows(self, start_ms, end_ms)


class _Windows:
    """Each working day's [start, end) in epoch ms, from the local day of ``start_ms`` on.

    Local wall times are built day by day, so a daylight-saving change moves 09:00 with it.
    """

    def __init__(self, week: WorkingWeek, start_ms: int, end_ms: int | None) -> None:
        self.week = week
        self.zone = ZoneInfo(week.timezone)
        self.day = from_ms(start_ms).astimezone(self.zone).date()
        self.last = None if end_ms is None else from_ms(end_ms).astimezone(self.zone).date()

    def __iter__(self) -> _Windows:
        return self

    def __next__(self) -> tuple[int, int]:
        while self.last is None or self.day <= self.last:
            d: date = self.day
            self.day = d + timedelta(days=1)
            if d.weekday() in self.week.days:
                midnight = datetime(d.year, d.month, d.day, tzinfo=self.zone)
                lo = to_ms(midnight + timedelta(minutes=self.week.start_min))
                hi = to_ms(midnight + timedelta(minutes=self.week.end_min))
                return lo, hi
        raise StopIteration


def _describe_days(days: frozenset[int]) -> str:
    """'Mon-Fri', 'Sat-Wed' (a run that wraps around the week), or 'Mon,Wed,Fri'."""
    if len(days) == 7:
        return "Mon-Sun"
    # A contiguous run starts on the day whose previous day is not worked.
    starts = [d for d in sorted(days) if (d - 1) % 7 not in days]
    if len(starts) == 1 and len(days) > 1:
        first = starts[0]
        return f"{DAY_NAMES[first]}-{DAY_NAMES[(first + len(days) - 1) % 7]}"
    return ",".join(DAY_NAMES[d] for d in sorted(days))


def _parse_days(text: str) -> frozenset[int]:
    names = [n.casefold() for n in DAY_NAMES]
    parts = [p.strip().casefold()[:3] for p in text.split(",")]
    if len(parts) == 1 and "-" in text:
        a, b = (x.strip().casefold()[:3] for x in text.split("-", 1))
        if a not in names or b not in names:
            raise UserInputError(f"cannot read working days {text!r}")
        i, j = names.index(a), names.index(b)
        return frozenset((i + k) % 7 for k in range((j - i) % 7 + 1))
    if any(p not in names for p in parts):
        raise UserInputError(f"cannot read working days {text!r}: use Mon, Tue, ... Sun")
    return frozenset(names.index(p) for p in parts)


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
    week: WorkingWeek = WorkingWeek()
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
