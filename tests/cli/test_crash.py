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

import pytest

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
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        n, distinct = con.execute(
            "SELECT COUNT(*), COUNT(DISTINCT id) FROM records WHERE kind = 'gdelt.event'"
        ).fetchone()
        return int(n), int(distinct)
    finally:
        con.close()


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
    n, _ = count(db)
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
