"""What changed in the picture between two moments of recorded time.

``diff`` compares the workspace as known at T1 with the workspace as known at T2: the records
that arrived in between (by kind and source), claims with new values and conflicts that appeared
or were resolved, actors and relationships that became known, red lines added, alerts raised,
and upstream revisions — a UCDP or ACLED event whose new version changed what it said.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
import polars as pl

from sitroom.application.engine import Engine
from sitroom.application.queries import _provenance, resolve_as_of
from sitroom.domain import hlc
from sitroom.domain.actors import relationships
from sitroom.domain.kinds import ACLED_EVENT, ALERT, UCDP_EVENT
from sitroom.domain.provenance import Answer
from sitroom.domain.records import RecordBatch
from sitroom.domain.timeutil import iso
from sitroom.errors import UserInputError

VIEWS = ("claims", "actors", "redlines")
REVISED = {UCDP_EVENT: "fatalities", ACLED_EVENT: "fatalities"}  # what a revision is shown by
LISTED = 50  # items listed per section; counts are always complete


def diff(engine: Engine, from_ms: int, to_ms: int | None = None) -> Answer[dict[str, Any]]:
    a = resolve_as_of(engine, from_ms)
    b = resolve_as_of(engine, to_ms)
    if b.seq < a.seq:
        raise UserInputError("--to is before --from: give the earlier time first")
    before = engine.view_many(list(VIEWS), a.seq)
    after = engine.view_many(list(VIEWS), b.seq)
    batches = list(engine.log.read(after_seq=a.seq, upto_seq=b.seq))
    arrived = RecordBatch.concat(batches) if batches else RecordBatch.empty()
    value = {
        "from": iso(a.wall),
        "to": iso(b.wall),
        "log_positions": [a.seq, b.seq],
        "records": len(arrived),
        "by_kind": _counts(arrived, "kind"),
        "by_source": _counts(arrived, "source"),
        "claims": _claims(before["claims"], after["claims"]),
        "actors": _actors(before["actors"], after["actors"]),
        "redlines": sorted(set(after["redlines"]["rules"]) - set(before["redlines"]["rules"])),
        "alerts": [
            {"id": r.id, "title": r.payload["title"], "severity": r.payload["severity"]}
            for r in arrived.of_kinds([ALERT]).rows()
        ][:LISTED],
        "revisions": _revisions(engine, arrived, a.seq),
    }
    stamps = arrived.column("recorded_time").to_pylist() if len(arrived) else []
    newest = hlc.wall_ms(max(stamps)) if stamps else None
    return Answer(value, _provenance(engine, b, newest, None))


def _counts(batch: RecordBatch, column: str) -> dict[str, int]:
    if not len(batch):
        return {}
    s = pl.from_arrow(batch.column(column))
    assert isinstance(s, pl.Series)
    return {str(k): int(n) for k, n in sorted(s.value_counts().iter_rows())}


def _values(entries: list[dict[str, Any]]) -> dict[bytes, list[dict[str, Any]]]:
    out: dict[bytes, list[dict[str, Any]]] = {}
    for e in entries:
        out.setdefault(orjson.dumps(e["value"], option=orjson.OPT_SORT_KEYS), []).append(e)
    return out


def _credible_values(entries: list[dict[str, Any]]) -> int:
    return sum(any((e["confidence"] or 0) >= 50 for e in es) for es in _values(entries).values())


def _claims(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, Any]:
    changed = []
    for subject, props in sorted(after.items()):
        for prop, entries in sorted(props.items()):
            old = before.get(subject, {}).get(prop, [])
            if len(old) == len(entries):
                continue  # claims are only ever added: same count, same claims
            new_values = [orjson.loads(k) for k in _values(entries).keys() - _values(old).keys()]
            was, now = _credible_values(old) > 1, _credible_values(entries) > 1
            changed.append(
                {
                    "subject": entries[0]["subject"],
                    "property": prop,
                    "new_claims": len(entries) - len(old),
                    "new_values": new_values,
                    "conflict": "appeared"
                    if now and not was
                    else "resolved"
                    if was and not now
                    else ("ongoing" if now else None),
                }
            )
    return {"changed": changed[:LISTED], "properties_changed": len(changed)}


def _actors(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, Any]:
    new = sorted(set(after["actors"]) - set(before["actors"]))
    old_rels = {r["id"] for r in relationships(before)}
    names = {k: v["name"] for k, v in after["actors"].items()}
    rels = [r for r in relationships(after) if r["id"] not in old_rels]
    return {
        "new": [names[k] for k in new][:LISTED],
        "new_count": len(new),
        "relationships": [
            " ".join(
                (
                    names.get(r["source"], r["source"]),
                    r["type"],
                    names.get(r["target"], r["target"]),
                )
            )
            for r in rels
        ][:LISTED],
        "relationships_count": len(rels),
    }


def _revisions(engine: Engine, arrived: RecordBatch, before_seq: int) -> list[dict[str, Any]]:
    """New versions of events the workspace already held, with what changed in them."""
    out: list[dict[str, Any]] = []
    for kind, field in REVISED.items():
        fresh = arrived.of_kinds([kind])
        if not len(fresh):
            continue
        ids = set(fresh.payload_field("event_id", pl.Utf8).to_list())
        earlier: dict[str, Any] = {}
        for batch in engine.log.read(upto_seq=before_seq, kinds=[kind]):
            keys = batch.payload_field("event_id", pl.Utf8).to_list()
            values = _field(batch, field)
            for k, v in zip(keys, values, strict=True):
                if k in ids:
                    earlier[k] = v  # the latest version known at T1
        for k, v in zip(
            fresh.payload_field("event_id", pl.Utf8).to_list(), _field(fresh, field), strict=True
        ):
            if k in earlier:
                out.append({"kind": kind, "event_id": k, field: {"was": earlier[k], "now": v}})
    return out[:LISTED]


def _field(batch: RecordBatch, field: str) -> list[Any]:
    if field == "fatalities" and batch.column("kind")[0].as_py() == UCDP_EVENT:
        return batch.payload_field("fatalities.best", pl.Int64).to_list()
    return batch.payload_field(field, pl.Int64).to_list()
