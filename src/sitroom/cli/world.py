"""The world picture's commands: `sitroom state`, `events`, `alerts`, `quarantine`, `claims`,
`actors`, `actor`, `intensity`, `diff`, `redlines …` and `export`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sitroom.cli.shell import (
    AsOfOpt,
    JsonOpt,
    NearOpt,
    SinceOpt,
    UntilOpt,
    WorkspaceOpt,
    duration,
    emit,
    lists_when_bare,
    output,
    place,
    radius,
    room,
    when,
)
from sitroom.errors import UserInputError

TOPIC = "World picture"
alerts_app = typer.Typer(
    help="The alerts raised, with their evidence and who acknowledged them; acknowledge one.",
    invoke_without_command=True,
)
redlines_app = typer.Typer(
    help="Red lines: rules checked on every new event.", invoke_without_command=True
)


def register(app: typer.Typer) -> None:
    for command in (state, events, quarantine, claims, actors, actor, intensity, diff):
        app.command(rich_help_panel=TOPIC)(command)
    app.add_typer(alerts_app, name="alerts", rich_help_panel=TOPIC)
    app.command("export", rich_help_panel=TOPIC)(export)
    app.add_typer(redlines_app, name="redlines", rich_help_panel=TOPIC)


def state(
    workspace: WorkspaceOpt = Path("."),
    as_of: AsOfOpt = None,
    top: Annotated[int, typer.Option(help="Countries to list.", min=0, max=300)] = 10,
    json: JsonOpt = False,
) -> None:
    """What the workspace knows (or knew --as-of a time): records, events of every source,
    sources and their freshness, quarantine, alerts."""
    from sitroom.cli.render import world as render

    with room(workspace) as r:
        emit(r.world.state(as_of_ms=when(as_of), top=top), json, render.state)


def events(
    workspace: WorkspaceOpt = Path("."),
    near: NearOpt = None,
    radius_: Annotated[str | None, typer.Option("--radius", help="e.g. 500mi, 800km.")] = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    as_of: AsOfOpt = None,
    limit: Annotated[int, typer.Option(help="Rows to show (0: all).", min=0, max=10**9)] = 50,
    json: JsonOpt = False,
) -> None:
    """Events of every source (GDELT, UCDP, ACLED), within a radius of a place and a window of
    time: the nearest first, or the newest."""
    from sitroom.cli.render import world as render

    if (near is None) != (radius_ is None):
        raise UserInputError("--near and --radius go together: give both, or neither")
    centre, rad = (place(near), radius(radius_)) if near and radius_ else (None, None)
    with room(workspace) as r:
        found = r.world.events(
            near=centre,
            radius=rad,
            since_ms=when(since),
            until_ms=when(until),
            as_of_ms=when(as_of),
            limit=limit or None,
        )
        emit(found, json, render.events)


# Without --as-of, clock-driven detectors (overdue sources, expiring keys) look at the time
# first: World.alerts does.
lists_when_bare(alerts_app, lambda r, at: r.world.alerts(as_of_ms=at), "world.alerts")


@alerts_app.command("ack")
def alert_ack(
    alert: Annotated[str, typer.Argument(help="The alert's id (sitroom alerts --json).")],
    workspace: WorkspaceOpt = Path("."),
    json: JsonOpt = False,
) -> None:
    """Acknowledge an alert as yourself: recorded once, in the alert's compartment, and
    shown with the alert from then on (again: nothing new is recorded)."""
    from sitroom.cli.render import world as render

    with room(workspace) as r:
        emit(r.world.acknowledge(alert), json, render.alert_acked)


def quarantine(
    workspace: WorkspaceOpt = Path("."), as_of: AsOfOpt = None, json: JsonOpt = False
) -> None:
    """Input rows that could not be accepted, with file, line, raw text and reason."""
    from sitroom.cli.render import world as render

    with room(workspace) as r:
        emit(r.world.quarantine(as_of_ms=when(as_of)), json, render.quarantine)


def claims(
    subject: Annotated[str, typer.Argument(help="What the claims are about, e.g. Hezbollah.")],
    workspace: WorkspaceOpt = Path("."),
    as_of: AsOfOpt = None,
    valid_at: Annotated[
        str | None, typer.Option(help="Claims valid at this time.", show_default="the as-of time")
    ] = None,
    every: Annotated[bool, typer.Option("--all", help="Whatever their valid time.")] = False,
    prop: Annotated[
        list[str] | None, typer.Option("--property", "-p", help="Only these properties.")
    ] = None,
    json: JsonOpt = False,
) -> None:
    """Every value sources claimed for a subject's properties, side by side; conflicts marked."""
    from sitroom.cli.render import world as render

    with room(workspace) as r:
        found = r.world.claims(
            subject,
            as_of_ms=when(as_of),
            valid_at_ms=when(valid_at),
            every=every,
            properties=prop,
        )
        emit(found, json, render.claims)


