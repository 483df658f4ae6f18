"""The channel commands: `sitroom channels` (the list) and `sitroom channels add|send|ack|reply|
read|status|simulate|run|relay`."""

from __future__ import annotations

import os
import signal
import sys
import threading
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
    duration,
    emit,
    lists_when_bare,
    progress,
    room,
    when,
)

TOPIC = "Channels"
NOT_YET = 3  # `channels send`: recorded, but not acknowledged within --wait (a desk goes on)
REFUSED = 4  # `channels send`: backpressure refused it

channels_app = typer.Typer(
    help="Channels to counterparts: list, declare, send, settle, read, simulate. Messages go "
    "with priorities, acks, retries and failover; a desk (`channels run`) keeps them going.",
    invoke_without_command=True,
)

PriorityOpt = Annotated[
    str, typer.Option("--priority", "-p", help="FLASH, IMMEDIATE, PRIORITY or ROUTINE.")
]
ListenOpt = Annotated[
    str, typer.Option(help="Address to serve on, HOST:PORT (port 0 picks a free one).")
]
ForOpt = Annotated[
    str | None, typer.Option("--for", help="Stop after this long.", show_default="never")
]
AtOpt = Annotated[
    str | None, typer.Option("--at", help="When (ISO 8601, -2h, 1d ago).", show_default="now")
]


def register(app: typer.Typer) -> None:
    app.add_typer(channels_app, name="channels", rich_help_panel=TOPIC)


lists_when_bare(channels_app, lambda r, at: r.channels.list(as_of_ms=at), "channels.channels")


@channels_app.command("add")
def add(
    channel_id: Annotated[str, typer.Argument(metavar="ID", help="A short id, such as direct.")],
    to: Annotated[str, typer.Option("--to", help="The counterpart at the other end.")],
    workspace: WorkspaceOpt = Path("."),
    name: Annotated[str, typer.Option(help="A name for people.")] = "",
    via: Annotated[str | None, typer.Option(help="The intermediary it runs through.")] = None,
    fallback: Annotated[
        str | None, typer.Option(help="The redundant channel urgent messages fail over to.")
    ] = None,
    failover_from: Annotated[
        str, typer.Option(help="The least urgent priority that fails over.")
    ] = "IMMEDIATE",
    url: Annotated[
        str | None, typer.Option(help="Where the far end listens (https://host:port).")
    ] = None,
    ack_timeout: Annotated[str, typer.Option(help="How long to wait for an ack.")] = "10s",
    heartbeat: Annotated[str, typer.Option(help="The heartbeat interval expected.")] = "1s",
    acceptable_pause: Annotated[
        str | None,
        typer.Option(help="A silence to tolerate on top of it.", show_default="one heartbeat"),
    ] = None,
    capacity: Annotated[int, typer.Option(help="Messages the queue holds.", min=1)] = 64,
    weight: Annotated[int, typer.Option(help="Its share of turns.", min=1)] = 1,
    timezone: Annotated[str, typer.Option(help="The counterpart's time zone.")] = "UTC",
    hours: Annotated[str, typer.Option(help="The counterpart's working hours.")] = "09:00-18:00",
    days: Annotated[str, typer.Option(help="The counterpart's working days.")] = "Mon-Fri",
    closed: Annotated[
        list[str] | None,
        typer.Option(help="Days off, in their calendar: 2027-03-21 or 2027-03-20..2027-03-24."),
    ] = None,
    shorter: Annotated[
        list[str] | None,
        typer.Option(help="A period of other hours: '2027-02-18..2027-03-19 09:00-14:00'."),
    ] = None,
    track: Annotated[
        str | None,
        typer.Option(help="The track it serves: its messages are sealed with the track's key."),
    ] = None,
    json: JsonOpt = False,
) -> None:
    """Declare a channel, or change one (declaring it again with other options)."""
    from sitroom.cli.render import channels as render

    with room(workspace) as r:
        declared = r.channels.add(
            channel_id,
            counterpart=to,
            name=name,
            via=via,
            fallback=fallback,
            failover_from=failover_from,
            ack_timeout_ms=duration(ack_timeout),
            heartbeat_ms=duration(heartbeat),
            acceptable_pause_ms=None if acceptable_pause is None else duration(acceptable_pause),
            capacity=capacity,
            weight=weight,
            url=url,
            timezone=timezone,
            hours=hours,
            days=days,
            closed=closed or (),
            shorter=shorter or (),
            track=track,
        )
    emit(declared, json, render.declared)


