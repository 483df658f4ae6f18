"""The sending side of the channels: queue, transmit, wait for the ack, retry, fail over.

A ``Courier`` holds the outgoing queues, a breaker and a heartbeat detector per channel, and
every message that is not yet acknowledged. It does no I/O and reads no clock. Each call takes
the time and returns ``Action`` s: a ``Transmit`` for the edge to put on the wire, and a
``Note`` for the log. The edge reports back what happened (``on_ack``, ``on_error``,
``on_heartbeat``, ``on_indirect``) and calls ``tick`` when ``next_due`` says. A simulator on a
virtual clock and a live node on HTTP drive the same courier.

Delivery is at least once. A message leaves the courier's books only when it is acknowledged.
Until then it is retried on its channel, with the wait for the ack doubling each attempt, up to
8 times the channel's ack timeout. It may also fail over to the channel's redundant channel,
keeping its id, so the receiver can tell a copy from a new message. A message fails over when it
is urgent enough (IMMEDIATE and above by default) and its channel is not usable: the breaker is
open, the heartbeats say the channel is silent, or an ack is missing twice. Less urgent messages
wait for their own channel. They are parked while its breaker is open, and go first when it lets a
probe through.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

from sitroom.domain.channels.breaker import (
    BreakerPolicy,
    BreakerState,
    CircuitBreaker,
    Outcome,
    Transition,
)
from sitroom.domain.channels.phi import (
    PhiConfig,
    PhiDetector,
    Silence,
    classify_silence,
    heard_recently,
)
from sitroom.domain.channels.priority import (
    Backpressure,
    ChannelConfig,
    ChannelQueues,
    Message,
    Priority,
)
from sitroom.domain.kinds import (
    CHANNEL_ACK,
    CHANNEL_DROP,
    CHANNEL_FAILOVER,
    CHANNEL_RETRY,
    CHANNEL_SEND,
    CHANNEL_STATE,
    ChannelPayload,
)
from sitroom.domain.timeutil import human_age, iso
from sitroom.domain.week import WorkingWeek
from sitroom.errors import NotFound, UserInputError

# Retries wait at most this many ack timeouts for an ack.
MAX_BACKOFF = 8
# A message that missed this many acks on a channel is moved to the redundant one, if urgent.
FAILOVER_AFTER_MISSES = 2


@dataclass(frozen=True)
class Link:
    """A channel as the sender sees it: who is at the other end, through whom, and what to do
    when it fails."""

    id: str
    counterpart: str
    name: str = ""
    via: str | None = None  # the intermediary, for a backchannel
    fallback: str | None = None  # the redundant channel urgent messages fail over to
    failover_from: Priority = Priority.IMMEDIATE
    ack_timeout_ms: int = 10_000
    heartbeat_ms: int = 1_000  # the expected heartbeat interval, phi's first estimate
    # A silence phi adds to the expected interval before it grows surprised (None: one and a
    # half heartbeat intervals, so a lost heartbeat, even a late one after it, is no alarm;
    # bench/silence_detection.py measures the choice).
    acceptable_pause_ms: int | None = None
    capacity: int = 64
    weight: int = 1
    url: str | None = None  # where the transport reaches the channel's far end
    week: WorkingWeek = field(default_factory=WorkingWeek)
    track: str | None = None  # the track whose key seals its messages (None: not sealed)

    def __post_init__(self) -> None:
        if not self.id or not self.counterpart:
            raise UserInputError("a channel needs an id and a counterpart")
        if self.fallback == self.id:
            raise UserInputError(f"channel {self.id} cannot be its own redundant channel")
        if self.ack_timeout_ms <= 0 or self.heartbeat_ms <= 0:
            raise UserInputError("a channel's ack timeout and heartbeat must be positive")
        if self.acceptable_pause_ms is not None and self.acceptable_pause_ms < 0:
            raise UserInputError("a channel's acceptable pause is 0 or more")

    @property
    def pause_ms(self) -> int:
        if self.acceptable_pause_ms is None:
            return self.heartbeat_ms * 3 // 2
        return self.acceptable_pause_ms

    @property
    def label(self) -> str:
        return self.name or self.id

    def as_payload(self) -> ChannelPayload:
        w = self.week
        return {
            "id": self.id,
            "name": self.name,
            "counterpart": self.counterpart,
            "via": self.via,
            "fallback": self.fallback,
            "failover_from": self.failover_from.name,
            "ack_timeout_ms": self.ack_timeout_ms,
            "heartbeat_ms": self.heartbeat_ms,
            "acceptable_pause_ms": self.acceptable_pause_ms,
            "capacity": self.capacity,
            "weight": self.weight,
            "url": self.url,
            "track": self.track,
            "week": {
                "timezone": w.timezone,
                "start_min": w.start_min,
                "end_min": w.end_min,
                "days": sorted(w.days),
                "closed": sorted(d.isoformat() for d in w.closed),
                "shorter": [[a.isoformat(), b.isoformat(), lo, hi] for a, b, lo, hi in w.shorter],
            },
        }

    @classmethod
    def from_payload(cls, p: Mapping[str, Any]) -> Link:
        w = p.get("week") or {}
        week = WorkingWeek(
            w.get("timezone", "UTC"),
            w.get("start_min", 9 * 60),
            w.get("end_min", 18 * 60),
            frozenset(w.get("days", range(5))),
            frozenset(date.fromisoformat(d) for d in w.get("closed", ())),
            tuple(
                (date.fromisoformat(a), date.fromisoformat(b), lo, hi)
                for a, b, lo, hi in w.get("shorter", ())
            ),
        )
        return cls(
            id=p["id"],
            counterpart=p["counterpart"],
            name=p.get("name") or "",
            via=p.get("via"),
            fallback=p.get("fallback"),
            failover_from=Priority[p.get("failover_from", "IMMEDIATE")],
            ack_timeout_ms=p.get("ack_timeout_ms", 10_000),
            heartbeat_ms=p.get("heartbeat_ms", 1_000),
            acceptable_pause_ms=p.get("acceptable_pause_ms"),
            capacity=p.get("capacity", 64),
            weight=p.get("weight", 1),
            url=p.get("url"),
            week=week,
            track=p.get("track"),
        )


@dataclass(frozen=True)
class Envelope:
    """What goes on the wire. ``channel`` is the one it travels on now; ``first_channel`` the
    one it was sent on. The id never changes, whatever the channel or attempt."""

    id: str
    channel: str
    first_channel: str
    priority: Priority
    attempt: int
    body: str
    sent_ms: int
    reply_by_ms: int | None = None
    expires_ms: int | None = None  # void if not delivered by then: never sent after it

    def as_wire(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "channel": self.channel,
            "first_channel": self.first_channel,
            "priority": self.priority.name,
            "attempt": self.attempt,
            "body": self.body,
            "sent_ms": self.sent_ms,
            "reply_by_ms": self.reply_by_ms,
            "expires_ms": self.expires_ms,
        }

    @classmethod
    def from_wire(cls, d: Mapping[str, Any]) -> Envelope:
        channel = wire_text(d, "channel")
        reply_by = d.get("reply_by_ms")
        expires = d.get("expires_ms")
        return cls(
            id=wire_text(d, "id"),
            channel=channel,
            first_channel=wire_text(d, "first_channel", default=channel),
            priority=wire_priority(d.get("priority")),
            attempt=wire_int(d, "attempt", 1, 1_000_000, default=1),
            body=wire_text(d, "body", default="", limit=None),
            sent_ms=wire_int(d, "sent_ms", 0, MAX_MS),
            reply_by_ms=None if reply_by is None else wire_int(d, "reply_by_ms", 0, MAX_MS),
            expires_ms=None if expires is None else wire_int(d, "expires_ms", 0, MAX_MS),
        )


MAX_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z
_ID_LIMIT = 200


def wire_text(
    d: Mapping[str, Any], field: str, *, default: str | None = None, limit: int | None = _ID_LIMIT
) -> str:
    """A string field of a request from the network: present (unless it has a default), a
    string, and no longer than ``limit``; else one readable refusal."""
    value = d.get(field, default)
    if value is None:
        raise UserInputError(f"the request has no {field!r}")
    if not isinstance(value, str):
        raise UserInputError(f"{field!r} must be a string, not {type(value).__name__}")
    if limit is not None and (len(value) > limit or not value):
        raise UserInputError(f"{field!r} must be 1 to {limit} characters")
    return value


def wire_int(
    d: Mapping[str, Any], field: str, lo: int, hi: int, *, default: int | None = None
) -> int:
    value = d.get(field, default)
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise UserInputError(f"{field!r} must be a whole number from {lo} to {hi}")
    return value


def wire_priority(value: Any) -> Priority:
    try:
        return Priority[str(value if value is not None else "ROUTINE").upper()]
    except KeyError:
        raise UserInputError(f"unknown priority {str(value)[:40]!r}") from None


@dataclass(frozen=True)
class Transmit:
    envelope: Envelope
    url: str | None


@dataclass(frozen=True)
class Note:
    """A fact for the log: its record kind, id, time, channel and payload."""

    kind: str
    id: str
    at_ms: int
    channel: str
    payload: dict[str, Any]


Action = Transmit | Note


@dataclass(frozen=True)
class Pending:
    """A message sent and not yet acknowledged, and where it is now."""

    envelope: Envelope
    deadline_ms: int | None  # when its ack is overdue; None while it waits (queued or parked)
    misses: int = 0  # acks missed on the channel it is on now
    transmitted_ms: int | None = None
    error: str | None = None  # the transport failed this attempt; retried at the deadline


@dataclass(frozen=True)
class Submitted:
    actions: list[Action]
    accepted: bool
    backpressure: Backpressure


@dataclass
class _Lane:
    link: Link
    breaker: CircuitBreaker
    phi: PhiDetector
    heard_via_ms: int | None = None  # when the intermediary last heard the counterpart
    silence: Silence = Silence.ALIVE
    judged: bool = False  # its first verdict is recorded (a channel always alive says so)
    parked: list[str] = field(default_factory=list)  # message ids waiting for the breaker


class Courier:
    """Every outgoing message of one site, from submission to acknowledgement."""

    def __init__(
        self,
        links: Iterable[Link],
        *,
        phi: PhiConfig | None = None,
        breaker: BreakerPolicy | None = None,
        max_in_flight: int = 8,
        watermark: float = 0.8,
    ) -> None:
        self.phi_config = phi or PhiConfig()
        self.policy = breaker or BreakerPolicy()
        self.max_in_flight = max_in_flight
        self.lanes: dict[str, _Lane] = {}
        self.queues = ChannelQueues(watermark=watermark)
        self.pending: dict[str, Pending] = {}
        for link in links:
            self.add(link)

    def add(self, link: Link) -> None:
        """Declare a channel, or change one (its breaker and heartbeats carry over)."""
        lane = self.lanes.get(link.id)
        if lane is not None:
            lane.link = link
        else:
            phi = PhiDetector(
                replace(
                    self.phi_config,
                    first_interval_ms=link.heartbeat_ms,
                    acceptable_pause_ms=link.pause_ms,
                )
            )
            self.lanes[link.id] = _Lane(link, CircuitBreaker(link.id, self.policy), phi)
        self.queues.configure(link.id, ChannelConfig(link.capacity, link.weight))

    def restore(self, outcomes: Iterable[tuple[str, Outcome, int]]) -> None:
        """Rebuild the breakers from recorded outcomes (channel, outcome, at), oldest first."""
        for channel, outcome, at in outcomes:
            lane = self.lanes.get(channel)
            if lane is not None:
                lane.breaker = lane.breaker.record(outcome, at).breaker

    def resume(self, env: Envelope) -> None:
        """Take back a message recorded as sent and not yet acknowledged, after a restart: it
        is queued again on the channel it was last on, and nothing new is recorded."""
        if env.id in self.pending or env.channel not in self.lanes:
            return
        self.pending[env.id] = Pending(env, None)
        self.queues.offer(Message(env.id, env.channel, env.priority, env.sent_ms))

    # -- the sender's calls ------------------------------------------------------------------

    def submit(
        self,
        msg_id: str,
        channel: str,
        priority: Priority,
        body: str,
        now_ms: int,
        *,
        reply_by_ms: int | None = None,
        await_reply: bool = False,
        expires_ms: int | None = None,
    ) -> Submitted:
        """Take a message for sending. It is recorded (``channel.send``) whatever happens next;
        when backpressure drops it or another, that is recorded too. With ``expires_ms``, it is
        void if not delivered by then: dropped, and never sent after it."""
        lane = self._lane(channel)
        if msg_id in self.pending:
            return Submitted([], True, self.queues.signal(channel))
        if expires_ms is not None and expires_ms <= now_ms:
            raise UserInputError(f"message {msg_id} would expire before it is sent")
        env = Envelope(msg_id, channel, channel, priority, 1, body, now_ms, reply_by_ms, expires_ms)
        actions: list[Action] = [
            Note(
                CHANNEL_SEND,
                f"send:{msg_id}",
                now_ms,
                channel,
                {**_sent(env, lane.link), "await_reply": await_reply or reply_by_ms is not None},
            )
        ]
        route = self._route(env, now_ms)
        if route != channel:
            env = replace(env, channel=route)
            why = self._unusable_why(channel, now_ms)
            actions.append(self._failover_note(env, channel, why, now_ms))
        offer = self.queues.offer(Message(msg_id, route, priority, now_ms))
        if offer.accepted:
            self.pending[msg_id] = Pending(env, None)
        for gone in offer.dropped:
            actions.append(self._drop(gone, offer.signal, now_ms))
        actions += self.pump(now_ms)
        return Submitted(actions, offer.accepted, offer.signal)

    def pump(self, now_ms: int) -> list[Action]:
        """Transmit what is queued, most urgent first, while fewer than ``max_in_flight`` wait
        for an ack."""
        actions: list[Action] = []
        while self._in_flight() < self.max_in_flight:
            msg = self.queues.poll()
            if msg is None:
                break
            p = self.pending.get(msg.id)
            if p is None:  # acknowledged through another channel while it waited
                continue
            env = p.envelope
            route = self._route(env, now_ms)
            if route != env.channel:  # its channel failed while it waited
                why = self._unusable_why(env.channel, now_ms)
                actions.append(
                    self._failover_note(replace(env, channel=route), env.channel, why, now_ms)
                )
                env = replace(env, channel=route)
            actions += self._transmit(env, now_ms)
        return actions

    def on_ack(
        self, msg_id: str, channel: str, now_ms: int, *, duplicate: bool = False
    ) -> list[Action]:
        """The far end acknowledged a message (``duplicate``: it had it already). Acks do not
        feed phi: a burst of them would teach it a rhythm the heartbeats do not keep."""
        self._lane(channel)
        p = self.pending.get(msg_id)
        if p is None:
            return []  # a late ack of a message already acknowledged elsewhere
        actions = self._outcome(channel, Outcome.SUCCESS, now_ms, msg_id)
        del self.pending[msg_id]
        env = p.envelope
        actions.append(
            Note(
                CHANNEL_ACK,
                f"ack:{msg_id}",
                now_ms,
                channel,
                {
                    "message": msg_id,
                    "channel": channel,
                    "first_channel": env.first_channel,
                    "attempt": env.attempt,
                    "latency_ms": now_ms - env.sent_ms,
                    "duplicate": duplicate,
                },
            )
        )
        return actions + self.pump(now_ms)

    def on_error(
        self, msg_id: str, channel: str, now_ms: int, error: str, *, attempt: int | None = None
    ) -> list[Action]:
        """The transport could not hand the message over (connection refused, an HTTP error).
        An error of an attempt already superseded is ignored."""
        p = self.pending.get(msg_id)
        if p is None or p.envelope.channel != channel or p.deadline_ms is None:
            return []
        if attempt is not None and attempt != p.envelope.attempt:
            return []
        actions = self._outcome(channel, Outcome.ERROR, now_ms, msg_id)
        why = f"the transport failed: {error}"
        if self._target(p, p.misses + 1, now_ms) != channel:
            return actions + self._again(p, now_ms, why, Outcome.ERROR)
        # Not at once on the same channel: a refused connection would be retried in a tight
        # loop. The message is sent again when its ack would have been due.
        self.pending[msg_id] = replace(p, error=why)
        return actions

    def on_heartbeat(self, channel: str, now_ms: int) -> list[Action]:
        """The peer answered on ``channel``: liveness, and on a direct channel an open breaker
        may probe now (the oldest parked message goes)."""
        lane = self._lane(channel)
        lane.phi = lane.phi.heartbeat(now_ms)
        if not lane.link.via:  # through an intermediary, a ping proves only the intermediary
            lane.breaker = lane.breaker.heard(now_ms)
        return self._judge(lane, now_ms) + self._unpark(lane, now_ms)

    def reset(self, channel: str, now_ms: int, *, by: str, reason: str) -> list[Action]:
        """Close a channel's breaker by hand (who and why recorded): what waits on it goes."""
        lane = self._lane(channel)
        old, lane.breaker = lane.breaker, lane.breaker.reset()
        note = _breaker_note(
            Transition(channel, old.state, BreakerState.CLOSED, f"reset by {by}: {reason}", now_ms)
        )
        note.payload.update(reset=True, by=by)
        return [note, *self._unpark(lane, now_ms)]

    def on_indirect(self, channel: str, heard_ms: int | None, now_ms: int) -> list[Action]:
        """The channel's intermediary last heard the counterpart at ``heard_ms``."""
        lane = self._lane(channel)
        lane.heard_via_ms = heard_ms
        return self._judge(lane, now_ms)

    def tick(self, now_ms: int) -> list[Action]:
        """Let the time pass: judge silences, retry what missed its ack, probe open breakers."""
        actions: list[Action] = []
        for lane in self.lanes.values():
            actions += self._judge(lane, now_ms)
        for p in list(self.pending.values()):
            if p.envelope.expires_ms is not None and p.envelope.expires_ms <= now_ms:
                actions.append(self._expire(p, now_ms))
        for msg_id, p in sorted(self.pending.items(), key=lambda kv: kv[1].deadline_ms or 0):
            if p.deadline_ms is None or p.deadline_ms > now_ms:
                continue
            if p.error is not None:  # its outcome is recorded already
                actions += self._again(p, now_ms, p.error, Outcome.ERROR)
                continue
            actions += self._outcome(p.envelope.channel, Outcome.MISSING_ACK, now_ms, msg_id)
            wait = human_age(p.deadline_ms - (p.transmitted_ms or p.envelope.sent_ms))
            actions += self._again(p, now_ms, f"no ack within {wait}", Outcome.MISSING_ACK)
        for lane in self.lanes.values():
            actions += self._unpark(lane, now_ms)
        return actions + self.pump(now_ms)

    def next_due(self) -> int | None:
        """When ``tick`` next has something to do, if nothing else happens first."""
        base, suspect = self.dues()
        return min([*suspect.values(), *([] if base is None else [base])], default=None)

    def dues(self) -> tuple[int | None, dict[str, int]]:
        """``next_due`` by parts, for a caller that follows one channel's suspicion at a time
        (a simulator, at every heartbeat): the earliest ack deadline, expiry or breaker probe,
        and each live channel's suspicion time."""
        base = [
            d
            for p in self.pending.values()
            for d in (p.deadline_ms, p.envelope.expires_ms)
            if d is not None
        ]
        base += [
            at
            for lane in self.lanes.values()
            if lane.parked and (at := lane.breaker.retry_at_ms()) is not None
        ]
        suspect = {ch: at for ch in self.lanes if (at := self.suspect_at(ch)) is not None}
        return min(base, default=None), suspect

    def suspect_at(self, channel: str) -> int | None:
        """When a live channel's silence would become suspect if no heartbeat came."""
        lane = self._lane(channel)
        return lane.phi.suspect_at_ms() if lane.silence is Silence.ALIVE else None

    # -- reading -----------------------------------------------------------------------------

    def intermediary(self, channel: str) -> Link | None:
        """The channel through an intermediary that can vouch for this channel's counterpart
        when this channel falls silent: the channel itself if it runs through one, else its
        redundant channel if that does."""
        link = self._lane(channel).link
        if link.via:
            return link
        alt = self.lanes.get(link.fallback or "")
        return alt.link if alt is not None and alt.link.via else None

    def usable(self, channel: str, now_ms: int) -> bool:
        return self._unusable_why(channel, now_ms) is None

    def silence(self, channel: str) -> Silence:
        return self._lane(channel).silence

    def breaker(self, channel: str) -> CircuitBreaker:
        return self._lane(channel).breaker

    # -- internals ---------------------------------------------------------------------------

    def _lane(self, channel: str) -> _Lane:
        lane = self.lanes.get(channel)
        if lane is None:
            raise NotFound("channel", channel, known=sorted(self.lanes))
        return lane

    def _in_flight(self) -> int:
        return sum(1 for p in self.pending.values() if p.deadline_ms is not None)

    def _unusable_why(self, channel: str, now_ms: int) -> str | None:
        lane = self._lane(channel)
        b = lane.breaker
        if b.state is BreakerState.OPEN and (b.retry_at_ms() or 0) > now_ms:
            return f"the breaker of {lane.link.label} is open"
        if lane.silence is not Silence.ALIVE:
            return f"{lane.link.label} is silent"
        return None

    def _route(self, env: Envelope, now_ms: int) -> str:
        """The channel a message should go on now: its own, unless that is unusable and the
        message is urgent enough to fail over to a usable redundant channel. When neither is
        usable it stays where it is, rather than bounce back to a channel known to be down."""
        first = self._lane(env.first_channel).link
        alt = first.fallback
        if env.priority < first.failover_from or alt is None or alt not in self.lanes:
            return env.first_channel
        if self.usable(env.first_channel, now_ms):
            return env.first_channel
        return alt if self.usable(alt, now_ms) else env.channel

    def _transmit(self, env: Envelope, now_ms: int) -> list[Action]:
        lane = self._lane(env.channel)
        step = lane.breaker.allow(now_ms, env.id)
        lane.breaker = step.breaker
        actions: list[Action] = []
        if step.transition is not None:
            actions.append(_breaker_note(step.transition))
        if not step.allowed:
            self.pending[env.id] = Pending(env, None)
            if env.id not in lane.parked:
                lane.parked.append(env.id)
            return actions
        timeout = lane.link.ack_timeout_ms * min(MAX_BACKOFF, 2 ** (env.attempt - 1))
        misses = self.pending[env.id].misses if env.id in self.pending else 0
        self.pending[env.id] = Pending(env, now_ms + timeout, misses, now_ms)
        actions.append(Transmit(env, lane.link.url))
        return actions

    def _target(self, p: Pending, misses: int, now_ms: int) -> str:
        """Where a message goes next: ``_route``, or the redundant channel for an urgent
        message that has missed its ack ``FAILOVER_AFTER_MISSES`` times on its own."""
        env = p.envelope
        route = self._route(env, now_ms)
        link = self._lane(env.first_channel).link
        alt = link.fallback
        if (
            route == env.first_channel == env.channel
            and misses >= FAILOVER_AFTER_MISSES
            and env.priority >= link.failover_from
            and alt is not None
            and alt in self.lanes
            and self.usable(alt, now_ms)
        ):
            return alt
        return route

    def _again(
        self, p: Pending, now_ms: int, why: str, after: Outcome | None = None
    ) -> list[Action]:
        """Send a message again after a missed ack or an error: on a redundant channel if it
        is urgent and its own is unusable or has missed twice, else on its own."""
        env = p.envelope
        misses = p.misses + 1
        route = self._target(p, misses, now_ms)
        nxt = replace(env, attempt=env.attempt + 1)
        actions: list[Action] = []
        if route != env.channel:
            nxt = replace(nxt, channel=route)
            actions.append(self._failover_note(nxt, env.channel, why, now_ms, after))
            misses = 0
        else:
            actions.append(
                Note(
                    CHANNEL_RETRY,
                    f"retry:{env.id}:{nxt.attempt}",
                    now_ms,
                    route,
                    {
                        "message": env.id,
                        "channel": route,
                        "attempt": nxt.attempt,
                        "reason": why,
                        "after": None if after is None else after.value,
                    },
                )
            )
        self.pending[env.id] = Pending(nxt, None, misses)
        return actions + self._transmit(nxt, now_ms)

    def _failover_note(
        self,
        env: Envelope,
        came_from: str,
        why: str | None,
        now_ms: int,
        after: Outcome | None = None,
    ) -> Note:
        src, dst = self._lane(came_from).link, self._lane(env.channel).link
        return Note(
            CHANNEL_FAILOVER,
            f"failover:{env.id}:{env.attempt}:{env.channel}",
            now_ms,
            env.channel,
            {
                "message": env.id,
                "from": came_from,
                "to": env.channel,
                "priority": env.priority.name,
                "attempt": env.attempt,
                "reason": why or "",
                "after": None if after is None else after.value,
                "path": [src.label, dst.label] + ([f"via {dst.via}"] if dst.via else []),
            },
        )

    def _outcome(self, channel: str, outcome: Outcome, now_ms: int, msg_id: str) -> list[Action]:
        lane = self._lane(channel)
        step = lane.breaker.record(outcome, now_ms, msg_id)
        lane.breaker = step.breaker
        if step.transition is None:
            return []
        return [_breaker_note(step.transition, step.breaker.retry_at_ms())]

    def _unpark(self, lane: _Lane, now_ms: int) -> list[Action]:
        """Once an open breaker's cool-down is over, its oldest parked message goes as the
        probe; after a successful probe, the rest follow."""
        actions: list[Action] = []
        while lane.parked:
            b = lane.breaker
            if b.state is BreakerState.HALF_OPEN:
                break
            if b.state is BreakerState.OPEN and (b.retry_at_ms() or 0) > now_ms:
                break
            msg_id = lane.parked.pop(0)
            p = self.pending.get(msg_id)
            if p is None:
                continue
            actions += self._transmit(p.envelope, now_ms)
        return actions

    def _judge(self, lane: _Lane, now_ms: int) -> list[Action]:
        """Classify the channel's silence and, on a change, record it; when a channel falls
        silent, urgent messages waiting on it for an ack fail over at once."""
        link = lane.link
        if lane.phi.last_ms is None:
            return []
        phi = lane.phi.phi(now_ms)
        within = 3 * max(link.heartbeat_ms, int(lane.phi.mean_ms))
        prober = self.intermediary(link.id)
        vouch = None if prober is None else heard_recently(lane.heard_via_ms, now_ms, within)
        verdict = classify_silence(
            phi,
            vouch,
            threshold=self.phi_config.threshold,
            peer=link.counterpart,
            intermediary=prober.via or "" if prober else "the intermediary",
            path=f"the path via {link.via}" if link.via else "the direct path",
        )
        if verdict.silence is lane.silence and lane.judged:
            return []
        first = not lane.judged
        lane.judged = True
        old, lane.silence = lane.silence, verdict.silence
        actions: list[Action] = [
            Note(
                CHANNEL_STATE,
                f"liveness:{link.id}:{now_ms}:{verdict.silence.value}",
                now_ms,
                link.id,
                {
                    "channel": link.id,
                    "aspect": "liveness",
                    "old": "unknown" if first else old.value,
                    "new": verdict.silence.value,
                    "phi": round(phi, 2),
                    "reason": verdict.explanation,
                },
            )
        ]
        if verdict.silence is not Silence.ALIVE:
            for p in list(self.pending.values()):
                env = p.envelope
                waiting = env.channel == link.id and p.deadline_ms is not None
                if waiting and self._route(env, now_ms) != env.channel:
                    actions += self._again(p, now_ms, verdict.explanation)
        return actions

    def _expire(self, p: Pending, now_ms: int) -> Note:
        """A message past its expiry: void, taken back from its queue and never sent again."""
        env = p.envelope
        self._forget(env.id)
        return Note(
            CHANNEL_DROP,
            f"drop:{env.id}",
            now_ms,
            env.channel,
            {
                "message": env.id,
                "channel": env.channel,
                "priority": env.priority.name,
                "backpressure": "expired",
                "expired": True,
                "reason": f"void if not delivered by {iso(env.expires_ms)}, and not acknowledged",
            },
        )

    def _forget(self, msg_id: str) -> None:
        """No longer ours to send: the queue skips it, and no breaker waits to probe with it."""
        self.pending.pop(msg_id, None)
        for lane in self.lanes.values():
            if msg_id in lane.parked:
                lane.parked.remove(msg_id)

    def _drop(self, msg: Message, signal: Backpressure, now_ms: int) -> Note:
        self._forget(msg.id)
        return Note(
            CHANNEL_DROP,
            f"drop:{msg.id}",
            now_ms,
            msg.channel,
            {
                "message": msg.id,
                "channel": msg.channel,
                "priority": msg.priority.name,
                "backpressure": signal.value,
                "reason": f"{msg.channel} was full; the lowest priority, newest message goes",
            },
        )


def _sent(env: Envelope, link: Link) -> dict[str, Any]:
    return {
        "message": env.id,
        "channel": env.channel,
        "counterpart": link.counterpart,
        "priority": env.priority.name,
        "body": env.body,
        "sent_ms": env.sent_ms,
        "reply_by_ms": env.reply_by_ms,
        "expires_ms": env.expires_ms,
    }


def _breaker_note(t: Transition, retry_at_ms: int | None = None) -> Note:
    return Note(
        CHANNEL_STATE,
        f"breaker:{t.channel}:{t.at_ms}:{t.new.value}",
        t.at_ms,
        t.channel,
        {
            "channel": t.channel,
            "aspect": "breaker",
            "old": t.old.value,
            "new": t.new.value,
            "reason": t.reason,
            "retry_at_ms": retry_at_ms,  # an open breaker's next probe
        },
    )
