"""The CLI through a server: while `sitroom serve` holds a workspace, a command typed on that
machine (or anywhere, with ``--server URL``) is run by the server, the room's one writer, as
the user whose token came with it — the same command, the same output, the same exit code.

Two halves. :func:`run_for` is the server's: it runs a command line in the server's process
for one proven user, on the room's thread, its output captured (``POST /cli``).
:func:`forward` is the client's: it finds the server, proves who is asking (a token: cached by
`sitroom login`, or ``$SITROOM_TOKEN``), sends the command line and prints the answer.

A command runs through the server only if it touches no file: the server's files are the
operator's, and a user reaching it from elsewhere must not read or write them by naming a path.
Commands that read or write files (tracks add, exports, plots, calendars, key cards) are
refused with one line; they run beside the server, as its operator, or through the API.
`ingest FORMAT FILE...` sends its files instead (``POST /ingest/FORMAT``).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from contextvars import ContextVar
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sitroom.cli import streams
from sitroom.errors import AuthError, UserInputError

if TYPE_CHECKING:
    from sitroom.application.auth import Issued, LoggedOut
    from sitroom.room import Room

# The command lines a server runs for a user: (command, subcommand); None: the group alone.
THROUGH_SERVER: frozenset[tuple[str, str | None]] = frozenset(
    {
        ("state", None),
        ("events", None),
        ("alerts", None),
        ("alerts", "ack"),
        ("claims", None),
        ("actors", None),
        ("actor", None),
        ("intensity", None),
        ("diff", None),
        ("quarantine", None),
        ("redlines", None),
        ("redlines", "test"),
        ("tracks", None),
        ("tracks", "check"),
        ("tracks", "status"),
        ("tracks", "withdraw"),
        ("tracks", "schedule"),
        ("channels", None),
        ("channels", "add"),
        ("channels", "status"),
        ("channels", "send"),
        ("channels", "read"),
        ("channels", "ack"),
        ("channels", "reply"),
        ("channels", "reset"),
        ("questions", None),
        ("questions", "add"),
        ("judge", None),
        ("questions", "resolve"),
        ("questions", "edit"),
        ("questions", "scores"),
        ("forecast", None),
        ("keys", None),
        ("keys", "rotate"),
        ("users", None),
        ("users", "add"),
        ("users", "grant"),
        ("users", "revoke"),
        ("agreements", None),
        ("agreements", "show"),
        ("agreements", "sign"),
        ("agreements", "withdraw"),
        ("tokens", None),
        ("tokens", "create"),
        ("tokens", "revoke"),
    }
)
# Options that name a file to read or write: refused through a server whatever the command.
FILE_OPTIONS = frozenset({"-o", "--output", "--plot", "--calendar", "--ics", "--file"}) | {
    "--text-file",
    "--key",
    "--passphrase-file",
    "--offline",
    "--withdrawal",
}
LOCAL_ONLY = frozenset({"init", "serve", "demo", "replay", "verify", "login", "logout"})
_GLOBAL = frozenset({"-w", "--workspace", "-u", "--user", "--server"})

# The server named on the command line (--server, $SITROOM_SERVER), for the commands that talk to
# it themselves (login, logout).
SERVER: ContextVar[str | None] = ContextVar("sitroom_server", default=None)
# The passphrase the client sent with a command (a new user's, a signer's): the server never
# reads its own environment or terminal for one.
GIVEN_PASSPHRASE: ContextVar[str | None] = ContextVar("sitroom_given_passphrase", default=None)


def command_of(argv: Sequence[str]) -> tuple[str | None, str | None]:
    """The command and subcommand words of a command line (options aside)."""
    words = [a for a in _without_globals(argv) if not a.startswith("-")][:2]
    return (words[0] if words else None), (words[1] if len(words) > 1 else None)


def check_through_server(argv: Sequence[str]) -> None:
    """UserInputError unless ``argv`` is a command a server runs for a user."""
    first, second = command_of(argv)
    if first is None:
        raise UserInputError("no command to run")
    if second not in _subcommands(first):
        second = None  # an argument or an option's value, not a subcommand
    if (first, second) not in THROUGH_SERVER:
        typed = first if second is None else f"{first} {second}"
        raise UserInputError(
            f"`sitroom {typed}` does not run through the server: it reads or writes files, or "
            "runs beside the server; run it on the server's machine as its operator, or use "
            "the API"
        )
    named = sorted({a.split("=", 1)[0] for a in argv if a.split("=", 1)[0] in FILE_OPTIONS})
    if named:
        raise UserInputError(
            f"{named[0]} names a file, and files are not read or written through the server: "
            "run the command beside it, as its operator"
        )


def _subcommands(command: str) -> set[str]:
    """The subcommands of ``command`` if it is a group of the CLI (else none)."""
    from sitroom.cli import app

    for group in app.registered_groups:
        if group.name == command and group.typer_instance is not None:
            return {
                c.name or (c.callback.__name__ if c.callback else "")
                for c in group.typer_instance.registered_commands
            }
    return set()


# the server's half ------------------------------------------------------------------------
def run_for(view: Room, argv: Sequence[str], passphrase: str | None = None) -> dict[str, Any]:
    """Run ``argv`` as the user ``view`` is, in this process: {exit_code, stdout, stderr}."""
    from sitroom.cli import run
    from sitroom.cli.shell import SERVED, USER

    args = _without_globals(argv)
    with streams.capture() as (out, err):
        try:
            check_through_server(args)
        except UserInputError as e:
            from sitroom.cli import errors

            code = errors.report(e, json="--json" in args)
        else:
            tokens = (SERVED.set(view), USER.set(view.user), GIVEN_PASSPHRASE.set(passphrase))
            try:
                code = run(args)
            finally:
                GIVEN_PASSPHRASE.reset(tokens[2])
                USER.reset(tokens[1])
                SERVED.reset(tokens[0])
    return {
        "exit_code": code,
        "stdout": out.getvalue().decode("utf-8", "replace"),
        "stderr": err.getvalue().decode("utf-8", "replace"),
    }


def _without_globals(argv: Sequence[str]) -> list[str]:
    """``argv`` without -w/-u/--server and their values: the server's workspace is the one,
    and the token says who acts."""
    out: list[str] = []
    skip = False
    for a in argv:
        if skip:
            skip = False
            continue
        name = a.split("=", 1)[0]
        if name in _GLOBAL:
            skip = "=" not in a
            continue
        out.append(a)
    return out


# the client's half ------------------------------------------------------------------------
def server_for(argv: Sequence[str]) -> str | None:
    """The server to send ``argv`` to (None: none; run here): see :func:`server_of`."""
    first, _ = command_of(argv)
    if first in LOCAL_ONLY or first is None:
        return None
    return server_of(_workspace(argv))


def server_of(workspace: Path) -> str | None:
    """The server of ``workspace``: the one named (--server, $SITROOM_SERVER), else the one
    that advertises itself in it (None: none)."""
    named = SERVER.get()
    if named:
        return named.rstrip("/")
    from sitroom.adapters.served import served_by

    found = served_by(workspace)
    if found is None:
        return None
    if not found.url.startswith(("http://", "https://")):
        raise UserInputError(f"{found.says(workspace)}, still starting: try again")
    return found.url.rstrip("/")


def login(url: str, user: str, passphrase: str, ttl_ms: float | None) -> Issued:
    """A session at the server at ``url``, proven by ``user``'s passphrase."""
    from sitroom.application.auth import SESSION, Issued, TokenRow

    body: dict[str, Any] = {"user": user, "passphrase": passphrase}
    if ttl_ms is not None:
        body["hours"] = ttl_ms / 3_600_000
    answer = _call("POST", f"{url}/auth/login", None, body)
    row = TokenRow(
        id=str(answer["id"]),
        user=str(answer["user"]),
        kind=SESSION,
        name="login",
        created=None,
        expires=answer.get("expires"),
    )
    return Issued(token=str(answer["token"]), row=row)


