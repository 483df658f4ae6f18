"""The channel commands: `sitroom channels` and `sitroom channel add|send|ack|reply|status|
simulate|run|relay`. A thin shell over application.desk, the HTTP adapter and the simulator."""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path
from typing import Annotated, Any

import httpx
import orjson
import typer

from sitroom import render
from sitroom.adapters.channel_http import HttpWire, Relay, desk_routes, serve
from sitroom.application import channel_queries
from sitroom.application.access import CompartmentView
from sitroom.application.channel_sim import load_trace, render_sim, simulate
from sitroom.application.desk import Desk, channel_record, record_ack, record_reply, track_of
from sitroom.application.principals import writer_of
from sitroom.application.sealing import Keyring, find_message, read_message
from sitroom.cli.shell import USER
from sitroom.domain.channels.courier import Link
from sitroom.domain.channels.habits import WorkingWeek
from sitroom.domain.channels.priority import Priority
from sitroom.domain.secure.ledger import sealed_header
from sitroom.domain.timeutil import parse_duration
from sitroom.errors import UserInputError
from sitroom.shell import (
    AsOfOpt,
    JsonOpt,
    WorkspaceOpt,
    emit_json,
    open_workspace,
    out,
    show,
    unlock,
    when,
)
from sitroom.workspace import Workspace, scratch_engine, settle

NOT_YET = 3  # exit code of `channel send` when the message is recorded but not yet acknowledged
REJECTED = 4  # ... when backpressure refused it

channel_app = typer.Typer(
    no_args_is_help=True,
    help="Channels to counterparts: send with priorities, acks, failover; status; simulate.",
)

PriorityOpt = Annotated[
    str, typer.Option("--priority", "-p", help="FLASH, IMMEDIATE, PRIORITY or ROUTINE.")
]
ListenOpt = Annotated[
    str, typer.Option(help="Address to serve on, HOST:PORT (port 0 picks a free one).")
]


def register(app: typer.Typer) -> None:
    app.command("channels")(channels)
    app.add_typer(channel_app, name="channel")


def channels(
    workspace: WorkspaceOpt = Path("."), as_of: AsOfOpt = None, json: JsonOpt = False
) -> None:
    """List the channels: counterpart, path, breaker, liveness, messages, reply habits."""
    with open_workspace(workspace) as ws:
        answer = channel_queries.channels(ws.engine, when(as_of))
    show(answer, json, "channels", render.channels)


@channel_app.command("add")
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
        str | None, typer.Option(help="Where the far end listens (http://host:port).")
    ] = None,
    ack_timeout: Annotated[str, typer.Option(help="How long to wait for an ack.")] = "10s",
    heartbeat: Annotated[str, typer.Option(help="The heartbeat interval expected.")] = "1s",
    capacity: Annotated[int, typer.Option(help="Messages the queue holds.", min=1)] = 64,
    weight: Annotated[int, typer.Option(help="Its share of turns.", min=1)] = 1,
    timezone: Annotated[str, typer.Option(help="The counterpart's time zone.")] = "UTC",
    hours: Annotated[str, typer.Option(help="The counterpart's working hours.")] = "09:00-18:00",
    days: Annotated[str, typer.Option(help="The counterpart's working days.")] = "Mon-Fri",
    track: Annotated[
        str | None,
        typer.Option(help="The track it serves: its messages are sealed with the track's key."),
    ] = None,
    json: JsonOpt = False,
) -> None:
    """Declare a channel, or change one (declaring it again with other options)."""
    link = Link(
        id=channel_id,
        counterpart=to,
        name=name,
        via=via,
        fallback=fallback,
        failover_from=_priority(failover_from),
        ack_timeout_ms=parse_duration(ack_timeout),
        heartbeat_ms=parse_duration(heartbeat),
        capacity=capacity,
        weight=weight,
        url=url,
        week=WorkingWeek.parse(timezone, hours, days),
        track=track,
    )
    with open_workspace(workspace) as ws:
        known = ws.engine.states["channels"]["channels"]
        if fallback is not None and fallback not in known:
            raise UserInputError(f"no channel {fallback!r} to fail over to (add it first)")
        if fallback is not None and (known[fallback].get("track") or None) != track:
            raise UserInputError(
                f"channel {fallback} serves {known[fallback].get('track') or 'no track'}, not "
                f"{track or 'no track'}: a message cannot fail over into another track's keys"
            )
        new = ws.engine.append([channel_record(link)]).appended
    if json:
        emit_json({"channel": link.as_payload(), "new": bool(new)})
    else:
        out.print(f"channel {channel_id}: to {to}" + ("" if new else " (unchanged)"))


