"""A site's channels, live: the courier on a real clock and a real wire, its notes in the log
through a session (the site's, for a desk that runs; a user's, for a one-off send).

The ``Desk`` owns one courier, rebuilt from the log when it starts: the declared channels, the
breakers from their recorded outcomes, and every message recorded as sent and not yet
acknowledged, queued again. Every note the courier writes goes into the log before the desk
acts on it, and a message received is in the log before its ack goes back: after a crash,
nothing acknowledged is lost, and a copy sent again is recognised by its id.

Wire calls (deliver, ping, ask the intermediary) run in a thread pool, outside the lock that
guards the courier and the engine, and report back through the courier's ``on_*`` calls.

What arrives from another site (:meth:`Desk.deliver`) is taken only signed by a site whose
card was imported here, fresh and never seen before, on a channel declared here with that site
as its counterpart, and sealed if the channel is a track's; what a user submits is theirs,
on a channel they may write. Every refusal is counted by its reason (``Desk.refused``), and
none is recorded: a stranger cannot write to the log by knocking.
"""

from __future__ import annotations

import contextlib
import secrets
import threading
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from sitroom.application.engine import SITROOM_SOURCE
from sitroom.application.ports import Peer, Peers, Wire, WireError
from sitroom.application.results import Result
from sitroom.application.sealing import Keyring, rejection
from sitroom.application.session import WRITERS, Session
from sitroom.domain.channels import ledger
from sitroom.domain.channels.courier import (
    Action,
    Courier,
    Envelope,
    Link,
    Note,
    Transmit,
    wire_text,
)
from sitroom.domain.channels.priority import Priority
from sitroom.domain.kinds import CHANNEL, CHANNEL_RECEIVE, CHANNEL_SEND, KINDS
from sitroom.domain.records import Record, content_id
from sitroom.domain.secure import requests
from sitroom.domain.secure.identity import INTERMEDIARY, SITE, Identity, identity_from_record
from sitroom.domain.secure.ledger import SECURE, current_identity, sealed_header
from sitroom.errors import AccessDenied, AuthError, NotFound, Rejected, SecureError

CHANNELS = ledger.CHANNELS
UNDECLARED = "undeclared-channel"
PLAINTEXT = "plaintext-on-sealed"
NOT_ITS_OWN = "not-its-own-head"
NOT_CLEARED = "not-cleared"  # a user who may not send on the channel
DEFAULT_SKEW_MS = 300_000


def note_record(note: Note, compartment: str = "") -> Record:
    """A courier's note as a record, in the compartment of its channel's track."""
    return KINDS[note.kind].record(
        id=note.id,
        source=SITROOM_SOURCE,
        valid_from=note.at_ms,
        valid_to=note.at_ms,
        compartment=compartment,
        payload=note.payload,
    )


def channel_record(link: Link) -> Record:
    payload = link.as_payload()
    return CHANNEL.record(
        id=f"channel:{link.id}:{content_id(payload)}",
        source="user",
        compartment=link.track or "",
        payload=payload,
    )


def track_of(state: Mapping[str, Any], channel: str) -> str:
    """The track a channel belongs to in the channels projection ("" if none or unknown)."""
    c = state["channels"].get(channel) or {}
    return str(c.get("track") or "")


def courier_for(state: Mapping[str, Any], **options: Any) -> Courier:
    """A courier as the log leaves it: channels, breakers, and the unacknowledged messages."""
    courier = Courier(ledger.links(state), **options)
    courier.restore(ledger.outcomes(state))
    for m in state["messages"].values():
        if m["status"] == "pending":
            courier.resume(
                Envelope(
                    id=m["message"],
                    channel=m["channels"][-1],
                    first_channel=m["channel"],
                    priority=Priority[m["priority"]],
                    attempt=m["attempts"],
                    body=m["body"],
                    sent_ms=m["sent_ms"],
                    reply_by_ms=m.get("reply_by_ms"),
                    expires_ms=m.get("expires_ms"),
                )
            )
    return courier


