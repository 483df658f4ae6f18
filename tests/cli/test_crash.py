"""A real ingest process killed with SIGKILL mid-file loses nothing it acknowledged, leaves no
half-written record, and a rerun completes with no duplicates."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from sitroom.adapters.log_sqlite import SqliteLog

from conftest import V2_FILES
from helpers import sitroom_process

ROWS = 400_000


def resample(path: Path) -> None:
    rows = [line for f in V2_FILES for line in f.read_text(encoding="utf-8").splitlines()]
    rng = random.Random(5)
    with path.open("w", encoding="utf-8") as out:
        for i in range(ROWS):
            fields = rows[rng.randrange(len(rows))].split("\t")
            fields[0] = str(2_000_000_000 + i)
            out.write("\t".join(fields) + "\n")


def count(db: Path) -> tuple[int, int]:
    """(GDELT events in the log's segments, their ids in the id index): a torn append would
    leave the two apart."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        stored = con.execute(
            "SELECT COALESCE(SUM(last_seq - first_seq + 1), 0) FROM segments "
            "WHERE kind = 'gdelt.event'"
        ).fetchone()[0]
        indexed = con.execute("SELECT COUNT(*) FROM ids WHERE id LIKE 'gdelt-v2:%'").fetchone()[0]
        return int(stored), int(indexed)
    finally:
        con.close()


def distinct_event_ids(db: Path) -> int:
    log = SqliteLog(db)
    try:
        ids = pa.chunked_array(
            [b.column("id").combine_chunks() for b in log.read(kinds=["gdelt.event"])]
        )
        return len(pc.unique(ids))
    finally:
        log.close()


@pytest.mark.slow
def test_sigkill_mid_ingest_then_rerun(tmp_path: Path) -> None:
    big = tmp_path / "big.export.CSV"
    resample(big)
    ws = tmp_path / "ws"
    assert sitroom_process("init", "-w", str(ws)).code == 0
    db = ws / "sitroom.db"
    proc = subprocess.Popen(
        [sys.executable, "-m", "sitroom", "ingest", "gdelt", "-w", str(ws), str(big)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    seen = 0
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            seen = count(db)[0]
        except sqlite3.OperationalError:
            seen = 0
        if seen > 0:
            break
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    n, indexed = count(db)
    assert n == indexed, "every stored record is indexed, and only those"
    assert 0 < n < ROWS, "the kill should land mid-file"
    assert n % 100_000 == 0, "whole chunks only: each append is one transaction"
    con = sqlite3.connect(db)
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    con.close()
    rerun = sitroom_process("ingest", "gdelt", "-w", str(ws), str(big), "--json")
    assert rerun.code == 0, rerun.err
    totals = rerun.json()["totals"]
    assert totals["duplicates"] == n and totals["accepted"] == ROWS - n
    assert count(db) == (ROWS, ROWS)
    assert distinct_event_ids(db) == ROWS