def logout(url: str, user: str, token: str | None) -> LoggedOut:
    from sitroom.application.auth import LoggedOut, TokenRow

    if token is None:
        return LoggedOut(user=user, ended=None)
    try:
        answer = _call("POST", f"{url}/auth/logout", token, None)
    except AuthError:  # expired or revoked already: nothing to end
        return LoggedOut(user=user, ended=None)
    ended = answer.get("ended")
    return LoggedOut(user=user, ended=None if not ended else TokenRow(**ended))


def _call(method: str, url: str, token: str | None, body: Any, **send: Any) -> dict[str, Any]:
    """One request to a server (``body`` as JSON, or ``send``'s content and params): its JSON
    answer; AuthError on 401, UserInputError otherwise."""
    import httpx

    headers = {} if token is None else {"authorization": f"Bearer {token}"}
    if body is not None:
        send["json"] = body
    try:
        r = httpx.request(method, url, headers=headers, timeout=300, **send)
    except httpx.HTTPError as e:
        raise UserInputError(f"the server at {url} does not answer ({type(e).__name__})") from None
    try:
        answer = r.json()
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        raise UserInputError(f"the server at {url} answered HTTP {r.status_code}, not JSON")
    if r.status_code >= 400:
        message = str(answer.get("error", {}).get("message") or f"HTTP {r.status_code}")
        if r.status_code == 401:
            raise AuthError(message)
        raise UserInputError(f"the server at {url} refused: {message}")
    return answer


