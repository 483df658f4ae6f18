"""`sitroom witness`: have other sites co-sign this site's tree heads, and co-sign theirs.

    geneva$ sitroom witness request --for bern -o geneva.head.json
    bern$   sitroom witness cosign geneva.head.json -o geneva.cosigned.json
    geneva$ sitroom witness import geneva.cosigned.json

A witness refuses a head that does not extend the one it co-signed last (exit 7: the log was
rewritten, cut short or forked); `sitroom verify --witnessed FILE --card CARD` compares a log
with a co-signed head.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Annotated

import orjson
import typer

from sitroom.cli.audit import TAMPERED
from sitroom.cli.shell import JsonOpt, WorkspaceOpt, emit, output, read_text, room

TOPIC = "Audit and agreements"
OutOpt = Annotated[Path | None, typer.Option("-o", "--output", help="Write to this file.")]

witness_app = typer.Typer(no_args_is_help=True, help="Co-signed tree heads: witnesses.")


def register(app: typer.Typer) -> None:
    app.add_typer(witness_app, name="witness", rich_help_panel=TOPIC)


@contextmanager
def _forks_exit_7(json: bool) -> Iterator[None]:
    """A witness's refusal of a head that does not extend the last one it co-signed is
    tampering found: exit 7, as `sitroom verify` does."""
    from sitroom.cli import errors
    from sitroom.domain.secure.witness import FORKED, ROLLED_BACK
    from sitroom.errors import Rejected

    try:
        yield
    except Rejected as e:
        if e.reason not in (FORKED, ROLLED_BACK):
            raise
        errors.report(e, json=json)
        raise typer.Exit(TAMPERED) from None


def _dump(statement: object) -> bytes:
    return orjson.dumps(statement, option=orjson.OPT_INDENT_2) + b"\n"


@witness_app.command("request")
def witness_request(
    workspace: WorkspaceOpt = Path("."),
    for_witness: Annotated[
        str | None,
        typer.Option("--for", help="The witness: prove the head extends the one it signed last."),
    ] = None,
    out: OutOpt = None,
    json: JsonOpt = False,
) -> None:
    """Sign this site's tree head now, for a witness to co-sign (a file to hand over)."""
    from sitroom.cli.render import witness as render

    # The output first: a path that is refused is refused before the room is opened.
    with output(out, workspace=workspace) as f, room(workspace, as_site=True) as r:
        done = r.witness.request(for_witness)
        f.write(_dump(done.statement))
    if out is not None:
        emit(done, json, render.requested)


@witness_app.command("cosign")
def witness_cosign(
    file: Annotated[Path, typer.Argument(help="A request from `sitroom witness request`.")],
    workspace: WorkspaceOpt = Path("."),
    out: OutOpt = None,
    json: JsonOpt = False,
) -> None:
    """As witness: co-sign another site's tree head if it extends the one co-signed last for
    it (exit 7 if it does not: that site's log was rewritten, cut short or forked)."""
    from sitroom.cli.render import witness as render

    text = read_text(file)
    with _forks_exit_7(json), output(out, workspace=workspace) as f:
        with room(workspace, as_site=True) as r:
            done = r.witness.cosign(text)
        f.write(_dump(done.statement))
    if out is not None:
        emit(done, json, render.cosigned)


@witness_app.command("ask")
def witness_ask(
    by: Annotated[str, typer.Argument(metavar="WITNESS", help="The witness site's name.")],
    url: Annotated[str, typer.Option("--url", help="The witness's desk (https://host:port).")],
    workspace: WorkspaceOpt = Path("."),
    json: JsonOpt = False,
) -> None:
    """Have a witness co-sign this site's head now, over the site link (its desk, its
    certificate pinned to its card), and keep the co-signed head. Exit 7 if it refuses it as
    not extending the last one it co-signed."""
    from sitroom.cli.render import witness as render

    with _forks_exit_7(json), room(workspace, as_site=True) as r:
        done = r.witness.ask(by, url)
    emit(done, json, render.cosigned)


@witness_app.command("import")
def witness_import(
    file: Annotated[Path, typer.Argument(help="A head from `sitroom witness cosign`.")],
    workspace: WorkspaceOpt = Path("."),
    json: JsonOpt = False,
) -> None:
    """Keep a head a witness co-signed for this site (its card must be trusted here)."""
    from sitroom.cli.render import witness as render

    text = read_text(file)
    with room(workspace, as_site=True) as r:
        done = r.witness.receive(text)
    emit(done, json, render.cosigned)


@witness_app.command("show")
def witness_show(
    workspace: WorkspaceOpt = Path("."),
    site: Annotated[str | None, typer.Option(help="Only this site's heads.")] = None,
    by: Annotated[str | None, typer.Option("--by", help="Only this witness's.")] = None,
    out: Annotated[
        Path | None,
        typer.Option("-o", "--output", help="Write --site's newest co-signed head to this file."),
    ] = None,
    json: JsonOpt = False,
) -> None:
    """The newest co-signed head per witness and site; with -o, --site's newest as a file
    for `sitroom verify --witnessed`."""
    from sitroom.cli.render import witness as render
    from sitroom.errors import UserInputError

    if out is not None and site is None:
        raise UserInputError("-o writes one site's head: give --site")
    with output(out, workspace=workspace) if out else nullcontext() as f, room(workspace) as r:
        shown = r.witness.show(site)
        if f is not None and site is not None:
            f.write(_dump(r.witness.statement(site, by)))
    emit(shown, json, render.heads)
