"""The track commands: `sitroom tracks` (the list) and `sitroom tracks add|status|check|schedule|
whatif|calendar`."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypedDict

import typer

from sitroom.cli.shell import (
    AsOfOpt,
    JsonOpt,
    SinceOpt,
    UntilOpt,
    WorkspaceOpt,
    duration,
    emit,
    lists_when_bare,
    progress,
    room,
    when,
)

if TYPE_CHECKING:
    from sitroom.application.tracks import Horizon, WhatIf
    from sitroom.domain.schedule import Options

TOPIC = "Tracks"
NO_SCHEDULE = 3  # `tracks schedule` and `tracks whatif`: no schedule exists (it says why)
PROBLEMS = 4  # `tracks check`: a deadlock, or a resource held beyond its capacity

tracks_app = typer.Typer(
    help="Negotiation tracks: shared people and assets, deadlocks, contention, schedules.",
    invoke_without_command=True,
)

HorizonSinceOpt = Annotated[
    str | None,
    typer.Option("--since", help="Start of the horizon.", show_default="earliest meeting window"),
]
DaysOpt = Annotated[
    int | None,
    typer.Option(help="Days in the horizon.", show_default="to the latest window", min=1),
]
SlotOpt = Annotated[int, typer.Option(help="Minutes per slot.", min=5)]
TimeLimitOpt = Annotated[float, typer.Option(help="Seconds the solver may take.", min=0.1)]


def register(app: typer.Typer) -> None:
    app.add_typer(tracks_app, name="tracks", rich_help_panel=TOPIC)


lists_when_bare(tracks_app, lambda r, at: r.tracks.list(as_of_ms=at), "tracks.tracks")


@tracks_app.command("add")
def add(
    files: Annotated[list[Path], typer.Argument(help="Track files (YAML).", metavar="FILE...")],
    workspace: WorkspaceOpt = Path("."),
    json: JsonOpt = False,
) -> None:
    """Add or change tracks, resources, holdings and meetings from track files."""
    from sitroom.cli.render import tracks as render

    with room(workspace) as r:
        emit(r.tracks.add(files), json, render.added)


@tracks_app.command("withdraw")
def withdraw(
    what: Annotated[str, typer.Argument(help="track, resource, meeting or holding.")],
    id: Annotated[str, typer.Argument(help="Its id; a holding: TRACK/RESOURCE[/START].")],
    reason: Annotated[str, typer.Option(help="Why, for the record.")],
    workspace: WorkspaceOpt = Path("."),
    json: JsonOpt = False,
) -> None:
    """Take back a track (with its holdings and meetings), a resource, a meeting or a holding:
    a record, so as-of still shows it before. Re-adding a file withdraws what it no longer
    declares by itself."""
    from sitroom.cli.render import tracks as render

    with room(workspace) as r:
        emit(r.tracks.withdraw(what, id, reason=reason), json, render.withdrawn)


@tracks_app.command("status")
def status(
    track: Annotated[str, typer.Argument(help="Track id.")],
    new_status: Annotated[str, typer.Argument(metavar="STATUS", help="Its new status: agreed...")],
    workspace: WorkspaceOpt = Path("."),
    json: JsonOpt = False,
) -> None:
    """Record a track's new status (preconditions on it may now be met)."""
    from sitroom.cli.render import tracks as render

    with room(workspace) as r:
        emit(r.tracks.set_status(track, new_status), json, render.status_set)


@tracks_app.command("check")
def check(
    workspace: WorkspaceOpt = Path("."),
    at: Annotated[
        str | None, typer.Option(help="Check the wait-for graph at this time.", show_default="now")
    ] = None,
    as_of: AsOfOpt = None,
    json: JsonOpt = False,
) -> None:
    """Deadlocks between tracks and resources, explained, and over-allocated resources: exit
    4 if there is either (0: none)."""
    from sitroom.cli.render import tracks as render

    with room(workspace) as r:
        found = r.tracks.check(at_ms=when(at), as_of_ms=when(as_of))
    emit(found, json, render.check)
    if found.deadlocks or found.contention:
        raise typer.Exit(PROBLEMS)


@tracks_app.command("schedule")
def schedule(
    workspace: WorkspaceOpt = Path("."),
    since: HorizonSinceOpt = None,
    days: DaysOpt = None,
    slot: SlotOpt = 30,
    time_limit: TimeLimitOpt = 30.0,
    gap: Annotated[
        float, typer.Option(help="Stop within this fraction of the best bound.", min=0.0)
    ] = 0.01,
    ics: Annotated[
        Path | None,
        typer.Option(help="Write one .ics calendar per person and per track into this directory."),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Solve and show, but do not record the schedule.")
    ] = False,
    as_of: AsOfOpt = None,
    json: JsonOpt = False,
) -> None:
    """Solve the meetings' schedule (OR-Tools CP-SAT): no one double-booked, capacities, travel,
    working hours, windows, precedence, preferences. Keeps the last recorded schedule where it
    still fits; explains in words when no schedule exists (exit 3)."""
    from sitroom.application.tracks import Horizon
    from sitroom.cli.render import tracks as render
    from sitroom.domain.schedule import Options

    with room(workspace) as r, progress(not json, least=1) as bar:
        solved = r.tracks.schedule(
            horizon=Horizon(when(since), days, slot),
            options=Options(time_limit=time_limit, gap=gap),
            as_of_ms=when(as_of),
            record=not dry_run,
            calendars=ics,
            progress=partial(bar, "solving") if bar else None,
        )
    emit(solved, json, render.schedule)
    if not solved.meetings:
        raise typer.Exit(NO_SCHEDULE)


