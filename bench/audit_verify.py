"""`sitroom verify` on a 1,000,000-record log, the audit chain's cost at append, Merkle proofs
and witness round-trips.

The log is built by ingesting 1,000,000 GDELT 2.0 rows resampled from the real files (_data.py),
with a signed checkpoint every 10,000 records (the default). Baselines, measured in the same run
on the same file: SHA-256 over the whole SQLite file (every byte read and hashed once; the file
also holds the id index and projection snapshots, which the chain does not hash), SHA-256 over
the segments' stored bytes only, read through SQLite (the floor for what the chain covers), and
SQLite's own `PRAGMA integrity_check` (which checks the B-trees, not the contents).
Goal: verify within 2x of hashing the file.

The chain's cost at append is the hashing an append adds (each segment's digest and link),
timed over the very segments of the log, against the ingest that wrote them.

Merkle proofs (domain/secure/merkle.py) are timed on a tree of --leaves segment digests (a
room of people's records has one segment per append): building the tree, making and checking
an inclusion proof and a consistency proof, each against the same run's cost of one SHA-256
of a node (the unit of work of a proof) and one Ed25519 verification (what checking the
signed head the proof climbs to costs anyway). A witness round-trip is a real one between two
workspaces: the site signs its head with a consistency proof, the witness's desk (HTTPS on
loopback, its certificate pinned to its card) checks and co-signs it, the site checks and
keeps the answer; against the same run's append of one record.

    python bench/audit_verify.py [--rows 1000000] [--runs 3] [--leaves 1000000] [--rounds 20]
"""

from __future__ import annotations

import argparse
import hashlib
import random
import shutil
import sqlite3
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

import sitroom
from sitroom.adapters.gdelt import connector as gdelt
from sitroom.adapters.gdelt.lookups import load_lookups
from sitroom.adapters.keystore import KEYS_DIR, KeyStore
from sitroom.adapters.log_sqlite import SqliteLog
from sitroom.application.audit import verify
from sitroom.application.ingest import declare, ingest
from sitroom.domain.records import Record
from sitroom.domain.secure import audit, merkle
from sitroom.room import LOG_FILE

import _home  # noqa: F401  (a scratch $SITROOM_HOME: key files go with the run)
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
    ap.add_argument("--leaves", type=int, default=1_000_000, help="segments in the proof tree")
    ap.add_argument("--rounds", type=int, default=20, help="witness round-trips")
    args = ap.parse_args()
    proofs(args.leaves)
    round_trips(args.rounds)
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


def proofs(n: int, samples: int = 2000) -> None:
    """Make and check inclusion and consistency proofs in a tree of ``n`` leaves."""
    rng = random.Random(20)
    digests = [rng.randbytes(32) for _ in range(n)]
    started = time.perf_counter()
    tree = merkle.Tree(digests)
    root = tree.root()
    built = time.perf_counter() - started
    leaves = [rng.randrange(n) for _ in range(samples)]
    olds = [rng.randrange(1, n) for _ in range(samples)]
    t0 = time.perf_counter()
    paths = [tree.inclusion(i) for i in leaves]
    t1 = time.perf_counter()
    assert all(
        merkle.included(digests[i], i, n, p, root) for i, p in zip(leaves, paths, strict=True)
    )
    t2 = time.perf_counter()
    grown = [tree.consistency(m) for m in olds]
    t3 = time.perf_counter()
    old_roots = [tree.root(m) for m in olds]  # what the holder of each old head has
    t4 = time.perf_counter()
    assert all(
        merkle.consistent(m, r, n, root, p) for m, r, p in zip(olds, old_roots, grown, strict=True)
    )
    t5 = time.perf_counter()
    h0 = time.perf_counter()
    for _ in range(100_000):
        hashlib.sha256(b"\x01" + bytes(64)).digest()
    sha = (time.perf_counter() - h0) / 100_000
    key = Ed25519PrivateKey.generate()
    sig, msg = key.sign(b"tree head"), b"tree head"
    pub = key.public_key()
    e0 = time.perf_counter()
    for _ in range(2000):
        pub.verify(sig, msg)
    ed = (time.perf_counter() - e0) / 2000
    make_in, check_in = (t1 - t0) / samples, (t2 - t1) / samples
    make_con = (t3 - t2) / samples
    check_con = (t5 - t4) / samples
    hashes = sum(len(p) for p in paths) / samples
    print(
        f"merkle tree of {n:,} segments: built in {built:.2f} s "
        f"({built / n * 1e6:.2f} µs/segment; {sha * 1e6:.2f} µs per node SHA-256)"
    )
    print(
        f"inclusion proof ({hashes:.1f} hashes): made in {make_in * 1e6:.1f} µs, checked in "
        f"{check_in * 1e6:.1f} µs = {check_in / sha:.1f} node hashes, "
        f"{check_in / ed:.2f}x one Ed25519 verify ({ed * 1e6:.1f} µs)"
    )
    print(
        f"consistency proof: made in {make_con * 1e6:.1f} µs, checked in "
        f"{check_con * 1e6:.1f} µs = {check_con / sha:.1f} node hashes, "
        f"{check_con / ed:.2f}x one Ed25519 verify"
    )


def round_trips(rounds: int) -> None:
    """Witness round-trips between two workspaces over a desk on loopback (HTTPS)."""
    work = Path(tempfile.mkdtemp(prefix="sitroom-bench-witness-"))
    stop = threading.Event()
    try:
        site, witness = work / "geneva", work / "bern"
        for ws, name in ((site, "geneva"), (witness, "bern")):
            sitroom.init(ws, site=name).close()
        for a, b in ((site, witness), (witness, site)):
            with sitroom.open(a, as_site=True) as room:
                card = room.keys.export_card()
            with sitroom.open(b, as_site=True) as room:
                room.keys.import_file(card.data, fingerprint=card.fingerprint)
        urls: list[str] = []
        ready = threading.Event()
        desk_room = sitroom.open(witness, as_site=True)

        def run_desk() -> None:
            desk_room.channels.run_desk(
                listen="127.0.0.1:0", stop=stop, ready=lambda u: (urls.append(u), ready.set())
            )

        thread = threading.Thread(target=run_desk, daemon=True)
        thread.start()
        assert ready.wait(30), "the witness's desk did not start"
        trips, appends = [], []
        with sitroom.open(site, as_site=True) as room:
            for i in range(rounds):
                a0 = time.perf_counter()
                room.session.append([note(i, room.session.now_ms())])
                appends.append(time.perf_counter() - a0)
                t0 = time.perf_counter()
                done = room.witness.ask("bern", urls[0])
                trips.append(time.perf_counter() - t0)
                assert done.recorded
        stop.set()
        thread.join(30)
        desk_room.close()
    finally:
        stop.set()
        shutil.rmtree(work, ignore_errors=True)
    trip, append = statistics.median(trips), statistics.median(appends)
    print(
        f"witness round-trip (sign head + proof, HTTPS to the witness's desk, check, co-sign, "
        f"record on both sides): median {trip * 1e3:.1f} ms, p90 "
        f"{statistics.quantiles(trips, n=10)[-1] * 1e3:.1f} ms over {rounds} rounds; "
        f"one record's append {append * 1e3:.1f} ms (ratio {trip / append:.1f}x)"
    )


def note(i: int, now_ms: int) -> Record:
    return Record(
        id=f"bench.note:{i}",
        kind="bench.note",
        kind_version=1,
        source="bench",
        valid_from=now_ms,
        valid_to=now_ms,
        payload={"i": i},
    )


if __name__ == "__main__":
    main()
