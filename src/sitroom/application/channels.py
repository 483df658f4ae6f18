"""Channels as a room shows them: the declared channels and their health, messages sent with
priorities, acks and failover, acks and replies that came by other means, sealed messages
opened for those cleared, a live desk, and simulations of channel traces.

Every read is as of a moment (now, or ``as_of_ms``), scoped to what the session's user may see,
and answers with its provenance. A channel serving a track is in the track's compartment, and
so is everything sent or received on it: a user not cleared for the track does not see it, and
one who asks to read such a message is refused, and the refusal recorded.

What the service needs from outside it is injected by the room: the wire a desk sends on, the
HTTP call that hands a message to a running desk, the server a desk listens with, the trace
reader, and the keys — this site's, a user's (unlocked only when a sealed message is theirs to
open), and the first epoch of a track that has none.
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from sitroom.application.desk import (
    DEFAULT_SKEW_MS,
    Desk,
    channel_record,
    courier_for,
    note_record,
    track_of,
)
from sitroom.application.netsim import Trace, simulate
from sitroom.application.netsim_report import SimReport
from sitroom.application.ports import Clock, Endpoint, ManualClock, Passphrase, Wire, WireError
from sitroom.application.results import Answer, Progress, Result
from sitroom.application.sealing import Keyring
from sitroom.application.session import Session
from sitroom.domain.channels import ledger
from sitroom.domain.channels.courier import Link, Note
from sitroom.domain.channels.priority import Priority
from sitroom.domain.kinds import CHANNEL_ACK, CHANNEL_KINDS, CHANNEL_REPLY
from sitroom.domain.secure.identity import Secret
from sitroom.domain.secure.ledger import SECURE, current_identity, sealed_header
from sitroom.domain.timeutil import human_age, iso
from sitroom.domain.week import WorkingWeek
from sitroom.domain.wording import shown
from sitroom.errors import (
    AccessDenied,
    AuthError,
    NotFound,
    SecureError,
    UserInputError,
    WorkspaceError,
)

CHANNELS = ledger.CHANNELS

# What the room injects.
WireFactory = Callable[[], Wire]
# POST a JSON body to a URL within a timeout, with a user's token (or None): (HTTP status, JSON
# answer); WireError if nothing answers. The HTTP adapter provides it.
PostJson = Callable[[str, Mapping[str, Any], float, str | None], tuple[int, Mapping[str, Any]]]
# Serve a desk's endpoints on (host, port); port 0 picks a free one.
ServeDesk = Callable[[Desk, str, int], Endpoint]
ReadTrace = Callable[[Path], Trace]
# This site's private keys; None when the room holds none.
SiteSecret = Callable[[], Secret | None]
# A person's private keys, opened with their key file or else the passphrase.
UserSecret = Callable[[str, Passphrase | None], Secret]
# An identity's keyring under the room's key policy: one that issues a track's new epoch (as
# this site) when a message needs one (the first, or one to replace a key out of use).
MakeKeyring = Callable[[Secret], Keyring]
# The room's engine on another clock for as long as the context lasts (a recorded simulation).
OnClock = Callable[[Clock], AbstractContextManager[object]]
# A scratch room over an in-memory log, on a virtual clock: its session.
Scratch = Callable[[ManualClock], Session]
# A user's session (AccessDenied if there is no such user): whom a desk submits for.
AsUser = Callable[[str], Session]

_P = TypeVar("_P")

DEFAULT_WAIT_MS = 30_000
DESK_TIMEOUT_S = 10.0
# A queue's length and a share of turns: bounded so that a mistyped thirty-digit number is
# refused here, not by the log's JSON (which holds 64-bit integers).
MAX_CAPACITY = 1_000_000
MAX_WEIGHT = 1_000


_URL = re.compile(r"^[a-z][a-z0-9+.-]*://[^\s/]+/?$")  # a scheme and a host: http://h:8650


# results ----------------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class ChannelRow(Result):
    """A channel and its health: its breaker, its liveness, its messages, and the
    counterpart's reply habits in their working week."""

    id: str
    name: str
    counterpart: str
    via: str | None
    fallback: str | None
    url: str | None
    track: str | None
    breaker: str  # closed, open, half_open
    breaker_reason: str | None
    next_probe: str | None  # an open breaker: when it lets its probe through
    liveness: str  # alive, suspect_path, suspect_peer, unknown
    liveness_reason: str | None
    pending: int
    acked: int
    dropped: int
    replies_seen: int
    reply_bound_ms: int  # how long a reply usually takes, in working time
    reply_bound_learned: bool  # from the counterpart's replies (else the default)
    working_week: str


