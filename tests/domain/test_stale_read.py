"""Stale reads: an assessment resting on a variable that a later credible claim changed."""

from __future__ import annotations

from typing import Any

import pytest

from sitroom.adapters.reports import parse_report
from sitroom.domain.projection import AlertDraft
from sitroom.domain.records import Record, RecordBatch
from sitroom.domain.stale import DependenciesProjection, StaleReadDetector
from sitroom.errors import SourceError
from sitroom.testing import T0

HOUR = 3_600_000
POSTURE = {"subject": "Hezbollah", "property": "posture"}


def claim(
    id: str,
    value: Any,
    *,
    at: int,
    confidence: int | None = 70,
    subject: str = "Hezbollah",
    prop: str = "posture",
    depends_on: list[dict[str, Any]] | None = None,
) -> Record:
    payload: dict[str, Any] = {
        "subject": subject,
        "property": prop,
        "value": value,
        "stated_at": at,
        "links": [],
    }
    if depends_on:
        payload["depends_on"] = depends_on
    return Record(
        id=id, kind="claim", kind_version=1, source=f"analyst:{id}", confidence=confidence,
        valid_from=at, payload=payload,
    )  # fmt: skip


def willing(at: int, **dep: Any) -> Record:
    return claim(
        "iran", "high", at=at, subject="Iran", prop="willingness to talk",
        depends_on=[{**POSTURE, **dep}],
    )  # fmt: skip


def run(*batches: list[Record]) -> list[AlertDraft]:
    """Fold each batch and ask the detector, as the engine does; every draft raised."""
    p, d = DependenciesProjection(), StaleReadDetector()
    state, found = p.initial(), []
    for records in batches:
        batch = RecordBatch.from_records(records)
        state = p.apply(state, batch)
        found += d.on_records({"dependencies": state}, batch, T0)
    return found


def test_a_credible_change_after_the_assessment_makes_it_stale_naming_both_records() -> None:
    base = claim("posture-1", "restrained", at=T0)
    found = run([base], [willing(T0 + HOUR)], [claim("posture-2", "escalating", at=T0 + 5 * HOUR)])
    assert len(found) == 1
    a = found[0]
    assert a.detector == "stale-read" and a.key == "iran|hezbollah|posture"
    assert a.detail["old_value"] == "restrained" and a.detail["new_value"] == "escalating"
    assert a.detail["old_claim"] == "posture-1" and a.detail["new_claim"] == "posture-2"
    assert list(a.evidence) == ["iran", "posture-2", "posture-1"]
    assert "Iran willingness to talk = high" in a.title
    assert "Hezbollah posture = restrained, now escalating" in a.title


def test_the_same_value_again_or_a_doubtful_claim_changes_nothing() -> None:
    base = claim("posture-1", "restrained", at=T0)
    again = claim("posture-2", "restrained", at=T0 + 2 * HOUR)
    doubtful = claim("posture-3", "escalating", at=T0 + 3 * HOUR, confidence=30)
    assert run([base], [willing(T0 + HOUR)], [again, doubtful]) == []


def test_a_change_stated_before_the_assessment_is_what_it_read_not_a_stale_read() -> None:
    early = claim("posture-1", "escalating", at=T0)
    assert run([early], [willing(T0 + HOUR)]) == []


def test_an_assessment_arriving_after_the_change_it_missed_is_stale_on_arrival() -> None:
    base = claim("posture-1", "restrained", at=T0)
    change = claim("posture-2", "escalating", at=T0 + 5 * HOUR)
    found = run([base, change], [willing(T0 + HOUR)])
    assert [a.detail["new_claim"] for a in found] == ["posture-2"]


def test_an_assumed_value_given_by_the_analyst_needs_no_earlier_claim() -> None:
    change = claim("posture-2", "escalating", at=T0 + 5 * HOUR)
    found = run([willing(T0 + HOUR, value="restrained")], [change])
    assert len(found) == 1 and found[0].detail["old_claim"] is None
    assert found[0].detail["old_value"] == "restrained"
    # Without a value and with nothing said before it, nothing went stale that anyone read.
    assert run([willing(T0 + HOUR)], [change]) == []


def test_a_report_carries_depends_on_and_refuses_a_malformed_one() -> None:
    text = (
        "---\ntitle: t\nauthor: ana\nreliability: B\npublished: 2019-10-09T08:00:00Z\n"
        "claims:\n  - {subject: Iran, property: willingness to talk, value: high, "
        "credibility: 2, depends_on: [{subject: Hezbollah, property: posture}]}\n---\nbody\n"
    )
    records = parse_report("r.md", text, now_ms=T0)
    (c,) = [r for r in records if r.kind == "claim"]
    assert c.payload["depends_on"] == [POSTURE]
    with pytest.raises(SourceError, match=r"r.md: claim 1: depends_on 1: 'property' is required"):
        parse_report("r.md", text.replace("property: posture", "prop: posture"), now_ms=T0)
