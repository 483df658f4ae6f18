"""Errors at the edge: the one place where an error becomes an exit code, a hint for people and,
with ``--json``, one JSON shape.

    sitroom: error: no track 'us-irn' (tracks: ceasefire, us-iran); see `sitroom tracks`

    {"error": {"type": "not_found", "message": "...", "what": "track", "id": "us-irn",
               "known": [...], "hint": "see `sitroom tracks`", "exit_code": 2}}
"""

from __future__ import annotations

from typing import Any

import orjson

from sitroom.cli import streams
from sitroom.errors import (
    AccessDenied,
    AuthError,
    NotFound,
    NoWorkspace,
    SecureError,
    SitroomError,
    SourceError,
    UserInputError,
    WorkspaceError,
)

# Exit codes of errors (commands add their own outcomes: 3 pending or no schedule, 4 refused by
# backpressure, 7 tampered). The first class an error is an instance of wins.
EXIT_CODES: tuple[tuple[type[SitroomError], int], ...] = (
    (AccessDenied, 6),
    (AuthError, 6),
    (SecureError, 5),
    (UserInputError, 2),
    (WorkspaceError, 2),
    (SourceError, 1),
    (SitroomError, 1),
)
USAGE = 2  # an unknown option, a missing argument: the command line itself is wrong

# What to type next, when something is not found: by what was looked for.
LOOK_HERE = {
    "track": "see `sitroom tracks`, or add one with `sitroom tracks add FILE`",
    "meeting": "see `sitroom tracks`",
    "resource": "add it in a track file first (`sitroom tracks add FILE`)",
    "channel": "see `sitroom channels`, or declare one with `sitroom channels add`",
    "message": "see `sitroom channels status`",
    "channel or message": "see `sitroom channels status`",
    "actor": "see `sitroom actors`",
    "question": "see `sitroom questions`",
    "agreement": "see `sitroom agreements`",
    "identity": "see `sitroom keys`; add a user with `sitroom users add`, or import a card "
    "with `sitroom keys import`",
    "track key": "see `sitroom keys`; a track gets its first key when someone is cleared for "
    "it (`sitroom users grant NAME TRACK`)",
    "user": "see `sitroom users`",
    "source format": "see `sitroom ingest --help`",
}


def exit_code(e: SitroomError) -> int:
    return next(code for kind, code in EXIT_CODES if isinstance(e, kind))


def hint(e: SitroomError) -> str | None:
    """What the person can do about ``e``, in the CLI's terms."""
    if isinstance(e, NotFound):
        return LOOK_HERE.get(e.what)
    if isinstance(e, NoWorkspace):
        return "create one with `sitroom init`, or pass --workspace DIR"
    if isinstance(e, AccessDenied) and e.action == "act":
        return "say who you are with --user NAME (or SITROOM_USER)"
    return None


def to_json(e: SitroomError) -> dict[str, Any]:
    body = e.to_json()
    found = hint(e)
    if found:
        body["hint"] = found
    body["exit_code"] = exit_code(e)
    return {"error": body}


def report(e: SitroomError, *, json: bool) -> int:
    """Say ``e`` with its hint in one line on stderr, or as JSON on stdout; its exit code."""
    if json:
        streams.stdout().buffer.write(orjson.dumps(to_json(e), option=orjson.OPT_INDENT_2) + b"\n")
        streams.stdout().flush()
    else:
        found = hint(e)
        fail(f"sitroom: error: {e}" + (f"; {found}" if found else ""))
    return exit_code(e)


def usage(message: str, *, json: bool, code: int = USAGE) -> int:
    """A mistake in the command line itself (typer's usage errors)."""
    if json:
        body = {"error": {"type": "usage", "message": message, "exit_code": code}}
        streams.stdout().buffer.write(orjson.dumps(body, option=orjson.OPT_INDENT_2) + b"\n")
    else:
        fail(f"sitroom: error: {message}")
    return code


def fail(message: str) -> None:
    # Plain stderr, not rich: an error is one line, never wrapped to the terminal's width.
    streams.stderr().write(message + "\n")
    streams.stderr().flush()
