"""Fuzzing STIX import: the real bundle mutated (values, objects, bytes) and garbage, read as
`sitroom ingest stix` reads it and appended to an in-memory room. Every bundle is imported,
with its unreadable objects quarantined, or refused whole in one line: never a traceback."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hypothesis import example, given
from hypothesis import strategies as st

from sitroom.adapters.inputs import Input, Rejected, quarantine
from sitroom.adapters.stix import from_bundle
from sitroom.domain.records import RecordBatch
from sitroom.errors import SitroomError
from sitroom.room import scratch_engine

from fuzzing import assert_one_line, fuzz, garbage, json_values, mutated_text, mutated_tree

BUNDLE = Path(__file__).resolve().parents[1] / "fixtures" / "stix" / "bundle.json"
TEXT = BUNDLE.read_text()
REAL = json.loads(TEXT)
T0 = 1_796_000_000_000
# Values that are nearly right for STIX: ids, refs and times of the wrong shape or type.
NEAR = st.sampled_from(
    [
        "identity--0b6f1e2c-3a4d-4c5e-8f70-1a2b3c4d5e01",
        "identity--0B6F1E2C-3A4D-4C5E-8F70-1A2B3C4D5E01",
        "threat-actor--2c1d0e9f-8a7b-4c6d-9e5f-4a3b2c1d0e01",
        "relationship--1",
        "x--" + "0" * 36,
        "2026-11-20T09:00:00.000Z",
        "2026-11-20",
        "2026-11-20T09:00:00",
        "2026-11-20T09:00:00+25:00",
        "agree",
        "sitroom-redline",
        "fatalities >= 50 within 100mi of Beirut in 24h",
        "material conflict by\nISR",
        '{"a": [1, {"b": null}]}',
        "[[[[[[[[[[1]]]]]]]]]]",
    ]
)


def dumped(tree: Any) -> bytes:
    """JSON as any tool might write it: numbers past 64 bits and Infinity included."""
    return json.dumps(tree, default=str).encode()


def bundles() -> st.SearchStrategy[bytes]:
    value = json_values() | NEAR
    return st.one_of(
        mutated_tree(REAL, value).map(dumped),
        st.lists(mutated_tree(REAL["objects"][0], value), max_size=4).map(
            lambda objects: dumped({"type": "bundle", "id": "bundle--1", "objects": objects})
        ),
        mutated_text(TEXT).map(lambda t: t.encode("utf-8", "surrogatepass")),
        garbage().map(lambda t: t.encode("utf-8", "surrogatepass")),
        st.binary(max_size=200),
    )


def ingest(data: bytes) -> None:
    """What `sitroom ingest stix` does with the bytes: the records and the quarantine, in one
    batch, appended (and folded into every view) by a room's engine."""
    bad: list[Rejected] = []
    records = from_bundle("fuzz.json", data, now_ms=T0, bad=bad)
    for rejected in bad:
        assert rejected.reason and "\n" not in rejected.reason, rejected
    batch = RecordBatch.from_records(records)
    if bad:
        batch = RecordBatch.concat(
            [batch, quarantine("stix", "stix", Input("fuzz.json", data), bad)]
        )
    scratch_engine(T0).append(batch)


@fuzz()
@example(dumped({"type": "bundle", "objects": [{**REAL["objects"][2], "confidence": True}]}))
@example(dumped({"type": "bundle", "objects": [{**REAL["objects"][2], "type": "a\nb"}]}))
@example(b'{"type": "bundle", "objects": [{"x": ' + b"[" * 1000 + b"]" * 1000 + b"}]}")
@given(bundles())
def test_a_bundle_is_imported_or_refused_in_one_line(data: bytes) -> None:
    try:
        ingest(data)
    except SitroomError as e:
        assert_one_line(e)


@fuzz(examples=60)
@given(mutated_tree(REAL, json_values() | NEAR))
def test_without_a_quarantine_a_bad_object_is_one_line(bundle: Any) -> None:
    try:
        from_bundle("fuzz.json", dumped(bundle), now_ms=T0)
    except SitroomError as e:
        assert_one_line(e)