def named(state: Mapping[str, Any], name: str | None, role: str) -> Identity | None:
    """The identity of ``role`` the log holds under ``name`` — exactly, else in any case (a
    channel's counterpart "Tehran" is the site "tehran") — its self-signature checked."""
    if not name:
        return None
    found = current_identity(dict(state), name)
    if found is None:
        folded = name.casefold()
        same = [n for n in state["identities"] if n.casefold() == folded]
        found = current_identity(dict(state), same[0]) if len(same) == 1 else None
    if found is None or found.get("role") != role:
        return None
    return identity_from_record(found)


def peers_of(session: Session) -> Peers:
    """Who is at each address this site's channels go to: the counterpart's site (whom a
    delivery is signed for) and the card its certificate must carry — the intermediary's on
    a channel through one, else the site's."""

    def at(origin: str) -> Peer | None:
        channels = session.state(CHANNELS)["channels"]
        secure = session.state(SECURE)
        for c in channels.values():
            if (c.get("url") or "").rstrip("/") == origin.rstrip("/"):
                site = named(secure, c["counterpart"], SITE)
                hop = named(secure, c.get("via"), INTERMEDIARY) if c.get("via") else site
                return Peer(site=None if site is None else site.name, pin=hop)
        return None

    return at


def new_message_id() -> str:
    return f"m-{secrets.token_hex(6)}"


@dataclass(frozen=True, kw_only=True)
class Submitted(Result):
    """A message the desk took, or refused: what a desk's ``/submit`` answers."""

    message: str
    accepted: bool
    backpressure: str
    channel: str


