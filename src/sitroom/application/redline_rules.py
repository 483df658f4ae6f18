"""Red-line use cases: add a rule (a record, so history and as-of work), list the rules in
force, and test a rule against everything the workspace holds before relying on it."""

from __future__ import annotations

from typing import Any

import polars as pl

from sitroom.application.engine import Engine
from sitroom.application.queries import _provenance, resolve_as_of
from sitroom.domain.events import EVENT_KINDS, event_frame
from sitroom.domain.kinds import REDLINE
from sitroom.domain.provenance import Answer
from sitroom.domain.redline_watch import EVIDENCE_CAP, weights, window_sums
from sitroom.domain.redlines import crossed, matches, parse_rule
from sitroom.domain.timeutil import iso
from sitroom.errors import UserInputError

SEVERITIES = ("info", "warning", "critical")


def add(engine: Engine, name: str, text: str, severity: str = "warning") -> dict[str, Any]:
    if severity not in SEVERITIES:
        raise UserInputError(f"severity must be one of {', '.join(SEVERITIES)}, got {severity!r}")
    if not name.strip():
        raise UserInputError("a red line needs a name")
    rule = parse_rule(text)
    now = engine.clock.now_ms()
    record = REDLINE.record(
        id=f"{REDLINE}:{name}:{now}",
        source="sitroom",
        valid_from=now,
        payload={"name": name, "rule": rule.as_dict(), "severity": severity, "active": True},
    )
    engine.append([record])
    return {"name": name, "rule": text, "severity": severity, "id": record.id}


def listing(engine: Engine, as_of_ms: int | None = None) -> Answer[list[dict[str, Any]]]:
    at = resolve_as_of(engine, as_of_ms)
    state = engine.view_many(["redlines"], at.seq)["redlines"]
    rows = [
        {
            "name": name,
            "rule": spec["rule"]["text"],
            "severity": spec["severity"],
            "matched_events": len(state["matches"].get(name, [])),
        }
        for name, spec in sorted(state["rules"].items())
    ]
    return Answer(rows, _provenance(engine, at, None, [REDLINE]))


def test(engine: Engine, text: str, as_of_ms: int | None = None) -> Answer[dict[str, Any]]:
    """What a rule would have matched — and for a threshold, when it would have been crossed —
    over every event the workspace holds (as of a time)."""
    rule = parse_rule(text)
    at = resolve_as_of(engine, as_of_ms)
    ids: list[str] = []
    history: list[list[Any]] = []
    newest: int | None = None
    for batch in engine.log.read(upto_seq=at.seq, kinds=list(EVENT_KINDS)):
        events = event_frame(batch)
        m = matches(rule, events)
        picked = events.filter(pl.Series(m))
        ids += picked["id"].to_list()
        history += [
            [t, w, i]
            for t, w, i in zip(
                picked["valid_from"].to_list(),
                weights(rule, picked).tolist(),
                picked["id"].to_list(),
                strict=True,
            )
            if t is not None
        ]
        if picked.height:
            top = picked["valid_from"].max()
            newest = top if newest is None else max(newest, top)  # type: ignore[type-var,assignment]
    value: dict[str, Any] = {
        "rule": text,
        "matched_events": len(ids),
        "evidence": ids[:EVIDENCE_CAP],
    }
    if rule.measure:
        assert rule.window_ms is not None
        t, w, sums = window_sums(history, rule.window_ms)
        order = [m[2] for m in sorted(history, key=lambda m: (m[0], m[2]))]
        crossings = [
            {"at": iso(int(t[k])), "value": float(sums[k]), "event": order[k]}
            for k in range(len(t))
            if crossed(rule, sums[k]) and not crossed(rule, sums[k] - w[k])
        ]
        value |= {
            "threshold": rule.threshold,
            "measure": rule.measure,
            "window": rule.window_ms,
            "peak": float(sums.max()) if len(sums) else 0.0,
            "crossings": crossings,
        }
    return Answer(value, _provenance(engine, at, newest, list(EVENT_KINDS)))
