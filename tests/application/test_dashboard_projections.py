"""The dashboard's map and timeline, read from the ``map`` and ``arrivals`` projections, answer
what a scan of every record answered before them: on the shipped GDELT and UCDP samples, as of
moments between ingests (so rebuilt from a snapshot and a tail), for the site, for a user
cleared for a marking and one who is not."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest

import sitroom
from sitroom.application import dashboard
from sitroom.application.session import Session
from sitroom.domain import hlc
from sitroom.domain.kinds import UCDP_EVENT
from sitroom.domain.timeutil import iso
from sitroom.errors import UserInputError
from sitroom.testing import T0, ManualClock

from conftest import UCDP_FILE, V2_FILES
from helpers import PASS

MARKING = "TLP:RED"
HOUR = 3_600_000
# After the first GDELT file, after UCDP, after the marked events, after everything; and
# before anything was ingested.
MOMENTS = [T0 + 30 * 60_000, T0 + HOUR + 1, T0 + 2 * HOUR + 1, T0 + 3 * HOUR + 1, T0 - 1]


@pytest.fixture(scope="module")
def room(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("dash") / "room"
    clock = ManualClock(T0)
    with sitroom.init(path, clock=clock) as r:
        r.engine.snapshot_every = 1_000  # so an as-of read starts from a snapshot
        r.users.add("alice", role="admin", passphrase=PASS)
        r.users.add("dana", passphrase=PASS)
        r.users.grant("alice", MARKING)
        r.ingest.feeds("gdelt", [str(V2_FILES[0])])
        clock.set(T0 + HOUR)
        r.ingest.feeds("ucdp", [str(UCDP_FILE)])
        clock.set(T0 + 2 * HOUR)
        # The samples have no compartment: some of their events again, marked.
        marked = [
            dataclasses.replace(e, id=f"marked:{e.id}", compartment=MARKING, seq=None)
            for e in r.session.records(kinds=[UCDP_EVENT])[:120]
        ]
        r.session.append(marked)
        clock.set(T0 + 3 * HOUR)
        r.ingest.feeds("gdelt", [str(p) for p in V2_FILES[1:]])
        assert r.engine.log.load_snapshot("map", 2, r.session.last_seq()) is not None
    return path


def scanned_timeline(s: Session, as_of_ms: int | None, buckets: int) -> dashboard.Timeline:
    """The timeline as it was made before the ``arrivals`` projection: from every record."""
    at = s.at(as_of_ms)
    times = [
        np.asarray(b.column("recorded_time").to_numpy(zero_copy_only=False), dtype=np.int64)
        for b in s.read(upto_seq=at.seq)
    ]
    if not times:
        return dashboard.Timeline(
            first=None, last=None, bucket_ms=0, counts=(), provenance=s.provenance(at, None, None)
        )
    walls = np.concatenate(times) >> hlc.COUNTER_BITS
    first, last = int(walls.min()), int(walls.max())
    if as_of_ms is not None:
        last = max(last, at.wall)
    width = max(1, math.ceil((last - first + 1) / buckets))
    counts = np.bincount((walls - first) // width, minlength=buckets)[:buckets]
    return dashboard.Timeline(
        first=iso(first),
        last=iso(last),
        bucket_ms=width,
        counts=tuple(int(c) for c in counts),
        provenance=s.provenance(at, None, None),
    )


@pytest.mark.parametrize("user", [None, "alice", "dana"])
def test_the_map_and_timeline_answer_what_a_scan_of_every_record_did(
    room: Path, user: str | None
) -> None:
    clock = ManualClock(T0 + 4 * HOUR)  # "now" stands still while both answers are made
    with sitroom.open(room, user=user or "alice", proof=PASS, clock=clock) as r:
        s = Session.site(r.engine) if user is None else r.session
        seen = []
        for t in [*MOMENTS, None]:
            answer = dashboard.map_cells(s, as_of_ms=t)
            at = s.at(t)
            events, unplaced, newest, cells, sources = dashboard.scan_cells(s, at, None, 1.0)
            assert (answer.events, answer.unplaced, answer.cells) == (events, unplaced, cells)
            assert answer.sources == sources and answer.shown == tuple(sources)
            assert answer.provenance == s.provenance(at, newest, dashboard.EVENT_KINDS)
            coarse = dashboard.map_cells(s, as_of_ms=t, cell_deg=5)
            assert coarse.cells == dashboard.scan_cells(s, at, None, 5.0)[3]
            # One source: its events only, the same from the projection as from the scan,
            # and every source still counted.
            one = dashboard.map_cells(s, as_of_ms=t, cell_deg=5, sources=["ucdp-ged"])
            scanned = dashboard.scan_cells(s, at, None, 5.0, frozenset(["ucdp-ged"]))
            assert (one.events, one.unplaced, one.cells, one.sources) == (
                scanned[0],
                scanned[1],
                scanned[3],
                scanned[4],
            )
            assert one.events == sources.get("ucdp-ged", 0) and one.shown == ("ucdp-ged",)
            assert one.provenance == s.provenance(at, scanned[2], dashboard.EVENT_KINDS)
            for buckets in (1, 48, 96, 1000):
                assert dashboard.timeline(s, as_of_ms=t, buckets=buckets) == scanned_timeline(
                    s, t, buckets
                )
            seen.append(answer.events)
        # The moments do show different rooms: nothing, then more and more events.
        assert seen[-2] == 0 and seen[0] < seen[1] < seen[3] == seen[-1]
        assert set(answer.sources) == {"gdelt-v2", "ucdp-ged"}
        # The sources add up to the whole map, each one's cells what the scan counts.
        parts = [dashboard.map_cells(s, sources=[src]) for src in answer.sources]
        assert sum(p.events for p in parts) == answer.events
        both = dashboard.map_cells(s, sources=list(answer.sources))
        assert (both.events, both.cells) == (answer.events, answer.cells)
        marked = seen[2] - seen[1]
        assert marked == (0 if user == "dana" else 120)
        if user == "dana":
            assert answer.provenance.hidden == 120


def test_a_box_keeps_the_cells_that_overlap_it_and_a_window_counts_from_the_events(
    room: Path,
) -> None:
    with sitroom.open(room, user="alice", proof=PASS) as r:
        s = r.session
        whole = dashboard.map_cells(s)
        # A window counts from the events, of the sources chosen as well.
        ucdp = dashboard.map_cells(s, since_ms=0, sources=["ucdp-ged"])
        assert ucdp.events == whole.sources["ucdp-ged"] and ucdp.sources == whole.sources
        with pytest.raises(UserInputError, match="no events from source 'gdelt-v9'"):
            dashboard.map_cells(s, sources=["ucdp-ged", "gdelt-v9"])
        with pytest.raises(UserInputError, match="no events from source 'nope'"):
            dashboard.map_cells(s, since_ms=0, sources=["nope"])
        with pytest.raises(UserInputError, match="name one or more sources"):
            dashboard.source_names(" , ")
        assert dashboard.source_names("acled, ucdp-ged,acled") == ("acled", "ucdp-ged")
        # A source known now is no mistake as of before it began: only empty.
        early = dashboard.map_cells(s, as_of_ms=T0 + 30 * 60_000, sources=["ucdp-ged"])
        assert early.events == 0 and early.cells == () and "ucdp-ged" not in early.sources
        levant = dashboard.map_cells(s, bbox=(29.5, 34.0, 37.5, 42.0))
        assert levant.events == whole.events and 0 < len(levant.cells) < len(whole.cells)
        assert {c for c in whole.cells if 29 <= c[0] <= 37 and 34 <= c[1] <= 42} == set(
            levant.cells
        )
        # Half-degree cells and valid-time windows are not held: counted from the events.
        fine = dashboard.map_cells(s, cell_deg=0.5)
        assert sum(c[3] for c in fine.cells) == whole.events - whole.unplaced
        late = dashboard.map_cells(s, since_ms=T0 + 10**12)
        assert late.events == 0 and late.cells == ()
