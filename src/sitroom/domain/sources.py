"""The ``sources`` projection and the overdue-source detector.

Each source declares itself (kind ``source.declared``) with its cadence: GDELT 2.0 publishes every
15 minutes, GDELT 1.0 daily. The projection follows, per source, when this workspace last received
anything from it (its last *arrival*, in recorded time) and how new the newest thing it said is (in
valid time). The detector raises an alert once per silence: when no arrival came for the cadence
plus a grace, measured on the workspace clock that ``now_ms`` gives.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from sitroom.domain import hlc
from sitroom.domain.kinds import ALERT, SOURCE_DECLARED
from sitroom.domain.projection import AlertDraft
from sitroom.domain.records import Record, RecordBatch
from sitroom.domain.smallbatch import newest_by
from sitroom.domain.timeutil import human_age, iso

OVERDUE = "source-overdue"


def declaration(
    source: str,
    title: str,
    cadence_ms: int,
    *,
    publisher: str | None = None,
    url: str | None = None,
    licence: str | None = None,
) -> Record:
    """A source announces itself and its cadence. The id holds source and cadence only, so
    declaring the same source again is a duplicate and a new cadence is a new record."""
    return SOURCE_DECLARED.record(
        id=f"{SOURCE_DECLARED}:{source}:cadence={cadence_ms}",
        source=source,
        payload={
            "source": source,
            "title": title,
            "cadence_ms": cadence_ms,
            "publisher": publisher,
            "url": url,
            "licence": licence,
        },
    )


def _blank() -> dict[str, Any]:
    return {
        "cadence_ms": None,
        "title": None,
        "records": 0,
        "last_arrival": None,
        "last_arrival_id": None,
        "newest_valid": None,
        "newest_valid_id": None,
        "alerted_for": None,
    }


class SourcesProjection:
    name = "sources"
    version = 1
    kinds: tuple[str, ...] | None = None

    def initial(self) -> dict[str, dict[str, Any]]:
        return {}

    def apply(
        self, state: dict[str, dict[str, Any]], batch: RecordBatch
    ) -> dict[str, dict[str, Any]]:
        if not len(batch):
            return state
        for r in batch.of_kinds([SOURCE_DECLARED]).rows():
            s = state.setdefault(r.payload["source"], _blank())
            s["cadence_ms"] = r.payload.get("cadence_ms")
            s["title"] = r.payload.get("title")
        for r in batch.of_kinds([ALERT]).rows():
            p = r.payload
            if p.get("detector") == OVERDUE:
                state.setdefault(p["detail"]["source"], _blank())["alerted_for"] = p["detail"][
                    "last_arrival"
                ]
        # Arrivals: what a source delivered, not what it or sitroom said about the feed.
        for g in newest_by(
            batch.table,
            "source",
            "valid_from",
            last=["recorded_time", "id"],
            at_newest="id",
            skip_kinds=(SOURCE_DECLARED, ALERT),
        ):
            s = state.setdefault(g["source"], _blank())
            s["records"] += g["n"]
            s["last_arrival"], s["last_arrival_id"] = g["last"]["recorded_time"], g["last"]["id"]
            newest = g["newest"]
            if newest is not None and (s["newest_valid"] is None or newest > s["newest_valid"]):
                s["newest_valid"], s["newest_valid_id"] = newest, g["at_newest"]
        return state

    def encode(self, state: dict[str, dict[str, Any]]) -> bytes:
        return orjson.dumps(state)

    def decode(self, data: bytes) -> dict[str, dict[str, Any]]:
        result: dict[str, dict[str, Any]] = orjson.loads(data)
        return result


def overdue_since(s: Mapping[str, Any], grace: float) -> int | None:
    """The wall time (ms) after which the source counts as overdue, or None if it has no cadence
    or never delivered."""
    if not s.get("cadence_ms") or s.get("last_arrival") is None:
        return None
    return int(hlc.wall_ms(s["last_arrival"]) + s["cadence_ms"] * (1 + grace))


class OverdueSourceDetector:
    """A source that has been silent for longer than its cadence allows."""

    name = OVERDUE
    reads: tuple[str, ...] = ("sources",)

    def __init__(self, grace: float = 1.0) -> None:
        self.grace = grace  # in cadences: 1.0 means "a whole update was missed"

    def on_records(
        self, views: Mapping[str, Any], batch: RecordBatch, now_ms: int
    ) -> list[AlertDraft]:
        return []

    def status(self, s: Mapping[str, Any], now_ms: int) -> str:
        """A source's freshness at ``now_ms``, for people."""
        if s.get("last_arrival") is None:
            return "never received"
        due = overdue_since(s, self.grace)
        if due is None:
            return "no cadence declared"
        return "overdue" if now_ms > due else "on time"

    def next_due(self, views: Mapping[str, Any], now_ms: int) -> int | None:
        dues = [
            due + 1
            for s in views["sources"].values()
            if s["alerted_for"] != s["last_arrival"]
            and (due := overdue_since(s, self.grace)) is not None
            and due + 1 > now_ms
        ]
        return min(dues, default=None)

    def on_tick(self, views: Mapping[str, Any], now_ms: int) -> list[AlertDraft]:
        drafts = []
        for name, s in sorted(views["sources"].items()):
            due = overdue_since(s, self.grace)
            if due is None or now_ms <= due or s["alerted_for"] == s["last_arrival"]:
                continue
            last = hlc.wall_ms(s["last_arrival"])
            silent = now_ms - last
            drafts.append(
                AlertDraft(
                    detector=self.name,
                    key=f"{name}:{s['last_arrival']}",
                    severity="warning",
                    title=(
                        f"{name} is overdue: nothing received for {human_age(silent)}, "
                        f"expected every {human_age(s['cadence_ms'])}"
                    ),
                    evidence=[s["last_arrival_id"]],
                    detail={
                        "source": name,
                        "cadence_ms": s["cadence_ms"],
                        "last_arrival": s["last_arrival"],
                        "last_arrival_at": iso(last),
                        "silent_ms": silent,
                        "due_at": iso(due),
                        "late_ms": now_ms - due,
                    },
                )
            )
        return drafts
