"""The key commands as a user runs them: identities with their protection, rotation, status,
cards and epochs exported and imported, and a sealed message read by those cleared and refused
(and recorded) to the others."""

from __future__ import annotations

import json
import shutil
import stat
import time
from pathlib import Path

import pytest

from sitroom.adapters.keystore import KeyStore, new_secret
from sitroom.adapters.log_sqlite import SqliteLog
from sitroom.application.ports import Unlock
from sitroom.domain.kinds import ACCESS_DENIED
from sitroom.domain.secure.epochs import open_epoch
from sitroom.errors import SecureError
from sitroom.room import open as open_room
from sitroom.settings import Settings

from helpers import sitroom as run

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
        ["users", "add", "-w", str(w), "alice", "--role", "admin"],
        ["-u", "alice", "users", "add", "-w", str(w), "dana"],
        ["-u", "alice", "users", "grant", "-w", str(w), "alice", "us-iran"],
    ):
        r = run(capfd, *args)
        assert r.code == 0, (args, r.err)
    return w


def test_identities_are_kept_encrypted_and_owner_only(
    room: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    w = str(room)
    r = run(capfd, "-u", "alice", "keys", "init", "muscat", "-w", w, "--role", "intermediary",
            "--json")  # fmt: skip
    assert r.code == 0, r.err
    made = r.json()
    assert made["protected_by"] == "key file" and len(made["fingerprint"].split()) == 10
    assert (made["name"], made["role"], made["created"]) == ("muscat", "intermediary", True)
    for name in ("alice", "muscat", "washington"):
        key = room / "keys" / f"{name}.key"
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
        body = json.loads(key.read_text())
        assert "sealed" in body and "private" not in key.read_text()
    again = run(capfd, "-u", "alice", "keys", "init", "muscat", "-w", w, "--json")
    assert again.code == 2
    assert again.json()["error"]["type"] == "exists"
    assert "identity 'muscat' already exists" in again.json()["error"]["message"]
    r = run(capfd, "-u", "dana", "keys", "init", "eve", "-w", w)
    assert r.code == 6 and "dana is an analyst, not an admin" in r.err
    site = run(capfd, "-u", "alice", "keys", "init", "-w", w, "--json").json()
    assert (site["name"], site["role"], site["created"], site["key"]) == (
        "washington",
        "site",
        False,
        None,
    )
    people = run(capfd, "-u", "alice", "keys", "init", "-w", w)
    assert "washington (a site) has keys already, protected by key file" in people.out


def test_keys_saved_but_never_published_are_published_when_made_again(
    room: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """`keys init NAME` and `users add` save the private keys, then record the public half; a
    run killed between the two (the crash matrix found it) left a key file the log did not
    know, which running the command again refused ("already exists") and nothing could use.
    Now the rerun publishes the keys that were saved, opened with their passphrase."""
    store = KeyStore(room / "keys")
    for name in ("eve", "frank"):
        store.save(new_secret(name, "person"), Unlock(passphrase="correct horse battery"))
    saved = {name: store.public(name).fingerprint for name in ("eve", "frank")}
    w = str(room)
    made = run(capfd, "-u", "alice", "keys", "init", "eve", "-w", w, "--json")
    assert made.code == 0, made.err
    assert (made.json()["created"], made.json()["fingerprint"]) == (True, saved["eve"])
    again = run(capfd, "-u", "alice", "keys", "init", "eve", "-w", w, "--json")
    assert again.code == 2 and again.json()["error"]["type"] == "exists"
    added = run(capfd, "-u", "alice", "users", "add", "frank", "-w", w, "--json")
    assert added.code == 0, added.err
    status = run(capfd, "-u", "alice", "keys", "-w", w, "--json")
    published = {i["name"]: i["fingerprint"] for i in status.json()["identities"]}
    assert {name: published.get(name) for name in saved} == saved


def test_a_site_key_saved_but_never_published_is_published_by_keys_init(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """What a killed `sitroom init` may leave: its settings, a log, the site's key file and no
    identity record. `sitroom keys init` publishes that key (it said "has keys already")."""
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "sitroom.toml").write_text(Settings(site="washington").to_toml())
    SqliteLog(ws / "sitroom.db", create=True).close()
    store = KeyStore(ws / "keys")
    key_file = store.default_key_file("washington")
    store.save(new_secret("washington", "site"), Unlock(key_file=key_file))
    r = run(capfd, "keys", "init", "-w", str(ws), "--json")
    assert r.code == 0, r.err
    made = r.json()
    assert (made["name"], made["created"], made["protected_by"]) == ("washington", True, "key file")
    status = run(capfd, "keys", "-w", str(ws), "--json").json()
    assert [(i["name"], i["fingerprint"]) for i in status["identities"]] == [
        ("washington", store.public("washington").fingerprint)
    ]


def test_rotation_and_status(room: Path, capfd: pytest.CaptureFixture[str]) -> None:
    w = str(room)
    r = run(capfd, "-u", "alice", "keys", "rotate", "-w", w, "us-iran", "--json")
    assert r.code == 0, r.err
    assert r.json()["epoch"] == 2 and r.json()["members"] == ["alice", "washington"]
    assert r.json()["reason"] == "rotation"
    status = run(capfd, "-u", "alice", "keys", "-w", w, "--track", "us-iran", "--json")
    assert status.code == 0, status.err
    body = status.json()
    (track,) = body["tracks"]
    assert track["epoch"] == 2 and track["epochs"] == 2 and track["aead"] == "aes-256-gcm"
    assert track["keys"][0]["limit"] == 2**23 and track["keys"][0]["sender"] == "washington"
    assert {i["name"] for i in body["identities"]} == {"alice", "dana", "washington"}
    assert body["provenance"]["as_of_seq"] > 0
    people = run(capfd, "-u", "alice", "keys", "-w", w)
    assert "us-iran epoch 2 (aes-256-gcm" in people.out and "washington" in people.out
    unknown = run(capfd, "-u", "alice", "keys", "-w", w, "--track", "sanctions", "--json")
    assert unknown.code == 2
    err = unknown.json()["error"]
    assert (err["type"], err["what"], err["id"], err["known"]) == (
        "not_found",
        "track key",
        "sanctions",
        ["us-iran"],
    )
    nowhere = run(capfd, "-u", "alice", "keys", "rotate", "-w", w, "sanctions")
    assert nowhere.code == 2 and "no track 'sanctions'" in nowhere.err
    r = run(capfd, "-u", "dana", "keys", "rotate", "-w", w, "us-iran")
    assert r.code == 6 and "refused and recorded" in r.err


def test_cards_and_epochs_move_to_another_site(
    room: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """Washington's card is imported at Tehran once the fingerprint matches; then the epochs
    Washington issued for us-iran are recorded there, each signature checked."""
    w = str(room)
    card, epochs = tmp_path / "washington.card.json", tmp_path / "us-iran.epochs.json"
    out = run(capfd, "-u", "alice", "keys", "export", "-w", w, "-o", str(card), "--json")
    assert out.code == 0, out.err
    exported = out.json()
    assert (exported["what"], exported["name"]) == ("card", "washington")
    assert "data" not in exported
    assert json.loads(card.read_text())["fingerprint"] == exported["fingerprint"]
    r = run(capfd, "-u", "alice", "keys", "export", "-w", w, "--track", "us-iran", "-o",
            str(epochs))  # fmt: skip
    assert r.code == 0, r.err
    assert "Exported 1 epoch of us-iran's key" in r.out
    assert json.loads(epochs.read_text())["format"] == "sitroom-epochs/1"
    stdout = run(capfd, "-u", "alice", "keys", "export", "dana", "-w", w)
    assert json.loads(stdout.out)["name"] == "dana"

    other = str(tmp_path / "tehran")
    assert run(capfd, "init", "-w", other, "--site", "tehran").code == 0
    early = run(capfd, "keys", "import", str(epochs), "-w", other, "--json")
    assert early.code == 2
    assert early.json()["error"]["what"] == "identity"
    assert "see `sitroom keys`" in early.json()["error"]["hint"]
    ask = run(capfd, "keys", "import", str(card), "-w", other)
    assert ask.code == 2 and exported["fingerprint"] in ask.err
    wrong = run(capfd, "keys", "import", str(card), "-w", other, "--fingerprint", "00 11")
    assert wrong.code == 5 and "not imported" in wrong.err
    fp = exported["fingerprint"]
    ok = run(capfd, "keys", "import", str(card), "-w", other, "--fingerprint", fp, "--json")
    assert ok.code == 0, ok.err
    assert ok.json() == {
        "identity": {"name": "washington", "role": "site", "fingerprint": fp},
        "epochs": [],
    }
    got = run(capfd, "keys", "import", str(epochs), "-w", other)
    assert got.code == 0, got.err
    assert "Recorded epoch 1 of us-iran, issued by washington" in got.out
    junk = tmp_path / "junk.json"
    junk.write_text("not json")
    bad = run(capfd, "keys", "import", str(junk), "-w", other)
    assert bad.code == 2 and "not JSON" in bad.err


def test_a_sealed_message_is_read_by_the_cleared_and_refused_to_others(
    room: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    w = str(room)
    added = run(capfd, "-u", "alice", "channels", "add", "-w", w, "direct", "--to", "Tehran",
                "--url", "http://127.0.0.1:9", "--track", "us-iran")  # fmt: skip
    assert added.code == 0, added.err
    sent = run(capfd, "-u", "alice", "channels", "send", "-w", w, "direct", "meet on the 14th",
               "--id", "m-1", "--wait", "0s", "--json")  # fmt: skip
    assert sent.code == 3, sent.err  # nobody listens: recorded, sealed, pending
    r = run(capfd, "-u", "alice", "channels", "read", "-w", w, "m-1", "--json")
    assert r.code == 0, r.err
    assert r.json()["text"] == "meet on the 14th" and r.json()["opened_with"] == "alice"
    r = run(capfd, "-u", "dana", "channels", "read", "-w", w, "m-1")
    assert r.code == 6 and "not cleared for us-iran" in r.err
    with open_room(room, as_site=True) as opened:
        denied = [rec.payload for rec in opened.session.records(kinds=[ACCESS_DENIED])]
    assert denied == [
        {"user": "dana", "action": "read message m-1", "reason": "not cleared for us-iran"}
    ]
    assert b"meet on the 14th" not in (room / "sitroom.db").read_bytes()


def _sealed_channel(capfd: pytest.CaptureFixture[str], w: str) -> None:
    """A channel of us-iran to a desk nobody runs: what is sent stays recorded, sealed."""
    added = run(capfd, "-u", "alice", "channels", "add", "-w", w, "direct", "--to", "Tehran",
                "--url", "http://127.0.0.1:9", "--track", "us-iran")  # fmt: skip
    assert added.code == 0, added.err


def _send(capfd: pytest.CaptureFixture[str], w: str, msg: str) -> tuple[int, str]:
    r = run(capfd, "-u", "alice", "channels", "send", "-w", w, "direct", f"text of {msg}",
            "--id", msg, "--wait", "0s")  # fmt: skip
    return r.code, r.err


def _epoch_now(capfd: pytest.CaptureFixture[str], w: str) -> tuple[int, str]:
    (track,) = run(capfd, "-u", "alice", "keys", "-w", w, "--track", "us-iran", "--json").json()[
        "tracks"
    ]
    return track["epoch"], track["reason"]


@pytest.mark.parametrize("action", ["rotate", "refuse"])
def test_channels_send_seals_nothing_past_its_key_limit(
    room: Path, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, action: str
) -> None:
    """A limit of 3: the fourth message is sealed under a new epoch that every member reads
    (rotate), or refused in one line, exit 5, and nothing recorded (refuse)."""
    monkeypatch.setenv("SITROOM_KEY_USAGE_LIMIT", "3")
    monkeypatch.setenv("SITROOM_KEY_WEAR_ACTION", action)
    w = str(room)
    assert run(capfd, "-u", "alice", "users", "grant", "-w", w, "dana", "us-iran").code == 0
    _sealed_channel(capfd, w)
    assert [_send(capfd, w, f"m-{i}")[0] for i in range(3)] == [3, 3, 3]  # pending, sealed
    assert _epoch_now(capfd, w)[0] == 2
    code, err = _send(capfd, w, "m-3")
    if action == "refuse":
        assert code == 5
        assert err == (
            "sitroom: error: track us-iran's epoch 2 key for washington has sealed its 3 "
            "messages, its limit: refused (key_wear_action = refuse); rotate it first\n"
        )
        assert run(capfd, "-u", "alice", "channels", "read", "-w", w, "m-3").code == 2
        assert _epoch_now(capfd, w)[0] == 2
        return
    assert code == 3, err
    assert _epoch_now(capfd, w) == (
        3,
        "track us-iran's epoch 2 key for washington has sealed its 3 messages, its limit",
    )
    for user in ("alice", "dana"):
        for i in range(4):
            r = run(capfd, "-u", user, "channels", "read", "-w", w, f"m-{i}", "--json")
            assert r.code == 0, r.err
            assert (r.json()["text"], r.json()["opened_with"]) == (f"text of m-{i}", user)


@pytest.mark.parametrize("action", ["rotate", "refuse"])
def test_channels_send_after_the_cryptoperiod_rotates_or_refuses(
    room: Path, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, action: str
) -> None:
    monkeypatch.setenv("SITROOM_KEY_WEAR_ACTION", action)
    monkeypatch.setenv("SITROOM_KEY_CRYPTOPERIOD_DAYS", str(0.5 / 86_400))  # half a second
    w = str(room)
    _sealed_channel(capfd, w)
    assert run(capfd, "-u", "alice", "keys", "rotate", "-w", w, "us-iran").code == 0
    time.sleep(0.6)
    code, err = _send(capfd, w, "m-1")
    if action == "refuse":
        assert code == 5 and err.count("\n") == 1
        assert "track us-iran's epoch 2 key expired" in err and "rotate it first" in err
        return
    assert code == 3, err
    epoch, reason = _epoch_now(capfd, w)
    assert epoch == 3 and reason.startswith("track us-iran's epoch 2 key expired")
    r = run(capfd, "-u", "alice", "channels", "read", "-w", w, "m-1", "--json")
    assert r.code == 0 and r.json()["text"] == "text of m-1"


def test_keys_replace_locks_the_old_key_out(
    room: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """dana's key file and passphrase were taken (the thief kept a copy). She replaces her key:
    the copy opens no session and no new epoch, her API token is ended, and with her new
    passphrase she reads and sends; `verify` holds."""
    w = str(room)
    assert run(capfd, "-u", "alice", "users", "grant", "-w", w, "dana", "us-iran").code == 0
    _sealed_channel(capfd, w)
    assert _send(capfd, w, "m-1")[0] == 3
    thief = tmp_path / "thief"
    thief.mkdir()
    shutil.copy(room / "keys" / "dana.key", thief / "dana.key")
    token = run(capfd, "-u", "dana", "tokens", "create", "script", "-w", w, "--json").json()
    new = tmp_path / "new.passphrase"
    new.write_text("a brand new passphrase\n")
    stranger = run(capfd, "-u", "dana", "keys", "replace", "alice", "-w", w,
                   "--passphrase-file", str(new))  # fmt: skip
    assert stranger.code == 6 and "dana is an analyst, not an admin" in stranger.err
    r = run(capfd, "-u", "dana", "keys", "replace", "dana", "-w", w, "--passphrase-file",
            str(new), "--json")  # fmt: skip
    assert r.code == 0, r.err
    done = r.json()
    old = KeyStore(thief).public("dana").fingerprint
    assert (done["name"], done["revoked"], done["tokens_revoked"]) == ("dana", old, 1)
    (epoch,) = done["epochs"]
    assert (epoch["track"], epoch["epoch"]) == ("us-iran", 3)
    assert epoch["members"] == ["alice", "dana", "washington"]
    # Her old passphrase, the thief's copy put back, and her token: none proves dana now.
    refused = run(capfd, "-u", "dana", "keys", "-w", w)
    assert refused.code == 6 and "passphrase does not open" in refused.err
    shutil.copy(room / "keys" / "dana.key", tmp_path / "dana.key.new")
    shutil.copy(thief / "dana.key", room / "keys" / "dana.key")
    stolen = run(capfd, "-u", "dana", "keys", "-w", w)
    assert stolen.code == 6 and f"({old} was replaced by {done['fingerprint']})" in stolen.err
    shutil.copy(tmp_path / "dana.key.new", room / "keys" / "dana.key")
    monkeypatch.setenv("SITROOM_TOKEN", token["token"])
    ended = run(capfd, "-u", "dana", "keys", "-w", w)
    assert ended.code == 6 and "not valid here" in ended.err
    monkeypatch.delenv("SITROOM_TOKEN")
    # The thief's key opens no epoch sealed after the replacement.
    secret = KeyStore(thief).unlock("dana", Unlock(passphrase="correct horse battery"))
    with open_room(room, as_site=True) as site:
        epochs = site.session.state("secure")["epochs"]["us-iran"]
        with pytest.raises(SecureError, match="sealed to dana's key"):
            open_epoch(epochs[-1], secret)
        assert open_epoch(epochs[-2], secret)  # ... what it held before, it still holds
    # dana, with her new passphrase, sends and reads; the message from before reads too.
    monkeypatch.setenv("SITROOM_PASSPHRASE", "a brand new passphrase")
    sent = run(capfd, "-u", "dana", "channels", "send", "-w", w, "direct", "hello",
               "--id", "m-2", "--wait", "0s")  # fmt: skip
    assert sent.code == 3, sent.err
    for msg, text, opener in (("m-2", "hello", "dana"), ("m-1", "text of m-1", "washington")):
        r = run(capfd, "-u", "dana", "channels", "read", "-w", w, msg, "--json")
        assert r.code == 0, r.err
        assert (r.json()["text"], r.json()["opened_with"]) == (text, opener)
    status = run(capfd, "-u", "dana", "keys", "-w", w, "--json").json()
    (row,) = [i for i in status["identities"] if i["name"] == "dana"]
    assert (row["fingerprint"], row["key_changes"]) == (done["fingerprint"], 1)
    assert run(capfd, "verify", "-w", w).code == 0