@channels_app.command("send")
def send(
    channel: Annotated[str, typer.Argument(help="The channel id.")],
    body: Annotated[str, typer.Argument(help="The message.")],
    workspace: WorkspaceOpt = Path("."),
    priority: PriorityOpt = "ROUTINE",
    msg_id: Annotated[
        str | None, typer.Option("--id", help="The message id.", show_default="generated")
    ] = None,
    reply_by: Annotated[
        str | None, typer.Option(help="Ask for a reply by this time (ISO 8601 or +4h).")
    ] = None,
    await_reply: Annotated[
        bool, typer.Option("--await-reply", help="Expect a reply; alert when it is overdue.")
    ] = False,
    expires: Annotated[
        str | None,
        typer.Option(help="Void if not delivered by this time (+2h, ISO 8601): never sent after."),
    ] = None,
    wait: Annotated[
        str, typer.Option(help="How long to keep trying before leaving it to a desk.")
    ] = "30s",
    desk: Annotated[
        str | None,
        typer.Option(envvar="SITROOM_DESK", help="Hand it to the desk running at this URL."),
    ] = None,
    json: JsonOpt = False,
) -> None:
    """Send a message: recorded first, then delivered with acks, retries and failover. Exit 3
    if it is not acknowledged within --wait (it stays recorded as pending); 4 if refused.
    With --desk, the running desk sends it as the user whose token is in $SITROOM_TOKEN."""
    from sitroom.cli.render import channels as render

    by, void = when(reply_by), when(expires)
    with room(workspace) as r:
        if desk is not None:
            receipt = r.channels.send_via_desk(
                desk, channel, body, priority=priority, msg_id=msg_id, reply_by_ms=by,
                await_reply=await_reply, expires_ms=void, token=desk_token(workspace),
            )  # fmt: skip
        else:
            receipt = r.channels.send(
                channel, body, priority=priority, msg_id=msg_id, reply_by_ms=by,
                await_reply=await_reply, wait_ms=duration(wait), expires_ms=void,
            )  # fmt: skip
    emit(receipt, json, render.receipt)
    if not receipt.accepted:
        raise typer.Exit(REFUSED)
    if receipt.waiting:
        raise typer.Exit(NOT_YET)


@channels_app.command("ack")
def ack(
    message: Annotated[str, typer.Argument(help="The message id.")],
    workspace: WorkspaceOpt = Path("."),
    channel: Annotated[str | None, typer.Option(help="The channel the ack came on.")] = None,
    at: AtOpt = None,
    json: JsonOpt = False,
) -> None:
    """Record an acknowledgement that came by other means (a phone call, a cable)."""
    from sitroom.cli.render import channels as render

    with room(workspace) as r:
        emit(r.channels.ack(message, at_ms=when(at), channel=channel), json, render.acked)


@channels_app.command("reset")
def reset(
    channel: Annotated[str, typer.Argument(help="The channel whose breaker to close.")],
    reason: Annotated[str, typer.Option(help="Why, for the record.")],
    workspace: WorkspaceOpt = Path("."),
    json: JsonOpt = False,
) -> None:
    """Close a channel's breaker by hand, as -u NAME (you know the far end is back): what
    waits on it goes at the next send or desk start, and the record says who and why."""
    from sitroom.cli.render import channels as render

    with room(workspace) as r:
        emit(r.channels.reset(channel, reason=reason), json, render.reset)


@channels_app.command("reply")
def reply(
    message: Annotated[str, typer.Argument(help="The message id replied to.")],
    workspace: WorkspaceOpt = Path("."),
    at: AtOpt = None,
    body: Annotated[str, typer.Option(help="What the reply said.")] = "",
    json: JsonOpt = False,
) -> None:
    """Record the counterpart's reply: it settles the message and teaches its reply habits."""
    from sitroom.cli.render import channels as render

    with room(workspace) as r:
        emit(r.channels.reply(message, at_ms=when(at), body=body), json, render.replied)


@channels_app.command("read")
def read(
    message: Annotated[str, typer.Argument(help="A message id, sent or received.")],
    workspace: WorkspaceOpt = Path("."),
    passphrase_file: PassphraseFileOpt = None,
    json: JsonOpt = False,
) -> None:
    """Show a message's text, opening it if it is sealed: with your own key when the track's
    epoch was sealed to you, else with the site's, which keeps it for the people cleared here."""
    from sitroom.cli.render import channels as render

    with room(workspace) as r:
        text = r.channels.read(message, passphrase=asker(file=passphrase_file))
    emit(text, json, render.message)


