"""Inbox keys through the CLI: `keys inbox` publishes them for the acting user, the next epoch
is sealed to one, a message read once is refused the second time in one line (exit 5), and
`keys --json` says whose copy is not forward-secret."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sitroom.settings import key_files

from helpers import sitroom

TRACK = "tracks:\n  - {id: us-iran, name: US-Iran talks, parties: [USA, IRN], venue: Geneva}\n"


def test_inbox_keys_make_a_read_message_unreadable_to_its_reader_and_not_to_others(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SITROOM_PASSPHRASE", "correct horse battery")
    monkeypatch.delenv("SITROOM_USER", raising=False)
    ws, tracks = tmp_path / "room", tmp_path / "tracks.yaml"
    tracks.write_text(TRACK)
    w = str(ws)
    for args in (
        ("init", "-w", w, "--site", "washington"),
        ("tracks", "add", "-w", w, str(tracks)),
        ("users", "add", "-w", w, "alice", "--role", "admin"),
        ("-u", "alice", "users", "add", "-w", w, "dana"),
        ("-u", "alice", "users", "grant", "-w", w, "alice", "us-iran"),
    ):
        assert sitroom(capfd, *args).code == 0, args
    r = sitroom(capfd, "-u", "dana", "keys", "inbox", "-w", w, "--count", "3", "--json")
    assert r.code == 0, r.err
    published = json.loads(r.out)
    assert (published["name"], published["ids"], published["unused"]) == ("dana", [1, 2, 3], 3)
    reader = key_files(ws) / "reader" / "dana.json"
    assert published["kept_in"] == str(reader) and reader.stat().st_mode & 0o777 == 0o600

    r = sitroom(capfd, "-u", "alice", "users", "grant", "-w", w, "dana", "us-iran")
    assert r.code == 0, r.err
    assert "forward-secret (inbox keys): dana" in r.out
    assert "warning: dana has 2 inbox keys left; `sitroom keys inbox` as dana" in r.out
    r = sitroom(capfd, "-u", "alice", "keys", "-w", w, "--json")
    (track,) = json.loads(r.out)["tracks"]
    assert track["sealed_to"] == {
        "alice": "not forward-secret (identity key)",
        "dana": "inbox key 1",
        "washington": "not forward-secret (identity key)",
    }
    ids = {i["name"]: i["inbox_keys"] for i in json.loads(r.out)["identities"]}
    assert ids == {"alice": 0, "dana": 2, "washington": 0}

    for args in (
        (
            "-u",
            "alice",
            "channels",
            "add",
            "-w",
            w,
            "direct",
            "--to",
            "Tehran",
            "--track",
            "us-iran",
        ),
        (
            "-u",
            "alice",
            "channels",
            "send",
            "-w",
            w,
            "direct",
            "hello",
            "--id",
            "m-1",
            "--wait",
            "0s",
        ),
    ):
        assert sitroom(capfd, *args).code in (0, 3), args
    r = sitroom(capfd, "-u", "dana", "channels", "read", "-w", w, "m-1", "--json")
    assert r.code == 0 and json.loads(r.out)["text"] == "hello", r.err
    r = sitroom(capfd, "-u", "dana", "channels", "read", "-w", w, "m-1")
    assert r.code == 5 and r.err.count("\n") == 1
    assert "was read already here" in r.err and "the site, which holds the archive" in r.err
    r = sitroom(capfd, "-u", "alice", "channels", "read", "-w", w, "m-1", "--json")
    assert r.code == 0 and json.loads(r.out)["text"] == "hello", r.err

    reader.write_text("{")
    r = sitroom(capfd, "-u", "dana", "channels", "read", "-w", w, "m-1")
    assert r.code == 5
    assert r.err == f"sitroom: error: {reader}: is not a JSON object (damaged or cut short)\n"
