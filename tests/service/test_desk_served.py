"""The desk under the server: `sitroom serve --desk` runs the site's desk in the room's one
writer, so a served room still talks to other sites — over TLS pinned to their cards, every
request signed — while its people work through the same server."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

import sitroom
from sitroom.cli import run
from sitroom.domain.kinds import CHANNEL_RECEIVE

from helpers import exchange_cards
from serving import PASS, run_sitroom, sitroom_env

pytestmark = pytest.mark.slow

TRACK = "tracks:\n  - {id: us-iran, name: US-Iran talks, parties: [USA, IRN], venue: Geneva}\n"


def _ok(*args: str) -> None:
    assert run(list(args)) == 0, args


def _started(*args: str) -> tuple[subprocess.Popen[str], dict[str, str]]:
    """``sitroom ARGS`` and the addresses it says it listens on, by what (the first word)."""
    p = subprocess.Popen(
        [sys.executable, "-m", "sitroom", *args], stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, env=sitroom_env(),
    )  # fmt: skip
    assert p.stdout is not None
    lines = [p.stdout.readline() for _ in range(2 if "--desk" in args else 1)]
    if not all(" on " in line for line in lines):
        p.kill()
        raise AssertionError(f"{args} did not start: {lines} {p.communicate()[1]}")
    return p, {w.split()[0]: w.split(" on ", 1)[1].split()[0] for w in lines}


def test_a_served_room_sends_and_receives_through_its_own_desk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SITROOM_PASSPHRASE", PASS)
    wa, te = tmp_path / "washington", tmp_path / "tehran"
    for ws in (wa, te):
        _ok("init", "-w", str(ws), "--site", ws.name)
    exchange_cards(tmp_path, wa, te)
    (tmp_path / "tracks.yaml").write_text(TRACK)
    _ok("tracks", "add", "-w", str(wa), str(tmp_path / "tracks.yaml"))
    _ok("users", "grant", "-w", str(wa), "tehran", "us-iran")
    _ok("users", "add", "alice", "-w", str(wa), "--role", "admin")
    _ok("users", "grant", "-w", str(wa), "alice", "us-iran", "-u", "alice")
    # The epochs after every grant (each re-keys the track), for Tehran, a member.
    _ok("keys", "export", "-w", str(wa), "--track", "us-iran", "-o", str(tmp_path / "e.keys"),
        "-u", "alice")  # fmt: skip
    _ok("keys", "import", "-w", str(te), str(tmp_path / "e.keys"))
    # Each desk's address is in the other's channel before either starts: two free ports.
    te_port, wa_port = _free_port(), _free_port()
    _ok("channels", "add", "direct", "-w", str(te), "--to", "Washington", "--track", "us-iran",
        "--url", f"https://127.0.0.1:{wa_port}")  # fmt: skip
    _ok("channels", "add", "direct", "-w", str(wa), "--to", "Tehran", "--track", "us-iran",
        "--url", f"https://127.0.0.1:{te_port}", "-u", "alice")  # fmt: skip
    tehran, _ = _started("channels", "run", "-w", str(te), "--listen", f"127.0.0.1:{te_port}")
    server, said = _started("serve", "-w", str(wa), "--listen", "127.0.0.1:0",
                            "--desk", f"127.0.0.1:{wa_port}")  # fmt: skip
    desk_url = said["desk"]
    try:
        assert said["listening"].startswith("http://") and desk_url.startswith("https://")
        assert run_sitroom("login", "-w", str(wa), "-u", "alice").returncode == 0
        # Washington -> Tehran: typed here, run by the server, delivered and acked.
        sent = run_sitroom("channels", "send", "direct", "meet on the 14th", "--id", "m-1",
                           "--wait", "20s", "-w", str(wa), "-u", "alice")  # fmt: skip
        assert sent.returncode == 0, (sent.stdout, sent.stderr)
        # Tehran -> Washington: to the desk the server runs, pinned to Washington's card.
        back = sitroom_process_in(te, "channels", "send", "direct", "agreed", "--id", "r-1",
                                  "--wait", "20s")  # fmt: skip
        assert back.returncode == 0, back
        status = run_sitroom("channels", "status", "-w", str(wa), "-u", "alice", "--json")
        assert status.returncode == 0, status
    finally:
        tehran.terminate()
        server.terminate()
        _, err = server.communicate(timeout=60)
        assert server.returncode == 0, err
        tehran.communicate(timeout=30)
    with sitroom.open(te, as_site=True) as room:
        got = {r.payload["message"] for r in room.session.records(kinds=[CHANNEL_RECEIVE])}
    assert "m-1" in got
    with sitroom.open(wa, as_site=True) as room:
        got = {r.payload["message"] for r in room.session.records(kinds=[CHANNEL_RECEIVE])}
        assert room.channels.read("r-1").text == "agreed"  # sealed, opened with the site's key
    assert "r-1" in got
    assert sitroom.verify(wa).ok


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def sitroom_process_in(ws: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sitroom", *args, "-w", str(ws)],
        capture_output=True,
        text=True,
        timeout=120,
        env=sitroom_env(),
    )
