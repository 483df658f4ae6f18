"""Both strategies of every small-batch fold primitive give the same answers: the Python one for
the few records of a live append, the polars one for bulk batches. Each check folds the same
batch with the threshold moved so that one, then the other strategy runs."""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any
from unittest import mock

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sitroom.domain import smallbatch
from sitroom.domain.events import ACLED_QUAD, event_columns, event_frame
from sitroom.domain.kinds import ACLED_EVENT, ALERT, GDELT_EVENT, QUARANTINED, UCDP_EVENT
from sitroom.domain.map_cells import MapProjection
from sitroom.domain.records import Record, RecordBatch
from sitroom.domain.risk.arrivals import Arrivals, conflict_events
from sitroom.domain.sources import OVERDUE, SourcesProjection
from sitroom.domain.summary import SummaryProjection

KINDS = (GDELT_EVENT, UCDP_EVENT, ACLED_EVENT, ALERT, QUARANTINED, "source.declared", "forecast")


@contextlib.contextmanager
def strategy(python: bool) -> Iterator[None]:
    with mock.patch.object(smallbatch, "SMALL_ROWS", 10**9 if python else -1):
        yield


def both(f: Callable[[], Any]) -> tuple[Any, Any]:
    with strategy(python=True):
        rows = f()
    with strategy(python=False):
        columns = f()
    return rows, columns


# -- random batches ---------------------------------------------------------------------------

LEAVES = {
    "lat": "float",
    "lon": "float",
    "goldstein": "float",
    "quad_class": "int",
    "best": "int",
    "fatalities": "int",
    "country_iso": "str",
    "country": "str",
    "name": "str",
    "event_type": "str",
    "detector": "str",
}
TEXT = st.text(alphabet=st.sampled_from('aZü–"\\ /{}1'), max_size=6)


def leaf(kind: str, odd: bool) -> st.SearchStrategy[Any]:
    plain: dict[str, st.SearchStrategy[Any]] = {
        # Long decimals included: JSON floats are where readers differ.
        "float": st.floats(-200, 200, allow_nan=False) | st.integers(-180, 180),
        "int": st.integers(-5, 6) | st.sampled_from([3, 4, 2**62]),
        "str": TEXT | st.sampled_from([*ACLED_QUAD, "risk", "LBN", ""]),
    }
    values = st.none() | plain[kind]
    if odd:  # what the Python strategy must hand to polars
        values |= st.booleans() | st.just({"x": 1}) | st.just([1]) | st.just("4") | st.just(4.0)
    return values


