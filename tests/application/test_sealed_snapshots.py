"""The engine with signed snapshots (application/snapshots.py) over the real SQLite log and real
keys: it still starts from its snapshots (an open folds only the tail after one); a snapshot
that does not verify is passed over for an older one that does, said once, and replaced at the
next checkpoint; a process that cannot sign saves none, and a damaged key fails nothing."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from sitroom.adapters.keystore import new_secret
from sitroom.adapters.log_sqlite import SqliteLog
from sitroom.application.engine import Engine
from sitroom.application.snapshots import SignedSnapshots
from sitroom.domain.records import RecordBatch
from sitroom.domain.secure.identity import SITE, Secret
from sitroom.domain.sources import SourcesProjection
from sitroom.domain.summary import SummaryProjection
from sitroom.errors import SecureError
from sitroom.testing import T0, ManualClock, make_record

SITE_KEY = new_secret("s1", SITE)
EVERY = 7


class CountingLog(SqliteLog):
    """The SQLite log, counting the records that reads hand out."""

    handed = 0

    def read(self, **kw: Any) -> Iterator[RecordBatch]:
        for b in super().read(**kw):
            self.handed += len(b)
            yield b


def seal(
    log: SqliteLog, *, signs: bool = True, secret: Callable[[], Secret] = lambda: SITE_KEY
) -> SignedSnapshots:
    return SignedSnapshots(log.segment_head, lambda: SITE_KEY.identity, secret, lambda: signs)


def engine(log: SqliteLog, **kw: Any) -> Engine:
    return Engine(
        log,
        ManualClock(T0),
        site="s1",
        projections=[SummaryProjection(), SourcesProjection()],
        snapshot_every=EVERY,
        seal=seal(log, **kw),
    )


def event(i: int) -> Any:
    return make_record(i, kind="gdelt.event", source="feed", payload={"event": {"quad_class": 1}})


def written(db: Path, records: int = 40) -> Any:
    """A log of ``records`` records, its snapshots signed; the summary it folds to."""
    e = engine(CountingLog(db, create=True))
    for i in range(0, records, 3):
        e.append([event(j) for j in range(i, min(i + 3, records))])
    e.checkpoint()
    state = e.states["summary"]
    e.log.close()
    return state


def rows(db: Path, projection: str = "summary") -> dict[int, bytes]:
    with sqlite3.connect(db) as con:
        found = con.execute(
            "SELECT seq, data FROM snapshots WHERE projection = ?", (projection,)
        ).fetchall()
    return {int(s): bytes(d) for s, d in found}


def test_an_open_starts_from_the_newest_signed_snapshot(tmp_path: Path) -> None:
    """Normal operation does not regress: the snapshots are used, and no note is made."""
    db = tmp_path / "l.db"
    state = written(db)
    assert max(rows(db)) == 40 and all(
        b.startswith(b"sitroom-snapshot/1\n") for b in rows(db).values()
    )
    log = CountingLog(db)
    e = engine(log)
    assert e.states["summary"] == state
    assert log.handed == 0 and e.notes == []  # snapshot at the log's end: nothing folded
    log.handed = 0
    e.rebuild("summary", 33)
    assert log.handed <= EVERY - 1 and e.notes == []  # from the snapshot at 28


def test_a_snapshot_that_does_not_verify_falls_back_is_said_once_and_is_replaced(
    tmp_path: Path,
) -> None:
    db = tmp_path / "l.db"
    state = written(db)
    snaps = rows(db)
    older = max(s for s in snaps if s < 40)
    with sqlite3.connect(db) as con:  # the newest one, its state changed
        con.execute(
            "UPDATE snapshots SET data = ? WHERE projection = 'summary' AND seq = 40",
            (snaps[40].replace(b'"records":40', b'"records":99'),),
        )
    assert rows(db)[40] != snaps[40]
    log = CountingLog(db)
    e = engine(log)
    assert e.states["summary"] == state
    assert log.handed == 40 - older  # the tail after the older snapshot, and no more
    assert e.notes == [
        "the snapshot of `summary` at seq 40 does not verify (its state is not the state that "
        f"was signed): rebuilt from the snapshot at seq {older}"
    ]
    e.rebuild("summary", 40)
    assert len(e.notes) == 1  # said once
    assert e.checkpoint() == 1  # however near the live state stands: replaced
    assert rows(db)[40] == snaps[40]  # the same state, so the same signed bytes
    e.log.close()
    assert engine(CountingLog(db)).notes == []


def test_a_process_that_cannot_sign_saves_none_and_uses_those_saved(tmp_path: Path) -> None:
    db = tmp_path / "l.db"
    state = written(db, 20)
    before = rows(db)
    log = CountingLog(db)
    e = engine(log, signs=False)
    assert e.states["summary"] == state and log.handed == 0
    e.append([event(j) for j in range(20, 40)])  # past two multiples of EVERY
    assert e.checkpoint() == 0
    assert rows(db) == before


def test_a_damaged_site_key_fails_nothing_and_saves_nothing(tmp_path: Path) -> None:
    def damaged() -> Secret:
        raise SecureError("wrong key file for s1's keys")

    log = CountingLog(tmp_path / "l.db", create=True)
    e = engine(log, secret=damaged)
    e.append([event(j) for j in range(30)])
    assert e.checkpoint() == 0 and rows(tmp_path / "l.db") == {}
    assert e.seal.unsigned == "wrong key file for s1's keys"  # type: ignore[attr-defined]
    assert not e.seal.signs
