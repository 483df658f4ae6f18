"""Several `sitroom serve` processes on one PostgreSQL log: who writes, and hearing of appends.

:class:`Candidacy` is the election. Each process tries ``pg_try_advisory_lock(WRITER_LOCK)`` at
*session* level on a connection of its own; the one holding it is the writer. The lock lives as
long as that connection: a writer killed, however, lets go of it when its connection closes, and
the next process to try becomes the writer — no lease, no heartbeat table. The key is not the
append lock's: appends take that one per transaction on the log's own connection, and a session
holding it on another connection would make the writer's own appends wait for itself. Appends
stay serialised by the append lock whoever makes them, so even a writer that has not yet noticed
it lost the election can never interleave with the new one.

:class:`Listener` hears the log grow: ``LISTEN sitroom_log`` on a connection of its own, each
append's ``NOTIFY`` (its last seq, sent at commit) handed on at once. A notification is a
wake-up, never the data: after (re)connecting, and after each quiet second, it hands on None —
"look at the log" — so whatever was missed while the connection was down is caught up from
the follower's own position.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import psycopg

from sitroom.adapters.log_postgres import APPEND_LOCK, CHANNEL

log = logging.getLogger("sitroom.service")

# The election's key: the append lock's plus one ("sitroon"), so the two never meet.
WRITER_LOCK = APPEND_LOCK + 1


# The connections' names, as pg_stat_activity shows them to an operator.
ELECTION, LISTENING = "sitroom-election", "sitroom-listen"


def _connect(url: str, timeout_s: int, name: str) -> psycopg.Connection[Any]:
    return psycopg.connect(url, autocommit=True, connect_timeout=timeout_s, application_name=name)


class Candidacy:
    """This process's claim to be the log's writer, on a connection of its own (one thread
    uses it: the elector's)."""

    def __init__(self, url: str, *, connect_timeout_s: int = 5) -> None:
        self._url = url
        self._timeout = connect_timeout_s
        self._con: psycopg.Connection[Any] | None = None
        self.held = False

    def try_lead(self) -> bool:
        """Whether this process is now the writer: it holds the lock, or has just taken it.
        A database that cannot be reached is no (tried again at the next turn)."""
        if self.held:
            return self.holds()
        try:
            if self._con is None or self._con.closed:
                self._con = _connect(self._url, self._timeout, ELECTION)
            row = self._con.execute("SELECT pg_try_advisory_lock(%s)", (WRITER_LOCK,)).fetchone()
        except psycopg.Error:
            self._drop()
            return False
        self.held = row == (True,)
        return self.held

    def holds(self) -> bool:
        """Whether the lock is still held: its connection answers. A writer whose connection
        is gone has lost the election, whether or not another has won it yet."""
        if not self.held or self._con is None:
            return False
        try:
            self._con.execute("SELECT 1")
        except psycopg.Error:
            self._drop()
            return False
        return True

    def _drop(self) -> None:
        self.held = False
        if self._con is not None:
            self._con.close()
            self._con = None

    def close(self) -> None:
        """Let go (the connection closed: the lock with it)."""
        self._drop()


class Listener:
    """A thread hearing the log's appends: ``heard(seq)`` for each notification, ``heard(None)``
    after connecting and after each quiet ``quiet_s`` (look at the log: something may have been
    missed)."""

    def __init__(
        self,
        url: str,
        heard: Callable[[int | None], None],
        *,
        quiet_s: float = 1.0,
        connect_timeout_s: int = 5,
    ) -> None:
        self._url = url
        self._heard = heard
        self._quiet_s = quiet_s
        self._timeout = connect_timeout_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sitroom-listen", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(self._quiet_s + self._timeout + 1)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                with _connect(self._url, self._timeout, LISTENING) as con:
                    con.execute(f"LISTEN {CHANNEL}")
                    self._heard(None)  # what was appended before listening, or while away
                    while not self._stop.is_set():
                        last = None
                        for note in con.notifies(timeout=self._quiet_s):
                            last = _seq(note.payload)
                            break  # handed on at once; the rest are read on the next turn
                        self._heard(last)
            except psycopg.Error as e:
                log.warning("not hearing the log's appends: %s; trying again", e)
                self._stop.wait(1.0)
            except Exception:  # a follower's failure is logged, and listening goes on
                log.exception("a follower failed to fold what it heard")
                self._stop.wait(1.0)


def _seq(payload: str) -> int | None:
    """The seq a notification carries (None: not one of ours: look at the log anyway)."""
    return int(payload) if payload.isascii() and payload.isdigit() else None
