"""The head kept outside the log moves only forward, along the log that holds it: a newer head
of the same log replaces it; an older one (a verify that signed what it had read while a
writer went on), or one of a log that no longer holds the kept head, does not — that head is
the evidence `sitroom verify` reports. A real SQLite log and a real head file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sitroom.adapters.heads import HeadFile
from sitroom.adapters.keystore import new_secret
from sitroom.adapters.log_sqlite import SqliteLog
from sitroom.application.audit import keep_head
from sitroom.domain.records import RecordBatch
from sitroom.domain.secure import audit
from sitroom.domain.secure.identity import SITE
from sitroom.errors import SecureError
from sitroom.testing import make_record

SECRET = new_secret("geneva", SITE)


def grow(log: SqliteLog, n: int, source: str = "notes") -> audit.SignedHead:
    """Append ``n`` records; the log's head after them, signed."""
    first = log.last_seq()
    batch = RecordBatch.from_records(
        [make_record(i, source=source) for i in range(first, first + n)]
    )
    rt = log.last_recorded_time() + 1
    batch = batch.with_column("recorded_time", np.arange(rt, rt + len(batch)))
    log.append(batch.with_column("origin", ["geneva"] * len(batch)))
    return log.tree_head().sign(SECRET)


def test_the_kept_head_moves_forward_along_its_log(tmp_path: Path) -> None:
    log = SqliteLog(tmp_path / "log.db", create=True)
    heads = HeadFile(tmp_path / "head.json")
    try:
        early = grow(log, 3)
        assert keep_head(heads, early, log.head_at) and heads.last() == early
        later = grow(log, 2)
        assert keep_head(heads, later, log.head_at) and heads.last() == later
        assert not keep_head(heads, early, log.head_at)  # never backwards
        assert heads.last() == later
    finally:
        log.close()


def test_a_log_that_does_not_hold_the_kept_head_cannot_replace_it(tmp_path: Path) -> None:
    ours = SqliteLog(tmp_path / "ours.db", create=True)
    other = SqliteLog(tmp_path / "other.db", create=True)
    heads = HeadFile(tmp_path / "head.json")
    try:
        kept = grow(ours, 3)
        assert keep_head(heads, kept, ours.head_at)
        grow(other, 3, source="elsewhere")  # another log swapped in: another chain
        newer = grow(other, 5, source="elsewhere")
        assert other.head_at(kept.seq) not in (None, kept.head)
        assert not keep_head(heads, newer, other.head_at)
        assert heads.last() == kept
    finally:
        ours.close()
        other.close()


def test_an_unreadable_head_file_is_left_for_verify_to_report(tmp_path: Path) -> None:
    log = SqliteLog(tmp_path / "log.db", create=True)
    heads = HeadFile(tmp_path / "head.json")
    heads.path.write_text('{"format": "sitroom-head/1", "seq": "twelve"}')
    try:
        with pytest.raises(SecureError, match=r"head\.json is malformed"):
            heads.last()
        assert not keep_head(heads, grow(log, 2), log.head_at)
        assert heads.path.read_text() == '{"format": "sitroom-head/1", "seq": "twelve"}'
    finally:
        log.close()
