"""The user commands: `sitroom users` (users and endpoints, roles, clearances), `users add`,
`users grant` and `users revoke`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sitroom.cli.shell import (
    JsonOpt,
    PassphraseFileOpt,
    WorkspaceOpt,
    asker,
    emit,
    lists_when_bare,
    room,
)

TOPIC = "Keys and access"
users_app = typer.Typer(
    help="Users, roles and clearances: list, add, grant, revoke.", invoke_without_command=True
)
PrincipalArg = Annotated[str, typer.Argument(help="A user or an imported identity.")]
CompartmentArg = Annotated[str, typer.Argument(help="A track id or a marking (TLP:RED).")]


def register(app: typer.Typer) -> None:
    app.add_typer(users_app, name="users", rich_help_panel=TOPIC)


lists_when_bare(users_app, lambda r, at: r.users.list(as_of_ms=at), "keys.users")


@users_app.command("add")
def users_add(
    name: Annotated[str, typer.Argument(help="The user's name.")],
    workspace: WorkspaceOpt = Path("."),
    role: Annotated[str, typer.Option(help="admin, analyst or viewer.")] = "analyst",
    passphrase_file: PassphraseFileOpt = None,
    json: JsonOpt = False,
) -> None:
    """Add a user (making their keys if they have none). The first user is the admin."""
    from sitroom.cli.render import keys as render

    ask = asker(confirm=True, file=passphrase_file)
    with room(workspace) as r:
        emit(r.users.add(name, role=role, passphrase=ask), json, render.user_added)


@users_app.command("grant")
def users_grant(
    name: PrincipalArg,
    compartment: CompartmentArg,
    workspace: WorkspaceOpt = Path("."),
    json: JsonOpt = False,
) -> None:
    """Clear someone for a compartment (a track is re-keyed to include them)."""
    from sitroom.cli.render import keys as render

    with room(workspace) as r:
        emit(r.users.grant(name, compartment), json, render.clearance)


@users_app.command("revoke")
def users_revoke(
    name: PrincipalArg,
    compartment: CompartmentArg,
    workspace: WorkspaceOpt = Path("."),
    json: JsonOpt = False,
) -> None:
    """Withdraw a clearance (a track is re-keyed without them: they read nothing after)."""
    from sitroom.cli.render import keys as render

    with room(workspace) as r:
        emit(r.users.revoke(name, compartment), json, render.clearance)
