"""A track's records are sealed at rest under its key (issue 20): someone with a copy of the
workspace's database reads which kinds of record a track has and when, not what they say;
a member's process opens them with the member's own key, a process holding no key for the
track leaves them out and says so, and snapshots of states that hold them are encrypted."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import orjson
import pytest

import sitroom
from sitroom.adapters.keystore import KEYS_DIR, KeyStore, new_secret
from sitroom.adapters.log_sqlite import SqliteLog
from sitroom.adapters.readerfile import READER_DIR, ReaderFiles
from sitroom.application.keys import identity
from sitroom.application.ports import Unlock
from sitroom.domain.kinds import TRACK_STATUS
from sitroom.domain.secure.epochs import epoch_record
from sitroom.domain.secure.identity import SITE
from sitroom.settings import key_files
from sitroom.testing import T0

from helpers import PASS, Result, fresh_copy, sealed_track_room
from helpers import sitroom as run

SECRET_REASON = "the envoy named Qx7-Zebra asked us to move it"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return sealed_track_room(tmp_path_factory.mktemp("built") / "room", snapshot_every=5)


@pytest.fixture
def room(built: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return fresh_copy(built, tmp_path, monkeypatch)


def _without_site_key(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """This process cannot read the site's key file: an analyst's account."""
    monkeypatch.setenv("SITROOM_SITE_KEY_FILE", str(tmp_path / "not-here.keyfile"))


def _stored(w: Path, kind: str) -> list[dict[str, object]]:
    log = SqliteLog(w / "sitroom.db")
    try:
        return [r.payload for b in log.read(kinds=[kind]) for r in b.rows()]
    finally:
        log.close()


def _withdraw(capfd: pytest.CaptureFixture[str], w: Path, user: str = "alice") -> Result:
    return run(
        capfd, "-u", user, "tracks", "withdraw", "meeting", "us-iran-2",
        "--reason", SECRET_REASON, "-w", str(w),
    )  # fmt: skip


def test_a_tracks_records_are_stored_sealed_and_nothing_of_them_is_in_the_database_file(
    capfd: pytest.CaptureFixture[str], room: Path
) -> None:
    assert _withdraw(capfd, room).code == 0
    for status in ("paused", "negotiating", "paused"):  # past a few snapshots (every 5)
        said = run(capfd, "-u", "alice", "tracks", "status", "us-iran", status, "-w", str(room))
        assert said.code == 0, said.err
    assert run(capfd, "-u", "alice", "tracks", "-w", str(room)).code == 0
    with sqlite3.connect(room / "sitroom.db") as db:
        rows = db.execute("SELECT projection, data FROM snapshots").fetchall()
    private = {name for name, data in rows if b'"private":true' in bytes(data).split(b"\n")[1]}
    # States that folded the track's opened records are encrypted; the others stay of use
    # to processes without the site's key.
    assert {"tracks", "channels", "summary"} <= private
    assert {"secure", "claims", "redlines"}.isdisjoint(private)
    # The whole file, log segments and snapshots alike (SQLite may keep freed pages: vacuum).
    with sqlite3.connect(room / "sitroom.db") as db:
        db.execute("VACUUM")
    raw = (room / "sitroom.db").read_bytes()
    assert b"Qx7-Zebra" not in raw
    statuses = _stored(room, TRACK_STATUS)
    assert statuses and all(set(p) == {"sealed"} for p in statuses)
    sealed = statuses[-1]["sealed"]
    assert isinstance(sealed, dict)
    assert (sealed["track"], sealed["epoch"]) == ("us-iran", 1)
    # What was written before the track had a key stays as written (the log is append-only).
    assert any(p.get("id") == "us-iran" for p in _stored(room, "track"))

    shown = run(capfd, "-u", "alice", "tracks", "--json", "-w", str(room))
    tracks = {t["id"]: t for t in orjson.loads(shown.out)["tracks"]}
    assert tracks["us-iran"]["status"] == "paused"
    assert "note:" not in shown.err  # the site's process opened its private snapshots


def test_a_members_process_opens_them_with_her_own_key_and_another_leaves_them_out(
    capfd: pytest.CaptureFixture[str], room: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    said = run(capfd, "-u", "alice", "tracks", "status", "us-iran", "paused", "-w", str(room))
    assert said.code == 0, said.err
    _without_site_key(monkeypatch, tmp_path)

    alice = run(capfd, "-u", "alice", "tracks", "--json", "-w", str(room))
    assert alice.code == 0, alice.err
    assert {t["id"]: t["status"] for t in orjson.loads(alice.out)["tracks"]} == {
        "us-iran": "paused"
    }
    assert "sealed to keys" not in alice.err

    # The site's log, read by a process that holds no key of us-iran: dana, cleared for
    # ceasefire only, with no access to the site's key file.
    dana = run(capfd, "-u", "dana", "tracks", "--json", "-w", str(room))
    assert dana.code == 0, dana.err
    assert [t["id"] for t in orjson.loads(dana.out)["tracks"]] == ["ceasefire"]
    log = SqliteLog(room / "sitroom.db")
    sealed = sum(
        1
        for b in log.read()
        for r in b.rows()
        if r.compartment == "us-iran" and set(r.payload) == {"sealed"}
    )
    log.close()
    assert sealed == 2  # the channel declared on the track, and its status
    assert f"track us-iran: {sealed} records sealed to keys this process does not hold" in dana.err


def test_a_process_holding_no_key_of_the_track_refuses_to_write_its_records_in_the_clear(
    capfd: pytest.CaptureFixture[str], room: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """dana cleared for us-iran by a grant whose epoch is not sealed to her yet cannot happen;
    so the case is a person whose copy the track's epoch lacks: a room's one user (no users),
    with the site's key file out of reach."""
    w = tmp_path / "solo"
    assert run(capfd, "init", "-w", str(w), "--site", "geneva").code == 0
    fixture = Path(__file__).resolve().parents[1] / "fixtures" / "tracks" / "geneva-schedule.yaml"
    assert run(capfd, "tracks", "add", str(fixture), "-w", str(w)).code == 0
    assert run(capfd, "keys", "rotate", "us-iran", "-w", str(w)).code == 0
    before = (w / "sitroom.db").read_bytes()
    _without_site_key(monkeypatch, tmp_path)

    said = run(capfd, "tracks", "status", "us-iran", "paused", "-w", str(w))
    assert said.code == 5
    lines = said.err.strip().splitlines()
    assert len(lines) == 1 and "records of track us-iran are sealed under its key" in lines[0]
    assert "Traceback" not in said.err
    assert (w / "sitroom.db").read_bytes() == before


