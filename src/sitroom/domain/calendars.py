"""Time as a scheduler sees it: a grid of equal slots in UTC, and who is free in which slot.

A schedule is solved on slots (30 minutes by default) from the start of the horizon. Each
person's working hours are local: a mask is built slot by slot in their own time zone, so
daylight-saving changes and a Geneva morning that is a Washington night come out right. Busy
times (imported calendars) and a meeting's window are masks too; a meeting may start in a slot
only when every slot it covers is allowed, which a cumulative sum answers for all starts at once.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import numpy.typing as npt

from sitroom.domain.geo import Point, haversine_m
from sitroom.domain.timeutil import MS_PER_H, MS_PER_MIN, from_ms
from sitroom.errors import UserInputError

Mask = npt.NDArray[np.bool_]

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
WORKDAYS = DAYS[:5]
_HOURS = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")

# Door to door between two cities: the flight at an airliner's average speed, plus getting to
# and through two airports. Cities closer than this are the same place for a schedule.
FLIGHT_KMH = 700.0
TRANSFER_H = 2.0
SAME_PLACE_KM = 50.0


@dataclass(frozen=True)
class SlotGrid:
    start_ms: int
    slot_min: int
    n: int

    @property
    def slot_ms(self) -> int:
        return self.slot_min * MS_PER_MIN

    def at(self, slot: int) -> int:
        return self.start_ms + slot * self.slot_ms

    def slot_of(self, ms: int) -> int:
        """The first slot starting at or after ``ms`` (clipped to the grid)."""
        return min(self.n, max(0, -((self.start_ms - ms) // self.slot_ms)))

    def slots(self, minutes: int) -> int:
        return max(1, -(-minutes // self.slot_min))

    def window(self, start_ms: int | None, end_ms: int | None) -> Mask:
        mask = np.zeros(self.n, dtype=bool)
        lo = 0 if start_ms is None else self.slot_of(start_ms)
        hi = (
            self.n
            if end_ms is None
            else min(self.n, max(0, (end_ms - self.start_ms) // self.slot_ms))
        )
        mask[lo:hi] = True
        return mask


@dataclass(frozen=True)
class WorkingHours:
    """Local working hours, 'HH:MM-HH:MM' on the given weekdays, in a time zone."""

    timezone: str
    start_min: int
    end_min: int
    days: tuple[str, ...] = WORKDAYS

    def describe(self) -> str:
        span = f"{self.start_min // 60:02d}:{self.start_min % 60:02d}-"
        span += f"{self.end_min // 60:02d}:{self.end_min % 60:02d}"
        return f"{span} {_day_span(self.days)} ({self.timezone})"


def _day_span(days: tuple[str, ...]) -> str:
    """'Mon-Fri', 'Sat-Wed' for a run of days (wrapping round the week), else a list."""
    idx = {DAYS.index(d) for d in days}
    if 1 < len(idx) < 7:
        for first in sorted(idx):
            run = [(first + k) % 7 for k in range(len(idx))]
            if set(run) == idx:
                return f"{DAYS[run[0]].capitalize()}-{DAYS[run[-1]].capitalize()}"
    return ", ".join(d.capitalize() for d in days)


def working_hours(
    hours: str | None, days: list[str] | str | None, timezone: str | None
) -> WorkingHours | None:
    """Read a resource's working hours; None means available around the clock."""
    if not hours:
        return None
    m = _HOURS.match(hours)
    if not m:
        raise UserInputError(f"cannot read working hours {hours!r}: expected HH:MM-HH:MM")
    h1, m1, h2, m2 = (int(x) for x in m.groups())
    start, end = h1 * 60 + m1, h2 * 60 + m2
    if not (0 <= start < end <= 24 * 60) or m1 >= 60 or m2 >= 60:
        raise UserInputError(f"working hours {hours!r} must run forward within one day")
    zone = timezone or "UTC"
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise UserInputError(
            f"unknown time zone {zone!r} (an IANA name such as Europe/Zurich)"
        ) from None
    return WorkingHours(zone, start, end, _days(days))


def _days(days: list[str] | str | None) -> tuple[str, ...]:
    if days is None:
        return WORKDAYS
    raw = [str(d) for d in (days.split(",") if isinstance(days, str) else days)]
    items = [d.strip().casefold()[:3] for d in raw]
    if len(raw) == 1 and raw[0].count("-") == 1:  # 'Mon-Fri' or 'Sun-Thu'
        a, b = (x.strip().casefold()[:3] for x in raw[0].split("-"))
        if a not in DAYS or b not in DAYS:
            raise UserInputError(f"cannot read working days {days!r}")
        i, j = DAYS.index(a), DAYS.index(b)
        items = [DAYS[(i + k) % 7] for k in range((j - i) % 7 + 1)]
    bad = [d for d in items if d not in DAYS]
    if bad:
        raise UserInputError(f"cannot read working days {days!r}: use Mon, Tue, ... Sun")
    return tuple(d for d in DAYS if d in items)


def working_mask(grid: SlotGrid, hours: WorkingHours) -> Mask:
    """Slots wholly inside working hours, local time (checked at each slot's start and end)."""
    zone = ZoneInfo(hours.timezone)
    allowed = set(hours.days)
    mask = np.zeros(grid.n, dtype=bool)
    for i in range(grid.n):
        lo = from_ms(grid.at(i)).astimezone(zone)
        hi = from_ms(grid.at(i + 1) - 1).astimezone(zone)
        mask[i] = (
            DAYS[lo.weekday()] in allowed
            and lo.date() == hi.date()
            and _minute(lo) >= hours.start_min
            and _minute(hi) < hours.end_min
        )
    return mask


def _minute(dt: datetime) -> int:
    return dt.hour * 60 + dt.minute


def busy_mask(grid: SlotGrid, intervals: list[tuple[int, int]]) -> Mask:
    """Slots touched by any busy interval (a partial overlap blocks the whole slot)."""
    mask = np.zeros(grid.n, dtype=bool)
    for start, end in intervals:
        lo = max(0, (start - grid.start_ms) // grid.slot_ms)
        hi = min(grid.n, -((grid.start_ms - end) // grid.slot_ms))
        if hi > lo:
            mask[lo:hi] = True
    return mask


def fits(free: Mask, duration: int) -> Mask:
    """Start slots from which ``duration`` consecutive slots are all free."""
    n = len(free)
    out = np.zeros(n, dtype=bool)
    if duration > n:
        return out
    run = np.concatenate(([0], np.cumsum(~free)))
    out[: n - duration + 1] = (run[duration:] - run[: n - duration + 1]) == 0
    return out


def intervals(mask: Mask) -> list[tuple[int, int]]:
    """The runs of True in a mask, as inclusive (first, last) pairs."""
    edges = np.flatnonzero(np.diff(np.concatenate(([0], mask.astype(np.int8), [0]))))
    return [(int(a), int(b) - 1) for a, b in zip(edges[::2], edges[1::2], strict=True)]


def travel_slots(a: Point | None, b: Point | None, slot_min: int) -> int:
    """Slots needed to get from one venue to another (0 when either is unknown or they are the
    same city)."""
    if a is None or b is None:
        return 0
    km = float(haversine_m([b.lat], [b.lon], a)[0]) / 1000.0
    if km < SAME_PLACE_KM:
        return 0
    hours = km / FLIGHT_KMH + TRANSFER_H
    return math.ceil(hours * MS_PER_H / (slot_min * MS_PER_MIN))
