"""What every command shares: the common options, who is acting, opening a room, reading what
the user typed (times, places, radii, durations), progress bars, and output — JSON for scripts
or a renderer for people.

This module imports no heavy library at import time: `sitroom --help` must not pay for Arrow,
polars or OR-Tools. Commands import the room and their renderers when they run.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, BinaryIO, TypeVar

import typer

from sitroom.cli import streams
from sitroom.errors import UserInputError

if TYPE_CHECKING:
    from rich.console import Console

    from sitroom.application.auth import Proof
    from sitroom.application.results import Result
    from sitroom.domain.geo import Point, Radius
    from sitroom.room import Room

R = TypeVar("R", bound="Result")

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
    typer.Option("--as-of", help="Answer with what was known then (ISO 8601, -2h, 1d ago)."),
]
SinceOpt = Annotated[
    str | None, typer.Option("--since", help="From this time (ISO 8601, -2h, 1d ago).")
]
UntilOpt = Annotated[
    str | None, typer.Option("--until", help="Up to this time (ISO 8601, -2h, +4h).")
]
NearOpt = Annotated[str | None, typer.Option("--near", help="A known place (Beirut) or LAT,LON.")]
RadiusOpt = Annotated[str, typer.Option(help="e.g. 500mi, 800km, 250nm (miles by default).")]

# Who runs this command: -u/--user NAME (or SITROOM_USER), anywhere on the command line.
USER: ContextVar[str | None] = ContextVar("sitroom_user", default=None)
# The room as the user a server runs this command for (sitroom.cli.bridge): no other is opened.
SERVED: ContextVar[Room | None] = ContextVar("sitroom_served", default=None)


# output -----------------------------------------------------------------------------------
def out() -> Console:
    return _out() if not streams.captured() else _console(file=streams.stdout(), width=160)


def err() -> Console:
    return _err() if not streams.captured() else _console(file=streams.stderr(), width=160)


@cache
def _out() -> Console:
    # Piped output is for logs and files, not an 80-column terminal: give tables room. No
    # file given: rich writes to whatever sys.stdout is at each print.
    return _console(width=None if sys.stdout.isatty() else 160)


@cache
def _err() -> Console:
    return _console(stderr=True)


def _console(*, file: Any = None, stderr: bool = False, width: int | None = None) -> Console:
    from rich.console import Console

    return Console(file=file, stderr=stderr, highlight=False, soft_wrap=True, width=width)


def emit_json(data: Any) -> None:
    import orjson

    to = streams.stdout()
    to.buffer.write(orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS))
    to.buffer.write(b"\n")
    to.flush()


def emit(result: R, json: bool, render: Callable[[Console, R], None]) -> None:
    """A result: its JSON for scripts, or rendered for people."""
    if json:
        emit_json(result.to_json())
    else:
        render(out(), result)


def say(text: str) -> None:
    """A line for people, printed as is (paths and ids hold brackets that are not markup)."""
    out().print(text, markup=False, highlight=False)


def warn(text: str) -> None:
    """A line on stderr: what happened on the way (an alert, a failed poll)."""
    err().print(text, markup=False, highlight=False)


# reading what the user typed --------------------------------------------------------------
def now_ms() -> int:
    from sitroom.adapters.clock import SystemClock

    return SystemClock().now_ms()


def when(text: str | None) -> int | None:
    """A time the user typed (ISO 8601, now, -2h, 1d ago, +4h), in epoch ms."""
    from sitroom.domain.timeutil import parse_time

    return None if text is None else parse_time(text, now_ms=now_ms())


def duration(text: str) -> int:
    from sitroom.domain.timeutil import parse_duration

    return parse_duration(text)


def place(text: str) -> Point:
    """A known place by name (Beirut, Geneva) or LAT,LON."""
    from sitroom.domain.places import place as known

    return known(text)


def radius(text: str) -> Radius:
    from sitroom.domain.geo import parse_radius

    return parse_radius(text)


def read_text(f: Path) -> str:
    try:
        return f.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserInputError(f"no such file: {f}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise UserInputError(f"cannot read {f}: {e}") from None


PASSPHRASE_ENV = "SITROOM_PASSPHRASE"
PASSPHRASE_FILE_ENV = "SITROOM_PASSPHRASE_FILE"


def passphrase(name: str, *, confirm: bool = False, file: Path | None = None) -> str:
    """A person's passphrase: from ``file`` (or $SITROOM_PASSPHRASE_FILE), $SITROOM_PASSPHRASE,
    or asked for at the terminal (hidden; twice when ``confirm``, for a new key). Commands
    hand it to the room as a callable, so it is asked for only once the act is allowed."""
    if SERVED.get() is not None:  # a server runs this: never its own environment or terminal
        from sitroom.cli.bridge import GIVEN_PASSPHRASE

        given = GIVEN_PASSPHRASE.get()
        if given is None:
            raise UserInputError(
                f"{name}'s passphrase is needed: set {PASSPHRASE_ENV} where you run the command"
            )
        return given
    if file is None and os.environ.get(PASSPHRASE_FILE_ENV):
        file = Path(os.environ[PASSPHRASE_FILE_ENV])
    if file is not None:
        return read_text(file).rstrip("\r\n")
    if PASSPHRASE_ENV in os.environ:
        return os.environ[PASSPHRASE_ENV]
    if not sys.stdin.isatty():
        raise UserInputError(
            f"{name}'s passphrase is needed: give --passphrase-file, set {PASSPHRASE_FILE_ENV} "
            f"or {PASSPHRASE_ENV}, or run at a terminal"
        )
    text: str = typer.prompt(f"Passphrase for {name}", hide_input=True, confirmation_prompt=confirm)
    return text


def asker(*, confirm: bool = False, file: Path | None = None) -> Callable[[str], str]:
    """:func:`passphrase` as the room asks for one: given a person's name, when needed."""

    def ask(name: str) -> str:
        return passphrase(name, confirm=confirm, file=file)

    return ask


