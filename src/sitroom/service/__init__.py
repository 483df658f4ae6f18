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
"""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
import sys
import threading
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
from sitroom.service.hub import Hub
from sitroom.settings import Settings

log = logging.getLogger("sitroom.service")

__all__ = ["Service", "parse_listen", "serve"]

GRACE_S = 10  # in-flight requests get this long to finish once stopping


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
        self.hub = Hub(room, login_attempts_per_minute=settings.login_attempts_per_minute)
        self.app = create_app(self.hub, queue_max=settings.stream_queue_max)
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
        started = iso(SystemClock().now_ms()) or ""
        self.lock.advertise(url, started=started, site=self.settings.site)
        if self._ready is not None:
            self._ready(url)

    def run(self, ready: Callable[[str], None] | None = None) -> None:
        """Serve until stopped; ``ready`` is told the URL once it listens. The room is closed
        and the lock let go however it ends."""
        self._ready = ready
        if self._desk_listen is not None:
            self._desk = threading.Thread(
                target=self._run_desk, args=(self._desk_listen,), name="sitroom-desk"
            )
            self._desk.start()
        try:
            self.server.run()
        finally:
            try:
                self._desk_stop.set()
                if self._desk is not None:
                    self._desk.join()
                self.hub.close()
            finally:
                self.lock.release()
        if not self.server.started:
            raise WorkspaceError(f"cannot listen on {self.server.config.host}:"
                                 f"{self.server.config.port}")  # fmt: skip

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
    ready: Callable[[str], None] | None = None,
    desk: str | None = None,
    desk_ready: Callable[[str], None] | None = None,
) -> None:
    """Serve the room in ``path`` until SIGTERM or SIGINT, logging JSON lines on stderr; with
    ``desk``, its desk too, listening there."""
    log_json()
    service = Service(path, listen=listen, desk=desk)
    service.desk_ready = desk_ready
    # uvicorn raises the signal that stopped it again once it has stopped, for the handler it
    # found: a handler that does nothing lets the room close and the lock go first.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: None)
    service.run(ready)


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