@dataclass(frozen=True, kw_only=True)
class ChannelList(Answer):
    channels: tuple[ChannelRow, ...]


@dataclass(frozen=True, kw_only=True)
class Declared(Result):
    """A channel declared (``new``), or declared again with nothing changed."""

    id: str
    counterpart: str
    track: str | None
    new: bool
    payload: Mapping[str, Any]  # the channel record's payload


@dataclass(frozen=True, kw_only=True)
class Receipt(Result):
    """What became of a message handed to a channel. ``accepted`` False: backpressure refused
    it. ``waiting``: recorded and still unacknowledged when the wait ran out (a desk goes on
    trying). Handed to a running desk (``desk``), it is ``queued`` there."""

    message: str
    channel: str
    accepted: bool
    backpressure: str  # ok, slow_down, reject
    status: str  # acked, pending, dropped, queued
    path: tuple[str, ...]  # the channels it went on, the first first
    attempts: int | None
    waiting: bool
    desk: str | None = None


@dataclass(frozen=True, kw_only=True)
class Reset(Result):
    channel: str
    was: str  # the breaker's state before
    by: str
    reason: str


@dataclass(frozen=True, kw_only=True)
class Acked(Result):
    message: str
    channel: str
    at: str | None
    new: bool  # False: the ack was recorded already


@dataclass(frozen=True, kw_only=True)
class Replied(Result):
    message: str
    at: str | None
    new: bool  # False: the reply was recorded already


@dataclass(frozen=True, kw_only=True)
class MessageText(Result):
    """A message's text, opened when it is sealed: with whose key, in which track's epoch."""

    message: str
    direction: str  # sent, received
    channel: str
    sealed: bool
    track: str | None
    epoch: int | None
    sender: str | None
    number: int | None
    opened_with: str | None
    text: str


@dataclass(frozen=True, kw_only=True)
class MessageRow(Result):
    message: str
    channel: str
    path: tuple[str, ...]
    counterpart: str
    priority: str
    status: str
    attempts: int
    sent_at: str | None
    acked_at: str | None
    reply_by: str | None
    awaits_reply: bool
    replied_at: str | None
    age: str
    overdue: str | None  # why its reply is overdue, in words
    evidence: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class Status(Answer):
    """What waits for an ack or a reply (or one message, or one channel's), and the channels
    it is on."""

    target: str | None  # the channel or message asked about (None: all)
    channels: tuple[ChannelRow, ...]
    messages: tuple[MessageRow, ...]
    received: int


@dataclass(frozen=True, kw_only=True)
class DeskStopped(Result):
    """A desk that ran until it was stopped: where it listened, and what it leaves pending."""

    url: str
    pending: tuple[str, ...]


# pure helpers -----------------------------------------------------------------------------
def priority_of(text: str | Priority) -> Priority:
    """A priority class by name (any case): FLASH, IMMEDIATE, PRIORITY or ROUTINE."""
    if isinstance(text, Priority):
        return text
    try:
        return Priority[text.upper()]
    except KeyError:
        names = ", ".join(p.name for p in reversed(Priority))
        raise UserInputError(f"unknown priority {text!r} (one of {names})") from None


def parse_listen(listen: str) -> tuple[str, int]:
    """HOST:PORT, as a desk or a relay listens on (port 0: a free one)."""
    host, _, port = listen.rpartition(":")
    # ASCII digits only: str.isdigit() holds for '²', which int() refuses.
    if not host or not (port.isascii() and port.isdigit()) or int(port) > 65535:
        raise UserInputError(f"an address to listen on is HOST:PORT, not {shown(listen)}")
    return host, int(port)


def simulate_scratch(
    trace: Trace, scratch: Scratch, *, progress: Progress | None = None
) -> SimReport:
    """Play ``trace`` in a scratch room (an in-memory log on a virtual clock)."""
    clock = ManualClock(trace.start_ms)
    return simulate(trace, scratch(clock), clock, progress=progress)