@channel_app.command("send")
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
    wait: Annotated[
        str, typer.Option(help="How long to keep trying before leaving it to `channel run`.")
    ] = "30s",
    desk: Annotated[
        str | None,
        typer.Option(envvar="SITROOM_DESK", help="Hand it to a running `channel run` at this URL."),
    ] = None,
    json: JsonOpt = False,
) -> None:
    """Send a message: recorded first, then delivered with acks, retries and failover. Exit 3
    if it is not acknowledged within --wait (it stays recorded as pending); 4 if refused."""
    p = _priority(priority)
    if desk is not None:
        result = _post(
            desk,
            {
                "channel": channel,
                "priority": p.name,
                "body": body,
                "id": msg_id,
                "reply_by": reply_by,
                "await_reply": await_reply,
            },
        )
        _said(result, json)
        if not result.get("accepted"):
            raise typer.Exit(REJECTED)
        return
    with open_workspace(workspace) as ws:
        wire = HttpWire()
        desk_ = Desk(ws.engine, wire, keyring=_keyring(ws, channel))
        try:
            receipt = desk_.submit(
                channel,
                p,
                body,
                msg_id=msg_id,
                reply_by_ms=when(reply_by),
                await_reply=await_reply,
            )
            left = desk_.settle([receipt.message], ws.engine.clock.now_ms() + parse_duration(wait))
        finally:
            desk_.close()
            wire.close()
        m = ws.engine.states["channels"]["messages"].get(receipt.message, {})
    result = {
        **receipt.as_dict(),
        "status": m.get("status", "dropped"),
        "path": m.get("channels"),
        "attempts": m.get("attempts"),
    }
    _said(result, json)
    if not receipt.accepted:
        raise typer.Exit(REJECTED)
    if left:
        raise typer.Exit(NOT_YET)


def _keyring(ws: Workspace, channel: str) -> Keyring | None:
    """The site's keyring when the channel serves a track (its messages are sealed)."""
    return ws.keyring() if track_of(ws.engine.states["channels"], channel) else None


def _said(result: dict[str, Any], json: bool) -> None:
    if json:
        emit_json(result)
        return
    status = result.get("status", "queued")
    path = " → ".join(result.get("path") or [result["channel"]])
    out.print(f"{result['message']}: {status} ({path}; backpressure {result['backpressure']})")


def _post(url: str, body: dict[str, Any]) -> dict[str, Any]:
    try:
        r = httpx.post(f"{url.rstrip('/')}/submit", content=orjson.dumps(body), timeout=10)
    except httpx.HTTPError as e:
        raise UserInputError(f"no desk at {url}: {e}") from None
    answer: dict[str, Any] = orjson.loads(r.content)
    if r.status_code != 200:
        raise UserInputError(f"the desk at {url} refused: {answer.get('error')}")
    return answer


@channel_app.command("ack")
def ack(
    message: Annotated[str, typer.Argument(help="The message id.")],
    workspace: WorkspaceOpt = Path("."),
    channel: Annotated[str | None, typer.Option(help="The channel the ack came on.")] = None,
    at: Annotated[str | None, typer.Option(help="When.", show_default="now")] = None,
    json: JsonOpt = False,
) -> None:
    """Record an acknowledgement that came by other means (a phone call, a cable)."""
    with open_workspace(workspace) as ws:
        new = record_ack(ws.engine, message, when(at) or ws.engine.clock.now_ms(), channel)
    _done({"message": message, "acked": True, "new": new}, json, f"{message}: acknowledged")


@channel_app.command("reply")
def reply(
    message: Annotated[str, typer.Argument(help="The message id replied to.")],
    workspace: WorkspaceOpt = Path("."),
    at: Annotated[str | None, typer.Option(help="When the reply came.", show_default="now")] = None,
    body: Annotated[str, typer.Option(help="What the reply said.")] = "",
    json: JsonOpt = False,
) -> None:
    """Record the counterpart's reply: it settles the message and teaches its reply habits."""
    with open_workspace(workspace) as ws:
        new = record_reply(ws.engine, message, when(at) or ws.engine.clock.now_ms(), body)
    _done({"message": message, "replied": True, "new": new}, json, f"{message}: reply recorded")


def _done(value: dict[str, Any], json: bool, text: str) -> None:
    if json:
        emit_json(value)
    else:
        out.print(text + ("" if value["new"] else " (already recorded)"))


@channel_app.command("read")
def read(
    message: Annotated[str, typer.Argument(help="A message id, sent or received.")],
    workspace: WorkspaceOpt = Path("."),
    passphrase_file: Annotated[
        Path | None, typer.Option(help="Read your passphrase from this file.")
    ] = None,
    json: JsonOpt = False,
) -> None:
    """Show a message's text, opening it if it is sealed: with your own key when the track's
    epoch was sealed to you, else with the site's, which keeps it for the people cleared here."""
    with open_workspace(workspace) as ws:
        keyring = _reader(ws, message, passphrase_file)
        value = read_message(ws.engine, message, keyring)
    if json:
        emit_json(value)
        return
    if value["sealed"]:
        out.print(
            f"{message} ({value['direction']}, track {value['track']} epoch {value['epoch']}, "
            f"from {value['sender']}, opened with {value['opened_with']}'s key):"
        )
    out.print(value["text"])


