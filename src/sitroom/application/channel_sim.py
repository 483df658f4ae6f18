"""A channel-trace simulator: the courier and the channel detectors on a virtual clock.

A trace (YAML) declares the channels, the simulated network under each, the windows in which a
path or the counterpart itself is down, and what the desk does: messages sent, storms of them,
and the counterpart's replies. ``simulate`` plays it on a virtual clock against a real
``Courier`` and a real ``Engine``: every note the courier writes goes into the engine's log,
and the engine ticks whenever a clock-driven detector is due, so overdue-reply alerts are raised
at the virtual moment they would be live. Nothing reads the system clock; randomness (jitter,
loss, heartbeat phase) comes from ``random.Random`` seeded by the trace's seed, one stream per
channel and purpose, so the same trace and seed always give the same report.

The trace::

    start: 2026-11-30T06:00:00Z    # ISO time; every `at` is a duration after it
    until: 3d                       # when the simulation stops (a duration after start)
    seed: 7
    courier: {max_in_flight: 8, watermark: 0.8, phi_threshold: 8}     # optional
    channels:                       # each becomes a courier Link
      - {id: direct, counterpart: Tehran desk, name: Direct secure link, fallback: muscat,
         heartbeat: 1s, ack_timeout: 5s, timezone: Asia/Tehran, hours: "08:00-16:00",
         days: Sat-Wed}             # also: via, failover_from, capacity, weight
    network:                        # per channel; a channel left out gets `delay: 50ms`
      direct: {delay: 80ms, jitter: 30ms, loss: 0.0, down: [[2h, 2h30m]]}
    counterpart_down: [[1d, 1d2h]]  # every counterpart; or {Tehran desk: [[1d, 1d2h]]}
    events:
      - {at: 0s, send: {id: m1, channel: direct, priority: IMMEDIATE, body: "proposal",
                        await_reply: true, reply_within: 4h, reply_after: 3h}}
      - {at: 1d, repeat: {count: 5, every: 1d}, send: {id: daily, channel: direct}}
      - {at: 3h, reply: m1}
      - {at: 1h, storm: {channel: direct, priority: ROUTINE, count: 500, over: 10s}}

Durations are a number and a unit (ms, s, m, h, d, w), or compounds such as ``2h30m``. A send's
priority is ROUTINE unless given; ``reply_within`` sets its reply-by time (after the send),
``reply_after`` has the counterpart reply that long after it. A repeated send gets ids
``<id>-1``, ``<id>-2``...; a storm's messages ``<prefix>-1``... (prefix ``storm<n>`` unless
given), spread evenly ``over`` its span. Events after ``until`` are not played. Every problem
with a trace is a ``UserInputError`` naming the field, such as ``events[2].send.priority``.

How the world is modelled:

- *Paths.* A transmission passes when its path is up both when it leaves and when it arrives,
  and it is not lost (``loss`` is the probability, drawn per crossing). Each crossing takes
  ``delay`` plus a uniform jitter in ``[-jitter, +jitter]``. The ack goes back the same way under
  the same rules; when either crossing fails nothing comes back, and the courier's ack deadline
  fires. A down path carries nothing, heartbeats included: no transport error is reported.
- *The far end.* The receiver keeps every message id it has seen: a copy arriving on another
  channel, or again after a lost ack, counts once, and every copy is acked (``duplicate`` for
  the repeats). While a counterpart is down (``counterpart_down``) no channel to it delivers
  anything, and a direct channel's far end (one without ``via``) sends no heartbeats; a channel
  through an intermediary still heartbeats, as the intermediary is up.
- *Heartbeats.* Each channel's far end sends one every ``heartbeat`` (from a random phase), and
  each crosses the path like a message. Every heartbeat is simulated; none are skipped.
- *The intermediary.* ``on_indirect`` gets, for each channel that has an intermediary
  (``Courier.intermediary``), when that intermediary last heard the counterpart: now, unless the
  counterpart is down (then the start of that window), or nothing when the intermediary's own
  path is down. It is asked right before every courier tick, and every heartbeat interval while
  the channel is judged silent: the only moments at which its answer can change a verdict.
- *Replies* become ``channel.reply`` records at their time; the simulator does not check that
  the message was received first (a trace may model a reply by phone).

The caller passes the engine: `sitroom channel simulate` uses a scratch one over an in-memory
log (``workspace.scratch_engine``), or the workspace's own with ``--record``. While the
simulation runs, that engine's clock is the virtual one (its other detectors see virtual time
too), and it is given back afterwards.

Notes are appended in batches: any note that can raise an alert or move a detector's due time
(a failover, a state change, a drop above ROUTINE, a send awaiting a reply, a reply) is
appended at once, at its virtual time, with everything buffered before it; acks, retries, plain
sends and ROUTINE drops wait for the next such note (or 1,000 notes), and are recorded then.
"""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import yaml
from rich import box
from rich.console import Console
from rich.table import Table

from sitroom.application.desk import channel_record, note_record
from sitroom.application.engine import Engine
from sitroom.application.ports import ManualClock
from sitroom.domain.channels.courier import Action, Courier, Envelope, Link, Note, Transmit
from sitroom.domain.channels.habits import WorkingWeek
from sitroom.domain.channels.ledger import CHANNELS
from sitroom.domain.channels.phi import PhiConfig, Silence
from sitroom.domain.channels.priority import Priority
from sitroom.domain.kinds import (
    CHANNEL,
    CHANNEL_ACK,
    CHANNEL_DROP,
    CHANNEL_FAILOVER,
    CHANNEL_REPLY,
    CHANNEL_RETRY,
    CHANNEL_SEND,
    CHANNEL_STATE,
)
from sitroom.domain.records import Record
from sitroom.domain.timeutil import human_age, iso, parse_duration, to_ms
from sitroom.errors import SourceError, UserInputError

DEFAULT_DELAY_MS = 50
FLUSH_EVERY = 1000  # notes buffered at most before they are appended anyway
MAX_MESSAGES = 1_000_000  # sends a trace may expand to (storms and repeats included)
_INF = 1 << 62

