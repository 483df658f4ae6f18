"""Tracks for people: the list, track files added, status changes, deadlocks and over-booked
resources, schedules, what-ifs and imported calendars."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from sitroom.cli.render import plural, provenance_line, short

if TYPE_CHECKING:
    from sitroom.application import tracks as t
    from sitroom.application.ingest import AlertRaised


def tracks(console: Console, found: t.TrackList) -> None:
    console.print(f"[bold]{plural(len(found.tracks), 'track')}[/bold]")
    provenance_line(console, found.provenance)
    if not found.tracks:
        return
    table = Table(box=box.SIMPLE, show_edge=False, pad_edge=False)
    for col in ("id", "name", "status", "venue", "needs", "waits for"):
        table.add_column(col)
    for tr in found.tracks:
        table.add_row(
            *map(
                Text,
                (
                    tr.id,
                    tr.name,
                    tr.status,
                    tr.venue or "-",
                    ", ".join(tr.needs) or "-",
                    ", ".join(f"{p.track} {p.status}" for p in tr.preconditions if not p.met)
                    or "-",
                ),
            )
        )
    console.print(table)


def added(console: Console, a: t.TracksAdded) -> None:
    for f in a.files:
        gone = f", {len(f.withdrawn):,} withdrawn ({', '.join(f.withdrawn)})" if f.withdrawn else ""
        console.print(
            f"{f.file}: {plural(f.records, 'entry')}, {f.new:,} new or changed{gone}",
            markup=False,
            highlight=False,
        )
    _alerts(console, a.alerts)


def withdrawn(console: Console, w: t.Withdrawn) -> None:
    console.print(f"{w.what} {w.id} withdrawn: {w.reason}", markup=False, highlight=False)
    _alerts(console, w.alerts)


def status_set(console: Console, s: t.StatusSet) -> None:
    was = f" (was {s.was})" if s.was and s.was != s.status else ""
    console.print(f"{s.track}: {s.status}{was}", markup=False, highlight=False)
    _alerts(console, s.alerts)


def check(console: Console, c: t.Check) -> None:
    console.print(f"[bold]Tracks check[/bold] at {short(c.at)}")
    provenance_line(console, c.provenance)
    if not c.deadlocks:
        console.print("No deadlock.", style="green")
    for d in c.deadlocks:
        console.print("[bold red]DEADLOCK[/bold red]: ", end="")
        console.print(d.sentence, markup=False, highlight=False)
        if len(d.waits) > len(d.explanation):  # a knot: more than the one cycle named
            console.print(f"  {plural(len(d.waits), 'wait')} in this knot; it ends only if:")
            for way in d.ways_out:
                console.print("  - " + " and ".join(way), markup=False, highlight=False)
    if not c.contention:
        console.print("No resource is held beyond its capacity.", style="green")
    for o in c.contention:
        until = short(o.until) if o.until else "open end"
        console.print("[yellow]OVER-ALLOCATED[/yellow] ", end="")
        release = f"; by priority, {o.release} should let go" if o.release else ""
        console.print(
            f"{o.name}: {plural(o.demand, 'hold')} for capacity {o.capacity} from "
            f"{short(o.since)} to {until} ({', '.join(o.tracks)}){release}",
            markup=False,
            highlight=False,
        )


def schedule(console: Console, s: t.Schedule) -> None:
    if not s.meetings:
        _none(console, s, "No schedule exists.")
        return
    gap = "" if s.gap is None else f", {s.gap:.1%} from the best bound"
    h = s.horizon
    console.print(
        f"[bold]Schedule[/bold] ({s.status}{gap}, {s.seconds} s): "
        f"{plural(len(s.meetings), 'meeting')}, {short(h.since)} → {short(h.until)}, "
        f"{h.slot_minutes}-minute slots",
        highlight=False,
    )
    provenance_line(console, s.provenance)
    if s.kept or s.moved:
        console.print(
            f"{s.kept:,} kept where they were; moved: {', '.join(s.moved) or 'none'}",
            markup=False,
            highlight=False,
        )
    _meetings(console, s.meetings)
    if s.note:
        console.print(s.note, style="yellow", markup=False, highlight=False)
    elif s.recorded:
        console.print("Recorded.", style="dim")
    for f in s.calendars:
        console.print(f"wrote {f}", markup=False, highlight=False)


def whatif(console: Console, w: t.WhatIf) -> None:
    if w.status == "infeasible" or not w.meetings:
        _none(console, w, f"If {w.scenario}, no schedule exists.")
        return
    console.print(f"If {w.scenario}", style="bold", end=" ", markup=False)
    console.print(f"(from {w.base}):", markup=False, highlight=False)
    provenance_line(console, w.provenance)
    for tr in w.tracks:
        console.print(
            f"  {tr.name} (priority {tr.priority}) slips {tr.slip}: "
            f"{plural(tr.meetings, 'meeting')} move",
            markup=False,
            highlight=False,
        )
    table = Table(box=box.SIMPLE, show_edge=False, pad_edge=False)
    for col in ("meeting", "from (UTC)", "to", "shift", "because"):
        table.add_column(col)
    for m in w.moves:
        table.add_row(
            *map(Text, (m.title, short(m.old_start), short(m.new_start), m.shift, m.because))
        )
    console.print(table)
    n = w.unchanged or 0
    console.print(
        f"{plural(n, 'other meeting')} stays where it is."
        if n == 1
        else f"{plural(n, 'other meeting')} stay where they are."
    )


def calendar(console: Console, c: t.CalendarImported) -> None:
    same = "" if c.new else " (unchanged)"
    console.print(
        f"{c.resource}: {plural(c.busy, 'busy time')} from {c.calendar}, {short(c.since)} to "
        f"{short(c.until)}{same}",
        markup=False,
        highlight=False,
    )


def _none(console: Console, s: t.Solved, headline: str) -> None:
    """No schedule: why, in words, or that none was found in time."""
    if s.status == "infeasible":
        console.print(headline, style="bold red", end=" ", markup=False)
        console.print("These constraints cannot all hold:")
        for c in s.conflict:
            console.print(f"  - {c.why}", markup=False, highlight=False)
        console.print("Each of them is part of the conflict: relax one to break it.")
    else:
        console.print(f"No schedule found within the time limit ({s.seconds} s).")


def _meetings(console: Console, meetings: tuple[t.PlacedMeeting, ...]) -> None:
    table = Table(box=box.SIMPLE, show_edge=False, pad_edge=False)
    for col in ("start (UTC)", "end", "meeting", "track", "venue", "attendees"):
        table.add_column(col)
    for m in meetings:
        table.add_row(
            *map(
                Text,
                (
                    short(m.start),
                    short(m.end)[-5:],
                    m.title,
                    m.track,
                    m.venue_name or "-",
                    ", ".join(m.attendee_names),
                ),
            )
        )
    console.print(table)


def _alerts(console: Console, alerts: tuple[AlertRaised, ...]) -> None:
    for a in alerts:
        console.print(f"[red]alert[/red] ({a.severity}) ", end="")
        console.print(a.title, markup=False, highlight=False)