def _reader(ws: Workspace, message: str, passphrase_file: Path | None) -> Keyring | None:
    """Whose key opens a sealed message for the user running the command."""
    mine = find_message(ws.engine, message)
    if mine is None:
        hidden = find_message(writer_of(ws.engine), message)
        if hidden is not None and isinstance(ws.engine, CompartmentView):
            track = track_of(writer_of(ws.engine).states["channels"], hidden["channel"])
            ws.engine.deny(f"read message {message}", f"not cleared for {track}", track)
        return None
    header = sealed_header(mine["body"])
    if header is None:
        return None
    user = USER.get()
    epochs = writer_of(ws.engine).states["secure"]["epochs"].get(str(header["track"]), [])
    epoch = next((e for e in epochs if e["epoch"] == header["epoch"]), None)
    if user and epoch is not None and user in epoch["members"]:
        writer = writer_of(ws.engine)
        return Keyring(writer, unlock(ws, user, file=passphrase_file))
    return ws.keyring()


@channel_app.command("status")
def status(
    target: Annotated[
        str | None, typer.Argument(help="A channel or message id.", show_default="all")
    ] = None,
    workspace: WorkspaceOpt = Path("."),
    as_of: AsOfOpt = None,
    json: JsonOpt = False,
) -> None:
    """What waits for an ack or a reply, what is overdue and why, and each channel's state."""
    with open_workspace(workspace) as ws:
        answer = channel_queries.status(ws.engine, target, when(as_of))
    show(answer, json, None, render.channel_status)


@channel_app.command("simulate")
def simulate_cmd(
    trace: Annotated[Path, typer.Argument(help="A channel trace (YAML).")],
    workspace: WorkspaceOpt = Path("."),
    record: Annotated[
        bool,
        typer.Option("--record", help="Record into the workspace, not a scratch log."),
    ] = False,
    json: JsonOpt = False,
) -> None:
    """Replay a channel trace on a virtual clock: outages, storms, replies; what was sent,
    acknowledged, failed over and alerted, and when."""
    parsed = load_trace(trace)
    if record:
        with open_workspace(workspace) as ws:
            report = simulate(parsed, engine=ws.engine)
    else:
        report = simulate(parsed, engine=scratch_engine(parsed.start_ms, site="simulation"))
    if json:
        emit_json(report.as_dict())
    else:
        render_sim(out, report)


@channel_app.command("run")
def run(
    workspace: WorkspaceOpt = Path("."),
    listen: ListenOpt = "127.0.0.1:8650",
    duration: Annotated[
        str | None, typer.Option("--for", help="Stop after this long.", show_default="never")
    ] = None,
) -> None:
    """Run this site's desk: receive messages (each recorded once, then acked), deliver what
    is pending, ping every channel, fail over, and raise overdue-reply alerts."""
    host, port = _address(listen)
    stop = _stopper(duration)
    # A desk is the site itself: it records what arrives for every track it serves.
    with open_workspace(workspace, as_site=True) as ws:
        wire = HttpWire()
        desk = Desk(
            ws.engine, wire, keyring=ws.keyring() if ws.keystore.exists(ws.settings.site) else None
        )
        settle()
        server = serve(desk_routes(desk), host, port)
        _announce(server.server_address[1], host, f"desk of {ws.path.resolve()}")
        try:
            desk.run(stop)
        finally:
            server.shutdown()
            desk.close()
            wire.close()


@channel_app.command("relay")
def relay(
    to: Annotated[str, typer.Option("--to", help="The far end: http://host:port.")],
    listen: ListenOpt = "127.0.0.1:8651",
    duration: Annotated[
        str | None, typer.Option("--for", help="Stop after this long.", show_default="never")
    ] = None,
) -> None:
    """Run an intermediary (or a link's terminal): pass messages and pings on, and vouch for
    the far end when asked. Records nothing."""
    host, port = _address(listen)
    stop = _stopper(duration)
    wire = HttpWire()
    hop = Relay(wire, to)
    server = serve(hop.routes(), host, port)
    _announce(server.server_address[1], host, f"relay to {to}")
    try:
        hop.watch(stop)
    finally:
        server.shutdown()
        wire.close()


def _address(listen: str) -> tuple[str, int]:
    host, _, port = listen.rpartition(":")
    if not host or not port.isdigit():
        raise UserInputError(f"--listen wants HOST:PORT, not {listen!r}")
    return host, int(port)


def _stopper(duration: str | None) -> threading.Event:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    if duration is not None:
        timer = threading.Timer(parse_duration(duration) / 1000, stop.set)
        timer.daemon = True
        timer.start()
    return stop


def _announce(port: int, host: str, what: str) -> None:
    # One line on stdout with the address, flushed: scripts and tests read it.
    sys.stdout.write(f"listening on http://{host}:{port} ({what})\n")
    sys.stdout.flush()


def _priority(text: str) -> Priority:
    try:
        return Priority[text.upper()]
    except KeyError:
        names = ", ".join(p.name for p in reversed(Priority))
        raise UserInputError(f"unknown priority {text!r} (one of {names})") from None
