"""iCalendar (RFC 5545): a solved schedule out, one calendar per person and per track; busy
times in, from the .ics files people export from their own calendars.

Out, each meeting is a VEVENT with a stable UID (the meeting id), so a calendar client that
imports a newer schedule moves the event instead of duplicating it. Attendees are named by a
``urn:sitroom:resource:<id>`` address with their name and role (required or optional).

In, recurring events are expanded (RRULE, RDATE, EXDATE) over the window asked for; events marked
transparent (free) or cancelled do not make anyone busy; VFREEBUSY periods do, unless FREE.
All-day events block their whole day in UTC.
"""

from __future__ import annotations

import sys
from collections.abc import Collection, Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

import icalendar
import recurring_ical_events

from sitroom.adapters.outputs import refuse_own, write_atomic
from sitroom.domain.timeutil import MS_PER_DAY, from_ms, iso, to_ms
from sitroom.domain.wording import said, shown
from sitroom.errors import SourceError, UserInputError

if TYPE_CHECKING:
    from sitroom.application.tracks import PlacedMeeting

PRODID = "-//sitroom//schedule//EN"


def write_calendars(
    folder: Path,
    meetings: Sequence[PlacedMeeting],
    people: Collection[str],
    stamp_ms: int,
    *,
    workspace: Path | None = None,
) -> list[Path]:
    """Write a schedule's calendars into ``folder`` (made if missing): ``person-<id>.ics`` for
    each of the ``people`` with meetings and ``track-<id>.ics`` for each track, each file
    whole or not at all, and none in or over ``workspace``'s own files. The files written, by
    name."""
    files = schedule_calendars(meetings, people, stamp_ms=stamp_ms)
    refuse_own(folder, workspace)
    for name in files:
        refuse_own(folder / name, workspace)  # before any is written: all or none refused
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserInputError(f"cannot write calendars to {folder}: {e.strerror or e}") from None
    for name, data in files.items():
        write_atomic(folder / name, data)
    return [folder / name for name in sorted(files)]


def schedule_calendars(
    meetings: Sequence[PlacedMeeting], people: Collection[str], *, stamp_ms: int
) -> dict[str, bytes]:
    """File name -> calendar: one per person among ``people`` with meetings, one per track."""
    mine: dict[str, list[PlacedMeeting]] = {}
    names: dict[str, str] = {}
    by_track: dict[str, list[PlacedMeeting]] = {}
    for m in meetings:
        by_track.setdefault(m.track, []).append(m)
        for rid, name in zip(m.attendees, m.attendee_names, strict=True):
            if rid in people:
                mine.setdefault(rid, []).append(m)
                names[rid] = name
    out = {}
    for rid, placed in sorted(mine.items()):
        out[f"person-{_safe(rid)}.ics"] = _calendar(f"{names[rid]}: schedule", placed, stamp_ms)
    for tid, placed in sorted(by_track.items()):
        name = f"{placed[0].track_name}: meetings"
        out[f"track-{_safe(tid)}.ics"] = _calendar(name, placed, stamp_ms)
    return out


def _safe(ident: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in ident)


