"""A small JSON file sealed under its owner's private keys, outside the workspace.

The sender chains (chainfile.py) and a member's reader state (readerfile.py) are kept this way:
one file per identity, ``<folder>/<name>.json``, written whole (atomically) and readable by its
owner only, its body sealed with ChaCha20-Poly1305 under a key derived with HKDF-SHA256 from the
owner's private keys, the file's header (format, name, fingerprint, salt) as associated data.
Whoever reads it without the owner's private key learns its size, not its keys; an edited file
is one clear error naming it. A change is read, made and written under a lock, so two
processes acting as one identity never interleave.

A file written under a key since replaced opens with nothing the owner now holds: it is read
as absent (what it held served epochs that were re-keyed at the replacement).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from sitroom.adapters.outputs import locked, write_private
from sitroom.domain.secure.codec import b64, canonical, json_object, unb64
from sitroom.domain.secure.identity import Secret, check_name
from sitroom.errors import SecureError, UserInputError

SALT_BYTES, NONCE_BYTES, KEY_BYTES = 16, 12, 32
_TEXT = ("name", "fingerprint", "salt", "nonce", "sealed")


class SealedFiles:
    """One sealed file per identity in ``directory``: ``format`` names the file's kind,
    ``info`` is the HKDF info of its key (a file of one kind never opens as another's), and
    ``noun`` says what it holds, in errors ("sender-chains", "reader-state")."""

    def __init__(self, directory: Path, *, format: str, info: bytes, noun: str) -> None:
        self.dir = Path(directory)
        self.format, self.info, self.noun = format, info, noun

    def path(self, name: str) -> Path:
        return self.dir / f"{check_name(name)}.json"

    @contextmanager
    def lock(self, name: str) -> Iterator[None]:
        with locked(self.path(name)):
            yield

    def bad(self, name: str, what: str) -> SecureError:
        return SecureError(f"{self.path(name)}: {what}")

    def write(self, me: Secret, body: dict[str, Any]) -> None:
        salt, nonce = os.urandom(SALT_BYTES), os.urandom(NONCE_BYTES)
        header = {
            "format": self.format,
            "name": me.name,
            "fingerprint": me.identity.fingerprint,
            "salt": b64(salt),
        }
        sealed = ChaCha20Poly1305(self._key(me, salt)).encrypt(
            nonce, canonical(body), canonical(header)
        )
        out = {**header, "nonce": b64(nonce), "sealed": b64(sealed)}
        write_private(self.path(me.name), orjson.dumps(out, option=orjson.OPT_INDENT_2))

    def read(self, me: Secret) -> dict[str, Any] | None:
        """The file's body, opened (None: no file, or one written under a replaced key)."""
        path = self.path(me.name)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as e:
            raise self.bad(me.name, f"cannot be read ({e.strerror or e})") from None
        body = self.object(me.name, data)
        if body.get("format") != self.format:
            raise self.bad(
                me.name, f"is not a sitroom {self.noun} file (its format is not {self.format})"
            )
        for field in _TEXT:
            if not isinstance(body.get(field), str):
                what = f"has no {field}" if field not in body else f"its {field} is not text"
                raise self.bad(me.name, what)
        if body["name"] != me.name:
            raise self.bad(me.name, f"holds {body['name']}'s {self.noun}, not {me.name}'s")
        if body["fingerprint"] != me.identity.fingerprint:
            return None  # a replaced key's (see the module's notes)
        header = {k: v for k, v in body.items() if k not in ("nonce", "sealed")}
        try:
            salt = unb64(body["salt"], what="its salt", size=SALT_BYTES)
            nonce = unb64(body["nonce"], what="its nonce", size=NONCE_BYTES)
            sealed = unb64(body["sealed"], what=f"its sealed {self.noun}")
            plain = ChaCha20Poly1305(self._key(me, salt)).decrypt(nonce, sealed, canonical(header))
        except SecureError as e:
            raise self.bad(me.name, str(e)) from None
        except InvalidTag:
            raise self.bad(
                me.name, f"was altered or damaged: it does not open with {me.name}'s key"
            ) from None
        return self.object(me.name, plain)

    def object(self, name: str, data: bytes) -> dict[str, Any]:
        try:
            return json_object(data, "")
        except UserInputError:
            raise self.bad(name, "is not a JSON object (damaged or cut short)") from None

    def _key(self, me: Secret, salt: bytes) -> bytes:
        return HKDF(hashes.SHA256(), KEY_BYTES, salt, self.info).derive(me.private_bytes())
