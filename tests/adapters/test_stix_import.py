"""STIX import, hardened (issue 18, item 5): a bundle that is not JSON, not a bundle or nested
too deep is refused whole in one line; an object that cannot be read is quarantined with its
id and reason while the rest of the bundle stands; and the work is linear in the bundle."""

from __future__ import annotations

import copy
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from sitroom.adapters.inputs import Rejected
from sitroom.adapters.stix import MAX_DEPTH, from_bundle
from sitroom.domain.records import RecordBatch
from sitroom.errors import SourceError

from helpers import sitroom

BUNDLE = Path(__file__).resolve().parents[1] / "fixtures" / "stix" / "bundle.json"
REAL = json.loads(BUNDLE.read_text())
RELATIONSHIP = REAL["objects"][4]["id"]
ACTOR = REAL["objects"][2]["id"]
T0 = 1_796_000_000_000


def mutated(change: Callable[[list[Any]], None]) -> bytes:
    """The real bundle with one change made to its objects."""
    bundle = copy.deepcopy(REAL)
    change(bundle["objects"])
    return orjson.dumps(bundle)


def read(data: bytes) -> tuple[list[Any], list[Rejected]]:
    bad: list[Rejected] = []
    records = from_bundle("b.json", data, now_ms=T0, bad=bad)
    RecordBatch.from_records(records).validate()  # what the log would be given
    return records, bad


def set_(i: int, **values: Any) -> Callable[[list[Any]], None]:
    return lambda objects: objects[i].update(values)


def drop(i: int, key: str) -> Callable[[list[Any]], None]:
    return lambda objects: objects[i].pop(key)


@pytest.mark.parametrize(
    ("change", "place", "reason"),
    [
        (drop(4, "source_ref"), 5, f"relationship {RELATIONSHIP}: no 'source_ref'"),
        (
            set_(4, start_time="yesterday"),
            5,
            f"relationship {RELATIONSHIP}: 'start_time' is not an RFC 3339 timestamp: 'yesterday'",
        ),
        (
            set_(4, modified="2026-11-21"),  # a date, no time zone: not a STIX timestamp
            5,
            "'modified' is not an RFC 3339 timestamp",
        ),
        (
            set_(4, confidence="high"),
            5,
            f"relationship {RELATIONSHIP}: 'confidence' is a whole number from 0 to 100, "
            "not 'high'",
        ),
        (set_(2, confidence=True), 3, f"threat-actor {ACTOR}: 'confidence' is a whole number"),
        (set_(2, confidence=101), 3, "from 0 to 100, not 101"),
        (set_(4, source_ref="Hezbollah"), 5, "'source_ref' is not a STIX id (type--UUID)"),
        (set_(9, object_refs="threat-actor--x"), 10, "'object_refs' is not a list of ids"),
        (set_(2, id="threat-actor--1"), 3, "'id' is not threat-actor--UUID: 'threat-actor--1'"),
        (set_(2, id=f"identity--{ACTOR.split('--')[1]}"), 3, "'id' is not threat-actor--UUID"),
        (drop(2, "id"), 3, "object 3: no 'id'"),
        (lambda objects: objects.insert(0, "identity"), 1, "object 1: not a JSON object"),
        (set_(9, opinion="maybe"), 10, "'opinion' is one of strongly-disagree, disagree"),
        (set_(3, latitude=133.9), 4, "'latitude' is degrees from -90 to 90, not 133.9"),
        (set_(2, aliases="Hizballah"), 3, "'aliases' is not a list of texts: 'Hizballah'"),
        (set_(6, x_sitroom_value="[1,"), 7, "note note--"),
        (set_(6, x_sitroom_credibility=9), 7, "'x_sitroom_credibility' is a whole number"),
        (set_(6, x_sitroom_reliability="Q"), 7, "reliability must be A-F"),
        (set_(6, x_sitroom_valid_from="2026"), 7, "'x_sitroom_valid_from' is not a time in"),
    ],
    ids=lambda v: v if isinstance(v, int) else None,
)
def test_an_object_that_cannot_be_read_is_quarantined_with_its_id_and_reason(
    change: Callable[[list[Any]], None], place: int, reason: str
) -> None:
    records, fine = read(orjson.dumps(REAL))
    assert fine == []
    kept, bad = read(mutated(change))
    (rejected,) = bad
    assert rejected.line == place and reason in rejected.reason, rejected.reason
    assert "\n" not in rejected.reason
    assert orjson.loads(rejected.raw) == mutated_object(change, place)
    # The rest stands: every record of the other objects is still there.
    lost = {r.id for r in records} - {r.id for r in kept}
    assert all(place_of(i) == place for i in lost)


def mutated_object(change: Callable[[list[Any]], None], place: int) -> Any:
    return orjson.loads(mutated(change))["objects"][place - 1]


def place_of(record_id: str) -> int:
    """The 1-based place of the object a record came from (its STIX id is in the record id)."""
    for n, o in enumerate(REAL["objects"], 1):
        if record_id.startswith(f"stix:{o['id']}:"):
            return n
    return 0


