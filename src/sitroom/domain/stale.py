"""Stale reads: an assessment that rests on a variable which has since changed.

An analyst's claim may say what it depends on (``depends_on``: a subject's property, and
optionally the value it assumed). "Iran's willingness to talk is high" rests on "Hezbollah's
posture is restrained": when a later credible claim says the posture is now "escalating", the
assessment is stale — still the newest word on Iran, but read against a world that moved.

The ``dependencies`` projection keeps, for every variable some assessment rests on, the
assessments resting on it and every claim about it (its id, value, confidence and when it was
stated). The ``stale-read`` detector then compares, for each assessment, the value it assumed
with every credible claim about the variable stated after the assessment:

- the value assumed is the dependency's own ``value`` when given; else the value of the newest
  credible claim about the variable stated no later than the assessment (none: nothing to go
  stale against, so no alert);
- "credible" is as for conflicts (:data:`~sitroom.domain.claims.CREDIBLE`, STIX 50);
- "after" is by when the sources said it (``stated_at``), not by arrival: an assessment that
  arrives after the change it missed is stale on arrival.

One alert per assessment and variable (its key), naming the assessment, the variable, the old
value and the new, and both claims (and the one that set the old value, if any) as evidence.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import orjson

from sitroom.domain.claims import CREDIBLE, subject_key
from sitroom.domain.kinds import CLAIM
from sitroom.domain.projection import AlertDraft
from sitroom.domain.records import RecordBatch
from sitroom.domain.timeutil import iso
from sitroom.errors import RecordError

DEPENDENCIES = "dependencies"
STALE_READ = "stale-read"


def variable_key(subject: str, prop: str) -> str:
    return f"{subject_key(subject)}|{prop}"


def check_depends_on(value: Any, where: str) -> list[dict[str, Any]]:
    """A claim's ``depends_on`` as stored: a list of ``{subject, property}`` mappings, each
    with an optional assumed ``value``. RecordError naming ``where`` otherwise."""
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    out = []
    for n, d in enumerate(items, 1):
        if not isinstance(d, dict):
            raise RecordError(f"{where}: depends_on {n}: a mapping with subject and property")
        for field in ("subject", "property"):
            if not isinstance(d.get(field), str) or not d[field].strip():
                raise RecordError(f"{where}: depends_on {n}: '{field}' is required (text)")
        unknown = set(d) - {"subject", "property", "value"}
        if unknown:
            raise RecordError(f"{where}: depends_on {n}: unknown field {sorted(unknown)[0]!r}")
        dep = {"subject": d["subject"].strip(), "property": d["property"].strip()}
        if "value" in d:
            dep["value"] = d["value"]
        out.append(dep)
    return out


class DependenciesProjection:
    """Per variable that an assessment rests on: the assessments, and every claim about it."""

    name = DEPENDENCIES
    version = 1
    kinds: tuple[str, ...] | None = (CLAIM,)

    def initial(self) -> dict[str, Any]:
        # variables: key -> {"subject", "property", "claims": [...]}, for every claim's own
        # variable (so the baseline and the change are at hand when an assessment arrives
        # later); assessments: claim id -> the assessment and what it rests on.
        return {"variables": {}, "assessments": {}}

    def apply(self, state: dict[str, Any], batch: RecordBatch) -> dict[str, Any]:
        if not len(batch):
            return state
        for r in batch.of_kinds([CLAIM]).rows():
            p = r.payload
            entry = {
                "id": r.id,
                "value": p["value"],
                "confidence": r.confidence,
                "stated_at": p.get("stated_at") if p.get("stated_at") is not None else r.valid_from,
                "source": r.source,
            }
            var = state["variables"].setdefault(
                variable_key(p["subject"], p["property"]),
                {"subject": p["subject"], "property": p["property"], "claims": []},
            )
            var["claims"].append(entry)
            deps = p.get("depends_on") or []
            if deps:
                state["assessments"][r.id] = {
                    **entry,
                    "subject": p["subject"],
                    "property": p["property"],
                    "depends_on": deps,
                }
        return state

    def encode(self, state: Any) -> bytes:
        return orjson.dumps(state)

    def decode(self, data: bytes) -> Any:
        return orjson.loads(data)


def _same(a: Any, b: Any) -> bool:
    return orjson.dumps(a, option=orjson.OPT_SORT_KEYS) == orjson.dumps(
        b, option=orjson.OPT_SORT_KEYS
    )


def _credible(c: Mapping[str, Any]) -> bool:
    return c["confidence"] is not None and c["confidence"] >= CREDIBLE


def _order(c: Mapping[str, Any]) -> tuple[int, str]:
    return (c["stated_at"] if c["stated_at"] is not None else -(2**62), c["id"])


def stale_reads(state: Mapping[str, Any], assessment_ids: Iterable[str]) -> list[AlertDraft]:
    """The stale reads of the given assessments, as alert drafts (one per variable found
    changed: the earliest credible change after the assessment was stated)."""
    drafts = []
    for aid in sorted(set(assessment_ids)):
        a = state["assessments"].get(aid)
        if a is None:
            continue
        for dep in a["depends_on"]:
            var = state["variables"].get(variable_key(dep["subject"], dep["property"]))
            if var is None:
                continue
            drafts.extend(_stale(a, dep, var))
    return drafts


def _stale(
    a: Mapping[str, Any], dep: Mapping[str, Any], var: Mapping[str, Any]
) -> list[AlertDraft]:
    at = a["stated_at"]
    claims = sorted((c for c in var["claims"] if _credible(c) and c["id"] != a["id"]), key=_order)
    before = [c for c in claims if at is None or (c["stated_at"] or 0) <= at]
    after = [
        c for c in claims if at is not None and c["stated_at"] is not None and c["stated_at"] > at
    ]
    if "value" in dep:
        old, basis = dep["value"], None
    elif before:
        old, basis = before[-1]["value"], before[-1]["id"]
    else:
        return []  # nothing said what the assessment assumed: nothing to go stale against
    change = next((c for c in after if not _same(c["value"], old)), None)
    if change is None:
        return []
    variable = f"{var['subject']} {var['property']}"
    assessment = f"{a['subject']} {a['property']} = {_shown(a['value'])}"
    return [
        AlertDraft(
            detector=STALE_READ,
            key=f"{a['id']}|{variable_key(dep['subject'], dep['property'])}",
            severity="warning",
            title=(
                f"Stale read: {assessment} ({a['source']}, {iso(at) if at else 'undated'}) "
                f"rests on {variable} = {_shown(old)}, now {_shown(change['value'])} "
                f"({change['source']}, {iso(change['stated_at'])})"
            ),
            evidence=[a["id"], change["id"], *([basis] if basis else [])],
            triggered_by=[change["id"]],
            detail={
                "assessment": a["id"],
                "assessment_subject": a["subject"],
                "assessment_property": a["property"],
                "assessment_value": a["value"],
                "assessed_at": iso(at) if at else None,
                "variable": {"subject": var["subject"], "property": var["property"]},
                "old_value": old,
                "old_claim": basis,
                "new_value": change["value"],
                "new_claim": change["id"],
                "changed_at": iso(change["stated_at"]),
            },
        )
    ]


def _shown(value: Any) -> str:
    return value if isinstance(value, str) else orjson.dumps(value).decode()


class StaleReadDetector:
    """An assessment whose variable has since changed (see the module's docstring)."""

    name = STALE_READ
    reads: tuple[str, ...] = (DEPENDENCIES,)

    def on_records(
        self, views: Mapping[str, Any], batch: RecordBatch, now_ms: int
    ) -> list[AlertDraft]:
        claims = batch.of_kinds([CLAIM])
        if not len(claims):
            return []
        state = views[DEPENDENCIES]
        touched: set[str] = set()
        for r in claims.rows():
            if r.id in state["assessments"]:
                touched.add(r.id)
            key = variable_key(r.payload["subject"], r.payload["property"])
            touched.update(
                aid
                for aid, a in state["assessments"].items()
                if any(variable_key(d["subject"], d["property"]) == key for d in a["depends_on"])
            )
        return stale_reads(state, touched)

    def on_tick(self, views: Mapping[str, Any], now_ms: int) -> list[AlertDraft]:
        return []

    def next_due(self, views: Mapping[str, Any], now_ms: int) -> int | None:
        return None
