"""The key file format (``sitroom-key/1``), read: every field checked before any is used.

A key file is the public card in the clear, how its private keys are protected (scrypt's
parameters and salt, or the key file that opens them), and the nonce and ciphertext of the
keys. It comes from disk, so it may be anything: cut short, edited, replaced by a folder. What
:func:`read_key_file` hands on is whole and in range, or it is one :class:`SecureError` naming
the file and what is wrong with it — never a ``KeyError`` or a traceback from scrypt.

scrypt's cost comes from the file too, so it is bounded before scrypt runs: N a power of two
from 2^14 to 2^20, r from 1 to 16, p from 1 to 4, and at most 256 MiB of memory (128·N·r
bytes). sitroom writes N = 2^15, r = 8, p = 1 (32 MiB); N = 2^40 would ask for 128 TiB.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from sitroom.domain.secure.codec import unb64
from sitroom.domain.secure.identity import Identity
from sitroom.errors import SecureError, UserInputError

FORMAT = "sitroom-key/1"
SCRYPT = {"n": 2**15, "r": 8, "p": 1}
SCRYPT_LOG2_N = (14, 20)
SCRYPT_RANGE = {"r": (1, 16), "p": (1, 4)}
SCRYPT_MAX_BYTES = 256 * 2**20
SCRYPT_KDF, KEY_FILE_KDF = "scrypt", "key-file"
SALT_BYTES, NONCE_BYTES = 16, 12
SEALED_BYTES = 64 + 16  # both private keys, and the AEAD's tag
_TEXT = ("name", "role", "sign", "kex", "nonce", "sealed")
Bad = Callable[[str], SecureError]  # what is wrong -> the error naming the file


@dataclass(frozen=True)
class KeyFile:
    """A key file, read and checked."""

    path: Path
    identity: Identity
    header: dict[str, Any]  # all but the nonce and ciphertext: the AEAD's associated data
    salt: bytes
    nonce: bytes
    sealed: bytes

    @property
    def protection(self) -> dict[str, Any]:
        protection: dict[str, Any] = self.header["protection"]
        return protection

    @property
    def kdf(self) -> str:
        return str(self.protection["kdf"])


def read_key_file(path: Path, name: str) -> KeyFile:
    """``name``'s key file at ``path``, read and checked. FileNotFoundError passes through
    (the caller says which keys there are); anything else is a SecureError."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise
    except OSError as e:
        raise SecureError(f"{path}: cannot be read ({e.strerror or e})") from None
    return parse_key_file(data, path, name)


def parse_key_file(data: bytes, path: Path, name: str | None = None) -> KeyFile:
    """The key file ``data`` (read from ``path``), every field checked; ``name``: whose keys
    it must hold."""

    def bad(what: str) -> SecureError:
        return SecureError(f"{path}: {what}")

    if not data.strip():
        raise bad("is empty")
    try:
        body = orjson.loads(data)
    except orjson.JSONDecodeError:
        raise bad("is not JSON (damaged or cut short)") from None
    if not isinstance(body, dict):
        raise bad("is not a JSON object")
    if body.get("format") != FORMAT:
        raise bad(f"is not a sitroom key file (its format is not {FORMAT})")
    for field in _TEXT:
        if not isinstance(body.get(field), str):
            raise bad(f"has no {field}" if field not in body else f"its {field} is not text")
    try:
        identity = Identity.from_card(body)
    except (SecureError, UserInputError) as e:
        raise bad(f"its public card is damaged ({e})") from None
    if name is not None and identity.name != name:
        raise bad(
            f"holds {identity.name}'s keys, not {name}'s (a key file is named after its owner: "
            f"{identity.name}.key)"
        )
    protection = body.get("protection")
    if not isinstance(protection, dict):
        raise bad("says nothing of how its keys are protected")
    try:
        salt = unb64(_text(protection, "salt", bad), what="its salt", size=SALT_BYTES)
        nonce = unb64(body["nonce"], what="its nonce", size=NONCE_BYTES)
        sealed = unb64(body["sealed"], what="its sealed keys", size=SEALED_BYTES)
    except SecureError as e:
        raise bad(str(e)) from None
    kdf = protection.get("kdf")
    if kdf == SCRYPT_KDF:
        _check_scrypt(protection, bad)
    elif kdf == KEY_FILE_KDF:
        if not _text(protection, "key_file", bad):
            raise bad("names an empty key file")
    else:
        raise bad(f"uses an unknown protection {kdf!r} (not {SCRYPT_KDF} or {KEY_FILE_KDF})")
    header = {k: v for k, v in body.items() if k not in ("nonce", "sealed")}
    return KeyFile(path, identity, header, salt, nonce, sealed)


def _text(protection: dict[str, Any], field: str, bad: Bad) -> str:
    value = protection.get(field)
    if not isinstance(value, str):
        raise bad(f"has no {field}" if field not in protection else f"its {field} is not text")
    return value


def _check_scrypt(p: dict[str, Any], bad: Bad) -> None:
    """scrypt's parameters in the range sitroom writes and reads, before scrypt runs."""
    for field in ("n", "r", "p"):
        value = p.get(field)
        if type(value) is not int:  # bool is an int, and no parameter
            raise bad(f"its scrypt {field} is {value!r}, not a whole number")
    lo, hi = SCRYPT_LOG2_N
    n = p["n"]
    if n < 1 or n & (n - 1) or not lo <= n.bit_length() - 1 <= hi:
        raise bad(f"its scrypt n is {n}, not a power of 2 from 2^{lo} to 2^{hi}")
    for field, (low, high) in SCRYPT_RANGE.items():
        if not low <= p[field] <= high:
            raise bad(f"its scrypt {field} is {p[field]}, not {low} to {high}")
    if 128 * n * p["r"] > SCRYPT_MAX_BYTES:
        raise bad(
            f"its scrypt n = {n} and r = {p['r']} would take {128 * n * p['r'] // 2**20:,} MiB "
            f"(at most {SCRYPT_MAX_BYTES // 2**20} MiB)"
        )
