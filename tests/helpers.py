"""Running the CLI as a user would: in-process for speed, or as a real subprocess."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import sitroom as package
from sitroom.adapters.channel_http import Limits, Served, serve_desk
from sitroom.application.desk import Desk
from sitroom.cli import run
from sitroom.room import Room
from sitroom.testing import MemoryWire


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


def sitroom(capfd: pytest.CaptureFixture[str], *args: str) -> Result:
    capfd.readouterr()
    code = run(list(args))
    out, err = capfd.readouterr()
    return Result(code, out, err)


def sitroom_process(*args: str, timeout: float = 300) -> Result:
    p = subprocess.run(
        [sys.executable, "-m", "sitroom", *args], capture_output=True, text=True, timeout=timeout
    )
    return Result(p.returncode, p.stdout, p.stderr)


def sitroom_in(cwd: Path, *args: str, timeout: float = 300) -> Result:
    """`python -m sitroom ARGS` as a user types it in the folder ``cwd``, with this sitroom (a
    relative PYTHONPATH would name another folder there)."""
    here = str(Path(package.__file__).resolve().parents[1])
    paths = [here, *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}
    p = subprocess.run(
        [sys.executable, "-m", "sitroom", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return Result(p.returncode, p.stdout, p.stderr)


REDLINE = "fatalities >= 50 within 100mi of Beirut in 24h"


def small_workspace(capfd: pytest.CaptureFixture[str], ws: Path, site: str = "geneva") -> Path:
    """A workspace of two records: the site's identity and a red line."""
    assert sitroom(capfd, "init", "-w", str(ws), "--site", site).code == 0
    assert sitroom(capfd, "redlines", "add", "beirut", REDLINE, "-w", str(ws)).code == 0
    return ws


# a desk served on loopback ----------------------------------------------------------------
@contextmanager
def served_desk(room: Room, limits: Limits) -> Iterator[Served]:
    """The room's desk over real HTTP on a free loopback port, its wire in memory."""
    desk = Desk(room.session, MemoryWire())
    served = serve_desk(desk, "127.0.0.1", 0, limits)
    try:
        yield served
    finally:
        served.shutdown()
        desk.close()


def connect(served: Served) -> socket.socket:
    """A raw connection to a served desk, for requests no HTTP client would send."""
    host, port = served.server.server_address[:2]
    return socket.create_connection((str(host), int(port)), timeout=5)
