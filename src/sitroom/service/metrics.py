"""What the server measures, for Prometheus (`GET /metrics`, text format), in a registry of
its own (never the library's global one):

- ``sitroom_alert_latency_seconds``: how long after the append that triggered it each alert
  was detected (the alert carries it, ``detect_ms``: engine._raise);
- ``sitroom_requests_total``: requests by method, route template and status;
- ``sitroom_stream_clients`` and ``sitroom_stream_dropped_total``: the live stream's clients,
  and those dropped for reading too slowly;
- ``sitroom_channel_breaker``: each channel's breaker (1 for its current state);
- ``sitroom_key_wear_ratio``: the share of its message limit each track key has used.

The last two are read from the room at each scrape, as the scraping user: a scrape shows only
the channels and tracks its token may see.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from sitroom.application.results import Result
from sitroom.room import Room
from sitroom.service.stream import Event

BREAKER_STATES = ("closed", "half_open", "open")
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class Metrics:
    """The server's own measures."""

    def __init__(self, clients: Callable[[], int]) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.alert_latency = Histogram(
            "sitroom_alert_latency_seconds",
            "From the commit of the records that triggered an alert to its detection.",
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
            registry=self.registry,
        )
        self.requests = Counter(
            "sitroom_requests",
            "Requests answered, by method, route and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        clients_gauge = Gauge(
            "sitroom_stream_clients", "Clients of the live stream now.", registry=self.registry
        )
        clients_gauge.set_function(lambda: float(clients()))
        self.dropped = Counter(
            "sitroom_stream_dropped",
            "Stream clients dropped for reading too slowly.",
            registry=self.registry,
        )

    def saw(self, events: list[Event]) -> None:
        for e in events:
            if e.alert_ms is not None:
                self.alert_latency.observe(e.alert_ms / 1000)

    def text(self, room_now: dict[str, Any]) -> bytes:
        """The server's measures, then the room's at this scrape (``RoomGauges``' JSON)."""
        extra = CollectorRegistry(auto_describe=False)
        extra.register(_Now(room_now))
        return generate_latest(self.registry) + generate_latest(extra)


@dataclass(frozen=True, kw_only=True)
class RoomGauges(Result):
    """The room's state at a scrape, as its user sees it."""

    breakers: tuple[tuple[str, str], ...]  # (channel, state)
    wear: tuple[tuple[str, str, float], ...]  # (track, sender, share of the limit used)


class _Now(Collector):
    def __init__(self, gauges: dict[str, Any]) -> None:
        self.breakers = gauges["breakers"]
        self.wear = gauges["wear"]

    def collect(self) -> Iterator[Metric]:
        breaker = GaugeMetricFamily(
            "sitroom_channel_breaker",
            "Each channel's circuit breaker: 1 for its current state.",
            labels=["channel", "state"],
        )
        for channel, now in self.breakers:
            for state in BREAKER_STATES:
                breaker.add_metric([channel, state], 1.0 if now == state else 0.0)
        yield breaker
        wear = GaugeMetricFamily(
            "sitroom_key_wear_ratio",
            "The share of its message limit each track key (per sender) has used.",
            labels=["track", "sender"],
        )
        for track, sender, used in self.wear:
            wear.add_metric([track, sender], used)
        yield wear


def room_gauges(room: Room) -> RoomGauges:
    """Read the breakers and the key wear (room thread only)."""
    channels = room.channels.list().channels
    keys = room.keys.status().tracks
    return RoomGauges(
        breakers=tuple((c.id, c.breaker) for c in channels),
        wear=tuple(
            (t.track, k.sender, float(k.used)) for t in keys for k in t.keys if k.used is not None
        ),
    )
