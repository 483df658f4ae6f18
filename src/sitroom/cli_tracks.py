"""The track commands (transitional, not yet on the Room): `sitroom tracks`, `tracks add`,
`tracks status`, `tracks check`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from sitroom import render
from sitroom.adapters.trackfile import parse_track_file, status_change
from sitroom.application import queries
from sitroom.domain.records import Record
from sitroom.errors import UserInputError
from sitroom.shell import (
    AsOfOpt,
    JsonOpt,
    WorkspaceOpt,
    emit_json,
    err,
    open_workspace,
    out,
    read_text,
    show,
    when,
)


def register(app: typer.Typer) -> None:
    app.add_typer(tracks_app, name="tracks", rich_help_panel="Tracks")


tracks_app = typer.Typer(
    help="Negotiation tracks: shared people and assets, deadlocks, contention.",
    invoke_without_command=True,
)


@tracks_app.callback()
def tracks_list(
    ctx: typer.Context,
    workspace: WorkspaceOpt = Path("."),
    as_of: AsOfOpt = None,
    json: JsonOpt = False,
) -> None:
    """The tracks, their status, needs and preconditions (a subcommand does more)."""
    if ctx.invoked_subcommand is not None:
        return
    with open_workspace(workspace) as ws:
        answer = queries.tracks(ws.engine, when(as_of))
    show(answer, json, "tracks", render.tracks)


@tracks_app.command("add")
def tracks_add(
    files: Annotated[list[Path], typer.Argument(help="Track files (YAML).", metavar="FILE...")],
    workspace: WorkspaceOpt = Path("."),
    json: JsonOpt = False,
) -> None:
    """Add or change tracks, resources and holdings from track files."""
    added = [
        {"file": str(f), "records": len(records), "new": new}
        for f, records, new in _append_files(workspace, files, parse_track_file)
    ]
    if json:
        emit_json({"files": added})
    else:
        for row in added:
            out.print(f"{row['file']}: {row['records']} entries, {row['new']} new or changed")


@tracks_app.command("status")
def tracks_status(
    track: Annotated[str, typer.Argument(help="Track id.")],
    status: Annotated[str, typer.Argument(help="Its new status, e.g. agreed.")],
    workspace: WorkspaceOpt = Path("."),
    json: JsonOpt = False,
) -> None:
    """Record a track's new status (preconditions on it may now be met)."""
    with open_workspace(workspace) as ws:
        known = ws.engine.view_many(["tracks"])["tracks"]["tracks"]
        if track not in known:
            raise UserInputError(f"no track {track!r} (see `sitroom tracks`)")
        ws.engine.append([status_change(track, status, now_ms=ws.engine.clock.now_ms())])
    if json:
        emit_json({"track": track, "status": status})
    else:
        out.print(f"{track}: {status}")


@tracks_app.command("check")
def tracks_check(
    workspace: WorkspaceOpt = Path("."),
    at: Annotated[
        str | None, typer.Option(help="Check the wait-for graph at this time.", show_default="now")
    ] = None,
    as_of: AsOfOpt = None,
    json: JsonOpt = False,
) -> None:
    """Deadlocks between tracks and resources, explained, and over-allocated resources."""
    with open_workspace(workspace) as ws:
        answer = queries.tracks_check(ws.engine, when(as_of), at_ms=when(at))
    show(answer, json, None, render.tracks_check)


def _append_files(
    workspace: Path, files: list[Path], parse: Callable[..., list[Record]]
) -> list[tuple[Path, list[Record], int]]:
    """Read, parse and append each file (one append each); alerts they raise go to stderr.
    Returns (file, its records, how many were new)."""
    done = []
    with open_workspace(workspace) as ws:
        for f in files:
            records = parse(str(f), read_text(f), now_ms=ws.engine.clock.now_ms())
            outcome = ws.engine.append(records)
            for alert in outcome.alerts:
                err.print(f"[red]alert[/red] {alert.payload['title']}", highlight=False)
            done.append((f, records, outcome.appended))
    return done