def actors(
    workspace: WorkspaceOpt = Path("."),
    as_of: AsOfOpt = None,
    kind: Annotated[str | None, typer.Option("--type", help="Only this type.")] = None,
    json: JsonOpt = False,
) -> None:
    """The actors the workspace knows: from actor records, STIX imports and event data."""
    from sitroom.cli.render import world as render

    with room(workspace) as r:
        emit(r.world.actors(as_of_ms=when(as_of), type=kind), json, render.actors)


def actor(
    name: Annotated[str, typer.Argument(help="A name, alias or key, e.g. Hezbollah.")],
    workspace: WorkspaceOpt = Path("."),
    as_of: AsOfOpt = None,
    window: Annotated[str, typer.Option(help="Window of the event signals.")] = "30d",
    json: JsonOpt = False,
) -> None:
    """One actor: who it is, its aliases, its relationships over time, and how it and each
    counterpart treat each other in the event data (cooperation against conflict)."""
    from sitroom.cli.render import world as render

    with room(workspace) as r:
        found = r.world.actor(name, as_of_ms=when(as_of), window_ms=duration(window))
        emit(found, json, render.actor)


def intensity(
    near: Annotated[str, typer.Option(help="A known place (Beirut) or LAT,LON.")],
    workspace: WorkspaceOpt = Path("."),
    radius_: Annotated[str, typer.Option("--radius", help="e.g. 500mi, 800km.")] = "500mi",
    window: Annotated[str, typer.Option(help="Length of each window.")] = "7d",
    until: Annotated[
        str | None, typer.Option(help="End of the current window.", show_default="the as-of time")
    ] = None,
    previous: Annotated[int, typer.Option(help="Earlier windows for the trend.", min=0)] = 4,
    as_of: AsOfOpt = None,
    json: JsonOpt = False,
) -> None:
    """Conflict intensity within a radius: events by QuadClass, fatalities, Goldstein, trend."""
    from sitroom.cli.render import world as render

    centre, rad, span = place(near), radius(radius_), duration(window)
    with room(workspace) as r:
        found = r.world.intensity(
            centre, rad, span, until_ms=when(until), as_of_ms=when(as_of), previous=previous
        )
        emit(found, json, render.intensity)


def diff(
    workspace: WorkspaceOpt = Path("."),
    since: Annotated[str, typer.Option(help="The earlier time (e.g. -1d, 2026-11-24).")] = "-1d",
    until: Annotated[str | None, typer.Option(help="The later time.", show_default="now")] = None,
    json: JsonOpt = False,
) -> None:
    """What changed in the picture between two times: arrivals, claims, actors, revisions."""
    from sitroom.cli.render import world as render

    start = when(since)
    assert start is not None
    with room(workspace) as r:
        emit(r.world.diff(start, when(until)), json, render.diff)


def export(
    fmt: Annotated[
        str,
        typer.Argument(
            help="jsonl (the log, one record per line) or stix (a STIX 2.1 bundle of actors, "
            "relationships, claims, red lines and reports).",
            metavar="[jsonl|stix]",
        ),
    ] = "jsonl",
    workspace: WorkspaceOpt = Path("."),
    to: Annotated[
        Path | None, typer.Option("--output", "-o", help="File to write (default: stdout).")
    ] = None,
    as_of: AsOfOpt = None,
    json: JsonOpt = False,
) -> None:
    """Write the log as JSON Lines, or the picture as a STIX 2.1 bundle."""
    from sitroom.cli.render import world as render

    if fmt not in ("jsonl", "stix"):
        raise UserInputError(f"export format must be jsonl or stix, not {fmt!r}")
    at = when(as_of)
    # The output first: a path that is refused is refused before the room is opened.
    with output(to, workspace=workspace) as sink, room(workspace) as r:
        write = r.world.export_jsonl if fmt == "jsonl" else r.world.export_stix
        done = write(sink, as_of_ms=at)
    if to is not None:
        emit(done, json, render.exported)


# red lines --------------------------------------------------------------------------------
lists_when_bare(redlines_app, lambda r, at: r.world.redlines(as_of_ms=at), "world.redlines")


@redlines_app.command("add")
def redline_add(
    name: Annotated[str, typer.Argument(help="A short name, e.g. beirut-fatalities.")],
    rule: Annotated[
        str, typer.Argument(help="e.g. 'fatalities >= 50 within 100mi of Beirut in 24h'.")
    ],
    workspace: WorkspaceOpt = Path("."),
    severity: Annotated[str, typer.Option(help="info, warning or critical.")] = "warning",
    json: JsonOpt = False,
) -> None:
    """Add a red line (checked on every event that arrives from now on)."""
    from sitroom.cli.render import world as render

    with room(workspace) as r:
        emit(r.world.add_redline(name, rule, severity=severity), json, render.redline_added)


@redlines_app.command("test")
def redline_test(
    rule: Annotated[str, typer.Argument(help="A rule, as for 'redlines add'.")],
    workspace: WorkspaceOpt = Path("."),
    as_of: AsOfOpt = None,
    json: JsonOpt = False,
) -> None:
    """What a rule would match in the data already held, and when it would have fired."""
    from sitroom.cli.render import world as render

    with room(workspace) as r:
        emit(r.world.test_redline(rule, as_of_ms=when(as_of)), json, render.redline_test)
