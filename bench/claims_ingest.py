"""Claim ingestion with conflict tracking, sustained: claims appended through the engine in
batches, every claim kept and folded into the per-property view that marks conflicts.

Baseline, measured in the same run on the same claims: the overwrite model of the platforms
sitroom replaces (OpenCTI, MISP) — one SQLite row per (subject, property), updated in place when
a claim of equal or higher confidence arrives, committed per batch with the same durability.
Goal: at least 20,000 claims/s sustained.

    python bench/claims_ingest.py [--claims 200000] [--batch 1000]
"""

from __future__ import annotations

import argparse
import random
import shutil
import sqlite3
import tempfile
import time
from pathlib import Path

import sitroom
from sitroom.domain.claims import credibility_of, view
from sitroom.domain.records import Record

import _home  # noqa: F401  (a scratch $SITROOM_HOME: key files go with the run)

VALUES = {
    "posture": ["defensive", "offensive", "de-escalating", "mobilising"],
    "leader": ["A. Leader", "B. Leader", "C. Leader"],
    "venue": ["Geneva", "Muscat", "Doha", "Vienna"],
    "status": ["talking", "suspended", "agreed", "collapsed"],
    "strength": [1000, 5000, 20000, 50000],
}


def make_claims(n: int, subjects: int, seed: int = 7) -> list[Record]:
    rng = random.Random(seed)
    props = sorted(VALUES)
    out = []
    for i in range(n):
        prop = rng.choice(props)
        confidence = rng.choice([10, 30, 50, 70, 90])
        source = f"source-{rng.randrange(50)}"
        out.append(
            Record(
                id=f"{source}:claim:{i}",
                kind="claim",
                kind_version=1,
                source=source,
                confidence=confidence,
                valid_from=1_700_000_000_000 + rng.randrange(10**9),
                payload={
                    "subject": f"actor-{rng.randrange(subjects)}",
                    "property": prop,
                    "value": rng.choice(VALUES[prop]),
                    "reliability": rng.choice("ABCDEF"),
                    "credibility": credibility_of(confidence),
                    "origin": f"wire-{rng.randrange(20)}" if rng.random() < 0.3 else None,
                    "stated_at": 1_700_000_000_000 + i,
                },
            )
        )
    return out


def run_sitroom(claims: list[Record], batch: int, work: Path) -> tuple[float, int]:
    with sitroom.init(work / "ws") as ws:
        started = time.perf_counter()
        for off in range(0, len(claims), batch):
            ws.engine.append(claims[off : off + batch])
        elapsed = time.perf_counter() - started
        state = ws.engine.states["claims"]
        conflicts = sum(p.conflict for s in state for p in view(state, s, 1_800_000_000_000))
    return elapsed, conflicts


def run_baseline(claims: list[Record], batch: int, work: Path) -> float:
    con = sqlite3.connect(work / "overwrite.db", isolation_level=None)
    con.execute("PRAGMA journal_mode = WAL")
    con.execute("PRAGMA synchronous = FULL")
    con.execute(
        "CREATE TABLE current (subject TEXT, property TEXT, value TEXT, source TEXT, "
        "confidence INTEGER, PRIMARY KEY (subject, property))"
    )
    started = time.perf_counter()
    for off in range(0, len(claims), batch):
        con.execute("BEGIN")
        con.executemany(
            "INSERT INTO current VALUES (?, ?, ?, ?, ?) ON CONFLICT (subject, property) DO "
            "UPDATE SET value = excluded.value, source = excluded.source, "
            "confidence = excluded.confidence WHERE excluded.confidence >= current.confidence",
            (
                (
                    c.payload["subject"],
                    c.payload["property"],
                    str(c.payload["value"]),
                    c.source,
                    c.confidence,
                )
                for c in claims[off : off + batch]
            ),
        )
        con.execute("COMMIT")
    elapsed = time.perf_counter() - started
    con.close()
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--claims", type=int, default=200_000)
    ap.add_argument("--batch", type=int, default=1_000)
    ap.add_argument("--subjects", type=int, default=2_000)
    args = ap.parse_args()
    claims = make_claims(args.claims, args.subjects)
    work = Path(tempfile.mkdtemp(prefix="sitroom-bench-"))
    try:
        s_time, conflicts = run_sitroom(claims, args.batch, work)
        b_time = run_baseline(claims, args.batch, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    n = len(claims)
    print(
        f"{n:,} claims about {args.subjects:,} subjects from 50 sources, appended in batches of "
        f"{args.batch:,}"
    )
    print(
        f"sitroom (every claim kept, conflicts tracked, durable): {s_time:.2f} s, "
        f"{n / s_time:,.0f} claims/s   [goal >= 20,000/s]; {conflicts:,} properties in conflict"
    )
    print(
        f"baseline overwrite-in-place (SQLite upsert, durable):  {b_time:.2f} s, "
        f"{n / b_time:,.0f} claims/s"
    )
    print(f"ratio sitroom / baseline throughput: {b_time / s_time:.2f}x")


if __name__ == "__main__":
    main()
