"""`sitroom serve`: one room served to a team over HTTP — REST, a live stream, metrics.

    sitroom serve -w ROOM ─> holds ROOM/serve.lock (flock), advertises ROOM/serve.json
                          └─> opens the room once, as the site (the one writer, the key holder)
                              └─> one thread runs every room call (service.hub)
    HTTP (uvicorn, FastAPI) ─> bearer token ─> the room as that user ─> Result.to_json()

The server is an edge like the CLI: each endpoint parses, makes one Room call and answers with
exactly what ``--json`` prints. While it runs, every other process is refused the room
(``sitroom verify`` aside, which reads the log alone): it is the only writer, so a write it
acknowledges (after its append committed) is never lost, and its stream sees every record.

Stopping (SIGTERM, SIGINT, :meth:`Service.stop`): it stops accepting, ends the streams, lets the
requests in flight finish, then closes the room (a checkpoint), withdraws ``serve.json`` and
lets go of the lock.

On a PostgreSQL log several processes may serve one room (docs/scale-out.md): one is elected
its writer by an advisory lock and does all of the above; the others are readers, which answer
reads, forward writes to the writer (service/forward.py), follow the log as it grows, and stand
for election until the writer is gone (service/roles.py). The elected writer holds
``serve.lock`` and advertises ``serve.json``, so the workspace's commands go through it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

import orjson
import uvicorn

import sitroom.room
from sitroom.adapters.clock import SystemClock
from sitroom.adapters.served import ServeLock
from sitroom.domain.timeutil import iso
from sitroom.domain.wording import said
from sitroom.errors import UserInputError, WorkspaceError
from sitroom.service.app import create_app
from sitroom.service.hub import WRITER, Hub
from sitroom.service.roles import Roles
from sitroom.settings import Settings

log = logging.getLogger("sitroom.service")

__all__ = ["Service", "parse_listen", "serve"]

GRACE_S = 10  # in-flight requests get this long to finish once stopping
LOCK_WAIT_S = 5.0  # an elected writer waits this long for serve.lock from the one it replaces


def parse_listen(listen: str) -> tuple[str, int]:
    """HOST:PORT (port 0: a free one)."""
    host, _, port = listen.rpartition(":")
    if not host or not (port.isascii() and port.isdigit()) or int(port) > 65535:
        raise UserInputError(f"an address to listen on is HOST:PORT, not {listen[:80]!r}")
    return host.strip("[]"), int(port)


class _Server(uvicorn.Server):
    """uvicorn's server, telling the room's streams when it starts to stop, and saying where
    it listens once it does."""

    def __init__(self, config: uvicorn.Config, service: Service) -> None:
        super().__init__(config)
        self.service = service

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self.service.hub.stopping.set()
        super().handle_exit(sig, frame)

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            host, port = self.servers[0].sockets[0].getsockname()[:2]
            shown = f"[{host}]" if ":" in host else host
            self.service.listening(f"http://{shown}:{port}")


class Service:
    """A room, served: the lock, the room opened once, the application, the HTTP server."""

    def __init__(
        self, path: Path | str, *, listen: str | None = None, desk: str | None = None
    ) -> None:
        self.path = Path(path)
        if desk is not None:
            parse_listen(desk)  # a bad address is said before anything starts
        if not sitroom.room.is_room(self.path):
            sitroom.room.open(self.path)  # says why: no workspace, a lost log
        settings = Settings.load(self.path)
        host, port = parse_listen(listen or settings.serve_listen)
        self.lock = ServeLock(self.path)
        # On PostgreSQL several servers share the room: the election says who writes, and the
        # elected one takes serve.lock then. On SQLite the lock is the one server's, from here.
        self.shared = bool(settings.log_url)
        if not self.shared:
            holder = self.lock.acquire()
            if holder is not None:
                raise WorkspaceError(f"{holder.says(self.path)}: stop it first")
        try:
            room = sitroom.room.open(self.path, as_site=True, served_ok=True)
        except BaseException:
            self.lock.release()
            raise
        sitroom.room.settle()
        self.settings = settings
        self.url: str | None = None
        self.started = iso(SystemClock().now_ms()) or ""
        self.hub = Hub(room, login_attempts_per_minute=settings.login_attempts_per_minute)
        self.roles: Roles | None = None
        self.lost = False  # a writer that lost the election: it stops
        if self.shared:
            self.roles = Roles(self.hub, settings.log_url, elected=self.elected, lost=self._lost)
        # Shared, the stream is woken by every append heard of: looking is only a fallback.
        self.app = create_app(
            self.hub,
            queue_max=settings.stream_queue_max,
            roles=self.roles,
            poll_s=1.0 if self.shared else 0.01,
        )
        config = uvicorn.Config(
            self.app,
            host=host,
            port=port,
            log_config=None,
            access_log=False,
            lifespan="on",
            timeout_graceful_shutdown=GRACE_S,
            ws="none",
        )
        self.server = _Server(config, self)
        self._ready: Callable[[str], None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._desk_listen = desk
        self._desk_stop = threading.Event()
        self._desk: threading.Thread | None = None
        self.desk_url: str | None = None
        self.desk_ready: Callable[[str], None] | None = None
        self._running = False
        self._turn = threading.Lock()  # the desk starts once, from run() or an election
        if self.roles is not None:
            try:
                self.roles.start()
            except BaseException:
                self.hub.close()
                self.roles.resign()
                raise

    @property
    def role(self) -> str:
        return self.hub.role

    def elected(self) -> None:
        """This process was elected the writer (at start, or when the last one went): it
        takes serve.lock, says where it listens, and starts the desk it was given."""
        deadline = time.monotonic() + LOCK_WAIT_S
        while (holder := self.lock.acquire()) is not None:
            if time.monotonic() > deadline:  # the old writer's process, not yet stopped
                log.warning("serve.lock is still held: %s", holder.says(self.path))
                break
            time.sleep(0.1)
        if self.url is not None:
            self._advertise(self.url)
        self._start_desk()

    def _lost(self) -> None:
        self.lost = True
        self.stop()

    def _advertise(self, url: str) -> None:
        self.lock.advertise(url, started=self.started, site=self.settings.site)
        if self.roles is not None:
            self.roles.advertise(url, pid=os.getpid(), started=self.started)

    def _start_desk(self) -> None:
        with self._turn:
            if (
                self._desk_listen is None
                or self._desk is not None
                or not self._running
                or self.hub.role != WRITER
            ):
                return
            self._desk = threading.Thread(
                target=self._run_desk, args=(self._desk_listen,), name="sitroom-desk"
            )
            self._desk.start()

    def _run_desk(self, listen: str) -> None:
        """The site's desk, in this process (its one writer): it takes turns with the
        requests on the room (the hub's lock). A desk that cannot start stops the server."""

        def ready(url: str) -> None:
            self.desk_url = url
            if self.desk_ready is not None:
                self.desk_ready(url)

        try:
            self.hub.room.channels.run_desk(
                listen=listen, stop=self._desk_stop, ready=ready, lock=self.hub.lock
            )
        except Exception as e:  # said in the log, and the server stops: no half a room
            log.error("the desk stopped: %s", said(e))
            self.stop()

    def listening(self, url: str) -> None:
        self.url = url
        self._loop = asyncio.get_running_loop()
        if self.roles is not None:
            self.roles.loop = self._loop
        if self.hub.role == WRITER:
            self._advertise(url)
        if self._ready is not None:
            self._ready(url)

    def run(self, ready: Callable[[str], None] | None = None) -> None:
        """Serve until stopped; ``ready`` is told the URL once it listens. The room is closed
        and the lock let go however it ends."""
        self._ready = ready
        self._running = True
        self._start_desk()
        try:
            self.server.run()
        finally:
            try:
                with self._turn:
                    self._running = False
                self._desk_stop.set()
                if self._desk is not None:
                    self._desk.join()
                self._step_back()
                self.hub.close()
            finally:
                if self.roles is not None:
                    self.roles.resign()  # after the room's last checkpoint: then the next
                self.lock.release()
        if self.lost:
            raise WorkspaceError(
                "lost the database connection that held the writer's election: stopped, so "
                "that no two processes write; start it again (it serves as a reader)"
            )
        if not self.server.started:
            raise WorkspaceError(f"cannot listen on {self.server.config.host}:"
                                 f"{self.server.config.port}")  # fmt: skip

    def _step_back(self) -> None:
        """Stop standing and following; a writer says in the log that nobody listens now."""
        if self.roles is None:
            return
        self.roles.stop()
        try:
            self.roles.withdraw()
        except Exception as e:  # the database gone: the readers find the writer gone anyway
            log.warning("could not withdraw the writer's address: %s", said(e))

    def stop(self) -> None:
        """Stop as SIGTERM does (from any thread)."""
        loop = self._loop
        if loop is None:
            self.server.should_exit = True
            return

        def now() -> None:
            self.hub.stopping.set()
            self.server.should_exit = True

        loop.call_soon_threadsafe(now)


def serve(
    path: Path | str,
    *,
    listen: str | None = None,
    ready: Callable[[str, str], None] | None = None,
    desk: str | None = None,
    desk_ready: Callable[[str], None] | None = None,
) -> None:
    """Serve the room in ``path`` until SIGTERM or SIGINT, logging JSON lines on stderr; with
    ``desk``, its desk too, listening there. ``ready`` is told the URL and the role: writer,
    or reader (one of several processes on a PostgreSQL log)."""
    log_json()
    service = Service(path, listen=listen, desk=desk)
    service.desk_ready = desk_ready
    # uvicorn raises the signal that stopped it again once it has stopped, for the handler it
    # found: a handler that does nothing lets the room close and the lock go first.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: None)
    service.run(None if ready is None else lambda url: ready(url, service.role))


class JsonLines(logging.Formatter):
    """A log record as one JSON line: time, level, logger, message, its fields, a traceback."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": iso(round(record.created * 1000)),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update(getattr(record, "fields", {}))
        if record.exc_info:
            line["traceback"] = self.formatException(record.exc_info)
        return orjson.dumps(line, default=str).decode()


def log_json() -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLines())
    for name in ("sitroom.service", "uvicorn"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(logging.INFO)
        logger.propagate = False
