"""The dashboard's two projections, ``map`` (events per 1-degree cell, QuadClass, compartment and
source) and ``arrivals`` (records per millisecond of recorded time, per compartment): folding a
run of records in one batch or cut anywhere into many, through a snapshot or not, gives one
state."""

from __future__ import annotations

import itertools
from collections import Counter
from typing import Any

import numpy as np
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from sitroom.domain import hlc
from sitroom.domain.arrivals import ArrivalsProjection, merged
from sitroom.domain.kinds import ACLED_EVENT, GDELT_EVENT, UCDP_EVENT
from sitroom.domain.map_cells import MapProjection
from sitroom.domain.map_cells import parts as map_parts
from sitroom.domain.records import Record, RecordBatch

MAP, ARRIVALS = MapProjection(), ArrivalsProjection()
COORD = st.none() | st.floats(-90, 90) | st.sampled_from([-0.5, 0.0, 33.999, -180.0, 179.99])


@st.composite
def records(draw: st.DrawFn) -> list[Record]:
    n = draw(st.integers(0, 150))
    wall = 1_700_000_000_000
    out = []
    for i in range(n):
        kind = draw(st.sampled_from([GDELT_EVENT, UCDP_EVENT, ACLED_EVENT, "track.status"]))
        lat, lon = draw(COORD), draw(COORD)
        place = {"lat": lat, "lon": lon}
        payload: dict[str, Any] = {
            GDELT_EVENT: {
                "action_geo": place,
                "event": {"quad_class": draw(st.none() | st.integers(1, 4))},
            },
            UCDP_EVENT: {"location": place},
            ACLED_EVENT: {
                "location": place,
                "event_type": draw(st.sampled_from(["Riots", "Other"])),
            },
        }.get(kind, {"n": i})
        wall += draw(st.sampled_from([0, 0, 1, 7, 3_600_000]))  # many records share a ms
        t = draw(st.none() | st.integers(0, 10**12))
        out.append(
            Record(
                id=f"r:{i}",
                kind=kind,
                kind_version=1,
                source=draw(st.sampled_from(["gdelt-v1", "gdelt-v2", "ucdp-ged", "acled"])),
                payload=payload,
                valid_from=t,
                valid_to=t,
                compartment=draw(st.sampled_from(["", "", "", "t1", "t1+t2"])),
                recorded_time=hlc.pack(wall, i),
                seq=i + 1,
            )
        )
    return out


def fold(projection: Any, batches: list[RecordBatch], snapshot_after: int | None) -> Any:
    state = projection.initial()
    for i, b in enumerate(batches):
        part = b if projection.kinds is None else b.of_kinds(projection.kinds)
        state = projection.apply(state, part)
        if i == snapshot_after:
            state = projection.decode(projection.encode(state))
    return state


def arrivals(state: dict[str, Any]) -> dict[str, tuple[list[int], list[int]]]:
    out = {}
    for c, runs in state.items():
        w, n = merged(runs)
        out[c] = (w.tolist(), n.tolist())
    return out


@settings(max_examples=60, deadline=None)
@given(records(), st.lists(st.integers(0, 150), max_size=8), st.integers(-1, 8))
def test_one_batch_or_many_folds_to_one_state(
    rows: list[Record], cuts: list[int], snapshot_after: int
) -> None:
    whole = RecordBatch.from_records(rows)
    bounds = sorted({0, len(rows), *(c for c in cuts if c <= len(rows))})
    parts = [whole.slice(lo, hi - lo) for lo, hi in itertools.pairwise(bounds)]
    one_map, one_arrivals = fold(MAP, [whole], None), fold(ARRIVALS, [whole], None)
    assert fold(MAP, parts, snapshot_after) == one_map
    assert arrivals(fold(ARRIVALS, parts, snapshot_after)) == arrivals(one_arrivals)
    # And the state says what the records say, of each compartment and source.
    events = [r for r in rows if r.kind != "track.status"]
    assert sum(p["events"] for p in map_parts(one_map)) == len(events)
    held = {
        (c, src): p["events"]
        for c, by_source in one_map["compartments"].items()
        for src, p in by_source.items()
    }
    assert held == Counter((r.compartment, r.source) for r in events)
    assert sum(n for _, (_, ns) in arrivals(one_arrivals).items() for n in ns) == len(rows)


def test_a_reader_sees_the_counts_of_their_compartments_only() -> None:
    rows = [
        Record(
            id=f"e:{i}",
            kind=UCDP_EVENT,
            kind_version=1,
            source="test",
            payload={"location": {"lat": 33.5, "lon": 35.5}},
            valid_from=i,
            compartment=c,
            recorded_time=hlc.pack(1000 + i),
        )
        for i, c in enumerate(["", "", "t1", "t1+t2"])
    ]
    batch = RecordBatch.from_records(rows)
    state, times = MAP.apply(MAP.initial(), batch), ARRIVALS.apply(ARRIVALS.initial(), batch)
    mine = MAP.restrict(state, lambda c: c in ("", "t1"))
    assert sorted(mine["compartments"]) == ["", "t1"]
    assert mine["compartments"][""]["test"]["cells"] == {(33, 35, 4): 2}
    assert sorted(ARRIVALS.restrict(times, lambda c: c == "")) == [""]
    # Restricting copies: the live state keeps every compartment.
    assert sorted(state["compartments"]) == ["", "t1", "t1+t2"] and len(times) == 3


def test_a_bulk_ingest_holds_a_few_entries_not_one_per_record() -> None:
    """A typed batch of 50,000 events stamped within a few milliseconds, as the bulk path
    appends them: the arrivals are a handful of entries; every event is in a cell."""
    n = 50_000
    rng = np.random.default_rng(3)
    batch = RecordBatch.from_columns(
        id=[f"g:{i}" for i in range(n)],
        kind=GDELT_EVENT,
        kind_version=1,
        source="gdelt",
        compartment="",
        valid_from=np.zeros(n, np.int64),
        valid_to=np.zeros(n, np.int64),
        recorded_time=hlc.pack(1_700_000_000_000) + np.arange(n) * 64,
        payload=pa.array(
            [
                {"action_geo": {"lat": float(a), "lon": float(b)}, "event": {"quad_class": 1}}
                for a, b in zip(rng.uniform(-60, 60, n), rng.uniform(-170, 170, n), strict=True)
            ]
        ),
    )
    times = ARRIVALS.apply(ARRIVALS.initial(), batch)
    assert ARRIVALS.held(times) == 4  # 50,000 x 64 counter steps span four milliseconds
    state = MAP.apply(MAP.initial(), batch)
    part = state["compartments"][""]["gdelt"]
    assert part["events"] == n and part["unplaced"] == 0
    assert sum(part["cells"].values()) == n and MAP.held(state) == len(part["cells"]) > 1000
    assert MAP.decode(MAP.encode(state)) == state
