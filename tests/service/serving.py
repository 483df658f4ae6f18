"""A served room for the service's tests: real users with keys, a real server on loopback —
in a thread of the test (:func:`served`) or as `sitroom serve` in its own process
(:func:`serve_process`) — and clients that log in as those users. The fixtures are offered by
this folder's conftest.py."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

import sitroom.room
from sitroom.service import Service

from helpers import bare_env

TRACKS = Path(__file__).resolve().parents[1] / "fixtures" / "tracks" / "geneva-schedule.yaml"
PASS = "correct horse battery"


def build_team_room(w: Path, *, postgres: str | None = None) -> Path:
    """Tracks us-iran, ceasefire and sanctions; a question on each of us-iran and ceasefire;
    alice (admin, cleared for us-iran), dana (analyst, cleared for ceasefire), vic (viewer).
    ``postgres``: the log in that database, not the workspace's SQLite file."""
    with sitroom.room.init(w, postgres=postgres) as r:
        r.tracks.add([TRACKS])
        r.risk.add_question("Will the talks meet?", id="talks", until_ms=r.session.now_ms() +
                            7 * 86_400_000, track="us-iran")  # fmt: skip
        r.risk.add_question("Will the ceasefire hold?", id="hold", until_ms=r.session.now_ms() +
                            7 * 86_400_000, track="ceasefire")  # fmt: skip
        r.users.add("alice", role="admin", passphrase=PASS)
    with sitroom.room.open(w, user="alice", proof=PASS) as r:
        r.users.add("dana", role="analyst", passphrase=PASS)
        r.users.add("vic", role="viewer", passphrase=PASS)
        r.users.grant("alice", "us-iran")
        r.users.grant("dana", "ceasefire")
    return w


@pytest.fixture(scope="session")
def team_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_team_room(tmp_path_factory.mktemp("template") / "room")


@pytest.fixture
def team_room(team_template: Path, tmp_path: Path) -> Path:
    """A fresh copy of the team's room for each test."""
    w = tmp_path / "room"
    shutil.copytree(team_template, w)
    return w


@dataclass
class Served:
    """A server running in a thread of the test."""

    service: Service
    thread: threading.Thread
    url: str
    clients: list[httpx.Client] = field(default_factory=list)

    def client(self, token: str | None = None, **kw: Any) -> httpx.Client:
        headers = {} if token is None else {"Authorization": f"Bearer {token}"}
        headers.update(kw.pop("headers", {}))
        c = httpx.Client(base_url=self.url, headers=headers, timeout=30, **kw)
        self.clients.append(c)
        return c

    def login(self, user: str, passphrase: str = PASS) -> str:
        r = httpx.post(f"{self.url}/auth/login", json={"user": user, "passphrase": passphrase})
        assert r.status_code == 201, r.text
        token: str = r.json()["token"]
        return token

    def as_user(self, user: str) -> httpx.Client:
        return self.client(self.login(user))

    def stop(self) -> None:
        for c in self.clients:
            c.close()
        if self.thread.is_alive():
            self.service.stop()
            self.thread.join(30)
        assert not self.thread.is_alive(), "the server did not stop"


def serve_in_thread(room: Path) -> Served:
    service = Service(room, listen="127.0.0.1:0")
    ready = threading.Event()
    failed: list[BaseException] = []

    def run() -> None:
        try:
            service.run(ready=lambda url: ready.set())
        except BaseException as e:  # said by the test that waits for it
            failed.append(e)
            ready.set()

    thread = threading.Thread(target=run, name="sitroom-test-server", daemon=True)
    thread.start()
    assert ready.wait(30) and not failed, failed
    assert service.url is not None
    return Served(service, thread, service.url)


@pytest.fixture
def served(team_room: Path) -> Iterator[Served]:
    """The team's room served in a thread."""
    s = serve_in_thread(team_room)
    try:
        yield s
    finally:
        s.stop()