def _workspace(argv: Sequence[str]) -> Path:
    args = list(argv)
    for i, a in enumerate(args):
        if a in ("-w", "--workspace") and i + 1 < len(args):
            return Path(args[i + 1])
        if a.startswith("--workspace="):
            return Path(a.split("=", 1)[1])
    return Path(os.environ.get("SITROOM_WORKSPACE") or ".")


def forward(url: str, argv: Sequence[str], user: str | None) -> int:
    """Send ``argv`` to the server at ``url`` as ``user``; print its answer; its exit code."""
    from sitroom.cli.auth import server_token

    if command_of(argv)[0] == "ingest":
        return _send_files(url, argv, server_token(url, user), user)
    body: dict[str, Any] = {"argv": list(argv)}
    given = _passphrase_if_set()
    if given is not None:
        body["passphrase"] = given
    try:
        answer = _call("POST", f"{url}/cli", server_token(url, user), body)
    except AuthError:
        raise _log_in_first(url, user) from None
    sys.stdout.write(str(answer.get("stdout", "")))
    sys.stdout.flush()
    sys.stderr.write(str(answer.get("stderr", "")))
    sys.stderr.flush()
    return int(answer.get("exit_code", 1))


def _send_files(url: str, argv: Sequence[str], token: str | None, user: str | None) -> int:
    """`sitroom ingest FORMAT FILE...` through a server: each file sent as it is
    (``POST /ingest/FORMAT``), since the server reads no path a user names; one line each."""
    import orjson

    args = _without_globals(argv)
    json = "--json" in args
    words = [a for a in args if a not in ("--json", "--no-progress", "--progress")]
    if any(a.startswith("-") for a in words) or len(words) < 3:
        raise UserInputError(
            "through a server, `sitroom ingest FORMAT FILE...` sends files; following a feed "
            "(--follow) runs beside the server, as its operator"
        )
    _, source, *files = words
    answers = []
    for name in files:
        path = Path(name)
        if "://" in name or not path.is_file():
            raise UserInputError(f"{name} is not a file here: through a server, files are sent")
        try:
            answer = _call("POST", f"{url}/ingest/{source}", token, None,
                           content=path.read_bytes(), params={"name": path.name})  # fmt: skip
        except AuthError:
            raise _log_in_first(url, user) from None
        answers.append(answer)
        if not json:
            t = answer.get("totals", {})
            sys.stdout.write(
                f"{name}: {t.get('accepted', 0):,} accepted, {t.get('duplicates', 0):,} "
                f"already known, {t.get('quarantined', 0):,} quarantined (sent to {url})\n"
            )
    if json:
        sys.stdout.write(orjson.dumps(answers, option=orjson.OPT_INDENT_2).decode() + "\n")
    sys.stdout.flush()
    return 0


def _log_in_first(url: str, user: str | None) -> AuthError:
    return AuthError(
        f"the server at {url} needs proof of who you are: `sitroom login -u {user or 'NAME'}` "
        "(or a token in $SITROOM_TOKEN)",
        user=user,
    )


def _passphrase_if_set() -> str | None:
    from sitroom.cli.shell import PASSPHRASE_ENV, PASSPHRASE_FILE_ENV

    if os.environ.get(PASSPHRASE_FILE_ENV):
        return Path(os.environ[PASSPHRASE_FILE_ENV]).read_text().rstrip("\r\n")
    return os.environ.get(PASSPHRASE_ENV)