# the service ------------------------------------------------------------------------------
class Channels:
    """Channels to counterparts: declare, send, settle, read, look back, run a desk,
    simulate."""

    def __init__(
        self,
        session: Session,
        *,
        wire: WireFactory | None = None,
        post: PostJson | None = None,
        serve: ServeDesk | None = None,
        read_trace: ReadTrace | None = None,
        site_secret: SiteSecret | None = None,
        user_secret: UserSecret | None = None,
        keyring: MakeKeyring | None = None,
        on_clock: OnClock | None = None,
        scratch: Scratch | None = None,
        settle: Callable[[], None] | None = None,
        as_user: AsUser | None = None,
        skew_ms: int = DEFAULT_SKEW_MS,
        witnessing: Callable[[Mapping[str, Any]], Mapping[str, Any]] | None = None,
    ) -> None:
        self._s = session
        self._witnessing = witnessing
        self._as_user = as_user
        self._skew_ms = skew_ms
        self._wire = wire
        self._post = post
        self._serve = serve
        self._read_trace = read_trace
        self._site_secret = site_secret
        self._user_secret = user_secret
        self._make_keyring = keyring
        self._on_clock = on_clock
        self._scratch = scratch
        self._settle = settle

    # reading ------------------------------------------------------------------------------
    def list(self, *, as_of_ms: int | None = None) -> ChannelList:
        """Every channel this user may see, with its health, as of a moment."""
        s = self._s
        at = s.at(as_of_ms)
        state = s.state(CHANNELS, at)
        rows = tuple(_channel_row(state, state["channels"][c]) for c in sorted(state["channels"]))
        return ChannelList(
            channels=rows, provenance=s.provenance(at, _newest(state), CHANNEL_KINDS)
        )

    def status(self, target: str | None = None, *, as_of_ms: int | None = None) -> Status:
        """Every message not yet settled — waiting for an ack, or for a reply it asked for —
        or one message, or one channel's; with why a reply is overdue, and the channels."""
        s = self._s
        at = s.at(as_of_ms)
        state = s.state(CHANNELS, at)
        msgs = state["messages"]
        if target is not None and target not in msgs and target not in state["channels"]:
            raise NotFound("channel or message", target, known=sorted(state["channels"]))
        if target in msgs:
            chosen = [msgs[target]]
        else:
            chosen = [
                m
                for m in msgs.values()
                if (target is None or target in m["channels"])
                and (m["status"] == "pending" or (m.get("await_reply") and not m.get("replied_ms")))
            ]
        chosen.sort(key=lambda m: m["sent_ms"])
        on = {c for m in chosen for c in m["channels"]}
        return Status(
            target=target,
            channels=tuple(
                _channel_row(state, c)
                for cid, c in sorted(state["channels"].items())
                if target is None or target == cid or cid in on
            ),
            messages=tuple(_message_row(state, m, at.wall) for m in chosen),
            received=len(state["received"]),
            provenance=s.provenance(at, _newest(state), CHANNEL_KINDS),
        )

    def read(self, message: str, *, passphrase: Passphrase | None = None) -> MessageText:
        """A message's text. A sealed one is opened with this user's own key when the track's
        epoch was sealed to them (their passphrase is asked for only then), else with the
        site's, which keeps it for the people cleared here. A user not cleared for the
        message's track is refused, and the refusal recorded."""
        direction, m = self._message(message, f"read message {message}")
        header = sealed_header(m["body"])
        if header is None:
            return MessageText(
                message=message,
                direction=direction,
                channel=m["channel"],
                sealed=False,
                track=None,
                epoch=None,
                sender=None,
                number=None,
                opened_with=None,
                text=str(m["body"]),
            )
        track = str(header["track"])
        secret = self._opener(track, int(header["epoch"]), passphrase)
        if secret is None:
            raise SecureError(f"message {message} is sealed; opening it needs a member's key")
        opened = self._keyring(secret).read(m["body"], track)
        h = opened.header
        return MessageText(
            message=message,
            direction=direction,
            channel=m["channel"],
            sealed=True,
            track=h.track,
            epoch=h.epoch,
            sender=h.sender,
            number=h.n,
            opened_with=secret.name,
            text=opened.plaintext.decode("utf-8", "replace"),
        )

    # declaring ----------------------------------------------------------------------------
    def add(
        self,
        id: str,
        *,
        counterpart: str,
        name: str = "",
        via: str | None = None,
        fallback: str | None = None,
        failover_from: str | Priority = Priority.IMMEDIATE,
        ack_timeout_ms: int = 10_000,
        heartbeat_ms: int = 1_000,
        acceptable_pause_ms: int | None = None,
        capacity: int = 64,
        weight: int = 1,
        url: str | None = None,
        timezone: str = "UTC",
        hours: str = "09:00-18:00",
        days: str = "Mon-Fri",
        closed: Sequence[str] = (),
        shorter: Sequence[str] = (),
        track: str | None = None,
    ) -> Declared:
        """Declare a channel, or change one (declaring it again with other options). Its
        fallback must be declared first, and serve the same track (a message cannot fail over
        into another track's keys)."""
        if not (1 <= capacity <= MAX_CAPACITY and 1 <= weight <= MAX_WEIGHT):
            raise UserInputError(
                f"a channel's capacity is 1 to {MAX_CAPACITY:,} messages and its weight 1 to "
                f"{MAX_WEIGHT:,}"
            )
        if url is not None and not _URL.match(url):
            raise UserInputError(f"{url!r} is not a desk's address, such as https://HOST:PORT")
        if track and self._s.sees(track):  # else the write is refused, and recorded, below
            # A track this room runs, or one whose keys it holds (the far end of a channel).
            known = set(self._s.state("tracks")["tracks"]) | set(self._s.state(SECURE)["epochs"])
            if track not in known:
                raise NotFound("track", track, known=sorted(known), detail=" for the channel")
        link = Link(
            id=id,
            counterpart=counterpart,
            name=name,
            via=via,
            fallback=fallback,
            failover_from=priority_of(failover_from),
            ack_timeout_ms=ack_timeout_ms,
            heartbeat_ms=heartbeat_ms,
            acceptable_pause_ms=acceptable_pause_ms,
            capacity=capacity,
            weight=weight,
            url=url,
            week=WorkingWeek.parse(timezone, hours, days, closed=closed, shorter=shorter),
            track=track or None,
        )
        known = self._s.state(CHANNELS)["channels"]
        if fallback is not None:
            if fallback not in known:
                raise NotFound("channel", fallback, known=sorted(known), detail=" to fail over to")
            theirs = known[fallback].get("track") or None
            if theirs != link.track:
                raise UserInputError(
                    f"channel {fallback} serves {theirs or 'no track'}, not "
                    f"{link.track or 'no track'}: a message cannot fail over into another "
                    "track's keys"
                )
        record = channel_record(link)
        out = self._s.append([record], action=f"declare channel {id}")
        return Declared(
            id=id,
            counterpart=counterpart,
            track=link.track,
            new=out.appended > 0,
            payload=record.payload,
        )

    # sending ------------------------------------------------------------------------------
    def send(
        self,
        channel: str,
        body: str,
        *,
        priority: str | Priority = Priority.ROUTINE,
        msg_id: str | None = None,
        reply_by_ms: int | None = None,
        await_reply: bool = False,
        wait_ms: int = DEFAULT_WAIT_MS,
        expires_ms: int | None = None,
    ) -> Receipt:
        """Send a message: recorded first (sealed with the track's key on a track's channel),
        then delivered with acks, retries and failover for up to ``wait_ms``. What is not
        acknowledged by then stays recorded as pending, for a desk to deliver."""
        if wait_ms < 0:
            raise UserInputError("the wait is 0 or more")
        p = priority_of(priority)
        s = self._s
        state = s.state(CHANNELS)
        if channel not in state["channels"]:
            raise NotFound("channel", channel, known=sorted(state["channels"]))
        keyring = self._site_keyring() if track_of(state, channel) else None
        wire = self._need(self._wire, "a wire")()
        desk = Desk(s, wire, keyring=keyring)
        try:
            took = desk.submit(
                channel,
                p,
                body,
                msg_id=msg_id,
                reply_by_ms=reply_by_ms,
                await_reply=await_reply,
                expires_ms=expires_ms,
            )
            left = desk.settle([took.message], s.now_ms() + wait_ms) if took.accepted else []
        finally:
            desk.close()
            wire.close()
        m = s.state(CHANNELS)["messages"].get(took.message) or {}
        return Receipt(
            message=took.message,
            channel=channel,
            accepted=took.accepted,
            backpressure=took.backpressure,
            status=str(m.get("status", "dropped")),
            path=tuple(m.get("channels") or (channel,)),
            attempts=m.get("attempts"),
            waiting=bool(left),
        )

    def send_via_desk(
        self,
        url: str,
        channel: str,
        body: str,
        *,
        priority: str | Priority = Priority.ROUTINE,
        msg_id: str | None = None,
        reply_by_ms: int | None = None,
        await_reply: bool = False,
        expires_ms: int | None = None,
        token: str | None = None,
    ) -> Receipt:
        """Hand a message to the desk running at ``url``, which records and delivers it as
        the user ``token`` stands for (the desk refuses a request without one it accepts)."""
        p = priority_of(priority)
        post = self._need(self._post, "an HTTP client")
        request = {
            "channel": channel,
            "priority": p.name,
            "body": body,
            "id": msg_id,
            "reply_by": None if reply_by_ms is None else iso(reply_by_ms),
            "await_reply": await_reply,
            "expires": None if expires_ms is None else iso(expires_ms),
        }
        try:
            code, answer = post(f"{url.rstrip('/')}/submit", request, DESK_TIMEOUT_S, token)
        except WireError as e:
            raise UserInputError(f"no desk at {url}: {e}") from None
        if code == 401:
            raise AuthError(
                f"the desk at {url} does not know who you are: {answer.get('error')}",
                reason="no-token" if token is None else "bad-token",
            )
        if code == 403:
            raise AccessDenied(
                f"the desk at {url} refused the message: {answer.get('error')}",
                action=f"send on {channel}",
            )
        if code != 200:
            raise UserInputError(f"the desk at {url} refused the message: {answer.get('error')}")
        accepted = bool(answer.get("accepted"))
        return Receipt(
            message=str(answer.get("message")),
            channel=str(answer.get("channel", channel)),
            accepted=accepted,
            backpressure=str(answer.get("backpressure", "")),
            status="queued" if accepted else "dropped",
            path=(channel,),
            attempts=None,
            waiting=False,
            desk=url,
        )

    # settling by hand ---------------------------------------------------------------------
    def reset(self, channel: str, *, reason: str) -> Reset:
        """Close a channel's breaker by hand, as the session's user and for a reason (an
        operator who knows the far end is back): recorded, and the next desk or send starts
        from a closed breaker."""
        s = self._s
        by = s.user
        if not by:
            raise UserInputError("a reset is someone's: name who resets with -u NAME")
        if not reason.strip():
            raise UserInputError("say why the breaker is reset: --reason TEXT")
        state = s.state(CHANNELS)
        if channel not in state["channels"]:
            raise NotFound("channel", channel, known=sorted(state["channels"]))
        courier = courier_for(state)
        was = courier.breaker(channel).state.value
        notes = [
            a
            for a in courier.reset(channel, s.now_ms(), by=by, reason=reason)
            if isinstance(a, Note)
        ]
        s.append(
            [note_record(n, track_of(state, channel)) for n in notes], action=f"reset {channel}"
        )
        return Reset(channel=channel, was=was, by=by, reason=reason)

    def ack(self, message: str, *, at_ms: int | None = None, channel: str | None = None) -> Acked:
        """Record an acknowledgement that came by other means (a phone call, a cable)."""
        s = self._s
        _, m = self._message(message, f"acknowledge message {message}", sent_only=True)
        state = s.state(CHANNELS)
        if channel is not None and channel not in state["channels"]:
            raise NotFound("channel", channel, known=sorted(state["channels"]))
        at = s.now_ms() if at_ms is None else at_ms
        ch = channel or m["channels"][-1]
        payload = {
            "message": message,
            "channel": ch,
            "first_channel": m["channel"],
            "attempt": m["attempts"],
            "latency_ms": at - m["sent_ms"],
            "duplicate": False,
            "manual": True,
        }
        note = Note(CHANNEL_ACK, f"ack:{message}", at, ch, payload)
        out = s.append([note_record(note, track_of(state, ch))], action=f"acknowledge {message}")
        return Acked(message=message, channel=ch, at=iso(at), new=out.appended > 0)

    def reply(self, message: str, *, at_ms: int | None = None, body: str = "") -> Replied:
        """Record the counterpart's reply: it settles the message and teaches the channel the
        counterpart's reply habits."""
        s = self._s
        _, m = self._message(message, f"record a reply to {message}", sent_only=True)
        at = s.now_ms() if at_ms is None else at_ms
        note = Note(CHANNEL_REPLY, f"reply:{message}", at, "", {"message": message, "body": body})
        track = track_of(s.state(CHANNELS), m["channel"])
        out = s.append([note_record(note, track)], action=f"record a reply to {message}")
        return Replied(message=message, at=iso(at), new=out.appended > 0)

    # the desk -----------------------------------------------------------------------------
    def run_desk(
        self,
        *,
        listen: str = "127.0.0.1:8650",
        stop: threading.Event,
        ready: Callable[[str], None] | None = None,
        lock: threading.RLock | None = None,
    ) -> DeskStopped:
        """Run this site's desk until ``stop`` is set: receive messages (each recorded once,
        then acked), deliver what is pending, ping every channel, fail over, and raise
        overdue-reply alerts. ``ready`` is told the URL once it listens. ``lock``: the one
        every other user of this room's engine holds (a server's)."""
        host, port = parse_listen(listen)
        serve = self._need(self._serve, "a server")
        with lock or contextlib.nullcontext():  # what the desk reads first, in turn too
            secret = self._site_secret() if self._site_secret is not None else None
            wire = self._need(self._wire, "a wire")()
            desk = Desk(
                self._s,
                wire,
                keyring=None if secret is None else self._keyring(secret),
                as_user=self._as_user,
                skew_ms=self._skew_ms,
                lock=lock,
                witnessing=self._witnessing,
            )
        try:
            if self._settle is not None:
                self._settle()
            endpoint = serve(desk, host, port)
            try:
                if ready is not None:
                    ready(endpoint.url)
                desk.run(stop)
            finally:
                endpoint.shutdown()
        finally:
            desk.close()
            wire.close()
        return DeskStopped(url=endpoint.url, pending=tuple(desk.pending()))

    # simulating ---------------------------------------------------------------------------
    def simulate(
        self, trace: Trace | Path, *, record: bool = False, progress: Progress | None = None
    ) -> SimReport:
        """Play a channel trace on a virtual clock — outages, storms, replies — through the
        courier and the channel detectors: what was sent, acknowledged, failed over and
        alerted, and when. In a scratch room, or recorded into this one (``record``), whose
        clock is the virtual one while it runs. ``progress`` is told the virtual time played."""
        if not isinstance(trace, Trace):
            trace = self._need(self._read_trace, "a trace reader")(trace)
        if not record:
            return simulate_scratch(
                trace, self._need(self._scratch, "a scratch room"), progress=progress
            )
        clock = ManualClock(trace.start_ms)
        with self._need(self._on_clock, "a virtual clock")(clock):
            return simulate(trace, self._s, clock, progress=progress)

    # internals ----------------------------------------------------------------------------
    def _message(
        self, message: str, action: str, *, sent_only: bool = False
    ) -> tuple[str, Mapping[str, Any]]:
        """A message this user may see (sent, or received): else refused and recorded if it
        exists where they are not cleared, or NotFound."""
        s = self._s
        state = s.state(CHANNELS)
        sent = state["messages"].get(message)
        if sent is not None:
            return "sent", sent
        got = None if sent_only else state["received"].get(message)
        if got is not None:
            return "received", got
        ids = [f"send:{message}"] if sent_only else [f"send:{message}", f"receive:{message}"]
        hidden = s.outside(ids)
        if hidden is not None:
            s.deny(action, f"not cleared for {hidden}", hidden)
        raise NotFound("message", message, detail=" was sent" if sent_only else "")

    def _opener(self, track: str, epoch: int, passphrase: Passphrase | None) -> Secret | None:
        """Whose key opens a message sealed in ``track``'s ``epoch`` for this user: their own
        when the epoch was sealed to the key they hold now (the session's, once they proved who
        they are: no passphrase asked again), else the site's (None: none held) — as for an
        epoch sealed to a key of theirs since replaced, which the new one cannot open."""
        user = self._s.user
        if user and self._sealed_to_current_key(user, track, epoch):
            if self._s.signer is not None:  # proven already: their key is at hand
                return self._s.signer
            if self._user_secret:
                return self._user_secret(user, passphrase)
        return self._site_secret() if self._site_secret is not None else None

    def _sealed_to_current_key(self, user: str, track: str, epoch: int) -> bool:
        secure = self._secure()
        found = next((e for e in secure["epochs"].get(track, []) if e["epoch"] == epoch), None)
        member = None if found is None else found["members"].get(user)
        current = current_identity(secure, user)
        return (
            member is not None
            and current is not None
            and current["fingerprint"] == (member["fingerprint"])
        )

    def _secure(self) -> Mapping[str, Any]:
        state: Mapping[str, Any] = self._s.state(SECURE)
        return state

    def _keyring(self, secret: Secret) -> Keyring:
        return self._need(self._make_keyring, "a keyring")(secret)

    def _site_keyring(self) -> Keyring | None:
        secret = self._site_secret() if self._site_secret is not None else None
        return None if secret is None else self._keyring(secret)

    @staticmethod
    def _need(port: _P | None, what: str) -> _P:
        if port is None:
            raise WorkspaceError(f"this room was opened without {what} for channels")
        return port


