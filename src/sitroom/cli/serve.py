"""`sitroom serve`: run the room for a team — the REST API, its live stream and metrics — as
its one writer (:mod:`sitroom.service`)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from sitroom.cli.shell import WorkspaceOpt

TOPIC = "Service"


def register(app: typer.Typer) -> None:
    app.command("serve", rich_help_panel=TOPIC)(serve)


def serve(
    workspace: WorkspaceOpt = Path("."),
    listen: Annotated[
        str | None,
        typer.Option(
            help="Address to serve on, HOST:PORT (port 0 picks a free one).",
            show_default="serve_listen: 127.0.0.1:8660",
        ),
    ] = None,
    desk: Annotated[
        str | None,
        typer.Option(
            help="Run the site's desk too, listening here (HOST:PORT): channels to other "
            "sites, in the room's one writer."
        ),
    ] = None,
) -> None:
    """Serve the room to a team over HTTP: the CLI, REST (OpenAPI at /docs), a live stream,
    metrics, and with --desk the site's desk. It is the room's one writer until stopped
    (SIGTERM, Ctrl-C): commands on the room run through it meanwhile (`sitroom login`). On a
    PostgreSQL log, several may serve one room: one is elected the writer, the others read
    and forward writes to it, and take over if it goes (its start line says which)."""
    from sitroom.service import serve as run

    def say(what: str, url: str, role: str | None = None) -> None:
        # One line on stdout per address, flushed: scripts and tests read them.
        also = "" if role is None else f", {role}"
        sys.stdout.write(f"{what} on {url} (room {workspace.resolve()}{also})\n")
        sys.stdout.flush()

    run(
        workspace,
        listen=listen,
        ready=lambda url, role: say("listening", url, role),
        desk=desk,
        desk_ready=lambda url: say("desk", url),
    )
