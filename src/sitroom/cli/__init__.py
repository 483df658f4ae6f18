"""The `sitroom` command: a thin shell over the Room. Each command parses what was typed, makes
one call of the room's services and renders the result (tables for people, ``--json`` for
scripts); errors become one line and an exit code here, at the edge (:mod:`sitroom.cli.errors`).

Commands live in one module per capability, registered on :data:`app` and listed by topic.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from sitroom import __version__
from sitroom.cli import errors, streams
from sitroom.cli.shell import USER

# The order topics are listed in `sitroom --help`.
TOPICS = (
    "Data in and out",
    "World picture",
    "Tracks",
    "Channels",
    "Risk",
    "Keys and access",
    "Audit and agreements",
    "Service",
)


class Topics(TyperGroup):
    """`sitroom --help` lists commands under their topic (``rich_help_panel``), in plain text:
    rich's panels cost a tenth of a second to import, on every command."""

    def list_commands(self, ctx: Any) -> list[str]:
        return list(self.commands)  # in the order registered, not alphabetically

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        by_topic: dict[str, list[tuple[str, str]]] = {}
        for name in self.list_commands(ctx):
            cmd = self.get_command(ctx, name)
            if cmd is None or cmd.hidden:
                continue
            topic = getattr(cmd, "rich_help_panel", None) or "Other"
            by_topic.setdefault(topic, []).append((name, cmd.get_short_help_str(limit=300)))
        order = [t for t in TOPICS if t in by_topic] + [t for t in by_topic if t not in TOPICS]
        for topic in order:
            with formatter.section(topic):
                formatter.write_dl(by_topic[topic])


SETTINGS: dict[str, Any] = {
    "name": "sitroom",
    "cls": Topics,
    "no_args_is_help": True,
    "add_completion": False,
    "rich_markup_mode": None,
    "pretty_exceptions_enable": False,
    "help": "sitroom: a real-time situation room for concurrent negotiation tracks.\n\n"
    "Every command takes --workspace/-w DIR, --user/-u NAME (anywhere on the line, or "
    "SITROOM_USER) and --json. While `sitroom serve` holds a workspace, commands run through "
    "it (--server URL from elsewhere). Times are ISO 8601, now, -2h, 1d ago or +4h.",
}
app = typer.Typer(**SETTINGS)


def _version(value: bool) -> None:
    if value:
        sys.stdout.write(f"sitroom {__version__}\n")
        raise typer.Exit()


@app.callback()
def _options(
    user: Annotated[
        str | None,
        typer.Option(
            "--user",
            "-u",
            envvar="SITROOM_USER",
            help="Act as this user (once a workspace has users, every command needs one).",
        ),
    ] = None,
    server: Annotated[
        str | None,
        typer.Option(
            "--server",
            envvar="SITROOM_SERVER",
            help="Run the command through the server at this URL (the one serving the "
            "workspace, found by itself on this machine).",
        ),
    ] = None,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    # The person acting and the server were taken from the whole command line (and the
    # environment) by run(), before the command's own options: listed here for --help.
    del user, server


def _register() -> None:
    """Each capability's commands, in the order `sitroom --help` lists their topics."""
    from sitroom.cli import ingest, world

    ingest.register(app)
    world.register(app)
    # tracks
    from sitroom.cli import tracks

    tracks.register(app)
    # channels
    from sitroom.cli import channels

    channels.register(app)
    # risk
    from sitroom.cli import risk

    risk.register(app)
    # keys and users
    from sitroom.cli import auth, keys, users

    keys.register(app)
    users.register(app)
    auth.register(app)
    # sites
    from sitroom.cli import sites

    sites.register(app)
    # audit
    from sitroom.cli import audit, proof, witness

    audit.register(app)
    witness.register(app)
    proof.register(app)
    # agreements
    from sitroom.cli import agreements

    agreements.register(app)
    # the after-action report
    from sitroom.cli import report

    report.register(app)
    # the served room
    from sitroom.cli import serve

    serve.register(app)


_register()


# entry point ------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> None:
    """Run the CLI; mistakes become one line on stderr and a non-zero exit."""
    sys.exit(run(argv))


def _who(argv: Sequence[str]) -> tuple[list[str], str | None]:
    """Take -u/--user NAME out of the command line, wherever it is (one grammar: the person
    acting is named the same way before or after the command), up to a ``--``."""
    rest: list[str] = []
    user = None
    args = iter(argv)
    for a in args:
        if a == "--":
            rest += [a, *args]
            break
        if a in ("-u", "--user"):
            user = next(args, None)
            if user is None:
                rest.append(a)  # let the parser say the value is missing
        elif a.startswith("--user="):
            user = a.split("=", 1)[1]
        else:
            rest.append(a)
    return rest, user


def _server(argv: list[str]) -> tuple[list[str], str | None]:
    """Take --server URL out of the command line: the server to run the command through."""
    rest: list[str] = []
    server = None
    args = iter(argv)
    for a in args:
        if a == "--server":
            server = next(args, None)
        elif a.startswith("--server="):
            server = a.split("=", 1)[1]
        else:
            rest.append(a)
    return rest, server


def _only(name: str | None) -> typer.Typer:
    """The app with only the command ``name`` (a command or a group): typer builds the click
    object of every command it holds on each run, evaluating hundreds of annotations, and a
    command needs only its own. Help, and names that are not commands, get the whole app."""
    if name is None or name.startswith("-"):
        return app
    commands = [
        c
        for c in app.registered_commands
        if (c.name or (c.callback.__name__ if c.callback else "")).replace("_", "-") == name
    ]
    groups = [g for g in app.registered_groups if g.name == name]
    if not commands and not groups:
        return app
    one = typer.Typer(**SETTINGS)
    one.registered_callback = app.registered_callback
    one.registered_commands = commands
    one.registered_groups = groups
    return one


def run(argv: list[str] | None = None) -> int:
    from typer.exceptions import TyperException

    from sitroom.cli.shell import SERVED
    from sitroom.errors import SitroomError

    args, user = _who(sys.argv[1:] if argv is None else argv)
    args, server = _server(args)
    json = "--json" in args
    served = SERVED.get() is not None  # a server runs this for a user: the token said who
    if not served:
        user = user if user is not None else os.environ.get("SITROOM_USER")
    token = USER.set(USER.get() if served else user)
    from sitroom.cli import bridge

    named = bridge.SERVER.set(server or os.environ.get("SITROOM_SERVER"))
    try:
        if not served:
            url = bridge.server_for(args)
            if url is not None:
                return bridge.forward(url, args, user)
        command = next((a for a in args if not a.startswith("-")), None)
        result: Any = _only(command)(args=args, prog_name="sitroom", standalone_mode=False)

    except typer.Abort:
        errors.fail("sitroom: aborted")
        return 130
    except typer.Exit as e:
        return int(e.exit_code or 0)
    except SitroomError as e:
        return errors.report(e, json=json)
    except TyperException as e:  # usage: unknown option, bad value
        message = e.format_message() if hasattr(e, "format_message") else str(e)
        if type(e).__name__ == "NoArgsIsHelpError":  # a bare `sitroom`: help, not an error
            streams.stdout().write(message + "\n")
            return 0
        return errors.usage(message, json=json, code=int(getattr(e, "exit_code", 2)))
    except KeyboardInterrupt:
        errors.fail("sitroom: interrupted")
        return 130
    except BrokenPipeError:
        return 0
    finally:
        bridge.SERVER.reset(named)
        USER.reset(token)
    return result if isinstance(result, int) else 0