# -- the trace ------------------------------------------------------------------------------


@dataclass(frozen=True)
class PathModel:
    """What one channel's path does to whatever crosses it."""

    delay_ms: int = DEFAULT_DELAY_MS
    jitter_ms: int = 0
    loss: float = 0.0
    down: tuple[tuple[int, int], ...] = ()  # [from, to) in epoch ms, sorted


@dataclass(frozen=True)
class SimSend:
    id: str
    channel: str
    priority: Priority
    body: str = ""
    await_reply: bool = False
    reply_by_ms: int | None = None


@dataclass(frozen=True)
class SimEvent:
    """One thing the desk or the counterpart does, at ``at_ms`` (epoch ms): a send, or a reply
    (``reply`` names the message). Storms and repeats are expanded into sends when parsed."""

    at_ms: int
    send: SimSend | None = None
    reply: str | None = None


@dataclass(frozen=True)
class Trace:
    name: str
    start_ms: int
    end_ms: int
    seed: int
    links: tuple[Link, ...]
    network: Mapping[str, PathModel]
    counterpart_down: Mapping[str, tuple[tuple[int, int], ...]]  # by counterpart name
    events: tuple[SimEvent, ...]  # in time order
    max_in_flight: int = 8
    watermark: float = 0.8
    phi_threshold: float = 8.0


def load_trace(path: Path) -> Trace:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as e:
        raise SourceError(f"cannot read trace {path}: {e.strerror or e}") from None
    return parse_trace(text, name=Path(path).name)


