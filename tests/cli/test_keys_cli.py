"""The key commands as a user runs them: identities with their protection, rotation, status,
and a sealed message read by those cleared and refused (and recorded) to the others."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from sitroom.domain.kinds import ACCESS_DENIED
from sitroom.workspace import Workspace

from helpers import sitroom

TRACK = "tracks:\n  - {id: us-iran, name: US-Iran talks, parties: [USA, IRN], venue: Geneva}\n"


@pytest.fixture
def room(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Path:
    monkeypatch.setenv("SITROOM_PASSPHRASE", "correct horse battery")
    monkeypatch.delenv("SITROOM_USER", raising=False)
    w = tmp_path / "room"
    tracks = tmp_path / "t.yaml"
    tracks.write_text(TRACK)
    for args in (
        ["init", "-w", str(w), "--site", "washington"],
        ["tracks", "add", "-w", str(w), str(tracks)],
        ["user", "add", "-w", str(w), "alice", "--role", "admin"],
        ["-u", "alice", "user", "add", "-w", str(w), "dana"],
        ["-u", "alice", "user", "grant", "-w", str(w), "alice", "us-iran"],
        [
            "-u",
            "alice",
            "channel",
            "add",
            "-w",
            str(w),
            "direct",
            "--to",
            "Tehran",
            "--url",
            "http://127.0.0.1:9",
            "--track",
            "us-iran",
        ],
    ):
        r = sitroom(capfd, *args)
        assert r.code == 0, (args, r.err)
    return w


def test_identities_are_kept_encrypted_and_owner_only(
    room: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    r = sitroom(
        capfd,
        "-u",
        "alice",
        "keys",
        "init",
        "-w",
        str(room),
        "--name",
        "muscat",
        "--role",
        "intermediary",
        "--json",
    )
    assert r.code == 0, r.err
    made = r.json()
    assert made["protected_by"] == "key file" and len(made["fingerprint"].split()) == 10
    for name in ("alice", "muscat", "washington"):
        key = room / "keys" / f"{name}.key"
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
        body = json.loads(key.read_text())
        assert "sealed" in body and "private" not in key.read_text()
    again = sitroom(capfd, "-u", "alice", "keys", "init", "-w", str(room), "--name", "muscat")
    assert again.code == 2 and "already has keys" in again.err
    r = sitroom(capfd, "-u", "dana", "keys", "init", "-w", str(room), "--name", "eve")
    assert r.code == 6 and "not an admin" in r.err


def test_rotation_and_status(room: Path, capfd: pytest.CaptureFixture[str]) -> None:
    r = sitroom(capfd, "-u", "alice", "keys", "rotate", "-w", str(room), "us-iran", "--json")
    assert r.code == 0, r.err
    assert r.json()["epoch"] == 2 and r.json()["members"] == ["alice", "washington"]
    status = sitroom(capfd, "-u", "alice", "keys", "status", "-w", str(room), "us-iran", "--json")
    (track,) = status.json()["tracks"]
    assert track["epoch"] == 2 and track["epochs"] == 2 and track["aead"] == "aes-256-gcm"
    assert track["keys"][0]["limit"] == 2**23
    unknown = sitroom(capfd, "-u", "alice", "keys", "status", "-w", str(room), "sanctions")
    assert unknown.code == 2 and "has no keys" in unknown.err
    r = sitroom(capfd, "-u", "dana", "keys", "rotate", "-w", str(room), "us-iran")
    assert r.code != 0


def test_a_sealed_message_is_read_by_the_cleared_and_refused_to_others(
    room: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    sent = sitroom(
        capfd,
        "-u",
        "alice",
        "channel",
        "send",
        "-w",
        str(room),
        "direct",
        "meet on the 14th",
        "--id",
        "m-1",
        "--wait",
        "0s",
        "--json",
    )
    assert sent.code == 3, sent.err  # nobody listens: recorded, sealed, pending
    r = sitroom(capfd, "-u", "alice", "channel", "read", "-w", str(room), "m-1", "--json")
    assert r.code == 0, r.err
    assert r.json()["text"] == "meet on the 14th" and r.json()["opened_with"] == "alice"
    r = sitroom(capfd, "-u", "dana", "channel", "read", "-w", str(room), "m-1")
    assert r.code == 6 and "not cleared for us-iran" in r.err
    with Workspace.open(room) as ws:
        denied = [rec.payload for b in ws.log.read(kinds=[ACCESS_DENIED]) for rec in b.rows()]
    assert denied == [
        {"user": "dana", "action": "read message m-1", "reason": "not cleared for us-iran"}
    ]
    assert b"meet on the 14th" not in (room / "sitroom.db").read_bytes()
