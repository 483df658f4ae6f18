"""A working week: the hours someone works, on which days, in their own time zone.

One type for everyone who counts working time: the scheduler keeps meetings inside the
working hours of those who must attend (``domain/calendars.working_mask``), and a channel
measures a counterpart's reply times in their working time (``domain/channels/habits``).

Hours are local wall-clock minutes after midnight, days are weekdays (Monday = 0), and local
times are built day by day, so a daylight-saving change moves 09:00 with it and a Geneva
morning that is a Washington night comes out right.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sitroom.domain.timeutil import from_ms, to_ms
from sitroom.domain.wording import shown
from sitroom.errors import UserInputError

DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
WORKDAYS = frozenset(range(5))
_HOURS = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


@dataclass(frozen=True)
class WorkingWeek:
    """Working hours (minutes after local midnight) on working days (Monday = 0), in a zone."""

    timezone: str = "UTC"
    start_min: int = 9 * 60
    end_min: int = 18 * 60
    days: frozenset[int] = WORKDAYS
    closed: frozenset[date] = frozenset()  # local dates off: holidays (Nowruz, Eid...)
    # Periods of other hours (first day, last day, start, end minutes): Ramadan's short days.
    shorter: tuple[tuple[date, date, int, int], ...] = ()

    def __post_init__(self) -> None:
        if not 0 <= self.start_min < self.end_min <= 24 * 60:
            raise UserInputError("working hours must run forward within one day")
        if not self.days or not self.days <= frozenset(range(7)):
            raise UserInputError("working days must be a non-empty set of weekdays 0-6")
        zone(self.timezone)

    @classmethod
    def parse(
        cls,
        timezone: str | None = None,
        hours: str = "09:00-18:00",
        days: str | Sequence[str] | None = "Mon-Fri",
        *,
        closed: Sequence[str] = (),
        shorter: Sequence[str] = (),
    ) -> WorkingWeek:
        """From the forms people type: hours 'HH:MM-HH:MM'; days 'Mon-Fri', 'Sun-Thu' (a run
        that may wrap round the week), 'Sun,Mon,Tue' or a list of day names (None: Monday to
        Friday); a time zone by its IANA name (None: UTC); days off (:func:`parse_closed`) and
        periods of other hours (:func:`parse_shorter`)."""
        start, end = parse_hours(hours)
        return cls(
            timezone or "UTC",
            start,
            end,
            parse_days(days),
            parse_closed(closed),
            parse_shorter(shorter),
        )

    @classmethod
    def of(
        cls, hours: str | None, days: str | Sequence[str] | None, timezone: str | None
    ) -> WorkingWeek | None:
        """A resource's working week as a track file gives it; None (no hours): available
        around the clock. A time zone is checked even without hours: it places the person."""
        if hours:
            return cls.parse(timezone, hours, days)
        if timezone is not None:
            zone(str(timezone))
        return None

    def describe(self) -> str:
        span = f"{self.start_min // 60:02d}:{self.start_min % 60:02d}-"
        span += f"{self.end_min // 60:02d}:{self.end_min % 60:02d}"
        return f"{span} {describe_days(self.days)} ({self.timezone})"

    def working_ms_between(self, start_ms: int, end_ms: int) -> int:
        """Working time between two instants, in milliseconds (0 when end is not after start)."""
        total = 0
        for lo, hi in self.windows(start_ms, end_ms):
            total += max(0, min(hi, end_ms) - max(lo, start_ms))
        return total

    def working_seconds_between(self, start_ms: int, end_ms: int) -> float:
        return self.working_ms_between(start_ms, end_ms) / 1000.0

    def add_working_ms(self, start_ms: int, work_ms: int) -> int:
        """The instant at which ``work_ms`` of working time will have passed since start."""
        if work_ms <= 0:
            return start_ms
        left = work_ms
        for lo, hi in self.windows(start_ms, None):
            begin = max(lo, start_ms)
            if hi <= begin:
                continue
            if left <= hi - begin:
                return begin + left
            left -= hi - begin
        raise AssertionError("unreachable: a working week has working time every week")

    def windows(self, start_ms: int, end_ms: int | None) -> Iterator[tuple[int, int]]:
        """Each working day's [start, end) in epoch ms, from the local day of ``start_ms`` to
        that of ``end_ms`` (None: for ever)."""
        tz = zone(self.timezone)
        day: date = from_ms(start_ms).astimezone(tz).date()
        last = None if end_ms is None else from_ms(end_ms).astimezone(tz).date()
        while last is None or day <= last:
            if day.weekday() in self.days and day not in self.closed:
                midnight = datetime(day.year, day.month, day.day, tzinfo=tz)
                start, end = self.hours_on(day)
                yield (
                    to_ms(midnight + timedelta(minutes=start)),
                    to_ms(midnight + timedelta(minutes=end)),
                )
            day += timedelta(days=1)

    def hours_on(self, day: date) -> tuple[int, int]:
        """The working hours of a local day: a period's shorter ones, or the usual."""
        for first, last, start, end in self.shorter:
            if first <= day <= last:
                return start, end
        return self.start_min, self.end_min