def parse_trace(text: str, *, name: str = "trace") -> Trace:
    """A trace from its YAML text; every problem is a ``UserInputError`` naming the field."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(e, "problem", None) or "not valid YAML"
        raise UserInputError(f"trace {name}: not valid YAML{where}: {problem}") from None
    return trace_from_dict(data, name=name)


def trace_from_dict(data: Any, *, name: str = "trace") -> Trace:
    return _TraceReader(name).read(data)


class _TraceReader:
    TOP = ("start", "until", "seed", "courier", "channels", "network", "counterpart_down", "events")
    LINK = (
        "id",
        "counterpart",
        "name",
        "via",
        "fallback",
        "failover_from",
        "heartbeat",
        "ack_timeout",
        "capacity",
        "weight",
        "timezone",
        "hours",
        "days",
    )
    PATH = ("delay", "jitter", "loss", "down")
    COURIER = ("max_in_flight", "watermark", "phi_threshold")
    SEND = ("id", "channel", "priority", "body", "await_reply", "reply_within", "reply_after")
    STORM = ("channel", "priority", "count", "over", "body", "prefix")

    def __init__(self, name: str) -> None:
        self.name = name
        self.start = 0

    def fail(self, where: str, problem: str) -> UserInputError:
        return UserInputError(f"trace {self.name}: {where}: {problem}")

    # -- values --------------------------------------------------------------------------------

    def mapping(self, value: Any, where: str, allowed: Sequence[str]) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            raise self.fail(where, f"expected a mapping, got {_shown(value)}")
        for key in value:
            if key not in allowed:
                raise self.fail(
                    where, f"unknown field {key!r} (expected one of {', '.join(allowed)})"
                )
        return value

    def required(self, m: Mapping[str, Any], key: str, where: str) -> Any:
        if m.get(key) is None:
            raise self.fail(f"{where}.{key}" if where else key, "is required")
        return m[key]

    def text(self, value: Any, where: str) -> str:
        if isinstance(value, bool) or not isinstance(value, str | int | float) or value == "":
            raise self.fail(where, f"expected a text, got {_shown(value)}")
        return str(value)

    def duration(self, value: Any, where: str, *, positive: bool = False) -> int:
        if isinstance(value, int) and not isinstance(value, bool) and value == 0:
            ms = 0
        elif isinstance(value, str):
            try:
                ms = parse_duration(value)
            except UserInputError:
                raise self.fail(
                    where, f"cannot read duration {value!r} (a number and a unit: 90s, 2h, 3d)"
                ) from None
        else:
            raise self.fail(where, f"expected a duration such as 90s or 2h, got {_shown(value)}")
        if positive and ms <= 0:
            raise self.fail(where, "must be more than 0")
        return ms

    def integer(self, value: Any, where: str, *, least: int = 0) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise self.fail(
                where, f"expected a whole number of at least {least}, got {_shown(value)}"
            )
        return value

    def number(self, value: Any, where: str, lo: float, hi: float) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float) or not lo <= value <= hi:
            raise self.fail(where, f"expected a number from {lo:g} to {hi:g}, got {_shown(value)}")
        return float(value)

    def flag(self, value: Any, where: str) -> bool:
        if not isinstance(value, bool):
            raise self.fail(where, f"expected true or false, got {_shown(value)}")
        return value

    def priority(self, value: Any, where: str) -> Priority:
        names = ", ".join(p.name for p in sorted(Priority, reverse=True))
        if not isinstance(value, str) or value.upper() not in Priority.__members__:
            raise self.fail(where, f"unknown priority {_shown(value)} (one of {names})")
        return Priority[value.upper()]

    def windows(self, value: Any, where: str) -> tuple[tuple[int, int], ...]:
        if value is None:
            return ()
        if not isinstance(value, list):
            raise self.fail(where, f"expected a list of [from, to] pairs, got {_shown(value)}")
        out = []
        for i, w in enumerate(value):
            here = f"{where}[{i}]"
            if not isinstance(w, list) or len(w) != 2:
                raise self.fail(here, f"expected a [from, to] pair such as [2h, 2h30m], got {w!r}")
            lo, hi = (self.duration(x, here) for x in w)
            if hi <= lo:
                raise self.fail(here, "the window must end after it starts")
            out.append((self.start + lo, self.start + hi))
        return tuple(sorted(out))

    # -- the parts -----------------------------------------------------------------------------

    def read(self, data: Any) -> Trace:
        top = self.mapping(data, "the trace", self.TOP)
        start = self.required(top, "start", "")
        if isinstance(start, datetime):
            self.start = to_ms(start)
        elif isinstance(start, date):
            self.start = to_ms(datetime(start.year, start.month, start.day))
        elif isinstance(start, str):
            try:
                self.start = to_ms(datetime.fromisoformat(start.replace("z", "Z")))
            except ValueError:
                raise self.fail("start", f"cannot read time {start!r} (ISO 8601)") from None
        else:
            raise self.fail("start", f"expected an ISO time, got {_shown(start)}")
        end = self.start + self.duration(self.required(top, "until", ""), "until", positive=True)
        seed = self.integer(top.get("seed", 0), "seed")
        courier = self.mapping(top.get("courier") or {}, "courier", self.COURIER)
        max_in_flight = self.integer(
            courier.get("max_in_flight", 8), "courier.max_in_flight", least=1
        )
        watermark = self.number(courier.get("watermark", 0.8), "courier.watermark", 0.01, 1.0)
        threshold = self.number(
            courier.get("phi_threshold", 8.0), "courier.phi_threshold", 0.1, 1000.0
        )
        raw_links = self.required(top, "channels", "")
        if not isinstance(raw_links, list) or not raw_links:
            raise self.fail("channels", "expected a list of at least one channel")
        links = tuple(self.link(c, f"channels[{i}]") for i, c in enumerate(raw_links))
        ids = [link.id for link in links]
        for i, link in enumerate(links):
            if ids.count(link.id) > 1:
                raise self.fail(f"channels[{i}].id", f"channel {link.id!r} is declared twice")
            if link.fallback is not None and link.fallback not in ids:
                raise self.fail(
                    f"channels[{i}].fallback", f"no channel {link.fallback!r} is declared"
                )
        network: dict[str, PathModel] = {}
        raw_net = self.mapping(top.get("network") or {}, "network", ids)
        for ch, spec in raw_net.items():
            network[ch] = self.path(spec, f"network.{ch}")
        counterparts = sorted({link.counterpart for link in links})
        down = top.get("counterpart_down")
        cp_down: dict[str, tuple[tuple[int, int], ...]] = {}
        if isinstance(down, Mapping):
            for who, ws in self.mapping(down, "counterpart_down", counterparts).items():
                cp_down[who] = self.windows(ws, f"counterpart_down.{who}")
        else:
            every = self.windows(down, "counterpart_down")
            cp_down = {who: every for who in counterparts} if every else {}
        events = self.events(top.get("events") or [], set(ids), end)
        return Trace(
            name=self.name,
            start_ms=self.start,
            end_ms=end,
            seed=seed,
            links=links,
            network=network,
            counterpart_down=cp_down,
            events=events,
            max_in_flight=max_in_flight,
            watermark=watermark,
            phi_threshold=threshold,
        )

    def link(self, value: Any, where: str) -> Link:
        c = self.mapping(value, where, self.LINK)
        cid = self.text(self.required(c, "id", where), f"{where}.id")
        week = WorkingWeek()
        if any(k in c for k in ("timezone", "hours", "days")):
            try:
                week = WorkingWeek.parse(
                    str(c.get("timezone", "UTC")),
                    str(c.get("hours", "09:00-18:00")),
                    str(c.get("days", "Mon-Fri")),
                )
            except UserInputError as e:
                raise self.fail(f"{where} ({cid})", str(e)) from None
        try:
            return Link(
                id=cid,
                counterpart=self.text(
                    self.required(c, "counterpart", where), f"{where}.counterpart"
                ),
                name=str(c.get("name") or ""),
                via=None if c.get("via") is None else self.text(c["via"], f"{where}.via"),
                fallback=(
                    None
                    if c.get("fallback") is None
                    else self.text(c["fallback"], f"{where}.fallback")
                ),
                failover_from=self.priority(
                    c.get("failover_from", "IMMEDIATE"), f"{where}.failover_from"
                ),
                ack_timeout_ms=self.duration(
                    c.get("ack_timeout", "10s"), f"{where}.ack_timeout", positive=True
                ),
                heartbeat_ms=self.duration(
                    c.get("heartbeat", "1s"), f"{where}.heartbeat", positive=True
                ),
                capacity=self.integer(c.get("capacity", 64), f"{where}.capacity", least=1),
                weight=self.integer(c.get("weight", 1), f"{where}.weight", least=1),
                week=week,
            )
        except UserInputError as e:
            if str(e).startswith(f"trace {self.name}:"):
                raise
            raise self.fail(f"{where} ({cid})", str(e)) from None

    def path(self, value: Any, where: str) -> PathModel:
        p = self.mapping(value or {}, where, self.PATH)
        delay = self.duration(p.get("delay", f"{DEFAULT_DELAY_MS}ms"), f"{where}.delay")
        jitter = self.duration(p.get("jitter", 0), f"{where}.jitter")
        if jitter > delay:
            raise self.fail(f"{where}.jitter", "cannot exceed the delay (nothing arrives early)")
        loss = self.number(p.get("loss", 0.0), f"{where}.loss", 0.0, 1.0)
        return PathModel(delay, jitter, loss, self.windows(p.get("down"), f"{where}.down"))

    def events(self, value: Any, channels: set[str], end: int) -> tuple[SimEvent, ...]:
        if not isinstance(value, list):
            raise self.fail("events", f"expected a list, got {_shown(value)}")
        out: list[SimEvent] = []
        sent_at: dict[str, int] = {}
        replies: list[tuple[int, str, str]] = []
        storms = 0
        for i, raw in enumerate(value):
            where = f"events[{i}]"
            e = self.mapping(raw, where, ("at", "send", "reply", "storm", "repeat"))
            at = self.start + self.duration(self.required(e, "at", where), f"{where}.at")
            what = [k for k in ("send", "reply", "storm") if k in e]
            if len(what) != 1:
                raise self.fail(where, "needs exactly one of send, reply or storm")
            count, every = 1, 0
            if "repeat" in e:
                if what != ["send"]:
                    raise self.fail(f"{where}.repeat", "only a send can repeat")
                r = self.mapping(e["repeat"], f"{where}.repeat", ("count", "every"))
                count = self.integer(
                    self.required(r, "count", f"{where}.repeat"), f"{where}.repeat.count", least=1
                )
                every = self.duration(
                    self.required(r, "every", f"{where}.repeat"),
                    f"{where}.repeat.every",
                    positive=True,
                )
            if what == ["reply"]:
                replies.append((at, self.text(e["reply"], f"{where}.reply"), f"{where}.reply"))
            elif what == ["storm"]:
                storms += 1
                here = f"{where}.storm"
                s = self.mapping(e["storm"], here, self.STORM)
                ch = self.channel(self.required(s, "channel", here), f"{here}.channel", channels)
                n = self.integer(self.required(s, "count", here), f"{here}.count", least=1)
                over = self.duration(s.get("over", 0), f"{here}.over")
                prio = self.priority(s.get("priority", "ROUTINE"), f"{here}.priority")
                prefix = self.text(s.get("prefix", f"storm{storms}"), f"{here}.prefix")
                body = str(s.get("body", ""))
                if len(sent_at) + n > MAX_MESSAGES:
                    raise self.fail(here, f"a trace may send at most {MAX_MESSAGES:,} messages")
                for k in range(n):
                    mid = f"{prefix}-{k + 1}"
                    if mid in sent_at:
                        raise self.fail(here, f"message id {mid!r} is used twice")
                    t = at + over * k // n
                    sent_at[mid] = t
                    out.append(SimEvent(t, send=SimSend(mid, ch, prio, body)))
            else:
                here = f"{where}.send"
                s = self.mapping(e["send"], here, self.SEND)
                base = self.text(self.required(s, "id", here), f"{here}.id")
                ch = self.channel(self.required(s, "channel", here), f"{here}.channel", channels)
                prio = self.priority(s.get("priority", "ROUTINE"), f"{here}.priority")
                body = str(s.get("body", ""))
                within = (
                    None
                    if s.get("reply_within") is None
                    else self.duration(s["reply_within"], f"{here}.reply_within")
                )
                after = (
                    None
                    if s.get("reply_after") is None
                    else self.duration(s["reply_after"], f"{here}.reply_after")
                )
                wait = self.flag(s.get("await_reply", False), f"{here}.await_reply")
                if len(sent_at) + count > MAX_MESSAGES:
                    raise self.fail(where, f"a trace may send at most {MAX_MESSAGES:,} messages")
                for k in range(count):
                    mid = base if count == 1 else f"{base}-{k + 1}"
                    if mid in sent_at:
                        raise self.fail(f"{here}.id", f"message id {mid!r} is used twice")
                    t = at + k * every
                    sent_at[mid] = t
                    by = None if within is None else t + within
                    out.append(SimEvent(t, send=SimSend(mid, ch, prio, body, wait, by)))
                    if after is not None:
                        replies.append((t + after, mid, f"{here}.reply_after"))
        seen: set[str] = set()
        for at, mid, where in replies:
            if mid not in sent_at:
                raise self.fail(where, f"no message {mid!r} is sent in this trace")
            if at < sent_at[mid]:
                raise self.fail(where, f"the reply to {mid!r} comes before the message is sent")
            if mid in seen:
                raise self.fail(where, f"{mid!r} is replied to twice")
            seen.add(mid)
            out.append(SimEvent(at, reply=mid))
        out.sort(key=lambda ev: ev.at_ms)  # stable: same-time events keep their trace order
        return tuple(ev for ev in out if ev.at_ms <= end)

    def channel(self, value: Any, where: str, channels: set[str]) -> str:
        ch = self.text(value, where)
        if ch not in channels:
            raise self.fail(
                where, f"no channel {ch!r} is declared (channels: {', '.join(sorted(channels))})"
            )
        return ch


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


# -- the report -----------------------------------------------------------------------------


@dataclass(frozen=True)
class PriorityStats:
    priority: str
    sent: int
    acked: int
    dropped: int
    unacknowledged: int
    delivery_p50_ms: int | None  # from sending to the first copy's arrival at the far end
    delivery_p99_ms: int | None
    ack_p50_ms: int | None  # from sending to the ack, as the sender saw it
    ack_p99_ms: int | None

    @property
    def balanced(self) -> bool:
        return self.sent == self.acked + self.dropped + self.unacknowledged

    def as_dict(self) -> dict[str, Any]:
        return {
            "sent": self.sent,
            "acked": self.acked,
            "dropped": self.dropped,
            "unacknowledged": self.unacknowledged,
            "balanced": self.balanced,
            "delivery_p50_ms": self.delivery_p50_ms,
            "delivery_p99_ms": self.delivery_p99_ms,
            "ack_p50_ms": self.ack_p50_ms,
            "ack_p99_ms": self.ack_p99_ms,
        }


@dataclass(frozen=True)
class FailoverEntry:
    message: str
    priority: str
    from_channel: str
    to_channel: str
    at_ms: int
    attempt: int
    reason: str
    path: tuple[str, ...]


@dataclass(frozen=True)
class StateEntry:
    """A breaker or liveness change of a channel."""

    at_ms: int
    channel: str
    aspect: str
    old: str
    new: str
    reason: str


@dataclass(frozen=True)
class AlertEntry:
    at_ms: int
    detector: str
    key: str
    severity: str
    title: str


@dataclass(frozen=True)
class Delivery:
    """The far end's view of one message: when and on which channel it first arrived."""

    message: str
    priority: str
    channel: str
    at_ms: int
    copies: int