def test_an_epoch_not_signed_by_the_site_is_never_used_to_seal(
    capfd: pytest.CaptureFixture[str], room: Path
) -> None:
    """An insider who can write to the database but holds no site key appends an epoch 2 of
    us-iran whose secret they chose, sealed to the members' public keys (anyone can): were it
    used, every record sealed after would open with their secret."""
    forger = new_secret("washington", SITE)  # the site's name, another key
    with sitroom.open(room, as_site=True) as r:
        members = [identity(r.session, n) for n in ("alice", "washington")]
        forged = epoch_record(
            "us-iran",
            2,
            b"\x07" * 32,
            [m for m in members if m is not None],
            forger,
            now_ms=T0 + 1,
            cryptoperiod_ms=86_400_000,
            aead="aes-256-gcm",
            reason="forged",
        )
        r.engine.append([forged])

    said = run(capfd, "-u", "alice", "tracks", "status", "us-iran", "paused", "-w", str(room))
    assert said.code == 0, said.err
    assert "epoch 2 of track us-iran is not used to seal" in said.err
    sealed = _stored(room, TRACK_STATUS)[-1]["sealed"]
    assert isinstance(sealed, dict) and sealed["epoch"] == 1


def test_a_member_whose_epoch_is_sealed_to_an_inbox_key_reads_its_records_from_her_reader_state(
    capfd: pytest.CaptureFixture[str], room: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Forward secrecy for readers and records at rest together: alice publishes inbox keys,
    the track is re-keyed (its epoch 2 sealed to her inbox key 1), a status is written under
    it. Her process without the site's key opens it through her reader state — the inbox key
    used once and deleted — and the track goes on in that epoch."""
    w = str(room)
    assert run(capfd, "-u", "alice", "keys", "inbox", "--count", "2", "-w", w).code == 0
    rotated = run(capfd, "-u", "alice", "keys", "rotate", "us-iran", "-w", w)
    assert rotated.code == 0, rotated.err
    said = run(capfd, "-u", "alice", "tracks", "status", "us-iran", "agreed", "-w", w)
    assert said.code == 0, said.err
    sealed = _stored(room, TRACK_STATUS)[-1]["sealed"]
    assert isinstance(sealed, dict) and sealed["epoch"] == 2
    _without_site_key(monkeypatch, tmp_path)

    shown = run(capfd, "-u", "alice", "tracks", "--json", "-w", w)
    assert shown.code == 0, shown.err
    assert {t["id"]: t["status"] for t in orjson.loads(shown.out)["tracks"]} == {
        "us-iran": "agreed"
    }
    assert "track us-iran" not in shown.err
    # Opened through her inbox key 1, which is gone from her reader state; the epoch's record
    # key is what she keeps.
    alice = KeyStore(room / KEYS_DIR, key_files(room)).unlock("alice", Unlock(passphrase=PASS))
    kept = ReaderFiles(key_files(room) / READER_DIR).get(alice)
    assert ("us-iran", 2) in kept.epochs and 1 not in kept.inbox and 2 in kept.inbox

    # Back where the site's key is (a send is sealed by the site's desk): in epoch 2 still.
    monkeypatch.delenv("SITROOM_SITE_KEY_FILE")
    sent = run(capfd, "-u", "alice", "channels", "send", "direct", "see you on the 14th",
               "--id", "m-2", "--wait", "0s", "-w", w)  # fmt: skip
    assert sent.code in (0, 3), sent.err  # 3: queued, not yet delivered
    assert [p["epoch"] for p in _stored(room, "key.epoch") if p["track"] == "us-iran"] == [1, 2]
    bodies = [orjson.loads(str(p["body"])) for p in _stored(room, "channel.send")]
    header = next(b["header"] for b in bodies if b["header"]["id"] == "m-2")
    assert (header["sender"], header["epoch"]) == ("washington", 2)