def test_without_a_quarantine_the_first_bad_object_is_one_line_naming_it() -> None:
    with pytest.raises(SourceError) as e:
        from_bundle("b.json", mutated(set_(4, confidence="high")), now_ms=T0)
    assert str(e.value) == (
        f"b.json: relationship {RELATIONSHIP}: 'confidence' is a whole number from 0 to 100, "
        "not 'high'"
    )


def deep_in_an_object(depth: int) -> bytes:
    """The real bundle with a custom property nested ``depth`` lists deep in its report
    (spliced in as text: neither json nor orjson writes that deep)."""
    data = mutated(set_(8, x_extra="DEEP"))
    return data.replace(b'"DEEP"', b"[" * depth + b"]" * depth)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"[" * 1_000 + b"]" * 1_000, f"b.json: nested deeper than {MAX_DEPTH} levels"),
        (deep_in_an_object(1_000), f"b.json: nested deeper than {MAX_DEPTH} levels"),
        (deep_in_an_object(300), f"b.json: nested deeper than {MAX_DEPTH} levels"),
        (b'{"type": "bundle", "objects": {"a": 1}}', "b.json: the bundle's 'objects' is not"),
        (b"[1, 2]", "b.json: not a STIX bundle"),
        (b'{"type": "bundle", "objects": [', "b.json: not JSON (unexpected end of data"),
    ],
    ids=["1,000 deep", "1,000 deep in an object", "300 deep", "objects", "a list", "cut"],
)
def test_a_bundle_that_is_not_one_is_refused_whole_in_one_line(data: bytes, message: str) -> None:
    with pytest.raises(SourceError) as e:
        read(data)
    assert str(e.value).startswith(message) and "\n" not in str(e.value)


def test_the_cli_imports_the_rest_and_lists_what_it_quarantined(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """The real command on a real file with four bad objects: no traceback, the good objects
    accepted, each bad one in `sitroom quarantine` with its place and reason."""

    def four(objects: list[Any]) -> None:
        objects[4].pop("source_ref")
        objects[4]["confidence"] = "high"
        objects[2]["confidence"] = True
        objects[9]["created"] = "soon"
        objects.append({"type": "note", "content": "no id"})

    path = tmp_path / "bundle.json"
    path.write_bytes(mutated(four))
    ws = str(tmp_path / "ws")
    assert sitroom(capfd, "init", "-w", ws).code == 0
    r = sitroom(capfd, "ingest", "stix", "-w", ws, str(path), "--json")
    assert r.code == 0 and "Traceback" not in r.err, r.err
    totals = r.json()["totals"]
    # 13 records from the good bundle, less the actor, the relationship and the opinion (kept
    # whole and read as a claim): 9.
    assert (totals["quarantined"], totals["accepted"]) == (4, 9)
    listed = sitroom(capfd, "quarantine", "-w", ws, "--json").json()["quarantined"]
    reasons = {q["line"]: q["reason"] for q in listed}
    assert sorted(reasons) == [3, 5, 10, 12]
    assert reasons[3].startswith(f"threat-actor {ACTOR}: 'confidence'")
    assert reasons[5] == f"relationship {RELATIONSHIP}: no 'source_ref'"
    assert reasons[10].endswith("'created' is not an RFC 3339 timestamp: 'soon'")
    assert reasons[12] == "object 12: no 'id'"


def calls(data: bytes) -> int:
    """Python and C function calls made reading ``data``: a count of work that does not
    depend on how busy the machine is."""
    count = 0

    def tally(frame: Any, event: str, arg: Any) -> None:
        nonlocal count
        count += event in ("call", "c_call")

    sys.setprofile(tally)
    try:
        from_bundle("b.json", data, now_ms=T0, bad=[])
    finally:
        sys.setprofile(None)
    return count


def opinions_about_identities(n: int) -> bytes:
    identities = [
        {
            "type": "identity",
            "id": f"identity--00000000-0000-4000-8000-{i:012d}",
            "created": "2026-11-20T09:00:00Z",
            "modified": "2026-11-20T09:00:00Z",
            "name": f"Desk {i}",
        }
        for i in range(n)
    ]
    opinions = [
        {
            "type": "opinion",
            "id": f"opinion--00000000-0000-4000-8000-{i:012d}",
            "created": "2026-11-21T09:00:00Z",
            "modified": "2026-11-21T09:00:00Z",
            "opinion": "agree",
            "object_refs": [identities[(i * 7) % n]["id"]],
        }
        for i in range(n)
    ]
    return orjson.dumps({"type": "bundle", "objects": [*identities, *opinions]})


def test_the_work_grows_with_the_bundle_not_with_opinions_times_identities() -> None:
    """Twice the opinions and identities, about twice the calls (20,000 of each did not finish
    in 300 s when every opinion rebuilt the map of names; bench/stix_import.py times it)."""
    small, large = calls(opinions_about_identities(300)), calls(opinions_about_identities(600))
    assert large / small < 2.3, (small, large)
