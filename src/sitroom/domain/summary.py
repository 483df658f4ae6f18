"""The ``summary`` projection: what the workspace holds, in counts.

``valid_span`` is [earliest, latest] start of valid time of the evidence it holds about the
world (events, news, claims, reports): when the oldest and newest things it knows of began. The
workspace's own records (tracks, keys, alerts) are not evidence: a key made a second ago does
not make a picture of 2019 fresh. Events are counted from every event source (GDELT, UCDP, ACLED).

Records outside the general compartment are also counted by compartment and kind
(``compartments``): a reader's summary leaves them out (:meth:`SummaryProjection.restrict`), and
the number of records an answer could not show a reader is read from them
(:func:`hidden`). Every other count is of the general compartment and of all compartments
alike, since the records that feed them (events, quarantine, sources) are general.

Folded column-wise with polars, so a million-record batch costs a few group-bys, not a loop;
the few records of a live append are counted in Python (``domain/smallbatch.py``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson
import pyarrow.compute as pc

from sitroom.domain.events import EVENT_KINDS, FIELDS
from sitroom.domain.kinds import ALERT, EVIDENCE_KINDS, QUARANTINED
from sitroom.domain.projection import Sees, keep
from sitroom.domain.records import RecordBatch
from sitroom.domain.smallbatch import count_by, span, value_counts


def hidden(state: Mapping[str, Any], sees: Sees, kinds: Sequence[str] | None = None) -> int:
    """How many records of ``kinds`` (None: of every kind) are in compartments a reader may
    not see."""
    return sum(
        n
        for c, counts in state["compartments"].items()
        if not sees(c)
        for kind, n in counts.items()
        if kinds is None or kind in kinds
    )


def _count_events(ev: dict[str, Any], kind: str, events: RecordBatch) -> None:
    """Events of one source: how many, when, and by QuadClass and country (each source keeps
    them in its own fields, :data:`~sitroom.domain.events.FIELDS`)."""
    ev["count"] += len(events)
    _bump(ev["by_source"], str(kind), len(events))

    _widen(ev, "valid_span", *span(events.table, "valid_from"))
    fields = FIELDS[kind]
    quad, country = fields["quad_class"], fields["country"]
    paths = [p for p in (quad, country) if isinstance(p, str)]
    if isinstance(quad, tuple):
        paths.insert(0, quad[0])
    found = dict(zip(paths, value_counts(events, paths), strict=True))
    if isinstance(quad, int):
        _bump(ev["quad_class"], str(quad), len(events))
    elif isinstance(quad, tuple):
        for value, n in found[quad[0]]:
            if (q := quad[1].get(value)) is not None:
                _bump(ev["quad_class"], str(q), n)
    elif isinstance(quad, str):
        for value, n in found[quad]:
            _bump(ev["quad_class"], value, n)
    if isinstance(country, str):
        for value, n in found[country]:
            _bump(ev["countries"], value, n)


def _alerts_in(alerts: RecordBatch) -> list[tuple[tuple[str, str], int]]:
    """Alerts outside the general compartment, counted by (compartment, detector)."""
    compartments = set(alerts.column("compartment").to_pylist()) - {""}
    out = []
    for c in sorted(compartments):
        part = alerts.filter(pc.equal(alerts.column("compartment"), c))
        out += [((c, detector), n) for detector, n in value_counts(part, ["detector"])[0]]
    return out


def _bump(counts: dict[str, int], key: str, n: int) -> None:
    counts[key] = counts.get(key, 0) + n


def _widen(state: dict[str, Any], key: str, lo: int | None, hi: int | None) -> None:
    bounds = state[key]
    if lo is not None:
        bounds[0] = lo if bounds[0] is None else min(bounds[0], lo)
    if hi is not None:
        bounds[1] = hi if bounds[1] is None else max(bounds[1], hi)


class SummaryProjection:
    name = "summary"
    version = 2
    kinds: tuple[str, ...] | None = None

    def initial(self) -> dict[str, Any]:
        return {
            "records": 0,
            "by_kind": {},
            "by_source": {},
            "compartments": {},
            "quarantined": {},
            "alerts": {},
            "alerts_in": {},  # alerts outside the general compartment: {compartment: {detector: n}}
            "valid_span": [None, None],
            "events": {
                "count": 0,
                "by_source": {},  # by kind: gdelt.event, ucdp.event, acled.event
                "quad_class": {},
                "countries": {},
                "valid_span": [None, None],
            },
        }

    def apply(self, state: dict[str, Any], batch: RecordBatch) -> dict[str, Any]:
        if not len(batch):
            return state
        state["records"] += len(batch)
        # One group-by, then a few rows in Python: a fold runs every 10,000 records.
        for (kind, source, compartment), n in count_by(
            batch.table, ["kind", "source", "compartment"]
        ):
            _bump(state["by_kind"], kind, n)
            _bump(state["by_source"], source, n)
            if compartment:
                _bump(state["compartments"].setdefault(compartment, {}), kind, n)
            if kind == QUARANTINED:
                _bump(state["quarantined"], source, n)
        alerts = batch.of_kinds([ALERT])
        if len(alerts):
            for detector, n in value_counts(alerts, ["detector"])[0]:
                _bump(state["alerts"], detector, n)
            for (compartment, detector), n in _alerts_in(alerts):
                _bump(state["alerts_in"].setdefault(compartment, {}), detector, n)
        evidence = batch.of_kinds(EVIDENCE_KINDS)
        if len(evidence):
            _widen(state, "valid_span", *span(evidence.table, "valid_from"))
        for kind in EVENT_KINDS:
            events = batch.of_kinds([kind])
            if len(events):
                _count_events(state["events"], kind, events)
        return state

    def restrict(self, state: dict[str, Any], sees: Sees) -> dict[str, Any]:
        """The counts without the records of the compartments a reader may not see."""
        hidden = [c for c in state["compartments"] if not sees(c)]
        if not hidden:
            return state
        out = {
            **state,
            "by_kind": dict(state["by_kind"]),
            "alerts": dict(state["alerts"]),
            "compartments": keep(state["compartments"], lambda c, _: sees(c)),
            "alerts_in": keep(state["alerts_in"], lambda c, _: sees(c)),
        }
        for c in hidden:
            for kind, n in state["compartments"][c].items():
                out["records"] -= n
                _bump(out["by_kind"], kind, -n)
            for detector, n in state["alerts_in"].get(c, {}).items():
                _bump(out["alerts"], detector, -n)
        # By source: a compartment's records come from the workspace's own writers, whose
        # source names are few; they are left out where counted.
        out["by_kind"] = {k: n for k, n in out["by_kind"].items() if n}
        out["alerts"] = {k: n for k, n in out["alerts"].items() if n}
        return out

    def encode(self, state: dict[str, Any]) -> bytes:
        return orjson.dumps(state)

    def decode(self, data: bytes) -> dict[str, Any]:
        result: dict[str, Any] = orjson.loads(data)
        return result