class Desk:
    """``keyring`` seals what goes out on a track's channels and opens what comes in for a
    track; without one, a track's messages are refused both ways (never sent in the clear)."""

    def __init__(
        self,
        session: Session,
        wire: Wire,
        *,
        workers: int = 8,
        keyring: Keyring | None = None,
        as_user: Callable[[str], Session] | None = None,
        skew_ms: int = DEFAULT_SKEW_MS,
        lock: threading.RLock | None = None,
        witnessing: Callable[[Mapping[str, Any]], Mapping[str, Any]] | None = None,
    ) -> None:
        self.session = session
        self.keyring = keyring
        self.witnessing = witnessing  # co-signs another site's tree head (application/witness)
        self.wire = wire
        self.as_user = as_user  # a user's session, to check what they submit
        self.skew_ms = skew_ms
        # Held around every use of the session: a server shares its room's lock, so the desk
        # and the server's requests take turns on the one engine.
        self.lock = lock or threading.RLock()
        self.courier = courier_for(session.state(CHANNELS), max_in_flight=workers)
        self.pool = ThreadPoolExecutor(workers, thread_name_prefix="sitroom-wire")
        self.wake = threading.Event()
        self.closed = False
        # Requests refused, by reason: for /status and, later, for metrics.
        self.refused: Counter[str] = Counter()
        self.replays = requests.Replays(skew_ms)
        self._counting = threading.Lock()

    # -- who asks --------------------------------------------------------------------------

    def count(self, reason: str) -> None:
        """Count a refused request."""
        with self._counting:
            self.refused[reason] += 1

    def refusals(self) -> dict[str, int]:
        with self._counting:
            return dict(sorted(self.refused.items()))

    def deliver(
        self,
        headers: Mapping[str, str],
        method: str,
        path: str,
        raw: bytes,
        body: Callable[[], Mapping[str, Any]],
    ) -> dict[str, Any]:
        """A delivery from another site, as it came: its signature headers (names in lower
        case), method, path and body's bytes; ``body`` reads them as JSON. It is received
        (:meth:`receive`) once its signature is a known site's, fresh and not seen before
        (else AuthError), and its channel is declared here with that site as counterpart,
        sealed if the channel is a track's (else AccessDenied). Each refusal is counted, none
        recorded."""
        sender = self._sender(headers, method, path, raw)
        wire = body()
        env = Envelope.from_wire(wire)
        with self.lock:
            declared = self.session.state(CHANNELS)["channels"].get(env.channel)
        if declared is None or str(declared["counterpart"]).casefold() != sender.name.casefold():
            self.count(UNDECLARED)
            raise AccessDenied(
                f"no channel {env.channel!r} to {sender.name} is declared here",
                user=sender.name,
                action=f"deliver on channel {env.channel}",
            )
        if declared.get("track") and sealed_header(env.body) is None:
            self.count(PLAINTEXT)
            raise AccessDenied(
                f"channel {env.channel} carries track {declared['track']}'s sealed messages "
                "only: this one is in the clear",
                user=sender.name,
                action=f"deliver on channel {env.channel}",
                compartment=str(declared["track"]),
            )
        return self.receive(wire)

    def _sender(self, headers: Mapping[str, str], method: str, path: str, raw: bytes) -> Identity:
        """The site that signed a request: a known site's signature, fresh and not seen
        before (else AuthError, counted)."""
        try:
            signed = requests.Signed.from_headers(headers)
            with self.lock:
                now = self.session.now_ms()
                secure = self.session.state(SECURE)
            sender = requests.check(
                signed,
                method,
                path,
                raw,
                me=self.session.site_id,
                identities=lambda name: named(secure, name, SITE),
                now_ms=now,
                skew_ms=self.skew_ms,
            )
            self.replays.admit(signed, now)
        except AuthError as e:
            self.count(e.reason)
            raise
        return sender

    def witness(
        self,
        headers: Mapping[str, str],
        method: str,
        path: str,
        raw: bytes,
        body: Callable[[], Mapping[str, Any]],
    ) -> Mapping[str, Any]:
        """Another site asks this one to co-sign its tree head: signed by that site, for its
        own head only (a site cannot have another's head witnessed in its name)."""
        sender = self._sender(headers, method, path, raw)
        request = body()
        head = request.get("head")
        site = head.get("site") if isinstance(head, Mapping) else None
        if str(site).casefold() != sender.name.casefold():
            self.count(NOT_ITS_OWN)
            raise AccessDenied(
                f"{sender.name} asks to have site {site}'s head witnessed: a site asks for its own",
                user=sender.name,
                action="have a tree head witnessed",
            )
        if self.witnessing is None:
            raise AccessDenied(
                "this desk witnesses no site's heads",
                user=sender.name,
                action="have a tree head witnessed",
            )
        with self.lock:
            return self.witnessing(request)

    def _clear(self, user: str, channel: str) -> None:
        """Refuse (and record) a submit by ``user`` on ``channel`` unless they may write
        there: a writer, cleared for the channel's track."""
        if self.as_user is None:
            raise AccessDenied(
                "this desk takes messages from no user", user=user, action=f"send on {channel}"
            )
        s = self.as_user(user)
        if s.access.everything:
            return
        action = f"send on channel {channel}"
        if s.access.role not in WRITERS:
            s.deny(action, f"{user} is a {s.access.role}: viewers do not send", "")
        track = self._track(channel)
        if track and not s.sees(track):
            s.deny(action, f"{user} is not cleared for {track}", track)

    # -- what a sender or a receiver asks ------------------------------------------------------

    def submit(
        self,
        channel: str,
        priority: Priority,
        body: str,
        *,
        msg_id: str | None = None,
        reply_by_ms: int | None = None,
        await_reply: bool = False,
        expires_ms: int | None = None,
        by: str | None = None,
    ) -> Submitted:
        """Take a message to send. ``by``: the user who submits it to a running desk (else
        the desk's own session's), who must be cleared for the channel's track; the
        ``channel.send`` record says who."""
        msg_id = msg_id or new_message_id()
        with self.lock:
            if channel not in self.courier.lanes:
                raise NotFound("channel", channel, known=sorted(self.courier.lanes))
            if by is not None:
                try:
                    self._clear(by, channel)
                except AccessDenied:
                    self.count(NOT_CLEARED)
                    raise
            by = by or self.session.user
            track = self._track(channel)
            if track:
                if self.keyring is None:
                    raise SecureError(f"channel {channel} is track {track}'s: it needs its keys")
                body = self.keyring.seal(track, msg_id, body.encode("utf-8"), self.session.now_ms())
            done = self.courier.submit(
                msg_id,
                channel,
                priority,
                body,
                self.session.now_ms(),
                reply_by_ms=reply_by_ms,
                await_reply=await_reply,
                expires_ms=expires_ms,
            )
            for a in done.actions:
                if by is not None and isinstance(a, Note) and a.kind == CHANNEL_SEND:
                    a.payload["by"] = by
            # What a user submits is theirs: written through their session, signed by them.
            mine = self.as_user(by) if by is not None and self.as_user is not None else None
            transmits = self._record(done.actions, mine)
        self._dispatch(transmits)
        return Submitted(
            message=msg_id,
            accepted=done.accepted,
            backpressure=done.backpressure.value,
            channel=channel,
        )

    def now_ms(self) -> int:
        return self.session.now_ms()

    def receive(self, wire: Mapping[str, Any]) -> dict[str, Any]:
        """An envelope arrived: record it once per id, then ack it (a copy is acked too, so
        that its sender stops sending it). A track's message is opened first — signature,
        track, epoch, replay window, AEAD — and refused with its reason, recorded, if it fails
        any; it stays sealed in the log."""
        env = Envelope.from_wire(wire)
        with self.lock:
            now = self.session.now_ms()
            # The receiver's own channel decides the track; else the label it came with.
            track = self._track(env.channel) or (
                wire_text(wire, "track") if wire.get("track") not in (None, "") else ""
            )
            if track or sealed_header(env.body) is not None:
                refused = self._refuse(env, track, now)
                if refused is not None:
                    return refused
            record = note_record(
                Note(
                    CHANNEL_RECEIVE,
                    f"receive:{env.id}",
                    now,
                    env.channel,
                    {
                        **env.as_wire(),
                        "message": env.id,
                        "track": track or None,
                        # Arrived after it was void (in flight when it expired): kept, marked.
                        "void": env.expires_ms is not None and now > env.expires_ms,
                    },
                ),
                track,
            )
            out = self.session.append([record])
        return {"ack": True, "message": env.id, "duplicate": out.appended == 0}

    def _refuse(self, env: Envelope, track: str, now: int) -> dict[str, Any] | None:
        """None if the sealed message may be recorded; else the refusal, recorded."""
        seen = self.session.state(CHANNELS)["received"].get(env.id)
        if seen is not None and seen.get("body") == env.body:
            return None  # the same copy again (a retry): the log's idempotence answers it
        try:
            if self.keyring is None:
                raise Rejected("no-keys", f"this desk holds no keys to open track {track}")
            if not track:
                raise Rejected("wrong-track", f"message {env.id} is sealed but names no track")
            opened = self.keyring.open(env.body, track)
            if opened.header.id != env.id:
                raise Rejected(
                    "forged", f"message {env.id} carries the sealed message {opened.header.id}"
                )
        except Rejected as e:
            self.session.append(
                [
                    rejection(
                        e, env.body, track=track, channel=env.channel, message=env.id, now_ms=now
                    )
                ]
            )
            return {"ack": False, "message": env.id, "rejected": e.reason, "error": str(e)}
        return None

    def _track(self, channel: str) -> str:
        lane = self.courier.lanes.get(channel)
        if lane is not None:
            return lane.link.track or ""
        return track_of(self.session.state(CHANNELS), channel)

    def pending(self) -> list[str]:
        with self.lock:
            return sorted(self.courier.pending)

    # -- the loop ------------------------------------------------------------------------------

    def step(self) -> None:
        """Let time pass: the courier's retries and silences, the detectors' clocks."""
        with self.lock:
            now = self.session.now_ms()
            transmits = self._record(self.courier.tick(now))
            due = self.session.next_due(now)
            if due is not None and due <= now:
                self.session.tick(now)
        self._dispatch(transmits)

    def probe(self) -> None:
        """Ping every channel that has an address, and ask each intermediary what it heard."""
        with self.lock:
            lanes = [lane.link for lane in self.courier.lanes.values() if lane.link.url]
            asks = {
                link.id: via.url
                for link in lanes
                if (via := self.courier.intermediary(link.id)) is not None and via.url
            }
        for link in lanes:
            self._submit(self._ping, link)
        for channel, url in asks.items():
            self._submit(self._ask, channel, url)

    def run(self, stop: threading.Event, *, probe_every_ms: int | None = None) -> None:
        """Step, probe and wait until ``stop`` is set."""
        every = probe_every_ms or min(
            (lane.link.heartbeat_ms for lane in self.courier.lanes.values()), default=1000
        )
        next_probe = 0
        while not stop.is_set():
            now = self.session.now_ms()
            if now >= next_probe:
                self.probe()
                next_probe = now + every
            self.step()
            with self.lock:
                due = [d for d in (self.courier.next_due(), self.session.next_due(now)) if d]
            wait_ms = min([next_probe, *due]) - self.session.now_ms()
            self.wake.wait(max(0.005, min(wait_ms, every) / 1000))
            self.wake.clear()

    def settle(self, msg_ids: Sequence[str], until_ms: int) -> list[str]:
        """Step until the messages are acknowledged or ``until_ms`` passes (a one-off send);
        returns those still unacknowledged."""
        while True:
            self.step()
            with self.lock:
                left = [m for m in msg_ids if m in self.courier.pending]
                due = self.courier.next_due()
            now = self.session.now_ms()
            if not left or now >= until_ms:
                return left
            wait_ms = min(until_ms, due or until_ms) - now
            self.wake.wait(max(0.005, min(wait_ms, 1000) / 1000))
            self.wake.clear()

    def close(self) -> None:
        self.closed = True
        self.pool.shutdown(wait=True, cancel_futures=True)

    # -- internals ------------------------------------------------------------------------------

    def _record(self, actions: list[Action], session: Session | None = None) -> list[Transmit]:
        """Write the notes (one append, through ``session``: the desk's own by default), return
        what to put on the wire. Called under the lock."""
        notes = [note_record(a, self._track(a.channel)) for a in actions if isinstance(a, Note)]
        if notes:
            (session or self.session).append(notes)
        return [a for a in actions if isinstance(a, Transmit)]

    def _dispatch(self, transmits: list[Transmit]) -> None:
        for t in transmits:
            self._submit(self._deliver, t)

    def _submit(self, fn: Any, *args: Any) -> None:
        if not self.closed:
            with contextlib.suppress(RuntimeError):  # the pool is shutting down
                self.pool.submit(fn, *args)

    def _deliver(self, t: Transmit) -> None:
        env = t.envelope
        with self.lock:
            link = self.courier.lanes[env.channel].link
        timeout = link.ack_timeout_ms / 1000 * 0.9
        try:
            if t.url is None:
                raise WireError(f"channel {env.channel} has no address (--url)")
            answer = self.wire.deliver(t.url, {**env.as_wire(), "track": link.track}, timeout)
            ok = answer.get("ack") is True and answer.get("message") == env.id
            if not ok:
                raise WireError(f"the far end did not acknowledge {env.id}: {answer}")
        except WireError as e:
            with self.lock:
                now = self.session.now_ms()
                acts = self.courier.on_error(env.id, env.channel, now, str(e), attempt=env.attempt)
                transmits = self._record(acts)
        else:
            with self.lock:
                now = self.session.now_ms()
                dup = bool(answer.get("duplicate"))
                transmits = self._record(
                    self.courier.on_ack(env.id, env.channel, now, duplicate=dup)
                )
        self._dispatch(transmits)
        self.wake.set()

    def _ping(self, link: Link) -> None:
        assert link.url
        try:
            self.wire.ping(link.url, link.heartbeat_ms / 1000)
        except WireError:
            return  # silence is what phi measures
        with self.lock:
            transmits = self._record(self.courier.on_heartbeat(link.id, self.session.now_ms()))
        self._dispatch(transmits)

    def _ask(self, channel: str, url: str) -> None:
        try:
            ago = self.wire.heard(url, 1.0)
        except WireError:
            ago = None
        with self.lock:
            now = self.session.now_ms()
            heard = None if ago is None else now - ago
            transmits = self._record(self.courier.on_indirect(channel, heard, now))
        self._dispatch(transmits)
