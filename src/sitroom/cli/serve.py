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
) -> None:
    """Serve the room to a team over HTTP: REST (OpenAPI at /docs), a live stream, metrics.
    It is the room's one writer until stopped (SIGTERM, Ctrl-C): other commands on the room
    are refused meanwhile. Users log in with POST /auth/login."""
    from sitroom.service import serve as run

    def ready(url: str) -> None:
        # One line on stdout with the address, flushed: scripts and tests read it.
        sys.stdout.write(f"listening on {url} (room {workspace.resolve()})\n")
        sys.stdout.flush()

    run(workspace, listen=listen, ready=ready)