whatif_app = typer.Typer(
    help="What moves if a track slips or a person is away (records nothing).",
    no_args_is_help=True,
)
tracks_app.add_typer(whatif_app, name="whatif")


@whatif_app.command("delay")
def whatif_delay(
    target: Annotated[str, typer.Argument(help="A track id (all its meetings) or a meeting id.")],
    delay: Annotated[str, typer.Argument(help="How long it slips, such as 3d or 6h.")],
    workspace: WorkspaceOpt = Path("."),
    since: HorizonSinceOpt = None,
    days: DaysOpt = None,
    slot: SlotOpt = 30,
    time_limit: TimeLimitOpt = 30.0,
    as_of: AsOfOpt = None,
    json: JsonOpt = False,
) -> None:
    """What slips with a track or meeting — through preconditions and shared people and
    assets — with the new dates, why each moves, and each track's slip. Exit 3 if no schedule
    exists with the slip."""
    with room(workspace) as r, progress(not json, least=1) as bar:
        found = r.tracks.whatif_delay(
            target, duration(delay), **_whatif_options(since, days, slot, time_limit, as_of, bar)
        )
    _whatif_out(found, json)


@whatif_app.command("unavailable")
def whatif_unavailable(
    person: Annotated[str, typer.Argument(help="A person (or any resource) id.")],
    start: Annotated[str, typer.Argument(metavar="FROM", help="From: 2026-12-08, +2d.")],
    end: Annotated[str, typer.Argument(metavar="TO", help="To: 2026-12-10, +4d.")],
    workspace: WorkspaceOpt = Path("."),
    reason: Annotated[str, typer.Option(help="Why, shown with each move.")] = "",
    since: HorizonSinceOpt = None,
    days: DaysOpt = None,
    slot: SlotOpt = 30,
    time_limit: TimeLimitOpt = 30.0,
    as_of: AsOfOpt = None,
    json: JsonOpt = False,
) -> None:
    """What moves if a person is away from FROM to TO: the meetings that need them then, what
    those push, why each moves, and each track's slip. Exit 3 if no schedule exists."""
    with room(workspace) as r, progress(not json, least=1) as bar:
        found = r.tracks.whatif_unavailable(
            person,
            when(start) or 0,
            when(end) or 0,
            reason=reason,
            **_whatif_options(since, days, slot, time_limit, as_of, bar),
        )
    _whatif_out(found, json)


class _WhatIfOptions(TypedDict):
    horizon: Horizon
    options: Options
    as_of_ms: int | None
    progress: Callable[[int, int | None], None] | None


def _whatif_options(
    since: str | None,
    days: int | None,
    slot: int,
    time_limit: float,
    as_of: str | None,
    bar: Callable[[str, int, int | None], None] | None,
) -> _WhatIfOptions:
    from sitroom.application.tracks import Horizon
    from sitroom.domain.schedule import Options

    return {
        "horizon": Horizon(when(since), days, slot),
        "options": Options(time_limit=time_limit, gap=0.0),
        "as_of_ms": when(as_of),
        "progress": partial(bar, "solving") if bar else None,
    }


def _whatif_out(found: WhatIf, json: bool) -> None:
    from sitroom.cli.render import tracks as render

    emit(found, json, render.whatif)
    if found.status == "infeasible":
        raise typer.Exit(NO_SCHEDULE)


@tracks_app.command("calendar")
def calendar(
    resource: Annotated[str, typer.Argument(help="The person or asset the calendar belongs to.")],
    file: Annotated[Path, typer.Argument(help="An iCalendar (.ics) file.")],
    workspace: WorkspaceOpt = Path("."),
    since: SinceOpt = None,
    until: UntilOpt = None,
    name: Annotated[
        str | None, typer.Option(help="The calendar's name.", show_default="the file's name")
    ] = None,
    json: JsonOpt = False,
) -> None:
    """Import a resource's busy times from an .ics file (recurring events expanded), from
    --since (default now) for 90 days or to --until; schedules keep its meetings out of them.
    Importing the calendar again replaces it."""
    from sitroom.cli.render import tracks as render

    with room(workspace) as r:
        done = r.tracks.import_calendar(
            resource, file, since_ms=when(since), until_ms=when(until), name=name
        )
    emit(done, json, render.calendar)