@dataclass(frozen=True)
class SimReport:
    trace: str
    seed: int
    start_ms: int
    end_ms: int
    priorities: tuple[PriorityStats, ...]  # most urgent first, every class
    failovers: tuple[FailoverEntry, ...]
    states: tuple[StateEntry, ...]
    alerts: tuple[AlertEntry, ...]
    deliveries: tuple[Delivery, ...]  # by message id
    unacknowledged: tuple[str, ...]  # message ids still waiting for an ack at the end
    retries: int
    replies: int
    heartbeats: int  # heartbeats that reached the sender
    backpressure: Mapping[str, int]  # offers by signal
    anomalies: tuple[str, ...] = ()  # what the simulator had to work around (should be none)

    @property
    def duration_ms(self) -> int:
        return self.end_ms - self.start_ms

    @property
    def sent(self) -> int:
        return sum(p.sent for p in self.priorities)

    @property
    def acked(self) -> int:
        return sum(p.acked for p in self.priorities)

    @property
    def dropped(self) -> int:
        return sum(p.dropped for p in self.priorities)

    @property
    def received_once(self) -> int:
        return len(self.deliveries)

    @property
    def copies_received(self) -> int:
        return sum(d.copies for d in self.deliveries)

    @property
    def lost(self) -> int:
        """Messages neither acked, dropped nor waiting: always 0 unless something is wrong."""
        return self.sent - self.acked - self.dropped - len(self.unacknowledged)

    @property
    def balanced(self) -> bool:
        return self.lost == 0 and all(p.balanced for p in self.priorities)

    def stats(self, priority: Priority | str) -> PriorityStats:
        name = priority.name if isinstance(priority, Priority) else priority.upper()
        return next(p for p in self.priorities if p.priority == name)

    def delivery(self, message: str) -> Delivery | None:
        """How the far end first got a message; None if it never did."""
        return next((d for d in self.deliveries if d.message == message), None)

    def as_dict(self) -> dict[str, Any]:
        def at(ms: int) -> dict[str, Any]:
            return {"at": iso(ms), "after_start_ms": ms - self.start_ms}

        return {
            "trace": self.trace,
            "seed": self.seed,
            "start": iso(self.start_ms),
            "until": iso(self.end_ms),
            "duration_ms": self.duration_ms,
            "messages": {
                "sent": self.sent,
                "acked": self.acked,
                "dropped": self.dropped,
                "unacknowledged": len(self.unacknowledged),
                "lost": self.lost,
                "balanced": self.balanced,
                "retries": self.retries,
                "replies": self.replies,
            },
            "priorities": {p.priority: p.as_dict() for p in self.priorities},
            "received": {"once": self.received_once, "copies": self.copies_received},
            "failovers": [
                {
                    "message": f.message,
                    "priority": f.priority,
                    "from": f.from_channel,
                    "to": f.to_channel,
                    **at(f.at_ms),
                    "attempt": f.attempt,
                    "reason": f.reason,
                    "path": list(f.path),
                }
                for f in self.failovers
            ],
            "states": [
                {
                    **at(s.at_ms),
                    "channel": s.channel,
                    "aspect": s.aspect,
                    "old": s.old,
                    "new": s.new,
                    "reason": s.reason,
                }
                for s in self.states
            ],
            "alerts": [
                {
                    **at(a.at_ms),
                    "detector": a.detector,
                    "key": a.key,
                    "severity": a.severity,
                    "title": a.title,
                }
                for a in self.alerts
            ],
            "unacknowledged": list(self.unacknowledged),
            "heartbeats": self.heartbeats,
            "backpressure": dict(self.backpressure),
            "anomalies": list(self.anomalies),
        }


