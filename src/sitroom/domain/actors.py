"""The actor graph: who is who, and who stands where towards whom, over time.

Actors — states, armed groups, intermediaries, people, organisations, places — come from actor
records (an analyst's, or a STIX import) and from the event data itself: every side of a UCDP
dyad is an actor, and a dyad that fought is a ``hostility`` between its sides over the span of
its events. Relationships carry a type (alliance, proxy, sponsor, hostility, mediation,
negotiates-with, or a STIX relationship type as imported), a valid-time scope, who says so and
with what confidence.

Names are matched through aliases, case-insensitively. Two actors are never merged by sitroom:
that one is the same as another is a claim (property ``same-as``) that an analyst makes and can
withdraw.

Payload of ``actor`` v1: key, name, type, aliases, cameo (codes), country, description, stix_id.
Payload of ``relationship`` v1: source (actor key), target (actor key), type, description,
stix_id; the envelope holds who says so (source), confidence and valid time.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import orjson

from sitroom.domain.kinds import ACTOR, RELATIONSHIP, UCDP_EVENT
from sitroom.domain.records import RecordBatch

ACTOR_TYPES = ("state", "armed-group", "intermediary", "person", "organisation", "location")
RELATIONSHIP_TYPES = (
    "alliance",
    "proxy",
    "sponsor",
    "hostility",
    "mediation",
    "negotiates-with",
)


def actor_key(name: str) -> str:
    """A stable key for a name: lower-case words joined by hyphens."""
    return re.sub(r"[^a-z0-9]+", "-", name.casefold()).strip("-") or "actor"


def _norm(name: str) -> str:
    return " ".join(name.split()).casefold()


class ActorsProjection:
    """Actors by key with an alias index, and every relationship (stated ones as records,
    hostilities derived from UCDP dyads)."""

    name = "actors"
    version = 1
    kinds: tuple[str, ...] | None = (ACTOR, RELATIONSHIP, UCDP_EVENT)

    def initial(self) -> dict[str, Any]:
        return {"actors": {}, "aliases": {}, "relationships": {}, "dyads": {}}

    def apply(self, state: dict[str, Any], batch: RecordBatch) -> dict[str, Any]:
        for r in batch.of_kinds([ACTOR]).rows():
            p = dict(r.payload)
            key = p["key"]
            state["actors"][key] = {**p, "record": r.id}
            for alias in [p["name"], *p.get("aliases", [])]:
                state["aliases"].setdefault(_norm(alias), key)
        for r in batch.of_kinds([RELATIONSHIP]).rows():
            rel = r.payload
            state["relationships"][r.id] = {
                **rel,
                # Sides named by an analyst are found through the alias index as it stands.
                "source": find(state, rel["source"]) or rel["source"],
                "target": find(state, rel["target"]) or rel["target"],
                "id": r.id,
                "said_by": r.source,
                "confidence": r.confidence,
                "valid_from": r.valid_from,
                "valid_to": r.valid_to,
            }
        ucdp = batch.of_kinds([UCDP_EVENT])
        if len(ucdp):
            self._dyads(state, ucdp)
        return state

    def _dyads(self, state: dict[str, Any], ucdp: RecordBatch) -> None:
        cols = ucdp.table.select(["valid_from", "valid_to"]).to_pydict()
        sides_a = ucdp.payload_field("side_a.name").to_list()
        sides_b = ucdp.payload_field("side_b.name").to_list()
        ids_a = ucdp.payload_field("side_a.id").to_list()
        ids_b = ucdp.payload_field("side_b.id").to_list()
        for a, b, ia, ib, start, end in zip(
            sides_a, sides_b, ids_a, ids_b, cols["valid_from"], cols["valid_to"], strict=True
        ):
            keys = []
            for name, sid in ((a, ia), (b, ib)):
                key = f"ucdp-{sid}"
                if key not in state["actors"]:
                    state["actors"][key] = {
                        "key": key,
                        "name": name,
                        "type": "state" if str(name).startswith("Government of") else "armed-group",
                        "aliases": [],
                        "cameo": [],
                        "country": None,
                        "description": "a side in UCDP GED",
                        "stix_id": None,
                        "record": None,
                    }
                    state["aliases"].setdefault(_norm(str(name)), key)
                keys.append(key)
            dyad = state["dyads"].setdefault(
                f"{keys[0]}|{keys[1]}",
                {"source": keys[0], "target": keys[1], "events": 0, "first": start, "last": end},
            )
            dyad["events"] += 1
            dyad["first"] = min(dyad["first"], start)
            dyad["last"] = max(dyad["last"], end)

    def encode(self, state: Any) -> bytes:
        return orjson.dumps(state)

    def decode(self, data: bytes) -> Any:
        return orjson.loads(data)


def find(state: Mapping[str, Any], name: str) -> str | None:
    """The key of the actor known by ``name`` (its key, name or an alias)."""
    if name in state["actors"]:
        return name
    return state["aliases"].get(_norm(name))  # type: ignore[no-any-return]


def relationships(state: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every relationship: stated ones, then hostilities derived from UCDP dyads."""
    out = sorted(state["relationships"].values(), key=lambda r: r["id"])
    for key, d in sorted(state["dyads"].items()):
        out.append(
            {
                "id": f"ucdp-dyad:{key}",
                "source": d["source"],
                "target": d["target"],
                "type": "hostility",
                "description": f"{d['events']} UCDP GED events",
                "said_by": "ucdp-ged",
                "confidence": None,
                "valid_from": d["first"],
                "valid_to": d["last"],
                "stix_id": None,
            }
        )
    return out
