"""The audit chain on real SQLite files: every segment is sealed as it is written, the chain
continues across re-opening, old logs are sealed by the migration, and each kind of tampering
— a changed byte, a removed segment, re-ordered records, rewritten digests, a forged
checkpoint — is found and the first bad record named."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np

from sitroom.adapters.clock import ManualClock
from sitroom.adapters.keystore import new_secret
from sitroom.adapters.log_sqlite import SqliteLog
from sitroom.application.audit import Checkpointer, Report, verify
from sitroom.application.engine import Engine
from sitroom.domain.kinds import AUDIT_CHECKPOINT
from sitroom.domain.records import Record, RecordBatch
from sitroom.domain.secure import audit
from sitroom.domain.secure.codec import b64
from sitroom.domain.secure.identity import SITE, Secret
from sitroom.testing import make_record

SITE_NAME = "geneva"
SECRET = new_secret(SITE_NAME, SITE)


def stamp(records: list[Record], log: SqliteLog) -> RecordBatch:
    """What the engine does before the log sees a batch: recorded time and origin."""
    batch = RecordBatch.from_records(records)
    first = log.last_recorded_time() + 1
    batch = batch.with_column("recorded_time", np.arange(first, first + len(batch)))
    return batch.with_column("origin", [SITE_NAME] * len(batch))


def notes(start: int, n: int) -> list[Record]:
    return [
        make_record(i, source="notes", payload={"text": f"note-{i}-unique"})
        for i in range(start, start + n)
    ]


def bulk(n: int) -> list[Record]:
    return [make_record(i, kind="test.bulk", source="bulk") for i in range(n)]


def checkpoint(log: SqliteLog, secret: Secret = SECRET) -> int:
    seq, head = (h := log.tree_head()).seq, h.head
    log.append(stamp([audit.checkpoint_record(secret, seq, head, 0)], log))
    return seq


def build(path: Path) -> Path:
    """seqs 1-5 notes (JSON lines), 6-105 bulk (Arrow), 106 checkpoint, 107-109 notes,
    110 checkpoint, 111-112 notes."""
    db = path / "log.db"
    log = SqliteLog(db, create=True)
    log.append(stamp(notes(1, 5), log))
    log.append(stamp(bulk(100), log))
    assert checkpoint(log) == 105
    log.append(stamp(notes(6, 3), log))
    assert checkpoint(log) == 109
    log.append(stamp(notes(9, 2), log))
    log.close()
    return db


def check(db: Path) -> Report:
    log = SqliteLog(db)
    try:
        return verify(log, SECRET.identity, site=SITE_NAME)
    finally:
        log.close()


def flip(db: Path, needle: bytes, at: int = 0) -> None:
    """Change one byte of the SQLite file itself, inside the one place ``needle`` occurs."""
    assert not Path(f"{db}-wal").exists()  # closed: everything is in the main file
    data = bytearray(db.read_bytes())
    assert data.count(needle) == 1, needle
    data[data.find(needle) + at] ^= 0x01
    db.write_bytes(bytes(data))


def sql(db: Path, *statements: tuple[str, tuple[object, ...]]) -> None:
    con = sqlite3.connect(db)
    with con:
        for s, args in statements:
            con.execute(s, args)
    con.close()


def row(db: Path, first_seq: int) -> tuple[bytes, bytes]:
    con = sqlite3.connect(db)
    data, leaves = con.execute(
        "SELECT data, leaves FROM segments WHERE first_seq = ?", (first_seq,)
    ).fetchone()
    con.close()
    return bytes(data), bytes(leaves or b"")


def reseal(db: Path) -> None:
    """What an attacker who knows the algorithm does after a change: recompute every leaf
    list and head, so that the chain is consistent again."""
    con = sqlite3.connect(db)
    head = audit.GENESIS
    cols = "first_seq, last_seq, kind, first_rt, last_rt, valid_min, valid_max, codec"
    for *header, data in con.execute(f"SELECT {cols}, data FROM segments ORDER BY first_seq"):
        leaves = audit.line_leaves(data) if header[-1] == "jsonl" else None
        head = audit.next_head(
            head, audit.segment_digest(audit.SegmentHeader(*header), data, leaves)
        )
        con.execute(
            "UPDATE segments SET leaves = ?, head = ? WHERE first_seq = ?",
            (leaves, head, header[0]),
        )
    con.commit()
    con.close()


def test_intact_log_verifies_with_its_checkpoints(tmp_path: Path) -> None:
    """A log as written verifies; both checkpoints verify; the head is the log's own."""
    db = build(tmp_path)
    report = check(db)
    assert report.ok, report.findings
    assert (report.records, report.segments, report.seq) == (112, 6, 112)
    assert [c.seq for c in report.verified] == [105, 109]
    assert (report.covered_to, report.chain_only) == (109, (110, 112))
    log = SqliteLog(db)
    seq, head = (h := log.tree_head()).seq, h.head
    log.close()
    assert (seq, b64(head)) == (112, report.head)
    body = report.to_json()  # a typed result: its JSON, the checkpoints themselves left out
    assert (body["checkpoints"], body["checkpoints_verified"], body["first_bad"]) == (2, 2, None)
    assert body["signer"] == SECRET.identity.fingerprint and "verified" not in body


