"""Forward secrecy for readers, in a real room: a member that published inbox keys gets each
epoch sealed to one of them; once it has opened the epoch and read message n, its stored state
(the real files), its identity key and the log together open no message it read, and the site's
archive copy still opens everything."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from test_track_keys import PASSPHRASE, _clock, _send, open_room

from sitroom.adapters.readerfile import ReaderFiles
from sitroom.adapters.sealedfile import SealedFiles
from sitroom.domain.secure.codec import canonical, unb64
from sitroom.domain.secure.epochs import open_epoch, record_key
from sitroom.domain.secure.identity import Secret
from sitroom.domain.secure.inbox import LIFETIME_MS
from sitroom.domain.secure.ledger import SECURE
from sitroom.domain.secure.ratchet import ChainState, chain_root, message_key, next_chain
from sitroom.errors import Rejected, SecureError
from sitroom.room import Room
from sitroom.settings import key_files

SUITE = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.CHACHA20_POLY1305)


@pytest.fixture
def room(tmp_path: Path) -> Iterator[Room]:
    r = open_room(tmp_path / "room")
    r.users.add("alice", role="admin", passphrase=PASSPHRASE)
    r.users.add("omar", passphrase=PASSPHRASE)
    r.users.add("dana", passphrase=PASSPHRASE)
    yield r
    r.close()


def _me(room: Room, name: str) -> Secret:
    return room.keys.unlock(name, PASSPHRASE)


def _as(room: Room, name: str) -> Room:
    """The room as ``name`` now (a session's clearances are those it started with)."""
    return room.as_user(name, _me(room, name))


def _publish(room: Room, name: str, count: int) -> None:
    done = _as(room, name).keys.inbox(count)
    assert done.name == name and len(done.ids) == count


def _epoch_payload(room: Room, track: str = "us-iran", n: int = -1) -> dict[str, Any]:
    epochs = room.session.state(SECURE)["epochs"][track]
    return dict(epochs[n] if n < 0 else next(e for e in epochs if e["epoch"] == n))


def _reader_file(room: Room, name: str) -> Path:
    return key_files(room.path) / "reader" / f"{name}.json"


def _aead_opens(key: bytes, body: str) -> bool:
    env = json.loads(body)
    try:
        AESGCM(key).decrypt(unb64(env["nonce"]), unb64(env["ct"]), canonical(env["header"]))
    except (InvalidTag, ValueError):
        return False
    return True


def _true_keys(room: Room, count: int) -> list[bytes]:
    """mk_1..mk_count of the site's chain in the current epoch, from the site's archive copy."""
    site = room.keys.keyring(room.keys.unlock(room.site))
    epoch = _epoch_payload(room)["epoch"]
    found = site.secret("us-iran", epoch)
    assert found is not None
    ep, secret = found
    chain = ChainState(0, chain_root(secret, "us-iran", epoch, room.site, ep.aead))
    keys = []
    for _ in range(count):
        mk, chain = chain.advance()
        keys.append(mk)
    return keys


def _values(state: Any) -> list[bytes]:
    """Every 32-byte value a decrypted reader file holds (keys, chain keys, record keys)."""
    if isinstance(state, dict):
        return [v for x in state.values() for v in _values(x)]
    if isinstance(state, list):
        return [v for x in state for v in _values(x)]
    if isinstance(state, str):
        try:
            raw = unb64(state)
        except SecureError:
            return []
        return [raw] if len(raw) == 32 else []
    return []


def test_after_reading_message_n_the_stored_state_identity_key_and_log_open_none_read(
    room: Room,
) -> None:
    _publish(room, "omar", 5)
    room.users.grant("omar", "us-iran")
    payload = _epoch_payload(room)
    assert payload["members"]["omar"]["inbox"] == 1
    assert "inbox" not in payload["members"][room.site]  # the site's archive copy
    bodies = _send(room, 5)
    omar = _me(room, "omar")
    ring = _as(room, "omar").keys.keyring(omar)
    # Read out of order: 3, then 1; 2, 4 and 5 stay unread.
    assert ring.read(bodies[2], "us-iran").plaintext == b"note 2"
    assert ring.read(bodies[0], "us-iran").plaintext == b"note 0"

    # Everything stolen: the real files on disk, read afresh; omar's identity key; the log.
    stolen = ReaderFiles(key_files(room.path) / "reader")
    state = stolen.get(omar)
    assert sorted(state.inbox) == [2, 3, 4, 5]  # inbox key 1, used for the epoch, is gone
    opened = SealedFiles(
        stolen.path("omar").parent,
        format="sitroom-reader/1",
        info=b"sitroom reader state v1",
        noun="reader-state",
    ).read(omar)
    values = _values(opened)
    assert values  # the record key, chain keys and skipped keys are there
    mks = _true_keys(room, 5)
    read, unread = [0, 2], [1, 3, 4]
    # Every value, and every key one or many chain steps on from each, opens nothing read.
    for value in values:
        derived = [value]
        ck = value
        for _ in range(8):
            derived += [message_key(ck)]
            ck = next_chain(ck)
        for i in read:
            assert mks[i] not in derived
            assert not any(_aead_opens(k, bodies[i]) for k in derived)
    # The identity key does not open the epoch: the copy is sealed to the inbox key...
    with pytest.raises(Rejected, match="inbox key 1, which is not held here"):
        open_epoch(payload, omar)
    sealed = unb64(payload["members"]["omar"]["sealed"])
    infos = [
        canonical({**base, **extra})
        for base in [
            {
                "use": "sitroom epoch key",
                "track": "us-iran",
                "epoch": payload["epoch"],
                "member": "omar",
                "fingerprint": omar.identity.fingerprint,
            }
        ]
        for extra in ({}, {"inbox": 1})
    ]
    for info in infos:
        for key in [omar.agreeing, *map(X25519PrivateKey.from_private_bytes, state.inbox.values())]:
            with pytest.raises(InvalidTag):
                SUITE.decrypt(sealed, key, info=info)
    # ... so a fresh keyring over the stolen state refuses what was read, and reads the rest.
    fresh = _as(room, "omar").keys.keyring(omar)
    for i in read:
        with pytest.raises(Rejected) as e:
            fresh.read(bodies[i], "us-iran")
        assert e.value.reason == "key-deleted"
        assert str(e.value) == (
            f"message m-{i} (number {i + 1} from geneva in epoch 1 of track us-iran) was read "
            "already here (or skipped past more than 1,000 ago) and its key deleted, for "
            "forward secrecy: the site, which holds the archive copy, can reopen it"
        )
    for i in unread:
        assert any(_aead_opens(k, bodies[i]) for k in values) is (i == 1)  # 2 was skipped
        assert fresh.read(bodies[i], "us-iran").plaintext == f"note {i}".encode()
    # The site still reopens every message, from its archive copy.
    site = room.keys.keyring(room.keys.unlock(room.site))
    assert [site.read(b, "us-iran").plaintext for b in bodies] == [
        f"note {i}".encode() for i in range(5)
    ]


def test_the_record_key_outlives_the_inbox_key_and_the_epoch_secret(room: Room) -> None:
    _publish(room, "omar", 3)
    room.users.grant("omar", "us-iran")
    omar = _me(room, "omar")
    site = room.keys.keyring(room.keys.unlock(room.site))
    expected = site.record_key("us-iran", 1)
    assert expected is not None
    assert _as(room, "omar").keys.keyring(omar).record_key("us-iran", 1) == expected
    # Its inbox key 1 is gone, the two it did not use are kept.
    assert sorted(ReaderFiles(key_files(room.path) / "reader").get(omar).inbox) == [2, 3]
    # A new process: the inbox key is gone, no secret is held; the record key is kept.
    again = _as(room, "omar").keys.keyring(omar)
    assert again.record_key("us-iran", 1) == expected
    with pytest.raises(SecureError, match="its secret is not kept"):
        again.secret("us-iran", 1)
    found = site.secret("us-iran", 1)
    assert found is not None and record_key(found[1], "us-iran", 1) == expected


def test_each_epoch_takes_a_new_inbox_key_and_none_is_used_twice(room: Room) -> None:
    _publish(room, "omar", 6)
    room.users.grant("omar", "us-iran")
    room.users.grant("omar", "sanctions")
    room.users.grant("dana", "us-iran")
    room.users.grant("dana", "sanctions")
    # dana's key replaced: both tracks re-keyed in one append, each with its own inbox key.
    replaced = room.keys.replace("dana", passphrase="a new passphrase for dana")
    assert len(replaced.epochs) == 2
    epochs = room.session.state(SECURE)["epochs"]
    taken = {(t, e["epoch"]): e["members"]["omar"]["inbox"] for t in epochs for e in epochs[t]}
    assert sorted(taken.values()) == [1, 2, 3, 4, 5, 6]
    assert (taken[("us-iran", 1)], taken[("us-iran", 2)]) == (1, 3)  # lowest first
    assert {taken[("us-iran", 3)], taken[("sanctions", 3)]} == {5, 6}
    inbox = room.session.state(SECURE)["inbox"]["omar"]
    assert all(v["consumed"] for v in inbox.values())
    # None left: the next epoch is sealed to omar's identity key, and says so.
    issued = room.keys.rotate("us-iran")
    assert "omar" in issued.identity_copies and room.site in issued.identity_copies
    assert issued.warnings == (
        "omar has 0 inbox keys left: epoch sealed to the identity key, not forward-secret; "
        "`sitroom keys inbox` as omar publishes more",
    )
    (track,) = room.keys.status("us-iran").tracks
    assert track.sealed_to["omar"] == "not forward-secret (identity key)"


def test_a_member_without_inbox_keys_keeps_todays_behaviour_and_is_reported(room: Room) -> None:
    _publish(room, "omar", 4)
    room.users.grant("omar", "us-iran")
    issued = room.users.grant("dana", "us-iran").epoch
    assert issued is not None
    assert issued.identity_copies == ("dana", room.site)
    assert issued.warnings == (
        "omar has 2 inbox keys left; `sitroom keys inbox` as omar publishes more",
    )
    (track,) = room.keys.status("us-iran").tracks
    assert track.sealed_to == {
        "dana": "not forward-secret (identity key)",
        room.site: "not forward-secret (identity key)",
        "omar": "inbox key 2",
    }
    rows = {i.name: i.inbox_keys for i in room.keys.status().identities}
    assert rows["omar"] == 2 and rows["dana"] == 0
    bodies = _send(room, 2)
    dana = _me(room, "dana")
    ring = _as(room, "dana").keys.keyring(dana)
    for _ in range(2):  # read and read again: the identity key opens the epoch, as before
        assert ring.read(bodies[0], "us-iran").plaintext == b"note 0"
    assert not _reader_file(room, "dana").exists()


def test_expired_inbox_keys_are_not_sealed_to(room: Room) -> None:
    _publish(room, "omar", 2)
    _clock(room).advance(LIFETIME_MS)
    issued = room.users.grant("omar", "us-iran").epoch
    assert issued is not None and "omar" in issued.identity_copies


def test_a_member_seals_in_an_inbox_epoch_and_keeps_no_key_of_what_it_sealed(
    room: Room,
) -> None:
    _publish(room, "omar", 3)
    room.users.grant("omar", "us-iran")
    omar = _me(room, "omar")
    ring = _as(room, "omar").keys.keyring(omar)
    body = ring.seal("us-iran", "o-1", b"from omar", room.session.now_ms())
    site = room.keys.keyring(room.keys.unlock(room.site))
    assert site.read(body, "us-iran").plaintext == b"from omar"
    with pytest.raises(Rejected, match="is omar's own, and a sender keeps no key"):
        ring.read(body, "us-iran")


def test_a_damaged_reader_file_is_one_clear_error(room: Room) -> None:
    _publish(room, "omar", 2)
    room.users.grant("omar", "us-iran")
    bodies = _send(room, 1)
    omar = _me(room, "omar")
    path = _reader_file(room, "omar")
    body = json.loads(path.read_bytes())
    assert path.stat().st_mode & 0o777 == 0o600 and not str(path).startswith(str(room.path))
    for damaged, what in (
        (json.dumps({**body, "nonce": body["nonce"][::-1]}), "altered or damaged"),
        (json.dumps({**body, "format": "x"}), "not a sitroom reader-state file"),
        ("{", "not a JSON object"),
    ):
        path.write_text(damaged)
        with pytest.raises(SecureError) as e:
            _as(room, "omar").keys.keyring(omar).read(bodies[0], "us-iran")
        assert str(e.value).startswith(f"{path}: ") and what in str(e.value)
        assert "\n" not in str(e.value)
