"""Proving who you are: `sitroom login`, `sitroom logout` and `sitroom tokens`.

A command acting as a user proves it with, in order: ``$SITROOM_TOKEN``; the session `sitroom
login` cached for this workspace and user; the user's passphrase (``--passphrase-file``,
``$SITROOM_PASSPHRASE_FILE``, ``$SITROOM_PASSPHRASE``, or a prompt). The cache lives in
``$SITROOM_HOME`` (default ``~/.sitroom``), outside the workspace, readable by its owner only,
and holds a token, never a key: `sitroom logout` revokes it and the key it wraps with it.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Annotated

import typer

from sitroom.cli import bridge
from sitroom.cli.shell import USER, JsonOpt, PassphraseFileOpt, WorkspaceOpt, asker, emit, room
from sitroom.settings import home

TOPIC = "Keys and access"
TOKEN_ENV = "SITROOM_TOKEN"
tokens_app = typer.Typer(
    help="API tokens for scripts: list, create, revoke.", invoke_without_command=True
)


def register(app: typer.Typer) -> None:
    app.command("login", rich_help_panel=TOPIC)(login)
    app.command("logout", rich_help_panel=TOPIC)(logout)
    app.add_typer(tokens_app, name="tokens", rich_help_panel=TOPIC)


def _cache(workspace: Path, user: str) -> Path:
    return _cached(str(workspace.resolve()), user)


def _cached(where: str, user: str) -> Path:
    digest = hashlib.sha256(where.encode()).hexdigest()[:16]
    return home() / "sessions" / f"{digest}-{user}.token"


def server_token(url: str, user: str | None) -> str | None:
    """The token to act through the server at ``url``: ``$SITROOM_TOKEN``, else ``user``'s
    cached login there."""
    return _token(_cached(url, user) if user else None)


def cached_token(workspace: Path, user: str) -> str | None:
    """The token to act as ``user`` with: ``$SITROOM_TOKEN``, else a cached login."""
    return _token(_cache(workspace, user))


def _token(cache: Path | None) -> str | None:
    if os.environ.get(TOKEN_ENV):
        return os.environ[TOKEN_ENV]
    try:
        return None if cache is None else cache.read_text().strip() or None
    except OSError:
        return None


def forget_login(workspace: Path, user: str) -> None:
    """Forget ``user``'s cached login in ``workspace`` (its token was ended elsewhere)."""
    _cache(workspace, user).unlink(missing_ok=True)


def _keep(path: Path, token: str) -> None:
    from sitroom.adapters.outputs import write_private

    write_private(path, token.encode())


def _who() -> str:
    user = USER.get()
    if user is None:
        from sitroom.errors import UserInputError

        raise UserInputError("say who logs in with --user NAME (or SITROOM_USER)")
    return user


def login(
    workspace: WorkspaceOpt = Path("."),
    hours: Annotated[
        float | None, typer.Option(help="How long the session lasts.", show_default="12")
    ] = None,
    passphrase_file: PassphraseFileOpt = None,
    json: JsonOpt = False,
) -> None:
    """Prove who you are once (your passphrase) and act as yourself in this workspace until
    the session ends, without typing it again (like ssh-agent)."""
    from sitroom.cli.render import keys as render

    user = _who()
    ttl = None if hours is None else hours * 3_600_000
    url = bridge.server_of(workspace)
    if url is not None:
        issued = bridge.login(url, user, asker(file=passphrase_file)(user), ttl)
        _keep(_cached(url, user), issued.token)
    else:
        with room(workspace, as_site=True) as r:
            issued = r.auth.login(user, asker(file=passphrase_file), ttl_ms=ttl)
        _keep(_cache(workspace, user), issued.token)
    emit(issued.row, json, render.logged_in)


def logout(workspace: WorkspaceOpt = Path("."), json: JsonOpt = False) -> None:
    """End your session in this workspace: the cached token is revoked and forgotten."""
    from sitroom.cli.render import keys as render

    user = _who()
    url = bridge.server_of(workspace)
    if url is not None:
        ended = bridge.logout(url, user, server_token(url, user))
        _cached(url, user).unlink(missing_ok=True)
    else:
        with room(workspace, as_site=True) as r:
            ended = r.auth.logout(user, cached_token(workspace, user))
        _cache(workspace, user).unlink(missing_ok=True)
    emit(ended, json, render.logged_out)


@tokens_app.callback()
def tokens(ctx: typer.Context, workspace: WorkspaceOpt = Path("."), json: JsonOpt = False) -> None:
    """Your live tokens: sessions and API tokens (a subcommand creates or revokes one)."""
    from sitroom.cli.render import keys as render

    if ctx.invoked_subcommand is not None:
        return
    with room(workspace) as r:
        emit(r.auth.listing(_who()), json, render.tokens)


@tokens_app.command("create")
def tokens_create(
    name: Annotated[str, typer.Argument(help="What the token is for (a script's name).")],
    workspace: WorkspaceOpt = Path("."),
    days: Annotated[float, typer.Option(help="How long it lives.")] = 30.0,
    json: JsonOpt = False,
) -> None:
    """An API token for a script: it acts as you until it expires or you revoke it. It is
    printed once; keep it as you keep a passphrase."""
    from sitroom.cli.render import keys as render

    with room(workspace) as r:
        issued = r.auth.create(r.session, name, ttl_ms=days * 86_400_000)
    emit(issued, json, render.issued)


@tokens_app.command("revoke")
def tokens_revoke(
    token: Annotated[str, typer.Argument(help="The token's id or name (see `sitroom tokens`).")],
    workspace: WorkspaceOpt = Path("."),
    json: JsonOpt = False,
) -> None:
    """Revoke one of your tokens now: the key it wrapped is gone with it."""
    from sitroom.cli.render import keys as render

    with room(workspace) as r:
        emit(r.auth.revoke(r.session, token), json, render.revoked)
