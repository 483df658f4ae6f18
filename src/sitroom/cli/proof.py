"""`sitroom proof`: prove to someone who holds only this site's card that a record is in its
log, or that the log only grew since a head they hold; and check such a proof, offline.

    geneva$ sitroom proof record agreement.agreed:geneva-accord -o accord.proof.json
    geneva$ sitroom proof grew --since old-head.json -o grew.proof.json
    anyone$ sitroom proof check accord.proof.json --card geneva.card      # exit 7 if not
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import orjson
import typer

from sitroom.cli.audit import TAMPERED
from sitroom.cli.shell import JsonOpt, WorkspaceOpt, emit, output, read_text, room

TOPIC = "Audit and agreements"
OutOpt = Annotated[Path | None, typer.Option("-o", "--output", help="Write to this file.")]

proof_app = typer.Typer(no_args_is_help=True, help="Inclusion and consistency proofs.")


def register(app: typer.Typer) -> None:
    app.add_typer(proof_app, name="proof", rich_help_panel=TOPIC)


@proof_app.command("record")
def proof_record(
    rid: Annotated[str, typer.Argument(metavar="ID", help="The record's id.")],
    workspace: WorkspaceOpt = Path("."),
    out: OutOpt = None,
    json: JsonOpt = False,
) -> None:
    """Prove that a record is in this site's log, under a head the site signs now."""
    from sitroom.cli.render import witness as render

    with output(out, workspace=workspace) as f, room(workspace, as_site=True) as r:
        made = r.proofs.record(rid)
        f.write(orjson.dumps(made.statement, option=orjson.OPT_INDENT_2) + b"\n")
    if out is not None:
        emit(made, json, render.proof_made)


@proof_app.command("grew")
def proof_grew(
    since: Annotated[
        Path,
        typer.Option(
            "--since",
            help="A head this site signed (head.json, a witness request, a co-signed head).",
        ),
    ],
    workspace: WorkspaceOpt = Path("."),
    out: OutOpt = None,
    json: JsonOpt = False,
) -> None:
    """Prove that this site's log extends an earlier head of it: it only grew."""
    from sitroom.cli.render import witness as render

    earlier = read_text(since)
    with output(out, workspace=workspace) as f, room(workspace, as_site=True) as r:
        made = r.proofs.grew(earlier)
        f.write(orjson.dumps(made.statement, option=orjson.OPT_INDENT_2) + b"\n")
    if out is not None:
        emit(made, json, render.proof_made)


@proof_app.command("check")
def proof_check(
    file: Annotated[Path, typer.Argument(help="A proof from `sitroom proof record` or `grew`.")],
    card: Annotated[
        Path, typer.Option("--card", help="The site's public card, exchanged out of band.")
    ],
    json: JsonOpt = False,
) -> None:
    """Check a proof offline, with the site's card alone. Exit 7 if it does not hold."""
    from sitroom.application.proofs import check
    from sitroom.cli.render import witness as render

    checked = check(read_text(file), read_text(card))
    emit(checked, json, render.proof_checked)
    if not checked.ok:
        raise typer.Exit(TAMPERED)
