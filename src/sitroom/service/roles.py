"""A room served by several `sitroom serve` processes on one PostgreSQL log: this one's role.

    elector thread ─ every RETRY_S: a reader stands for election (adapters/pg_roles.py);
        the writer checks it still holds it, and ticks the clock-driven work when it is due
        elected ─> its log appends again, it folds the tail, and the service takes up the
                   writer's work (Service.elected: serve.json, the desk, its URL in the log)
        lost    ─> the service stops: two processes must never both run the clock-driven work
    listener thread ─ NOTIFY sitroom_log ─> the tail folded on the room's thread ─> the stream

A reader's log refuses appends (NotWriter): its requests that write are forwarded to the
writer (service/forward.py), whose engine alone appends, so each append's detectors and
reactors run once, in one process, on states that hold every record before it.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable

import orjson

from sitroom.adapters.pg_roles import Candidacy, Listener
from sitroom.service.hub import READER, WRITER, Hub

log = logging.getLogger("sitroom.service")

RETRY_S = 0.5  # how often a reader stands for election, and the writer checks it holds it


class Roles:
    """This process's role on the log, and the threads that keep it up to date."""

    def __init__(
        self, hub: Hub, url: str, *, elected: Callable[[], None], lost: Callable[[], None]
    ) -> None:
        self.hub = hub
        self.room = hub.room
        self.candidacy = Candidacy(url)
        self.listener = Listener(url, self._heard)
        self._elected = elected
        self._lost = lost
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sitroom-elector", daemon=True)
        self.loop: asyncio.AbstractEventLoop | None = None
        self._due: int | None = None  # when the clock-driven work next wants a tick
        self._seen = -1  # the log's last seq when _due was last asked

    @property
    def writer(self) -> bool:
        return self.hub.role == WRITER

    def start(self) -> None:
        """Stand for election once now (the start line says the outcome), then keep trying
        and listening on threads of their own."""
        self.room.follow("another `sitroom serve` process is this log's writer")
        self.hub.role = READER
        if not (self.candidacy.try_lead() and self._take_over()):
            log.info("serving as a reader", extra={"fields": {"role": READER}})
        self.listener.start()
        self._thread.start()

    def stop(self) -> None:
        """Stop standing and listening (the lock is let go by :meth:`resign`)."""
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(10)
        self.listener.stop()

    def resign(self) -> None:
        self.candidacy.close()

    def _run(self) -> None:
        while not self._stop.wait(RETRY_S):
            try:
                if not self.writer:
                    if self.candidacy.try_lead():
                        self._take_over()
                elif not self.candidacy.holds():
                    self._step_down()
                    return
                else:
                    self._tick()
            except Exception:  # logged; the next turn tries again
                log.exception("the election's turn failed")

    def _take_over(self) -> bool:
        """Become the writer, the election won (False: the log cannot be written at all, a
        standby: the election is let go again)."""

        def lead() -> bool:
            self._seen = -1
            return self.room.lead()

        if not self.hub.call(lead):
            self.candidacy.close()
            return False
        self.hub.role = WRITER
        log.info("elected the writer", extra={"fields": {"role": WRITER}})
        self._elected()
        self._wake()
        return True

    def _step_down(self) -> None:
        self.room.follow("this process lost the election")
        self.hub.role = READER
        log.error(
            "lost the database connection holding the writer's lock: stopping, so that no two "
            "processes write; start it again to serve as a reader",
            extra={"fields": {"role": READER}},
        )
        self._lost()

    def _tick(self) -> None:
        """Let the clock-driven detectors and reactors look at the time when one said it is
        due: only the writer does (a reader's log is read-only, and its ticks raise nothing),
        and it does so though no request asks it, since the requests may all go to readers."""
        session = self.hub.room.session

        def tick() -> bool:
            now = session.now_ms()
            made = ticked = False
            if self._due is not None and now >= self._due:
                done = session.tick(now)
                made, ticked = bool(done.alerts or done.derived), True
            last = session.last_seq()
            if ticked or last != self._seen:  # what is due next changes only with the log
                self._due, self._seen = session.next_due(now), last
            return made

        if self.hub.call(tick):
            self._wake()

    def _heard(self, seq: int | None) -> None:
        """The log grew (or may have): fold its tail now, on the room's thread, then let the
        stream look."""
        # The seq says only that there is something: the tail is read from this process's own
        # position, so a notification missed (a dropped connection) leaves nothing behind.
        self.hub.call(self.room.catch_up)
        self._wake()

    def _wake(self) -> None:
        loop = self.loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self.hub.wrote.set)

    # for the forwarding of writes -----------------------------------------------------------
    async def writer_url(self) -> str | None:
        """Where the writer says it listens (None: no writer has said so yet)."""
        said = await self.hub.run(self.room.writer_said)
        try:
            url = orjson.loads(said or "{}").get("url")
        except (orjson.JSONDecodeError, AttributeError):
            return None
        return url if isinstance(url, str) and url else None

    async def caught_up(self) -> None:
        """Fold what the log holds now (a write the writer answered), and let the stream
        look: the next read here shows it."""
        await self.hub.run(self.room.catch_up)
        self.hub.wrote.set()

    def advertise(self, url: str, *, pid: int, started: str) -> None:
        """Say in the log where this writer listens (room thread)."""
        body = {"url": url, "pid": pid, "started": started}
        self.hub.call(lambda: self.room.say_writer(orjson.dumps(body).decode()))

    def withdraw(self) -> None:
        """Say no writer listens (a writer stopping cleanly; room thread)."""
        if self.writer:
            self.hub.call(lambda: self.room.say_writer("{}"))
