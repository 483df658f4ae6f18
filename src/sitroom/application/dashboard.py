"""The reads only the dashboard needs: events counted in grid cells by QuadClass, of the
sources a user chooses (a map never ships a million points), the tracks' venues with their
radius rings, the log's arrivals over time (the as-of slider's range), and a few records by id
(an alert's evidence).

The map and the timeline are read from projections (``map``: domain/map_cells.py,
``arrivals``: domain/arrivals.py), so an answer as of any moment is the engine's nearest
snapshot and a short tail, never a scan of every event; only a map of a valid-time window or
of cells finer than a degree counts the events themselves (:func:`scan_cells`).

Each is as of a moment and scoped to what the session's user may see, like every read of the
room, and answers with its provenance.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from sitroom.application.results import Answer
from sitroom.application.session import AsOf, Session
from sitroom.domain import hlc
from sitroom.domain.arrivals import merged
from sitroom.domain.events import EVENT_KINDS, event_frame
from sitroom.domain.kinds import QUAD_CLASS_NAMES
from sitroom.domain.map_cells import FACTS, parts, placed_expr
from sitroom.domain.places import find_place
from sitroom.domain.provenance import Provenance
from sitroom.domain.records import ENVELOPE
from sitroom.domain.timeutil import iso
from sitroom.errors import UserInputError

VENUE_RADIUS_MI = 500
MAX_IDS = 200
Box = tuple[float, float, float, float]  # south, west, north, east, degrees
# [lat of the cell's south edge, lon of its west edge, quad class (0: none), count]
Cells = tuple[tuple[float, float, int, int], ...]
# events, unplaced, newest valid_from, cells (of the sources shown); every source's events
Counted = tuple[int, int, int | None, Cells, dict[str, int]]


@dataclass(frozen=True, kw_only=True)
class MapCells(Answer):
    cell_deg: float
    events: int  # every event of the sources shown, placed or not
    unplaced: int  # those without a place (not in any cell)
    quad_classes: dict[str, str]  # "1" -> "Verbal Cooperation"...
    # [lat of the cell's south edge, lon of its west edge, quad class (0: none), count]
    cells: tuple[tuple[float, float, int, int], ...]
    venues: tuple[dict[str, Any], ...]
    # Every source's events as of the moment, shown or not (the record's ``source``: GDELT
    # 1.0 and 2.0 are two); the counts above are of the sources ``shown`` only.
    sources: dict[str, int]
    shown: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class Timeline(Answer):
    first: str | None  # the first record this user may see was recorded then
    last: str | None
    bucket_ms: int
    counts: tuple[int, ...]  # records recorded in each bucket from ``first``


@dataclass(frozen=True, kw_only=True)
class Records(Answer):
    records: tuple[dict[str, Any], ...]  # as `sitroom export` writes them
    missing: tuple[str, ...]  # ids asked for that this user cannot see, or that do not exist


def box(text: str) -> Box:
    """A bounding box as people type it: ``south,west,north,east`` in degrees."""
    try:
        south, west, north, east = (float(x) for x in text.split(","))
    except ValueError:
        raise UserInputError(f"a box is south,west,north,east in degrees, not {text!r}") from None
    return south, west, north, east


def source_names(text: str) -> tuple[str, ...]:
    """The sources a map shows, as people type them: ``a,b``."""
    names = tuple(dict.fromkeys(x.strip() for x in text.split(",") if x.strip()))
    if not names:
        raise UserInputError("name one or more sources (a,b), or leave sources out for all")
    return names


def map_cells(
    s: Session,
    *,
    as_of_ms: int | None = None,
    since_ms: int | None = None,
    until_ms: int | None = None,
    cell_deg: float = 1.0,
    bbox: Box | None = None,
    sources: Sequence[str] | None = None,
) -> MapCells:
    """Events known as of a moment, counted per ``cell_deg`` cell and QuadClass (``bbox``: only
    the cells that overlap it; the totals stay those of the whole map), of ``sources`` only
    (None: of every source; the events of each source are counted in ``sources`` either way)."""
    if not 0.1 <= cell_deg <= 30:
        raise UserInputError(f"a cell is 0.1 to 30 degrees wide, not {cell_deg}")
    if since_ms is not None and until_ms is not None and until_ms <= since_ms:
        raise UserInputError("the end of the window must be after its start")
    if bbox is not None and not (bbox[0] <= bbox[2] and bbox[1] <= bbox[3]):
        raise UserInputError("a box is south,west,north,east, its south <= north, west <= east")
    chosen = None if sources is None else frozenset(sources)
    at = s.at(as_of_ms)
    window = None if since_ms is None and until_ms is None else (since_ms, until_ms)
    if window is None and float(cell_deg).is_integer():
        # The map projection's 1-degree cells nest in any grid of whole degrees.
        states = s.states(["map", "tracks"], at)
        _known(s, states["map"], chosen)
        counted = _projected(states["map"], int(cell_deg), chosen)
        tracks = states["tracks"]
        then = sum(counted[4].values())  # every source's: the projection's count at ``at``
        provenance = _provenance(s, at, counted[2], EVENT_KINDS, "map", then)
    else:
        # A window of valid time, or cells finer than a degree: the counts are not held, so
        # they are made from the events (the page asks for neither).
        _known(s, None, chosen)
        counted = scan_cells(s, at, window, cell_deg, chosen)
        tracks = s.state("tracks", at)
        provenance = s.provenance(at, counted[2], EVENT_KINDS)
    total, unplaced, _, cells, by_source = counted
    if bbox is not None:
        south, west, north, east = bbox
        cells = tuple(
            c
            for c in cells
            if c[0] <= north and c[0] + cell_deg > south and c[1] <= east and c[1] + cell_deg > west
        )
    return MapCells(
        cell_deg=cell_deg,
        events=total,
        unplaced=unplaced,
        quad_classes={str(k): v for k, v in QUAD_CLASS_NAMES.items()},
        cells=cells,
        venues=_venues(tracks),
        sources=by_source,
        shown=tuple(sorted(by_source if chosen is None else chosen)),
        provenance=provenance,
    )


def _known(s: Session, then: dict[str, Any] | None, chosen: frozenset[str] | None) -> None:
    """Refuse a source no event this user may see has come from. Known as of now, not of the
    moment asked: a source that began later is no mistake there, only empty."""
    if chosen is None:
        return
    known = set() if then is None else _sources(then)
    if chosen <= known:
        return
    known |= _sources(s.state("map"))
    unknown = sorted(chosen - known)
    if unknown:
        have = ", ".join(sorted(known)) or "none yet"
        raise UserInputError(f"no events from source {unknown[0]!r} (the sources: {have})")


def _sources(state: dict[str, Any]) -> set[str]:
    return {src for by_source in state["compartments"].values() for src in by_source}


def _provenance(
    s: Session, at: AsOf, newest: int | None, kinds: Sequence[str] | None, name: str, then: int
) -> Provenance:
    """:meth:`Session.provenance` of an answer as of ``at`` read from projection ``name``,
    which held ``then`` records of ``kinds`` (as this user sees them) at ``at``. The records
    recorded since are its live total less ``then``: a user's count of them is otherwise a read
    of every record since (half a million, a second, for the slider at the middle of a large
    room), as they are filtered by clearance one by one."""
    if at.seq >= s.last_seq():
        return s.provenance(at, newest, kinds)
    now = s.state(name)
    total = _events(now) if name == "map" else int(merged(_runs(now))[1].sum())
    return Provenance(at.wall, at.seq, newest, total - then, s.hidden(at, kinds))


def _events(state: dict[str, Any]) -> int:
    return sum(int(p["events"]) for p in parts(state))


def _runs(state: dict[str, Any]) -> list[Any]:
    return [run for runs in state.values() for run in runs]


def _projected(state: dict[str, Any], k: int, chosen: frozenset[str] | None = None) -> Counted:
    """Events, unplaced, newest and cells of ``k`` whole degrees of the ``chosen`` sources
    (None: all), and every source's events, from the ``map`` projection's state (restricted to
    the reader: every compartment in it is one they see)."""
    by_source: dict[str, int] = {}
    shown: list[dict[str, Any]] = []
    for part in state["compartments"].values():
        for src, p in part.items():
            by_source[src] = by_source.get(src, 0) + p["events"]
            if chosen is None or src in chosen:
                shown.append(p)
    total = sum(p["events"] for p in shown)
    unplaced = sum(p["unplaced"] for p in shown)
    newest = max((p["newest"] for p in shown if p["newest"] is not None), default=None)
    summed: dict[tuple[int, int, int], int] = {}
    if k == 1 and len(shown) == 1:
        summed = shown[0]["cells"]
    else:
        for p in shown:
            for (lat, lon, q), n in p["cells"].items():
                key = (lat // k * k, lon // k * k, q)
                summed[key] = summed.get(key, 0) + n
    cells = tuple((float(lat), float(lon), q, n) for (lat, lon, q), n in sorted(summed.items()))
    return total, unplaced, newest, cells, dict(sorted(by_source.items()))


def scan_cells(
    s: Session,
    at: AsOf,
    window: tuple[int | None, int | None] | None,
    cell_deg: float,
    chosen: frozenset[str] | None = None,
) -> Counted:
    """The same counts made from every event the reader may see by ``at`` (overlapping
    ``window`` in valid time, if given): what the ``map`` projection holds, for any grid."""
    import polars as pl

    total, unplaced, newest = 0, 0, None
    by_source: dict[str, int] = {}
    frames: list[pl.DataFrame] = []
    for batch in s.read(upto_seq=at.seq, kinds=list(EVENT_KINDS), valid_overlaps=window):
        frame = event_frame(batch, FACTS)
        for src, n in frame.group_by("source").len().iter_rows():
            by_source[src] = by_source.get(src, 0) + n
        if chosen is not None:
            frame = frame.filter(pl.col("source").is_in(list(chosen)))
        total += frame.height
        top = frame["valid_from"].max()
        if isinstance(top, int) and (newest is None or top > newest):
            newest = top
        placed = frame.filter(placed_expr())
        unplaced += frame.height - placed.height
        frames.append(
            placed.select(
                ((pl.col("lat") / cell_deg).floor() * cell_deg).alias("lat"),
                ((pl.col("lon") / cell_deg).floor() * cell_deg).alias("lon"),
                pl.col("quad_class").fill_null(0).cast(pl.Int64).alias("quad_class"),
            )
            .group_by("lat", "lon", "quad_class")
            .len()
        )
    cells: tuple[tuple[float, float, int, int], ...] = ()
    if frames:
        summed = (
            pl.concat(frames)
            .group_by("lat", "lon", "quad_class")
            .agg(pl.col("len").sum())
            .sort("lat", "lon", "quad_class")
        )
        cells = tuple(
            (round(lat, 4), round(lon, 4), int(q), int(n)) for lat, lon, q, n in summed.iter_rows()
        )
    return total, unplaced, newest, cells, dict(sorted(by_source.items()))


def _venues(state: dict[str, Any]) -> tuple[dict[str, Any], ...]:
    """The venues in the ``tracks`` state (of the tracks a user may see), where the room knows
    the place."""
    resources = state.get("resources", {})
    out = []
    for tid, t in sorted(state["tracks"].items()):
        venue = t.get("venue") or {}
        name = venue.get("name") if isinstance(venue, dict) else str(venue)
        if not name:
            continue
        where = find_place(name)
        held = resources.get(name) or {}
        if where is None and isinstance(held, dict) and held.get("location"):
            where = find_place(str(held["location"]))
        if where is None:
            continue
        out.append(
            {
                "track": tid,
                "name": t.get("name", tid),
                "venue": name,
                "lat": where.lat,
                "lon": where.lon,
                "radius_mi": VENUE_RADIUS_MI,
            }
        )
    return tuple(out)


def timeline(s: Session, *, as_of_ms: int | None = None, buckets: int = 48) -> Timeline:
    """How many records this user may see arrived in each of ``buckets`` equal spans, from the
    first one to the last (or to the as-of moment, when one is asked for): the as-of slider's
    range and what it moves through — not to now, or a room replayed on a virtual clock (the
    demo's, in 2019) would sit in the slider's first hundredth. Read from the ``arrivals``
    projection (records per millisecond), so any bucketing is exact."""
    import numpy as np

    if not 1 <= buckets <= 1000:
        raise UserInputError(f"a timeline has 1 to 1000 buckets, not {buckets}")
    at = s.at(as_of_ms)
    walls, counts = merged(_runs(s.state("arrivals", at)))
    provenance = _provenance(s, at, None, None, "arrivals", int(counts.sum()))
    if not len(walls):
        return Timeline(first=None, last=None, bucket_ms=0, counts=(), provenance=provenance)
    first, last = int(walls[0]), int(walls[-1])
    if as_of_ms is not None:
        last = max(last, at.wall)
    width = max(1, math.ceil((last - first + 1) / buckets))
    per = np.bincount((walls - first) // width, weights=counts, minlength=buckets)[:buckets]
    return Timeline(
        first=iso(first),
        last=iso(last),
        bucket_ms=width,
        counts=tuple(int(c) for c in per),
        provenance=provenance,
    )


def records(s: Session, ids: Sequence[str], *, as_of_ms: int | None = None) -> Records:
    """The records of ``ids`` this user may see, as ``sitroom export`` writes them."""
    if not ids or len(ids) > MAX_IDS:
        raise UserInputError(f"ask for 1 to {MAX_IDS} records by id, not {len(ids)}")
    at = s.at(as_of_ms)
    out: list[dict[str, Any]] = []
    for batch in s.read(upto_seq=at.seq, ids=list(ids)):
        envelopes = batch.table.select(list(ENVELOPE)).to_pylist()
        for env, payload in zip(envelopes, batch.payload_json().to_pylist(), strict=True):
            env["recorded_at"] = iso(hlc.wall_ms(env["recorded_time"]))
            env["payload"] = orjson.loads(payload)
            out.append(env)
    seen = {r["id"] for r in out}
    newest = max((r["valid_from"] for r in out if r.get("valid_from")), default=None)
    return Records(
        records=tuple(out),
        missing=tuple(i for i in ids if i not in seen),
        provenance=s.provenance(at, newest, None),
    )
