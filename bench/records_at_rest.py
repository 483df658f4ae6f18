"""Records sealed at rest: what sealing a track's records costs its appends and its folds,
against the same records of a track without a key, in the same run.

Two rooms, each with the track ``us-iran``; in one the track has a key (``keys rotate``), so
its records are stored sealed (ChaCha20-Poly1305 under the epoch's record key, bound to the
record's envelope) and opened before every fold. The same ``N`` status records of ~300 bytes
are appended to each, in batches (the site's process, as a desk or the server appends), then
the ``tracks`` projection is folded from the first record (an as-of rebuild; the rooms take no
snapshot, so every record is read, opened and folded).

Baseline: the room whose track has no key (records stored as written).

    python bench/records_at_rest.py [--records 20000] [--batch 100] [--runs 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import sitroom
from sitroom.adapters.trackfile import parse_track_file
from sitroom.domain.kinds import TRACK_STATUS
from sitroom.domain.records import Record

import _home  # noqa: F401  (a scratch $SITROOM_HOME: key files go with the run)

TRACKS = """
tracks:
  - {id: us-iran, name: US-Iran talks, parties: [USA, IRN], venue: Geneva, status: planned}
"""
NOTE = "the envoy reports the deputy minister asked to move the round by a day; " * 4


def _records(n: int, start_ms: int) -> list[Record]:
    return [
        TRACK_STATUS.record(
            {"track": "us-iran", "status": "negotiating", "note": f"{i}: {NOTE}"},
            id=f"bench-status:{i}",
            source="bench",
            valid_from=start_ms + i,
            compartment="us-iran",
        )
        for i in range(n)
    ]


def run(folder: Path, *, sealed: bool, n: int, batch: int) -> tuple[float, float]:
    """(append seconds, fold seconds) for ``n`` records of the track."""
    # No snapshot on the way: the fold measured is of every record, not a snapshot's tail.
    folder.mkdir(parents=True)
    folder.joinpath("sitroom.toml").write_text(
        '[sitroom]\nsite = "washington"\nsnapshot_every = 1000000000\n'
    )
    with sitroom.init(folder, site="washington") as room:
        now = room.session.now_ms()
        room.session.append(parse_track_file("bench", TRACKS, now_ms=now).records)
        if sealed:
            room.keys.rotate("us-iran", reason="bench")
        records = _records(n, now)
        started = time.perf_counter()
        for i in range(0, n, batch):
            room.engine.append(records[i : i + batch])
        appended = time.perf_counter() - started
        last = room.engine.log.last_seq()
        stored = next(room.engine.log.read(kinds=[TRACK_STATUS], page_size=1)).rows()
        assert ("sealed" in next(stored).payload) == sealed
        started = time.perf_counter()
        state = room.engine.rebuild("tracks", last)
        folded = time.perf_counter() - started
        assert state["status"]["us-iran"]["status"] == "negotiating"
    return appended, folded


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=20_000)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    n = args.records
    figures: dict[bool, list[tuple[float, float]]] = {True: [], False: []}
    for r in range(args.runs):
        for sealed in (False, True):
            with tempfile.TemporaryDirectory() as tmp:
                figures[sealed].append(
                    run(Path(tmp) / f"room-{r}", sealed=sealed, n=n, batch=args.batch)
                )
    print(f"{n:,} records of ~{len(NOTE) + 60} bytes, batches of {args.batch}, {args.runs} runs")
    median = {
        s: tuple(statistics.median(f[i] for f in figures[s]) for i in (0, 1)) for s in figures
    }
    for label, s in (("clear (baseline)", False), ("sealed at rest", True)):
        a, f = median[s]
        print(f"  {label:18} append {n / a:>9,.0f} records/s   fold {n / f:>9,.0f} records/s")
    print(
        f"ratio sealed / clear: append {median[True][0] / median[False][0]:.2f}x, "
        f"fold {median[True][1] / median[False][1]:.2f}x"
    )


if __name__ == "__main__":
    main()
