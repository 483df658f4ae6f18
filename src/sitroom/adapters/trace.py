"""Channel traces: the YAML a channel simulation is played from, read into a
:class:`~sitroom.application.netsim.Trace`.

A trace declares the channels, the simulated network under each, the windows in which a path
or the counterpart itself is down, and what the desk does: messages sent, storms of them, and
the counterpart's replies::

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

Durations are read by the one duration parser (:func:`~sitroom.domain.timeutil.parse_duration`):
a number and a unit (ms, s, m, h, d, w), or compounds such as ``2h30m``. A send's priority is
ROUTINE unless given; ``reply_within`` sets its reply-by time (after the send), ``expires_within``
makes it void if not delivered that long after it is sent, ``reply_after``
has the counterpart reply that long after it. A repeated send gets ids ``<id>-1``,
``<id>-2``...; a storm's messages ``<prefix>-1``... (prefix ``storm<n>`` unless given), spread
evenly ``over`` its span. Events after ``until`` are not played. Every problem with a trace is
a one-line ``UserInputError`` naming the field, such as ``events[2].send.priority``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sitroom.adapters import yamlsafe
from sitroom.application.netsim import (
    DEFAULT_DELAY_MS,
    MAX_MESSAGES,
    PathModel,
    SimEvent,
    SimSend,
    Trace,
)
from sitroom.domain.channels.courier import Link
from sitroom.domain.channels.priority import Priority
from sitroom.domain.timeutil import parse_duration, to_ms
from sitroom.domain.week import WorkingWeek
from sitroom.domain.wording import shown
from sitroom.errors import SourceError, UserInputError

__all__ = ["load_trace", "parse_trace", "trace_from_dict"]


def load_trace(path: Path) -> Trace:
    try:
        text = yamlsafe.read_text(Path(path))
    except OSError as e:
        raise SourceError(f"cannot read trace {path}: {e.strerror or e}") from None
    except UnicodeDecodeError as e:
        raise SourceError(f"cannot read trace {path}: not UTF-8 ({e.reason})") from None
    return parse_trace(text, name=Path(path).name)


def parse_trace(text: str, *, name: str = "trace") -> Trace:
    """A trace from its YAML text; every problem is a ``UserInputError`` naming the field."""
    data = yamlsafe.load(text, f"trace {name}", error=UserInputError)
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
        "acceptable_pause",
        "ack_timeout",
        "capacity",
        "weight",
        "timezone",
        "hours",
        "days",
        "closed",
        "shorter",
    )
    PATH = ("delay", "jitter", "loss", "down")
    COURIER = ("max_in_flight", "watermark", "phi_threshold")
    SEND = (
        "id",
        "channel",
        "priority",
        "body",
        "await_reply",
        "reply_within",
        "reply_after",
        "expires_within",
    )
    STORM = ("channel", "priority", "count", "over", "body", "prefix")

    def __init__(self, name: str) -> None:
        self.name = name
        self.start = 0

    def fail(self, where: str, problem: str) -> UserInputError:
        return UserInputError(f"trace {self.name}: {where}: {problem}")

    # -- values --------------------------------------------------------------------------------

    def mapping(self, value: Any, where: str, allowed: Sequence[str]) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            raise self.fail(where, f"expected a mapping, got {shown(value)}")
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
            raise self.fail(where, f"expected a text, got {shown(value)}")
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
            raise self.fail(where, f"expected a duration such as 90s or 2h, got {shown(value)}")
        if positive and ms <= 0:
            raise self.fail(where, "must be more than 0")
        return ms

    def integer(self, value: Any, where: str, *, least: int = 0) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise self.fail(
                where, f"expected a whole number of at least {least}, got {shown(value)}"
            )
        return value

    def number(self, value: Any, where: str, lo: float, hi: float) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float) or not lo <= value <= hi:
            raise self.fail(where, f"expected a number from {lo:g} to {hi:g}, got {shown(value)}")
        return float(value)

    def flag(self, value: Any, where: str) -> bool:
        if not isinstance(value, bool):
            raise self.fail(where, f"expected true or false, got {shown(value)}")
        return value

    def priority(self, value: Any, where: str) -> Priority:
        names = ", ".join(p.name for p in sorted(Priority, reverse=True))
        if not isinstance(value, str) or value.upper() not in Priority.__members__:
            raise self.fail(where, f"unknown priority {shown(value)} (one of {names})")
        return Priority[value.upper()]

    def windows(self, value: Any, where: str) -> tuple[tuple[int, int], ...]:
        if value is None:
            return ()
        if not isinstance(value, list):
            raise self.fail(where, f"expected a list of [from, to] pairs, got {shown(value)}")
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
            raise self.fail("start", f"expected an ISO time, got {shown(start)}")
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
        try:
            week = WorkingWeek.parse(
                str(c.get("timezone", "UTC")),
                str(c.get("hours", "09:00-18:00")),
                str(c.get("days", "Mon-Fri")),
                closed=_texts(c.get("closed")),
                shorter=_texts(c.get("shorter")),
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
                acceptable_pause_ms=(
                    None
                    if c.get("acceptable_pause") is None
                    else self.duration(c["acceptable_pause"], f"{where}.acceptable_pause")
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
            raise self.fail("events", f"expected a list, got {shown(value)}")
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
                void = (
                    None
                    if s.get("expires_within") is None
                    else self.duration(s["expires_within"], f"{here}.expires_within", positive=True)
                )
                if len(sent_at) + count > MAX_MESSAGES:
                    raise self.fail(where, f"a trace may send at most {MAX_MESSAGES:,} messages")
                for k in range(count):
                    mid = base if count == 1 else f"{base}-{k + 1}"
                    if mid in sent_at:
                        raise self.fail(f"{here}.id", f"message id {mid!r} is used twice")
                    t = at + k * every
                    sent_at[mid] = t
                    by = None if within is None else t + within
                    expires = None if void is None else t + void
                    send = SimSend(mid, ch, prio, body, wait, by, expires)
                    out.append(SimEvent(t, send=send))
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


def _texts(value: Any) -> list[str]:
    """A YAML value that may be one item or a list, as texts (None: none)."""
    if value is None:
        return []
    return [str(x) for x in (value if isinstance(value, list) else [value])]
