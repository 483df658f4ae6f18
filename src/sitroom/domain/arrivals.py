"""The ``arrivals`` projection: how many records the log took at each millisecond, by compartment.

The dashboard's timeline (and its as-of slider's range) is the log's arrivals over time, cut
into equal buckets from the first record a reader may see to the moment asked about. The
buckets' width depends on that span, so the state keeps arrivals at the clock's own resolution
— records per millisecond of recorded wall time (the hybrid clock's high bits) — and any
bucketing of it is exact. A bulk ingest stamps 50,000 records within a millisecond or two, so
the state grows with the appends, not with the records: a million-event room holds some
hundreds of entries.

Per compartment, so a reader's timeline leaves out what they may not see
(:meth:`ArrivalsProjection.restrict`): ``{compartment: [(walls, counts), ...]}``, runs of
numpy arrays, each run's walls ascending. A live append adds a run of one or a few entries;
runs are merged as they pile up, the newest into the one before it while it is at least half
its size, so there are a logarithmic number of them and each entry is merged a logarithmic
number of times.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import orjson

from sitroom.domain import hlc
from sitroom.domain.map_cells import by_compartment
from sitroom.domain.projection import Sees, keep
from sitroom.domain.records import RecordBatch

Run = tuple[np.ndarray, np.ndarray]  # walls (ms, ascending, distinct), records at each


def _count(walls: np.ndarray, counts: np.ndarray | None = None) -> Run:
    """Distinct walls ascending, with the records at each (one each when ``counts`` is None)."""
    distinct, where = np.unique(walls, return_inverse=True)
    weights = None if counts is None else counts
    summed = np.bincount(where, weights=weights, minlength=len(distinct))
    return distinct.astype(np.int64), summed.astype(np.int64)


def _add(runs: list[Run], run: Run) -> None:
    runs.append(run)
    while len(runs) > 1 and 2 * len(runs[-1][0]) >= len(runs[-2][0]):
        (w1, n1), (w2, n2) = runs.pop(), runs.pop()
        runs.append(_count(np.concatenate([w2, w1]), np.concatenate([n2, n1])))


def merged(runs: list[Run]) -> Run:
    """The runs of one or several compartments as one."""
    if not runs:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    if len(runs) == 1:
        return runs[0]
    return _count(np.concatenate([w for w, _ in runs]), np.concatenate([n for _, n in runs]))


class ArrivalsProjection:
    name = "arrivals"
    version = 1
    kinds: tuple[str, ...] | None = None

    def initial(self) -> dict[str, list[Run]]:
        return {}

    def apply(self, state: dict[str, list[Run]], batch: RecordBatch) -> dict[str, list[Run]]:
        if not len(batch):
            return state
        for compartment, part in by_compartment(batch):
            times = part.column("recorded_time").to_numpy()
            walls = np.asarray(times, dtype=np.int64) >> hlc.COUNTER_BITS
            _add(state.setdefault(compartment, []), _count(walls))
        return state

    def restrict(self, state: dict[str, list[Run]], sees: Sees) -> dict[str, list[Run]]:
        """The arrivals of the compartments a reader may see only (a run is never changed in
        place, so the runs are shared; their lists are not)."""
        return {c: list(runs) for c, runs in keep(state, lambda c, _: sees(c)).items()}

    def held(self, state: dict[str, list[Run]]) -> int:
        return sum(len(w) for runs in state.values() for w, _ in runs)

    def encode(self, state: dict[str, list[Run]]) -> bytes:
        names = sorted(state)
        arrays: dict[str, Any] = {}
        for i, c in enumerate(names):
            arrays[f"w{i}"], arrays[f"n{i}"] = merged(state[c])
        out = io.BytesIO()
        np.savez_compressed(out, names=np.frombuffer(orjson.dumps(names), np.uint8), **arrays)
        return out.getvalue()

    def decode(self, data: bytes) -> dict[str, list[Run]]:
        with np.load(io.BytesIO(data), allow_pickle=False) as arrays:
            names = orjson.loads(arrays["names"].tobytes())
            return {c: [(arrays[f"w{i}"], arrays[f"n{i}"])] for i, c in enumerate(names)}