@channels_app.command("status")
def status(
    target: Annotated[
        str | None, typer.Argument(help="A channel or message id.", show_default="all")
    ] = None,
    workspace: WorkspaceOpt = Path("."),
    as_of: AsOfOpt = None,
    json: JsonOpt = False,
) -> None:
    """What waits for an ack or a reply, what is overdue and why, and each channel's state."""
    from sitroom.cli.render import channels as render

    with room(workspace) as r:
        emit(r.channels.status(target, as_of_ms=when(as_of)), json, render.status)


@channels_app.command("simulate")
def simulate(
    trace: Annotated[Path, typer.Argument(help="A channel trace (YAML).")],
    workspace: WorkspaceOpt = Path("."),
    record: Annotated[
        bool, typer.Option("--record", help="Record into the workspace, not a scratch log.")
    ] = False,
    show: Annotated[bool, typer.Option("--progress/--no-progress", help="A progress bar.")] = True,
    json: JsonOpt = False,
) -> None:
    """Replay a channel trace on a virtual clock: outages, storms, replies; what was sent,
    acknowledged, failed over and alerted, and when."""
    import sitroom.room
    from sitroom.cli.render import channels as render

    with progress(show and not json, least=1) as bar:
        step = None if bar is None else lambda done, total: bar(trace.name, done, total)
        if record:
            with room(workspace) as r:
                report = r.channels.simulate(trace, record=True, progress=step)
        else:
            report = sitroom.room.simulate_channels(trace, progress=step)
    emit(report, json, render.simulation)


@channels_app.command("run")
def run(
    workspace: WorkspaceOpt = Path("."),
    listen: ListenOpt = "127.0.0.1:8650",
    for_: ForOpt = None,
    json: JsonOpt = False,
) -> None:
    """Run this site's desk: receive messages (each recorded once, then acked), deliver what
    is pending, ping every channel, fail over, and raise overdue-reply alerts."""
    from sitroom.cli.render import channels as render

    stop = _stopper(for_)
    # A desk is the site itself: it records what arrives for every track it serves.
    with room(workspace, as_site=True) as r:
        where = f"desk of {workspace.resolve()}"
        stopped = r.channels.run_desk(listen=listen, stop=stop, ready=_announce(where))
    emit(stopped, json, render.desk_stopped)


@channels_app.command("relay")
def relay(
    to: Annotated[str, typer.Option("--to", help="The far end: https://host:port.")],
    listen: ListenOpt = "127.0.0.1:8651",
    for_: ForOpt = None,
    key: Annotated[
        Path | None,
        typer.Option(help="The intermediary's key (keys/NAME.key): serve https with it."),
    ] = None,
    key_file: Annotated[Path | None, typer.Option(help="The key file that opens it.")] = None,
    to_card: Annotated[
        Path | None, typer.Option(help="The far end's card, to pin its certificate to.")
    ] = None,
    to_fingerprint: Annotated[
        str | None, typer.Option(help="... and its fingerprint, as its owner read it out.")
    ] = None,
) -> None:
    """Run an intermediary (or a link's terminal): pass messages (signed by their senders,
    unchanged) and pings on, and vouch for the far end when asked. Records nothing, and needs
    no workspace; serves https with --key, and pins an https far end to --to-card."""
    import sitroom.room

    sitroom.room.relay(
        to, listen=listen, stop=_stopper(for_), ready=_announce(f"relay to {to}"), key=key,
        key_file=key_file, to_card=to_card, to_fingerprint=to_fingerprint,
    )  # fmt: skip


def desk_token(workspace: Path) -> str | None:
    """The token a running desk knows the user by: $SITROOM_TOKEN, else their cached login
    (never a command-line option, which other users of the machine could read)."""
    from sitroom.cli.auth import cached_token
    from sitroom.cli.shell import USER

    user = USER.get()
    return os.environ.get("SITROOM_TOKEN") or (cached_token(workspace, user) if user else None)


def _stopper(after: str | None) -> threading.Event:
    """Set on SIGTERM, or once ``after`` (a duration) has passed."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    if after is not None:
        timer = threading.Timer(duration(after) / 1000, stop.set)
        timer.daemon = True
        timer.start()
    return stop


def _announce(what: str) -> Callable[[str], None]:
    def ready(url: str) -> None:
        # One line on stdout with the address, flushed: scripts and tests read it.
        sys.stdout.write(f"listening on {url} ({what})\n")
        sys.stdout.flush()

    return ready
