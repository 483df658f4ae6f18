"""What a channel simulation reports: per priority class, what was sent, acknowledged, dropped
or still waiting, with delivery and ack latencies; every failover with its escalation path;
every breaker and liveness change; the alerts raised, at their virtual time; what the far end
received, and how many copies. Typed results: ``to_json()`` gives times as ISO text with their
offset from the trace's start.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sitroom.application.results import Result
from sitroom.domain.channels.priority import Priority
from sitroom.domain.timeutil import iso


@dataclass(frozen=True, kw_only=True)
class PriorityStats(Result):
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

    def to_json(self) -> dict[str, Any]:
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


DELIVERIES_SHOWN = 10_000


@dataclass(frozen=True, kw_only=True)
class FailoverEntry(Result):
    message: str
    priority: str
    from_channel: str
    to_channel: str
    at_ms: int
    attempt: int
    reason: str
    path: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class StateEntry(Result):
    """A breaker or liveness change of a channel."""

    at_ms: int
    channel: str
    aspect: str
    old: str
    new: str
    reason: str


@dataclass(frozen=True, kw_only=True)
class AlertEntry(Result):
    at_ms: int
    detector: str
    key: str
    severity: str
    title: str


@dataclass(frozen=True, kw_only=True)
class Delivery(Result):
    """The far end's view of one message: when and on which channel it first arrived."""

    message: str
    priority: str
    channel: str
    at_ms: int
    copies: int


@dataclass(frozen=True, kw_only=True)
class SimReport(Result):
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

    def to_json(self) -> dict[str, Any]:
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
            "priorities": {p.priority: p.to_json() for p in self.priorities},
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
            # Per message: when and on which channel it first reached the far end (the first
            # DELIVERIES_SHOWN; a storm of a million would be a file of its own).
            "deliveries": [
                {
                    "message": d.message,
                    "priority": d.priority,
                    "channel": d.channel,
                    **at(d.at_ms),
                    "copies": d.copies,
                }
                for d in self.deliveries[:DELIVERIES_SHOWN]
            ],
            "deliveries_not_shown": max(0, len(self.deliveries) - DELIVERIES_SHOWN),
            "unacknowledged": list(self.unacknowledged),
            "heartbeats": self.heartbeats,
            "backpressure": dict(self.backpressure),
            "anomalies": list(self.anomalies),
        }
