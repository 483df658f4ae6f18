"""Red lines in the live picture: the rules users added (records of kind ``redline``), the
events that matched each threshold rule since it was added, and the detector that raises an
alert when a new event crosses a line.

Alerts are bounded: a bulk ingest that crosses a line ten thousand times raises one alert per
rule and append, naming how many events crossed and the first hundred of them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson

from sitroom.domain.events import EVENT_KINDS, event_frame
from sitroom.domain.kinds import REDLINE
from sitroom.domain.projection import AlertDraft
from sitroom.domain.records import RecordBatch
from sitroom.domain.redlines import Rule, crossed, matches

if TYPE_CHECKING:
    import polars as pl

DETECTOR = "redline"
EVIDENCE_CAP = 100


def weights(rule: Rule, events: pl.DataFrame) -> np.ndarray:
    """What each event adds to a threshold: 1, or its fatalities (0 where not given)."""
    if rule.measure == "fatalities":
        return events["fatalities"].fill_null(0).to_numpy().astype(np.float64)
    return np.ones(events.height)


class RedLinesProjection:
    """Active rules, and for each threshold rule the (valid time, weight, id) of every event
    that matched it since it was added."""

    name = "redlines"
    version = 1
    kinds: tuple[str, ...] | None = (REDLINE, *EVENT_KINDS)

    def initial(self) -> dict[str, Any]:
        return {"rules": {}, "matches": {}}

    def apply(self, state: dict[str, Any], batch: RecordBatch) -> dict[str, Any]:
        import polars as pl

        for r in batch.of_kinds([REDLINE]).rows():
            name = r.payload["name"]
            if r.payload.get("active", True):
                state["rules"][name] = {
                    "rule": r.payload["rule"],
                    "severity": r.payload.get("severity", "warning"),
                    "id": r.id,
                }
                state["matches"].setdefault(name, [])
            else:
                state["rules"].pop(name, None)
                state["matches"].pop(name, None)
        thresholds = {
            n: Rule.from_dict(v["rule"]) for n, v in state["rules"].items() if v["rule"]["measure"]
        }
        if not thresholds:
            return state
        events = event_frame(batch)
        if not events.height:
            return state
        for name, rule in thresholds.items():
            m = matches(rule, events) & events["valid_from"].is_not_null().to_numpy()
            if m.any():
                picked = events.filter(pl.Series(m))
                state["matches"][name].extend(
                    [t, w, i]
                    for t, w, i in zip(
                        picked["valid_from"].to_list(),
                        weights(rule, picked).tolist(),
                        picked["id"].to_list(),
                        strict=True,
                    )
                )
        return state

    def encode(self, state: Any) -> bytes:
        return orjson.dumps(state)

    def decode(self, data: bytes) -> Any:
        return orjson.loads(data)


def window_sums(
    history: list[list[Any]], window_ms: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For matches sorted by valid time: (times, weights, sum over the window ending at each)."""
    if not history:
        empty = np.zeros(0)
        return empty, empty, empty
    h = sorted(history, key=lambda m: (m[0], m[2]))
    t = np.array([m[0] for m in h], dtype=np.int64)
    w = np.array([m[1] for m in h], dtype=np.float64)
    cum = np.concatenate([[0.0], np.cumsum(w)])
    start = np.searchsorted(t, t - window_ms, side="right")
    return t, w, cum[np.arange(1, len(t) + 1)] - cum[start]


class RedLineDetector:
    name = DETECTOR
    reads: tuple[str, ...] = ("redlines",)

    def on_records(
        self, views: Mapping[str, Any], batch: RecordBatch, now_ms: int
    ) -> list[AlertDraft]:
        import polars as pl

        state = views["redlines"]
        if not state["rules"]:
            return []
        events = event_frame(batch)
        if not events.height:
            return []
        drafts = []
        for name, spec in sorted(state["rules"].items()):
            rule = Rule.from_dict(spec["rule"])
            if rule.measure:
                drafts += self._threshold(name, spec, rule, state["matches"].get(name, []), events)
                continue
            m = matches(rule, events)
            if m.any():
                ids = events.filter(pl.Series(m))["id"].to_list()
                drafts.append(
                    AlertDraft(
                        detector=DETECTOR,
                        key=f"{name}:{ids[0]}",
                        title=f"Red line '{name}' crossed by {len(ids)} event"
                        f"{'' if len(ids) == 1 else 's'}: {rule.text}",
                        severity=spec["severity"],
                        evidence=ids[:EVIDENCE_CAP],
                        triggered_by=ids[:EVIDENCE_CAP],
                        detail={"rule": name, "text": rule.text, "events": len(ids)},
                    )
                )
        return drafts

    def _threshold(
        self,
        name: str,
        spec: Mapping[str, Any],
        rule: Rule,
        history: list[list[Any]],
        events: pl.DataFrame,
    ) -> list[AlertDraft]:
        assert rule.window_ms is not None and rule.threshold is not None
        new = set(events["id"].to_list())
        ids = [m[2] for m in sorted(history, key=lambda m: (m[0], m[2]))]
        t, w, sums = window_sums(history, rule.window_ms)
        crossings = [
            k
            for k in range(len(ids))
            if ids[k] in new and crossed(rule, sums[k]) and not crossed(rule, sums[k] - w[k])
        ]
        if not crossings:
            return []
        k = crossings[0]
        inside = [ids[j] for j in range(len(ids)) if t[k] - rule.window_ms < t[j] <= t[k]]
        unit = "fatalities" if rule.measure == "fatalities" else "events"
        return [
            AlertDraft(
                detector=DETECTOR,
                key=f"{name}:{ids[k]}",
                title=f"Red line '{name}' crossed: {sums[k]:g} {unit} in the window "
                f"(threshold {rule.threshold:g}): {rule.text}",
                severity=spec["severity"],
                evidence=inside[:EVIDENCE_CAP],
                triggered_by=[ids[k]],
                detail={
                    "rule": name,
                    "text": rule.text,
                    "value": float(sums[k]),
                    "threshold": rule.threshold,
                    "window_ends": int(t[k]),
                    "crossings_in_append": len(crossings),
                },
            )
        ]

    def on_tick(self, views: Mapping[str, Any], now_ms: int) -> list[AlertDraft]:
        return []

    def next_due(self, views: Mapping[str, Any], now_ms: int) -> int | None:
        return None
