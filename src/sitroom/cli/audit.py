"""`sitroom verify`: check the audit chain of a room's log — without opening the room, since a
tampered record may not even decode — and name the first record that is not as written.

Exit 0 when the log is intact, 7 when it was tampered with (changed, removed or re-ordered
records, a forged or contradicted checkpoint); other errors exit as usual (2: no workspace).
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Annotated

import typer

from sitroom.cli.shell import JsonOpt, WorkspaceOpt, emit, progress, read_text

TOPIC = "Audit and agreements"
TAMPERED = 7


def register(app: typer.Typer) -> None:
    app.command("verify", rich_help_panel=TOPIC)(verify)


def verify(
    workspace: WorkspaceOpt = Path("."),
    deep: Annotated[
        bool,
        typer.Option("--deep", help="Also decode every segment and check its records and ids."),
    ] = False,
    no_checkpoint: Annotated[
        bool, typer.Option("--no-checkpoint", help="Do not sign the verified head afterwards.")
    ] = False,
    witnessed: Annotated[
        list[Path] | None,
        typer.Option(
            "--witnessed",
            help="A head of this site a witness co-signed (`sitroom witness show -o`): the "
            "log must extend it.",
        ),
    ] = None,
    card: Annotated[
        list[Path] | None,
        typer.Option(
            "--card",
            help="A witness's public card, exchanged out of band, to check co-signed heads "
            "against (also those the log holds).",
        ),
    ] = None,
    json: JsonOpt = False,
) -> None:
    """Verify the audit chain: no record changed, removed or re-ordered; the first bad one
    named. Exit 7 if the log was tampered with."""
    from sitroom.cli.render import agreements as render
    from sitroom.room import verify as check

    with progress(not json) as bar:
        step = partial(bar, "verify") if bar else None
        report = check(
            workspace,
            deep=deep,
            checkpoint=not no_checkpoint,
            progress=step,
            witnessed=[read_text(f) for f in witnessed or ()],
            witnesses=[read_text(f) for f in card or ()],
        )
    emit(report, json, partial(render.verified_log, workspace=workspace.resolve()))
    if not report.ok:
        raise typer.Exit(TAMPERED)
