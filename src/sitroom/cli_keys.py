"""The key and user commands: `sitroom keys init|rotate|status|export|import` and
`sitroom user add|grant|revoke|list`. A thin shell over application.principals and
application.key_status."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import orjson
import typer

from sitroom import render_secure
from sitroom.adapters.keystore import new_secret
from sitroom.application import key_status, principals
from sitroom.application.access import ANALYST
from sitroom.application.ports import Unlock
from sitroom.cli.shell import USER
from sitroom.domain.secure.identity import PERSON, ROLES, SITE, identity_record
from sitroom.domain.secure.ledger import SECURE, current_identity
from sitroom.errors import UserInputError
from sitroom.shell import (
    AsOfOpt,
    JsonOpt,
    WorkspaceOpt,
    emit_json,
    open_workspace,
    out,
    passphrase,
    read_text,
    show,
    when,
)
from sitroom.workspace import Workspace, key_policy

keys_app = typer.Typer(no_args_is_help=True, help="Identities and track keys.")
user_app = typer.Typer(no_args_is_help=True, help="Users, roles and clearances.")

PassphraseFileOpt = Annotated[
    Path | None,
    typer.Option(help="Read the passphrase from this file.", show_default="ask"),
]


def register(app: typer.Typer) -> None:
    app.add_typer(keys_app, name="keys")
    app.add_typer(user_app, name="user")


def _create_identity(
    ws: Workspace, name: str, role: str, key_file: Path | None, pass_file: Path | None
) -> dict[str, str]:
    principals.require_admin(ws.engine, f"create keys for {name}")
    secret = new_secret(name, role)
    if key_file is not None or role != PERSON:
        how = Unlock(key_file=key_file or ws.keystore.default_key_file(name))
    else:
        how = Unlock(passphrase=passphrase(name, confirm=True, file=pass_file))
    path = ws.keystore.save(secret, how)
    principals.writer_of(ws.engine).append([identity_record(secret, ws.engine.clock.now_ms())])
    return {
        "name": name,
        "role": role,
        "fingerprint": secret.identity.fingerprint,
        "key": str(path),
        "protected_by": "key file" if how.key_file else "passphrase",
    }


@keys_app.command("init")
def keys_init(
    workspace: WorkspaceOpt = Path("."),
    name: Annotated[
        str | None, typer.Option(help="A person or intermediary.", show_default="this site")
    ] = None,
    role: Annotated[str, typer.Option(help=f"One of {', '.join(ROLES)}.")] = PERSON,
    key_file: Annotated[
        Path | None,
        typer.Option(
            help="Protect the key with this key file (made if missing), not a passphrase."
        ),
    ] = None,
    passphrase_file: PassphraseFileOpt = None,
    json: JsonOpt = False,
) -> None:
    """Create an identity's keys (Ed25519 signing, X25519 key agreement), encrypted at rest,
    and publish its public half. Without --name: this site's own keys, if it has none."""
    with open_workspace(workspace) as ws:
        if name is None:
            made = ws.init_site_keys()
            ident = ws.keystore.public(ws.settings.site)
            info = {
                "name": ident.name,
                "role": SITE,
                "fingerprint": ident.fingerprint,
                "key": str(ws.keystore.path(ident.name)),
                "created": made,
            }
        elif ws.keystore.exists(name):
            raise UserInputError(f"{name} already has keys in {ws.keystore.dir}")
        else:
            info = {**_create_identity(ws, name, role, key_file, passphrase_file), "created": True}
    if json:
        emit_json(info)
    else:
        verb = "Created" if info["created"] else "Already had"
        out.print(f"{verb} keys for {info['name']} ({info['role']}): {info['key']}")
        out.print(f"fingerprint {info['fingerprint']}")


@keys_app.command("rotate")
def keys_rotate(
    track: Annotated[str, typer.Argument(help="The track to re-key.")],
    workspace: WorkspaceOpt = Path("."),
    reason: Annotated[str, typer.Option(help="Why, for the record.")] = "rotation",
    json: JsonOpt = False,
) -> None:
    """Start a new epoch of a track's key, sealed to whoever is cleared for it now."""
    with open_workspace(workspace) as ws:
        value = principals.rotate(
            ws.engine,
            track,
            issuer=ws.site_secret(),
            policy=key_policy(ws.settings),
            aead=ws.settings.key_aead,
            reason=reason,
        )
    if json:
        emit_json(value)
    else:
        out.print(
            f"{value['track']}: epoch {value['epoch']}, sealed to {', '.join(value['members'])}"
        )


@keys_app.command("status")
def keys_status(
    track: Annotated[str | None, typer.Argument(help="One track.", show_default="all")] = None,
    workspace: WorkspaceOpt = Path("."),
    as_of: AsOfOpt = None,
    json: JsonOpt = False,
) -> None:
    """Every identity, and each track key: use against its limit, expiry, forecast wear-out."""
    with open_workspace(workspace) as ws:
        answer = key_status.status(ws.engine, key_policy(ws.settings), when(as_of), track)
    show(answer, json, None, render_secure.key_status)


