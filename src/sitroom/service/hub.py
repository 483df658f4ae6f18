"""The served room: opened once, as the site, and driven from one thread.

The engine and its SQLite connection are not thread-safe, and writes must be ordered: every
room call of the server runs on one dedicated thread (an executor of one worker), awaited by
the async handlers. A request is one job there: prove the bearer (``room.auth.authenticate``),
take the room as that user (``room.as_user``: their clearances scope the reads, their role and
clearances check the writes, their key signs them), make the one call, and turn the answer into
JSON — so nothing of the room is touched anywhere else.

A room without users is single-user: a request without a token acts as the room itself (the
server listens on loopback by default; say so before listening anywhere else).

Logins are the exception: a passphrase costs an scrypt (0.1 s, 32 MiB) and touches only key
files, never the engine, so they run on a thread of their own rather than stall every other
request behind them; failed ones are limited per user name (:class:`Attempts`).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from sitroom.application.audit import Report
from sitroom.application.results import Result
from sitroom.errors import AuthError, UserInputError
from sitroom.room import Room

log = logging.getLogger("sitroom.service")

T = TypeVar("T")
TOKEN_PREFIX = "sitroom_"
WRITER, READER = "writer", "reader"  # a server's role on its log (service/roles.py)


class TooMany(UserInputError):
    """Too many failed logins for one user name in the last minute: wait ``retry_after_s``."""

    code = "rate_limited"

    def __init__(self, user: str, retry_after_s: int) -> None:
        super().__init__(f"too many failed logins for {user}; try again in {retry_after_s} s")
        self.user, self.retry_after_s = user, retry_after_s

    def fields(self) -> dict[str, Any]:
        return {"user": self.user, "retry_after_s": self.retry_after_s}


class TooLarge(UserInputError):
    """A body larger than the server takes (``limit`` bytes)."""

    code = "too_large"

    def __init__(self, limit: int) -> None:
        super().__init__(f"the body is larger than {limit:,} bytes (serve_upload_max_bytes)")
        self.limit = limit

    def fields(self) -> dict[str, Any]:
        return {"limit": self.limit}


class Attempts:
    """Failed logins per claimed user name in a sliding minute. Names are bounded too (the
    least recently failed forgotten first), so made-up names cannot grow the server."""

    WINDOW_S = 60.0

    def __init__(
        self, per_minute: int, *, clock: Callable[[], float] = time.monotonic, names: int = 10_000
    ) -> None:
        self.per_minute = per_minute
        self._clock = clock
        self._names = names
        self._failed: OrderedDict[str, deque[float]] = OrderedDict()

    def check(self, user: str) -> None:
        """TooMany if ``user`` has failed ``per_minute`` times in the last minute."""
        now = self._clock()
        failed = self._failed.get(user)
        if failed is None:
            return
        while failed and failed[0] <= now - self.WINDOW_S:
            failed.popleft()
        if len(failed) >= self.per_minute:
            raise TooMany(user, max(1, round(failed[0] + self.WINDOW_S - now)))

    def failed(self, user: str) -> None:
        self._failed.setdefault(user, deque()).append(self._clock())
        self._failed.move_to_end(user)
        while len(self._failed) > self._names:
            self._failed.popitem(last=False)


@dataclass(frozen=True)
class Acted:
    """A request's answer and who it acted as (None: the room itself)."""

    body: dict[str, Any]
    user: str | None


class Hub:
    """The room a server holds, the thread it runs on, and who may act on it."""

    def __init__(self, room: Room, *, login_attempts_per_minute: int) -> None:
        self.room = room
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sitroom-room")
        # Held by every room call, and by the desk the server runs (serve --desk), whose own
        # threads receive and deliver: the engine is used by one of them at a time.
        self.lock = threading.RLock()
        self._logins = ThreadPoolExecutor(max_workers=2, thread_name_prefix="sitroom-login")
        self.attempts = Attempts(login_attempts_per_minute)
        self.auth = room.auth  # made here, before two threads could each make one
        self.wrote = asyncio.Event()  # set after every write: the stream looks at once
        self.stopping = asyncio.Event()  # set when the server starts to stop
        # A server on a SQLite log is its one writer; on PostgreSQL it is elected (roles.py).
        self.role = WRITER
        self._noted = 0  # the room's notes logged so far
        self._log_notes()

    async def run(self, call: Callable[[], T]) -> T:
        """``call`` on the room's thread, awaited."""
        return await asyncio.get_running_loop().run_in_executor(self._thread, self._locked, call)

    def call(self, call: Callable[[], T]) -> T:
        """``call`` on the room's thread, from another thread (not the event loop's), waited
        for."""
        return self._thread.submit(self._locked, call).result()

    def _locked(self, call: Callable[[], T]) -> T:
        with self.lock:
            try:
                return call()
            finally:
                self._log_notes()

    def _log_notes(self) -> None:
        """Log what the room noted since (a snapshot that did not verify, and so was rebuilt
        from the log): a CLI says it on stderr; a server's operator reads its log."""
        notes = self.room.notes
        for note in notes[self._noted :]:
            log.warning("%s", note, extra={"fields": {"note": note}})
        self._noted = len(notes)

    async def act(
        self, view: Room, call: Callable[[Room], Result], *, writes: bool = False
    ) -> Acted:
        """``call`` the room as the user ``view`` is (:meth:`acting`): the answer's JSON."""

        def job() -> Acted:
            return Acted(call(view).to_json(), view.user)

        try:
            return await self.run(job)
        finally:
            if writes:  # a refusal is recorded too: the stream looks either way
                self.wrote.set()

    def acting(self, bearer: str | None) -> Room:
        """The room as whoever holds ``bearer`` (room thread only). AuthError (401) if the room
        has users and the bearer is missing, malformed, wrong, expired or revoked."""
        room = self.room
        if bearer is None:
            if room.has_users:
                raise AuthError("this room has users: send Authorization: Bearer <token>")
            return room
        if not bearer.startswith(TOKEN_PREFIX):
            raise AuthError("that is not a sitroom token")
        secret = room.auth.authenticate(bearer)
        return room.as_user(secret.name, secret)

    def verify(self, *, deep: bool, checkpoint: bool) -> Report:
        """Verify the log's audit chain (room thread only), and have the site sign the head
        verified: the server is the one writer, so no other process can."""
        from sitroom.room import verify

        report = verify(self.room.path, deep=deep, checkpoint=False)
        return self.room.audit.sign(report) if checkpoint else report

    async def login(self, user: str, passphrase: str, *, ttl_ms: int | None = None) -> Any:
        """A session token for ``user``, once their passphrase opens their key."""
        self.attempts.check(user)
        auth = self.auth
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(
                self._logins, lambda: auth.login(user, passphrase, ttl_ms=ttl_ms)
            )
        except AuthError:
            self.attempts.failed(user)
            raise

    def close(self) -> None:
        """Close the room on its own thread (a checkpoint, then the log), then the threads."""
        try:
            self._thread.submit(self._locked, self.room.close).result()
        finally:
            self._thread.shutdown(wait=True)
            self._logins.shutdown(wait=True)