PassphraseFileOpt = Annotated[
    Path | None,
    typer.Option(
        "--passphrase-file", help="Read the passphrase from this file.", show_default="ask"
    ),
]


# the room ---------------------------------------------------------------------------------
@contextmanager
def room(workspace: Path, *, as_site: bool = False) -> Iterator[Room]:
    """The room in ``workspace``, opened as the user running the command (their view, their
    rights) or, for a desk or a followed feed, as the site itself."""
    served = SERVED.get()
    if served is not None:
        if as_site:
            raise UserInputError("this command runs beside the server, as its operator")
        yield served  # the server's, for this one command: it closes nothing
        return
    import sitroom

    user = None if as_site else USER.get()
    opened = sitroom.open(workspace, user=user, proof=_proof(workspace, user), as_site=as_site)
    try:
        yield opened
    finally:
        opened.close()
        for note in opened.notes:  # said also when the command failed: it may be why
            warn(f"note: {note}")
    if opened.unsaved:  # said only when the command itself went well
        warn(f"sitroom: warning: snapshots not saved ({opened.unsaved}); the log is intact")


def _proof(workspace: Path, user: str | None) -> Proof | None:
    """How the user running a command proves it, asked only if the room has users: a token
    (``$SITROOM_TOKEN``, a cached `sitroom login`), else their passphrase."""
    if user is None:
        return None
    from sitroom.application.auth import Bearer
    from sitroom.cli.auth import cached_token

    token = cached_token(workspace, user)
    return asker() if token is None else Bearer(token)


# progress ---------------------------------------------------------------------------------
@contextmanager
def progress(
    show: bool = True, *, least: int = 50_000
) -> Iterator[Callable[[str, int, int | None], None] | None]:
    """A progress callback ``(label, done, total)`` drawing a bar on stderr for work of at
    least ``least`` steps, at a terminal; None (no bar) for scripts and pipes."""
    if not (show and sys.stderr.isatty()):
        yield None
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TaskID,
        TextColumn,
        TimeRemainingColumn,
    )

    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err(),
        transient=True,
    )
    tasks: dict[str, TaskID] = {}

    def step(label: str, done: int, total: int | None) -> None:
        if total is not None and total < least and label not in tasks:
            return
        if label not in tasks:
            tasks[label] = bar.add_task(Path(label).name or label, total=total)
        bar.update(tasks[label], completed=done, total=total)

    with bar:
        yield step


# files written ----------------------------------------------------------------------------
@contextmanager
def output(path: Path | None, *, workspace: Path | None) -> Iterator[BinaryIO]:
    """Standard output, or ``path`` written whole or not at all (a temporary file beside it,
    renamed over it once complete) and never over ``workspace``'s own files, nor any other
    workspace's (UserInputError, before anything is written)."""
    if path is None:
        to = streams.stdout()
        yield to.buffer
        to.flush()
        return
    from sitroom.adapters.outputs import written

    with written(path, workspace) as f:
        yield f


def lists_when_bare(
    group: typer.Typer, fetch: Callable[[Room, int | None], Any], render: str
) -> None:
    """Make ``sitroom GROUP`` with no subcommand list what the group holds (as of --as-of):
    ``fetch`` reads it from the room, ``render`` names its renderer (``module.function`` in
    ``cli/render``, imported only when it runs)."""

    def listing(
        ctx: typer.Context,
        workspace: WorkspaceOpt = Path("."),
        as_of: AsOfOpt = None,
        json: JsonOpt = False,
    ) -> None:
        if ctx.invoked_subcommand is not None:
            return
        module, name = render.split(".")
        draw = getattr(importlib.import_module(f"sitroom.cli.render.{module}"), name)
        with room(workspace) as r:
            emit(fetch(r, when(as_of)), json, draw)

    group.callback()(listing)
