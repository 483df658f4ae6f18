"""Risk on the spine: the reactor that re-forecasts and resolves questions as records arrive
(the detector that raises disagreement and incoherence alerts from the forecasts is in
``detector.py``).

    event near a venue ─┐
    channel state      ─┼─> Forecaster.on_records ─> forecast / question.resolved records
    judgment, question ─┘                                    └─> RiskDetector ─> alerts

Nothing runs on a timer: a record re-forecasts exactly the questions it touches (an event within
a question's radius and look-back, a state change of a channel a meeting depends on, a judgment
of it, a resolution that changes an analyst's weight). Only deadlines are clock-driven, through
``next_due``: a count question resolves no when its window closes short of its threshold.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from sitroom.domain.channels.ledger import CHANNELS
from sitroom.domain.events import EVENT_KINDS
from sitroom.domain.geo import haversine_m
from sitroom.domain.kinds import CHANNEL, CHANNEL_STATE, TRACK_STATUS
from sitroom.domain.records import Record, RecordBatch
from sitroom.domain.risk.ensemble import DEFAULT_METHOD, DISAGREEMENT
from sitroom.domain.risk.forecast import (
    NEARBY_MS,
    PAST_WINDOWS,
    Region,
    forecast,
    region,
    watched_channels,
)
from sitroom.domain.risk.questions import (
    COUNT,
    FORECAST,
    JUDGMENT,
    QUESTION,
    QUESTION_RESOLVED,
    Place,
    Question,
)
from sitroom.domain.risk.state import RISK, RiskState

SOURCE = "sitroom"
TRIGGERS_KEPT = 100


def lookback_ms(q: Question, now_ms: int) -> int:
    """How far back an event can still move this question's members."""
    back = NEARBY_MS
    if q.shape == COUNT and q.window_from_ms is not None and q.deadline_ms is not None:
        back = max(
            back, now_ms - q.window_from_ms + PAST_WINDOWS * (q.deadline_ms - q.window_from_ms)
        )
    return back


def resolution(
    q: Question,
    outcome: str,
    now_ms: int,
    by: str,
    reason: str,
    evidence: Iterable[str] = (),
    count: int | None = None,
) -> Record:
    return QUESTION_RESOLVED.record(
        id=f"resolved:{q.id}",
        source=SOURCE if by == "rule" else by,
        valid_from=now_ms,
        valid_to=now_ms,
        compartment=q.compartment,
        payload={
            "question": q.id,
            "outcome": outcome,
            "by": by,
            "reason": reason,
            "evidence": list(evidence)[:TRIGGERS_KEPT],
            "count": count,
        },
    )


