"""A served workspace: `sitroom serve` holds ``serve.lock`` and says where it listens.

While a server serves a room it is the room's one writer and the only process holding its
keys: it keeps an exclusive ``flock`` on ``ROOM/serve.lock`` for as long as it runs (the kernel
lets go of it when the process dies, however it dies) and advertises itself in
``ROOM/serve.json`` — ``{url, pid, started, site}`` — written whole (a temporary file renamed
over it) once it listens, and removed when it stops.

Any other process that opens the room asks :func:`served_by` first: the lock held by someone
else means a live server, and it is refused in one line (``room.open``). A ``serve.json`` left
behind by a server that was killed means nothing without the lock.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from sitroom.adapters.outputs import write_atomic

LOCK_FILE = "serve.lock"
INFO_FILE = "serve.json"


@dataclass(frozen=True)
class Server:
    """Who serves a room: where, which process, since when."""

    url: str
    pid: int | None
    started: str | None
    site: str | None

    def says(self, path: Path | str) -> str:
        pid = f" (pid {self.pid})" if self.pid else ""
        return f"{path} is served by `sitroom serve` at {self.url}{pid}"


def served_by(path: Path) -> Server | None:
    """The server holding ``path``'s lock now (None: nobody serves it). A shared lock is tried
    and let go at once: it fails only while a server holds the exclusive one."""
    try:
        fd = os.open(path / LOCK_FILE, os.O_RDONLY)
    except OSError:
        return None  # never served, or not ours to read: nothing says it is served
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError as e:
            if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                return None
            return _info(path)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def _info(path: Path) -> Server:
    try:
        data: Any = orjson.loads((path / INFO_FILE).read_bytes())
    except (OSError, orjson.JSONDecodeError):
        data = {}
    if not isinstance(data, dict):
        data = {}
    pid = data.get("pid")
    return Server(
        url=str(data.get("url") or "an address not yet published"),
        pid=pid if isinstance(pid, int) else None,
        started=data.get("started"),
        site=data.get("site"),
    )


class ServeLock:
    """The exclusive lock a server holds on a room, and the file that says where it is."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._fd: int | None = None

    def acquire(self) -> Server | None:
        """Take the lock: None once held, else the server holding it already. A probe's shared
        lock lasts microseconds: a few tries get past one."""
        fd = os.open(self.path / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
        for _ in range(50):
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as e:
                if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                    os.close(fd)
                    raise
                holder = served_by(self.path)
                if holder is not None:
                    os.close(fd)
                    return holder
                time.sleep(0.01)
                continue
            self._fd = fd
            return None
        os.close(fd)
        return _info(self.path)

    def advertise(self, url: str, *, started: str, site: str) -> None:
        """Say where the server listens, in a file written whole."""
        body = {"url": url, "pid": os.getpid(), "started": started, "site": site}
        write_atomic(self.path / INFO_FILE, orjson.dumps(body, option=orjson.OPT_INDENT_2) + b"\n")

    def release(self) -> None:
        """Withdraw the advertisement, then let go of the lock."""
        if self._fd is None:
            return
        with contextlib.suppress(FileNotFoundError):
            (self.path / INFO_FILE).unlink()
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None
