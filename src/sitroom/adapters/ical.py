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

from collections.abc import Collection, Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import icalendar
import recurring_ical_events

from sitroom.adapters.outputs import refuse_own, write_atomic
from sitroom.domain.timeutil import from_ms, to_ms
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


def read_busy(label: str, data: bytes, start_ms: int, end_ms: int) -> list[tuple[int, int, str]]:
    """Busy (start, end, summary) spans of a calendar within a window, recurrences expanded."""
    try:
        cal = icalendar.Calendar.from_ical(data)
    except ValueError as e:
        raise SourceError(f"{label}: not an iCalendar file: {e}") from None
    lo, hi = from_ms(start_ms), from_ms(end_ms)
    spans: list[tuple[int, int, str]] = []
    try:
        events = recurring_ical_events.of(cal).between(lo, hi)
    except Exception as e:  # the library raises its own types for bad rules and dates
        raise SourceError(f"{label}: cannot expand its events: {e}") from None
    for ev in events:
        if str(ev.get("transp", "OPAQUE")).upper() == "TRANSPARENT":
            continue
        if str(ev.get("status", "")).upper() == "CANCELLED":
            continue
        start, end = _span(ev)
        if start is not None and end is not None and end > start:
            spans.append((start, end, str(ev.get("summary", "busy"))))
    for fb in cal.walk("VFREEBUSY"):
        for prop in _as_list(fb.get("freebusy")):
            if str(prop.params.get("FBTYPE", "BUSY")).upper() == "FREE":
                continue
            for period in _as_list(prop.dt if hasattr(prop, "dt") else prop):
                start, end = _period(period)
                if start < end_ms and end > start_ms:
                    spans.append((start, end, "busy"))
    return sorted(set(spans))


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
