"""Forward secrecy within an epoch, in a real room: after message n the sender keeps only n and
ck_n (encrypted, outside the workspace), from which no key of message 1..n follows; a lost,
restored or edited chain file never makes a key be used twice."""

from __future__ import annotations

import hmac
import json
import threading
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from test_track_keys import Down, _epoch, _person, _send, open_room

from sitroom.application.desk import Desk
from sitroom.domain.channels.priority import Priority
from sitroom.domain.secure.codec import canonical, unb64
from sitroom.domain.secure.envelope import HKDF_KEY_VERSION, Header, seal
from sitroom.domain.secure.epochs import message_key
from sitroom.domain.secure.identity import Secret
from sitroom.domain.secure.ledger import SECURE
from sitroom.domain.secure.ratchet import ChainState, chain_root
from sitroom.errors import SecureError
from sitroom.room import Room
from sitroom.settings import key_files


def _file(room: Room) -> Path:
    return key_files(room.path) / "ratchet" / f"{room.site}.json"


def _decrypted(path: Path, me: Secret) -> dict[str, Any]:
    """The chain file opened as its format says, without sitroom's reader."""
    body = json.loads(path.read_bytes())
    header = {k: v for k, v in body.items() if k not in ("nonce", "sealed")}
    key = HKDF(hashes.SHA256(), 32, unb64(body["salt"]), b"sitroom sender chains v1").derive(
        me.private_bytes()
    )
    plain = ChaCha20Poly1305(key).decrypt(
        unb64(body["nonce"]), unb64(body["sealed"]), canonical(header)
    )
    opened: dict[str, Any] = json.loads(plain)
    return opened


def _current(room: Room) -> int:
    return int(room.session.state(SECURE)["epochs"]["us-iran"][-1]["epoch"])


def _site_seal(room: Room, msg_id: str, text: bytes) -> dict[str, Any]:
    ring = room.keys.keyring(room.keys.unlock(room.site))
    env: dict[str, Any] = json.loads(ring.seal("us-iran", msg_id, text, room.session.now_ms()))
    return env


def _aead_open(key: bytes, body: str | dict[str, Any]) -> bytes:
    env = json.loads(body) if isinstance(body, str) else body
    return AESGCM(key).decrypt(unb64(env["nonce"]), unb64(env["ct"]), canonical(env["header"]))


def test_after_message_n_the_sender_keeps_ck_n_and_n_which_derive_no_key_it_used(
    tmp_path: Path,
) -> None:
    room = open_room(tmp_path / "room")
    try:
        omar = _person(room, "omar")
        _epoch(room, "omar", "us-iran")
        count = 5
        bodies = _send(room, count)  # through the desk and the room's own keyring and store
        epoch, site = _current(room), room.keys.unlock(room.site)
        path = _file(room)
        assert room.path.resolve() not in path.resolve().parents
        assert path.stat().st_mode & 0o777 == 0o600
        (chain,) = _decrypted(path, site)["chains"]
        assert sorted(chain) == ["ck", "epoch", "n", "track"]
        assert (chain["track"], chain["epoch"], chain["n"]) == ("us-iran", epoch, count)
        ck_n = unb64(chain["ck"])

        # What a reader derives, from the epoch secret sealed to omar, opens message n.
        ring = room.keys.keyring(omar)
        found = ring.secret("us-iran", epoch)
        assert found is not None
        ep, secret = found
        root = chain_root(secret, "us-iran", epoch, room.site, ep.aead)
        cks = [ChainState(0, root).walk(i).ck for i in range(count + 1)]
        mks = [ChainState(i, cks[i]).advance()[0] for i in range(count + 1)]  # mks[i]: mk_{i+1}
        assert ring.read(bodies[-1], "us-iran").plaintext == f"note {count - 1}".encode()
        assert _aead_open(mks[count - 1], bodies[-1]) == f"note {count - 1}".encode()

        # The stored chain key is ck_n: it yields mk_{n+1}, not mk_n, and holds nothing earlier.
        assert ck_n == cks[count]
        assert hmac.digest(ck_n, b"\x01", "sha256") == mks[count] != mks[count - 1]
        used = [secret, *cks[:count], *mks[:count]]
        raw, opened = path.read_bytes(), json.dumps(_decrypted(path, site)).encode()
        for value in used:
            for text in (raw, opened):
                assert value not in text and chain["ck"] != value.hex()
            assert value != ck_n
        assert [unb64(c["ck"]) for c in _decrypted(path, site)["chains"]] == [ck_n]

        # The next message takes n + 1, under mk_{n+1}, and the chain moves on past it.
        env = _site_seal(room, "m-next", b"next")
        assert env["header"]["n"] == count + 1 and env["header"]["v"] == 2
        assert _aead_open(mks[count], env) == b"next"
        assert _decrypted(path, site)["chains"][0]["n"] == count + 1
    finally:
        room.close()