def _newest(state: Mapping[str, Any]) -> int | None:
    """When the newest thing this site saw on its channels happened: a message sent, acked or
    replied to, a breaker or liveness change."""
    times = [
        t
        for m in state["messages"].values()
        for t in (m.get("sent_ms"), m.get("acked_ms"), m.get("replied_ms"))
        if t is not None
    ]
    times += [a["at_ms"] for aspects in state["states"].values() for a in aspects.values()]
    return max((t for t in times if t is not None), default=None)


def _channel_row(state: Mapping[str, Any], c: Mapping[str, Any]) -> ChannelRow:
    cid = c["id"]
    states = state["states"].get(cid, {})
    # A message counts where it is now: acked on the channel that carried the ack, pending or
    # dropped on the last one it was on (a failed-over message is not acked on both).
    counts = Counter(
        m["status"]
        for m in state["messages"].values()
        if (m.get("ack_channel") if m["status"] == "acked" else m["channels"][-1]) == cid
    )
    h = ledger.habits(state, c["counterpart"], cid)
    breaker, liveness = states.get("breaker", {}), states.get("liveness", {})
    return ChannelRow(
        id=cid,
        name=c.get("name") or cid,
        counterpart=c["counterpart"],
        via=c.get("via"),
        fallback=c.get("fallback"),
        url=c.get("url"),
        track=c.get("track") or None,
        breaker=breaker.get("new", "closed"),
        breaker_reason=breaker.get("reason"),
        next_probe=iso(breaker.get("retry_at_ms")) if breaker.get("new") == "open" else None,
        liveness=liveness.get("new", "unknown"),
        liveness_reason=liveness.get("reason"),
        pending=counts.get("pending", 0),
        acked=counts.get("acked", 0),
        dropped=counts.get("dropped", 0),
        replies_seen=len(h.replies),
        reply_bound_ms=h.bound_ms(),
        reply_bound_learned=h.quantile_ms() is not None,
        working_week=h.week.describe(),
    )


def _message_row(state: Mapping[str, Any], m: Mapping[str, Any], now: int) -> MessageRow:
    awaits = bool(m.get("await_reply")) and not m.get("replied_ms")
    late = ledger.overdue(state, m, now) if awaits and m["status"] != "dropped" else None
    return MessageRow(
        message=m["message"],
        channel=m["channel"],
        path=tuple(m["channels"]),
        counterpart=m["counterpart"],
        priority=m["priority"],
        status=m["status"],
        attempts=m["attempts"],
        sent_at=iso(m["sent_ms"]),
        acked_at=iso(m.get("acked_ms")),
        reply_by=iso(m.get("reply_by_ms")),
        awaits_reply=awaits,
        replied_at=iso(m.get("replied_ms")),
        age=human_age(max(0, now - m["sent_ms"])),
        overdue=None if late is None else late.explanation,
        evidence=tuple(m["evidence"]),
    )