# -- the simulation -------------------------------------------------------------------------


def simulate(trace: Trace | str, *, engine: Engine) -> SimReport:
    """Play ``trace`` (a ``Trace``, or its YAML text) on a virtual clock; the courier's notes go
    into ``engine``, which needs the channel projection and detector. While the simulation runs,
    the engine's clock is the virtual one; it is given back afterwards."""
    if isinstance(trace, str):
        trace = parse_trace(trace)
    clock = ManualClock(trace.start_ms)
    saved = engine.clock
    engine.clock = clock
    try:
        return _Sim(trace, engine, clock).run()
    finally:
        engine.clock = saved


# Event kinds on the heap. At the same millisecond they go in this order (what is in flight lands
# first; a reply after its message), then in the order they were pushed.
_ACK, _ARRIVE, _POLL, _SEND, _REPLY = range(5)


class _Sim:
    def __init__(self, trace: Trace, engine: Engine, clock: ManualClock) -> None:
        self.trace = trace
        self.engine = engine
        self.clock = clock
        self.courier = Courier(
            trace.links,
            phi=PhiConfig(threshold=trace.phi_threshold),
            max_in_flight=trace.max_in_flight,
            watermark=trace.watermark,
        )
        self.links = {link.id: link for link in trace.links}
        self.paths = {ch: trace.network.get(ch, PathModel()) for ch in self.links}
        self.channel_of = {e.send.id: e.send.channel for e in trace.events if e.send is not None}
        self.vouched = [ch for ch in self.links if self.courier.intermediary(ch) is not None]
        seed = trace.seed
        self.hb_rng = {ch: random.Random(f"{seed}:heartbeat:{ch}") for ch in self.links}
        self.msg_rng = {ch: random.Random(f"{seed}:message:{ch}") for ch in self.links}
        self.now = trace.start_ms
        self.heap: list[tuple[int, int, int, Any]] = []
        self.seq = 0
        # The courier's next due, kept as its parts: phi's suspicion time of each live channel
        # (a heartbeat moves only its own) and the rest (ack deadlines, breakers' retries).
        self.cdue = _INF
        self.base_due = _INF
        self.phi_due: dict[str, int] = {}
        self.edue: int | None = None
        self.buffer: list[Note] = []
        self.hb_next: dict[str, tuple[int, int]] = {}  # channel -> (arrival, emission)
        self.hb_first, self.hb_ch = _INF, ""
        self.hb_every = {ch: link.heartbeat_ms for ch, link in self.links.items()}
        self.hb_gaps = {  # when a channel's far end sends no heartbeat, or none passes
            ch: tuple(
                sorted(
                    self.paths[ch].down
                    + (() if link.via else trace.counterpart_down.get(link.counterpart, ()))
                )
            )
            for ch, link in self.links.items()
        }
        self.polling: set[str] = set()
        # what the report counts
        self.prio: dict[str, Priority] = {}
        self.sent = dict.fromkeys(Priority, 0)
        self.acked = dict.fromkeys(Priority, 0)
        self.dropped = dict.fromkeys(Priority, 0)
        self.ack_ms: dict[Priority, list[int]] = {p: [] for p in Priority}
        self.delivery_ms: dict[Priority, list[int]] = {p: [] for p in Priority}
        self.received: dict[str, list[Any]] = {}  # id -> [channel, at, copies]
        self.failovers: list[FailoverEntry] = []
        self.states: list[StateEntry] = []
        self.alerts: list[AlertEntry] = []
        self.anomalies: list[str] = []
        self.signals: dict[str, int] = {}
        self.retries = 0
        self.replies = 0
        self.heartbeats = 0

    # -- the loop ------------------------------------------------------------------------------

    def run(self) -> SimReport:
        t0, end = self.trace.start_ms, self.trace.end_ms
        self.clock.set(t0)
        view = self.engine.states.get(CHANNELS)
        declared = view["channels"] if isinstance(view, Mapping) else {}
        for link in self.trace.links:  # a workspace may have declared them already
            note = _channel_note(link, t0)
            if declared.get(link.id, {}).get("record") != note.id:
                self.buffer.append(note)
        self._flush(t0)
        for ev in self.trace.events:
            if ev.send is not None:
                self._push(ev.at_ms, _SEND, ev.send)
            elif ev.reply is not None:
                self._push(ev.at_ms, _REPLY, ev.reply)
        for ch, link in self.links.items():
            phase = self.hb_rng[ch].randrange(link.heartbeat_ms)
            self._schedule_heartbeat(ch, t0 + phase)
        heap, pop = self.heap, heapq.heappop
        while True:
            th = heap[0][0] if heap else _INF
            tb = self.hb_first
            tc = self.cdue
            te = _INF if self.edue is None else self.edue
            t = min(th, tb, tc, te)
            if t > end:
                break
            self.now = t
            if th == t:
                _, kind, _, data = pop(heap)
                if kind == _ARRIVE:
                    self._arrive(data[0], data[1], t)
                elif kind == _ACK:
                    self._apply(self.courier.on_ack(data[0], data[1], t, duplicate=data[2]), t)
                elif kind == _SEND:
                    self._send(data, t)
                elif kind == _REPLY:
                    self._reply(data, t)
                else:
                    self._poll(data, t)
            elif tb == t:
                self._heartbeat(t)
            elif tc == t:
                self._courier_due(t)
            else:
                self._engine_due(t)
        self._flush(self.now)
        return self._report()

    def _push(self, at: int, kind: int, data: Any) -> None:
        self.seq += 1
        heapq.heappush(self.heap, (at, kind, self.seq, data))

    def _courier_due(self, t: int) -> None:
        fresh = self.courier.next_due()
        if fresh != t:
            self._anomaly(
                f"the simulator's idea of the courier's next due ({iso(t)}) differs from the "
                f"courier's ({iso(fresh)}); it follows the courier's"
            )
            if fresh is None or fresh > t:
                self._refresh_due()
                return
        for ch in self.vouched:  # the intermediary's view, fresh for the courier's judgement
            self._apply(self.courier.on_indirect(ch, self._heard(ch, t), t), t, recompute=False)
        self._apply(self.courier.tick(t), t)
        if self.cdue <= t:
            self._anomaly(
                f"at {iso(t)} the courier was still due after a tick; its due times were "
                "ignored until its next call"
            )
            self.cdue = _INF

    def _anomaly(self, text: str) -> None:
        if text not in self.anomalies:
            self.anomalies.append(text)

    def _refresh_due(self) -> None:
        """What ``Courier.next_due`` says, by parts (after any call but a plain heartbeat)."""
        base = _INF
        for p in self.courier.pending.values():
            d = p.deadline_ms
            if d is not None and d < base:
                base = d
        phi: dict[str, int] = {}
        for ch, lane in self.courier.lanes.items():
            if lane.parked and (at := lane.breaker.retry_at_ms()) is not None and at < base:
                base = at
            if lane.silence is Silence.ALIVE and (at := lane.phi.suspect_at_ms()) is not None:
                phi[ch] = at
        self.base_due, self.phi_due = base, phi
        self.cdue = min(base, min(phi.values(), default=_INF))

    def _engine_due(self, t: int) -> None:
        self._flush(t)  # detectors judge what is in the log; tick even if the flush moved the due
        self.clock.set(t)
        raised = self.engine.tick(t)
        self._alerts(raised)
        due = self.engine.next_due(t)
        if due is not None and due <= t:
            if not raised:
                self.anomalies.append(
                    f"at {iso(t)} a detector stayed due after a tick that raised nothing; "
                    "its due times were ignored until the next append"
                )
                due = None
            else:
                due = t + 1
        self.edue = due

    # -- the desk and the counterpart ----------------------------------------------------------

    def _send(self, s: SimSend, t: int) -> None:
        done = self.courier.submit(
            s.id,
            s.channel,
            s.priority,
            s.body,
            t,
            reply_by_ms=s.reply_by_ms,
            await_reply=s.await_reply,
        )
        sig = done.backpressure.value
        self.signals[sig] = self.signals.get(sig, 0) + 1
        self._apply(done.actions, t)

    def _reply(self, msg_id: str, t: int) -> None:
        self.replies += 1
        ch = self.channel_of.get(msg_id, "")
        self.buffer.append(Note(CHANNEL_REPLY, f"reply:{msg_id}", t, ch, {"message": msg_id}))
        self._flush(t)

    def _transmit(self, env: Envelope, t: int) -> None:
        ch = env.channel
        arrive = self._cross(ch, t)
        if arrive is not None:
            self._push(arrive, _ARRIVE, (env, ch))

    def _arrive(self, env: Envelope, ch: str, t: int) -> None:
        """The far end: record the first copy of each id, ack every copy."""
        if _within(self.trace.counterpart_down.get(self.links[ch].counterpart, ()), t):
            return
        seen = self.received.get(env.id)
        if seen is None:
            self.received[env.id] = [ch, t, 1]
            self.delivery_ms[env.priority].append(t - env.sent_ms)
        else:
            seen[2] += 1
        back = self._cross(ch, t)
        if back is not None:
            self._push(back, _ACK, (env.id, ch, seen is not None))

    def _cross(self, ch: str, t: int) -> int | None:
        """When something put on ``ch`` at ``t`` arrives at the other end; None if it does not."""
        path = self.paths[ch]
        if _within(path.down, t):
            return None
        rng = self.msg_rng[ch]
        if path.loss and rng.random() < path.loss:
            return None
        at = t + _transit(rng, path)
        return None if _within(path.down, at) else at

    # -- heartbeats and the intermediary ---------------------------------------------------------

    def _schedule_heartbeat(self, ch: str, emit: int) -> None:
        """The next heartbeat from ``ch``'s far end that reaches the sender, from ``emit`` on.
        Heartbeats, by far the most numerous events, are kept off the heap: one per channel."""
        path, rng = self.paths[ch], self.hb_rng[ch]
        every, gaps = self.hb_every[ch], self.hb_gaps[ch]
        end = self.trace.end_ms
        at = _INF
        while emit <= end:
            gap = _window_at(gaps, emit) if gaps else None
            if gap is not None:  # nothing is sent or passes: go straight to the window's end
                emit += -(-(gap[1] - emit) // every) * every
                continue
            if path.loss and rng.random() < path.loss:
                emit += every
                continue
            arrive = emit + (_transit(rng, path) if path.jitter_ms else path.delay_ms)
            if path.down and _within(path.down, arrive):
                emit += every
                continue
            at = arrive if arrive > self.now else self.now
            break
        nxt = self.hb_next
        nxt[ch] = (at, emit)
        first, first_ch = _INF, ch
        for c, (a, _) in nxt.items():
            if a < first:
                first, first_ch = a, c
        self.hb_first, self.hb_ch = first, first_ch

    def _heartbeat(self, t: int) -> None:
        ch = self.hb_ch
        self.heartbeats += 1
        actions = self.courier.on_heartbeat(ch, t)
        if actions:
            self._apply(actions, t)
        else:  # only this channel's suspicion time moved
            lane = self.courier.lanes[ch]
            at = lane.phi.suspect_at_ms() if lane.silence is Silence.ALIVE else None
            if at is not None:
                self.phi_due[ch] = at
                self.cdue = min(self.base_due, min(self.phi_due.values()))
        self._schedule_heartbeat(ch, self.hb_next[ch][1] + self.hb_every[ch])

    def _heard(self, ch: str, t: int) -> int | None:
        """When the intermediary vouching for ``ch`` last heard its counterpart."""
        via = self.courier.intermediary(ch)
        if via is None or _within(self.paths[via.id].down, t):
            return None  # no intermediary, or it cannot be reached to ask
        gap = _window_at(self.trace.counterpart_down.get(self.links[ch].counterpart, ()), t)
        return t if gap is None else gap[0]

    def _poll(self, ch: str, t: int) -> None:
        if self.courier.silence(ch) is Silence.ALIVE:
            self.polling.discard(ch)
            return
        self._apply(self.courier.on_indirect(ch, self._heard(ch, t), t), t)
        self._push(t + self.links[ch].heartbeat_ms, _POLL, ch)

    # -- what the courier says -----------------------------------------------------------------

    def _apply(self, actions: list[Action], t: int, *, recompute: bool = True) -> None:
        eager = False
        for a in actions:
            if isinstance(a, Transmit):
                self._transmit(a.envelope, t)
                continue
            self.buffer.append(a)
            p = a.payload
            kind = a.kind
            if kind == CHANNEL_SEND:
                prio = Priority[p["priority"]]
                self.prio[p["message"]] = prio
                self.sent[prio] += 1
                eager = eager or bool(p.get("await_reply"))
            elif kind == CHANNEL_ACK:
                prio = self.prio[p["message"]]
                self.acked[prio] += 1
                self.ack_ms[prio].append(int(p["latency_ms"]))
            elif kind == CHANNEL_RETRY:
                self.retries += 1
            elif kind == CHANNEL_DROP:
                prio = Priority[p["priority"]]
                self.dropped[prio] += 1
                eager = eager or prio > Priority.ROUTINE  # a storm drops ROUTINE by the thousand
            elif kind == CHANNEL_FAILOVER:
                self.failovers.append(
                    FailoverEntry(
                        p["message"],
                        p["priority"],
                        p["from"],
                        p["to"],
                        a.at_ms,
                        p["attempt"],
                        p["reason"],
                        tuple(p["path"]),
                    )
                )
                eager = True
            elif kind == CHANNEL_STATE:
                self.states.append(
                    StateEntry(a.at_ms, p["channel"], p["aspect"], p["old"], p["new"], p["reason"])
                )
                eager = True
                ch = p["channel"]
                silent = p["aspect"] == "liveness" and p["new"] != Silence.ALIVE.value
                if silent and ch in self.vouched and ch not in self.polling:
                    self.polling.add(ch)
                    self._push(t + self.links[ch].heartbeat_ms, _POLL, ch)
        if eager or len(self.buffer) >= FLUSH_EVERY:
            self._flush(t)
        if recompute:
            self._refresh_due()

    def _flush(self, t: int) -> None:
        if not self.buffer:
            return
        notes, self.buffer = self.buffer, []
        self.clock.set(t)
        out = self.engine.append([note_record(n) for n in notes])
        if out.duplicates:
            self.anomalies.append(
                f"at {iso(t)} {out.duplicates} of {len(notes)} records were already in the log "
                "(same ids) and were not appended again"
            )
        self._alerts(out.alerts)
        due = self.engine.next_due(t)
        self.edue = None if due is None else max(due, t)

    def _alerts(self, records: list[Record]) -> None:
        for r in records:
            p = r.payload
            self.alerts.append(
                AlertEntry(
                    r.valid_from if r.valid_from is not None else self.now,
                    str(p.get("detector", "")),
                    str(p.get("key", "")),
                    str(p.get("severity", "")),
                    str(p.get("title", "")),
                )
            )

    # -- the report ----------------------------------------------------------------------------

    def _report(self) -> SimReport:
        waiting = {
            p: sorted(m for m, pend in self.courier.pending.items() if pend.envelope.priority is p)
            for p in Priority
        }
        priorities = tuple(
            PriorityStats(
                p.name,
                self.sent[p],
                self.acked[p],
                self.dropped[p],
                len(waiting[p]),
                _rank(self.delivery_ms[p], 0.5),
                _rank(self.delivery_ms[p], 0.99),
                _rank(self.ack_ms[p], 0.5),
                _rank(self.ack_ms[p], 0.99),
            )
            for p in sorted(Priority, reverse=True)
        )
        deliveries = tuple(
            Delivery(m, self.prio[m].name if m in self.prio else "", v[0], v[1], v[2])
            for m, v in sorted(self.received.items())
        )
        return SimReport(
            trace=self.trace.name,
            seed=self.trace.seed,
            start_ms=self.trace.start_ms,
            end_ms=self.trace.end_ms,
            priorities=priorities,
            failovers=tuple(self.failovers),
            states=tuple(self.states),
            alerts=tuple(self.alerts),
            deliveries=deliveries,
            unacknowledged=tuple(sorted(self.courier.pending)),
            retries=self.retries,
            replies=self.replies,
            heartbeats=self.heartbeats,
            backpressure=dict(sorted(self.signals.items())),
            anomalies=tuple(self.anomalies),
        )


def _transit(rng: random.Random, path: PathModel) -> int:
    if not path.jitter_ms:
        return path.delay_ms
    return path.delay_ms + round(rng.uniform(-path.jitter_ms, path.jitter_ms))


def _window_at(windows: tuple[tuple[int, int], ...], t: int) -> tuple[int, int] | None:
    for w in windows:
        if w[0] <= t < w[1]:
            return w
    return None


def _within(windows: tuple[tuple[int, int], ...], t: int) -> bool:
    return any(lo <= t < hi for lo, hi in windows)


def _rank(values: list[int], q: float) -> int | None:
    """The nearest-rank quantile; None without values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q * len(ordered))) - 1]


def _channel_note(link: Link, at_ms: int) -> Note:
    """A channel's declaration, with the id a desk gives it (so a workspace keeps one)."""
    rec = channel_record(link)
    return Note(CHANNEL, rec.id, at_ms, link.id, dict(rec.payload))


# -- for people -----------------------------------------------------------------------------


def render_sim(console: Console, report: SimReport) -> None:
    """The report as people read it: counts and latencies per class, failovers, alerts."""
    r = report
    console.print(
        f"[bold]Channel simulation[/bold] {r.trace} — {human_age(r.duration_ms)} from "
        f"{iso(r.start_ms)} (seed {r.seed})",
        highlight=False,
    )
    t = Table(box=box.SIMPLE_HEAD)
    for col in ("class", "sent", "acked", "dropped", "waiting", "delivery p50/p99", "ack p50/p99"):
        t.add_column(col, justify="left" if col == "class" else "right")
    for p in r.priorities:
        if not p.sent:
            continue
        t.add_row(
            p.priority,
            f"{p.sent:,}",
            f"{p.acked:,}",
            f"[red]{p.dropped:,}[/red]"
            if p.dropped and p.priority != "ROUTINE"
            else f"{p.dropped:,}",
            f"{p.unacknowledged:,}",
            f"{_ms(p.delivery_p50_ms)} / {_ms(p.delivery_p99_ms)}",
            f"{_ms(p.ack_p50_ms)} / {_ms(p.ack_p99_ms)}",
        )
    console.print(t)
    balance = (
        f"{r.sent:,} sent = {r.acked:,} acked + {r.dropped:,} dropped + "
        f"{len(r.unacknowledged):,} waiting"
    )
    if r.balanced:
        console.print(f"Accounted for: {balance}", highlight=False)
    else:
        console.print(f"[bold red]Unaccounted: {r.lost:,} messages[/bold red] ({balance})")
    console.print(
        f"Received once: {r.received_once:,} messages in {r.copies_received:,} copies; "
        f"{r.retries:,} retries; {r.replies:,} replies; {r.heartbeats:,} heartbeats",
        highlight=False,
    )
    if r.backpressure:
        console.print(
            "Backpressure: " + " · ".join(f"{k} {n:,}" for k, n in r.backpressure.items()),
            highlight=False,
        )
    if r.failovers:
        f = Table(title="Failovers", title_justify="left", box=box.SIMPLE_HEAD)
        for col in ("after", "message", "class", "path", "reason"):
            f.add_column(col)
        for e in r.failovers[:20]:
            f.add_row(
                human_age(e.at_ms - r.start_ms),
                e.message,
                e.priority,
                " → ".join(e.path),
                e.reason,
            )
        console.print(f)
        if len(r.failovers) > 20:
            console.print(f"  … and {len(r.failovers) - 20:,} more", style="dim")
    if r.alerts:
        a = Table(title="Alerts", title_justify="left", box=box.SIMPLE_HEAD)
        for col in ("at", "severity", "title"):
            a.add_column(col)
        for al in r.alerts[:30]:
            sev = al.severity
            a.add_row(
                (iso(al.at_ms) or "")[:19].replace("T", " "),
                f"[red]{sev}[/red]" if sev == "critical" else f"[yellow]{sev}[/yellow]",
                al.title,
            )
        console.print(a)
        if len(r.alerts) > 30:
            console.print(f"  … and {len(r.alerts) - 30:,} more", style="dim")
    if r.unacknowledged:
        shown = ", ".join(r.unacknowledged[:10])
        more = f" and {len(r.unacknowledged) - 10:,} more" if len(r.unacknowledged) > 10 else ""
        console.print(f"[yellow]Still waiting for an ack[/yellow]: {shown}{more}", highlight=False)
    for note in r.anomalies:
        console.print(f"[bold yellow]simulator[/bold yellow]: {note}", highlight=False)


def _ms(v: int | None) -> str:
    if v is None:
        return "—"
    return f"{v:,} ms" if v < 10_000 else human_age(v)