@pytest.mark.parametrize("action", ["refuse", "rotate"])
def test_a_lost_chain_is_never_started_again_under_keys_already_used(
    tmp_path: Path, action: str
) -> None:
    room = open_room(tmp_path / "room", key_wear_action=action)
    try:
        omar = _person(room, "omar")
        _epoch(room, "omar", "us-iran")
        bodies = _send(room, 3)
        epoch = _current(room)
        _file(room).unlink()
        if action == "refuse":
            with pytest.raises(SecureError) as e:
                _site_seal(room, "m-after", b"after")
            assert str(e.value) == (
                f"geneva's chain in track us-iran's epoch {epoch} is not kept here, and 3 "
                "messages were sealed under it: starting it again would reuse their keys: "
                "refused (key_wear_action = refuse); rotate it first"
            )
            return
        env = _site_seal(room, "m-after", b"after")
        assert (env["header"]["epoch"], env["header"]["n"]) == (epoch + 1, 1)
        ring = room.keys.keyring(omar)
        assert ring.read(json.dumps(env), "us-iran").plaintext == b"after"
        assert [ring.read(b, "us-iran").plaintext for b in bodies] == [
            b"note 0",
            b"note 1",
            b"note 2",
        ]
    finally:
        room.close()


def _submit(room: Room, ids: list[str]) -> list[int]:
    """Messages submitted to the us-iran channel's desk and recorded: their numbers."""
    desk = Desk(room.session, Down(), keyring=room.keys.keyring(room.keys.unlock(room.site)))
    try:
        for msg_id in ids:
            desk.submit("direct", Priority.ROUTINE, msg_id, msg_id=msg_id)
    finally:
        desk.close()
    sent = room.session.state("channels")["messages"]
    return [json.loads(sent[i]["body"])["header"]["n"] for i in ids]


def test_a_chain_file_restored_from_an_older_copy_skips_ahead_to_what_the_log_saw(
    tmp_path: Path,
) -> None:
    room = open_room(tmp_path / "room")
    try:
        _epoch(room, _person(room, "omar").name, "us-iran")
        _send(room, 2)
        older = _file(room).read_bytes()
        assert _submit(room, ["a", "b", "c"]) == [3, 4, 5]
        _file(room).write_bytes(older)  # a backup from after message 2
        assert _site_seal(room, "d", b"d")["header"]["n"] == 6  # not 3: the log saw 5
    finally:
        room.close()


def test_an_edited_chain_file_is_one_clear_error(tmp_path: Path) -> None:
    room = open_room(tmp_path / "room")
    try:
        _epoch(room, _person(room, "omar").name, "us-iran")
        _send(room, 1)
        path = _file(room)
        body = json.loads(path.read_bytes())
        for field, value in (("sealed", "A" + body["sealed"][1:]), ("salt", body["salt"][::-1])):
            path.write_text(json.dumps({**body, field: value}))
            with pytest.raises(SecureError) as e:
                _site_seal(room, "m-x", b"x")
            assert str(e.value).startswith(f"{path}: ")
            assert "altered or damaged" in str(e.value) or "salt" in str(e.value)
        for damaged, what in ((b"", "not a JSON object"), (b"[1]", "not a JSON object")):
            path.write_bytes(damaged)
            with pytest.raises(SecureError, match=what):
                _site_seal(room, "m-x", b"x")
    finally:
        room.close()


def test_two_keyrings_sealing_at_once_never_take_the_same_number(tmp_path: Path) -> None:
    room = open_room(tmp_path / "room")
    try:
        _epoch(room, _person(room, "omar").name, "us-iran")
        numbers: list[int] = []

        def seal_many(tag: str) -> None:
            for i in range(15):
                numbers.append(_site_seal(room, f"{tag}-{i}", b"x")["header"]["n"])

        threads = [threading.Thread(target=seal_many, args=(t,)) for t in "ab"]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(numbers) == list(range(1, 31))
    finally:
        room.close()


def test_a_log_sealed_before_the_chains_still_reads(tmp_path: Path) -> None:
    """Envelopes of version 1 — one key per sender and epoch — in the log open as before."""
    room = open_room(tmp_path / "room")
    try:
        omar = _person(room, "omar")
        _epoch(room, "omar", "us-iran")
        site, epoch = room.keys.unlock(room.site), _current(room)
        found = room.keys.keyring(site).secret("us-iran", epoch)
        assert found is not None
        ep, secret = found
        header = Header(
            "us-iran",
            epoch,
            site.name,
            "old-1",
            room.session.now_ms(),
            1,
            ep.aead,
            v=HKDF_KEY_VERSION,
        )
        key = message_key(secret, "us-iran", epoch, site.name, ep.aead)
        old = json.dumps(seal(b"written before", header, key, site, b"\x00" * 12))
        for ring in (room.keys.keyring(omar), room.keys.keyring(site)):
            assert ring.read(old, "us-iran").plaintext == b"written before"
            assert ring.open(old, "us-iran").plaintext == b"written before"
    finally:
        room.close()
