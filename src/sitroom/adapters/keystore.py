"""Private keys at rest: one file per identity in the workspace's ``keys/`` directory.

A key file holds the identity's public card in the clear and its two private keys (Ed25519
and X25519, 64 bytes) encrypted with ChaCha20-Poly1305 under a key derived from either

- a **passphrase**, through scrypt (N = 2^15, r = 8, p = 1: about 0.1 s and 32 MiB per unlock,
  RFC 7914's interactive setting; a file asking for more than keyfile.py allows is refused
  before scrypt runs) — for people; or
- a **key file** of 32 random bytes, through HKDF-SHA256 — for sites and relays that must
  start unattended. Keep the key file on other media than the key (``--key-file PATH``).

Everything in the file but the nonce and the ciphertext is bound in as associated data, so
swapping the public card, the name or the KDF's parameters makes the unlock fail. Files are
written atomically and readable by their owner only. A wrong passphrase is one clear error; so
is a damaged file (:mod:`sitroom.adapters.keyfile` reads it).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from sitroom.adapters.keyfile import (
    FORMAT,
    KEY_FILE_KDF,
    NONCE_BYTES,
    SALT_BYTES,
    SCRYPT,
    SCRYPT_KDF,
    KeyFile,
    read_key_file,
)
from sitroom.adapters.outputs import KEYS_DIR as KEYS_DIR
from sitroom.adapters.outputs import refuse_own, write_private
from sitroom.application.ports import Unlock
from sitroom.domain.secure.codec import b64, canonical
from sitroom.domain.secure.identity import ROLES, Identity, Secret, check_name
from sitroom.errors import SecureError, UserInputError

MIN_PASSPHRASE = 8


def new_secret(name: str, role: str) -> Secret:
    """Fresh key pairs from the operating system's random source."""
    if role not in ROLES:
        raise UserInputError(f"an identity is a {', '.join(ROLES)}, not {role!r}")
    return Secret(check_name(name), role, Ed25519PrivateKey.generate(), X25519PrivateKey.generate())


