"""The key commands: `sitroom keys` (every identity and track key), `keys init`, `keys inbox`,
`keys rotate`, `keys replace`, `keys export` and `keys import`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from sitroom.cli.shell import (
    AsOfOpt,
    JsonOpt,
    PassphraseFileOpt,
    WorkspaceOpt,
    asker,
    emit,
    output,
    read_text,
    room,
    when,
)

if TYPE_CHECKING:
    from sitroom.room import Room

TOPIC = "Keys and access"
keys_app = typer.Typer(
    help="Identities and track keys: status, init, rotate, replace, export, import.",
    invoke_without_command=True,
)


def register(app: typer.Typer) -> None:
    app.add_typer(keys_app, name="keys", rich_help_panel=TOPIC)


@keys_app.callback()
def keys(
    ctx: typer.Context,
    workspace: WorkspaceOpt = Path("."),
    track: Annotated[str | None, typer.Option(help="Only this track's key.")] = None,
    as_of: AsOfOpt = None,
    json: JsonOpt = False,
) -> None:
    """Every identity, and each track key: use against its limit, expiry, forecast wear-out
    (a subcommand makes, rotates, exports or imports keys)."""
    from sitroom.cli.render import keys as render

    if ctx.invoked_subcommand is not None:
        return
    with room(workspace) as r:
        emit(r.keys.status(track, as_of_ms=when(as_of)), json, render.status)


@keys_app.command("init")
def keys_init(
    name: Annotated[
        str | None,
        typer.Argument(help="A person or an intermediary.", show_default="this site"),
    ] = None,
    workspace: WorkspaceOpt = Path("."),
    role: Annotated[str, typer.Option(help="person, site or intermediary.")] = "person",
    key_file: Annotated[
        Path | None,
        typer.Option(
            help="Protect the key with this key file (made if missing), not a passphrase."
        ),
    ] = None,
    passphrase_file: PassphraseFileOpt = None,
    json: JsonOpt = False,
) -> None:
    """Make an identity's keys (Ed25519 signing, X25519 key agreement), encrypted at rest, and
    publish the public half. Without NAME: this site's own keys, if it has none."""
    from sitroom.cli.render import keys as render

    ask = asker(confirm=True, file=passphrase_file)
    with room(workspace) as r:
        made = r.keys.init(name, role=role, key_file=key_file, passphrase=ask)
    emit(made, json, render.made)


@keys_app.command("inbox")
def keys_inbox(
    workspace: WorkspaceOpt = Path("."),
    count: Annotated[int, typer.Option(help="How many one-time inbox keys to publish.")] = 20,
    passphrase_file: PassphraseFileOpt = None,
    json: JsonOpt = False,
) -> None:
    """Publish one-time inbox keys for the acting identity (the user, or this site): the next
    epochs of its tracks are sealed to them, one each, and once it has opened an epoch neither
    its key nor the log opens what it read (forward secrecy for readers)."""
    from sitroom.cli.render import keys as render

    ask = asker(confirm=False, file=passphrase_file)
    with room(workspace) as r:
        emit(r.keys.inbox(count, passphrase=ask), json, render.inbox)


@keys_app.command("rotate")
def keys_rotate(
    track: Annotated[str, typer.Argument(help="The track to re-key.")],
    workspace: WorkspaceOpt = Path("."),
    reason: Annotated[str, typer.Option(help="Why, for the record.")] = "rotation",
    json: JsonOpt = False,
) -> None:
    """Start a new epoch of a track's key, sealed to whoever is cleared for it now."""
    from sitroom.cli.render import keys as render

    with room(workspace) as r:
        emit(r.keys.rotate(track, reason=reason), json, render.epoch)