# `sitroom serve` in its own process ---------------------------------------------------------
@dataclass
class Process:
    proc: subprocess.Popen[str]
    url: str
    line: str = ""  # what it said on starting
    logged: list[str] = field(default_factory=list)
    drain: threading.Thread | None = None

    def __post_init__(self) -> None:
        # stderr is read as it comes: a log line per request would fill the pipe and stall it.
        def drain() -> None:
            assert self.proc.stderr is not None
            self.logged.extend(self.proc.stderr)

        self.drain = threading.Thread(target=drain, daemon=True)
        self.drain.start()

    def stop(self, timeout: float = 30) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
        code = self.proc.wait(timeout)
        self.stderr()
        return code

    def stderr(self) -> str:
        """What it logged (whole once it has stopped), its pipes closed."""
        if self.drain is not None:
            self.drain.join(30)
        for pipe in (self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                pipe.close()
        return "".join(self.logged)


def sitroom_env(**extra: str) -> dict[str, str]:
    env = bare_env(**extra)
    src = str(Path(__file__).resolve().parents[2] / "src")
    env["PYTHONPATH"] = os.pathsep.join([src, env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


def serve_process(room: Path, *args: str) -> Process:
    """`sitroom serve -w ROOM --listen 127.0.0.1:0`, once it says where it listens and
    answers /healthz."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "sitroom", "serve", "-w", str(room), "--listen", "127.0.0.1:0",
         *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=sitroom_env(),
    )  # fmt: skip
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("listening on "):
        proc.kill()
        raise AssertionError(f"the server did not start: {line!r} {proc.stderr.read()!r}")  # type: ignore[union-attr]
    url = line.split()[2]
    assert httpx.get(f"{url}/healthz", timeout=10).status_code == 200
    return Process(proc, url, line)


def run_sitroom(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sitroom", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=sitroom_env(SITROOM_PASSPHRASE=PASS),
    )


# Server-Sent Events -------------------------------------------------------------------------
@dataclass
class Sse:
    event: str
    id: str | None
    data: str


def sse_events(lines: Iterator[str]) -> Iterator[Sse]:
    """The events of a stream's lines (comments skipped)."""
    event, id_, data = "message", None, []
    for line in lines:
        if line == "":
            if data:
                yield Sse(event, id_, "\n".join(data))
            event, id_, data = "message", None, []
        elif line.startswith(":"):
            continue
        else:
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "event":
                event = value
            elif name == "id":
                id_ = value
            elif name == "data":
                data.append(value)


class Listener:
    """A stream read in a thread of its own: its events arrive on a queue."""

    def __init__(self, url: str, token: str | None, **params: Any) -> None:
        import queue

        self.events: queue.Queue[Sse] = queue.Queue()
        self.seen: list[Sse] = []
        headers = {} if token is None else {"Authorization": f"Bearer {token}"}
        headers.update(params.pop("headers", {}))
        self.opened = threading.Event()
        self.status: int | None = None

        def read() -> None:
            with (
                httpx.Client(base_url=url, headers=headers, timeout=60) as c,
                c.stream("GET", "/stream", params=params) as r,
            ):
                self.status = r.status_code
                self.opened.set()
                for e in sse_events(r.iter_lines()):
                    self.events.put(e)

        self.thread = threading.Thread(target=read, daemon=True)
        self.thread.start()
        assert self.opened.wait(30), "the stream did not open"

    def until(self, done: Any, timeout: float = 30) -> list[Sse]:
        """Events until ``done(events so far)`` holds; AssertionError past ``timeout``."""
        import queue
        import time

        deadline = time.monotonic() + timeout
        while not done(self.seen):
            left = deadline - time.monotonic()
            try:
                self.seen.append(self.events.get(timeout=max(left, 0.01)))
            except queue.Empty:
                raise AssertionError(f"not seen in {timeout}s; seen: {self.seen}") from None
        return self.seen