class KeyStore:
    """Key files in ``directory``; the key files that open unattended identities' keys are
    made in ``key_files`` (by default beside them: give a folder outside the workspace)."""

    def __init__(self, directory: Path, key_files: Path | None = None) -> None:
        self.dir = Path(directory)
        self.key_files = self.dir if key_files is None else Path(key_files)

    def path(self, name: str) -> Path:
        return self.dir / f"{check_name(name)}.key"

    def default_key_file(self, name: str) -> Path:
        return self.key_files / f"{check_name(name)}.keyfile"

    def exists(self, name: str) -> bool:
        return self.path(name).exists()

    def names(self) -> list[str]:
        if not self.dir.is_dir():
            return []
        return sorted(p.stem for p in self.dir.glob("*.key"))

    # writing ------------------------------------------------------------------------------
    def save(self, secret: Secret, how: Unlock) -> Path:
        """Encrypt ``secret`` under ``how`` into its key file. A key file named in ``how``
        that does not exist yet is created (32 random bytes)."""
        path = self.path(secret.name)
        if path.exists():
            raise UserInputError(f"{secret.name} already has keys ({path})")
        return self._write(secret, how)

    def replace(self, secret: Secret, how: Unlock) -> Path:
        """Write ``secret`` (a new key for an identity that has one here) over its key file,
        at once: the old key is no longer in this store. The key file that opened the old key,
        if it was made here and ``how`` names another, is removed with it."""
        old = self.stored_key_file(secret.name)  # SecureError if there is no key to replace
        path = self._write(secret, how)
        made_here = old is not None and old.resolve().parent in {
            self.dir.resolve(),
            self.key_files.resolve(),
        }
        if made_here and how.key_file is not None and old != how.key_file:
            assert old is not None
            old.unlink(missing_ok=True)
        return path

    def _write(self, secret: Secret, how: Unlock) -> Path:
        salt = os.urandom(SALT_BYTES)
        if how.passphrase is not None:
            if len(how.passphrase) < MIN_PASSPHRASE:
                raise UserInputError(f"a passphrase needs at least {MIN_PASSPHRASE} characters")
            protection: dict[str, Any] = {"kdf": SCRYPT_KDF, **SCRYPT, "salt": b64(salt)}
        else:
            assert how.key_file is not None
            # A key file is a path the user may name: never the log or any other of the
            # workspace's files (the keys folder is its place).
            refuse_own(how.key_file, self.dir.parent, keys_ok=True)
            if not how.key_file.exists():
                write_private(how.key_file, secrets.token_bytes(32))
            protection = {
                "kdf": KEY_FILE_KDF,
                "salt": b64(salt),
                "key_file": _relative(how.key_file, self.dir),
            }
        header = {"format": FORMAT, **secret.identity.card(), "protection": protection}
        nonce = os.urandom(NONCE_BYTES)
        sealed = ChaCha20Poly1305(_wrapping_key(protection, salt, how, secret.name)).encrypt(
            nonce, secret.private_bytes(), canonical(header)
        )
        body = {**header, "nonce": b64(nonce), "sealed": b64(sealed)}
        path = self.path(secret.name)
        write_private(path, orjson.dumps(body, option=orjson.OPT_INDENT_2))
        return path

    # reading ------------------------------------------------------------------------------
    def _load(self, name: str) -> KeyFile:
        try:
            return read_key_file(self.path(name), name)
        except FileNotFoundError:
            known = ", ".join(self.names()) or "none yet"
            raise SecureError(
                f"no keys for {name!r} in {self.dir} (keys here: {known}; create them with "
                "`sitroom keys init`)"
            ) from None

    def public(self, name: str) -> Identity:
        return self._load(name).identity

    def protection(self, name: str) -> dict[str, Any]:
        return self._load(name).protection

    def stored_key_file(self, name: str) -> Path | None:
        """The key file a key was protected with, as recorded (None: a passphrase)."""
        protection = self.protection(name)
        if protection["kdf"] != KEY_FILE_KDF:
            return None
        return self.dir / str(protection["key_file"])

    def unlock(self, name: str, how: Unlock) -> Secret:
        found = self._load(name)
        if found.kdf == SCRYPT_KDF and how.passphrase is None:
            raise SecureError(f"{name}'s key is protected by a passphrase, not a key file")
        if found.kdf == KEY_FILE_KDF and how.key_file is None:
            raise SecureError(f"{name}'s key is protected by a key file, not a passphrase")
        try:
            key = _wrapping_key(found.protection, found.salt, how, name)
            plain = ChaCha20Poly1305(key).decrypt(
                found.nonce, found.sealed, canonical(found.header)
            )
        except InvalidTag:
            what = "passphrase" if how.passphrase is not None else "key file"
            raise SecureError(
                f"wrong {what} for {name}'s keys, or {found.path} was altered"
            ) from None
        secret = Secret.from_private_bytes(name, found.identity.role, plain)
        if secret.identity != found.identity:
            raise SecureError(f"{found.path}: the private keys do not match the public card")
        return secret


def _wrapping_key(protection: dict[str, Any], salt: bytes, how: Unlock, name: str) -> bytes:
    """The key that wraps the private keys, from the passphrase or the key file (a file's
    parameters are checked when it is read)."""
    if protection["kdf"] == SCRYPT_KDF:
        assert how.passphrase is not None
        n, r, p = protection["n"], protection["r"], protection["p"]
        kdf = Scrypt(salt=salt, length=32, n=n, r=r, p=p)
        return kdf.derive(how.passphrase.encode("utf-8"))
    assert how.key_file is not None
    try:
        material = how.key_file.read_bytes()
    except OSError as e:
        raise SecureError(f"cannot read the key file for {name}: {e}") from None
    if len(material) < 32:
        raise SecureError(f"the key file {how.key_file} is too short to be one")
    return HKDF(hashes.SHA256(), 32, salt, b"sitroom key file v1").derive(material)


def _relative(path: Path, base: Path) -> str:
    """Inside the keys directory, relative to it: the workspace can move."""
    try:
        return str(path.resolve().relative_to(base.resolve()))
    except ValueError:
        return str(path.resolve())
