import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from sitroom.adapters.log_sqlite import SqliteLog
from sitroom.application.ports import LogStore
from sitroom.domain.records import RecordBatch
from sitroom.testing import DurableLogContract, make_record
from sitroom.testing.log_contract import stamp, stamp_batch


class TestSqliteLog(DurableLogContract):
    def make_log(self, tmp_path: Any) -> LogStore:
        return SqliteLog(Path(tmp_path) / "log.db", create=True)

    def reopen(self, log: LogStore, tmp_path: Any) -> LogStore:
        return SqliteLog(Path(tmp_path) / "log.db")


WRITER = textwrap.dedent("""
    import sys, numpy as np
    from sitroom.adapters.log_sqlite import SqliteLog
    from sitroom.domain.records import RecordBatch
    from sitroom.testing import make_record
    log = SqliteLog(sys.argv[1], create=True)
    k = 0
    while True:
        recs = [make_record(i, source=f"b{k}", payload={"k": k, "pad": "x" * 200})
                for i in range(1000)]
        batch = RecordBatch.from_records(recs)
        batch = batch.with_column("recorded_time", np.arange(k * 1000 + 1, k * 1000 + 1001))
        batch = batch.with_column("origin", ["s"] * 1000)
        log.append(batch)
        print(k, flush=True)   # acknowledged: the append has committed
        k += 1
""")


def test_sigkill_mid_append_loses_no_acknowledged_batch(tmp_path: Path) -> None:
    """A writer killed with SIGKILL leaves every batch wholly present or wholly absent, and every
    batch it acknowledged is there."""
    db = tmp_path / "log.db"
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(db)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    acked = []
    for line in proc.stdout:
        acked.append(int(line))
        if len(acked) >= 6:
            break
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    proc.stdout.close()
    log = SqliteLog(db)
    assert log.integrity_check() == "ok"
    per_batch: dict[str, int] = {}
    for b in log.read():
        for s in b.column("source").to_pylist():
            per_batch[s] = per_batch.get(s, 0) + 1
    assert set(per_batch.values()) == {1000}
    assert {f"b{k}" for k in acked} <= set(per_batch)
    assert log.last_seq() == 1000 * len(per_batch)
    log.close()


def test_a_second_writer_gets_a_clear_error_not_a_traceback(tmp_path: Path) -> None:
    """While one process holds the write lock, another's append fails with a LogError."""
    import sqlite3

    from sitroom.errors import LogError

    log = SqliteLog(tmp_path / "log.db", create=True, busy_timeout_ms=50)
    holder = sqlite3.connect(tmp_path / "log.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(LogError, match="another sitroom process"):
            log.append(stamp([make_record(1)], 1))
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert len(log.append(stamp([make_record(1)], 2)).appended) == 1
    log.close()


def test_pages_keep_typed_payloads_typed_beside_json_ones(tmp_path: Path) -> None:
    """A page never mixes payload forms, so a bulk feed's typed payloads are not turned into
    JSON text because a JSON record sits next to them in the log (that cost 4 s a million)."""
    log = SqliteLog(tmp_path / "log.db", create=True)
    n = 1000
    typed = RecordBatch.from_columns(
        id=[f"t:{i}" for i in range(n)],
        kind="test.typed",
        kind_version=1,
        source="t",
        compartment="",
        payload=pa.array([{"n": i} for i in range(n)]),
    )
    log.append(stamp([make_record(0)], 1))
    log.append(stamp_batch(typed, 2))
    log.append(stamp([make_record(1)], 5000))
    log.append(stamp_batch(typed.with_column("id", [f"u:{i}" for i in range(n)]), 6000))
    pages = list(log.read(page_size=300))
    assert sum(len(p) for p in pages) == 2 * n + 2
    assert all(len(p) <= 300 for p in pages)
    for page in pages:
        kinds = set(page.column("kind").to_pylist())
        assert page.typed == (kinds == {"test.typed"}), kinds
    assert [r.payload["n"] for p in pages for r in p.rows()] == [0, *range(n), 1, *range(n)]
    log.close()
