"""Running the CLI as a user would: in-process for speed, or as a real subprocess."""

from __future__ import annotations

import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import sitroom as package
from sitroom.adapters.channel_http import Limits, Served, serve_desk
from sitroom.adapters.keystore import new_secret
from sitroom.application.desk import Desk
from sitroom.application.session import Session
from sitroom.cli import run
from sitroom.domain.secure import requests
from sitroom.domain.secure.identity import SITE, Secret, identity_record
from sitroom.room import Room
from sitroom.testing import MemoryWire


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


def bare_env(**extra: str) -> dict[str, str]:
    """This process's environment without the SITROOM_* settings of whoever runs the suite,
    but with the suite's own SITROOM_HOME (conftest): a process started with it writes no key
    file or login into a real home."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SITROOM_")}
    return {**env, "SITROOM_HOME": os.environ["SITROOM_HOME"], **extra}


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


def sitroom_in(
    cwd: Path, *args: str, timeout: float = 300, env: dict[str, str] | None = None
) -> Result:
    """`python -m sitroom ARGS` as a user types it in the folder ``cwd``, with this sitroom (a
    relative PYTHONPATH would name another folder there), in ``env`` (default: this process's),
    with no terminal to ask at."""
    here = str(Path(package.__file__).resolve().parents[1])
    base = os.environ if env is None else env
    paths = [here, *filter(None, base.get("PYTHONPATH", "").split(os.pathsep))]
    p = subprocess.run(
        [sys.executable, "-m", "sitroom", *args],
        cwd=cwd,
        env={**base, "PYTHONPATH": os.pathsep.join(paths)},
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    return Result(p.returncode, p.stdout, p.stderr)


REDLINE = "fatalities >= 50 within 100mi of Beirut in 24h"


def small_workspace(capfd: pytest.CaptureFixture[str], ws: Path, site: str = "geneva") -> Path:
    """A workspace of two records: the site's identity and a red line."""
    assert sitroom(capfd, "init", "-w", str(ws), "--site", site).code == 0
    assert sitroom(capfd, "redlines", "add", "beirut", REDLINE, "-w", str(ws)).code == 0
    return ws


# a desk served on loopback ----------------------------------------------------------------
TRACKS = Path(__file__).resolve().parent / "fixtures" / "tracks" / "geneva-schedule.yaml"
PASS = "correct horse battery"


def sealed_track_room(
    path: Path, *, snapshot_every: int | None = None, grant_dana: bool = False
) -> Path:
    """washington's room: alice (admin) cleared for us-iran, where a sealed message waits;
    dana (analyst) cleared for ceasefire only (and for us-iran too with ``grant_dana``)."""
    from sitroom.adapters.trackfile import parse_track_file
    from sitroom.testing import T0, ManualClock

    if snapshot_every is not None:
        path.mkdir(parents=True)
        path.joinpath("sitroom.toml").write_text(
            f'[sitroom]\nsite = "washington"\nsnapshot_every = {snapshot_every}\n'
        )
    clock = ManualClock(T0)
    with package.init(path, site="washington", clock=clock) as r:
        r.session.append(parse_track_file("t", TRACKS.read_text(), now_ms=T0).records)
        r.users.add("alice", role="admin", passphrase=PASS)
        r.users.add("dana", passphrase=PASS)
        r.users.grant("alice", "us-iran")
        r.users.grant("dana", "ceasefire")
        r.channels.add("direct", counterpart="Tehran", track="us-iran")
        if grant_dana:
            r.users.grant("dana", "us-iran")
    with package.open(path, user="alice", proof=PASS, clock=clock) as alice:
        alice.channels.send("direct", "meet on the 14th", msg_id="m-1", wait_ms=0)
    return path


def fresh_copy(built: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh copy of a room :func:`sealed_track_room` built (its site's key file stays where
    it was made), with the users' passphrase in the environment and no user preset."""
    monkeypatch.setenv("SITROOM_PASSPHRASE", PASS)
    monkeypatch.delenv("SITROOM_USER", raising=False)
    return Path(shutil.copytree(built, tmp_path / "room"))


def anyone(authorization: str | None) -> str:
    """An ``authenticate`` that takes every request as the user "local" (a room without
    users, where anyone local is its one user)."""
    return "local"


@contextmanager
def served_desk(
    room: Room,
    limits: Limits,
    *,
    authenticate: Callable[[str | None], str] = anyone,
    tls: ssl.SSLContext | None = None,
) -> Iterator[Served]:
    """The room's desk over real HTTP (HTTPS with ``tls``) on a free loopback port, its wire
    in memory; submits checked as the user ``authenticate`` names."""
    desk = Desk(room.session, MemoryWire(), as_user=lambda user: Session.of(room.engine, user))
    served = serve_desk(desk, "127.0.0.1", 0, limits, authenticate=authenticate, tls=tls)
    served.desk = desk  # type: ignore[attr-defined]
    try:
        yield served
    finally:
        served.shutdown()
        desk.close()


def peer_site(room: Room, name: str = "peer") -> Secret:
    """A site's keys, made here, whose card ``room`` holds as if imported and verified."""
    secret = new_secret(name, SITE)
    room.session.append([identity_record(secret, room.session.now_ms())])
    return secret


def signed_headers(
    secret: Secret, to: str, body: bytes, *, path: str = "/deliver", now_ms: int | None = None
) -> dict[str, str]:
    """The headers that sign a POST of ``body`` to ``path`` from ``secret``'s site to ``to``."""
    when = time.time_ns() // 1_000_000 if now_ms is None else now_ms
    return requests.sign(secret, "POST", path, body, when, to)


def connect(served: Served) -> socket.socket:
    """A raw connection to a served desk, for requests no HTTP client would send."""
    host, port = served.server.server_address[:2]
    return socket.create_connection((str(host), int(port)), timeout=5)


def import_card(tmp: Path, owner: Path, into: Path, name: str | None = None) -> str:
    """``owner``'s card (its site's, or the identity ``name``'s) imported into ``into`` with
    the fingerprint read off it, as its owner would read it out: the card's path."""
    card = tmp / f"{(name or owner.name)}-for-{into.name}.card"
    who = [] if name is None else [name]
    assert run(["keys", "export", *who, "-w", str(owner), "-o", str(card)]) == 0
    fingerprint = json.loads(card.read_text())["fingerprint"]
    assert run(["keys", "import", "-w", str(into), str(card), "--fingerprint", fingerprint]) == 0
    return str(card)


def exchange_cards(tmp: Path, a: Path, b: Path) -> None:
    """Two sites trust each other: each imports the other's card, fingerprint checked."""
    import_card(tmp, a, b)
    import_card(tmp, b, a)


# a room with something of everything, for the after-action report ---------------------------
def crisis_room(path: Path) -> Path:
    """A room whose log holds alerts (over-booking, a deadlock and its clearing, an overdue
    reply, an opened breaker), a forecast question with a judgment, status changes, channel
    events and an agreement, on a ManualClock from 2026-11-25T00:00Z, one hour between steps:
    alice (admin) is cleared for both tracks, dana (analyst) for ceasefire only. A question
    whose text is HTML checks the escaping."""
    from sitroom.domain.kinds import CHANNEL_STATE
    from sitroom.domain.timeutil import MS_PER_DAY, MS_PER_H, parse_time
    from sitroom.testing import ManualClock

    now = parse_time("2026-11-25", now_ms=0)
    clock = ManualClock(now)
    with package.init(path, site="washington", clock=clock) as r:
        r.tracks.add([TRACKS.parent / "us-iran-ceasefire.yaml"])
        r.users.add("alice", role="admin", passphrase=PASS)
        r.users.add("dana", passphrase=PASS)
        r.users.grant("alice", "us-iran")
        r.users.grant("alice", "ceasefire")
        r.users.grant("dana", "ceasefire")
    with package.open(path, user="alice", proof=PASS, clock=clock) as r:
        clock.advance(MS_PER_H)  # 01:00
        r.channels.add("direct", counterpart="Tehran", track="us-iran")
        r.channels.send(
            "direct", "meet on the 14th", msg_id="m-1", wait_ms=0, await_reply=True,
            reply_by_ms=now + 3 * MS_PER_H,
        )  # fmt: skip
        clock.advance(MS_PER_H)  # 02:00
        r.risk.add_question(
            "Will the <script>alert(1)</script> meeting take place?",
            id="talks", until_ms=now + 20 * MS_PER_DAY, track="us-iran",
        )  # fmt: skip
        clock.advance(MS_PER_H)  # 03:00
        r.risk.judge("talks", 0.9, rationale="Tehran said yes")
        clock.advance(4 * MS_PER_H)  # 07:00: the reply is overdue
        r.session.tick()
        r.tracks.set_status("ceasefire", "agreed")  # the deadlock clears
        clock.advance(MS_PER_H)  # 08:00
        r.channels.ack("m-1")
        r.session.append(
            [
                CHANNEL_STATE.record(
                    {"channel": "direct", "aspect": "breaker", "old": "closed", "new": "open"}
                    | {"reason": "3 failures in a row"},
                    id="breaker:direct:1:open",
                    source="sitroom",
                    valid_from=clock.now_ms(),
                    compartment="us-iran",
                )
            ]
        )
        clock.advance(MS_PER_H)  # 09:00
        r.tracks.set_status("us-iran", "postponed")
        r.agreements.propose(
            "Ceasefire terms", "Both sides stand down.", ["alice", "dana"], id="terms",
            track="ceasefire",
        )  # fmt: skip
        r.agreements.sign("terms", "alice", passphrase=PASS)
        r.agreements.sign("terms", "dana", passphrase=PASS)
        clock.advance(MS_PER_H)  # 10:00
    return path