class Forecaster:
    name = "forecaster"
    reads: tuple[str, ...] = (RISK, CHANNELS)

    def __init__(self, *, method: str = DEFAULT_METHOD, disagreement: float = DISAGREEMENT) -> None:
        self.method = method
        self.disagreement = disagreement

    # -- what a batch touches -----------------------------------------------------------------
    def on_records(self, views: Mapping[str, Any], batch: RecordBatch, now_ms: int) -> list[Record]:
        state: RiskState = views[RISK]
        if not state.questions:
            return []
        touched: dict[str, list[str]] = {}
        resolved: list[Record] = []
        for r in batch.of_kinds([QUESTION, JUDGMENT, QUESTION_RESOLVED, TRACK_STATUS]).rows():
            p = r.payload
            if r.kind in (QUESTION, JUDGMENT):
                touched.setdefault(p.get("question", p.get("id")), []).append(r.id)
            elif r.kind == QUESTION_RESOLVED:
                resolved += self._dependents(state, p["question"], p["outcome"], now_ms)
                judges = set(state.judgments.get(p["question"], {}))
                for q in state.open_questions():
                    if judges & set(state.judgments.get(q.id, {})):
                        touched.setdefault(q.id, []).append(r.id)
            elif r.kind == TRACK_STATUS:
                for q in state.open_questions():
                    if (
                        q.rule == "meeting"
                        and q.track == p["track"]
                        and p["status"] in q.yes_status
                    ):
                        resolved.append(
                            resolution(
                                q,
                                "yes",
                                now_ms,
                                "rule",
                                f"track {q.track} is now {p['status']}",
                                [r.id],
                            )
                        )
        self._events(state, batch, now_ms, touched)
        if len(changed := batch.of_kinds([CHANNEL_STATE, CHANNEL])):
            names = {r.payload.get("channel", r.payload.get("id")): r.id for r in changed.rows()}
            for q in state.open_questions():
                hit = [names[c] for c in watched_channels(q, state, views[CHANNELS]) if c in names]
                if hit:
                    touched.setdefault(q.id, []).extend(hit)
        # One region query per touched question serves both the threshold check and the
        # forecast.
        regions = {
            qid: region(state.question(qid), state, now_ms)
            for qid in touched
            if state.status(qid) == "open"
        }
        resolved += self._reached(state, regions, now_ms)
        done = {r.payload["question"] for r in resolved}
        return self._forecasts(views, touched, regions, done, now_ms) + resolved

    def _events(
        self, state: RiskState, batch: RecordBatch, now_ms: int, touched: dict[str, list[str]]
    ) -> None:
        events = batch.of_kinds(list(EVENT_KINDS))
        if not len(events):
            return
        placed = [q for q in state.open_questions() if q.places]
        if not placed:
            return
        ev = state.conflict_events(events)
        if not len(ev):
            return
        lat, lon, t, quad, ids = ev.lat, ev.lon, ev.valid_from, ev.quad_class, ev.id
        # Each place measured once and each (place, radius) tested once, however many
        # questions share them (venues repeat across questions; most share the radius).
        dist: dict[Place, np.ndarray] = {}
        close: dict[tuple[Place, float], np.ndarray] = {}
        for q in placed:
            near = None
            for place in q.places:
                within = close.get((place, q.radius_m))
                if within is None:
                    if place not in dist:
                        dist[place] = haversine_m(lat, lon, place.point)
                    within = close[place, q.radius_m] = dist[place] <= q.radius_m
                near = within if near is None else near | within
            if near is None or not near.any():
                continue
            quads = np.zeros(len(t), dtype=bool)
            for c in q.quad_classes:
                quads |= quad == c
            window = near & (t <= now_ms) & (t > now_ms - lookback_ms(q, now_ms)) & quads
            hit = np.flatnonzero(window)
            if len(hit):
                touched.setdefault(q.id, []).extend(ids[hit[-TRIGGERS_KEPT:]].tolist())

    # -- resolutions ----------------------------------------------------------------------------
    def _reached(
        self, state: RiskState, regions: Mapping[str, Region], now_ms: int
    ) -> list[Record]:
        """Count questions whose window now holds their threshold: yes, at once."""
        out = []
        for qid, near in regions.items():
            q = state.question(qid)
            if q.rule != "events" or q.shape != COUNT:
                continue
            if len(near.inside) >= (q.threshold or 0):
                inside = near.inside.newest_ids(len(near.inside))
                out.append(
                    resolution(
                        q,
                        "yes",
                        now_ms,
                        "rule",
                        f"{len(inside)} events in the window reach the threshold {q.threshold}",
                        inside,
                        len(inside),
                    )
                )
                out += self._dependents(state, q.id, "yes", now_ms)
        return out

    def _dependents(self, state: RiskState, qid: str, outcome: str, now_ms: int) -> list[Record]:
        if outcome == "yes":
            return []
        return [
            resolution(q, "void", now_ms, "rule", f"its condition {qid} resolved {outcome}")
            for q in state.open_questions()
            if q.given == qid
        ]

    def on_tick(self, views: Mapping[str, Any], now_ms: int) -> list[Record]:
        state: RiskState = views[RISK]
        out: list[Record] = []
        for q in list(state.open_questions()):
            if (
                q.rule not in ("events", "meeting")
                or q.deadline_ms is None
                or q.deadline_ms > now_ms
            ):
                continue
            if q.rule == "events":
                found = region(q, state, now_ms).inside
                inside = found.newest_ids(len(found))
                yes = len(inside) >= (q.threshold or 0)
                why = f"{len(inside)} events in the window, threshold {q.threshold}"
                out.append(
                    resolution(q, "yes" if yes else "no", now_ms, "rule", why, inside, len(inside))
                )
            else:
                status = state.track_status.get(q.track or "", "unknown")
                out.append(
                    resolution(
                        q, "no", now_ms, "rule", f"deadline passed; track {q.track} is {status}"
                    )
                )
                yes = False
            out += self._dependents(state, q.id, "yes" if yes else "no", now_ms)
        return out

    def next_due(self, views: Mapping[str, Any], now_ms: int) -> int | None:
        state: RiskState = views[RISK]
        dues = [
            max(now_ms + 1, q.deadline_ms)
            for q in state.open_questions()
            if q.rule in ("events", "meeting") and q.deadline_ms is not None
        ]
        return min(dues, default=None)

    # -- forecasts ------------------------------------------------------------------------------
    def _forecasts(
        self,
        views: Mapping[str, Any],
        touched: Mapping[str, list[str]],
        regions: Mapping[str, Region],
        skip: set[str],
        now_ms: int,
    ) -> list[Record]:
        state: RiskState = views[RISK]
        out = []
        for qid, triggers in touched.items():
            if qid in skip or state.status(qid) != "open":
                continue
            q = state.question(qid)
            payload = forecast(
                q,
                state,
                views[CHANNELS],
                now_ms,
                method=self.method,
                threshold=self.disagreement,
                triggered_by=triggers,
                near=regions.get(qid),
            )
            n = len(state.history.get(qid, [])) + 1
            out.append(
                FORECAST.record(
                    id=f"forecast:{qid}:{n}",
                    source=SOURCE,
                    valid_from=now_ms,
                    valid_to=now_ms,
                    compartment=q.compartment,
                    payload=payload,
                )
            )
        return out
