"""The key stores pass the KeyStore contract (sitroom.testing): the one on disk, in a room's
keys/ directory, and the in-memory one tests use."""

from __future__ import annotations

import shutil
from pathlib import Path

import orjson
import pytest

from sitroom.adapters.keystore import KeyStore, new_secret
from sitroom.application.ports import KeyStore as KeyStorePort
from sitroom.application.ports import Unlock
from sitroom.errors import SecureError
from sitroom.testing import KeyStoreContract, MemoryKeyStore
from sitroom.testing.keystore_contract import PASSPHRASE, same_keys


class TestDiskKeyStore(KeyStoreContract):
    def make_store(self, tmp_path: Path) -> KeyStorePort:
        return KeyStore(tmp_path / "keys")


class TestMemoryKeyStore(KeyStoreContract):
    def make_store(self, tmp_path: Path) -> KeyStorePort:
        return MemoryKeyStore(tmp_path / "key-files")


# the disk store, beyond the contract ------------------------------------------------------
def test_keys_outlive_the_store_object_and_the_directory_can_move(tmp_path: Path) -> None:
    keys = tmp_path / "room" / "keys"
    washington, muscat = new_secret("washington", "site"), new_secret("muscat", "intermediary")
    KeyStore(keys).save(washington, Unlock(passphrase=PASSPHRASE))
    KeyStore(keys).save(muscat, Unlock(key_file=keys / "muscat.keyfile"))
    shutil.move(tmp_path / "room", tmp_path / "moved")
    moved = KeyStore(tmp_path / "moved" / "keys")
    assert moved.names() == ["muscat", "washington"]
    assert same_keys(moved.unlock("washington", Unlock(passphrase=PASSPHRASE)), washington)
    key_file = moved.stored_key_file("muscat")
    assert key_file == tmp_path / "moved" / "keys" / "muscat.keyfile"  # recorded relative
    assert same_keys(moved.unlock("muscat", Unlock(key_file=key_file)), muscat)


@pytest.mark.parametrize("field", ["name", "role", "sign", "protection"])
def test_an_altered_key_file_does_not_unlock(tmp_path: Path, field: str) -> None:
    """Everything but the nonce and the ciphertext is bound in: change any of it and the
    unlock fails, with the passphrase that was right."""
    store = KeyStore(tmp_path)
    path = store.save(new_secret("washington", "site"), Unlock(passphrase=PASSPHRASE))
    body = orjson.loads(path.read_bytes())
    other = new_secret("tehran", "person").identity.card()
    if field == "protection":
        body["protection"]["n"] = 2**14
    else:
        body[field] = {"name": "tehran", "role": "person", "sign": other["sign"]}[field]
    path.write_bytes(orjson.dumps(body))
    with pytest.raises(SecureError):
        store.unlock("washington", Unlock(passphrase=PASSPHRASE))


def test_a_file_that_is_not_a_key_file_is_a_secure_error(tmp_path: Path) -> None:
    (tmp_path / "washington.key").write_text("not json")
    (tmp_path / "tehran.key").write_text('{"format": "something-else/1"}')
    store = KeyStore(tmp_path)
    for name in ("washington", "tehran"):
        with pytest.raises(SecureError):
            store.public(name)
