"""The agreement commands: `sitroom agree propose|sign|withdraw|status|verify|export`. A thin
shell over application.agreements.

`agree verify --file F --key CARD...` opens no workspace: an exported agreed record and the
parties' public cards are all it reads. It exits 0 when the record verifies and 7 (as `sitroom
verify` does for a tampered log) when it does not.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer

from sitroom import render_agree
from sitroom.application import agreements
from sitroom.cli.shell import USER
from sitroom.domain.secure.agreements import Verification
from sitroom.errors import UserInputError
from sitroom.shell import (
    AsOfOpt,
    JsonOpt,
    WorkspaceOpt,
    emit,
    emit_json,
    open_workspace,
    out,
    read_text,
    show,
    unlock,
    when,
)

NOT_VERIFIED = 7

agree_app = typer.Typer(
    no_args_is_help=True, help="Signed agreements: propose, sign, withdraw, verify."
)

PassphraseFileOpt = Annotated[
    Path | None,
    typer.Option(help="Read the passphrase from this file.", show_default="ask"),
]
PartyOpt = Annotated[
    str | None,
    typer.Option("--as", help="The party acting (their keys sign).", show_default="--user"),
]


def register(app: typer.Typer) -> None:
    app.add_typer(agree_app, name="agree")


def _actor(name: str | None, what: str) -> str:
    who = name or USER.get()
    if not who:
        raise UserInputError(f"say which party {what} with --as NAME")
    return who


def _load_json(path: Path, what: str) -> dict[str, Any]:
    try:
        data = orjson.loads(read_text(path))
    except orjson.JSONDecodeError:
        raise UserInputError(f"{path} is not {what} (JSON)") from None
    if not isinstance(data, dict):
        raise UserInputError(f"{path} is not {what} (a JSON object)")
    return data


@agree_app.command("propose")
def agree_propose(
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
    proposer: Annotated[
        str | None, typer.Option("--as", help="Who proposes it.", show_default="--user or site")
    ] = None,
    json: JsonOpt = False,
) -> None:
    """Propose a text for the parties to sign; each is pinned to the key they have now."""
    if (text is None) == (text_file is None):
        raise UserInputError("give the text to sign with --text or --text-file (one of them)")
    body = read_text(text_file) if text_file is not None else str(text)
    with open_workspace(workspace) as ws:
        value = agreements.propose(
            ws.engine,
            title,
            body,
            party,
            proposer=proposer or USER.get() or ws.settings.site,
            agreement_id=aid,
            track=track,
        )
    emit(value, json, render_agree.proposed)


@agree_app.command("sign")
def agree_sign(
    aid: Annotated[str, typer.Argument(metavar="ID", help="The agreement.")],
    workspace: WorkspaceOpt = Path("."),
    as_: PartyOpt = None,
    passphrase_file: PassphraseFileOpt = None,
    json: JsonOpt = False,
) -> None:
    """Sign the agreement's canonical text as a party; the last signature makes it agreed."""
    who = _actor(as_, "signs")
    with open_workspace(workspace) as ws:
        value = agreements.sign(
            ws.engine, aid, who, lambda name: unlock(ws, name, file=passphrase_file)
        )
    emit(value, json, render_agree.signed)


@agree_app.command("withdraw")
def agree_withdraw(
    aid: Annotated[str, typer.Argument(metavar="ID", help="The agreement.")],
    reason: Annotated[str, typer.Option(help="Why, for the record (it is signed).")],
    workspace: WorkspaceOpt = Path("."),
    as_: PartyOpt = None,
    passphrase_file: PassphraseFileOpt = None,
    json: JsonOpt = False,
) -> None:
    """Withdraw, signed, before every party has signed: the agreement is aborted."""
    who = _actor(as_, "withdraws")
    with open_workspace(workspace) as ws:
        value = agreements.withdraw(
            ws.engine, aid, who, reason, lambda name: unlock(ws, name, file=passphrase_file)
        )
    emit(value, json, render_agree.withdrew)


@agree_app.command("status")
def agree_status(
    aid: Annotated[
        str | None, typer.Argument(metavar="[ID]", help="One agreement.", show_default="all")
    ] = None,
    workspace: WorkspaceOpt = Path("."),
    as_of: AsOfOpt = None,
    json: JsonOpt = False,
) -> None:
    """Each agreement: open, agreed or aborted; each party signed, pending or withdrew, when."""
    with open_workspace(workspace) as ws:
        answer = agreements.status(ws.engine, aid, as_of_ms=when(as_of))
    show(answer, json, "agreements", render_agree.status)


@agree_app.command("verify")
def agree_verify(
    aid: Annotated[
        str | None, typer.Argument(metavar="[ID]", help="An agreement of this workspace.")
    ] = None,
    workspace: WorkspaceOpt = Path("."),
    file: Annotated[
        Path | None,
        typer.Option("--file", help="An agreed record from `sitroom agree export` (offline)."),
    ] = None,
    key: Annotated[
        list[Path] | None,
        typer.Option("--key", help="A party's public card you trust (`sitroom keys export`)."),
    ] = None,
    json: JsonOpt = False,
) -> None:
    """Check every party's signature over the agreed text: in this workspace, or offline from
    an exported record and the parties' public cards. Exit 7 if it does not verify."""
    if (aid is None) == (file is None):
        raise UserInputError("name an agreement ID, or give --file AGREED.json (one of them)")
    if file is not None:
        if not key:
            raise UserInputError("offline, give each party's public card: --key CARD.json")
        cards = [_load_json(k, "a public card") for k in key]
        report = agreements.verify_offline(_load_json(file, "an agreed record"), cards)
    else:
        if key:
            raise UserInputError("--key goes with --file; in a workspace its identities are used")
        assert aid is not None
        with open_workspace(workspace) as ws:
            report = agreements.verify(ws.engine, aid)
    _verdict(report, json)


def _verdict(report: Verification, json: bool) -> None:
    body = report.as_dict()
    emit(body, json, render_agree.verification)
    if not report.ok:
        raise typer.Exit(NOT_VERIFIED)


@agree_app.command("export")
def agree_export(
    aid: Annotated[str, typer.Argument(metavar="ID", help="An agreed agreement.")],
    workspace: WorkspaceOpt = Path("."),
    output: Annotated[Path | None, typer.Option("-o", "--output")] = None,
    json: JsonOpt = False,
) -> None:
    """Write the agreed record (text, digests, every signature and card) for offline checks."""
    with open_workspace(workspace) as ws:
        payload = agreements.export(ws.engine, aid)
    data = orjson.dumps(payload, option=orjson.OPT_INDENT_2) + b"\n"
    if output is None:
        sys.stdout.buffer.write(data)
        return
    output.write_bytes(data)
    if json:
        emit_json({"agreement": aid, "file": str(output), "digest": payload["digest"]})
    else:
        out.print(f"Wrote agreed record {aid} to {output}; digest {payload['digest']}")
