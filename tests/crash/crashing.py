"""What every trial of the crash matrix shares: running the real CLI and killing it with SIGKILL,
counting what a log holds, and tallying where the kills landed.

A kill is drawn from the duration of an unkilled reference run, measured on this machine, so
the kills spread over the work whatever the machine's speed. The delay counts from a moment
both runs make visible: the log opened (the imports before it are no part of the work), or a
first commit (an ingest's first segment, a key file saved), so that the start-up takes no share
of the kills.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from sitroom.adapters.log_sqlite import SqliteLog

TRIALS = int(os.environ.get("SITROOM_CRASH_TRIALS", "3"))
SEED = int(os.environ.get("SITROOM_CRASH_SEED", "18"))
DERIVED = ("audit.checkpoint:",)  # ids the log makes itself, at positions a crash may move
SIGKILLED = -signal.SIGKILL
TIMEOUT = 240  # seconds an unkilled command may take


def db(ws: Path) -> Path:
    return ws / "sitroom.db"


def copy(ws: Path, to: Path) -> Path:
    """A copy of the workspace ``ws``, its write-ahead log folded in and gone (a read-only
    connection leaves one behind): as a closed workspace is, so that :func:`opened` tells when
    a process opens it."""
    shutil.copytree(ws, to)
    con = sqlite3.connect(db(to))
    con.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()  # it reads: it opens the WAL
    con.close()
    assert not opened(to)(), f"{to}: the log's write-ahead log stayed after closing"
    return to


# running and killing the CLI ----------------------------------------------------------------
Mark = Callable[[], bool]  # whether the work has committed something visible yet


@dataclass(frozen=True)
class Run:
    """A CLI process that ran to its end, or was killed (``code`` -9)."""

    code: int
    out: str
    err: str
    seconds: float  # from start to exit (or to the kill)
    marked: float | None  # when its ``mark`` first held, from its start (None: not asked)

    @property
    def killed(self) -> bool:
        """The kill landed while it ran (not after it had exited by itself)."""
        return self.code == SIGKILLED


def _run(args: list[str], *, mark: Mark | None, kill_after: float | None) -> Run:
    """``python -m sitroom ARGS``, its output into files (a pipe nobody reads could block it)."""
    marked: float | None = None
    assert mark is None or not mark(), f"{args}: its mark held before it started"
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.monotonic()
        proc = subprocess.Popen([sys.executable, "-m", "sitroom", *args], stdout=out, stderr=err)
        try:
            if mark is not None:
                while proc.poll() is None and not mark() and time.monotonic() - t0 < TIMEOUT:
                    time.sleep(0.005)
                marked = time.monotonic() - t0
            if kill_after is None:
                proc.wait(timeout=TIMEOUT)
            else:
                try:
                    proc.wait(timeout=kill_after)
                except subprocess.TimeoutExpired:
                    # Not reaped yet: the pid is still this process's, even if it just exited.
                    proc.send_signal(signal.SIGKILL)
            proc.wait()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        seconds = time.monotonic() - t0
        out.seek(0)
        err.seek(0)
        return Run(proc.returncode, out.read().decode(), err.read().decode(), seconds, marked)


def reference(args: list[str], *, mark: Mark | None = None) -> Run:
    """An unkilled run: what a trial's kill is drawn from, and what its re-run must reach;
    ``mark`` notes when its work first committed something."""
    ran = _run(args, mark=mark, kill_after=None)
    assert ran.code == 0, (args, ran.err)
    return ran


def kill(args: list[str], delay: float, *, after: Mark | None = None) -> Run:
    """Run, and SIGKILL it ``delay`` seconds after it started, or after ``after`` first held:
    the kill lands wherever it lands; :attr:`Run.killed` says whether it still ran."""
    return _run(args, mark=after, kill_after=delay)


def opened(ws: Path) -> Mark:
    """Whether a process has opened the log in ``ws``: SQLite makes its write-ahead log then,
    and removes it when the last connection closes. The imports before it are no part of the
    work, and the share of a run they take varies most with the machine's load."""
    return (db(ws).parent / f"{db(ws).name}-wal").exists


# what a log holds -------------------------------------------------------------------------
@dataclass(frozen=True)
class Census:
    stored: int  # records in the segments
    indexed: int  # ids in the id index
    distinct: int  # distinct ids among the stored records
    by_kind: dict[str, int]
    ids: frozenset[str]  # the index's ids, but those the log derives itself (DERIVED)

    @property
    def acknowledged(self) -> dict[str, int]:
        """Records per kind, but the derived ones."""
        return {k: n for k, n in self.by_kind.items() if not f"{k}:".startswith(DERIVED)}