def test_reopening_continues_the_chain(tmp_path: Path) -> None:
    """After re-opening, the next append links to the stored head, and the whole verifies."""
    db = build(tmp_path)
    log = SqliteLog(db)
    seq, head = (h := log.tree_head()).seq, h.head
    log.append(stamp(notes(20, 4), log))
    after = log.tree_head().head
    log.close()
    data, leaves = row(db, seq + 1)
    con = sqlite3.connect(db)
    stored = con.execute(
        "SELECT first_seq, last_seq, kind, first_rt, last_rt, valid_min, valid_max, codec "
        "FROM segments WHERE first_seq = ?",
        (seq + 1,),
    ).fetchone()
    con.close()
    header = audit.SegmentHeader(*stored)
    assert after == audit.next_head(head, audit.segment_digest(header, data, leaves))
    assert check(db).ok


def test_migration_seals_a_log_written_before_the_chain(tmp_path: Path) -> None:
    """A log without the chain's columns is sealed on open, to the very chain appends make."""
    db = build(tmp_path)
    sealed_head = check(db).head
    sql(
        db,
        ("ALTER TABLE segments DROP COLUMN leaves", ()),
        ("ALTER TABLE segments DROP COLUMN head", ()),
        ("DELETE FROM migrations WHERE name = '0002_audit'", ()),
    )
    report = check(db)
    assert report.ok, report.findings
    assert report.head == sealed_head


def test_one_byte_of_a_record_in_the_file_is_named(tmp_path: Path) -> None:
    """A byte changed inside a JSON-lines record in the SQLite file: that record, by seq and
    id, is the first bad one."""
    db = build(tmp_path)
    flip(db, b"note-7-unique", at=5)
    report = check(db)
    assert not report.ok
    bad = report.first_bad
    assert bad is not None
    assert (bad.reason, bad.seq, bad.id) == (audit.CHANGED, 108, "notes:7")
    assert report.to_json()["first_bad"] == {
        "reason": "changed",
        "message": bad.message,
        "seq": 108,
        "id": "notes:7",
        "first_seq": bad.first_seq,
        "last_seq": bad.last_seq,
    }


def test_a_record_that_no_longer_parses_is_named_from_the_index(tmp_path: Path) -> None:
    """A broken line cannot say its id: its position gives its seq, the id index its id."""
    db = build(tmp_path)
    flip(db, b'"id":"notes:2"', at=0)  # the opening quote of the key: the line is no JSON
    bad = check(db).first_bad
    assert bad is not None
    assert (bad.reason, bad.seq, bad.id) == (audit.CHANGED, 2, "notes:2")


def test_a_removed_segment_is_a_gap(tmp_path: Path) -> None:
    """Deleting a segment row leaves a gap, named from its first seq."""
    db = build(tmp_path)
    sql(db, ("DELETE FROM segments WHERE first_seq = 107", ()))
    report = check(db)
    bad = report.first_bad
    assert bad is not None
    assert (bad.reason, bad.seq, bad.id, bad.last_seq) == (audit.MISSING, 107, "notes:6", 109)
    assert audit.IDS in {f.reason for f in report.findings}  # 3 ids of no record


def test_swapped_records_are_found(tmp_path: Path) -> None:
    """Two records of a segment swapped: the first of them is named, as moved."""
    db = build(tmp_path)
    data, _ = row(db, 1)
    lines = data.split(b"\n")
    lines[1], lines[2] = lines[2], lines[1]
    sql(db, ("UPDATE segments SET data = ? WHERE first_seq = 1", (b"\n".join(lines),)))
    bad = check(db).first_bad
    assert bad is not None
    assert (bad.reason, bad.seq, bad.id) == (audit.MOVED, 2, "notes:3")


