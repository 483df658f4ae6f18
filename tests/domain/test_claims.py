"""Claims kept side by side: Admiralty and STIX scales, conflicts, independence, order."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sitroom.adapters.reports import parse_report
from sitroom.domain.claims import ClaimsProjection, confidence_of, credibility_of, view
from sitroom.domain.records import Record, RecordBatch
from sitroom.errors import SourceError
from sitroom.testing import T0

DAY = 86_400_000


def claim(
    n: int,
    value: Any,
    *,
    source: str = "s",
    confidence: int | None = 70,
    origin: str | None = None,
    prop: str = "posture",
    subject: str = "Hezbollah",
    valid: tuple[int | None, int | None] = (None, None),
) -> Record:
    return Record(
        id=f"c{n}",
        kind="claim",
        kind_version=1,
        source=source,
        confidence=confidence,
        valid_from=valid[0],
        valid_to=valid[1],
        payload={
            "subject": subject,
            "property": prop,
            "value": value,
            "origin": origin,
            "stated_at": T0 - n * 1000,
            "reliability": "B",
            "credibility": credibility_of(confidence),
        },
    )


def fold(records: list[Record]) -> Any:
    p = ClaimsProjection()
    return p.apply(p.initial(), RecordBatch.from_records(records))


def test_admiralty_credibility_maps_to_stix_confidence_both_ways() -> None:
    # STIX 2.1 Appendix A, Admiralty Credibility: 1→90 … 5→10; 6 has no value.
    assert [confidence_of(c) for c in range(1, 7)] == [90, 70, 50, 30, 10, None]
    assert [credibility_of(v) for v in (100, 80, 79, 60, 59, 40, 39, 20, 19, 0, None)] == [
        1,
        1,
        2,
        2,
        3,
        3,
        4,
        4,
        5,
        5,
        6,
    ]
    assert all(credibility_of(confidence_of(c)) == c for c in range(1, 7))


def test_credible_sources_that_disagree_are_a_conflict_and_nothing_is_overwritten() -> None:
    state = fold([claim(1, "defensive", source="a"), claim(2, "offensive", source="b")])
    (prop,) = view(state, "hezbollah", T0)
    assert prop.conflict
    assert sorted(v.value for v in prop.values) == ["defensive", "offensive"]
    assert {c.source for v in prop.values for c in v.claims} == {"a", "b"}


def test_a_doubtful_claim_is_shown_but_is_no_conflict() -> None:
    state = fold(
        [claim(1, "defensive", source="a"), claim(2, "offensive", source="b", confidence=30)]
    )
    (prop,) = view(state, "Hezbollah", T0)
    assert not prop.conflict and len(prop.values) == 2
    assert [v.value for v in prop.values] == ["defensive", "offensive"]  # stronger first


def test_corroboration_counts_independent_origins_only() -> None:
    state = fold(
        [
            claim(1, "defensive", source="outlet-a", origin="AFP wire"),
            claim(2, "defensive", source="outlet-b", origin="afp  WIRE"),
            claim(3, "defensive", source="embassy"),
            claim(4, "offensive", source="outlet-c"),
        ]
    )
    (prop,) = view(state, "Hezbollah", T0)
    top = prop.values[0]
    assert top.value == "defensive" and len(top.claims) == 3 and top.independent == 2
    assert prop.values[1].independent == 1


def test_valid_time_selects_the_claims_in_force() -> None:
    state = fold(
        [
            claim(1, "defensive", valid=(T0 - 10 * DAY, T0 - 5 * DAY)),
            claim(2, "offensive", source="b", valid=(T0 - 5 * DAY, None)),
        ]
    )
    (now,) = view(state, "Hezbollah", T0, valid_at=T0)
    assert [v.value for v in now.values] == ["offensive"] and not now.conflict
    (then,) = view(state, "Hezbollah", T0, valid_at=T0 - 7 * DAY)
    assert [v.value for v in then.values] == ["defensive"]
    (ever,) = view(state, "Hezbollah", T0)
    assert ever.conflict


def _shape(state: Any) -> Any:
    return [
        (
            p.property,
            p.conflict,
            [(v.value, v.independent, [c.id for c in v.claims]) for v in p.values],
        )
        for p in view(state, "Hezbollah", T0)
    ]


CLAIMS = [
    claim(1, "defensive", source="a"),
    claim(2, "offensive", source="b", origin="wire"),
    claim(3, "offensive", source="c", origin="wire"),
    claim(4, "defensive", source="d", confidence=20),
    claim(5, {"lat": 33.9}, source="e", prop="location"),
    claim(6, "Naim Qassem", source="f", prop="leader"),
]


@settings(max_examples=60, deadline=None)
@given(st.permutations(CLAIMS), st.integers(min_value=1, max_value=len(CLAIMS)))
def test_the_same_claims_in_any_order_and_batching_give_the_same_view(
    order: list[Record], cut: int
) -> None:
    p = ClaimsProjection()
    state = p.apply(p.initial(), RecordBatch.from_records(order[:cut]))
    state = p.apply(state, RecordBatch.from_records(order[cut:]))
    assert _shape(state) == _shape(fold(CLAIMS))


REPORT = """---
title: Posture
author: jdoe
reliability: B
published: 2026-11-24T18:00:00Z
claims:
  - subject: Hezbollah
    property: posture
    value: defensive
    credibility: 2
    valid_from: 2026-11-20
"""


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("no front matter", "starts with a '---' line"),
        ("---\ntitle: x\n", "not closed"),
        ("---\ntitle: [unclosed\n---\n", "not valid YAML at line 2"),
        ("---\ntitle: x\n---\n", "give 'source' or 'author'"),
        (REPORT + "    credibility: 9\n---\n", "claim 1: credibility must be 1-6"),
        (REPORT.replace("value: defensive", "value:") + "---\n", "claim 1: 'value' is required"),
        (REPORT + "    valid_to: 2026-11-01\n---\n", "claim 1: 'valid_to' is before 'valid_from'"),
        (REPORT.replace("reliability: B", "reliability: Q") + "---\n", "reliability must be A-F"),
        (REPORT + "    confidence: 50\n---\n", "not both"),
    ],
)
def test_report_mistakes_name_the_file_the_claim_and_the_field(text: str, message: str) -> None:
    with pytest.raises(SourceError, match=r"r\.md") as e:
        parse_report("r.md", text, now_ms=T0)
    assert message in str(e.value)


def test_a_report_becomes_a_report_record_and_claims_with_stix_confidence() -> None:
    report, c = parse_report("r.md", REPORT + "---\nBody.\n", now_ms=T0)
    assert report.kind == "analyst.report" and report.payload["claims"] == [c.id]
    assert report.payload["body"] == "Body." and report.source == "analyst:jdoe"
    assert (c.kind, c.confidence, c.payload["credibility"], c.payload["reliability"]) == (
        "claim",
        70,
        2,
        "B",
    )
    midnight = datetime(2026, 11, 20, tzinfo=UTC).timestamp() * 1000
    assert c.valid_from == midnight and c.valid_to is None