def payload(kind: str, odd: bool) -> st.SearchStrategy[dict[str, Any]]:
    def obj(**fields: str) -> st.SearchStrategy[dict[str, Any]]:
        return st.fixed_dictionaries(
            {}, optional={k: leaf(LEAVES[v], odd) for k, v in fields.items()}
        )

    def nested(**parts: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
        return st.fixed_dictionaries({}, optional=parts)

    place = obj(lat="lat", lon="lon", country_iso="country_iso", country="country")
    named = obj(name="name")
    shapes = {
        GDELT_EVENT: nested(
            action_geo=place,
            event=obj(quad_class="quad_class", goldstein="goldstein"),
            actor1=obj(country="country"),
            actor2=obj(country="country"),
        ),
        UCDP_EVENT: nested(
            location=place,
            side_a=named,
            side_b=named,
            fatalities=obj(best="best"),
            conflict=named,
        ),
        ACLED_EVENT: nested(
            location=place,
            event_type=leaf("str", odd),
            actor1=named,
            actor2=named,
            fatalities=leaf("int", odd),
        ),
        ALERT: nested(detector=leaf("str", odd)),
    }
    return shapes.get(kind, st.fixed_dictionaries({"n": st.integers(-1000, 1000)}))


@st.composite
def batches(draw: st.DrawFn, max_size: int = 80) -> RecordBatch:
    odd = draw(st.booleans())
    n = draw(st.integers(0, max_size))
    records = []
    for i in range(n):
        kind = draw(st.sampled_from(KINDS))
        p = draw(payload(kind, odd))
        if kind == "source.declared":
            p = {"source": draw(st.sampled_from("ab")), "cadence_ms": 900_000, "title": "t"}
        if kind == ALERT and draw(st.booleans()):
            p = {"detector": OVERDUE, "detail": {"source": "a", "last_arrival": i}}
        t = draw(st.none() | st.integers(0, 5))  # ties: which record is "newest" matters
        records.append(
            Record(
                id=f"r:{i}",
                kind=kind,
                kind_version=1,
                source=draw(st.sampled_from(["a", "b", "sitroom"])),
                compartment=draw(st.sampled_from(["", "", "t1"])),
                payload=p,
                valid_from=t,
                valid_to=t,
                recorded_time=1000 + i,
            )
        )
    batch = RecordBatch.from_records(records)
    return batch.parsed() if draw(st.booleans()) else batch


def typed(kind: str, n: int, seed: int) -> RecordBatch:
    """A typed (struct) payload batch, as a connector writes: one type per field."""
    rng = np.random.default_rng(seed)
    lat = rng.uniform(-90, 90, n)
    payloads = [
        {
            "action_geo": {
                "lat": None if i % 7 == 0 else float(lat[i]),
                "lon": float(lat[i] / 2),
                "country_iso": ["LBN", "SYR", None][i % 3],
            },
            "event": {"quad_class": int(rng.integers(1, 5)), "goldstein": -float(i)},
            "actor1": {"country": "ISR" if i % 2 else None},
            "actor2": {"country": None},
            "location": {"lat": float(lat[i]), "lon": 1.5, "country": "X", "country_iso": None},
            "side_a": {"name": f"side {i % 4}"},
            "fatalities": {"best": i % 5},
            "event_type": [*ACLED_QUAD, "Strategic developments"][i % 6],
        }
        for i in range(n)
    ]
    t = rng.integers(0, 50, n)
    return RecordBatch.from_columns(
        id=[f"t:{i}" for i in range(n)],
        kind=kind,
        kind_version=1,
        source=rng.choice(["a", "b"], n).tolist(),
        compartment="",
        valid_from=t,
        valid_to=t,
        recorded_time=np.arange(n),
        payload=pa.array(payloads),
    )


# -- the checks -------------------------------------------------------------------------------


def check_same(batch: RecordBatch) -> None:
    summary, sources = SummaryProjection(), SourcesProjection()
    a, b = both(lambda: summary.apply(summary.initial(), batch))
    assert a == b
    a, b = both(lambda: sources.apply(sources.initial(), batch))
    assert a == b
    cells = MapProjection()
    events = batch.of_kinds(cells.kinds or ())
    a, b = both(lambda: cells.apply(cells.initial(), events))
    assert a == b
    # ... counted by source too, as each strategy reads the records' sources.
    sources = Counter(
        zip(
            events.column("compartment").to_pylist(),
            events.column("source").to_pylist(),
            strict=True,
        )
    )
    held = {
        (c, src): p["events"] for c, part in a["compartments"].items() for src, p in part.items()
    }
    assert held == sources
    a, b = both(lambda: event_frame(batch))
    assert a.equals(b)
    a, b = both(lambda: conflict_events(batch))
    assert a.equals(b)
    a, b = both(lambda: Arrivals.of(batch))
    for field in ("valid_from", "lat", "lon", "quad_class", "fatalities"):
        assert np.array_equal(getattr(a, field), getattr(b, field)), field
        assert getattr(a, field).dtype == getattr(b, field).dtype, field
    assert a.id.tolist() == b.id.tolist() and a.source.tolist() == b.source.tolist()
    assert a.conflict.to_pylist() == b.conflict.to_pylist()
    t = batch.table
    a, b = both(lambda: smallbatch.count_by(t, ["kind", "source", "compartment"]))
    assert Counter(dict(a)) == Counter(dict(b))
    a, b = both(lambda: smallbatch.span(t, "valid_from", skip_kinds=(ALERT,)))
    assert a == b
    paths = ["detector", "event.quad_class", "action_geo.country_iso", "action_geo.lat"]
    a, b = both(lambda: smallbatch.value_counts(batch, paths))
    assert [Counter(dict(x)) for x in a] == [Counter(dict(x)) for x in b]
    a, b = both(
        lambda: smallbatch.newest_by(
            t, "source", "valid_from", last=["recorded_time", "id"], at_newest="id"
        )
    )
    assert {g["source"]: g for g in a} == {g["source"]: g for g in b}


@settings(max_examples=60, deadline=None)
@given(batches())
def test_both_strategies_fold_random_batches_alike(batch: RecordBatch) -> None:
    check_same(batch)


@settings(max_examples=30, deadline=None)
@given(batches(max_size=6))
def test_the_python_strategy_reads_plain_payloads_itself(batch: RecordBatch) -> None:
    """Strings, integers, floats and nulls never send a small batch to polars (the checks
    above would pass vacuously if they did)."""
    plain = RecordBatch.from_records(
        Record(**{**r.as_dict(), "payload": _plain(r.payload)}) for r in batch.rows()
    )
    assert event_columns(plain) is not None
    check_same(plain)


def _plain(p: Any) -> Any:
    """The payload without the odd values ``leaf`` mixes in."""
    if p == {"x": 1} or p == "4" or isinstance(p, bool | list) or (p == 4.0 and type(p) is float):
        return None
    return {k: _plain(v) for k, v in p.items()} if isinstance(p, dict) else p


@pytest.mark.parametrize("kind", [GDELT_EVENT, UCDP_EVENT, ACLED_EVENT])
@pytest.mark.parametrize("n", [0, 1, 17, 5000])
def test_both_strategies_agree_on_typed_and_large_batches(kind: str, n: int) -> None:
    """Typed payloads, and batches far beyond the threshold (the Python strategy forced)."""
    batch = typed(kind, n, seed=n)
    check_same(batch)
    check_same(batch.as_json())
    assert event_columns(batch) is None or n <= smallbatch.SMALL_ROWS


def test_a_large_mixed_batch_folds_alike() -> None:
    rng = np.random.default_rng(3)
    n = 3000
    kinds = rng.choice(KINDS, n)
    records = [
        Record(
            id=f"m:{i}",
            kind=str(k),
            kind_version=1,
            source=str(rng.choice(["a", "b", "c"])),
            payload=(
                {
                    "detector": str(rng.choice([OVERDUE, "risk"])),
                    "detail": {"source": "a", "last_arrival": i},
                }
                if k == ALERT
                else {
                    "action_geo": {"lat": float(rng.normal(33, 2)), "lon": 35.5},
                    "event": {"quad_class": int(rng.integers(1, 5))},
                }
            ),
            valid_from=int(rng.integers(0, 100)),
            valid_to=None,
            recorded_time=i,
        )
        for i, k in enumerate(kinds)
        if k != "source.declared"
    ]
    check_same(RecordBatch.from_records(records))


ODD = [True, False, {"x": 1}, [1], "4", "33.5", 4.0, 4.5, 2**63 - 1, -(2**63), 2**53 + 1, ""]
CLEAN = {
    GDELT_EVENT: {
        "action_geo": {"lat": 33.8, "lon": 35.5, "country_iso": "LBN"},
        "event": {"quad_class": 4, "goldstein": -10},
        "actor1": {"country": "ISR"},
        "actor2": {"country": "LBN"},
    },
    UCDP_EVENT: {
        "location": {"lat": 33.8, "lon": 35.5, "country_iso": "LBN", "country": "Lebanon"},
        "side_a": {"name": "A"},
        "side_b": {"name": "B"},
        "fatalities": {"best": 3},
        "conflict": {"name": "C"},
    },
    ACLED_EVENT: {
        "location": {"lat": 33.8, "lon": 35.5, "country_iso": "LBN", "country": "Lebanon"},
        "event_type": "Battles",
        "actor1": {"name": "A"},
        "actor2": {"name": "B"},
        "fatalities": 2,
    },
}
LEAF_PATHS = [
    (kind, path)
    for kind, p in CLEAN.items()
    for path in (
        [f"{k}.{c}" for k, v in p.items() if isinstance(v, dict) for c in v]
        + [k for k, v in p.items() if not isinstance(v, dict)]
    )
]


@pytest.mark.parametrize(("kind", "path"), LEAF_PATHS)
def test_every_odd_value_of_every_field_folds_alike(kind: str, path: str) -> None:
    """One unusual value at a time, where the Python strategy must hand over to polars (or,
    for the values it takes, convert exactly as polars casts)."""
    for odd in ODD:
        p = orjson_copy(CLEAN[kind])
        *parents, last = path.split(".")
        holder = p
        for part in parents:
            holder = holder[part]
        holder[last] = odd
        batch = RecordBatch.from_records(
            [Record(id="o:1", kind=kind, kind_version=1, source="a", payload=p, valid_from=1)]
        )
        check_same(batch)


def orjson_copy(p: dict[str, Any]) -> dict[str, Any]:
    return {k: dict(v) if isinstance(v, dict) else v for k, v in p.items()}
