"""`sitroom verify` on a 1,000,000-record log, and the audit chain's cost at append.

The log is built by ingesting 1,000,000 GDELT 2.0 rows resampled from the real files (_data.py),
with a signed checkpoint every 10,000 records (the default). Baselines, measured in the same run
on the same file: SHA-256 over the whole SQLite file (every byte read and hashed once; the file
also holds the id index and projection snapshots, which the chain does not hash), SHA-256 over
the segments' stored bytes only, read through SQLite (the floor for what the chain covers), and
SQLite's own `PRAGMA integrity_check` (which checks the B-trees, not the contents).
Goal: verify within 2x of hashing the file.

The chain's cost at append is the hashing an append adds (each segment's digest and link),
timed over the very segments of the log, against the ingest that wrote them.

    python bench/audit_verify.py [--rows 1000000] [--runs 3]
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import sitroom
from sitroom.adapters.gdelt import connector as gdelt
from sitroom.adapters.gdelt.lookups import load_lookups
from sitroom.adapters.keystore import KEYS_DIR, KeyStore
from sitroom.adapters.log_sqlite import SqliteLog
from sitroom.application.audit import verify
from sitroom.application.ingest import declare, ingest
from sitroom.domain.secure import audit
from sitroom.room import LOG_FILE

from _data import resampled_v2


def file_sha256(path: Path) -> float:
    started = time.perf_counter()
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    h.digest()
    return time.perf_counter() - started


def segments_sha256(path: Path) -> tuple[float, int]:
    started = time.perf_counter()
    con = sqlite3.connect(path)
    size = 0
    for (data,) in con.execute("SELECT data FROM segments ORDER BY first_seq"):
        hashlib.sha256(data).digest()
        size += len(data)
    con.close()
    return time.perf_counter() - started, size


def integrity_check(path: Path) -> float:
    started = time.perf_counter()
    con = sqlite3.connect(path)
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    con.close()
    return time.perf_counter() - started


def median_of(runs: int, f: Callable[[], float]) -> float:
    return statistics.median(f() for _ in range(runs))


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=3, help="runs of each measurement (median)")
    args = ap.parse_args()
    path = resampled_v2(args.rows)
    work = Path(tempfile.mkdtemp(prefix="sitroom-bench-"))
    try:
        room = sitroom.init(work / "ws", site="bench")
        declare(room.session, gdelt.declarations())
        lookups = load_lookups()
        t0 = time.perf_counter()
        for inp in gdelt.open_inputs(str(path)):
            ingest(room.session, inp.label, gdelt.chunks(inp, lookups))
        build = time.perf_counter() - t0
        room.close()
        db = work / "ws" / LOG_FILE
        anchor = KeyStore(work / "ws" / KEYS_DIR).public("bench")
        log = SqliteLog(db)
        records = log.last_seq()

        def run_verify(deep: bool) -> Callable[[], float]:
            def once() -> float:
                started = time.perf_counter()
                report = verify(log, anchor, site="bench", deep=deep)
                elapsed = time.perf_counter() - started
                assert report.ok and report.records == records, report.findings
                assert report.verified  # at least one checkpoint per append that crosses 10,000
                return elapsed

            return once

        def chain_cost() -> float:
            """The hashing an append adds, over the log's own segments."""
            spent = 0.0
            head = audit.GENESIS
            with log.audit_scan() as scan:
                for seg in scan.segments():
                    started = time.perf_counter()
                    leaves = audit.line_leaves(seg.data) if seg.leaves is not None else None
                    head = audit.next_head(head, audit.segment_digest(seg.header, seg.data, leaves))
                    spent += time.perf_counter() - started
            assert head == log.tree_head().head
            return spent

        floor = median_of(args.runs, lambda: file_sha256(db))
        covered = median_of(args.runs, lambda: segments_sha256(db)[0])
        _, stored = segments_sha256(db)
        sqlite_check = median_of(args.runs, lambda: integrity_check(db))
        fast = median_of(args.runs, run_verify(False))
        deep = median_of(max(1, args.runs // 2), run_verify(True))
        sealing = median_of(args.runs, chain_cost)
        with log.audit_scan() as scan:
            segments, _ = scan.totals()
        log.close()
        size = db.stat().st_size
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(
        f"log: {records:,} records ({args.rows:,} GDELT 2.0 rows resampled from the real files) "
        f"in {segments:,} segments of {stored / 1e6:.0f} MB; file {size / 1e6:.0f} MB; "
        f"built in {build:.1f} s"
    )
    print(
        f"sitroom verify:               {fast:.3f} s  ({records / fast:,.0f} records/s, "
        f"{stored / 1e6 / fast:,.0f} MB/s of segments)"
    )
    print(f"sitroom verify --deep:        {deep:.3f} s  ({records / deep:,.0f} records/s)")
    print(f"baseline SHA-256 of file:     {floor:.3f} s  ({size / 1e6 / floor:,.0f} MB/s)")
    print(f"baseline SHA-256 of segments: {covered:.3f} s  ({stored / 1e6 / covered:,.0f} MB/s)")
    print(f"baseline integrity_check:     {sqlite_check:.3f} s")
    print(
        f"ratio verify / file SHA-256: {fast / floor:.2f}x   [goal <= 2x];   "
        f"verify / segments SHA-256: {fast / covered:.2f}x;   "
        f"verify / integrity_check: {fast / sqlite_check:.2f}x;   "
        f"deep / verify: {deep / fast:.1f}x"
    )
    print(
        f"chain at append: {sealing:.3f} s of hashing for the whole log "
        f"({sealing / records * 1e6:.3f} µs/record, {sealing / build:.1%} of the ingest; "
        "on the encoder threads, beside the id index)"
    )


if __name__ == "__main__":
    main()