def test_rewritten_digests_are_caught_by_the_signed_checkpoint(tmp_path: Path) -> None:
    """An attacker who changes a record and recomputes every stored digest and head is caught
    by the checkpoint after it, which names the stretch since the last good checkpoint."""
    db = build(tmp_path)
    data, _ = row(db, 107)
    sql(
        db,
        (
            "UPDATE segments SET data = ? WHERE first_seq = 107",
            (data.replace(b"note-7-unique", b"note-7-UNIQUE"),),
        ),
    )
    reseal(db)
    report = check(db)
    assert [f.reason for f in report.findings] == [audit.REWRITTEN]
    bad = report.first_bad
    assert bad is not None
    assert (bad.seq, bad.first_seq, bad.last_seq) == (106, 106, 109)
    assert [c.seq for c in report.verified] == [105]


def test_a_forged_checkpoint_is_rejected(tmp_path: Path) -> None:
    """A checkpoint signed by another key in the site's name is named, not trusted."""
    db = build(tmp_path)
    log = SqliteLog(db)
    checkpoint(log, new_secret(SITE_NAME, SITE))
    log.close()
    report = check(db)
    bad = report.first_bad
    assert bad is not None
    assert (bad.reason, bad.seq, bad.id) == (audit.FORGED, 113, f"{AUDIT_CHECKPOINT}:geneva:112")
    assert [c.seq for c in report.verified] == [105, 109]


def test_a_byte_inside_a_compressed_segment_names_the_segment(tmp_path: Path) -> None:
    """Arrow segments carry no per-record digests: the finding names the segment's range and
    its first record."""
    db = build(tmp_path)
    data, _ = row(db, 6)
    flip(db, data[len(data) // 2 : len(data) // 2 + 24])
    bad = check(db).first_bad
    assert bad is not None
    assert (bad.reason, bad.seq, bad.id, bad.first_seq, bad.last_seq) == (
        audit.CHANGED,
        6,
        "bulk:0",
        6,
        105,
    )
    assert "compressed segment" in bad.message or "no longer decodes" in bad.message


def test_an_unsealed_segment_and_a_moved_id_are_named(tmp_path: Path) -> None:
    """A segment without its head is unsealed; an id pointed at another record is found by
    --deep (the id index is outside the chain: without --deep only its size is checked)."""
    db = build(tmp_path)
    sql(db, ("UPDATE ids SET seq = 3 WHERE id = 'notes:8'", ()))
    assert check(db).ok
    log = SqliteLog(db)
    deep = verify(log, SECRET.identity, site=SITE_NAME, deep=True)
    log.close()
    assert deep.first_bad is not None
    assert (deep.first_bad.reason, deep.first_bad.seq, deep.first_bad.id) == (
        audit.IDS,
        109,
        "notes:8",
    )
    sql(db, ("UPDATE segments SET head = NULL WHERE first_seq = 111", ()))
    bad = check(db).first_bad
    assert bad is not None
    assert (bad.reason, bad.seq) == (audit.UNSEALED, 111)


def test_the_checkpointer_signs_every_n_records(tmp_path: Path) -> None:
    """On the engine, a checkpoint follows every 10th record however appends fall, and each
    verifies."""
    log = SqliteLog(tmp_path / "log.db", create=True)
    engine = Engine(
        log,
        ManualClock(1_000),
        site=SITE_NAME,
        projections=[],
        reactors=[Checkpointer(log.tree_head, lambda: SECRET, every=10)],
    )
    for i in range(1, 8):  # 7 single records ...
        engine.append([make_record(i, source="one")])
    engine.append([make_record(i, source="many") for i in range(25)])  # ... then 25 at once
    for i in range(8, 16):
        engine.append([make_record(i, source="one")])
    report = verify(log, SECRET.identity, site=SITE_NAME)
    log.close()
    assert report.ok, report.findings
    # Records 8-32 cross 10, 20 and 30 at once: one checkpoint, of seq 32 (its record is 33).
    # Single records 34, 35... cross 40 at 40 (its record is 41), then 42.
    assert [c.seq for c in report.verified] == [32, 40]
    assert report.seq == 42


def test_progress_is_reported_as_the_walk_goes(tmp_path: Path) -> None:
    db = build(tmp_path)
    calls: list[tuple[int, int | None]] = []
    log = SqliteLog(db)
    try:
        report = verify(
            log, SECRET.identity, site=SITE_NAME, deep=True, progress=lambda *a: calls.append(a)
        )
    finally:
        log.close()
    assert report.ok and report.deep
    assert len(calls) == report.segments  # once a segment
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)
    assert calls[-1] == (112, 112)
