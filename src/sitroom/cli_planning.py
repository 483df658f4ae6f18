"""The planning commands: `sitroom schedule`, `sitroom whatif delay` and `sitroom calendar import`.
A thin shell over application.planning and the iCalendar adapter."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sitroom import render
from sitroom.adapters import ical
from sitroom.application import planning
from sitroom.application.scheduler import Options
from sitroom.domain.timeutil import MS_PER_DAY, parse_duration
from sitroom.errors import UserInputError
from sitroom.shell import AsOfOpt, JsonOpt, WorkspaceOpt, emit_json, open_workspace, out, show, when

NO_SCHEDULE = 3  # exit code when no schedule exists (the explanation is printed)

FromOpt = Annotated[
    str | None,
    typer.Option("--from", help="Start of the horizon.", show_default="earliest meeting window"),
]
DaysOpt = Annotated[
    int | None,
    typer.Option(help="Days in the horizon.", show_default="to the latest window", min=1),
]
SlotOpt = Annotated[int, typer.Option(help="Minutes per slot.", min=5)]
TimeLimitOpt = Annotated[float, typer.Option(help="Seconds the solver may take.", min=0.1)]

whatif_app = typer.Typer(no_args_is_help=True, help="What slips with a slip, before it happens.")
calendar_app = typer.Typer(no_args_is_help=True, help="Calendars: busy times in (iCalendar).")


def register(app: typer.Typer) -> None:
    app.command("schedule")(schedule)
    app.add_typer(whatif_app, name="whatif")
    app.add_typer(calendar_app, name="calendar")


def schedule(
    workspace: WorkspaceOpt = Path("."),
    start: FromOpt = None,
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
    still fits; explains in words when no schedule exists."""
    horizon = planning.Horizon(when(start), days, slot)
    with open_workspace(workspace) as ws:
        answer = planning.schedule(
            ws.engine,
            horizon,
            Options(time_limit=time_limit, gap=gap),
            as_of_ms=when(as_of),
            record=not dry_run,
        )
        if ics is not None and answer.value["meetings"]:
            view = ws.engine.view_many(["tracks"])["tracks"]
            files = ical.schedule_calendars(
                answer.value["meetings"],
                view["resources"],
                view["tracks"],
                stamp_ms=ws.engine.clock.now_ms(),
            )
            answer.value["calendars"] = _write(ics, files)
    show(answer, json, None, render.schedule)
    if not answer.value["meetings"]:
        raise typer.Exit(NO_SCHEDULE)


def _write(folder: Path, files: dict[str, bytes]) -> list[str]:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for name, data in files.items():
            (folder / name).write_bytes(data)
    except OSError as e:
        raise UserInputError(f"cannot write calendars to {folder}: {e}") from None
    return [str(folder / name) for name in sorted(files)]


@whatif_app.command("delay")
def whatif_delay(
    target: Annotated[str, typer.Argument(help="A track id (all its meetings) or a meeting id.")],
    delay: Annotated[str, typer.Argument(help="How long it slips, such as 3d or 6h.")],
    workspace: WorkspaceOpt = Path("."),
    start: FromOpt = None,
    days: DaysOpt = None,
    slot: SlotOpt = 30,
    time_limit: TimeLimitOpt = 30.0,
    as_of: AsOfOpt = None,
    json: JsonOpt = False,
) -> None:
    """Show what slips with a track or meeting — through preconditions and shared people and
    assets — with the new dates and why each moves. Records nothing."""
    with open_workspace(workspace) as ws:
        answer = planning.whatif_delay(
            ws.engine,
            target,
            parse_duration(delay),
            planning.Horizon(when(start), days, slot),
            Options(time_limit=time_limit, gap=0.0),
            as_of_ms=when(as_of),
        )
    show(answer, json, None, render.whatif)
    if answer.value["status"] == "infeasible":
        raise typer.Exit(NO_SCHEDULE)


@calendar_app.command("import")
def calendar_import(
    resource: Annotated[str, typer.Argument(help="The person or asset the calendar belongs to.")],
    file: Annotated[Path, typer.Argument(help="An iCalendar (.ics) file.")],
    workspace: WorkspaceOpt = Path("."),
    start: Annotated[
        str | None, typer.Option("--from", help="Import busy times from.", show_default="now")
    ] = None,
    until: Annotated[
        str | None, typer.Option(help="Import busy times until.", show_default="90 days later")
    ] = None,
    name: Annotated[
        str | None, typer.Option(help="The calendar's name.", show_default="the file's name")
    ] = None,
    json: JsonOpt = False,
) -> None:
    """Import a resource's busy times from an .ics file (recurring events expanded); the
    scheduler keeps its meetings out of them. Importing the calendar again replaces it."""
    try:
        data = file.read_bytes()
    except OSError as e:
        raise UserInputError(f"cannot read {file}: {e.strerror or e}") from None
    with open_workspace(workspace) as ws:
        now = ws.engine.clock.now_ms()
        lo = when(start) or now
        hi = when(until) or lo + 90 * MS_PER_DAY
        if hi <= lo:
            raise UserInputError("--until must be after --from")
        if resource not in ws.engine.view_many(["tracks"])["tracks"]["resources"]:
            raise UserInputError(f"no resource {resource!r} (add it in a track file first)")
        busy = ical.read_busy(str(file), data, lo, hi)
        rec = ical.calendar_record(resource, name or file.name, busy, now_ms=now)
        new = ws.engine.append([rec]).appended
    if json:
        emit_json(
            {"resource": resource, "calendar": name or file.name, "busy": len(busy), "new": new}
        )
    else:
        out.print(
            f"{resource}: {len(busy)} busy times from {file}" + ("" if new else " (unchanged)")
        )