def parse_hours(hours: str) -> tuple[int, int]:
    """'HH:MM-HH:MM' as (start, end) minutes after local midnight."""
    m = _HOURS.match(hours) if isinstance(hours, str) else None
    if not m:
        raise UserInputError(f"cannot read working hours {shown(hours)}: expected HH:MM-HH:MM")
    h1, m1, h2, m2 = (int(x) for x in m.groups())
    if m1 >= 60 or m2 >= 60:
        raise UserInputError(f"cannot read working hours {hours!r}")
    start, end = h1 * 60 + m1, h2 * 60 + m2
    if not 0 <= start < end <= 24 * 60:
        raise UserInputError(f"working hours {hours!r} must run forward within one day")
    return start, end


def parse_shorter(texts: Sequence[str]) -> tuple[tuple[date, date, int, int], ...]:
    """Periods of other hours: '2027-02-18..2027-03-19 09:00-14:00' (Ramadan's short days)."""
    out = []
    for text in texts:
        span, _, hours = str(text).strip().partition(" ")
        if not hours.strip():
            raise UserInputError(
                f"cannot read {text!r}: a period and its hours, 2027-02-18..2027-03-19 09:00-14:00"
            )
        days = sorted(parse_closed([span]))
        out.append((days[0], days[-1], *parse_hours(hours)))
    return tuple(out)


def parse_closed(texts: Sequence[str]) -> frozenset[date]:
    """Days off from the forms people type: '2027-03-21' or a range '2027-03-20..2027-03-24'
    (both ends included), at most a year each."""
    out: set[date] = set()
    for text in texts:
        first, _, last = str(text).partition("..")
        try:
            lo = date.fromisoformat(first.strip())
            hi = date.fromisoformat(last.strip()) if last else lo
        except ValueError:
            raise UserInputError(
                f"cannot read days off {text!r}: a date 2027-03-21 or 2027-03-20..2027-03-24"
            ) from None
        if not 0 <= (hi - lo).days <= 366:  # not lo + 366 days: past 9999-12-31 it overflows
            raise UserInputError(f"days off {text!r} must run forward, for a year at most")
        out.update(lo + timedelta(days=k) for k in range((hi - lo).days + 1))
    return frozenset(out)


def zone(name: str) -> ZoneInfo:
    try:
        if not isinstance(name, str):  # a file's number or list
            raise ValueError
        return ZoneInfo(name)
    # A name is a path under the zone database: 'Europe' is a folder, and a long one is too long.
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise UserInputError(
            f"unknown time zone {shown(name)} (an IANA name such as Europe/Zurich)"
        ) from None


def parse_days(days: str | Sequence[str] | None) -> frozenset[int]:
    """Weekdays (Monday = 0) from 'Mon-Fri', 'Sat-Wed', 'Sun,Mon' or a list of names."""
    if days is None:
        return WORKDAYS
    if not isinstance(days, str | list | tuple):  # a file's number or mapping
        raise UserInputError(f"cannot read working days {shown(days)}: use Mon, Tue, ... Sun")
    raw = [str(d) for d in (days.split(",") if isinstance(days, str) else days)]
    names = [n.casefold() for n in DAY_NAMES]
    if len(raw) == 1 and raw[0].count("-") == 1:  # a run: 'Mon-Fri' or 'Sun-Thu'
        a, b = (x.strip().casefold()[:3] for x in raw[0].split("-"))
        if a not in names or b not in names:
            raise UserInputError(f"cannot read working days {shown(days)}")
        i, j = names.index(a), names.index(b)
        return frozenset((i + k) % 7 for k in range((j - i) % 7 + 1))
    items = [d.strip().casefold()[:3] for d in raw]
    if not items or any(d not in names for d in items):
        raise UserInputError(f"cannot read working days {shown(days)}: use Mon, Tue, ... Sun")
    return frozenset(names.index(d) for d in items)


def describe_days(days: frozenset[int]) -> str:
    """'Mon-Fri', 'Sat-Wed' (a run that wraps round the week), 'Mon-Sun', or 'Mon,Wed,Fri'."""
    if len(days) == 7:
        return "Mon-Sun"
    # A run starts on the day whose previous day is not worked.
    starts = [d for d in sorted(days) if (d - 1) % 7 not in days]
    if len(starts) == 1 and len(days) > 1:
        first = starts[0]
        return f"{DAY_NAMES[first]}-{DAY_NAMES[(first + len(days) - 1) % 7]}"
    return ",".join(DAY_NAMES[d] for d in sorted(days))