@keys_app.command("replace")
def keys_replace(
    name: Annotated[
        str, typer.Argument(help="The person, intermediary or this site whose key to replace.")
    ],
    workspace: WorkspaceOpt = Path("."),
    key_file: Annotated[
        Path | None,
        typer.Option(help="Protect a site's or intermediary's new key with this key file (new)."),
    ] = None,
    reason: Annotated[str, typer.Option(help="Why, for the record.")] = "compromised",
    passphrase_file: Annotated[
        Path | None,
        typer.Option(help="Read a person's NEW passphrase from this file.", show_default="ask"),
    ] = None,
    lost: Annotated[
        bool,
        typer.Option(
            "--lost", help="This site's old key file is gone: no old-key signature (re-pin)."
        ),
    ] = False,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Write this site's key transition here, for peers and witnesses.",
            show_default="SITE-key-transition-FP.json",
        ),
    ] = None,
    json: JsonOpt = False,
) -> None:
    """Replace a compromised key: a new key pair (a new passphrase, or a new key file), the old
    key revoked on the record, every track it could open re-keyed without it, and the tokens
    it was wrapped in ended. An admin replaces anyone's; a user their own. This site's key is
    replaced with a key transition signed by the old key and the new (--lost: the new only),
    written to --out for the sites and witnesses that pinned its card."""
    from sitroom.cli.auth import forget_login
    from sitroom.cli.render import keys as render

    ask = asker(confirm=True, file=passphrase_file)
    with room(workspace) as r:
        if name == r.site:
            _replace_site(r, key_file=key_file, reason=reason, lost=lost, out=out, json=json)
            return
        if lost or out is not None:
            from sitroom.errors import UserInputError

            raise UserInputError("--lost and --out are for this site's own key")
        done = r.keys.replace(name, passphrase=ask, key_file=key_file, reason=reason)
    forget_login(workspace, name)
    emit(done, json, render.replaced)


def _replace_site(
    r: Room, *, key_file: Path | None, reason: str, lost: bool, out: Path | None, json: bool
) -> None:
    import dataclasses

    import orjson

    from sitroom.adapters.outputs import refuse_own, written
    from sitroom.cli.render import keys as render
    from sitroom.errors import UserInputError

    if out is not None:  # refused before anything changes
        refuse_own(out, r.path)
        if not out.parent.is_dir():
            raise UserInputError(f"cannot write {out}: {out.parent} is not a folder")
        if out.exists():
            raise UserInputError(f"{out} exists: give a new file for the key transition")
    done = r.site_key.replace(key_file=key_file, reason=reason, lost=lost)
    short = done.fingerprint.replace(" ", "")[:8]
    to = out or Path(f"{done.name}-key-transition-{short}.json")
    with written(to, r.path) as f:
        f.write(orjson.dumps(done.statement, option=orjson.OPT_INDENT_2) + b"\n")
    emit(dataclasses.replace(done, transition=str(to)), json, render.site_replaced)


@keys_app.command("export")
def keys_export(
    name: Annotated[str | None, typer.Argument(show_default="this site")] = None,
    workspace: WorkspaceOpt = Path("."),
    track: Annotated[
        str | None, typer.Option(help="Export this track's epoch keys instead (sealed copies).")
    ] = None,
    out: Annotated[Path | None, typer.Option("-o", "--output", help="Write to this file.")] = None,
    json: JsonOpt = False,
) -> None:
    """Write an identity's public card (self-signed), or a track's sealed epoch keys, for
    another site to import."""
    from sitroom.cli.render import keys as render
    from sitroom.errors import UserInputError

    if name is not None and track is not None:
        raise UserInputError("export a NAME's card or a --track's keys, not both")
    # The output first: a path that is refused is refused before the room is opened.
    with output(out, workspace=workspace) as f, room(workspace) as r:
        done = r.keys.export_epochs(track) if track else r.keys.export_card(name)
        f.write(done.data)
    if out is not None:
        emit(done, json, render.exported)


@keys_app.command("import")
def keys_import(
    file: Annotated[
        Path, typer.Argument(help="A card or epochs written by `sitroom keys export`.")
    ],
    fingerprint: Annotated[
        str | None,
        typer.Option(help="The fingerprint its owner read out to you (out of band)."),
    ] = None,
    transition: Annotated[
        Path | None,
        typer.Option(
            help="A known site's key transition (`keys replace SITE --out`): it vouches for "
            "the new card, signed by the key pinned here."
        ),
    ] = None,
    workspace: WorkspaceOpt = Path("."),
    json: JsonOpt = False,
) -> None:
    """Trust another site's, intermediary's or person's public keys (a verified endpoint),
    record a track's epoch keys exported by a site trusted already, or take a known site's
    new key from its key transition (a file `keys replace SITE` wrote; a witness checks it
    extends the head it co-signed last)."""
    from sitroom.cli.render import keys as render

    data = read_text(file).encode()
    moved = None if transition is None else read_text(transition).encode()
    with room(workspace) as r:
        done = r.keys.import_file(data, fingerprint=fingerprint, transition=moved)
        emit(done, json, render.imported)
