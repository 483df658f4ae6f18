"""Claims: what sources say about the world, kept side by side.

A claim says that a subject's property has a value over a valid-time interval, from a source,
with a confidence. sitroom never overwrites one claim with another: the view of a property lists
every value with who said it, how sure they were and how old it is, and marks a conflict when
credible sources disagree. Corroboration counts *independent* sources only: two outlets
repeating the same wire story share an origin and count once.

Source reliability and information credibility are kept apart, as the Admiralty (NATO) code
does: reliability A–F judges the source, credibility 1–6 judges this piece of information. The
credibility maps to the STIX 2.1 confidence scale (its Admiralty Credibility table), so a claim's
envelope confidence is comparable with every other record's.

Payload of record kind ``claim`` v1 (the envelope carries source, confidence and valid time):

    subject      str     what the claim is about ("Hezbollah", "US-Iran talks")
    property     str     which property ("posture", "venue", "fatalities.best")
    value        any JSON value
    reliability  "A".."F" or null      of the source
    credibility  1..6 or null          of the information
    origin       str or null           where the information came from, for independence
    stated_at    int (ms) or null      when the source said it (age is counted from here)
    report       str or null           the id of the report that carried it
    links        [str]

The view is a function of the set of claims, not of their arrival order.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from sitroom.domain.kinds import CLAIM
from sitroom.domain.records import RecordBatch
from sitroom.errors import RecordError

RELIABILITY = {
    "A": "completely reliable",
    "B": "usually reliable",
    "C": "fairly reliable",
    "D": "not usually reliable",
    "E": "unreliable",
    "F": "reliability cannot be judged",
}
CREDIBILITY = {
    1: "confirmed by other sources",
    2: "probably true",
    3: "possibly true",
    4: "doubtful",
    5: "improbable",
    6: "truth cannot be judged",
}
# STIX 2.1, Appendix A, "Admiralty Credibility": 6 has no confidence value.
_CREDIBILITY_TO_CONFIDENCE = {1: 90, 2: 70, 3: 50, 4: 30, 5: 10}
CREDIBLE = 50  # a claim at least "possibly true" (STIX 50) is credible enough to conflict


def confidence_of(credibility: int | None) -> int | None:
    """STIX confidence for an Admiralty credibility (None for 6, "cannot be judged")."""
    if credibility is None:
        return None
    if credibility not in CREDIBILITY:
        raise RecordError(f"credibility must be 1-6 (Admiralty code), got {credibility!r}")
    return _CREDIBILITY_TO_CONFIDENCE.get(credibility)


def credibility_of(confidence: int | None) -> int:
    """The Admiralty credibility for a STIX confidence (the same table, read the other way)."""
    if confidence is None:
        return 6
    return (
        5
        if confidence < 20
        else 4
        if confidence < 40
        else 3
        if confidence < 60
        else 2
        if confidence < 80
        else 1
    )


def check_reliability(value: Any) -> str | None:
    if value is None:
        return None
    code = str(value).strip().upper()
    if code not in RELIABILITY:
        raise RecordError(f"reliability must be A-F (Admiralty code), got {value!r}")
    return code


def subject_key(subject: str) -> str:
    """Subjects match whatever their case and spacing ("hezbollah" is "Hezbollah ")."""
    return " ".join(subject.split()).casefold()


@dataclass(frozen=True)
class ClaimView:
    id: str
    value: Any
    source: str
    origin: str
    reliability: str | None
    credibility: int | None
    confidence: int | None
    valid_from: int | None
    valid_to: int | None
    stated_at: int | None
    age_ms: int | None  # from stated_at to the time of the view


@dataclass(frozen=True)
class ValueView:
    value: Any
    claims: list[ClaimView]
    independent: int  # distinct origins among its claims: corroboration
    confidence: int | None  # the highest of its claims
    credible: bool


@dataclass(frozen=True)
class PropertyView:
    subject: str
    property: str
    values: list[ValueView]
    conflict: bool  # credible claims disagree


class ClaimsProjection:
    """Every claim, by subject and property. Nothing is replaced, so nothing is lost."""

    name = "claims"
    version = 2
    kinds: tuple[str, ...] | None = (CLAIM,)

    def initial(self) -> dict[str, dict[str, list[dict[str, Any]]]]:
        return {}

    def held(self, state: dict[str, dict[str, list[dict[str, Any]]]]) -> int:
        """Rows a snapshot writes: every claim kept (see ``snapshot_rows``)."""
        return sum(len(claims) for props in state.values() for claims in props.values())

    def apply(
        self, state: dict[str, dict[str, list[dict[str, Any]]]], batch: RecordBatch
    ) -> dict[str, dict[str, list[dict[str, Any]]]]:
        if not len(batch):
            return state
        # Column-wise: building a Record per claim (validation, a dict per row) cost as much as
        # the rest of the append.
        cols = batch.table.select(
            ["id", "source", "confidence", "valid_from", "valid_to"]
        ).to_pydict()
        payloads = (
            batch.table.column("payload").to_pylist()
            if batch.typed
            else [orjson.loads(t) for t in batch.table.column("payload").to_pylist()]
        )
        for i, p in enumerate(payloads):
            entry = {
                "id": cols["id"][i],
                "subject": p["subject"],
                "property": p["property"],
                "value": p["value"],
                "source": cols["source"][i],
                "origin": p.get("origin") or cols["source"][i],
                "reliability": p.get("reliability"),
                "credibility": p.get("credibility"),
                "confidence": cols["confidence"][i],
                "valid_from": cols["valid_from"][i],
                "valid_to": cols["valid_to"][i],
                "stated_at": p.get("stated_at"),
                "report": p.get("report"),
            }
            state.setdefault(subject_key(p["subject"]), {}).setdefault(p["property"], []).append(
                entry
            )
        return state

    def encode(self, state: Any) -> bytes:
        return orjson.dumps(state)

    def decode(self, data: bytes) -> Any:
        return orjson.loads(data)


def _valid_at(entry: Mapping[str, Any], at: int | None) -> bool:
    if at is None:
        return True
    start, end = entry["valid_from"], entry["valid_to"]
    if start is None:
        return True  # a claim with no valid time is not ruled out by one
    if start > at:
        return False
    return end is None or at < end or (end == start and at == start)


def view(
    state: Mapping[str, Mapping[str, list[dict[str, Any]]]],
    subject: str,
    now_ms: int,
    *,
    valid_at: int | None = None,
    properties: Iterable[str] | None = None,
    credible: int = CREDIBLE,
) -> list[PropertyView]:
    """Each property of ``subject`` with every value claimed for it (valid at ``valid_at``,
    or ever when None), most corroborated first."""
    wanted = set(properties) if properties is not None else None
    out = []
    for prop, entries in sorted(state.get(subject_key(subject), {}).items()):
        if wanted is not None and prop not in wanted:
            continue
        by_value: dict[bytes, list[dict[str, Any]]] = {}
        for e in entries:
            if _valid_at(e, valid_at):
                by_value.setdefault(
                    orjson.dumps(e["value"], option=orjson.OPT_SORT_KEYS), []
                ).append(e)
        values = [_value_view(es, now_ms, credible) for _, es in sorted(by_value.items())]
        if not values:
            continue
        values.sort(key=lambda v: (-v.independent, -(v.confidence or -1)))  # stable: by value
        name = next(e["subject"] for e in sorted(entries, key=lambda e: e["id"]))
        out.append(PropertyView(name, prop, values, conflict=sum(v.credible for v in values) > 1))
    return out


def _value_view(entries: list[dict[str, Any]], now_ms: int, credible: int) -> ValueView:
    claims = sorted(
        (
            ClaimView(
                id=e["id"],
                value=e["value"],
                source=e["source"],
                origin=e["origin"],
                reliability=e["reliability"],
                credibility=e["credibility"],
                confidence=e["confidence"],
                valid_from=e["valid_from"],
                valid_to=e["valid_to"],
                stated_at=e["stated_at"],
                age_ms=None if e["stated_at"] is None else now_ms - e["stated_at"],
            )
            for e in entries
        ),
        key=lambda c: (c.source, c.id),
    )
    confidences = [c.confidence for c in claims if c.confidence is not None]
    best = max(confidences, default=None)
    return ValueView(
        value=claims[0].value,
        claims=claims,
        independent=len({subject_key(c.origin) for c in claims}),
        confidence=best,
        credible=best is not None and best >= credible,
    )