@keys_app.command("export")
def keys_export(
    name: Annotated[str | None, typer.Argument(show_default="this site")] = None,
    workspace: WorkspaceOpt = Path("."),
    track: Annotated[
        str | None, typer.Option(help="Export this track's epoch keys instead (sealed copies).")
    ] = None,
    output: Annotated[Path | None, typer.Option("-o", "--output")] = None,
) -> None:
    """Write an identity's public card (self-signed), or a track's sealed epoch keys, for
    another site to import."""
    with open_workspace(workspace) as ws:
        if track is not None:
            principals.require_admin(ws.engine, f"export the keys of {track}")
            body = principals.export_epochs(ws.engine, track)
            what = f"{track}'s {len(body['epochs'])} epochs"
        else:
            who = name or ws.settings.site
            found = current_identity(principals.writer_of(ws.engine).states[SECURE], who)
            if found is None:
                raise UserInputError(f"no identity {who!r} here")
            body = {k: v for k, v in found.items() if k not in ("record", "since")}
            what = f"{who}'s card (fingerprint {body['fingerprint']})"
    data = orjson.dumps(body, option=orjson.OPT_INDENT_2) + b"\n"
    if output is None:
        os.write(1, data)
    else:
        output.write_bytes(data)
        out.print(f"Wrote {what} to {output}")


@keys_app.command("import")
def keys_import(
    card: Annotated[Path, typer.Argument(help="A card written by `sitroom keys export`.")],
    fingerprint: Annotated[
        str | None,
        typer.Option(help="The fingerprint its owner read out to you (out of band)."),
    ] = None,
    workspace: WorkspaceOpt = Path("."),
    json: JsonOpt = False,
) -> None:
    """Trust another site's, intermediary's or person's public keys (a verified endpoint), or
    record a track's epoch keys exported by a site already trusted."""
    try:
        payload = orjson.loads(read_text(card))
    except orjson.JSONDecodeError:
        raise UserInputError(f"{card} is not JSON written by `sitroom keys export`") from None
    if not isinstance(payload, dict):
        raise UserInputError(f"{card} is not a card or epoch bundle")
    with open_workspace(workspace) as ws:
        if "epochs" in payload:
            done = principals.import_epochs(ws.engine, payload)
            if json:
                emit_json({"epochs": done})
            else:
                for e in done:
                    out.print(f"Recorded epoch {e['epoch']} of {e['track']}, from {e['issuer']}")
            return
        ident = principals.import_card(ws.engine, payload, fingerprint)
    info = {"name": ident.name, "role": ident.role, "fingerprint": ident.fingerprint}
    if json:
        emit_json(info)
    else:
        out.print(f"Imported {ident.name} ({ident.role}), fingerprint {ident.fingerprint}")


@user_app.command("add")
def user_add(
    name: Annotated[str, typer.Argument(help="The user's name.")],
    workspace: WorkspaceOpt = Path("."),
    role: Annotated[str, typer.Option(help="admin, analyst or viewer.")] = ANALYST,
    passphrase_file: PassphraseFileOpt = None,
    json: JsonOpt = False,
) -> None:
    """Add a user (creating their keys if they have none). The first user is the admin."""
    with open_workspace(workspace) as ws:
        made = None
        if not ws.keystore.exists(name):
            made = _create_identity(ws, name, PERSON, None, passphrase_file)
        value = principals.add_user(ws.engine, name, role, by=USER.get())
    value["keys_created"] = made is not None
    if json:
        emit_json(value)
    else:
        out.print(
            f"{value['user']} is a {value['role']}" + (" (first user)" if value["first"] else "")
        )
        if made:
            out.print(f"keys {made['key']}, fingerprint {made['fingerprint']}")


def _clearance(workspace: Path, name: str, compartment: str, grant: bool, json: bool) -> None:
    with open_workspace(workspace) as ws:
        value = principals.change_clearance(
            ws.engine,
            name,
            compartment,
            grant=grant,
            by=USER.get(),
            issuer=ws.site_secret(),
            policy=key_policy(ws.settings),
            aead=ws.settings.key_aead,
        )
    if json:
        emit_json(value)
        return
    out.print(f"{name} {'cleared for' if grant else 'no longer cleared for'} {compartment}")
    if "epoch" in value:
        e = value["epoch"]
        out.print(
            f"{compartment} re-keyed: epoch {e['epoch']}, sealed to {', '.join(e['members'])}"
        )


@user_app.command("grant")
def user_grant(
    name: Annotated[str, typer.Argument(help="A user or an imported identity.")],
    compartment: Annotated[str, typer.Argument(help="A track id or a marking (TLP:RED).")],
    workspace: WorkspaceOpt = Path("."),
    json: JsonOpt = False,
) -> None:
    """Clear someone for a compartment (a track is re-keyed to include them)."""
    _clearance(workspace, name, compartment, True, json)


@user_app.command("revoke")
def user_revoke(
    name: Annotated[str, typer.Argument(help="A user or an imported identity.")],
    compartment: Annotated[str, typer.Argument(help="A track id or a marking.")],
    workspace: WorkspaceOpt = Path("."),
    json: JsonOpt = False,
) -> None:
    """Withdraw a clearance (a track is re-keyed without them: they read nothing after)."""
    _clearance(workspace, name, compartment, False, json)


@user_app.command("list")
def user_list(
    workspace: WorkspaceOpt = Path("."),
    as_of: AsOfOpt = None,
    json: JsonOpt = False,
) -> None:
    """Users and endpoints, their roles and clearances."""
    with open_workspace(workspace) as ws:
        answer = key_status.users(ws.engine, when(as_of))
    show(answer, json, "users", render_secure.users)