def census(ws: Path, *, distinct: bool = True) -> Census:
    """What the log in ``ws`` holds; ``distinct`` reads every segment to count the distinct ids
    (else ``distinct`` is the index's count, which a unique key keeps distinct)."""
    con = sqlite3.connect(f"file:{db(ws)}?mode=ro", uri=True)
    try:
        by_kind = {
            str(k): int(n)
            for k, n in con.execute(
                "SELECT kind, SUM(last_seq - first_seq + 1) FROM segments GROUP BY kind"
            )
        }
        ids = [str(r[0]) for r in con.execute("SELECT id FROM ids")]
    finally:
        con.close()
    return Census(
        stored=sum(by_kind.values()),
        indexed=len(ids),
        distinct=_distinct(ws) if distinct else len(ids),
        by_kind=by_kind,
        ids=frozenset(i for i in ids if not i.startswith(DERIVED)),
    )


def _distinct(ws: Path) -> int:
    log = SqliteLog(db(ws))
    try:
        stored = [b.column("id").combine_chunks() for b in log.read()]
    finally:
        log.close()
    return len(pc.unique(pa.chunked_array(stored, pa.string()))) if stored else 0


def integrity(ws: Path) -> str:
    con = sqlite3.connect(f"file:{db(ws)}?mode=ro", uri=True)
    try:
        return str(con.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        con.close()


def counter(ws: Path, sql: str, *args: object) -> Callable[[], int]:
    """A count the log in ``ws`` answers now (``sql``), read while another process writes it;
    0 while the file is still being created."""

    def count() -> int:
        try:
            con = sqlite3.connect(f"file:{db(ws)}?mode=ro", uri=True, timeout=1)
        except sqlite3.OperationalError:
            return 0
        try:
            return int(con.execute(sql, args).fetchone()[0])
        except sqlite3.OperationalError:
            return 0
        finally:
            con.close()

    return count


def kind_count(ws: Path, kind: str) -> Callable[[], int]:
    """How many records of ``kind`` the log in ``ws`` holds now."""
    sql = "SELECT COALESCE(SUM(last_seq - first_seq + 1), 0) FROM segments WHERE kind = ?"
    return counter(ws, sql, kind)


def snapshot_count(ws: Path) -> Callable[[], int]:
    """How many projection snapshots the log in ``ws`` holds now."""
    return counter(ws, "SELECT COUNT(*) FROM snapshots")


def grown(count: Callable[[], int], beyond: int) -> Callable[[], bool]:
    """Whether ``count`` has passed ``beyond``: the work has committed something."""
    return lambda: count() > beyond


# when to kill, and where the kills landed ---------------------------------------------------
@dataclass
class Kills:
    """An operation's kills: each delay drawn uniformly over the work's duration as measured
    (from its mark to its end), and where each landed: mid-work, or after the work was done
    (the process had exited, or the desk had answered every message).

    A trial that finds the work done measured it again, faster than the reference did (the
    machine is shared): later delays are drawn from the shorter duration, so that the kills
    stay within the work whatever the load does meanwhile."""

    operation: str
    span: float  # seconds of work after the mark
    trials: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        # Each operation its own stream of the seed: one's trials move no other's draws.
        self._draw = random.Random(f"{SEED}:{self.operation}")

    @classmethod
    def after(cls, operation: str, ref: Run) -> Kills:
        assert ref.marked is not None, "the reference run was not marked"
        return cls(operation, ref.seconds - ref.marked)

    def delay(self) -> float:
        return self._draw.uniform(0.02, 0.95) * self.span

    def add(self, ran: Run, detail: str = "") -> None:
        if ran.killed or ran.marked is None:
            self.note(ran.seconds, detail)
        else:
            self.note(
                ran.seconds, f" (it exited {ran.code}){detail}", took=ran.seconds - ran.marked
            )

    def note(self, seconds: float, detail: str = "", *, took: float | None = None) -> None:
        """A kill ``seconds`` into the trial: mid-work, or after the work, which ``took`` that
        long after its mark."""
        if took is None:
            self.trials.append(f"mid-work at {seconds:.2f}s{detail}")
        else:
            self.trials.append(f"after the work at {seconds:.2f}s{detail}")
            self.span = min(self.span, took)

    @property
    def mid_work(self) -> int:
        return sum(t.startswith("mid-work") for t in self.trials)

    def summary(self) -> str:
        return (
            f"{self.operation}: {self.mid_work} of {len(self.trials)} kills mid-work "
            f"(seed {SEED}): " + "; ".join(self.trials)
        )

    def check(self) -> None:
        """Most kills must land while the work runs: else the trials test nothing."""
        print(self.summary())
        assert self.mid_work * 2 > len(self.trials), self.summary()
