"""What every command of the shell shares: the consoles, the common options, JSON and table
output with provenance, times typed by the user, and opening a workspace."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.console import Console

from sitroom.adapters.clock import SystemClock
from sitroom.cli.shell import USER
from sitroom.domain.provenance import Answer, Provenance
from sitroom.domain.timeutil import parse_time
from sitroom.errors import UserInputError
from sitroom.workspace import Workspace

# Piped output is for logs and files, not an 80-column terminal: give tables room.
out = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, highlight=False, soft_wrap=True)

WorkspaceOpt = Annotated[
    Path,
    typer.Option(
        "--workspace",
        "-w",
        envvar="SITROOM_WORKSPACE",
        help="Workspace directory.",
        show_default="current directory",
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
AsOfOpt = Annotated[
    str | None,
    typer.Option("--as-of", help="Answer with what was known at this time (ISO 8601, or -2h)."),
]


def emit_json(data: Any) -> None:
    sys.stdout.buffer.write(
        orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS)
    )
    sys.stdout.buffer.write(b"\n")


def emit(value: Any, json: bool, renderer: Callable[[Console, Any], None]) -> None:
    """What a command did (no provenance to show): JSON for scripts, or rendered for people."""
    if json:
        emit_json(value)
    else:
        renderer(out, value)


def show(
    answer: Answer[Any],
    json: bool,
    key: str | None,
    renderer: Callable[[Console, Any, Provenance], None],
) -> None:
    """An answer with its provenance: JSON for scripts, or rendered for people."""
    if json:
        body = {key: answer.value} if key else dict(answer.value)
        emit_json({**body, "provenance": answer.provenance.as_dict()})
    else:
        renderer(out, answer.value, answer.provenance)


def when(text: str | None) -> int | None:
    return None if text is None else parse_time(text, now_ms=SystemClock().now_ms())


@contextmanager
def open_workspace(path: Path, *, as_site: bool = False) -> Iterator[Workspace]:
    """Open a workspace as the user running the command (their view, their rights), or, for a
    desk or a followed feed, as the site itself."""
    ws = Workspace.open(path)
    try:
        if not as_site:
            ws.act_as(USER.get())
        yield ws
    finally:
        ws.close()


def read_text(f: Path) -> str:
    try:
        return f.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserInputError(f"no such file: {f}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise UserInputError(f"cannot read {f}: {e}") from None
