"""The agreement commands: `sitroom agreements` (where each stands), `agreements show`,
`propose`, `sign`, `withdraw`, `export` and `verify`.

The person acting is `-u NAME`; the parties of an agreement are `--party NAME` (a party signs
or withdraws as themselves by default). `agreements verify --file F --key CARD...` opens no
room: an exported agreed record and the parties' public cards are all it reads. It exits 0
when the record verifies and 7 (as `sitroom verify` does for a tampered log) when it does not.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sitroom.cli.shell import (
    AsOfOpt,
    JsonOpt,
    PassphraseFileOpt,
    WorkspaceOpt,
    asker,
    emit,
    lists_when_bare,
    output,
    read_text,
    room,
    when,
)
from sitroom.errors import UserInputError

TOPIC = "Audit and agreements"
NOT_VERIFIED = 7
agreements_app = typer.Typer(
    help="Signed agreements: list, show, propose, sign, withdraw, export, verify.",
    invoke_without_command=True,
)
IdArg = Annotated[str, typer.Argument(metavar="ID", help="The agreement.")]
PartyOpt = Annotated[
    str | None,
    typer.Option("--party", help="The party acting (their keys sign).", show_default="--user"),
]


def register(app: typer.Typer) -> None:
    app.add_typer(agreements_app, name="agreements", rich_help_panel=TOPIC)


lists_when_bare(agreements_app, lambda r, at: r.agreements.status(as_of_ms=at), "agreements.status")


@agreements_app.command("show")
def agreements_show(
    aid: IdArg, workspace: WorkspaceOpt = Path("."), as_of: AsOfOpt = None, json: JsonOpt = False
) -> None:
    """One agreement with its text, digest and each party's signature."""
    from sitroom.cli.render import agreements as render

    with room(workspace) as r:
        emit(r.agreements.status(aid, as_of_ms=when(as_of)), json, render.status)


@agreements_app.command("propose")
def agreements_propose(
    title: Annotated[str, typer.Argument(help="What the agreement is called.")],
    party: Annotated[
        list[str], typer.Option("--party", help="A party that must sign (repeat for each).")
    ],
    workspace: WorkspaceOpt = Path("."),
    text: Annotated[str | None, typer.Option(help="The text to sign.")] = None,
    text_file: Annotated[
        Path | None, typer.Option(help="Read the text to sign from this file, byte for byte.")
    ] = None,
    track: Annotated[str | None, typer.Option(help="The track it belongs to.")] = None,
    aid: Annotated[
        str | None, typer.Option("--id", help="Short id.", show_default="from the title")
    ] = None,
    json: JsonOpt = False,
) -> None:
    """Propose a text for the parties to sign (as -u NAME, or the site); each party is pinned
    to the key they have now."""
    from sitroom.cli.render import agreements as render

    if (text is None) == (text_file is None):
        raise UserInputError("give the text to sign with --text or --text-file (one of them)")
    body = read_text(text_file) if text_file is not None else str(text)
    with room(workspace) as r:
        made = r.agreements.propose(title, body, party, id=aid, track=track)
    emit(made, json, render.proposed)


@agreements_app.command("sign")
def agreements_sign(
    aid: IdArg,
    workspace: WorkspaceOpt = Path("."),
    party: PartyOpt = None,
    passphrase_file: PassphraseFileOpt = None,
    json: JsonOpt = False,
) -> None:
    """Sign the agreement's canonical text as a party; the last signature makes it agreed."""
    from sitroom.cli.render import agreements as render

    with room(workspace) as r:
        done = r.agreements.sign(aid, party, passphrase=asker(file=passphrase_file))
    emit(done, json, render.signed)


@agreements_app.command("withdraw")
def agreements_withdraw(
    aid: IdArg,
    reason: Annotated[str, typer.Option(help="Why, for the record (it is signed).")],
    workspace: WorkspaceOpt = Path("."),
    party: PartyOpt = None,
    passphrase_file: PassphraseFileOpt = None,
    json: JsonOpt = False,
) -> None:
    """Withdraw, signed, before every party has signed: the agreement is aborted."""
    from sitroom.cli.render import agreements as render

    with room(workspace) as r:
        done = r.agreements.withdraw(
            aid, party, reason=reason, passphrase=asker(file=passphrase_file)
        )
    emit(done, json, render.withdrew)


@agreements_app.command("export")
def agreements_export(
    aid: IdArg,
    workspace: WorkspaceOpt = Path("."),
    out: Annotated[Path | None, typer.Option("-o", "--output", help="Write to this file.")] = None,
    json: JsonOpt = False,
) -> None:
    """Write the agreed record (text, digests, every signature and card) for offline checks."""
    from sitroom.cli.render import agreements as render

    # The output first: a path that is refused is refused before the room is opened.
    with output(out, workspace=workspace) as f, room(workspace) as r:
        done = r.agreements.export(aid)
        f.write(done.data)
    if out is not None:
        emit(done, json, render.exported)


@agreements_app.command("verify")
def agreements_verify(
    aid: Annotated[
        str | None, typer.Argument(metavar="[ID]", help="An agreement of this room.")
    ] = None,
    workspace: WorkspaceOpt = Path("."),
    file: Annotated[
        Path | None,
        typer.Option("--file", help="An agreed record from `agreements export` (offline)."),
    ] = None,
    key: Annotated[
        list[Path] | None,
        typer.Option("--key", help="A party's public card you trust (`sitroom keys export`)."),
    ] = None,
    json: JsonOpt = False,
) -> None:
    """Check every party's signature over the agreed text: in this room, or offline from an
    exported record and the parties' public cards. Exit 7 if it does not verify."""
    from sitroom.application.agreements import verify_offline
    from sitroom.cli.render import agreements as render

    if (aid is None) == (file is None):
        raise UserInputError("name an agreement ID, or give --file AGREED.json (one of them)")
    if file is not None:
        report = verify_offline(read_text(file), [read_text(k) for k in key or ()])
    else:
        if key:
            raise UserInputError("--key goes with --file; in a room its identities are used")
        with room(workspace) as r:
            report = r.agreements.verify(str(aid))
    emit(report, json, render.verification)
    if not report.ok:
        raise typer.Exit(NOT_VERIFIED)