def _calendar(name: str, meetings: Iterable[PlacedMeeting], stamp_ms: int) -> bytes:
    cal = icalendar.Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("x-wr-calname", name)
    for m in meetings:
        if m.start is None or m.end is None:
            continue
        ev = icalendar.Event()
        ev.add("uid", f"{m.id}@sitroom")
        ev.add("dtstamp", from_ms(stamp_ms))
        ev.add("dtstart", _utc(m.start))
        ev.add("dtend", _utc(m.end))
        ev.add("summary", m.title)
        if m.venue:
            ev.add("location", m.venue_name or m.venue)
        ev.add("categories", [m.track_name])
        ev.add("description", f"Track: {m.track_name}\nMeeting id: {m.id}")
        for rid, who_name in zip(m.attendees, m.attendee_names, strict=True):
            who = icalendar.vCalAddress(f"urn:sitroom:resource:{rid}")
            who.params["cn"] = icalendar.vText(who_name)
            who.params["role"] = icalendar.vText(
                "OPT-PARTICIPANT" if rid in m.optional else "REQ-PARTICIPANT"
            )
            ev.add("attendee", who, encode=False)
        cal.add_component(ev)
    data: bytes = cal.to_ical()
    return data


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def read_calendar(path: Path, start_ms: int, end_ms: int) -> list[tuple[int, int, str]]:
    """Busy (start, end, summary) spans of the calendar file at ``path`` within a window."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise SourceError(f"cannot read {path}: {e.strerror or e}") from None
    return read_busy(str(path), data, start_ms, end_ms)


def read_busy(
    label: str, data: bytes, start_ms: int, end_ms: int, *, max_steps: int | None = None
) -> list[tuple[int, int, str]]:
    """Busy (start, end, summary) spans of a calendar within a window, recurrences expanded.

    Whatever the file holds, the work is bounded: the window is at most a year, the busy times
    in it at most :data:`MAX_BUSY`, and expanding the rules at most ``max_steps`` steps
    (default :data:`MAX_STEPS`; see :class:`_Steps`). A calendar past a bound, or one that
    cannot be read, is a SourceError that names it and says why, in one line."""
    max_steps = MAX_STEPS if max_steps is None else max_steps
    if not 0 < end_ms - start_ms <= MAX_WINDOW_DAYS * MS_PER_DAY:
        raise UserInputError(
            f"a calendar's busy times are read over 1 to {MAX_WINDOW_DAYS} days at a time"
        )
    try:
        cal = icalendar.Calendar.from_ical(data)
    # Any: the parser raises what its code meets in a hostile file, not only ValueError. An
    # OverflowError for a FREEBUSY period that ends after 9999, an OSError for TZID=Europe (a
    # zone is looked up as a path, and that is a folder), a TypeError for a period from a
    # floating time to a UTC one.
    except Exception as e:
        raise SourceError(f"{label}: not an iCalendar file: {said(e)}") from None
    unknown = _unknown_zone(cal)
    if unknown is not None:
        # icalendar reads a time in a zone it does not know as floating (here: UTC), which
        # would move every busy time of a person in that zone by hours, silently.
        raise SourceError(
            f"{label}: TZID {shown(unknown)} is not a time zone: neither defined in the file "
            "(VTIMEZONE) nor an IANA or Windows zone name"
        )
    lo, hi = from_ms(start_ms), from_ms(end_ms)
    steps = _Steps(max_steps)
    try:
        spans = _event_spans(cal, lo, hi, steps) + _freebusy_spans(cal, start_ms, end_ms)
    except _Spent:
        raise SourceError(
            f"{label}: its recurring events take more than {max_steps:,} steps to expand "
            f"between {iso(start_ms)} and {iso(end_ms)}: too many rules, or one that repeats "
            "too often since its start, or never"
        ) from None
    except SourceError as e:
        raise SourceError(f"{label}: {e}") from None
    except Exception as e:  # the libraries raise their own types for bad rules and dates
        raise SourceError(f"{label}: cannot expand its events: {said(e)}") from None
    return sorted(set(spans))


# Bounds on what one calendar may ask of the expansion (see read_busy).
MAX_WINDOW_DAYS = 366
MAX_BUSY = 10_000
MAX_STEPS = 1_000_000  # about a daily rule's periods over 2,700 years


def _event_spans(
    cal: icalendar.Calendar, lo: datetime, hi: datetime, steps: _Steps
) -> list[tuple[int, int, str]]:
    spans: list[tuple[int, int, str]] = []
    with steps:
        series = recurring_ical_events.of(cal).series
    for one in series:
        occurrences = one.between(lo, hi)
        while True:
            with steps:  # the rules' own work; copying an occurrence below is bounded by count
                occurrence = next(occurrences, None)
            if occurrence is None:
                break
            if len(spans) == MAX_BUSY:
                raise SourceError(
                    f"more than {MAX_BUSY:,} busy times between {lo:%Y-%m-%d} and "
                    f"{hi:%Y-%m-%d}: import a shorter window"
                )
            ev = occurrence.as_component(False)
            if str(ev.get("transp", "OPAQUE")).upper() == "TRANSPARENT":
                continue
            if str(ev.get("status", "")).upper() == "CANCELLED":
                continue
            start, end = _span(ev)
            if start is not None and end is not None and end > start:
                spans.append((start, end, str(ev.get("summary", "busy"))))
    return spans


def _freebusy_spans(
    cal: icalendar.Calendar, start_ms: int, end_ms: int
) -> list[tuple[int, int, str]]:
    spans = []
    for fb in cal.walk("VFREEBUSY"):
        for prop in _as_list(fb.get("freebusy")):
            if str(prop.params.get("FBTYPE", "BUSY")).upper() == "FREE":
                continue
            for period in _as_list(prop.dt if hasattr(prop, "dt") else prop):
                start, end = _period(period)
                if start < end_ms and end > start_ms:
                    spans.append((start, end, "busy"))
    return spans


class _Spent(Exception):
    """The expansion used up its steps."""


class _Steps:
    """A budget of steps for expanding recurrence rules, spent while the context is entered.

    A rule can ask for unbounded work, and dateutil (which recurring_ical_events expands rules
    with) cannot be told to stop: FREQ=SECONDLY from the year 1 steps through 6e10 seconds to
    reach the window, and a rule that never matches (FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30) is
    searched day by day to the year 9999, seconds per event and hours for a file of them. So
    the calls into dateutil's rrule module are counted (about one per period a rule steps
    through), by a profile hook on this thread only, and the expansion stops when they are
    spent. Under another profiler (cProfile) nothing is counted: the hook is its."""

    def __init__(self, steps: int) -> None:
        self.left = steps
        self.counting = False
        # Imported by recurring_ical_events; were it ever not, every call counts.
        self.rules = getattr(sys.modules.get("dateutil.rrule"), "__file__", None)

    def _tick(self, frame: FrameType, event: str, arg: object) -> None:
        if event == "call" and (self.rules is None or frame.f_code.co_filename == self.rules):
            self.left -= 1
            if self.left < 0:
                raise _Spent

    def __enter__(self) -> None:
        self.counting = sys.getprofile() is None
        if self.counting:
            sys.setprofile(self._tick)

    def __exit__(self, *exc: object) -> None:
        if self.counting:
            sys.setprofile(None)


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) and not _is_period(value) else [value]


def _is_period(value: Any) -> bool:
    return isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], datetime)


def _period(period: Any) -> tuple[int, int]:
    start, other = period
    end = start + other if isinstance(other, timedelta) else other
    return to_ms(start), to_ms(end)


def _unknown_zone(cal: icalendar.Calendar) -> str | None:
    """The first TZID the calendar's times name that it does not define and no zone database
    knows, if any."""
    from icalendar.timezone import tzp

    defined = {str(tz.get("tzid")) for tz in cal.walk("VTIMEZONE")}
    for component in cal.walk():
        for prop in component.values():
            for value in prop if isinstance(prop, list) else [prop]:
                tzid = getattr(value, "params", {}).get("TZID")
                if tzid is None or str(tzid) in defined:
                    continue
                try:
                    known = tzp.timezone(str(tzid)) is not None
                except Exception:  # a name the zone database cannot even look up (a folder)
                    known = False
                if not known:
                    return str(tzid)
    return None


def _span(ev: Any) -> tuple[int | None, int | None]:
    start = ev.get("dtstart")
    if start is None:
        return None, None
    s = start.dt
    if ev.get("dtend") is not None:
        e = ev.get("dtend").dt
    elif ev.get("duration") is not None:
        e = s + ev.get("duration").dt
    else:
        e = s + timedelta(days=1) if not isinstance(s, datetime) else s
    return _ms(s), _ms(e)


def _ms(value: date | datetime) -> int:
    if not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day, tzinfo=UTC)
    return to_ms(value)
