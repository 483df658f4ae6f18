"""Time as a scheduler sees it: a grid of equal slots in UTC, and who is free in which slot.

A schedule is solved on slots (30 minutes by default) from the start of the horizon. Each
person's working hours are local (a ``domain.week.WorkingWeek``): a mask is built slot by slot
in their own time zone, so daylight-saving changes and a Geneva morning that is a Washington
night come out right. Busy times (imported calendars) and a meeting's window are masks too; a
meeting may start in a slot only when every slot it covers is allowed, which a cumulative sum
answers for all starts at once.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from sitroom.domain.geo import Point, haversine_m
from sitroom.domain.kinds import CALENDAR, CalendarPayload
from sitroom.domain.records import Record, content_id
from sitroom.domain.timeutil import MS_PER_H, MS_PER_MIN, from_ms
from sitroom.domain.week import WorkingWeek

Mask = npt.NDArray[np.bool_]

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


def working_mask(grid: SlotGrid, hours: WorkingWeek) -> Mask:
    """Slots wholly inside working hours, local time (checked at each slot's start and end)."""
    zone = ZoneInfo(hours.timezone)
    allowed = hours.days
    mask = np.zeros(grid.n, dtype=bool)
    for i in range(grid.n):
        lo = from_ms(grid.at(i)).astimezone(zone)
        hi = from_ms(grid.at(i + 1) - 1).astimezone(zone)
        mask[i] = (
            lo.weekday() in allowed
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


def calendar_record(
    resource: str, calendar: str, busy: Sequence[tuple[int, int, str]], *, now_ms: int
) -> Record:
    """One import of one calendar for one resource: its busy (start, end, summary) spans.
    Importing the same busy times again adds nothing, and a newer import of the same calendar
    replaces the older one in the tracks view."""
    payload: CalendarPayload = {
        "resource": resource,
        "calendar": calendar,
        "busy": [list(b) for b in busy],
    }
    return CALENDAR.record(
        id=f"{CALENDAR}:{resource}:{content_id(payload)}",
        source="calendar",
        valid_from=now_ms,
        payload=payload,
    )
