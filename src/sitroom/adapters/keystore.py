"""Private keys at rest: one file per identity in the workspace's ``keys/`` directory.

A key file holds the identity's public card in the clear and its two private keys (Ed25519
and X25519, 64 bytes) encrypted with ChaCha20-Poly1305 under a key derived from either

- a **passphrase**, through scrypt (N = 2^15, r = 8, p = 1: about 0.1 s and 32 MiB per unlock,
  RFC 7914's interactive setting) — for people; or
- a **key file** of 32 random bytes, through HKDF-SHA256 — for sites and relays that must
  start unattended. Keep the key file on other media than the key (``--key-file PATH``).

Everything in the file but the nonce and the ciphertext is bound in as associated data, so
swapping the public card, the name or the KDF's parameters makes the unlock fail. Files are
written atomically and readable by their owner only. A wrong passphrase is one clear error.
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

from sitroom.adapters.outputs import KEYS_DIR as KEYS_DIR
from sitroom.adapters.outputs import refuse_own, write_private
from sitroom.application.ports import Unlock
from sitroom.domain.secure.codec import b64, canonical, unb64
from sitroom.domain.secure.identity import ROLES, Identity, Secret, check_name
from sitroom.errors import SecureError, UserInputError

FORMAT = "sitroom-key/1"
SCRYPT = {"n": 2**15, "r": 8, "p": 1}
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
        if how.passphrase is not None:
            if len(how.passphrase) < MIN_PASSPHRASE:
                raise UserInputError(f"a passphrase needs at least {MIN_PASSPHRASE} characters")
            protection: dict[str, Any] = {"kdf": "scrypt", **SCRYPT, "salt": b64(os.urandom(16))}
        else:
            assert how.key_file is not None
            # A key file is a path the user may name: never the log or any other of the
            # workspace's files (the keys folder is its place).
            refuse_own(how.key_file, self.dir.parent, keys_ok=True)
            if not how.key_file.exists():
                write_private(how.key_file, secrets.token_bytes(32))
            protection = {
                "kdf": "key-file",
                "salt": b64(os.urandom(16)),
                "key_file": _relative(how.key_file, self.dir),
            }
        header = {"format": FORMAT, **secret.identity.card(), "protection": protection}
        nonce = os.urandom(12)
        sealed = ChaCha20Poly1305(_wrapping_key(protection, how, secret.name)).encrypt(
            nonce, secret.private_bytes(), canonical(header)
        )
        body = {**header, "nonce": b64(nonce), "sealed": b64(sealed)}
        write_private(path, orjson.dumps(body, option=orjson.OPT_INDENT_2))
        return path

    # reading ------------------------------------------------------------------------------
    def _load(self, name: str) -> dict[str, Any]:
        path = self.path(name)
        try:
            body: dict[str, Any] = orjson.loads(path.read_bytes())
        except FileNotFoundError:
            known = ", ".join(self.names()) or "none yet"
            raise SecureError(
                f"no keys for {name!r} in {self.dir} (keys here: {known}; create them with "
                "`sitroom keys init`)"
            ) from None
        except (OSError, orjson.JSONDecodeError) as e:
            raise SecureError(f"cannot read {path}: {e}") from None
        if body.get("format") != FORMAT:
            raise SecureError(f"{path} is not a sitroom key file")
        return body

    def public(self, name: str) -> Identity:
        return Identity.from_card(self._load(name))

    def protection(self, name: str) -> dict[str, Any]:
        protection: dict[str, Any] = self._load(name)["protection"]
        return protection

    def stored_key_file(self, name: str) -> Path | None:
        """The key file a key was protected with, as recorded (None: a passphrase)."""
        protection = self.protection(name)
        if protection.get("kdf") != "key-file":
            return None
        return self.dir / str(protection["key_file"])

    def unlock(self, name: str, how: Unlock) -> Secret:
        body = self._load(name)
        header = {k: v for k, v in body.items() if k not in ("nonce", "sealed")}
        protection = header["protection"]
        if protection.get("kdf") == "scrypt" and how.passphrase is None:
            raise SecureError(f"{name}'s key is protected by a passphrase, not a key file")
        if protection.get("kdf") == "key-file" and how.key_file is None:
            raise SecureError(f"{name}'s key is protected by a key file, not a passphrase")
        try:
            plain = ChaCha20Poly1305(_wrapping_key(protection, how, name)).decrypt(
                unb64(body["nonce"], what="key file nonce", size=12),
                unb64(body["sealed"], what="sealed keys"),
                canonical(header),
            )
        except InvalidTag:
            what = "passphrase" if how.passphrase is not None else "key file"
            raise SecureError(
                f"wrong {what} for {name}'s keys, or {self.path(name)} was altered"
            ) from None
        secret = Secret.from_private_bytes(name, str(header["role"]), plain)
        if secret.identity != Identity.from_card(header):
            raise SecureError(f"{self.path(name)}: the private keys do not match the public card")
        return secret


def _wrapping_key(protection: dict[str, Any], how: Unlock, name: str) -> bytes:
    salt = unb64(str(protection["salt"]), what="salt")
    if protection["kdf"] == "scrypt":
        assert how.passphrase is not None
        kdf = Scrypt(salt=salt, length=32, n=protection["n"], r=protection["r"], p=protection["p"])
        return kdf.derive(how.passphrase.encode("utf-8"))
    if protection["kdf"] == "key-file":
        assert how.key_file is not None
        try:
            material = how.key_file.read_bytes()
        except OSError as e:
            raise SecureError(f"cannot read the key file for {name}: {e}") from None
        if len(material) < 32:
            raise SecureError(f"the key file {how.key_file} is too short to be one")
        return HKDF(hashes.SHA256(), 32, salt, b"sitroom key file v1").derive(material)
    raise SecureError(f"{name}'s key uses an unknown protection {protection['kdf']!r}")


def _relative(path: Path, base: Path) -> str:
    """Inside the keys directory, relative to it: the workspace can move."""
    try:
        return str(path.resolve().relative_to(base.resolve()))
    except ValueError:
        return str(path.resolve())
