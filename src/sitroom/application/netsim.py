"""The simulated network under a channel trace: the courier and the channel detectors on a
virtual clock.

A :class:`Trace` (read from YAML by :mod:`sitroom.adapters.trace`) declares the channels, the
network under each, the windows in which a path or the counterpart is down, and what the desk
does. :func:`simulate` plays it on a virtual clock against a real ``Courier`` and the room's
own projections and detectors, through a session: every note the courier writes goes into the
log, and the detectors tick whenever one is due, so overdue-reply alerts are raised at the
virtual moment they would be live. Nothing reads the system clock; randomness (jitter, loss,
heartbeat phase) comes from ``random.Random`` seeded by the trace's seed, one stream per
channel and purpose, so the same trace and seed always give the same report
(:mod:`sitroom.application.netsim_report`).

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

The caller passes the session and the virtual clock its engine runs on for the whole run: the
room's ``channels.simulate`` uses a scratch room over an in-memory log, or the room itself
(``record=True``), whose clock is the virtual one while the simulation runs (its other
detectors see virtual time too) and is given back afterwards.

Notes are appended in batches: any note that can raise an alert or move a detector's due time
(a failover, a state change, a drop above ROUTINE, a send awaiting a reply, a reply) is
appended at once, at its virtual time, with everything buffered before it; acks, retries, plain
sends and ROUTINE drops wait for the next such note (or 1,000 notes), and are recorded then.
"""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sitroom.application.desk import channel_record, note_record
from sitroom.application.netsim_report import (
    AlertEntry,
    Delivery,
    FailoverEntry,
    PriorityStats,
    SimReport,
    StateEntry,
)
from sitroom.application.ports import ManualClock
from sitroom.application.results import Progress
from sitroom.application.session import Session
from sitroom.domain.channels.courier import Action, Courier, Envelope, Link, Note, Transmit
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
from sitroom.domain.timeutil import iso

DEFAULT_DELAY_MS = 50
FLUSH_EVERY = 1000  # notes buffered at most before they are appended anyway
MAX_MESSAGES = 1_000_000  # sends a trace may expand to (storms and repeats included)
PROGRESS_EVERY = 4096  # events played between two progress reports
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
    expires_ms: int | None = None


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


# -- the simulation -------------------------------------------------------------------------


def simulate(
    trace: Trace, session: Session, clock: ManualClock, *, progress: Progress | None = None
) -> SimReport:
    """Play ``trace`` on the virtual ``clock``: the courier's notes go through ``session``
    into a log whose engine runs on ``clock`` for the whole run (the caller sees to it) and
    holds the channel projection, with the channel detector for alerts. ``progress`` is told
    the virtual time played and the trace's span, in ms."""
    return _Sim(trace, session, clock, progress).run()


# Event kinds on the heap. At the same millisecond they go in this order (what is in flight lands
# first; a reply after its message), then in the order they were pushed.
_ACK, _ARRIVE, _POLL, _SEND, _REPLY = range(5)


class _Sim:
    def __init__(
        self, trace: Trace, session: Session, clock: ManualClock, progress: Progress | None
    ) -> None:
        self.trace = trace
        self.session = session
        self.progress = progress
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
        declared = self.session.state(CHANNELS)["channels"]
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
        progress, span, played = self.progress, end - t0, 0
        while True:
            if progress is not None:
                played += 1
                if played % PROGRESS_EVERY == 0:
                    progress(self.now - t0, span)
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
        if progress is not None:
            progress(span, span)
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
        base, self.phi_due = self.courier.dues()
        self.base_due = _INF if base is None else base
        self.cdue = min(self.base_due, min(self.phi_due.values(), default=_INF))

    def _engine_due(self, t: int) -> None:
        self._flush(t)  # detectors judge what is in the log; tick even if the flush moved the due
        self.clock.set(t)
        made = self.session.tick(t)
        self._alerts(made.alerts)
        due = self.session.next_due(t)
        if due is not None and due <= t:
            if not (made.alerts or made.derived):
                self.anomalies.append(
                    f"at {iso(t)} a detector stayed due after a tick that made nothing; "
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
            expires_ms=s.expires_ms,
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
            at = self.courier.suspect_at(ch)
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
                        message=p["message"],
                        priority=p["priority"],
                        from_channel=p["from"],
                        to_channel=p["to"],
                        at_ms=a.at_ms,
                        attempt=p["attempt"],
                        reason=p["reason"],
                        path=tuple(p["path"]),
                    )
                )
                eager = True
            elif kind == CHANNEL_STATE:
                self.states.append(
                    StateEntry(
                        at_ms=a.at_ms,
                        channel=p["channel"],
                        aspect=p["aspect"],
                        old=p["old"],
                        new=p["new"],
                        reason=p["reason"],
                    )
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
        out = self.session.append([note_record(n) for n in notes], action="simulate channels")
        if out.duplicates:
            self.anomalies.append(
                f"at {iso(t)} {out.duplicates} of {len(notes)} records were already in the log "
                "(same ids) and were not appended again"
            )
        self._alerts(out.alerts)
        due = self.session.next_due(t)
        self.edue = None if due is None else max(due, t)

    def _alerts(self, records: list[Record]) -> None:
        for r in records:
            p = r.payload
            self.alerts.append(
                AlertEntry(
                    at_ms=r.valid_from if r.valid_from is not None else self.now,
                    detector=str(p.get("detector", "")),
                    key=str(p.get("key", "")),
                    severity=str(p.get("severity", "")),
                    title=str(p.get("title", "")),
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
                priority=p.name,
                sent=self.sent[p],
                acked=self.acked[p],
                dropped=self.dropped[p],
                unacknowledged=len(waiting[p]),
                delivery_p50_ms=_rank(self.delivery_ms[p], 0.5),
                delivery_p99_ms=_rank(self.delivery_ms[p], 0.99),
                ack_p50_ms=_rank(self.ack_ms[p], 0.5),
                ack_p99_ms=_rank(self.ack_ms[p], 0.99),
            )
            for p in sorted(Priority, reverse=True)
        )
        deliveries = tuple(
            Delivery(
                message=m,
                priority=self.prio[m].name if m in self.prio else "",
                channel=v[0],
                at_ms=v[1],
                copies=v[2],
            )
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
