"""The agreement commands: `sitroom agreements` (where each stands), `agreements show`,
`propose`, `proposal`, `sign`, `withdraw`, `collect`, `export` and `verify`.

The person acting is `-u NAME`; the parties of an agreement are `--party NAME` (a party signs
or withdraws as themselves by default). Three open no room: `sign --offline PROPOSAL --key
KEY` and `withdraw --offline ...`, run by a party on its own machine with its own key file
(the statement they write is recorded by `collect` in the mediator's room), and `verify --file
F --key CARD...`, which reads an exported agreed record, the parties' public cards and any
signed withdrawals. It exits 0 when the record verifies and 7 (as `sitroom verify` does for a
tampered log) when it does not; `collect` exits 5 when it refused a statement.
"""

from __future__ import annotations

from collections.abc import Callable
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
    err,
    lists_when_bare,
    output,
    read_text,
    room,
    when,
)
from sitroom.errors import UserInputError

TOPIC = "Audit and agreements"
NOT_VERIFIED = 7
REFUSED = 5  # as a refused online signature exits
agreements_app = typer.Typer(
    help="Signed agreements: list, show, propose, proposal, sign, withdraw, collect, export, "
    "verify.",
    invoke_without_command=True,
)
IdArg = Annotated[str, typer.Argument(metavar="ID", help="The agreement.")]
MaybeIdArg = Annotated[
    str | None, typer.Argument(metavar="[ID]", help="The agreement (not with --offline).")
]
PartyOpt = Annotated[
    str | None,
    typer.Option("--party", help="The party acting (their keys sign).", show_default="--user"),
]
OutOpt = Annotated[Path | None, typer.Option("-o", "--output", help="Write to this file.")]
OfflineOpt = Annotated[
    Path | None,
    typer.Option(
        "--offline",
        metavar="PROPOSAL",
        help="On your own machine, no workspace: sign this proposal file (`agreements "
        "proposal`) with --key, writing a statement for the mediator to collect.",
    ),
]
OwnKeyOpt = Annotated[
    Path | None,
    typer.Option(
        "--key", help="With --offline: your own key file (keys/NAME.key).", show_default=False
    ),
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


@agreements_app.command("proposal")
def agreements_proposal(
    aid: IdArg, workspace: WorkspaceOpt = Path("."), out: OutOpt = None, json: JsonOpt = False
) -> None:
    """Write the proposal, exactly as it is signed, for the parties to check and sign on their
    own machines (`agreements sign --offline`)."""
    from sitroom.cli.render import agreements as render

    with output(out, workspace=workspace) as f, room(workspace) as r:
        done = r.agreements.proposal(aid)
        f.write(done.data)
    if out is not None:
        emit(done, json, render.proposal_written)


@agreements_app.command("sign")
def agreements_sign(
    aid: MaybeIdArg = None,
    workspace: WorkspaceOpt = Path("."),
    party: PartyOpt = None,
    offline: OfflineOpt = None,
    key: OwnKeyOpt = None,
    out: OutOpt = None,
    passphrase_file: PassphraseFileOpt = None,
    json: JsonOpt = False,
) -> None:
    """Sign the agreement's canonical text as a party; the last signature makes it agreed.
    With --offline PROPOSAL --key KEY: sign a proposal file on your own machine instead."""
    from sitroom.cli.render import agreements as render

    ask = asker(file=passphrase_file)
    detached = _offline(aid, offline, key, out=out, party=party)
    if detached is not None:
        _detached(*detached, out, json, ask=ask, reason=None)
    else:
        with room(workspace) as r:
            done = r.agreements.sign(str(aid), party, passphrase=ask)
        emit(done, json, render.signed)


@agreements_app.command("withdraw")
def agreements_withdraw(
    reason: Annotated[str, typer.Option(help="Why, for the record (it is signed).")],
    aid: MaybeIdArg = None,
    workspace: WorkspaceOpt = Path("."),
    party: PartyOpt = None,
    offline: OfflineOpt = None,
    key: OwnKeyOpt = None,
    out: OutOpt = None,
    passphrase_file: PassphraseFileOpt = None,
    json: JsonOpt = False,
) -> None:
    """Withdraw, signed, before every party has signed: the agreement is aborted. With
    --offline PROPOSAL --key KEY: sign the withdrawal on your own machine, for collection."""
    from sitroom.cli.render import agreements as render

    ask = asker(file=passphrase_file)
    detached = _offline(aid, offline, key, out=out, party=party)
    if detached is not None:
        _detached(*detached, out, json, ask=ask, reason=reason)
    else:
        with room(workspace) as r:
            done = r.agreements.withdraw(str(aid), party, reason=reason, passphrase=ask)
        emit(done, json, render.withdrew)


def _offline(
    aid: str | None, offline: Path | None, key: Path | None, *, out: Path | None, party: str | None
) -> tuple[Path, Path] | None:
    """The proposal file and key file when a party signs detached (--offline, with its own
    --key); None when it signs in a workspace."""
    if (aid is None) == (offline is None):
        raise UserInputError("name an agreement ID, or give --offline PROPOSAL (one of them)")
    if offline is None:
        if key is not None or out is not None:
            raise UserInputError("--key and -o go with --offline; in a room its keystore signs")
        return None
    if key is None:
        raise UserInputError("--offline signs with your own key file: give --key keys/NAME.key")
    if party is not None:
        raise UserInputError("--offline signs as the owner of --key: leave out --party")
    if out is not None and out.resolve() == key.resolve():
        raise UserInputError(f"will not write over your key file {key}: choose another -o")
    return offline, key


def _detached(
    proposal: Path,
    key: Path,
    out: Path | None,
    json: bool,
    *,
    ask: Callable[[str], str],
    reason: str | None,
) -> None:
    """Sign (or withdraw from) a proposal file with a key file: what is signed is shown on
    stderr first, and the statement written to -o (or stdout)."""
    from sitroom.application import agreements_offline as offline
    from sitroom.cli.render import agreements as render
    from sitroom.room import key_at

    p = offline.read_proposal(read_text(proposal))
    render.to_sign(err(), offline.ToSign.of(p), withdraws=reason is not None)
    store, name = key_at(key)
    with output(out, workspace=None) as f:
        done = offline.sign_offline(p, store, name, passphrase=ask, reason=reason)
        f.write(done.data)
    if out is not None:
        emit(done, json, render.detached)


@agreements_app.command("collect")
def agreements_collect(
    aid: IdArg,
    statements: Annotated[
        list[Path],
        typer.Argument(
            metavar="STATEMENT...",
            help="Signatures or withdrawals written by `agreements sign|withdraw --offline`.",
        ),
    ],
    workspace: WorkspaceOpt = Path("."),
    json: JsonOpt = False,
) -> None:
    """Record what the parties signed detached: each statement is checked against the
    proposal and the key it pins; a refused one records nothing (one line each, exit 5). The
    last signature makes the agreement agreed."""
    from sitroom.cli.render import agreements as render

    given = [(str(f), read_text(f)) for f in statements]
    with room(workspace) as r:
        done = r.agreements.collect(aid, given)
    emit(done, json, render.collected)
    render.refusals(err(), done)
    if done.refusals:
        raise typer.Exit(REFUSED)


@agreements_app.command("export")
def agreements_export(
    aid: IdArg,
    workspace: WorkspaceOpt = Path("."),
    out: OutOpt = None,
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
    withdrawal: Annotated[
        list[Path] | None,
        typer.Option(
            "--withdrawal", help="A signed withdrawal (`agreements withdraw --offline`) to weigh."
        ),
    ] = None,
    json: JsonOpt = False,
) -> None:
    """Check every party's signature over the agreed text: in this room, or offline from an
    exported record, the parties' public cards and any signed withdrawals. Exit 7 if it does
    not verify."""
    from sitroom.application.agreements_offline import verify_offline
    from sitroom.cli.render import agreements as render

    if (aid is None) == (file is None):
        raise UserInputError("name an agreement ID, or give --file AGREED.json (one of them)")
    if file is not None:
        cards = [read_text(k) for k in key or ()]
        report = verify_offline(read_text(file), cards, [read_text(w) for w in withdrawal or ()])
    else:
        if key or withdrawal:
            raise UserInputError(
                "--key and --withdrawal go with --file; in a room its identities are used"
            )
        with room(workspace) as r:
            report = r.agreements.verify(str(aid))
    emit(report, json, render.verification)
    if not report.ok:
        raise typer.Exit(NOT_VERIFIED)
