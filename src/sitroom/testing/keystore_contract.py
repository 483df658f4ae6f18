"""The contract every ``KeyStore`` passes (application/ports.py): private keys, encrypted at
rest, opened with a passphrase or a key file. A subclass says how to make a store::

    from sitroom.testing import KeyStoreContract

    class TestMyKeyStore(KeyStoreContract):
        def make_store(self, tmp_path):
            return MyKeyStore(tmp_path / "keys")

What it checks: a key saved under a passphrase, or under a key file (made when missing), is
unlocked to the same private keys, and only by that passphrase or key file: a wrong one, the
other kind of protection or a damaged key file is a :class:`~sitroom.errors.SecureError`;
``exists``, ``names`` and ``public`` know the saved keys (and only those) without unlocking;
``stored_key_file`` names the key file a key was protected with; a second key under a name,
a short passphrase and an unusable name are a :class:`~sitroom.errors.UserInputError`.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest

from sitroom.adapters.keystore import new_secret
from sitroom.application.ports import KeyStore, Unlock
from sitroom.domain.secure.identity import Secret
from sitroom.errors import NotFound, SecureError, UserInputError

__all__ = ["KeyStoreContract"]

PASSPHRASE = "correct horse battery"


def same_keys(a: Secret, b: Secret) -> bool:
    return (a.name, a.role, a.private_bytes()) == (b.name, b.role, b.private_bytes())


class KeyStoreContract:
    """Subclasses provide ``make_store``."""

    def make_store(self, tmp_path: Path) -> KeyStore:
        raise AssertionError("subclass provides make_store")

    @pytest.fixture
    def store(self, tmp_path: Path) -> KeyStore:
        return self.make_store(tmp_path)

    @pytest.fixture(scope="class")
    def secret(self) -> Secret:
        return new_secret("washington", "site")

    # passphrases --------------------------------------------------------------------------
    def test_a_passphrase_round_trip_gives_back_the_same_keys(
        self, store: KeyStore, secret: Secret
    ) -> None:
        store.save(secret, Unlock(passphrase=PASSPHRASE))
        opened = store.unlock("washington", Unlock(passphrase=PASSPHRASE))
        assert same_keys(opened, secret)
        assert opened.identity == secret.identity
        message = b"Article 1."
        assert secret.identity.verifies(message, opened.sign(message))

    def test_a_wrong_passphrase_is_a_secure_error(self, store: KeyStore, secret: Secret) -> None:
        store.save(secret, Unlock(passphrase=PASSPHRASE))
        for wrong in ("correct horse battery ", "Correct horse battery", "x" * 40):
            with pytest.raises(SecureError):
                store.unlock("washington", Unlock(passphrase=wrong))
        assert same_keys(store.unlock("washington", Unlock(passphrase=PASSPHRASE)), secret)

    def test_a_non_ascii_passphrase_works(self, store: KeyStore) -> None:
        secret = new_secret("tehran", "person")
        store.save(secret, Unlock(passphrase="گذرواژه‌ی بلند و امن"))
        assert same_keys(store.unlock("tehran", Unlock(passphrase="گذرواژه‌ی بلند و امن")), secret)

    def test_a_short_passphrase_is_refused(self, store: KeyStore, secret: Secret) -> None:
        with pytest.raises(UserInputError):
            store.save(secret, Unlock(passphrase="short"))
        assert not store.exists("washington")

    # key files ----------------------------------------------------------------------------
    def test_a_key_file_round_trip_and_the_key_file_is_remembered(
        self, store: KeyStore, tmp_path: Path
    ) -> None:
        secret = new_secret("muscat", "intermediary")
        key_file = tmp_path / "media" / "muscat.keyfile"
        store.save(secret, Unlock(key_file=key_file))
        assert key_file.is_file() and len(key_file.read_bytes()) >= 32, "a missing one is made"
        assert key_file.stat().st_mode & 0o077 == 0, "readable by its owner only"
        assert same_keys(store.unlock("muscat", Unlock(key_file=key_file)), secret)
        stored = store.stored_key_file("muscat")
        assert stored is not None and stored.resolve() == key_file.resolve()

    def test_an_existing_key_file_is_used_as_it_is(self, store: KeyStore, tmp_path: Path) -> None:
        key_file = tmp_path / "given.keyfile"
        key_file.write_bytes(bytes(range(64)))
        secret = new_secret("relay-1", "intermediary")
        store.save(secret, Unlock(key_file=key_file))
        assert key_file.read_bytes() == bytes(range(64))
        assert same_keys(store.unlock("relay-1", Unlock(key_file=key_file)), secret)

    def test_another_or_damaged_key_file_is_a_secure_error(
        self, store: KeyStore, tmp_path: Path
    ) -> None:
        key_file, other = tmp_path / "a.keyfile", tmp_path / "b.keyfile"
        other.write_bytes(b"\x01" * 32)
        store.save(new_secret("muscat", "intermediary"), Unlock(key_file=key_file))
        with pytest.raises(SecureError):
            store.unlock("muscat", Unlock(key_file=other))
        with pytest.raises(SecureError):
            store.unlock("muscat", Unlock(key_file=tmp_path / "missing.keyfile"))
        key_file.write_bytes(b"short")
        with pytest.raises(SecureError):
            store.unlock("muscat", Unlock(key_file=key_file))

    def test_the_other_kind_of_protection_is_a_secure_error(
        self, store: KeyStore, secret: Secret, tmp_path: Path
    ) -> None:
        store.save(secret, Unlock(passphrase=PASSPHRASE))
        store.save(new_secret("muscat", "intermediary"), Unlock(key_file=tmp_path / "k"))
        with pytest.raises(SecureError):
            store.unlock("washington", Unlock(key_file=tmp_path / "k"))
        with pytest.raises(SecureError):
            store.unlock("muscat", Unlock(passphrase=PASSPHRASE))
        assert store.stored_key_file("washington") is None

    def test_the_default_key_file_is_one_per_name(self, store: KeyStore) -> None:
        a, b = store.default_key_file("washington"), store.default_key_file("tehran")
        assert isinstance(a, Path) and a != b
        assert store.default_key_file("washington") == a

    # what is there ------------------------------------------------------------------------
    def test_exists_names_and_public_without_unlocking(
        self, store: KeyStore, secret: Secret, tmp_path: Path
    ) -> None:
        assert store.names() == [] and not store.exists("washington")
        store.save(secret, Unlock(passphrase=PASSPHRASE))
        other = new_secret("beirut-desk", "person")
        store.save(other, Unlock(key_file=tmp_path / "k"))
        assert store.names() == ["beirut-desk", "washington"]
        assert store.exists("washington") and store.exists("beirut-desk")
        assert not store.exists("tehran")
        assert store.public("washington") == secret.identity
        assert store.public("beirut-desk") == other.identity
        assert store.public("washington").fingerprint == secret.identity.fingerprint

    def test_an_unknown_name_is_an_error_that_says_so(self, store: KeyStore) -> None:
        errors: tuple[type[Exception], ...] = (SecureError, NotFound)
        with pytest.raises(errors, match="tehran"):
            store.public("tehran")
        with pytest.raises(errors, match="tehran"):
            store.unlock("tehran", Unlock(passphrase=PASSPHRASE))

    def test_a_second_key_under_a_name_is_refused(self, store: KeyStore, secret: Secret) -> None:
        store.save(secret, Unlock(passphrase=PASSPHRASE))
        with pytest.raises(UserInputError):
            store.save(new_secret("washington", "site"), Unlock(passphrase="another passphrase"))
        assert same_keys(store.unlock("washington", Unlock(passphrase=PASSPHRASE)), secret)

    def test_a_replaced_key_opens_under_its_new_protection_only(
        self, store: KeyStore, secret: Secret, tmp_path: Path
    ) -> None:
        store.save(secret, Unlock(passphrase=PASSPHRASE))
        new = new_secret("washington", "site")
        store.replace(new, Unlock(passphrase="another passphrase"))
        assert store.public("washington") == new.identity
        assert same_keys(store.unlock("washington", Unlock(passphrase="another passphrase")), new)
        with pytest.raises(SecureError):
            store.unlock("washington", Unlock(passphrase=PASSPHRASE))
        relay = new_secret("muscat", "intermediary")
        store.save(relay, Unlock(key_file=tmp_path / "old.keyfile"))
        store.replace(new_secret("muscat", "intermediary"), Unlock(key_file=tmp_path / "new"))
        assert (tmp_path / "new").is_file()
        with pytest.raises(SecureError):
            store.unlock("muscat", Unlock(key_file=tmp_path / "old.keyfile"))
        with pytest.raises(SecureError):
            store.replace(new_secret("tehran", "person"), Unlock(passphrase=PASSPHRASE))

    @pytest.mark.parametrize("name", ["../escape", "", ".hidden", "a/b", "x" * 65])
    def test_an_unusable_name_is_refused(self, store: KeyStore, name: str) -> None:
        with pytest.raises(UserInputError):
            store.exists(name)
        with pytest.raises(UserInputError):
            store.default_key_file(name)

    def test_keys_are_never_kept_in_the_clear(self, store: KeyStore, secret: Secret) -> None:
        """Whatever the store writes: the private bytes are not in it (for a disk store;
        a memory store writes nothing)."""
        where: Any = store.save(secret, Unlock(passphrase=PASSPHRASE))
        if isinstance(where, Path) and where.is_file():
            data = where.read_bytes()
            assert secret.private_bytes() not in data
            assert secret.private_bytes().hex().encode() not in data
            assert base64.b64encode(secret.private_bytes()) not in data
            assert where.stat().st_mode & 0o077 == 0, "readable by its owner only"
